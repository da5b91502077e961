//! Reconciliation (issue 6, REC-01..REC-08): the pack's jobs with their declared inputs, stored runs, runs started
//! now (uploads or files in the server's inbox), sampled differences with paging, CSV/XLSX details, the
//! consistency trend per job and the REC-07 work items.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::Value;
use tianshu_services::recon::{self, DetailsFormat, ItemAction, RunNowInput};
use utoipa::{IntoParams, ToSchema};

use crate::api::incidents::BinaryFile;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Auth};
use crate::state::AppState;

fn json<T: serde::Serialize>(v: T) -> Json<Value> {
    Json(serde_json::to_value(v).unwrap_or(Value::Null))
}

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
        tianshu_services::ServiceError::invalid(field, message).into()
    })
}

// Response shapes for the OpenAPI document: handlers serialise the service types, whose JSON these mirror.

/// A stored reconciliation run (times in Unix microseconds UTC; counts null while running or after a failure).
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct ReconRunOut {
    pub id: i64,
    /// The pack's schedule key, or '' for an ad-hoc run.
    pub job_key: String,
    /// full, incremental or db.
    pub mode: String,
    /// schedule, api, cli, demo.
    pub trigger: String,
    pub started_by: String,
    /// running, succeeded, failed.
    pub status: String,
    /// Reconciliation day (YYYY-MM-DD) of a job's run.
    pub as_of: Option<String>,
    /// JSON list of key columns.
    pub key_columns: String,
    /// The file, or for a database side `db:<registered name>/<table>` or `db:<name>/(<query>)`.
    pub left_path: String,
    /// Bytes (0 for a database side).
    pub left_size: i64,
    /// SHA-256 of the file (of the `db:` label for a database side).
    pub left_sha256: String,
    pub right_path: String,
    pub right_size: i64,
    pub right_sha256: String,
    pub rows_left: Option<i64>,
    pub rows_right: Option<i64>,
    pub only_left: Option<i64>,
    pub only_right: Option<i64>,
    pub changed: Option<i64>,
    pub identical: Option<i64>,
    pub duplicate_keys_left: Option<i64>,
    pub duplicate_keys_right: Option<i64>,
    pub rejected_left: Option<i64>,
    pub rejected_right: Option<i64>,
    /// JSON object column → count.
    pub per_column: String,
    /// identical / distinct keys, 0.0–1.0.
    pub consistency: Option<f64>,
    /// Incremental runs: changed keys compared.
    pub incremental_keys: Option<i64>,
    /// Why the run failed (file:line for bad input).
    pub error: Option<String>,
    /// Server path of the full details (CSV).
    pub details_path: Option<String>,
    pub differences: i64,
    pub started_at: i64,
    pub finished_at: Option<i64>,
}

/// A REC-07 work item: reply and fix deadlines in working days.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct ReconItemRowOut {
    pub id: i64,
    pub run_id: i64,
    pub job_key: String,
    /// open, replied, fixed, closed.
    pub state: String,
    pub differences: i64,
    pub reply_due: i64,
    pub fix_due: i64,
    pub replied_by: Option<String>,
    pub replied_at: Option<i64>,
    pub reply: Option<String>,
    pub fixed_by: Option<String>,
    pub fixed_at: Option<i64>,
    pub fix_note: Option<String>,
    pub closed_by: Option<String>,
    pub closed_at: Option<i64>,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A work item with its overdue flags.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct ReconItemOut {
    pub item: ReconItemRowOut,
    pub reply_overdue: bool,
    pub fix_overdue: bool,
}

/// A run with its per-column counts and work item.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct ReconRunViewOut {
    pub run: ReconRunOut,
    pub key_columns: Vec<String>,
    #[schema(value_type = Object)]
    pub per_column: std::collections::BTreeMap<String, i64>,
    pub item: Option<ReconItemRowOut>,
    /// The consistency meets the pack's target.
    pub meets_target: Option<bool>,
}

/// The declared inputs of a job: per side a file name under the inbox, or a database registered in the server
/// (`*_db`, its registered name) with a table or a query; `{date}` = YYYYMMDD. No credentials.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct ReconInputsOut {
    /// Left file (absent when the left side is a database).
    pub left: Option<String>,
    /// Right file (absent when the right side is a database).
    pub right: Option<String>,
    /// Registered database (its name) of the left side.
    pub left_db: Option<String>,
    pub left_table: Option<String>,
    pub left_query: Option<String>,
    /// Registered database (its name) of the right side.
    pub right_db: Option<String>,
    pub right_table: Option<String>,
    pub right_query: Option<String>,
    pub key: Vec<String>,
    pub delimiter: Option<String>,
    pub encoding: Option<String>,
    pub updated_at: Option<String>,
    pub delta: Option<String>,
}

/// One declared side of a job.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct ReconInputOut {
    /// file or db.
    pub kind: String,
    /// File name pattern (kind file).
    pub path: Option<String>,
    /// Registered database name (kind db).
    pub db: Option<String>,
    /// postgres or mysql; null when no database is registered under that name.
    pub db_kind: Option<String>,
    pub table: Option<String>,
    pub query: Option<String>,
}

/// A job of the pack.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct ReconJobOut {
    pub key: String,
    pub rule: String,
    pub name_zh: String,
    pub name_en: String,
    /// full, incremental or db (database to database).
    pub mode: String,
    pub days: Vec<u32>,
    pub daily: bool,
    pub inputs: Option<ReconInputsOut>,
    pub left_input: Option<ReconInputOut>,
    pub right_input: Option<ReconInputOut>,
    /// A job reading only databases: local HH:MM it runs at on its days (no upload, no REC-08 alert).
    pub run_at: Option<String>,
    pub due_today: bool,
    /// REC-08 deadline, local HH:MM.
    pub upload_deadline: String,
    /// waiting, running, done.
    pub today_state: Option<String>,
    /// on_time, late, missing.
    pub today_upload: Option<String>,
    pub latest_run: Option<ReconRunOut>,
    pub meets_target: Option<bool>,
}

/// One sampled difference.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct ReconDiffOut {
    pub seq: i64,
    /// changed, only_left, only_right, duplicate_left, duplicate_right.
    pub kind: String,
    /// Key values joined with `|`.
    pub key: String,
    pub column: Option<String>,
    pub left: Option<String>,
    pub right: Option<String>,
}

/// A page of sampled differences.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct ReconSampleOut {
    pub run_id: i64,
    pub total: i64,
    pub offset: i64,
    pub limit: i64,
    pub items: Vec<ReconDiffOut>,
}

/// One point of a consistency trend.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct ReconTrendPointOut {
    pub run_id: i64,
    /// Reconciliation day (YYYY-MM-DD) of a job's run.
    pub as_of: Option<String>,
    pub finished_at: i64,
    pub consistency: f64,
}

/// The consistency trend of a job.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct ReconTrendOut {
    pub job_key: String,
    pub target_percent: f64,
    pub points: Vec<ReconTrendPointOut>,
}

/// An upload stored in the inbox.
#[derive(serde::Serialize, ToSchema)]
pub struct ReconUploadOut {
    /// Inbox path to pass as `left` / `right` / `delta` of a run.
    pub path: String,
}

/// Start a run: a job of the pack (its declared inputs for `date`), or two inbox files with a key.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct ReconRunBody {
    pub job: Option<String>,
    /// Inbox path (an upload's `path`, or a file the systems deliver to the inbox).
    pub left: Option<String>,
    pub right: Option<String>,
    pub key: Option<Vec<String>>,
    pub delimiter: Option<String>,
    /// utf-8, gbk, gb18030.
    pub encoding: Option<String>,
    /// YYYY-MM-DD: the day of the job's `{date}` file names; default today.
    pub date: Option<String>,
    /// Incremental: inbox path of a file of changed keys.
    pub delta: Option<String>,
}

/// A move on a work item.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct ReconItemActBody {
    /// reply, fix, close.
    pub action: String,
    pub version: i64,
    /// reply and fix.
    pub text: Option<String>,
}

/// Run list filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReconRunsQuery {
    /// A job key ('' for ad-hoc runs).
    pub job: Option<String>,
    /// Runs with an id below this.
    pub before: Option<i64>,
    pub limit: Option<i64>,
}

/// Sample paging.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReconSampleQuery {
    /// changed, only_left, only_right, duplicate_left, duplicate_right.
    pub kind: Option<String>,
    pub offset: Option<i64>,
    pub limit: Option<i64>,
}

/// Details format.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReconDetailsQuery {
    /// csv (default) or xlsx.
    pub format: Option<String>,
}

/// Trend length.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReconTrendQuery {
    /// Latest runs to include (default 30).
    pub limit: Option<i64>,
}

/// Upload name.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReconUploadQuery {
    /// File name kept in the inbox (no '/').
    pub name: String,
}

/// Work item filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReconItemsQuery {
    /// open, replied, fixed, closed.
    pub state: Option<String>,
    pub limit: Option<i64>,
}

/// The pack's reconciliation jobs with their inputs, today's upload state and latest run.
#[utoipa::path(get, path = "/api/v1/recon/jobs", tag = "recon",
    responses((status = 200, description = "jobs", body = Vec<ReconJobOut>)))]
pub async fn jobs(State(st): State<AppState>, Auth(p): Auth) -> ApiResult<Json<Value>> {
    Ok(json(recon::jobs(&st.platform, &p).await?))
}

/// One job.
#[utoipa::path(get, path = "/api/v1/recon/jobs/{key}", tag = "recon",
    params(("key" = String, Path, description = "job key")),
    responses((status = 200, description = "job", body = ReconJobOut)))]
pub async fn job(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(key): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    Ok(json(recon::job(&st.platform, &p, &key).await?))
}

/// The consistency trend of a job (its latest succeeded runs, oldest first).
#[utoipa::path(get, path = "/api/v1/recon/jobs/{key}/trend", tag = "recon",
    params(("key" = String, Path, description = "job key"), ReconTrendQuery),
    responses((status = 200, description = "trend", body = ReconTrendOut)))]
pub async fn trend(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(key): ApiPath<String>,
    ApiQuery(q): ApiQuery<ReconTrendQuery>,
) -> ApiResult<Json<Value>> {
    Ok(json(
        recon::trend(&st.platform, &p, &key, q.limit.unwrap_or(30)).await?,
    ))
}

/// Stored runs, newest first.
#[utoipa::path(get, path = "/api/v1/recon/runs", tag = "recon", params(ReconRunsQuery),
    responses((status = 200, description = "runs", body = Vec<ReconRunOut>)))]
pub async fn runs(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<ReconRunsQuery>,
) -> ApiResult<Json<Value>> {
    Ok(json(
        recon::runs(
            &st.platform,
            &p,
            q.job.as_deref(),
            q.before,
            q.limit.unwrap_or(50),
        )
        .await?,
    ))
}

/// Runs a reconciliation now (`recon.run`); the stored run is returned, `failed` with the engine's error
/// (file:line) when the input is bad.
#[utoipa::path(post, path = "/api/v1/recon/runs", tag = "recon", request_body = ReconRunBody,
    responses((status = 201, description = "the run", body = ReconRunOut)))]
pub async fn run_now(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let input: RunNowInput = decode(body)?;
    Ok((
        StatusCode::CREATED,
        json(recon::run_now(&st.platform, &p, input).await?),
    ))
}

/// One run with its per-column counts and work item.
#[utoipa::path(get, path = "/api/v1/recon/runs/{id}", tag = "recon",
    params(("id" = i64, Path, description = "run id")),
    responses((status = 200, description = "run", body = ReconRunViewOut)))]
pub async fn run(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Value>> {
    Ok(json(recon::run(&st.platform, &p, id).await?))
}

/// A page of the run's sampled differences ([engine].sample_size per kind).
#[utoipa::path(get, path = "/api/v1/recon/runs/{id}/differences", tag = "recon",
    params(("id" = i64, Path, description = "run id"), ReconSampleQuery),
    responses((status = 200, description = "differences", body = ReconSampleOut)))]
pub async fn differences(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<ReconSampleQuery>,
) -> ApiResult<Json<Value>> {
    Ok(json(
        recon::sample(
            &st.platform,
            &p,
            id,
            q.kind.as_deref(),
            q.offset.unwrap_or(0),
            q.limit.unwrap_or(50),
        )
        .await?,
    ))
}

/// Every difference of a run as CSV (UTF-8 with BOM) or XLSX.
#[utoipa::path(get, path = "/api/v1/recon/runs/{id}/details", tag = "recon",
    params(("id" = i64, Path, description = "run id"), ReconDetailsQuery),
    responses((status = 200, description = "details file", content(
        (BinaryFile = "text/csv"),
        (BinaryFile = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")))))]
pub async fn details(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<ReconDetailsQuery>,
) -> ApiResult<Response> {
    let format = match q.format.as_deref() {
        None | Some("csv") => DetailsFormat::Csv,
        Some("xlsx") => DetailsFormat::Xlsx,
        Some(_) => {
            return Err(tianshu_services::ServiceError::invalid("format", "csv or xlsx").into())
        }
    };
    let (name, bytes) = recon::details(&st.platform, &p, id, format).await?;
    Ok(file(bytes, format, &name))
}

/// A file response.
pub fn file(bytes: Vec<u8>, format: DetailsFormat, name: &str) -> Response {
    let ct = match format {
        DetailsFormat::Csv => "text/csv; charset=utf-8",
        DetailsFormat::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    };
    let mut r = (StatusCode::OK, bytes).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    r.headers_mut().insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// Stores an input file in the reconciliation inbox (the raw bytes as the body); returns its inbox path.
#[utoipa::path(post, path = "/api/v1/recon/uploads", tag = "recon", params(ReconUploadQuery),
    request_body(content = BinaryFile, content_type = "application/octet-stream"),
    responses((status = 201, description = "stored", body = ReconUploadOut)))]
pub async fn upload(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<ReconUploadQuery>,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<ReconUploadOut>)> {
    let path = recon::upload(&st.platform, &p, &q.name, &body).await?;
    Ok((StatusCode::CREATED, Json(ReconUploadOut { path })))
}

/// REC-07 work items, newest first.
#[utoipa::path(get, path = "/api/v1/recon/items", tag = "recon", params(ReconItemsQuery),
    responses((status = 200, description = "work items", body = Vec<ReconItemOut>)))]
pub async fn items(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<ReconItemsQuery>,
) -> ApiResult<Json<Value>> {
    Ok(json(
        recon::items(&st.platform, &p, q.state.as_deref(), q.limit.unwrap_or(50)).await?,
    ))
}

/// One work item.
#[utoipa::path(get, path = "/api/v1/recon/items/{id}", tag = "recon",
    params(("id" = i64, Path, description = "work item id")),
    responses((status = 200, description = "work item", body = ReconItemOut)))]
pub async fn item(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Value>> {
    Ok(json(recon::item(&st.platform, &p, id).await?))
}

/// Replies to, fixes or closes a work item (`recon.run`); `version` as read (412 when stale).
#[utoipa::path(post, path = "/api/v1/recon/items/{id}/actions", tag = "recon",
    params(("id" = i64, Path, description = "work item id")), request_body = ReconItemActBody,
    responses((status = 200, description = "work item", body = ReconItemOut)))]
pub async fn act(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let action: ItemAction = decode(body)?;
    Ok(json(recon::act(&st.platform, &p, id, action).await?))
}
