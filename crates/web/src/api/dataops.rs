//! Back-end data operations (issue 7; DATA-*): target databases, requests with declared steps, the DATA-13 chain,
//! guarded execution with before-images, and the periodic audit report.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::Value;
use tianshu_services::dataops::{self, RequestInput, TargetInput};
use tianshu_store::dataops::RequestFilter;
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Auth};
use crate::state::AppState;

fn json<T: serde::Serialize>(v: T) -> Json<Value> {
    Json(serde_json::to_value(v).unwrap_or(Value::Null))
}

/// Decodes a payload, naming the offending field (also a missing one) in the 400.
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

// Response shapes, for the OpenAPI document only: handlers serialise the service types, whose JSON these
// mirror field for field.

/// A registered target database (the password is never returned).
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct TargetOut {
    pub id: i64,
    pub name: String,
    /// postgres or mysql.
    pub kind: String,
    pub host: String,
    pub port: i64,
    pub database_name: String,
    pub username: String,
    pub system: String,
    pub created_by: String,
    pub created_at: i64,
    pub version: i64,
}

/// Registered targets.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct TargetList {
    pub items: Vec<TargetOut>,
}

/// A data-operation request (times in Unix microseconds UTC).
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct DataOpOut {
    pub id: i64,
    /// modification or extraction.
    pub kind: String,
    /// submitted, biz_approved, tech_approved, executed, reviewed, rejected.
    pub state: String,
    pub target_id: i64,
    pub title: String,
    pub ticket_type: String,
    pub ticket_ref: String,
    pub impact: String,
    pub purpose: String,
    pub fields: String,
    pub declared_rows: i64,
    pub amount_diff_yuan: Option<f64>,
    pub inventory_error: Option<f64>,
    pub estimated_minutes: Option<i64>,
    pub sensitive_classes: Vec<String>,
    pub vendor_mode: String,
    pub batch: bool,
    pub important: bool,
    /// DATA-10: processor and reviewer must differ.
    pub separation_required: bool,
    #[schema(value_type = Object)]
    pub classification: Value,
    /// Modification: `{sql, expected_rows}` per step; extraction: `{sql}`.
    #[schema(value_type = Vec<Object>)]
    pub steps: Value,
    pub submitter: String,
    pub processor: String,
    pub reviewer: String,
    pub executed_by: Option<String>,
    pub executed_at: Option<i64>,
    pub reviewed_by: Option<String>,
    pub reviewed_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub version: i64,
}

/// A page of requests.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct DataOpPage {
    pub items: Vec<DataOpOut>,
    pub next_cursor: Option<String>,
}

/// One entry of the approval chain.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct DataOpEventOut {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    /// submitted, biz_approved, tech_approved, sensitive_approved, sensitive_batch_approved, peak_exception,
    /// executed, execution_failed, reviewed, rejected.
    pub kind: String,
    pub note: String,
    #[schema(value_type = Object)]
    pub data: Value,
}

/// One execution with its before-image.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct ExecutionOut {
    pub id: i64,
    pub actor: String,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    /// running, committed, rolled_back, failed.
    pub outcome: String,
    pub message: String,
    /// Per step: `{step, table, verb, rows}`, rows as column → text or null.
    #[schema(value_type = Vec<Object>)]
    pub before_image: Value,
    /// Per step: declared, locked and affected rows.
    #[schema(value_type = Vec<Object>)]
    pub affected: Value,
    /// Extraction result rows.
    #[schema(value_type = Option<Vec<Object>>)]
    pub result: Option<Value>,
    pub result_rows: Option<i64>,
}

/// A request with its target, chain, executions and the actions the caller may take.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct DataOpViewOut {
    pub id: i64,
    pub kind: String,
    pub state: String,
    pub target_id: i64,
    pub title: String,
    pub ticket_type: String,
    pub ticket_ref: String,
    pub impact: String,
    pub purpose: String,
    pub fields: String,
    pub declared_rows: i64,
    pub amount_diff_yuan: Option<f64>,
    pub inventory_error: Option<f64>,
    pub estimated_minutes: Option<i64>,
    pub sensitive_classes: Vec<String>,
    pub vendor_mode: String,
    pub batch: bool,
    pub important: bool,
    pub separation_required: bool,
    #[schema(value_type = Object)]
    pub classification: Value,
    #[schema(value_type = Vec<Object>)]
    pub steps: Value,
    pub submitter: String,
    pub processor: String,
    pub reviewer: String,
    pub executed_by: Option<String>,
    pub executed_at: Option<i64>,
    pub reviewed_by: Option<String>,
    pub reviewed_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub version: i64,
    pub target: Option<TargetOut>,
    pub events: Vec<DataOpEventOut>,
    pub executions: Vec<ExecutionOut>,
    pub allowed: Vec<String>,
}

/// What an execution answers.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct ExecutionReportOut {
    pub request: DataOpViewOut,
    pub execution: ExecutionOut,
}

/// DATA-13 monthly audit.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct AuditReportOut {
    pub month: String,
    pub total: i64,
    pub modifications: i64,
    pub extractions: i64,
    pub batch: i64,
    pub important: i64,
    pub sensitive: i64,
    pub by_state: std::collections::BTreeMap<String, i64>,
    pub unreviewed: Vec<i64>,
    pub unresolved_executions: Vec<i64>,
    pub rolled_back: i64,
    pub items: Vec<DataOpOut>,
}

// ---------------------------------------------------------------- requests

/// A target database to register.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct TargetBody {
    pub name: String,
    /// postgres or mysql (MySQL and MariaDB).
    pub kind: String,
    pub host: String,
    pub port: u16,
    pub database: String,
    pub username: String,
    /// Stored for the executor only; never returned or logged. Empty: no password.
    pub password: String,
    pub system: Option<String>,
}

/// One declared step.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct DataOpStepBody {
    /// Exactly one UPDATE, DELETE (with a key predicate) or INSERT … VALUES on one table.
    pub sql: String,
    /// Rows it must affect; any other count rolls every step back.
    pub expected_rows: u64,
}

/// A new request.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct DataOpBody {
    /// modification or extraction.
    pub kind: String,
    pub target_id: i64,
    pub title: String,
    /// DATA-04: ams_data_modification, cmcp_business_fault, cmcp_it_collaboration.
    pub ticket_type: String,
    pub ticket_ref: Option<String>,
    /// DATA-07 (modification: required).
    pub impact: Option<String>,
    /// DATA-16 (extraction: required).
    pub purpose: Option<String>,
    /// DATA-16 (extraction: required).
    pub fields: Option<String>,
    /// Extraction: expected rows (DATA-17); modification: the sum of the steps.
    pub declared_rows: Option<u64>,
    pub amount_diff_yuan: Option<f64>,
    pub inventory_error: Option<f64>,
    pub estimated_minutes: Option<i64>,
    pub sensitive_classes: Option<Vec<String>>,
    /// company, onsite_vendor, remote_vendor.
    pub vendor_mode: Option<String>,
    pub processor: String,
    pub reviewer: String,
    pub steps: Option<Vec<DataOpStepBody>>,
    /// Extraction: one SELECT.
    pub query: Option<String>,
}

/// A chain step or execution, on the version read.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DataOpActBody {
    pub version: i64,
    pub note: Option<String>,
}

/// List filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DataOpQuery {
    pub state: Option<String>,
    pub kind: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

/// Which month.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct MonthQuery {
    /// YYYY-MM.
    pub month: String,
}

/// Registered target databases.
#[utoipa::path(get, path = "/api/v1/data-ops/targets", tag = "data-ops",
    responses((status = 200, description = "targets", body = TargetList)))]
pub async fn targets(State(st): State<AppState>, Auth(p): Auth) -> ApiResult<Json<Value>> {
    let items = dataops::targets(&st.platform, &p).await?;
    Ok(json(serde_json::json!({ "items": items })))
}

/// Registers a target database (needs dataop.approve and dataop.execute); audited without the password.
#[utoipa::path(post, path = "/api/v1/data-ops/targets", tag = "data-ops", request_body = TargetBody,
    responses((status = 201, description = "registered", body = TargetOut)))]
pub async fn register_target(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let input: TargetInput = decode(body)?;
    let t = dataops::register_target(&st.platform, &p, input).await?;
    Ok((StatusCode::CREATED, json(t)))
}

/// Data-operation requests, newest first.
#[utoipa::path(get, path = "/api/v1/data-ops", tag = "data-ops", params(DataOpQuery),
    responses((status = 200, description = "requests", body = DataOpPage)))]
pub async fn list(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<DataOpQuery>,
) -> ApiResult<Json<Value>> {
    let (after, limit) = super::PageParams {
        cursor: q.cursor,
        limit: q.limit,
    }
    .resolve()?;
    let before = (after > 0).then_some(after);
    let filter = RequestFilter {
        state: q.state,
        kind: q.kind,
        ..Default::default()
    };
    let items = dataops::list(&st.platform, &p, filter, before, limit).await?;
    let next = super::next_cursor(items.len(), limit, items.last().map(|r| r.id));
    Ok(json(
        serde_json::json!({ "items": items, "next_cursor": next }),
    ))
}

/// Submits a modification (declared steps) or an extraction (one SELECT); validated against DATA-02..DATA-16.
#[utoipa::path(post, path = "/api/v1/data-ops", tag = "data-ops", request_body = DataOpBody,
    responses((status = 201, description = "submitted", body = DataOpViewOut)))]
pub async fn submit(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let input: RequestInput = decode(body)?;
    let v = dataops::submit(&st.platform, &p, input).await?;
    Ok((StatusCode::CREATED, json(v)))
}

/// One request with its chain, executions and before-images.
#[utoipa::path(get, path = "/api/v1/data-ops/{id}", tag = "data-ops",
    params(("id" = i64, Path, description = "request id")),
    responses((status = 200, description = "request", body = DataOpViewOut)))]
pub async fn get(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Value>> {
    Ok(json(dataops::get(&st.platform, &p, id).await?))
}

/// Runs an approved request, guarded: one transaction, before-image first, rolled back on any count mismatch.
#[utoipa::path(post, path = "/api/v1/data-ops/{id}/execute", tag = "data-ops", request_body = DataOpActBody,
    params(("id" = i64, Path, description = "request id")),
    responses((status = 200, description = "executed", body = ExecutionReportOut)))]

pub async fn execute(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<DataOpActBody>,
) -> ApiResult<Json<Value>> {
    Ok(json(
        dataops::execute(&st.platform, &p, id, b.version).await?,
    ))
}

/// A chain step: approve_business, approve_technical, approve_sensitive, approve_sensitive_batch,
/// approve_peak_exception, review or reject.
#[utoipa::path(post, path = "/api/v1/data-ops/{id}/actions/{action}", tag = "data-ops", request_body = DataOpActBody,
    params(("id" = i64, Path, description = "request id"), ("action" = String, Path, description = "chain step")),
    responses((status = 200, description = "request", body = DataOpViewOut)))]
pub async fn act(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath((id, action)): ApiPath<(i64, String)>,
    ApiJson(b): ApiJson<DataOpActBody>,
) -> ApiResult<Json<Value>> {
    Ok(json(
        dataops::act(&st.platform, &p, id, &action, b.version, b.note).await?,
    ))
}

/// DATA-13 periodic audit: every data operation created in a month, with what still needs attention.
#[utoipa::path(get, path = "/api/v1/data-ops/audit-report", tag = "data-ops", params(MonthQuery),
    responses((status = 200, description = "report", body = AuditReportOut)))]
pub async fn audit_report(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<MonthQuery>,
) -> ApiResult<Json<Value>> {
    Ok(json(
        dataops::audit_report(&st.platform, &p, &q.month).await?,
    ))
}

/// How an interrupted execution is settled.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DataOpSettleBody {
    /// true: the change is on the target (checked by hand); false: nothing was applied.
    pub applied: bool,
    /// How the target was checked.
    pub note: String,
}

/// Settles an execution found interrupted (`unknown`) after checking the target by hand against its
/// before-image; it is never re-run automatically.
#[utoipa::path(post, path = "/api/v1/data-ops/{id}/executions/{execution}/settle", tag = "data-ops",
    request_body = DataOpSettleBody,
    params(("id" = i64, Path, description = "request id"), ("execution" = i64, Path, description = "execution id")),
    responses((status = 200, description = "request", body = DataOpViewOut)))]
pub async fn settle(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath((id, execution)): ApiPath<(i64, i64)>,
    ApiJson(b): ApiJson<DataOpSettleBody>,
) -> ApiResult<Json<Value>> {
    Ok(json(
        dataops::settle(&st.platform, &p, id, execution, b.applied, &b.note).await?,
    ))
}
