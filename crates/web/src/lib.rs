//! Tianshu's HTTP layer: the JSON API under /api/v1, the console, health and metrics.
//!
//! `app()` builds the service the binary serves and the tests drive on an ephemeral port.

pub mod api;
pub mod console;
pub mod error;
pub mod extract;
pub mod layers;
pub mod openapi;
pub mod state;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router, ServiceExt as _};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tower::{Service, ServiceBuilder};
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

/// The routes: the JSON API under /api/v1, health, metrics and the console, each timed by [`layers::Track`].
pub fn routes(state: AppState) -> Router {
    let api = Router::new()
        .route("/api/v1/openapi.json", get(openapi_json))
        .route(
            "/api/v1/session",
            post(api::session::login)
                .get(api::session::me)
                .delete(api::session::logout),
        )
        .route(
            "/api/v1/users",
            get(api::identity::list_users).post(api::identity::create_user),
        )
        .route(
            "/api/v1/users/{id}",
            get(api::identity::get_user).patch(api::identity::patch_user),
        )
        .route(
            "/api/v1/users/{id}/password",
            put(api::identity::set_password),
        )
        .route(
            "/api/v1/orgs",
            get(api::identity::list_orgs).post(api::identity::create_org),
        )
        .route("/api/v1/roles", get(api::identity::list_roles))
        .route("/api/v1/systems", get(api::identity::list_systems))
        .route(
            "/api/v1/tokens",
            get(api::tokens::list).post(api::tokens::create),
        )
        .route(
            "/api/v1/tokens/{id}",
            axum::routing::delete(api::tokens::revoke),
        )
        .route(
            "/api/v1/incidents",
            get(api::incidents::list).post(api::incidents::create),
        )
        .route("/api/v1/incidents/{id}", get(api::incidents::get))
        .route(
            "/api/v1/incidents/{id}/timeline",
            get(api::incidents::timeline),
        )
        .route(
            "/api/v1/incidents/{id}/facts",
            put(api::incidents::put_facts),
        )
        .route(
            "/api/v1/incidents/{id}/leased-line",
            put(api::incidents::put_leased_line),
        )
        .route("/api/v1/incidents/{id}/level", post(api::incidents::lower))
        .route(
            "/api/v1/incidents/{id}/actions/{action}",
            post(api::incidents::act),
        )
        .route(
            "/api/v1/incidents/{id}/dispatches",
            post(api::incidents::dispatch),
        )
        .route(
            "/api/v1/incidents/{id}/progress",
            post(api::incidents::progress),
        )
        .route(
            "/api/v1/incidents/{id}/reports",
            post(api::incidents::report),
        )
        .route("/api/v1/incidents/{id}/merge", post(api::incidents::merge))
        .route(
            "/api/v1/incidents/{id}/unmerge",
            post(api::incidents::unmerge),
        )
        .route("/api/v1/incidents/{id}/links", post(api::incidents::link))
        .route(
            "/api/v1/incidents/{id}/duplicates",
            get(api::incidents::duplicates),
        )
        .route(
            "/api/v1/reports/frequent-faults",
            get(api::incidents::frequent),
        )
        .route("/api/v1/incidents/{id}/bug", post(api::incidents::bug))
        .route(
            "/api/v1/incidents/{id}/attachments",
            get(api::incidents::attachments)
                .post(api::incidents::attach)
                .layer(DefaultBodyLimit::max(
                    tianshu_services::incidents::MAX_ATTACHMENT_BYTES + 1024,
                )),
        )
        .route("/api/v1/attachments/{id}", get(api::incidents::download))
        .route("/api/v1/audit", get(api::audit::list))
        .route("/api/v1/audit/verify", post(api::audit::verify))
        .route("/api/v1/policy", get(api::policy::get))
        .route("/api/v1/policy/reload", post(api::policy::reload))
        .route("/api/v1/calendars", get(api::calendar::list))
        .route(
            "/api/v1/calendars/{name}/deadline",
            get(api::calendar::deadline),
        )
        .route(
            "/api/v1/calendars/{name}/working-time",
            get(api::calendar::working_time),
        )
        .route(
            "/api/v1/holidays/{year}",
            get(api::calendar::get_year).put(api::calendar::put_year),
        )
        .route(
            "/api/v1/notifications/templates",
            get(api::notifications::templates),
        )
        .route(
            "/api/v1/notifications/templates/{id}",
            get(api::notifications::template).put(api::notifications::put_template),
        )
        .route(
            "/api/v1/notifications/templates/{id}/preview",
            post(api::notifications::preview),
        )
        .route(
            "/api/v1/notifications/lists",
            get(api::notifications::lists),
        )
        .route(
            "/api/v1/notifications/lists/{key}",
            put(api::notifications::put_list),
        )
        .route(
            "/api/v1/notifications/contacts",
            get(api::notifications::contacts).post(api::notifications::add_contact),
        )
        .route(
            "/api/v1/notifications/messages",
            get(api::notifications::messages).post(api::notifications::draft),
        )
        .route(
            "/api/v1/notifications/messages/{id}",
            get(api::notifications::message).patch(api::notifications::edit),
        )
        .route(
            "/api/v1/notifications/messages/{id}/{action}",
            post(api::notifications::action),
        )
        .route("/api/v1/alerts", get(api::alerts::list))
        .route(
            "/api/v1/alerts/alertmanager",
            post(api::alerts::alertmanager),
        )
        .route("/api/v1/alerts/events", post(api::alerts::event))
        .route(
            "/api/v1/alerts/silences",
            get(api::alerts::silences).post(api::alerts::create_silence),
        )
        .route("/api/v1/alerts/silences/{id}", get(api::alerts::silence))
        .route(
            "/api/v1/alerts/silences/{id}/expire",
            post(api::alerts::expire_silence),
        )
        .route(
            "/api/v1/alerts/maintenance",
            get(api::alerts::maintenance).post(api::alerts::create_maintenance),
        )
        .route(
            "/api/v1/alerts/maintenance/{id}",
            get(api::alerts::maintenance_window),
        )
        .route(
            "/api/v1/alerts/maintenance/{id}/cancel",
            post(api::alerts::cancel_maintenance),
        )
        .route("/api/v1/alerts/{id}", get(api::alerts::get))
        .route("/api/v1/alerts/{id}/{action}", post(api::alerts::act))
        .route("/api/v1/duty/setup", get(api::duty::setup))
        .route("/api/v1/duty/roster", get(api::duty::roster))
        .route("/api/v1/duty/roster/generate", post(api::duty::generate))
        .route("/api/v1/duty/roster.xlsx", get(api::duty::roster_xlsx))
        .route(
            "/api/v1/duty/roster/import",
            post(api::duty::import_roster).layer(DefaultBodyLimit::max(
                tianshu_services::duty::xlsx::MAX_XLSX_BYTES + 1024,
            )),
        )
        .route("/api/v1/duty/coverage", get(api::duty::coverage))
        .route("/api/v1/duty/on-duty", get(api::duty::on_duty))
        .route(
            "/api/v1/duty/assignments/{id}/override",
            post(api::duty::override_assignment),
        )
        .route("/api/v1/duty/overrides", get(api::duty::overrides))
        .route(
            "/api/v1/duty/swaps",
            get(api::duty::swaps).post(api::duty::request_swap),
        )
        .route(
            "/api/v1/duty/swaps/{id}/{decision}",
            post(api::duty::decide_swap),
        )
        .route(
            "/api/v1/duty/reports",
            get(api::duty::reports).post(api::duty::file_report),
        )
        .route(
            "/api/v1/duty/handovers",
            get(api::duty::handovers).post(api::duty::add_handover),
        )
        .route("/api/v1/duty/comp-time", get(api::duty::comp_time_all))
        .route(
            "/api/v1/duty/comp-time.xlsx",
            get(api::duty::comp_time_xlsx),
        )
        .route("/api/v1/duty/comp-time/{person}", get(api::duty::comp_time))
        .route(
            "/api/v1/duty/people/{person}/calendar.ics",
            get(api::duty::ics),
        )
        .route(
            "/api/v1/incidents/{id}/notifications",
            get(api::notifications::of_incident),
        )
        // Monitoring: probes, external databases, SQL points, sign-in, severe budget (issue 5).
        .route(
            "/api/v1/probes",
            get(api::monitoring::list_probes).post(api::monitoring::create_probe),
        )
        .route(
            "/api/v1/probes/{id}",
            get(api::monitoring::get_probe)
                .put(api::monitoring::put_probe)
                .delete(api::monitoring::delete_probe),
        )
        .route("/api/v1/probes/{id}/run", post(api::monitoring::run_probe))
        .route(
            "/api/v1/monitoring/databases",
            get(api::monitoring::list_databases).post(api::monitoring::create_database),
        )
        .route(
            "/api/v1/monitoring/databases/{id}",
            put(api::monitoring::put_database).delete(api::monitoring::delete_database),
        )
        .route(
            "/api/v1/monitoring/points",
            get(api::monitoring::list_points).post(api::monitoring::create_point),
        )
        .route(
            "/api/v1/monitoring/points/{id}",
            get(api::monitoring::get_point)
                .put(api::monitoring::put_point)
                .delete(api::monitoring::delete_point),
        )
        .route(
            "/api/v1/monitoring/points/{id}/run",
            post(api::monitoring::run_point),
        )
        .route(
            "/api/v1/monitoring/signin",
            get(api::monitoring::get_signin).post(api::monitoring::post_signin),
        )
        .route(
            "/api/v1/monitoring/severe-budget",
            get(api::monitoring::severe_budget),
        )
        .route(
            "/api/v1/saved-views",
            get(api::views::list).post(api::views::create),
        )
        .route(
            "/api/v1/saved-views/{id}",
            axum::routing::delete(api::views::delete),
        )
        .route("/api/v1/reports/trends", get(api::reports::trends))
        .route(
            "/api/v1/problems",
            get(api::problems::list).post(api::problems::create),
        )
        .route("/api/v1/problems/monthly", get(api::problems::monthly))
        .route("/api/v1/problems/{id}", get(api::problems::get))
        .route("/api/v1/problems/{id}/actions", post(api::problems::act))
        .route(
            "/api/v1/problems/meetings",
            get(api::problems::meetings).post(api::problems::create_meeting),
        )
        .route(
            "/api/v1/problems/meetings/{id}",
            get(api::problems::meeting),
        )
        .route(
            "/api/v1/problems/meetings/{id}/actions/{action_id}/close",
            post(api::problems::close_meeting_action),
        )
        .route(
            "/api/v1/data-ops/targets",
            get(api::dataops::targets).post(api::dataops::register_target),
        )
        .route(
            "/api/v1/data-ops/audit-report",
            get(api::dataops::audit_report),
        )
        .route(
            "/api/v1/data-ops",
            get(api::dataops::list).post(api::dataops::submit),
        )
        .route("/api/v1/data-ops/{id}", get(api::dataops::get))
        .route("/api/v1/data-ops/{id}/execute", post(api::dataops::execute))
        .route(
            "/api/v1/data-ops/{id}/actions/{action}",
            post(api::dataops::act),
        )
        .route(
            "/api/v1/cutovers",
            get(api::cutovers::list).post(api::cutovers::apply),
        )
        .route("/api/v1/cutovers/{id}", get(api::cutovers::get))
        .route(
            "/api/v1/cutovers/{id}/approve",
            post(api::cutovers::approve),
        )
        .route("/api/v1/cutovers/{id}/log", post(api::cutovers::log))
        .route(
            "/api/v1/cutovers/{id}/complete",
            post(api::cutovers::complete),
        )
        .route(
            "/api/v1/releases",
            get(api::cutovers::releases).post(api::cutovers::plan_release),
        )
        .route(
            "/api/v1/requirements",
            get(api::cutovers::requirements).post(api::cutovers::register_requirement),
        )
        .route(
            "/api/v1/requirements/week",
            get(api::cutovers::requirements_week),
        )
        .route(
            "/api/v1/requirements/{id}/actions",
            post(api::cutovers::requirement_action),
        )
        .route("/api/v1/kpi/scorecards", get(api::kpi::scorecards))
        .route(
            "/api/v1/kpi/scorecards.xlsx",
            get(api::kpi::scorecards_xlsx),
        )
        .route("/api/v1/reports/pack", get(api::kpi::pack))
        .route("/api/v1/reports/pack.xlsx", get(api::kpi::pack_xlsx))
        .route(
            "/api/v1/customers",
            get(api::kpi::list_customers).post(api::kpi::create_customer),
        )
        .route(
            "/api/v1/customers/{key}/tier",
            axum::routing::put(api::kpi::set_customer_tier),
        )
        .route("/api/v1/requirements/{id}", get(api::cutovers::requirement))
        .route("/api/v1/releases/{id}", get(api::cutovers::release))
        .route(
            "/api/v1/releases/{id}/decision",
            post(api::cutovers::release_decision),
        )
        .route(
            "/api/v1/releases/{id}/verifications",
            post(api::cutovers::release_verify),
        )
        .route(
            "/api/v1/releases/{id}/prerequisites",
            post(api::cutovers::release_prerequisite),
        )
        .route("/api/v1/cutovers/{id}/start", post(api::cutovers::start))
        .route(
            "/api/v1/cutovers/{id}/rectification",
            post(api::cutovers::rectification),
        )
        .route(
            "/api/v1/assurance-plans",
            get(api::cutovers::assurance_plans).post(api::cutovers::create_assurance_plan),
        )
        .route(
            "/api/v1/assurance-plans/{id}",
            get(api::cutovers::assurance_plan),
        )
        .route(
            "/api/v1/assurance-plans/{id}/{action}",
            post(api::cutovers::assurance_plan_action),
        )
        .route(
            "/api/v1/data-ops/{id}/executions/{execution}/settle",
            post(api::dataops::settle),
        )
        // Reconciliation: jobs, runs, differences, details, trend, work items (issue 6).
        .route("/api/v1/recon/jobs", get(api::recon::jobs))
        .route("/api/v1/recon/jobs/{key}", get(api::recon::job))
        .route("/api/v1/recon/jobs/{key}/trend", get(api::recon::trend))
        .route(
            "/api/v1/recon/runs",
            get(api::recon::runs).post(api::recon::run_now),
        )
        .route("/api/v1/recon/runs/{id}", get(api::recon::run))
        .route(
            "/api/v1/recon/runs/{id}/differences",
            get(api::recon::differences),
        )
        .route("/api/v1/recon/runs/{id}/details", get(api::recon::details))
        .route(
            "/api/v1/recon/uploads",
            post(api::recon::upload)
                .layer(DefaultBodyLimit::max(tianshu_services::recon::MAX_UPLOAD)),
        )
        .route("/api/v1/recon/items", get(api::recon::items))
        .route("/api/v1/recon/items/{id}", get(api::recon::item))
        .route("/api/v1/recon/items/{id}/actions", post(api::recon::act))
        // Provisioning orders of group customers (issue 8 item 2, SLA-04..SLA-07).
        .route("/api/v1/customers/{key}", get(api::provisioning::customer))
        .route(
            "/api/v1/customers/{key}/orders",
            get(api::provisioning::list_orders).post(api::provisioning::create_order),
        )
        .route(
            "/api/v1/provisioning-orders/{id}",
            get(api::provisioning::get_order),
        )
        .route(
            "/api/v1/provisioning-orders/{id}/delays",
            post(api::provisioning::file_delay),
        )
        .route(
            "/api/v1/provisioning-orders/{id}/complete",
            post(api::provisioning::complete),
        )
        .route(
            "/api/v1/provisioning-orders/{id}/delays/{delay_id}/approve",
            post(api::provisioning::approve_delay),
        )
        .route(
            "/api/v1/provisioning-orders/{id}/delays/{delay_id}/reject",
            post(api::provisioning::reject_delay),
        )
        // SLA-09 acceptances and the KPI-06 data configuration of an order (KPI-05/06 records).
        .route(
            "/api/v1/provisioning-orders/{id}/acceptances",
            post(api::provisioning::record_acceptance),
        )
        .route(
            "/api/v1/provisioning-orders/{id}/data-configuration",
            post(api::provisioning::record_data_configuration),
        )
        // Group-customer complaints (KPI-08) and evaluator assessments (KPI-12/KPI-13).
        .route(
            "/api/v1/customers/{key}/complaints",
            get(api::complaints::list),
        )
        .route(
            "/api/v1/customers/{key}/leased-lines",
            get(api::kpi::customer_leased_lines),
        )
        .route("/api/v1/complaints", post(api::complaints::create))
        .route("/api/v1/complaints/{id}", get(api::complaints::get))
        .route(
            "/api/v1/complaints/{id}/close",
            post(api::complaints::close),
        )
        .route(
            "/api/v1/kpi/assessments",
            get(api::assessments::list).post(api::assessments::assess),
        )
        // Unmatched paths under /api/v1 answer in the API's problem format; others with a plain 404.
        .fallback(not_found);
    Router::new()
        .merge(api)
        .route("/healthz", get(api::health::healthz))
        .route("/readyz", get(api::health::readyz))
        .route("/metrics", get(api::health::metrics))
        .merge(console::routes())
        .layer(layers::TrackLayer)
        .with_state(state)
}

/// The whole HTTP application: [`routes`] behind the request-wide layers.
///
/// The request-wide layers wrap the router once. Added with `Router::layer` they would wrap every route, and
/// axum clones a route's whole service stack (and drops it) on every request; the API routes are written out
/// with their `/api/v1` prefix instead of nested for the same reason (a nested route rewrites the URI per
/// request). Both were ~15 % of the alert intake's instructions (bench/RESULTS.md, session 18).
pub fn app(
    state: AppState,
) -> impl Service<Request, Response = Response, Error = Infallible, Future: Send>
       + Clone
       + Send
       + Sync
       + 'static {
    // Metric handles are cached per route: the recorder must exist before the first is taken.
    let _ = metrics_handle();
    let x_request_id = HeaderName::from_static("x-request-id");
    ServiceBuilder::new()
        .map_response(IntoResponse::into_response)
        .layer(SetRequestIdLayer::new(x_request_id.clone(), MakeRequestUuid))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let rid = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("http", method = %req.method(), path = %req.uri().path(), request_id = %rid)
        }))
        .layer(PropagateRequestIdLayer::new(x_request_id))
        .layer(layers::GuardLayer)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .service(routes(state))
}

async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(openapi::ApiDoc::openapi())
}

async fn not_found(uri: Uri) -> Response {
    let p = uri.path();
    if p == "/api/v1" || p.starts_with("/api/v1/") {
        ApiError::not_found("no such API endpoint").into_response()
    } else {
        StatusCode::NOT_FOUND.into_response()
    }
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
