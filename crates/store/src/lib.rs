//! tianshu-store
