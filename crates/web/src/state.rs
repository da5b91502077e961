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

/// Shared application state, behind one `Arc`: axum clones the state for every request (router, middleware,
/// extractors), and as a plain struct that was a dozen reference-count updates each way per clone.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// What [`AppState`] holds.
pub struct Shared {
    pub platform: Platform,
    pub config: Arc<WebConfig>,
    pub metrics: Option<PrometheusHandle>,
}

impl AppState {
    pub fn new(
        platform: Platform,
        config: Arc<WebConfig>,
        metrics: Option<PrometheusHandle>,
    ) -> Self {
        AppState(Arc::new(Shared {
            platform,
            config,
            metrics,
        }))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}
