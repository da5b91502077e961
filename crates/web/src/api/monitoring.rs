//! Monitoring (issue 5): dial-test probes, external databases, SQL monitoring points, the daily sign-in
//! (MON-09) and the severe-alarm budget (MON-10).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::Value;
use tianshu_services::monitoring::{points, probes, signin};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Auth};
use crate::state::AppState;

fn json<T: serde::Serialize>(v: T) -> Json<Value> {
    Json(serde_json::to_value(v).unwrap_or(Value::Null))
}

/// Decodes a body, naming the offending field (also a missing one) in the 400.
fn decode<T: serde::de::DeserializeOwned>(body: Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(body).map_err(|e| {
        let path = e.path().to_string();
        let message = e.inner().to_string();
        let missing = message
            .strip_prefix("missing field `")
            .and_then(|r| r.split('`').next());
        let field = match (path.as_str(), missing) {
            (".", Some(m)) => m.to_string(),
            (".", None) => "(body)".to_string(),
            (p, Some(m)) => format!("{p}.{m}"),
            (p, None) => p.to_string(),
        };
        ApiError::bad_field(field, message)
    })
}

// Schemas for the OpenAPI document only: handlers serialise the service types, whose JSON these mirror.

/// One step of a scenario.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct ProbeStepBody {
    pub name: String,
    /// GET (default), POST, PUT, PATCH, DELETE, HEAD.
    pub method: Option<String>,
    /// May use `{{var}}`.
    pub url: String,
    #[schema(value_type = Option<Object>)]
    pub headers: Option<Value>,
    /// Form fields (application/x-www-form-urlencoded).
    #[schema(value_type = Option<Object>)]
    pub form: Option<Value>,
    /// A JSON body.
    #[schema(value_type = Option<Object>)]
    pub json: Option<Value>,
    pub timeout_ms: Option<i64>,
    /// status, body_contains, body_regex, json_path, json_equals, max_latency_ms.
    #[schema(value_type = Option<Object>)]
    pub assert: Option<Value>,
    /// [{name, json_path | regex | header}]
    #[schema(value_type = Option<Vec<Object>>)]
    pub extract: Option<Vec<Value>>,
}

/// A probe's scenario.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct ScenarioBody {
    pub steps: Vec<ProbeStepBody>,
    #[schema(value_type = Option<Object>)]
    pub variables: Option<Value>,
}

/// A probe to create or replace (`version` required to replace).
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct ProbeBody {
    pub name: String,
    pub system: Option<String>,
    pub region: Option<String>,
    /// critical, error, warning, info.
    pub severity: Option<String>,
    pub enabled: Option<bool>,
    pub scenario: ScenarioBody,
    /// Secret variables (never returned).
    #[schema(value_type = Option<Object>)]
    pub secrets: Option<Value>,
    pub version: Option<i64>,
}

/// A probe.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct ProbeOut {
    pub id: i64,
    pub name: String,
    pub system: String,
    pub region: String,
    pub severity: String,
    pub enabled: bool,
    #[schema(value_type = Object)]
    pub scenario: Value,
    pub secret_names: Vec<String>,
    pub next_run_at: String,
    pub consecutive_failures: i64,
    pub alerting: bool,
    pub last_run_at: Option<String>,
    pub last_ok: Option<bool>,
    pub runs_24h: i64,
    /// Percent of successful runs in the last 24 hours.
    pub availability_24h: Option<f64>,
    pub avg_ms_24h: Option<f64>,
    pub max_ms_24h: Option<i64>,
    pub created_by: String,
    pub version: i64,
}

/// Probes.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct ProbeList {
    pub items: Vec<ProbeOut>,
}

/// One step's result.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct StepResultOut {
    pub name: String,
    pub ok: bool,
    pub status: Option<i32>,
    pub latency_ms: i64,
    pub error: Option<String>,
}

/// One run of a probe.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct RunOut {
    pub id: i64,
    pub started_at: String,
    pub ok: bool,
    pub total_ms: i64,
    pub failed_step: Option<i64>,
    pub error: Option<String>,
    pub steps: Vec<StepResultOut>,
}

/// A probe with its latest runs.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct ProbeViewOut {
    pub probe: ProbeOut,
    pub runs: Vec<RunOut>,
}

/// The version read, for deletes.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct VersionQuery {
    pub version: i64,
}

/// How many runs to show.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RunsQuery {
    /// 1–500 (default 50).
    pub runs: Option<i64>,
}

/// Every probe with its last-24-hour availability and latency.
#[utoipa::path(get, path = "/api/v1/probes", tag = "monitoring",
    responses((status = 200, description = "probes", body = ProbeList)))]
pub async fn list_probes(State(st): State<AppState>, Auth(p): Auth) -> ApiResult<Json<Value>> {
    let items = probes::list(&st.platform, &p).await?;
    Ok(json(serde_json::json!({"items": items})))
}

/// Creates a probe (permission `probe.manage`); errors name the field, e.g. `scenario.steps[2].assert.json_path`.
#[utoipa::path(post, path = "/api/v1/probes", tag = "monitoring", request_body = ProbeBody,
    responses((status = 201, description = "created", body = ProbeOut)))]
pub async fn create_probe(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let input: probes::ProbeInput = decode(body)?;
    Ok((
        StatusCode::CREATED,
        json(probes::create(&st.platform, &p, input).await?),
    ))
}

/// One probe with its latest runs (per-step timings).
#[utoipa::path(get, path = "/api/v1/probes/{id}", tag = "monitoring",
    params(("id" = i64, Path, description = "probe id"), RunsQuery),
    responses((status = 200, description = "probe", body = ProbeViewOut)))]
pub async fn get_probe(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<RunsQuery>,
) -> ApiResult<Json<Value>> {
    Ok(json(
        probes::get(&st.platform, &p, id, q.runs.unwrap_or(50)).await?,
    ))
}

/// Replaces a probe's definition (`version` required; secrets kept when absent).
#[utoipa::path(put, path = "/api/v1/probes/{id}", tag = "monitoring", request_body = ProbeBody,
    params(("id" = i64, Path, description = "probe id")),
    responses((status = 200, description = "replaced", body = ProbeOut)))]
pub async fn put_probe(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let input: probes::ProbeInput = decode(body)?;
    Ok(json(probes::update(&st.platform, &p, id, input).await?))
}

/// Deletes a probe and its history.
#[utoipa::path(delete, path = "/api/v1/probes/{id}", tag = "monitoring",
    params(("id" = i64, Path, description = "probe id"), VersionQuery),
    responses((status = 204, description = "deleted")))]
pub async fn delete_probe(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<VersionQuery>,
) -> ApiResult<StatusCode> {
    probes::delete(&st.platform, &p, id, q.version).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Runs a probe now and records the run (its alarm counts it like a scheduled run).
#[utoipa::path(post, path = "/api/v1/probes/{id}/run", tag = "monitoring",
    params(("id" = i64, Path, description = "probe id")),
    responses((status = 200, description = "the run", body = RunOut)))]
pub async fn run_probe(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Value>> {
    Ok(json(probes::run_now(&st.platform, &p, id).await?))
}

// ---------------------------------------------------------------- databases

/// An external database to register (or edit, with `version`; password kept when absent).
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct DatabaseBody {
    pub name: String,
    /// postgres or mysql (MySQL and MariaDB).
    pub kind: String,
    pub host: String,
    pub port: Option<i64>,
    pub database: String,
    pub username: String,
    /// Never returned.
    pub password: Option<String>,
    pub version: Option<i64>,
}

/// A registered database (no password).
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct DatabaseOut {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub host: String,
    pub port: i64,
    pub database: String,
    pub username: String,
    pub has_password: bool,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub version: i64,
}

/// Registered databases.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct DatabaseList {
    pub items: Vec<DatabaseOut>,
}

/// Registered external databases (passwords are never shown).
#[utoipa::path(get, path = "/api/v1/monitoring/databases", tag = "monitoring",
    responses((status = 200, description = "databases", body = DatabaseList)))]
pub async fn list_databases(State(st): State<AppState>, Auth(p): Auth) -> ApiResult<Json<Value>> {
    let items = points::databases(&st.platform, &p).await?;
    Ok(json(serde_json::json!({"items": items})))
}

/// Registers an external database (permission `probe.manage`).
#[utoipa::path(post, path = "/api/v1/monitoring/databases", tag = "monitoring", request_body = DatabaseBody,
    responses((status = 201, description = "registered", body = DatabaseOut)))]
pub async fn create_database(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let input: points::DatabaseInput = decode(body)?;
    Ok((
        StatusCode::CREATED,
        json(points::create_database(&st.platform, &p, input).await?),
    ))
}

/// Edits a registration.
#[utoipa::path(put, path = "/api/v1/monitoring/databases/{id}", tag = "monitoring", request_body = DatabaseBody,
    params(("id" = i64, Path, description = "database id")),
    responses((status = 200, description = "edited", body = DatabaseOut)))]
pub async fn put_database(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let input: points::DatabaseInput = decode(body)?;
    Ok(json(
        points::update_database(&st.platform, &p, id, input).await?,
    ))
}

/// Removes a registration no point uses.
#[utoipa::path(delete, path = "/api/v1/monitoring/databases/{id}", tag = "monitoring",
    params(("id" = i64, Path, description = "database id"), VersionQuery),
    responses((status = 204, description = "removed")))]
pub async fn delete_database(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<VersionQuery>,
) -> ApiResult<StatusCode> {
    points::delete_database(&st.platform, &p, id, q.version).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- points

/// A monitoring point to create (or replace, with `version`).
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct PointBody {
    pub name: String,
    pub owner: String,
    pub runbook_url: Option<String>,
    pub database_id: i64,
    /// One SELECT; the first column of the first row is compared.
    pub query: String,
    /// lt, le, gt, ge, stale.
    pub comparison: String,
    pub threshold: Option<f64>,
    pub stale_after_s: Option<i64>,
    pub interval_s: Option<i64>,
    pub system: Option<String>,
    pub region: Option<String>,
    pub severity: Option<String>,
    pub enabled: Option<bool>,
    pub version: Option<i64>,
}

/// A monitoring point with its state.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct PointOut {
    pub id: i64,
    pub name: String,
    pub owner: String,
    pub runbook_url: String,
    pub database_id: i64,
    pub database: String,
    pub query: String,
    pub comparison: String,
    pub threshold: f64,
    pub stale_after_s: i64,
    pub interval_s: i64,
    pub system: String,
    pub region: String,
    pub severity: String,
    pub enabled: bool,
    /// ok, breached, unknown.
    pub state: String,
    pub last_value: Option<String>,
    pub last_reason: Option<String>,
    pub last_run_at: Option<String>,
    pub unknown_since: Option<String>,
    pub alerting: bool,
    pub next_run_at: String,
    pub version: i64,
}

/// The catalogue.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct PointList {
    pub items: Vec<PointOut>,
}

/// One evaluation.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct PointRunOut {
    pub id: i64,
    pub at: String,
    pub state: String,
    pub value: Option<String>,
    pub reason: String,
    pub latency_ms: i64,
}

/// A point with its latest evaluations.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct PointViewOut {
    pub point: PointOut,
    pub runs: Vec<PointRunOut>,
}

/// The catalogue of monitoring points with owner, runbook and state.
#[utoipa::path(get, path = "/api/v1/monitoring/points", tag = "monitoring",
    responses((status = 200, description = "points", body = PointList)))]
pub async fn list_points(State(st): State<AppState>, Auth(p): Auth) -> ApiResult<Json<Value>> {
    let items = points::list(&st.platform, &p).await?;
    Ok(json(serde_json::json!({"items": items})))
}

/// Creates a monitoring point (permission `probe.manage`).
#[utoipa::path(post, path = "/api/v1/monitoring/points", tag = "monitoring", request_body = PointBody,
    responses((status = 201, description = "created", body = PointOut)))]
pub async fn create_point(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let input: points::PointInput = decode(body)?;
    Ok((
        StatusCode::CREATED,
        json(points::create(&st.platform, &p, input).await?),
    ))
}

/// One point with its latest evaluations.
#[utoipa::path(get, path = "/api/v1/monitoring/points/{id}", tag = "monitoring",
    params(("id" = i64, Path, description = "point id")),
    responses((status = 200, description = "point", body = PointViewOut)))]
pub async fn get_point(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Value>> {
    Ok(json(points::get(&st.platform, &p, id).await?))
}

/// Replaces a point's definition.
#[utoipa::path(put, path = "/api/v1/monitoring/points/{id}", tag = "monitoring", request_body = PointBody,
    params(("id" = i64, Path, description = "point id")),
    responses((status = 200, description = "replaced", body = PointOut)))]
pub async fn put_point(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let input: points::PointInput = decode(body)?;
    Ok(json(points::update(&st.platform, &p, id, input).await?))
}

/// Deletes a point and its history.
#[utoipa::path(delete, path = "/api/v1/monitoring/points/{id}", tag = "monitoring",
    params(("id" = i64, Path, description = "point id"), VersionQuery),
    responses((status = 204, description = "deleted")))]
pub async fn delete_point(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<VersionQuery>,
) -> ApiResult<StatusCode> {
    points::delete(&st.platform, &p, id, q.version).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Evaluates a point now and records it.
#[utoipa::path(post, path = "/api/v1/monitoring/points/{id}/run", tag = "monitoring",
    params(("id" = i64, Path, description = "point id")),
    responses((status = 200, description = "point", body = PointViewOut)))]
pub async fn run_point(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Value>> {
    Ok(json(points::run_now(&st.platform, &p, id).await?))
}

// ---------------------------------------------------------------- sign-in, budget

/// The sign-in.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SigninBody {
    pub note: Option<String>,
}

/// An unhandled alert of the previous day.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct OpenAlertOut {
    pub id: i64,
    pub summary: String,
}

/// Today's sign-in (MON-09).
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct SigninOut {
    pub day: String,
    pub deadline: String,
    pub signed_by: Option<String>,
    pub signed_at: Option<String>,
    pub note: Option<String>,
    pub overdue: bool,
    pub previous_day: String,
    pub unhandled: Vec<OpenAlertOut>,
}

/// Today's sign-in and the previous day's alerts still firing.
#[utoipa::path(get, path = "/api/v1/monitoring/signin", tag = "monitoring",
    responses((status = 200, description = "sign-in", body = SigninOut)))]
pub async fn get_signin(State(st): State<AppState>, Auth(p): Auth) -> ApiResult<Json<Value>> {
    Ok(json(signin::status(&st.platform, &p).await?))
}

/// Signs in for today, confirming the previous day's alerts are handled (409 `alerts` while any still fires).
#[utoipa::path(post, path = "/api/v1/monitoring/signin", tag = "monitoring", request_body = SigninBody,
    responses((status = 200, description = "signed in", body = SigninOut)))]
pub async fn post_signin(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiJson(b): ApiJson<SigninBody>,
) -> ApiResult<Json<Value>> {
    Ok(json(signin::sign_in(&st.platform, &p, b.note).await?))
}

/// Month of the budget.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct BudgetQuery {
    /// YYYY-MM (default: this month).
    pub month: Option<String>,
}

/// Severe alarms of one region.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct BudgetLineOut {
    pub region: String,
    pub count: i64,
    pub budget: i64,
    pub over: bool,
}

/// MON-10 for a month.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct BudgetOut {
    pub month: String,
    pub rule: String,
    pub per_month: i64,
    pub severities: Vec<String>,
    pub regions: Vec<BudgetLineOut>,
}

/// MON-10: severe alarms per province (region) in a month against the budget.
#[utoipa::path(get, path = "/api/v1/monitoring/severe-budget", tag = "monitoring", params(BudgetQuery),
    responses((status = 200, description = "budget", body = BudgetOut)))]
pub async fn severe_budget(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<BudgetQuery>,
) -> ApiResult<Json<Value>> {
    Ok(json(
        signin::budget(&st.platform, &p, q.month.as_deref()).await?,
    ))
}
