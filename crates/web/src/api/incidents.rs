//! Incidents: intake, detail, workflow actions, dispatch, progress, merge, links, timeline.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use tianshu_services::incidents::{
    self, ActionInput, DispatchTarget, FactsInput, IncidentView, LeasedLineInput, NewIncident,
    ProgressInput,
};
use tianshu_store::incidents::Incident;
use utoipa::{IntoParams, ToSchema};

use super::{ts, PageParams};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Auth, RequestId};
use crate::state::AppState;

/// Facts that drive the fault level (SEV-01..08).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FactsDto {
    /// Customers whose normal communication is affected.
    pub affected_users: Option<u64>,
    /// Complaints / enquiries received.
    pub complaints: Option<u64>,
    /// Complaints from gold / diamond-card customers about the same problem.
    pub gold_diamond_complaints: Option<u64>,
    /// Minutes a hot business (SEV-01) has been unavailable.
    pub hot_outage_minutes: Option<u64>,
    /// Minutes a non-hot business has been unavailable.
    pub non_hot_outage_minutes: Option<u64>,
    /// Minutes a key interface has been down.
    pub interface_outage_minutes: Option<u64>,
    /// Customer-service complaint level CS1–CS4 (an input, SEV-08).
    pub cs_level: Option<u8>,
    /// Potential-impact criteria ticked by the pre-processor (keys from the policy pack).
    #[serde(default)]
    pub potential: Vec<String>,
    /// SEV-06: a general fault that affects customers' communication, business handling or query.
    pub affects_customers: Option<bool>,
    /// Customers possibly affected while the impact is unconfirmed (ESC-01).
    pub possibly_affected_users: Option<u64>,
    /// Complaints the fault may still cause (ESC-01).
    pub possible_complaints: Option<u64>,
    /// Actual or expected length of a system-level fault, minutes (ESC-01).
    pub system_outage_minutes: Option<u64>,
    /// How long some functions are, or are expected to be, unusable, minutes (ESC-01).
    pub function_outage_minutes: Option<u64>,
    /// ESC-07 (1): customers complaining they cannot communicate although HLR re-provisioning was tried.
    pub comm_failure_complaints: Option<u64>,
    /// ESC-07 (2): customers possibly unable to communicate.
    pub possibly_comm_failure_users: Option<u64>,
    /// ESC-07 (3): customers complaining of wrongful suspension.
    pub wrong_suspension_complaints: Option<u64>,
    /// ESC-07 (4): customers possibly wrongly suspended.
    pub possibly_wrong_suspension_users: Option<u64>,
    /// ESC-07 (5): complaints of abnormal balance, charging, bank deduction or no re-activation after payment.
    pub billing_anomaly_complaints: Option<u64>,
    /// ESC-07 (6): customers possibly hit by such billing anomalies.
    pub possibly_billing_anomaly_users: Option<u64>,
    /// ESC-07 (7): minutes self-service channels cannot query/print call details.
    pub self_service_detail_outage_minutes: Option<u64>,
    /// ESC-07 (8): minutes BOSS, CC or IBOSS login is impossible.
    pub core_login_outage_minutes: Option<u64>,
    /// ESC-07 (9): minutes since important data was lost with no confirmed fix.
    pub data_loss_unfixed_minutes: Option<u64>,
    /// ESC-07 (10): red-list customers wrongly suspended or disturbed.
    pub red_list_customers: Option<u64>,
    /// ESC-07 (12), (13): system_login_instability or self_service_login_failure; recurrences in the month are
    /// counted over the system's tickets.
    pub recurrence: Option<String>,
    /// ESC-07 (14): minutes the BOSS/IBOSS interfaces with CC, HLR, bank or SMP are fully down.
    pub core_interface_outage_minutes: Option<u64>,
}

impl From<FactsDto> for FactsInput {
    fn from(f: FactsDto) -> Self {
        FactsInput {
            affected_users: f.affected_users,
            complaints: f.complaints,
            gold_diamond_complaints: f.gold_diamond_complaints,
            hot_outage_minutes: f.hot_outage_minutes,
            non_hot_outage_minutes: f.non_hot_outage_minutes,
            interface_outage_minutes: f.interface_outage_minutes,
            cs_level: f.cs_level,
            potential: f.potential,
            affects_customers: f.affects_customers,
            possibly_affected_users: f.possibly_affected_users,
            possible_complaints: f.possible_complaints,
            system_outage_minutes: f.system_outage_minutes,
            function_outage_minutes: f.function_outage_minutes,
            comm_failure_complaints: f.comm_failure_complaints,
            possibly_comm_failure_users: f.possibly_comm_failure_users,
            wrong_suspension_complaints: f.wrong_suspension_complaints,
            possibly_wrong_suspension_users: f.possibly_wrong_suspension_users,
            billing_anomaly_complaints: f.billing_anomaly_complaints,
            possibly_billing_anomaly_users: f.possibly_billing_anomaly_users,
            self_service_detail_outage_minutes: f.self_service_detail_outage_minutes,
            core_login_outage_minutes: f.core_login_outage_minutes,
            data_loss_unfixed_minutes: f.data_loss_unfixed_minutes,
            red_list_customers: f.red_list_customers,
            recurrence: f.recurrence,
            core_interface_outage_minutes: f.core_interface_outage_minutes,
        }
    }
}

/// A new ticket.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewIncidentIn {
    pub title: String,
    pub symptom: String,
    pub symptom_category: Option<String>,
    /// hotline, im_group, monitoring_alert, email, api, found_by_staff.
    pub source_channel: String,
    pub reporter: String,
    pub reporter_contact: Option<String>,
    /// Reporting branch or team.
    pub org_key: String,
    /// Affected system (agent-portal, crm, billing, esb …).
    pub system_key: Option<String>,
    pub business: Option<String>,
    pub customer: Option<String>,
    /// ESC-06: the room or department owning the fault, when not the reporting one (org key).
    pub owning_org_key: Option<String>,
    #[serde(default)]
    pub facts: FactsDto,
    /// KPI-09: the group customer's leased line the fault is on (needs `customer` to be a group customer).
    pub leased_line: Option<LeasedLineIn>,
}

/// The leased line of a customer fault (KPI-09 network quality).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeasedLineIn {
    /// The customer's circuit id (1–64 characters, no spaces).
    pub line: String,
    /// A `[[service_type]]` key of sla.toml; with the customer's tier it gives the line's SLA-03 level
    /// (default: the tier's default level).
    pub service_type: Option<String>,
}

impl From<LeasedLineIn> for LeasedLineInput {
    fn from(l: LeasedLineIn) -> Self {
        LeasedLineInput {
            line: l.line,
            service_type: l.service_type,
        }
    }
}

/// Set or clear the leased line of a ticket.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeasedLinePut {
    pub version: Option<i64>,
    /// The line; null clears it.
    pub leased_line: Option<LeasedLineIn>,
}

/// The leased line of a ticket.
#[derive(Debug, Serialize, ToSchema)]
pub struct LeasedLineOut {
    pub line: String,
    pub service_type: Option<String>,
    pub set_by: String,
    pub set_at: String,
}

/// A ticket as listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentOut {
    pub id: i64,
    pub number: String,
    pub title: String,
    pub symptom: String,
    pub source_channel: String,
    pub reporter: String,
    pub org_id: i64,
    pub region_id: Option<i64>,
    pub system_id: Option<i64>,
    pub business: Option<String>,
    pub customer: Option<String>,
    pub cause_class: Option<String>,
    pub state: String,
    /// general, FL1 or FL2 (SEV); a separate scale from CS and P levels (C-6).
    pub fault_level: String,
    pub cs_level: Option<i64>,
    pub parent_id: Option<i64>,
    pub master_id: Option<i64>,
    pub child_kind: Option<String>,
    pub assignee_org_id: Option<i64>,
    pub progress: i64,
    pub handler_id: Option<i64>,
    pub auditor_id: Option<i64>,
    /// ESC-06: the owning room or department, when not the reporting one.
    pub owning_org_id: Option<i64>,
    /// When the room manager was told (ESC-01/02; ESC-03 runs from here).
    pub reported_to_room_manager_at: Option<String>,
    /// When the centre manager was told (ESC-07; ESC-08 runs from here).
    pub reported_to_centre_manager_at: Option<String>,
    #[schema(value_type = Object)]
    pub facts: serde_json::Value,
    pub created_at: String,
    pub updated_at: String,
    pub resolved_at: Option<String>,
    pub closed_at: Option<String>,
    /// Send back (or as If-Match) on changes.
    pub version: i64,
}

impl From<Incident> for IncidentOut {
    fn from(i: Incident) -> Self {
        IncidentOut {
            id: i.id,
            number: i.number,
            title: i.title,
            symptom: i.symptom,
            source_channel: i.source_channel,
            reporter: i.reporter,
            org_id: i.org_id,
            region_id: i.region_id,
            system_id: i.system_id,
            business: i.business,
            customer: i.customer,
            cause_class: i.cause_class,
            state: i.state,
            fault_level: i.fault_level,
            cs_level: i.cs_level,
            parent_id: i.parent_id,
            master_id: i.master_id,
            child_kind: i.child_kind,
            assignee_org_id: i.assignee_org_id,
            progress: i.progress,
            handler_id: i.handler_id,
            auditor_id: i.auditor_id,
            owning_org_id: i.owning_org_id,
            reported_to_room_manager_at: i.reported_to_rm_at.map(ts),
            reported_to_centre_manager_at: i.reported_to_cm_at.map(ts),
            facts: serde_json::from_str(&i.facts).unwrap_or_default(),
            created_at: ts(i.created_at),
            updated_at: ts(i.updated_at),
            resolved_at: i.resolved_at.map(ts),
            closed_at: i.closed_at.map(ts),
            version: i.version,
        }
    }
}

/// A clock on a ticket.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClockOut {
    pub key: String,
    pub rule: String,
    pub basis: String,
    pub started_at: String,
    pub due_at: String,
    /// running, paused, met, breached, cancelled.
    pub state: String,
    pub breached_at: Option<String>,
    pub stopped_at: Option<String>,
}

/// A typed link.
#[derive(Debug, Serialize, ToSchema)]
pub struct LinkOut {
    pub from_kind: String,
    pub from_id: String,
    pub to_kind: String,
    pub to_id: String,
    pub link_type: String,
}

/// The detail view.
#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentDetail {
    #[serde(flatten)]
    pub incident: IncidentOut,
    /// Why the ticket has its level, e.g. "FL2: 620 affected users ≥ 500 (SEV-04)".
    pub level_reasons: Vec<String>,
    /// The same reasons in Chinese.
    pub level_reasons_zh: Vec<String>,
    /// Actions the caller may take now.
    pub allowed_actions: Vec<String>,
    pub children: Vec<IncidentOut>,
    pub merged_reports: Vec<IncidentOut>,
    /// Average progress of the dispatch children (0–100).
    pub children_progress: i64,
    pub children_open: usize,
    pub clocks: Vec<ClockOut>,
    pub links: Vec<LinkOut>,
    /// KPI-09: the leased line the fault is on.
    pub leased_line: Option<LeasedLineOut>,
}

fn detail(v: IncidentView) -> IncidentDetail {
    IncidentDetail {
        level_reasons: v.reasons.iter().map(|r| r.text_en.clone()).collect(),
        level_reasons_zh: v.reasons.iter().map(|r| r.text_zh.clone()).collect(),
        allowed_actions: v.allowed_actions,
        children: v.children.into_iter().map(IncidentOut::from).collect(),
        merged_reports: v.merged.into_iter().map(IncidentOut::from).collect(),
        children_progress: v.children_progress,
        children_open: v.children_open,
        clocks: v
            .clocks
            .into_iter()
            .map(|c| ClockOut {
                key: c.clock_key,
                rule: c.rule,
                basis: c.basis,
                started_at: ts(c.started_at),
                due_at: ts(c.due_at),
                state: c.state,
                breached_at: c.breached_at.map(ts),
                stopped_at: c.stopped_at.map(ts),
            })
            .collect(),
        links: v
            .links
            .into_iter()
            .map(|l| LinkOut {
                from_kind: l.from_kind,
                from_id: l.from_id,
                to_kind: l.to_kind,
                to_id: l.to_id,
                link_type: l.link_type,
            })
            .collect(),
        leased_line: v.leased_line.map(|l| LeasedLineOut {
            line: l.leased_line,
            service_type: l.service_type,
            set_by: l.set_by,
            set_at: ts(l.set_at),
        }),
        incident: v.incident.into(),
    }
}

fn with_etag(status: StatusCode, d: IncidentDetail) -> Response {
    let etag = format!("\"{}\"", d.incident.version);
    let mut r = (status, Json(d)).into_response();
    if let Ok(v) = header::HeaderValue::from_str(&etag) {
        r.headers_mut().insert(header::ETAG, v);
    }
    r
}

/// The version the client read: `version` in the body, else `If-Match`.
fn version_of(headers: &HeaderMap, body: Option<i64>) -> ApiResult<i64> {
    if let Some(v) = body {
        return Ok(v);
    }
    headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| {
            s.trim()
                .trim_start_matches("W/")
                .trim_matches('"')
                .parse()
                .ok()
        })
        .ok_or_else(|| {
            ApiError::bad_field(
                "version",
                "send the version you read (field `version` or an If-Match header)",
            )
        })
}

/// List filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct IncidentQuery {
    pub cursor: Option<String>,
    /// Page size, 1–500 (default 50).
    pub limit: Option<i64>,
    pub state: Option<String>,
    /// general, FL1, FL2.
    pub level: Option<String>,
    /// Substring of number, title or symptom.
    pub q: Option<String>,
    /// Include dispatch children and merged reports (default: top-level tickets only).
    pub all: Option<bool>,
    /// Region (branch) organisation key.
    pub region: Option<String>,
    /// Affected system key.
    pub system: Option<String>,
    /// Source channel: hotline, im_group, monitoring_alert, email, api, found_by_staff.
    pub source: Option<String>,
    /// Only tickets with a clock past due or breached.
    pub overdue: Option<bool>,
}

/// One page of tickets.
#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentPage {
    pub items: Vec<IncidentOut>,
    pub next_cursor: Option<String>,
}

/// List tickets visible to the caller, newest first.
#[utoipa::path(get, path = "/api/v1/incidents", tag = "incidents", params(IncidentQuery),
    responses((status = 200, description = "a page of tickets", body = IncidentPage)))]
pub async fn list(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<IncidentQuery>,
) -> ApiResult<Json<IncidentPage>> {
    let (after, limit) = PageParams {
        cursor: q.cursor,
        limit: q.limit,
    }
    .resolve()?;
    let before = if after == 0 { i64::MAX } else { after };
    let f = incidents::resolve_filter(
        &st.platform,
        &incidents::ListFilterInput {
            q: q.q,
            level: q.level,
            state: q.state,
            region: q.region,
            system: q.system,
            source: q.source,
            overdue: q.overdue.unwrap_or(false),
            all: q.all.unwrap_or(false),
        },
    )
    .await?;
    let rows = incidents::list(&st.platform, &p, before, limit, f).await?;
    let next = super::next_cursor(rows.len(), limit, rows.last().map(|i| i.id));
    Ok(Json(IncidentPage {
        items: rows.into_iter().map(IncidentOut::from).collect(),
        next_cursor: next,
    }))
}

/// Open a ticket; its level is assessed from the facts at once.
#[utoipa::path(post, path = "/api/v1/incidents", tag = "incidents", request_body = NewIncidentIn,
    responses((status = 201, description = "created", body = IncidentDetail)))]
pub async fn create(
    State(st): State<AppState>,
    Auth(p): Auth,
    RequestId(rid): RequestId,
    ApiJson(b): ApiJson<NewIncidentIn>,
) -> ApiResult<Response> {
    let v = incidents::create(
        &st.platform,
        &p,
        NewIncident {
            title: b.title,
            symptom: b.symptom,
            symptom_category: b.symptom_category,
            source_channel: b.source_channel,
            reporter: b.reporter,
            reporter_contact: b.reporter_contact,
            org_key: b.org_key,
            system_key: b.system_key,
            business: b.business,
            customer: b.customer,
            owning_org_key: b.owning_org_key,
            facts: b.facts.into(),
            leased_line: b.leased_line.map(Into::into),
        },
        rid,
    )
    .await?;
    Ok(with_etag(StatusCode::CREATED, detail(v)))
}

/// One ticket with children, merged reports, clocks, links and the caller's allowed actions.
#[utoipa::path(get, path = "/api/v1/incidents/{id}", tag = "incidents", params(("id" = i64, Path, description = "incident id")),
    responses((status = 200, description = "the ticket", body = IncidentDetail)))]
pub async fn get(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Response> {
    Ok(with_etag(
        StatusCode::OK,
        detail(incidents::get(&st.platform, &p, id).await?),
    ))
}

/// Timeline entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventOut {
    pub at: String,
    pub kind: String,
    pub actor: String,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// Timeline.
#[derive(Debug, Serialize, ToSchema)]
pub struct Timeline {
    pub items: Vec<EventOut>,
}

/// Everything that happened to the ticket, oldest first.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/timeline", tag = "incidents", params(("id" = i64, Path, description = "incident id")),
    responses((status = 200, description = "timeline", body = Timeline)))]
pub async fn timeline(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Timeline>> {
    let items = incidents::timeline(&st.platform, &p, id)
        .await?
        .into_iter()
        .map(|e| EventOut {
            at: ts(e.at),
            kind: e.kind,
            actor: e.actor,
            data: serde_json::from_str(&e.data).unwrap_or_default(),
        })
        .collect();
    Ok(Json(Timeline { items }))
}

/// New facts.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FactsIn {
    pub version: Option<i64>,
    pub facts: FactsDto,
}

/// Replace the facts; the level is re-assessed (raised automatically, never lowered silently).
#[utoipa::path(put, path = "/api/v1/incidents/{id}/facts", tag = "incidents", params(("id" = i64, Path, description = "incident id")), request_body = FactsIn,
    responses((status = 200, description = "updated", body = IncidentDetail)))]
pub async fn put_facts(
    State(st): State<AppState>,
    Auth(p): Auth,
    RequestId(rid): RequestId,
    headers: HeaderMap,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<FactsIn>,
) -> ApiResult<Response> {
    let version = version_of(&headers, b.version)?;
    Ok(with_etag(
        StatusCode::OK,
        detail(incidents::update_facts(&st.platform, &p, id, version, b.facts.into(), rid).await?),
    ))
}

/// Set or clear the leased line a customer fault is on (KPI-09); version-checked, on the timeline.
#[utoipa::path(put, path = "/api/v1/incidents/{id}/leased-line", tag = "incidents", params(("id" = i64, Path, description = "incident id")), request_body = LeasedLinePut,
    responses((status = 200, description = "updated", body = IncidentDetail)))]
pub async fn put_leased_line(
    State(st): State<AppState>,
    Auth(p): Auth,
    RequestId(rid): RequestId,
    headers: HeaderMap,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<LeasedLinePut>,
) -> ApiResult<Response> {
    let version = version_of(&headers, b.version)?;
    let v = incidents::set_leased_line(
        &st.platform,
        &p,
        id,
        version,
        b.leased_line.map(Into::into),
        rid,
    )
    .await?;
    Ok(with_etag(StatusCode::OK, detail(v)))
}

/// Manual lowering of the level.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LowerIn {
    pub version: Option<i64>,
    /// general or FL1.
    pub level: String,
    pub reason: String,
}

/// Lower the fault level by hand (a reason is mandatory, SEV-07).
#[utoipa::path(post, path = "/api/v1/incidents/{id}/level", tag = "incidents", params(("id" = i64, Path, description = "incident id")), request_body = LowerIn,
    responses((status = 200, description = "lowered", body = IncidentDetail)))]
pub async fn lower(
    State(st): State<AppState>,
    Auth(p): Auth,
    RequestId(rid): RequestId,
    headers: HeaderMap,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<LowerIn>,
) -> ApiResult<Response> {
    let version = version_of(&headers, b.version)?;
    Ok(with_etag(
        StatusCode::OK,
        detail(
            incidents::lower_level(&st.platform, &p, id, version, &b.level, &b.reason, rid).await?,
        ),
    ))
}

/// A workflow action.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionIn {
    pub version: Option<i64>,
    pub reason: Option<String>,
    /// INC-02: system_fault, front_line_error, business_rule.
    pub cause_class: Option<String>,
    pub note: Option<String>,
    /// INC-04: escalated-complaint tendency (with `classify`).
    pub escalated: Option<bool>,
}

/// Apply a workflow action; a disallowed one is 409 listing the allowed actions.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/actions/{action}", tag = "incidents",
    params(("id" = i64, Path, description = "incident id"), ("action" = String, Path, description = "action name, see allowed_actions")), request_body = ActionIn,
    responses((status = 200, description = "applied", body = IncidentDetail)))]
pub async fn act(
    State(st): State<AppState>,
    Auth(p): Auth,
    RequestId(rid): RequestId,
    headers: HeaderMap,
    ApiPath((id, action)): ApiPath<(i64, String)>,
    ApiJson(b): ApiJson<ActionIn>,
) -> ApiResult<Response> {
    let version = version_of(&headers, b.version)?;
    let input = ActionInput {
        reason: b.reason,
        cause_class: b.cause_class,
        note: b.note,
        escalated: b.escalated,
    };
    Ok(with_etag(
        StatusCode::OK,
        detail(incidents::act(&st.platform, &p, id, version, &action, input, rid).await?),
    ))
}

/// One dispatch target.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetIn {
    /// vendor, billing_centre, data_fix, branch, other_department.
    pub kind: String,
    pub org_key: String,
    pub note: Option<String>,
}

/// Dispatch request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DispatchIn {
    pub version: Option<i64>,
    pub targets: Vec<TargetIn>,
}

/// Dispatch to several teams at once as linked child tasks, each with its own clock (DUP-04).
#[utoipa::path(post, path = "/api/v1/incidents/{id}/dispatches", tag = "incidents", params(("id" = i64, Path, description = "incident id")), request_body = DispatchIn,
    responses((status = 200, description = "dispatched", body = IncidentDetail)))]
pub async fn dispatch(
    State(st): State<AppState>,
    Auth(p): Auth,
    RequestId(rid): RequestId,
    headers: HeaderMap,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<DispatchIn>,
) -> ApiResult<Response> {
    let version = version_of(&headers, b.version)?;
    let targets = b
        .targets
        .into_iter()
        .map(|t| DispatchTarget {
            kind: t.kind,
            org_key: t.org_key,
            note: t.note,
        })
        .collect();
    Ok(with_etag(
        StatusCode::OK,
        detail(incidents::dispatch(&st.platform, &p, id, version, targets, rid).await?),
    ))
}

/// Progress entry.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProgressIn {
    pub version: Option<i64>,
    pub note: String,
    /// 0–100.
    pub percent: Option<i64>,
    /// The hand-off is finished.
    #[serde(default)]
    pub done: bool,
    /// The note describes a new symptom: whoever has been told is told again (ESC-02, ESC-08).
    #[serde(default)]
    pub new_symptom: bool,
}

/// Record progress on a ticket or a dispatch child (stops the progress clocks it satisfies).
#[utoipa::path(post, path = "/api/v1/incidents/{id}/progress", tag = "incidents", params(("id" = i64, Path, description = "incident id")), request_body = ProgressIn,
    responses((status = 200, description = "recorded", body = IncidentDetail)))]
pub async fn progress(
    State(st): State<AppState>,
    Auth(p): Auth,
    RequestId(rid): RequestId,
    headers: HeaderMap,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<ProgressIn>,
) -> ApiResult<Response> {
    let version = version_of(&headers, b.version)?;
    let input = ProgressInput {
        version,
        note: b.note,
        percent: b.percent,
        done: b.done,
        new_symptom: b.new_symptom,
    };
    Ok(with_etag(
        StatusCode::OK,
        detail(incidents::progress(&st.platform, &p, id, input, rid).await?),
    ))
}

/// A report made by phone, ITSM or bulletin.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportIn {
    pub version: Option<i64>,
    /// room_manager (ESC-01/02, starts ESC-03), centre_manager (ESC-07, starts ESC-08), group (ESC-09),
    /// analysis (ESC-09 fault-analysis report), bulletin (ESC-12).
    pub kind: String,
    pub note: String,
}

/// Record a report on the ticket: the clocks it satisfies stop, those it starts start.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/reports", tag = "incidents", params(("id" = i64, Path, description = "incident id")), request_body = ReportIn,
    responses((status = 200, description = "recorded", body = IncidentDetail)))]
pub async fn report(
    State(st): State<AppState>,
    Auth(p): Auth,
    RequestId(rid): RequestId,
    headers: HeaderMap,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<ReportIn>,
) -> ApiResult<Response> {
    let version = version_of(&headers, b.version)?;
    let input = incidents::ReportInput {
        version,
        kind: b.kind,
        note: b.note,
    };
    Ok(with_etag(
        StatusCode::OK,
        detail(incidents::report(&st.platform, &p, id, input, rid).await?),
    ))
}

/// Merge request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeIn {
    pub version: Option<i64>,
    pub report_ids: Vec<i64>,
}

/// Merge duplicate reports under this master ticket (DUP-01).
#[utoipa::path(post, path = "/api/v1/incidents/{id}/merge", tag = "incidents", params(("id" = i64, Path, description = "master incident id")), request_body = MergeIn,
    responses((status = 200, description = "merged", body = IncidentDetail)))]
pub async fn merge(
    State(st): State<AppState>,
    Auth(p): Auth,
    RequestId(rid): RequestId,
    headers: HeaderMap,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<MergeIn>,
) -> ApiResult<Response> {
    let version = version_of(&headers, b.version)?;
    Ok(with_etag(
        StatusCode::OK,
        detail(incidents::merge(&st.platform, &p, id, version, b.report_ids, rid).await?),
    ))
}

/// Version only.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionIn {
    pub version: Option<i64>,
}

/// Take a merged report out of its master again.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/unmerge", tag = "incidents", params(("id" = i64, Path, description = "merged report id")), request_body = VersionIn,
    responses((status = 200, description = "unmerged", body = IncidentDetail)))]
pub async fn unmerge(
    State(st): State<AppState>,
    Auth(p): Auth,
    RequestId(rid): RequestId,
    headers: HeaderMap,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<VersionIn>,
) -> ApiResult<Response> {
    let version = version_of(&headers, b.version)?;
    Ok(with_etag(
        StatusCode::OK,
        detail(incidents::unmerge(&st.platform, &p, id, version, rid).await?),
    ))
}

/// A link to another record.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkIn {
    /// bug, problem, dataop, change, alert, customer, incident.
    pub to_kind: String,
    pub to_id: String,
    /// e.g. caused_by, converted_to, related.
    pub link_type: String,
}

/// Link the ticket to another record.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/links", tag = "incidents", params(("id" = i64, Path, description = "incident id")), request_body = LinkIn,
    responses((status = 200, description = "linked", body = IncidentDetail)))]
pub async fn link(
    State(st): State<AppState>,
    Auth(p): Auth,
    RequestId(rid): RequestId,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<LinkIn>,
) -> ApiResult<Response> {
    Ok(with_etag(
        StatusCode::OK,
        detail(
            incidents::link(
                &st.platform,
                &p,
                id,
                &b.to_kind,
                &b.to_id,
                &b.link_type,
                rid,
            )
            .await?,
        ),
    ))
}

/// Duplicate candidates.
#[derive(Debug, Serialize, ToSchema)]
pub struct DuplicateList {
    pub items: Vec<IncidentOut>,
}

/// Open reports of the same system and symptom within the pack's window (DUP-01), for a person to merge.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/duplicates", tag = "incidents", params(("id" = i64, Path, description = "incident id")),
    responses((status = 200, description = "candidates, earliest first", body = DuplicateList)))]
pub async fn duplicates(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<DuplicateList>> {
    let items = incidents::duplicates(&st.platform, &p, id)
        .await?
        .into_iter()
        .map(IncidentOut::from)
        .collect();
    Ok(Json(DuplicateList { items }))
}

/// Frequent-fault report parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct FrequentQuery {
    /// weekly or monthly.
    pub kind: String,
    /// The report's end date (exclusive), YYYY-MM-DD.
    pub end: String,
}

/// One frequent fault.
#[derive(Debug, Serialize, ToSchema)]
pub struct FrequentOut {
    pub fault_key: String,
    pub occurrences: u32,
    pub complaints: u64,
    /// Which trigger sets fired (RPT-01 version A, RPT-02 version B).
    pub fired: Vec<String>,
}

/// Frequent faults.
#[derive(Debug, Serialize, ToSchema)]
pub struct FrequentList {
    pub items: Vec<FrequentOut>,
}

/// The frequent faults of the weekly or monthly report (RPT-01..03; the default is the union of both sets).
#[utoipa::path(get, path = "/api/v1/reports/frequent-faults", tag = "reports", params(FrequentQuery),
    responses((status = 200, description = "faults that meet a trigger", body = FrequentList)))]
pub async fn frequent(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<FrequentQuery>,
) -> ApiResult<Json<FrequentList>> {
    let monthly = match q.kind.as_str() {
        "weekly" => false,
        "monthly" => true,
        _ => {
            return Err(ApiError::bad_field(
                "kind",
                "kind must be weekly or monthly",
            ))
        }
    };
    let end = chrono::NaiveDate::parse_from_str(&q.end, "%Y-%m-%d")
        .map_err(|_| ApiError::bad_field("end", "end must be YYYY-MM-DD"))?;
    let items = incidents::frequent_faults(&st.platform, &p, monthly, end)
        .await?
        .into_iter()
        .map(|f| FrequentOut {
            fault_key: f.fault_key,
            occurrences: f.occurrences,
            complaints: f.complaints,
            fired: f
                .fired
                .into_iter()
                .map(|t| format!("{} ({}): {}", t.set, t.rule, t.detail))
                .collect(),
        })
        .collect();
    Ok(Json(FrequentList { items }))
}

/// A BUG record to raise (BUG-05 collaboration-ticket fields).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BugIn {
    /// Must include the complaining number and the problem.
    pub description: String,
    pub complaining_number: String,
    #[serde(default)]
    pub vendor_reply: String,
    pub bug_number: Option<String>,
    pub assistance_requested: String,
    /// Impact as a complaint count …
    pub complaints: Option<u64>,
    /// … or an outage duration in minutes.
    pub outage_minutes: Option<u64>,
    /// special (特级), urgent (紧急) or normal (一般).
    pub urgency: String,
    pub expected_resolution: String,
    #[serde(default)]
    pub consequence_if_missed: String,
}

/// A BUG record.
#[derive(Debug, Serialize, ToSchema)]
pub struct BugOut {
    pub number: String,
    pub incident_id: i64,
    pub urgency: String,
    pub state: String,
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    pub created_at: String,
}

/// Convert the ticket into a BUG record, linked to it (BUG-02/05; BUG-03 tells the room manager).
#[utoipa::path(post, path = "/api/v1/incidents/{id}/bug", tag = "incidents", params(("id" = i64, Path, description = "incident id")), request_body = BugIn,
    responses((status = 201, description = "raised", body = BugOut)))]
pub async fn bug(
    State(st): State<AppState>,
    Auth(p): Auth,
    RequestId(rid): RequestId,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<BugIn>,
) -> ApiResult<(StatusCode, Json<BugOut>)> {
    let input = incidents::BugInput {
        description: b.description,
        complaining_number: b.complaining_number,
        vendor_reply: b.vendor_reply,
        bug_number: b.bug_number,
        assistance_requested: b.assistance_requested,
        complaints: b.complaints,
        outage_minutes: b.outage_minutes,
        urgency: b.urgency,
        expected_resolution: b.expected_resolution,
        consequence_if_missed: b.consequence_if_missed,
    };
    let bug = incidents::convert_to_bug(&st.platform, &p, id, input, rid).await?;
    Ok((
        StatusCode::CREATED,
        Json(BugOut {
            number: bug.number,
            incident_id: bug.incident_id,
            urgency: bug.urgency,
            state: bug.state,
            payload: serde_json::from_str(&bug.payload).unwrap_or_default(),
            created_at: ts(bug.created_at),
        }),
    ))
}

/// An attachment.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttachmentOut {
    pub id: i64,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub created_by: String,
    pub created_at: String,
}

impl From<tianshu_store::incidents::Attachment> for AttachmentOut {
    fn from(a: tianshu_store::incidents::Attachment) -> Self {
        AttachmentOut {
            id: a.id,
            filename: a.filename,
            content_type: a.content_type,
            size: a.size,
            sha256: a.sha256,
            created_by: a.created_by,
            created_at: ts(a.created_at),
        }
    }
}

/// Attachments.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttachmentList {
    pub items: Vec<AttachmentOut>,
}

/// Raw file bytes in the OpenAPI document (`type: string, format: binary`).
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct BinaryFile(#[allow(dead_code)] Vec<u8>);

/// Upload parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AttachQuery {
    /// The file's name (no path).
    pub filename: String,
}

/// Attach a file (the raw body, at most 10 MiB) to the ticket.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/attachments", tag = "incidents",
    params(("id" = i64, Path, description = "incident id"), AttachQuery),
    request_body(content = BinaryFile, content_type = "application/octet-stream"),
    responses((status = 201, description = "stored", body = AttachmentOut)))]
pub async fn attach(
    State(st): State<AppState>,
    Auth(p): Auth,
    RequestId(rid): RequestId,
    headers: HeaderMap,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<AttachQuery>,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<AttachmentOut>)> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_string();
    let a = incidents::attach(&st.platform, &p, id, &q.filename, &ct, body.to_vec(), rid).await?;
    Ok((StatusCode::CREATED, Json(a.into())))
}

/// The ticket's attachments.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/attachments", tag = "incidents", params(("id" = i64, Path, description = "incident id")),
    responses((status = 200, description = "attachments", body = AttachmentList)))]
pub async fn attachments(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<AttachmentList>> {
    let items = incidents::attachments(&st.platform, &p, id)
        .await?
        .into_iter()
        .map(AttachmentOut::from)
        .collect();
    Ok(Json(AttachmentList { items }))
}

/// Download an attachment.
#[utoipa::path(get, path = "/api/v1/attachments/{id}", tag = "incidents", params(("id" = i64, Path, description = "attachment id")),
    responses((status = 200, description = "the file", body = BinaryFile, content_type = "application/octet-stream")))]
pub async fn download(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Response> {
    let (meta, data) = incidents::download(&st.platform, &p, id).await?;
    let mut r = (StatusCode::OK, data).into_response();
    // Served as a download, never rendered: an attached HTML file must not run in the console's origin.
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/octet-stream"),
    );
    let name: String = meta
        .filename
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "._-".contains(*c))
        .collect();
    if let Ok(v) = header::HeaderValue::from_str(&format!(
        "attachment; filename=\"{}\"",
        if name.is_empty() { "file" } else { &name }
    )) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    r.headers_mut().insert(
        "x-content-type-options",
        header::HeaderValue::from_static("nosniff"),
    );
    Ok(r)
}
