//! Tianshu's HTTP layer: the JSON API under /api/v1, the console, health and metrics.
//!
//! `app()` builds the router the binary serves and the tests drive on an ephemeral port.

pub mod api;
pub mod console;
pub mod error;
pub mod extract;
pub mod openapi;
pub mod state;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderName, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;

pub use error::{ApiError, Problem};
pub use state::{AppState, WebConfig};

/// Largest accepted request body.
pub const MAX_BODY: usize = 1024 * 1024;

/// The process-wide Prometheus recorder (installed once; later calls share it).
pub fn metrics_handle() -> Option<PrometheusHandle> {
    static H: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    H.get_or_init(|| PrometheusBuilder::new().install_recorder().ok())
        .clone()
}

/// The whole HTTP application.
pub fn app(state: AppState) -> Router {
    let api = Router::new()
        .route("/openapi.json", get(openapi_json))
        .route(
            "/session",
            post(api::session::login)
                .get(api::session::me)
                .delete(api::session::logout),
        )
        .route(
            "/users",
            get(api::identity::list_users).post(api::identity::create_user),
        )
        .route(
            "/users/{id}",
            get(api::identity::get_user).patch(api::identity::patch_user),
        )
        .route("/users/{id}/password", put(api::identity::set_password))
        .route(
            "/orgs",
            get(api::identity::list_orgs).post(api::identity::create_org),
        )
        .route("/roles", get(api::identity::list_roles))
        .route("/systems", get(api::identity::list_systems))
        .route("/tokens", get(api::tokens::list).post(api::tokens::create))
        .route("/tokens/{id}", axum::routing::delete(api::tokens::revoke))
        .route(
            "/incidents",
            get(api::incidents::list).post(api::incidents::create),
        )
        .route("/incidents/{id}", get(api::incidents::get))
        .route("/incidents/{id}/timeline", get(api::incidents::timeline))
        .route("/incidents/{id}/facts", put(api::incidents::put_facts))
        .route(
            "/incidents/{id}/leased-line",
            put(api::incidents::put_leased_line),
        )
        .route("/incidents/{id}/level", post(api::incidents::lower))
        .route(
            "/incidents/{id}/actions/{action}",
            post(api::incidents::act),
        )
        .route("/incidents/{id}/dispatches", post(api::incidents::dispatch))
        .route("/incidents/{id}/progress", post(api::incidents::progress))
        .route("/incidents/{id}/reports", post(api::incidents::report))
        .route("/incidents/{id}/merge", post(api::incidents::merge))
        .route("/incidents/{id}/unmerge", post(api::incidents::unmerge))
        .route("/incidents/{id}/links", post(api::incidents::link))
        .route(
            "/incidents/{id}/duplicates",
            get(api::incidents::duplicates),
        )
        .route("/reports/frequent-faults", get(api::incidents::frequent))
        .route("/incidents/{id}/bug", post(api::incidents::bug))
        .route(
            "/incidents/{id}/attachments",
            get(api::incidents::attachments)
                .post(api::incidents::attach)
                .layer(DefaultBodyLimit::max(
                    tianshu_services::incidents::MAX_ATTACHMENT_BYTES + 1024,
                )),
        )
        .route("/attachments/{id}", get(api::incidents::download))
        .route("/audit", get(api::audit::list))
        .route("/audit/verify", post(api::audit::verify))
        .route("/policy", get(api::policy::get))
        .route("/policy/reload", post(api::policy::reload))
        .route("/calendars", get(api::calendar::list))
        .route("/calendars/{name}/deadline", get(api::calendar::deadline))
        .route(
            "/calendars/{name}/working-time",
            get(api::calendar::working_time),
        )
        .route(
            "/holidays/{year}",
            get(api::calendar::get_year).put(api::calendar::put_year),
        )
        .route(
            "/notifications/templates",
            get(api::notifications::templates),
        )
        .route(
            "/notifications/templates/{id}",
            get(api::notifications::template).put(api::notifications::put_template),
        )
        .route(
            "/notifications/templates/{id}/preview",
            post(api::notifications::preview),
        )
        .route("/notifications/lists", get(api::notifications::lists))
        .route(
            "/notifications/lists/{key}",
            put(api::notifications::put_list),
        )
        .route(
            "/notifications/contacts",
            get(api::notifications::contacts).post(api::notifications::add_contact),
        )
        .route(
            "/notifications/messages",
            get(api::notifications::messages).post(api::notifications::draft),
        )
        .route(
            "/notifications/messages/{id}",
            get(api::notifications::message).patch(api::notifications::edit),
        )
        .route(
            "/notifications/messages/{id}/{action}",
            post(api::notifications::action),
        )
        .route("/alerts", get(api::alerts::list))
        .route("/alerts/alertmanager", post(api::alerts::alertmanager))
        .route("/alerts/events", post(api::alerts::event))
        .route(
            "/alerts/silences",
            get(api::alerts::silences).post(api::alerts::create_silence),
        )
        .route("/alerts/silences/{id}", get(api::alerts::silence))
        .route(
            "/alerts/silences/{id}/expire",
            post(api::alerts::expire_silence),
        )
        .route(
            "/alerts/maintenance",
            get(api::alerts::maintenance).post(api::alerts::create_maintenance),
        )
        .route(
            "/alerts/maintenance/{id}",
            get(api::alerts::maintenance_window),
        )
        .route(
            "/alerts/maintenance/{id}/cancel",
            post(api::alerts::cancel_maintenance),
        )
        .route("/alerts/{id}", get(api::alerts::get))
        .route("/alerts/{id}/{action}", post(api::alerts::act))
        .route("/duty/setup", get(api::duty::setup))
        .route("/duty/roster", get(api::duty::roster))
        .route("/duty/roster/generate", post(api::duty::generate))
        .route("/duty/roster.xlsx", get(api::duty::roster_xlsx))
        .route(
            "/duty/roster/import",
            post(api::duty::import_roster).layer(DefaultBodyLimit::max(
                tianshu_services::duty::xlsx::MAX_XLSX_BYTES + 1024,
            )),
        )
        .route("/duty/coverage", get(api::duty::coverage))
        .route("/duty/on-duty", get(api::duty::on_duty))
        .route(
            "/duty/assignments/{id}/override",
            post(api::duty::override_assignment),
        )
        .route("/duty/overrides", get(api::duty::overrides))
        .route(
            "/duty/swaps",
            get(api::duty::swaps).post(api::duty::request_swap),
        )
        .route("/duty/swaps/{id}/{decision}", post(api::duty::decide_swap))
        .route(
            "/duty/reports",
            get(api::duty::reports).post(api::duty::file_report),
        )
        .route(
            "/duty/handovers",
            get(api::duty::handovers).post(api::duty::add_handover),
        )
        .route("/duty/comp-time", get(api::duty::comp_time_all))
        .route("/duty/comp-time.xlsx", get(api::duty::comp_time_xlsx))
        .route("/duty/comp-time/{person}", get(api::duty::comp_time))
        .route("/duty/people/{person}/calendar.ics", get(api::duty::ics))
        .route(
            "/incidents/{id}/notifications",
            get(api::notifications::of_incident),
        )
        // Monitoring: probes, external databases, SQL points, sign-in, severe budget (issue 5).
        .route(
            "/probes",
            get(api::monitoring::list_probes).post(api::monitoring::create_probe),
        )
        .route(
            "/probes/{id}",
            get(api::monitoring::get_probe)
                .put(api::monitoring::put_probe)
                .delete(api::monitoring::delete_probe),
        )
        .route("/probes/{id}/run", post(api::monitoring::run_probe))
        .route(
            "/monitoring/databases",
            get(api::monitoring::list_databases).post(api::monitoring::create_database),
        )
        .route(
            "/monitoring/databases/{id}",
            put(api::monitoring::put_database).delete(api::monitoring::delete_database),
        )
        .route(
            "/monitoring/points",
            get(api::monitoring::list_points).post(api::monitoring::create_point),
        )
        .route(
            "/monitoring/points/{id}",
            get(api::monitoring::get_point)
                .put(api::monitoring::put_point)
                .delete(api::monitoring::delete_point),
        )
        .route(
            "/monitoring/points/{id}/run",
            post(api::monitoring::run_point),
        )
        .route(
            "/monitoring/signin",
            get(api::monitoring::get_signin).post(api::monitoring::post_signin),
        )
        .route(
            "/monitoring/severe-budget",
            get(api::monitoring::severe_budget),
        )
        .route(
            "/saved-views",
            get(api::views::list).post(api::views::create),
        )
        .route(
            "/saved-views/{id}",
            axum::routing::delete(api::views::delete),
        )
        .route("/reports/trends", get(api::reports::trends))
        .route(
            "/problems",
            get(api::problems::list).post(api::problems::create),
        )
        .route("/problems/monthly", get(api::problems::monthly))
        .route("/problems/{id}", get(api::problems::get))
        .route("/problems/{id}/actions", post(api::problems::act))
        .route(
            "/problems/meetings",
            get(api::problems::meetings).post(api::problems::create_meeting),
        )
        .route("/problems/meetings/{id}", get(api::problems::meeting))
        .route(
            "/problems/meetings/{id}/actions/{action_id}/close",
            post(api::problems::close_meeting_action),
        )
        .route(
            "/data-ops/targets",
            get(api::dataops::targets).post(api::dataops::register_target),
        )
        .route("/data-ops/audit-report", get(api::dataops::audit_report))
        .route(
            "/data-ops",
            get(api::dataops::list).post(api::dataops::submit),
        )
        .route("/data-ops/{id}", get(api::dataops::get))
        .route("/data-ops/{id}/execute", post(api::dataops::execute))
        .route("/data-ops/{id}/actions/{action}", post(api::dataops::act))
        .route(
            "/cutovers",
            get(api::cutovers::list).post(api::cutovers::apply),
        )
        .route("/cutovers/{id}", get(api::cutovers::get))
        .route("/cutovers/{id}/approve", post(api::cutovers::approve))
        .route("/cutovers/{id}/log", post(api::cutovers::log))
        .route("/cutovers/{id}/complete", post(api::cutovers::complete))
        .route(
            "/releases",
            get(api::cutovers::releases).post(api::cutovers::plan_release),
        )
        .route(
            "/requirements",
            get(api::cutovers::requirements).post(api::cutovers::register_requirement),
        )
        .route("/requirements/week", get(api::cutovers::requirements_week))
        .route(
            "/requirements/{id}/actions",
            post(api::cutovers::requirement_action),
        )
        .route("/kpi/scorecards", get(api::kpi::scorecards))
        .route("/kpi/scorecards.xlsx", get(api::kpi::scorecards_xlsx))
        .route("/reports/pack", get(api::kpi::pack))
        .route("/reports/pack.xlsx", get(api::kpi::pack_xlsx))
        .route(
            "/customers",
            get(api::kpi::list_customers).post(api::kpi::create_customer),
        )
        .route(
            "/customers/{key}/tier",
            axum::routing::put(api::kpi::set_customer_tier),
        )
        .route("/requirements/{id}", get(api::cutovers::requirement))
        .route("/releases/{id}", get(api::cutovers::release))
        .route(
            "/releases/{id}/decision",
            post(api::cutovers::release_decision),
        )
        .route(
            "/releases/{id}/verifications",
            post(api::cutovers::release_verify),
        )
        .route(
            "/releases/{id}/prerequisites",
            post(api::cutovers::release_prerequisite),
        )
        .route("/cutovers/{id}/start", post(api::cutovers::start))
        .route(
            "/cutovers/{id}/rectification",
            post(api::cutovers::rectification),
        )
        .route(
            "/assurance-plans",
            get(api::cutovers::assurance_plans).post(api::cutovers::create_assurance_plan),
        )
        .route("/assurance-plans/{id}", get(api::cutovers::assurance_plan))
        .route(
            "/assurance-plans/{id}/{action}",
            post(api::cutovers::assurance_plan_action),
        )
        .route(
            "/data-ops/{id}/executions/{execution}/settle",
            post(api::dataops::settle),
        )
        // Reconciliation: jobs, runs, differences, details, trend, work items (issue 6).
        .route("/recon/jobs", get(api::recon::jobs))
        .route("/recon/jobs/{key}", get(api::recon::job))
        .route("/recon/jobs/{key}/trend", get(api::recon::trend))
        .route(
            "/recon/runs",
            get(api::recon::runs).post(api::recon::run_now),
        )
        .route("/recon/runs/{id}", get(api::recon::run))
        .route("/recon/runs/{id}/differences", get(api::recon::differences))
        .route("/recon/runs/{id}/details", get(api::recon::details))
        .route(
            "/recon/uploads",
            post(api::recon::upload)
                .layer(DefaultBodyLimit::max(tianshu_services::recon::MAX_UPLOAD)),
        )
        .route("/recon/items", get(api::recon::items))
        .route("/recon/items/{id}", get(api::recon::item))
        .route("/recon/items/{id}/actions", post(api::recon::act))
        // Provisioning orders of group customers (issue 8 item 2, SLA-04..SLA-07).
        .route("/customers/{key}", get(api::provisioning::customer))
        .route(
            "/customers/{key}/orders",
            get(api::provisioning::list_orders).post(api::provisioning::create_order),
        )
        .route(
            "/provisioning-orders/{id}",
            get(api::provisioning::get_order),
        )
        .route(
            "/provisioning-orders/{id}/delays",
            post(api::provisioning::file_delay),
        )
        .route(
            "/provisioning-orders/{id}/complete",
            post(api::provisioning::complete),
        )
        .route(
            "/provisioning-orders/{id}/delays/{delay_id}/approve",
            post(api::provisioning::approve_delay),
        )
        .route(
            "/provisioning-orders/{id}/delays/{delay_id}/reject",
            post(api::provisioning::reject_delay),
        )
        // SLA-09 acceptances and the KPI-06 data configuration of an order (KPI-05/06 records).
        .route(
            "/provisioning-orders/{id}/acceptances",
            post(api::provisioning::record_acceptance),
        )
        .route(
            "/provisioning-orders/{id}/data-configuration",
            post(api::provisioning::record_data_configuration),
        )
        // Group-customer complaints (KPI-08) and evaluator assessments (KPI-12/KPI-13).
        .route("/customers/{key}/complaints", get(api::complaints::list))
        .route(
            "/customers/{key}/leased-lines",
            get(api::kpi::customer_leased_lines),
        )
        .route("/complaints", post(api::complaints::create))
        .route("/complaints/{id}", get(api::complaints::get))
        .route("/complaints/{id}/close", post(api::complaints::close))
        .route(
            "/kpi/assessments",
            get(api::assessments::list).post(api::assessments::assess),
        )
        .fallback(api_not_found);
    let x_request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .nest("/api/v1", api)
        .route("/healthz", get(api::health::healthz))
        .route("/readyz", get(api::health::readyz))
        .route("/metrics", get(api::health::metrics))
        .merge(console::routes())
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn(track))
        .layer(middleware::from_fn(reject_nul))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error (logged with the request id)").into_response()
        }))
        .layer(PropagateRequestIdLayer::new(x_request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let rid = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("http", method = %req.method(), path = %req.uri().path(), request_id = %rid)
        }))
        .layer(SetRequestIdLayer::new(x_request_id, MakeRequestUuid))
        .with_state(state)
}

async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(openapi::ApiDoc::openapi())
}

async fn api_not_found() -> ApiError {
    ApiError::not_found("no such API endpoint")
}

/// Refuses a NUL character anywhere in the path or query (PostgreSQL text cannot hold one).
async fn reject_nul(req: Request, next: Next) -> Response {
    // Only the path and query reach storage; checked in place (this runs on every request).
    let nul = req
        .uri()
        .path_and_query()
        .is_some_and(|pq| pq.as_str().contains("%00"));
    if nul {
        return ApiError::bad_field("path", "the URL must not contain NUL characters")
            .into_response();
    }
    next.run(req).await
}

/// Request counters and latency histograms by route and status.
async fn track(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    metrics::counter!("tianshu_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status).increment(1);
    metrics::histogram!("tianshu_http_request_duration_seconds", "method" => method, "route" => route).record(start.elapsed().as_secs_f64());
    resp
}

/// Serves `state` on `listener` until `shutdown` resolves, following other instances' policy changes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let platform = state.platform.clone();
    let sync = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            if let Err(e) = platform.policy.sync(&platform.store).await {
                tracing::warn!(error = %e, "policy sync failed");
            }
        }
    });
    let result = axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    sync.abort();
    result
}
