//! Liveness, readiness and metrics.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

/// Readiness report.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ready {
    /// `ready` or `not_ready`.
    pub status: String,
    /// Whether the database answered.
    pub database: bool,
    /// Migrations the binary knows that the database has not applied.
    pub pending_migrations: i64,
    /// Version of the active policy pack.
    pub policy_version: String,
}

/// The process is alive.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "alive", body = String, content_type = "text/plain")))]
pub async fn healthz() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "ok")
}

/// The database is reachable and migrated.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "ready", body = Ready), (status = 503, description = "not ready", body = Ready)))]
pub async fn readyz(State(st): State<AppState>) -> Response {
    let p = &st.platform;
    let database = p.store.ping().await.is_ok();
    let pending = if database {
        p.store
            .pending_migrations()
            .await
            .map(|n| n as i64)
            .unwrap_or(-1)
    } else {
        -1
    };
    let ok = database && pending == 0;
    let body = Ready {
        status: if ok { "ready" } else { "not_ready" }.into(),
        database,
        pending_migrations: pending,
        policy_version: p.policy.current().pack.pack.version.clone(),
    };
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, axum::Json(body)).into_response()
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
pub async fn metrics(State(st): State<AppState>) -> impl IntoResponse {
    let pol = st.platform.policy.current();
    metrics::gauge!("tianshu_policy_id").set(pol.id as f64);
    let body = st.metrics.as_ref().map(|h| h.render()).unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}
