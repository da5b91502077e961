//! Cut-over requests (issue 7; CHG-10/11/13..19, CNT-01..05): apply, approve (silences the affected systems and
//! queues the customer notices), the on-site start (CHG-17), the two-person execution log, completion.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::Value;
use tianshu_services::cutovers::{self, CutoverInput, LogInput, StartInput};
use utoipa::{IntoParams, ToSchema};

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
        ApiError::bad_field(field, message)
    })
}

/// One step of the execution log.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct LogOut {
    pub id: i64,
    pub cutover_id: i64,
    pub at: i64,
    pub step: String,
    pub important: i64,
    pub operator: String,
    pub supervisor: String,
    pub result: String,
    pub recorded_by: String,
}

/// A cut-over (times in Unix microseconds UTC).
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct CutoverOut {
    pub id: i64,
    pub title: String,
    /// hardware, software, data.
    pub kind: String,
    pub systems: Vec<String>,
    pub major: bool,
    pub emergency: bool,
    pub starts_at: i64,
    pub ends_at: i64,
    pub downtime_from: Option<i64>,
    pub downtime_to: Option<i64>,
    pub plan: String,
    pub rollback_plan: String,
    pub checklist: String,
    pub test_list: String,
    pub people: String,
    pub impact: String,
    pub circuits: Vec<String>,
    pub customer_tiers: Vec<String>,
    /// Notices queued at approval: tier, rule, notify, due_at, late, outbox_key.
    #[schema(value_type = Vec<Object>)]
    pub notices: Value,
    /// The alert maintenance window opened at approval.
    pub maintenance_id: Option<i64>,
    /// submitted, approved, started (CHG-17), in_progress, completed.
    pub state: String,
    pub requester: String,
    pub approver: Option<String>,
    pub approved_at: Option<i64>,
    pub completed_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub version: i64,
    /// CHG-20: a data cut-over's case (`change.toml [[cutover.data_case]]` key) and the responsible party derived
    /// from it: `branch`, `provincial_centre` or `central_ops` in the default pack.
    pub data_case: Option<String>,
    pub responsible: Option<String>,
    /// CHG-20: the rectification report a province-wide fault needs before completion, who attached it and when.
    pub rectification_report: Option<String>,
    pub rectification_by: Option<String>,
    pub rectification_at: Option<i64>,
    /// The CHG-17 start, once given (null in lists).
    pub start: Option<CutoverStartOut>,
    pub log: Vec<LogOut>,
}

/// The CHG-17 start of a cut-over as recorded (times in Unix microseconds UTC; the conditions are 1 = held).
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct CutoverStartOut {
    pub cutover_id: i64,
    pub kickoff_at: i64,
    pub lead: String,
    pub lead_qualified: i64,
    pub arrived_at: i64,
    pub equipment_checked: i64,
    pub host_present: i64,
    pub departments_present: i64,
    pub contractor_present: i64,
    pub note: String,
    /// Who recorded the order to start, and when.
    pub ordered_by: String,
    pub ordered_at: i64,
}

/// The CHG-17 start conditions, recorded with the order to start; each one missing or late is refused (422)
/// naming its field. The order itself is given inside the approved window: at most `change.toml [cutover]
/// start_early_minutes` before `starts_at` (else refused naming `starts_at`) and before `ends_at` (else `ends_at`).
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct CutoverStartBody {
    /// When the kick-off meeting with the contractor was held, RFC 3339.
    pub kickoff_at: Option<String>,
    /// The on-site lead (username).
    pub lead: Option<String>,
    /// The lead is confirmed qualified.
    pub lead_qualified: Option<bool>,
    /// When the lead arrived on site, RFC 3339: at least `change.toml [cutover] arrive_before_minutes` before the
    /// planned start.
    pub arrived_at: Option<String>,
    /// The equipment was checked against the checklist.
    pub equipment_checked: Option<bool>,
    pub host_present: Option<bool>,
    pub departments_present: Option<bool>,
    pub contractor_present: Option<bool>,
    pub note: Option<String>,
}

/// Cut-overs in a period.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct CutoverList {
    pub items: Vec<CutoverOut>,
}

/// A cut-over application.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct CutoverBody {
    pub title: String,
    /// hardware, software or data (CHG-13).
    pub kind: String,
    pub systems: Vec<String>,
    pub major: Option<bool>,
    pub emergency: Option<bool>,
    /// RFC 3339.
    pub starts_at: String,
    pub ends_at: String,
    pub downtime_from: Option<String>,
    pub downtime_to: Option<String>,
    pub plan: String,
    pub rollback_plan: String,
    pub checklist: String,
    pub test_list: String,
    pub people: String,
    pub impact: String,
    pub circuits: Option<Vec<String>>,
    /// key_assurance, diamond, gold, silver, bronze.
    pub customer_tiers: Option<Vec<String>>,
    /// CHG-20: required for kind `data` — requirement, requirement_development, fault_instance or
    /// fault_province_wide (the pack's `[[cutover.data_case]]`); refused for other kinds.
    pub data_case: Option<String>,
}

/// CHG-20: the responsible party's rectification report.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RectificationBody {
    /// The analysis, the emergency measures and the repair organised.
    pub report: String,
}

/// A log entry.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct LogBody {
    pub step: String,
    pub important: Option<bool>,
    pub operator: String,
    pub supervisor: String,
    pub result: Option<String>,
}

/// The version read.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionBody {
    pub version: i64,
}

/// Period of the list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PeriodQuery {
    /// RFC 3339.
    pub from: String,
    /// RFC 3339.
    pub to: String,
}

fn time(field: &str, s: &str) -> Result<i64, ApiError> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp_micros())
        .map_err(|_| ApiError::bad_field(field, "an RFC 3339 time"))
}

/// Cut-overs starting in a period.
#[utoipa::path(get, path = "/api/v1/cutovers", tag = "change", params(PeriodQuery),
    responses((status = 200, description = "cut-overs", body = CutoverList)))]
pub async fn list(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<PeriodQuery>,
) -> ApiResult<Json<Value>> {
    let items =
        cutovers::between(&st.platform, &p, time("from", &q.from)?, time("to", &q.to)?).await?;
    Ok(json(serde_json::json!({ "items": items })))
}

/// Applies for a cut-over (CHG-15/16 contents, CHG-10 window, CHG-16/CHG-11 lead times).
#[utoipa::path(post, path = "/api/v1/cutovers", tag = "change", request_body = CutoverBody,
    responses((status = 201, description = "applied", body = CutoverOut)))]
pub async fn apply(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let input: CutoverInput = decode(body)?;
    Ok((
        StatusCode::CREATED,
        json(cutovers::apply(&st.platform, &p, input).await?),
    ))
}

/// One cut-over with its execution log.
#[utoipa::path(get, path = "/api/v1/cutovers/{id}", tag = "change",
    params(("id" = i64, Path, description = "cut-over id")),
    responses((status = 200, description = "cut-over", body = CutoverOut)))]
pub async fn get(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Value>> {
    Ok(json(cutovers::get(&st.platform, &p, id).await?))
}

/// Approves (approver ≠ requester, CHG-14): silences the affected systems over the window, queues the notices.
#[utoipa::path(post, path = "/api/v1/cutovers/{id}/approve", tag = "change", request_body = VersionBody,
    params(("id" = i64, Path, description = "cut-over id")),
    responses((status = 200, description = "approved", body = CutoverOut)))]
pub async fn approve(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<VersionBody>,
) -> ApiResult<Json<Value>> {
    Ok(json(
        cutovers::approve(&st.platform, &p, id, b.version).await?,
    ))
}

/// Records the start conditions and the order to start an approved cut-over (CHG-17); steps are logged only after.
/// The order is refused outside the approved window (CHG-17: `starts_at` too early, `ends_at` passed).
#[utoipa::path(post, path = "/api/v1/cutovers/{id}/start", tag = "change", request_body = CutoverStartBody,
    params(("id" = i64, Path, description = "cut-over id")),
    responses((status = 200, description = "started", body = CutoverOut)))]
pub async fn start(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let input: StartInput = decode(body)?;
    Ok(json(cutovers::start(&st.platform, &p, id, input).await?))
}

/// Records one executed step after the start (CHG-17; CHG-18: operator ≠ supervisor for important steps).
#[utoipa::path(post, path = "/api/v1/cutovers/{id}/log", tag = "change", request_body = LogBody,
    params(("id" = i64, Path, description = "cut-over id")),
    responses((status = 200, description = "logged", body = CutoverOut)))]
pub async fn log(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let input: LogInput = decode(body)?;
    Ok(json(cutovers::log_step(&st.platform, &p, id, input).await?))
}

/// Attaches the rectification report of a data cut-over (CHG-20: a province-wide fault is completed only with it).
#[utoipa::path(post, path = "/api/v1/cutovers/{id}/rectification", tag = "change", request_body = RectificationBody,
    params(("id" = i64, Path, description = "cut-over id")),
    responses((status = 200, description = "attached", body = CutoverOut)))]
pub async fn rectification(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let b: RectificationBody = decode(body)?;
    Ok(json(
        cutovers::rectify(&st.platform, &p, id, &b.report).await?,
    ))
}

/// Completes a cut-over in progress (CHG-19; CHG-20: a province-wide fault needs its rectification report).
#[utoipa::path(post, path = "/api/v1/cutovers/{id}/complete", tag = "change",
    params(("id" = i64, Path, description = "cut-over id")),
    responses((status = 200, description = "completed", body = CutoverOut)))]
pub async fn complete(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Value>> {
    Ok(json(cutovers::complete(&st.platform, &p, id).await?))
}

/// A planned release.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct ReleaseOut {
    pub id: i64,
    pub title: String,
    /// routine or emergency.
    pub kind: String,
    pub system_family: String,
    /// YYYY-MM-DD.
    pub release_date: String,
    /// CHG-09 start instant.
    pub starts_at: i64,
    pub downtime_from: Option<i64>,
    pub downtime_to: Option<i64>,
    /// CHG-03/04/08 gates: key, rule, name_zh, name_en, due_at.
    #[schema(value_type = Vec<Object>)]
    pub gates: Value,
    pub override_reason: Option<String>,
    pub override_by: Option<String>,
    /// planned, go, no_go, verified, verification_failed.
    pub state: String,
    pub created_by: String,
    pub created_at: i64,
    pub version: i64,
    /// The go / no-go decision (CHG-04).
    pub decision_by: Option<String>,
    pub decision_at: Option<i64>,
    pub decision_note: String,
    /// Alert maintenance window opened by the go decision.
    pub maintenance_id: Option<i64>,
    /// Outbox key of the CHG-08 announcement.
    pub announcement_key: Option<String>,
}

/// Releases of a month.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct ReleaseList {
    pub items: Vec<ReleaseOut>,
}

/// A release to plan.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct ReleaseBody {
    pub title: String,
    /// routine or emergency.
    pub kind: String,
    pub system_family: String,
    /// YYYY-MM-DD.
    pub date: String,
    /// HH:MM (CHG-09).
    pub start: Option<String>,
    pub downtime_from: Option<String>,
    pub downtime_to: Option<String>,
    /// CHG-02 override of the emergency quota (department manager).
    pub override_reason: Option<String>,
}

/// Which month.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct MonthQuery {
    /// YYYY-MM.
    pub month: String,
}

/// The releases of a month (the change calendar).
#[utoipa::path(get, path = "/api/v1/releases", tag = "change", params(MonthQuery),
    responses((status = 200, description = "releases", body = ReleaseList)))]
pub async fn releases(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<MonthQuery>,
) -> ApiResult<Json<Value>> {
    let items = tianshu_services::releases::month(&st.platform, &p, &q.month).await?;
    Ok(json(serde_json::json!({ "items": items })))
}

/// Plans a release: CHG-01/02 quotas, CHG-09 start, CHG-10 window, gates not in the past (CHG-03/04/08).
#[utoipa::path(post, path = "/api/v1/releases", tag = "change", request_body = ReleaseBody,
    responses((status = 201, description = "planned", body = ReleaseOut)))]
pub async fn plan_release(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let input: tianshu_services::releases::ReleaseInput = decode(body)?;
    Ok((
        StatusCode::CREATED,
        json(tianshu_services::releases::plan(&st.platform, &p, input).await?),
    ))
}

/// A requirement (REQ-01, CHG-06).
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct RequirementOut {
    pub id: i64,
    pub title: String,
    pub requester: String,
    pub system: String,
    pub registered_at: i64,
    /// REQ-01 analysis deadline.
    pub analysis_due: i64,
    pub solution_at: Option<i64>,
    /// Working days the analysis took.
    pub analysis_wd: Option<i64>,
    pub release_id: Option<i64>,
    /// accepted, rejected, deemed_accepted (CHG-06).
    pub acceptance: Option<String>,
    pub accepted_by: Option<String>,
    pub accepted_at: Option<i64>,
    pub acceptance_note: String,
    pub created_by: String,
    pub version: i64,
}

/// REQ-01 week report.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct WeekReportOut {
    pub week_of: String,
    pub registered: i64,
    pub analysed: i64,
    pub analysis_wd: Vec<i64>,
    pub average_wd: Option<f64>,
    pub limit_wd: f64,
    pub breach: bool,
    pub warnings: Vec<i64>,
    pub items: Vec<RequirementOut>,
}

/// A requirement to register.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct RequirementBody {
    pub title: String,
    /// Username of the requester.
    pub requester: String,
    pub system: String,
}

/// A step: solution_approved, link_release, accept, reject, deem_accepted.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct RequirementActionBody {
    pub action: String,
    pub version: i64,
    pub release_id: Option<i64>,
    pub note: Option<String>,
}

/// The week of a date.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DateQuery {
    /// YYYY-MM-DD.
    pub date: String,
}

/// Registers a requirement with its REQ-01 analysis deadline.
#[utoipa::path(post, path = "/api/v1/requirements", tag = "change", request_body = RequirementBody,
    responses((status = 201, description = "registered", body = RequirementOut)))]
pub async fn register_requirement(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let input: tianshu_services::requirements::RequirementInput = decode(body)?;
    Ok((
        StatusCode::CREATED,
        json(tianshu_services::requirements::register(&st.platform, &p, input).await?),
    ))
}

/// Solution approved, release linked, acceptance by the requester or deemed acceptance (CHG-06).
#[utoipa::path(post, path = "/api/v1/requirements/{id}/actions", tag = "change", request_body = RequirementActionBody,
    params(("id" = i64, Path, description = "requirement id")),
    responses((status = 200, description = "requirement", body = RequirementOut)))]
pub async fn requirement_action(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let a: tianshu_services::requirements::RequirementAction = decode(body)?;
    Ok(json(
        tianshu_services::requirements::act(&st.platform, &p, id, a).await?,
    ))
}

/// REQ-01: the intake week of a date with its average analysis time.
#[utoipa::path(get, path = "/api/v1/requirements/week", tag = "change", params(DateQuery),
    responses((status = 200, description = "week", body = WeekReportOut)))]
pub async fn requirements_week(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<DateQuery>,
) -> ApiResult<Json<Value>> {
    Ok(json(
        tianshu_services::requirements::week(&st.platform, &p, &q.date).await?,
    ))
}

/// One CHG-07 verification item.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct ReleaseVerificationOut {
    pub id: i64,
    pub release_id: i64,
    pub scenario: String,
    pub name_zh: String,
    pub name_en: String,
    /// The branch (rotation) that verifies it.
    pub branch: String,
    pub due_at: i64,
    /// passed, failed or null while open.
    pub result: Option<String>,
    pub note: String,
    pub recorded_by: Option<String>,
    pub recorded_at: Option<i64>,
}

/// A release with its checklist and requirements.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct ReleaseDetailOut {
    pub release: ReleaseOut,
    pub verifications: Vec<ReleaseVerificationOut>,
    pub requirements: Vec<RequirementOut>,
    /// Share of the scenario catalogue verified per release, percent (CHG-07).
    pub coverage_pct: f64,
    /// What the pack requires before the go decision (CHG-05, CHG-12) and what is recorded.
    pub prerequisites: Vec<ReleasePrerequisiteOut>,
    /// go, no_go, verify, record_prerequisite.
    pub allowed: Vec<String>,
}

/// A prerequisite of the go decision: a vendor deliverable (CHG-05) or the vendor training (CHG-12).
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct ReleasePrerequisiteOut {
    pub key: String,
    pub rule: String,
    /// document or training.
    pub kind: String,
    pub name_zh: String,
    pub name_en: String,
    /// The record, once made.
    pub recorded: Option<ReleasePrerequisiteRecordOut>,
}

/// A recorded prerequisite.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct ReleasePrerequisiteRecordOut {
    pub id: i64,
    pub release_id: i64,
    pub key: String,
    /// Document number or link; for a training, what it covered and who gave it.
    pub reference: String,
    /// When a training was held (Unix microseconds).
    pub held_at: Option<i64>,
    pub note: String,
    pub recorded_by: String,
    pub recorded_at: i64,
}

/// A deliverable or the training to record on a planned release.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct ReleasePrerequisiteBody {
    /// Key of the pack's [[releases.prerequisite]], e.g. change_description, factory_test_report, vendor_training.
    pub key: String,
    /// Document number or link; for a training, what it covered and who gave it.
    pub reference: String,
    /// A training: when it was held, RFC 3339 (in the past and before the upgrade start).
    pub held_at: Option<String>,
    pub note: Option<String>,
}

/// The go / no-go decision.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct ReleaseDecisionBody {
    /// go or no_go.
    pub decision: String,
    pub version: i64,
    /// Required for no_go.
    pub note: Option<String>,
}

/// The result of one scenario.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct ReleaseVerifyBody {
    pub scenario: String,
    /// passed or failed.
    pub result: String,
    /// Required for failed.
    pub note: Option<String>,
}

/// Requirements.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct RequirementList {
    pub items: Vec<RequirementOut>,
}

/// One release with its CHG-07 checklist.
#[utoipa::path(get, path = "/api/v1/releases/{id}", tag = "change",
    params(("id" = i64, Path, description = "release id")),
    responses((status = 200, description = "release", body = ReleaseDetailOut)))]
pub async fn release(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Value>> {
    Ok(json(
        tianshu_services::releases::get(&st.platform, &p, id).await?,
    ))
}

/// The go / no-go decision (CHG-04): go silences the system family over the upgrade, queues the CHG-08
/// announcement and assigns the CHG-07 checklist to the next branches of the rotation.
#[utoipa::path(post, path = "/api/v1/releases/{id}/decision", tag = "change", request_body = ReleaseDecisionBody,
    params(("id" = i64, Path, description = "release id")),
    responses((status = 200, description = "decided", body = ReleaseDetailOut)))]
pub async fn release_decision(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let input: tianshu_services::releases::DecisionInput = decode(body)?;
    Ok(json(
        tianshu_services::releases::decide(&st.platform, &p, id, input).await?,
    ))
}

/// Records the production verification of one scenario (CHG-07).
#[utoipa::path(post, path = "/api/v1/releases/{id}/verifications", tag = "change", request_body = ReleaseVerifyBody,
    params(("id" = i64, Path, description = "release id")),
    responses((status = 200, description = "recorded", body = ReleaseDetailOut)))]
pub async fn release_verify(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let input: tianshu_services::releases::VerifyInput = decode(body)?;
    Ok(json(
        tianshu_services::releases::verify(&st.platform, &p, id, input).await?,
    ))
}

/// The newest requirements.
#[utoipa::path(get, path = "/api/v1/requirements", tag = "change",
    responses((status = 200, description = "requirements", body = RequirementList)))]
pub async fn requirements(State(st): State<AppState>, Auth(p): Auth) -> ApiResult<Json<Value>> {
    let items = tianshu_services::requirements::recent(&st.platform, &p, 200).await?;
    Ok(json(serde_json::json!({ "items": items })))
}

/// One requirement.
#[utoipa::path(get, path = "/api/v1/requirements/{id}", tag = "change",
    params(("id" = i64, Path, description = "requirement id")),
    responses((status = 200, description = "requirement", body = RequirementOut)))]
pub async fn requirement(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Value>> {
    Ok(json(
        tianshu_services::requirements::get(&st.platform, &p, id).await?,
    ))
}

/// Records a vendor deliverable (CHG-05) or the vendor training (CHG-12) on a planned release; the go decision is
/// refused naming the rule while one the pack requires is missing.
#[utoipa::path(post, path = "/api/v1/releases/{id}/prerequisites", tag = "change", request_body = ReleasePrerequisiteBody,
    params(("id" = i64, Path, description = "release id")),
    responses((status = 200, description = "recorded", body = ReleaseDetailOut)))]
pub async fn release_prerequisite(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let input: tianshu_services::releases::PrerequisiteInput = decode(body)?;
    Ok(json(
        tianshu_services::releases::record_prerequisite(&st.platform, &p, id, input).await?,
    ))
}

/// A single-route or fault-prone section of an assurance plan (CNT-06).
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct WeakSectionOut {
    pub section: String,
    pub contingency: String,
    pub improvement: String,
}

/// A fault reported to the network department under a plan.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct AssuranceFaultOut {
    pub plan_id: i64,
    pub incident_id: i64,
    /// The outbox message's idempotency key.
    pub outbox_key: String,
    pub reported_at: i64,
}

/// A key-communications assurance (重保) plan (CNT-06; times in Unix microseconds UTC).
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct AssurancePlanOut {
    pub id: i64,
    /// The holiday or event.
    pub name: String,
    pub starts_at: i64,
    pub ends_at: i64,
    pub scope_systems: Vec<String>,
    pub scope_regions: Vec<String>,
    pub measures: String,
    pub contingency: String,
    /// Fault handling and escalation.
    pub escalation: String,
    pub contacts: String,
    pub weak_sections: Vec<WeakSectionOut>,
    /// draft, active, archived.
    pub state: String,
    pub in_period: bool,
    pub created_by: String,
    pub created_at: i64,
    pub activated_by: Option<String>,
    pub activated_at: Option<i64>,
    pub archived_by: Option<String>,
    pub archived_at: Option<i64>,
    pub version: i64,
    /// Faults reported under the plan (empty in lists).
    pub fault_reports: Vec<AssuranceFaultOut>,
}

/// Assurance plans, newest period first.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct AssurancePlanList {
    pub items: Vec<AssurancePlanOut>,
}

/// A plan to write (CNT-06): every part is required and a missing one is refused (422) naming its field.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct AssurancePlanBody {
    pub name: String,
    /// RFC 3339.
    pub starts_at: String,
    pub ends_at: String,
    /// System keys; at least one system or region.
    pub scope_systems: Option<Vec<String>>,
    /// Branch organisation keys.
    pub scope_regions: Option<Vec<String>>,
    pub measures: String,
    pub contingency: String,
    pub escalation: String,
    pub contacts: String,
    /// At least one, each with its contingency and improvement.
    pub weak_sections: Vec<WeakSectionOut>,
}

/// The assurance plans (CNT-06).
#[utoipa::path(get, path = "/api/v1/assurance-plans", tag = "change",
    responses((status = 200, description = "plans", body = AssurancePlanList)))]
pub async fn assurance_plans(State(st): State<AppState>, Auth(p): Auth) -> ApiResult<Json<Value>> {
    let items = tianshu_services::assurance_plans::list_plans(&st.platform, &p).await?;
    Ok(json(serde_json::json!({ "items": items })))
}

/// Writes a draft assurance plan (CNT-06: scope, measures, contingency, escalation, contacts, weak sections).
#[utoipa::path(post, path = "/api/v1/assurance-plans", tag = "change", request_body = AssurancePlanBody,
    responses((status = 201, description = "written", body = AssurancePlanOut)))]
pub async fn create_assurance_plan(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let input: tianshu_services::assurance_plans::PlanInput = decode(body)?;
    Ok((
        StatusCode::CREATED,
        json(tianshu_services::assurance_plans::create(&st.platform, &p, input).await?),
    ))
}

/// One assurance plan with the faults reported under it.
#[utoipa::path(get, path = "/api/v1/assurance-plans/{id}", tag = "change",
    params(("id" = i64, Path, description = "plan id")),
    responses((status = 200, description = "plan", body = AssurancePlanOut)))]
pub async fn assurance_plan(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Value>> {
    Ok(json(
        tianshu_services::assurance_plans::get(&st.platform, &p, id).await?,
    ))
}

/// `activate` (draft → active, before the period ends) or `archive` (only after the period) a plan (CNT-06).
#[utoipa::path(post, path = "/api/v1/assurance-plans/{id}/{action}", tag = "change", request_body = VersionBody,
    params(("id" = i64, Path, description = "plan id"), ("action" = String, Path, description = "activate or archive")),
    responses((status = 200, description = "done", body = AssurancePlanOut)))]
pub async fn assurance_plan_action(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath((id, action)): ApiPath<(i64, String)>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let b: VersionBody = decode(body)?;
    Ok(json(
        tianshu_services::assurance_plans::act(&st.platform, &p, id, &action, b.version).await?,
    ))
}
