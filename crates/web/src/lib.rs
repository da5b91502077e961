//! tianshu-web
