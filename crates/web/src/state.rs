//! What every handler can reach.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use tianshu_services::policy::PackSource;
use tianshu_services::Platform;

/// Web-layer settings.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Mark cookies `Secure` (set when served over HTTPS or behind a TLS proxy).
    pub secure_cookies: bool,
    /// Where `POST /api/v1/policy/reload` reads the pack from.
    pub pack_source: PackSource,
}

/// Shared application state.
#[derive(Clone)]
pub struct AppState {
    pub platform: Platform,
    pub config: Arc<WebConfig>,
    pub metrics: Option<PrometheusHandle>,
}
