//! Tianshu domain core.
