//! tianshu-testkit
