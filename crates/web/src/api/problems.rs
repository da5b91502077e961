//! Problem management (issue 8, PRB-01..PRB-13): report, list, one problem with its deadlines, and the moves of
//! its life cycle (respond, dispatch, resolve, analysis, review, actions, letters, links, archive).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::Value;
use tianshu_services::problems::{self, ProblemAction, ReportInput};
use tianshu_store::problems::ProblemFilter;
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Auth};
use crate::state::AppState;

fn json<T: serde::Serialize>(v: T) -> Json<Value> {
    Json(serde_json::to_value(v).unwrap_or(Value::Null))
}

/// Decodes a body, naming the offending field (also a missing one) in the 422.
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

// Response shapes, for the OpenAPI document only: handlers serialise the service types, whose JSON these
// mirror field for field.

/// A problem (times in Unix microseconds UTC).
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct ProblemOut {
    pub id: i64,
    pub title: String,
    /// P1..P5 (PRB-01).
    pub level: String,
    /// PRB-04 category key.
    pub category: String,
    pub source: String,
    /// reported, dispatched, resolved, closed.
    pub state: String,
    pub discovered_at: i64,
    pub reported_at: i64,
    pub reporter: String,
    pub symptom: String,
    pub impact: String,
    pub on_site_data: String,
    pub cause_analysis: String,
    pub coordinator: Option<String>,
    pub responded_at: Option<i64>,
    /// PRB-06: when the managers of a P1/P2 were told.
    pub managers_told_at: Option<i64>,
    pub dispatcher: Option<String>,
    pub dispatched_at: Option<i64>,
    pub handler: Option<String>,
    pub handled_at: Option<i64>,
    pub result: Option<String>,
    pub method: Option<String>,
    pub improvement: Option<String>,
    pub resolved_at: Option<i64>,
    pub analysis_report: Option<String>,
    pub analysis_at: Option<i64>,
    pub meeting_minutes: Option<String>,
    pub meeting_at: Option<i64>,
    pub archived_by: Option<String>,
    pub archived_at: Option<i64>,
    pub retain_until: Option<i64>,
    pub other_department: Option<String>,
    pub letter_at: Option<i64>,
    pub reply_due: Option<i64>,
    pub replied_at: Option<i64>,
    pub reply: Option<String>,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// The organisation the problem concerns (report form `org_key`).
    pub org_id: Option<i64>,
    /// Its branch: branch-scoped readers see only their branch's problems (others: 404).
    pub region_id: Option<i64>,
    /// The vendor it is dispatched to: that vendor's users see it.
    pub vendor_org_id: Option<i64>,
    /// CHG-21: the fix needs a system change; resolved only with a change linked.
    pub needs_change: bool,
}

/// One deadline of a problem.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct ProblemDeadlineOut {
    /// response, dispatch, resolution, analysis_report, review_meeting, archive, department_reply.
    pub kind: String,
    pub rule: String,
    pub due: i64,
    pub met_at: Option<i64>,
    pub overdue: bool,
}

/// A review action (PRB-09).
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct ActionOut {
    pub id: i64,
    pub problem_id: i64,
    pub text: String,
    pub owner: String,
    pub due_at: i64,
    pub closed_by: Option<String>,
    pub closed_at: Option<i64>,
    pub outcome: Option<String>,
    pub created_by: String,
    pub created_at: i64,
    pub version: i64,
}

/// A link to an incident, bug or change.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct ProblemLinkOut {
    pub problem_id: i64,
    /// incident, bug, change.
    pub kind: String,
    pub target: String,
    pub created_by: String,
    pub created_at: i64,
}

/// A history entry.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct ProblemEventOut {
    pub id: i64,
    pub problem_id: i64,
    pub at: i64,
    pub kind: String,
    pub actor: String,
    /// JSON text.
    pub data: String,
}

/// A durable deadline clock of a problem: started with the step that starts the deadline, stopped by the one
/// that satisfies it; at a breach the scheduler records `clock.breached` and queues the pack's message.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct ProblemClockOut {
    /// response, dispatch, resolution, analysis_report, review_meeting, archive, department_reply.
    pub key: String,
    pub rule: String,
    /// The basis counted, e.g. `10m`, `3d`, `5wd`.
    pub basis: String,
    /// Calendar the basis is counted on.
    pub calendar: String,
    pub started_at: i64,
    pub due_at: i64,
    /// running, met, breached, cancelled.
    pub state: String,
    pub stopped_at: Option<i64>,
    pub breached_at: Option<i64>,
}

/// A problem with its deadlines, durable clocks, actions, links and history.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct ProblemViewOut {
    pub problem: ProblemOut,
    pub deadlines: Vec<ProblemDeadlineOut>,
    /// Why it cannot be archived yet, each naming its rule (empty: it can).
    pub close_blockers: Vec<String>,
    pub actions: Vec<ActionOut>,
    pub links: Vec<ProblemLinkOut>,
    pub events: Vec<ProblemEventOut>,
    pub clocks: Vec<ProblemClockOut>,
}

/// A problem in a list.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct ProblemItemOut {
    pub problem: ProblemOut,
    pub deadlines: Vec<ProblemDeadlineOut>,
    pub overdue: bool,
}

/// A page of problems.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct ProblemPageOut {
    pub items: Vec<ProblemItemOut>,
    pub next_cursor: Option<String>,
}

/// A count by key.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct CountOut {
    pub key: String,
    pub count: i64,
}

/// One problem of the monthly report.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct MonthlyLineOut {
    pub id: i64,
    pub level: String,
    pub category: String,
    pub title: String,
    pub state: String,
    pub cause: String,
    pub result: String,
    pub overdue: bool,
}

/// PRB-09 monthly problem report.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct MonthlyOut {
    /// YYYY-MM.
    pub month: String,
    pub rule: String,
    pub total: i64,
    pub by_level: Vec<CountOut>,
    pub by_category: Vec<CountOut>,
    pub by_state: Vec<CountOut>,
    pub overdue: i64,
    pub problems: Vec<MonthlyLineOut>,
}

// ---------------------------------------------------------------- requests

/// The problem report form (PRB-12 附件一); the reporter is the caller.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct ProblemReportBody {
    pub title: String,
    /// P1..P5; mandatory (PRB-12).
    pub level: Option<String>,
    /// PRB-04: host, database, network_device, storage_device, system_software, application_software,
    /// transmission_line, production_environment, system_security.
    pub category: String,
    pub source: String,
    /// RFC 3339.
    pub discovered_at: String,
    /// RFC 3339; default now.
    pub reported_at: Option<String>,
    pub symptom: String,
    pub impact: String,
    pub on_site_data: Option<String>,
    pub cause_analysis: Option<String>,
    /// Key of the organisation the problem concerns; its branch decides who may read the problem. Default:
    /// the reporter's branch for a branch-scoped reporter, else none (the centre's own, province readers only).
    pub org_key: Option<String>,
}

/// A move on a problem: `version` read, `action`, and the fields that action takes.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct ProblemActBody {
    pub version: i64,
    /// respond, dispatch, resolve, analysis, review, close_action, letter, reply, link, archive.
    pub action: String,
    /// dispatch.
    pub handler: Option<String>,
    /// dispatch: key of the vendor organisation of the handler (its users then see the problem).
    pub vendor: Option<String>,
    /// dispatch, resolve: the fix needs a system change (CHG-21); resolving is refused (409, field
    /// `needs_change`) until a `change` link exists.
    pub needs_change: Option<bool>,
    /// resolve.
    pub result: Option<String>,
    /// resolve.
    pub method: Option<String>,
    /// resolve.
    pub improvement: Option<String>,
    /// analysis.
    pub report: Option<String>,
    /// review.
    pub minutes: Option<String>,
    /// review: `[{text, owner, due_at}]`.
    #[schema(value_type = Option<Vec<Object>>)]
    pub actions: Option<Vec<Value>>,
    /// close_action.
    pub action_id: Option<i64>,
    /// close_action.
    pub action_version: Option<i64>,
    /// close_action.
    pub outcome: Option<String>,
    /// letter.
    pub department: Option<String>,
    /// letter: RFC 3339; default from problem_levels.toml (PRB-11).
    pub reply_due: Option<String>,
    /// reply.
    pub reply: Option<String>,
    /// link: incident, bug, change.
    pub kind: Option<String>,
    /// link.
    pub target: Option<String>,
}

#[derive(Deserialize)]
struct Act {
    version: i64,
    #[serde(flatten)]
    action: ProblemAction,
}

/// Problem list filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ProblemQuery {
    /// reported, dispatched, resolved, closed.
    pub state: Option<String>,
    /// P1..P5.
    pub level: Option<String>,
    pub category: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

/// Reports a problem (`problem.manage`); a P1/P2 is reported to the managers at once (PRB-06).
#[utoipa::path(post, path = "/api/v1/problems", tag = "problems", request_body = ProblemReportBody,
    responses((status = 201, description = "reported", body = ProblemViewOut)))]
pub async fn create(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let input: ReportInput = decode(body)?;
    Ok((
        StatusCode::CREATED,
        json(problems::report(&st.platform, &p, input).await?),
    ))
}

/// Problems, newest first, with their deadlines.
#[utoipa::path(get, path = "/api/v1/problems", tag = "problems", params(ProblemQuery),
    responses((status = 200, description = "problems", body = ProblemPageOut)))]
pub async fn list(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<ProblemQuery>,
) -> ApiResult<Json<Value>> {
    let cursor = match &q.cursor {
        Some(c) => Some(
            c.parse::<i64>()
                .map_err(|_| ApiError::bad_field("cursor", "not a cursor of this list"))?,
        ),
        None => None,
    };
    let limit = q.limit.unwrap_or(50);
    let filter = ProblemFilter {
        state: q.state,
        level: q.level,
        category: q.category,
        ..Default::default()
    };
    let items = problems::list(&st.platform, &p, filter, cursor, limit).await?;
    let next = (items.len() as i64 == limit)
        .then(|| items.last().map(|i| i.problem.id.to_string()))
        .flatten();
    Ok(json(
        serde_json::json!({"items": items, "next_cursor": next}),
    ))
}

/// One problem with its deadlines, review actions, links and history.
#[utoipa::path(get, path = "/api/v1/problems/{id}", tag = "problems",
    params(("id" = i64, Path, description = "problem id")), responses((status = 200, description = "problem", body = ProblemViewOut)))]
pub async fn get(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Value>> {
    Ok(json(problems::get(&st.platform, &p, id).await?))
}

/// A move on a problem (version-checked, audited); refused moves name the rule (e.g. PRB-09 before archive).
#[utoipa::path(post, path = "/api/v1/problems/{id}/actions", tag = "problems", request_body = ProblemActBody,
    params(("id" = i64, Path, description = "problem id")), responses((status = 200, description = "problem", body = ProblemViewOut)))]
pub async fn act(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let a: Act = decode(body)?;
    Ok(json(
        problems::act(&st.platform, &p, id, a.version, a.action).await?,
    ))
}

/// Which month.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct MonthQuery {
    /// YYYY-MM (the centre's local calendar month).
    pub month: String,
}

/// PRB-09 monthly problem report: the month's problems by level, category and state, with cause and result.
#[utoipa::path(get, path = "/api/v1/problems/monthly", tag = "problems", params(MonthQuery),
    responses((status = 200, description = "report", body = MonthlyOut)))]
pub async fn monthly(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<MonthQuery>,
) -> ApiResult<Json<Value>> {
    Ok(json(
        problems::monthly_report(&st.platform, &p, &q.month).await?,
    ))
}

// ---------------------------------------------------------------- PRB-13 monthly meetings

/// An action of a monthly problem meeting (PRB-13), open until closed with a note.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct ProblemMeetingActionOut {
    pub id: i64,
    pub meeting_id: i64,
    pub text: String,
    pub owner: String,
    pub due_at: i64,
    /// open, done.
    pub state: String,
    /// Open and past its due date.
    pub overdue: bool,
    pub closed_by: Option<String>,
    pub closed_at: Option<i64>,
    /// The closing note.
    pub note: Option<String>,
    pub created_at: i64,
    pub version: i64,
}

/// A monthly problem meeting (PRB-13) with its actions (times in Unix microseconds UTC).
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct ProblemMeetingOut {
    pub id: i64,
    /// YYYY-MM (the centre's local month of `held_at`); one meeting per month.
    pub month: String,
    pub held_at: i64,
    pub attendees: Vec<String>,
    pub minutes: String,
    pub created_by: String,
    pub created_at: i64,
    /// PRB-13.
    pub rule: String,
    pub actions: Vec<ProblemMeetingActionOut>,
    pub open_actions: i64,
    pub overdue_actions: i64,
}

/// Monthly problem meetings, latest month first.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct ProblemMeetingListOut {
    pub items: Vec<ProblemMeetingOut>,
}

/// An action decided at the meeting.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct ProblemMeetingActionBody {
    pub text: String,
    pub owner: String,
    /// RFC 3339; after `held_at`.
    pub due_at: String,
}

/// A month's problem meeting as held (PRB-13).
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct ProblemMeetingBody {
    /// RFC 3339; not in the future.
    pub held_at: String,
    pub attendees: Vec<String>,
    pub minutes: String,
    pub actions: Option<Vec<ProblemMeetingActionBody>>,
}

/// Closes a meeting action: the version read and the closing note.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProblemMeetingCloseBody {
    pub version: i64,
    pub note: String,
}

/// How many meetings.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct MeetingQuery {
    /// 1..120, default 24.
    pub limit: Option<i64>,
}

/// Monthly problem meetings (PRB-13), latest month first, with their actions and which are overdue.
#[utoipa::path(get, path = "/api/v1/problems/meetings", tag = "problems", params(MeetingQuery),
    responses((status = 200, description = "meetings", body = ProblemMeetingListOut)))]
pub async fn meetings(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<MeetingQuery>,
) -> ApiResult<Json<Value>> {
    let items = problems::meetings::list(&st.platform, &p, q.limit.unwrap_or(24)).await?;
    Ok(json(serde_json::json!({"items": items})))
}

/// Records a month's problem meeting with its actions (`problem.manage`); a second one in the same month is
/// refused (409, PRB-13).
#[utoipa::path(post, path = "/api/v1/problems/meetings", tag = "problems", request_body = ProblemMeetingBody,
    responses((status = 201, description = "recorded", body = ProblemMeetingOut)))]
pub async fn create_meeting(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let input: problems::meetings::MeetingInput = decode(body)?;
    Ok((
        StatusCode::CREATED,
        json(problems::meetings::record(&st.platform, &p, input).await?),
    ))
}

/// One monthly problem meeting with its actions.
#[utoipa::path(get, path = "/api/v1/problems/meetings/{id}", tag = "problems",
    params(("id" = i64, Path, description = "meeting id")),
    responses((status = 200, description = "meeting", body = ProblemMeetingOut)))]
pub async fn meeting(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Value>> {
    Ok(json(problems::meetings::get(&st.platform, &p, id).await?))
}

/// Closes an open meeting action with a note (open → done); stale version 412, already done 409.
#[utoipa::path(post, path = "/api/v1/problems/meetings/{id}/actions/{action_id}/close", tag = "problems",
    request_body = ProblemMeetingCloseBody,
    params(("id" = i64, Path, description = "meeting id"), ("action_id" = i64, Path, description = "action id")),
    responses((status = 200, description = "meeting", body = ProblemMeetingOut)))]
pub async fn close_meeting_action(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath((id, action_id)): ApiPath<(i64, i64)>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let b: ProblemMeetingCloseBody = decode(body)?;
    Ok(json(
        problems::meetings::close_action(&st.platform, &p, id, action_id, b.version, &b.note)
            .await?,
    ))
}
