//! Tianshu use cases, shared by the HTTP API, the console, the CLI and (later) schedulers.
//!
//! Everything here takes the time from an injected [`Clock`] and writes through the store with
//! an audit entry in the same transaction.

pub mod authz;
pub mod calendar;
pub mod clocks;
pub mod demo;
mod error;
pub mod identity;
pub mod incidents;
pub mod policy;
pub mod scheduler;
pub mod secrets;
pub mod session;
pub mod validate;

use std::sync::Arc;

use tianshu_core::Clock;
use tianshu_store::Store;

pub use error::{ServiceError, ServiceResult};

/// The application core: storage, the active policy and the clock.
#[derive(Clone)]
pub struct Platform {
    pub store: Store,
    pub policy: Arc<policy::PolicyHandle>,
    pub clock: Arc<dyn Clock>,
}

impl Platform {
    /// Current time in stored form (Unix microseconds UTC).
    pub fn now_us(&self) -> i64 {
        self.clock.now().timestamp_micros()
    }
}
