//! Tianshu use cases, shared by the HTTP API, the console, the CLI and (later) schedulers.
//!
//! Everything here takes the time from an injected [`Clock`] and writes through the store with
//! an audit entry in the same transaction.

pub mod alerts;
pub mod assessments;
pub mod assurance_plans;
pub mod auth_cache;
pub mod authz;
pub mod calendar;
pub mod clocks;
pub mod complaints;
pub mod credentials;
pub mod customers;
pub mod cutovers;
pub mod dataops;
pub mod delivery;
pub mod demo;
pub mod directory;
pub mod duty;
mod error;
pub mod identity;
pub mod incidents;
pub mod kpi;
pub mod limits;
pub mod monitoring;
pub mod notify;
pub mod policy;
pub mod problems;
pub mod provisioning;
pub mod recon;
pub mod releases;
pub mod report_pack;
pub mod reports;
pub mod requirements;
pub mod scheduler;
pub mod secrets;
pub mod session;
pub mod validate;
pub mod views;

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
    /// Per-instance request counters (see [`limits`]).
    pub limits: Arc<limits::RateLimiter>,
    /// Recently authenticated API tokens (see [`auth_cache`]).
    pub auth: Arc<auth_cache::AuthCache>,
    /// This instance's on-duty index (see [`duty::DutyCache`]).
    pub duty: Arc<duty::DutyCache>,
    /// This instance's monitoring state (external database pools, see [`monitoring::Runtime`]).
    pub monitor: Arc<monitoring::Runtime>,
    /// Where this instance keeps reconciliation inputs and details (see [`recon::Runtime`]).
    pub recon: Arc<recon::Runtime>,
    /// The key that seals stored database passwords (see [`credentials`]).
    pub credentials: Arc<credentials::Vault>,
    /// Organisations and systems by key, remembered once read (see [`directory`]).
    pub directory: Arc<directory::Directory>,
}

impl Platform {
    /// A platform over a store, a policy handle and a clock, with an ephemeral credentials key: the server
    /// replaces it with its key file's ([`Platform::with_credentials`]) before anything is stored.
    pub fn new(store: Store, policy: Arc<policy::PolicyHandle>, clock: Arc<dyn Clock>) -> Self {
        Platform {
            store,
            policy,
            clock,
            limits: Arc::default(),
            auth: Arc::default(),
            duty: Arc::default(),
            monitor: Arc::default(),
            recon: Arc::default(),
            credentials: Arc::new(credentials::Vault::ephemeral()),
            directory: Arc::default(),
        }
    }

    /// The same platform sealing credentials with `vault`.
    pub fn with_credentials(mut self, vault: credentials::Vault) -> Self {
        self.credentials = Arc::new(vault);
        self
    }

    /// Current time in stored form (Unix microseconds UTC).
    pub fn now_us(&self) -> i64 {
        self.clock.now().timestamp_micros()
    }

    /// The centre's time zone from the active pack (validated at load; Asia/Shanghai if it ever were not).
    pub fn time_zone(&self) -> chrono_tz::Tz {
        self.policy
            .current()
            .pack
            .pack
            .time_zone
            .parse()
            .unwrap_or(chrono_tz::Asia::Shanghai)
    }
}
