//! Duty rosters (DUTY-02..DUTY-06, DUTY-09): shifts, the roster of a range, who is on duty, overrides, swaps,
//! daily reports, hand-over notes, comp time, XLSX import/export and ICS feeds.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tianshu_core::duty::{Assignment, CompStatement, CoverageProblem, Team};
use tianshu_services::duty::{self, AssignmentView, OnDutyPerson, OnDutyQuery, RosterResult};
use tianshu_services::ServiceError;
use tianshu_store::duty::{HandoverRow, OverrideRow, ReportRow, Roster, SwapRow};
use utoipa::{IntoParams, ToSchema};

use super::ts;
use crate::api::incidents::BinaryFile;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath, ApiQuery, Auth};
use crate::state::AppState;

// ---------------------------------------------------------------- response types

/// A shift (DUTY-03).
#[derive(Debug, Serialize, ToSchema)]
pub struct ShiftOut {
    pub key: String,
    pub name_zh: String,
    pub name_en: String,
    /// Local `HH:MM`.
    pub start: String,
    pub end: String,
}

/// A duty slot.
#[derive(Debug, Serialize, ToSchema)]
pub struct SlotOut {
    pub key: String,
    pub rule: String,
    pub name_zh: String,
    pub name_en: String,
    pub shifts: Vec<String>,
    pub required: bool,
    pub people: u32,
    /// `province` or `region`.
    pub scope: String,
    pub systems: Vec<String>,
    pub report: bool,
    pub comp_time: bool,
}

/// A field of the daily duty report (DUTY-06).
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportFieldOut {
    pub key: String,
    pub name_zh: String,
    pub name_en: String,
    /// `text`, `bool` or `number`.
    pub kind: String,
    pub required: bool,
}

/// Branch and weekday of the DUTY-04 rotation.
#[derive(Debug, Serialize, ToSchema)]
pub struct BranchDayOut {
    pub branch: String,
    /// `mon` … `sun`.
    pub weekday: String,
}

/// The duty setup of the active policy pack.
#[derive(Debug, Serialize, ToSchema)]
pub struct SetupOut {
    pub time_zone: String,
    pub shifts: Vec<ShiftOut>,
    pub slots: Vec<SlotOut>,
    pub rotation: Vec<BranchDayOut>,
    /// Shift key → comp-time hours on a working day (DUTY-05).
    pub comp_time_working_day: BTreeMap<String, f64>,
    /// Shift key → comp-time hours on a weekend or holiday.
    pub comp_time_non_working_day: BTreeMap<String, f64>,
    pub report_fields: Vec<ReportFieldOut>,
    /// When the report is due after the shift ends (e.g. `30m`).
    pub report_due_after: String,
}

/// A stored assignment.
#[derive(Debug, Serialize, ToSchema)]
pub struct AssignmentOut {
    pub id: i64,
    /// `YYYY-MM-DD` (local).
    pub date: String,
    pub slot: String,
    pub shift: String,
    /// Username.
    pub person: String,
    pub region: Option<String>,
    /// RFC 3339 UTC.
    pub start: String,
    pub end: String,
    /// `rotation`, `import`, `override` or `swap`.
    pub source: String,
    pub version: i64,
}

impl From<AssignmentView> for AssignmentOut {
    fn from(v: AssignmentView) -> Self {
        AssignmentOut {
            id: v.id,
            date: v.date,
            slot: v.slot,
            shift: v.shift,
            person: v.person,
            region: v.region,
            start: v.start,
            end: v.end,
            source: v.source,
            version: v.version,
        }
    }
}

/// The roster of a range.
#[derive(Debug, Serialize, ToSchema)]
pub struct RosterOut {
    pub from: String,
    pub to: String,
    pub items: Vec<AssignmentOut>,
}

/// A planned assignment (not stored yet, or as published).
#[derive(Debug, Serialize, ToSchema)]
pub struct PlannedOut {
    pub date: String,
    pub slot: String,
    pub shift: String,
    pub person: String,
    pub region: Option<String>,
}

impl From<Assignment> for PlannedOut {
    fn from(a: Assignment) -> Self {
        PlannedOut {
            date: a.date.format("%Y-%m-%d").to_string(),
            slot: a.slot,
            shift: a.shift,
            person: a.person,
            region: a.region,
        }
    }
}

/// A coverage problem: which day, which shift.
#[derive(Debug, Serialize, ToSchema)]
pub struct CoverageProblemOut {
    /// `uncovered`, `overlap` or `unknown`.
    pub kind: String,
    pub date: String,
    pub shift: String,
    pub slot: String,
    pub person: Option<String>,
    pub message: String,
}

impl From<CoverageProblem> for CoverageProblemOut {
    fn from(p: CoverageProblem) -> Self {
        CoverageProblemOut {
            kind: serde_json::to_value(p.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            date: p.date.format("%Y-%m-%d").to_string(),
            shift: p.shift,
            slot: p.slot,
            person: p.person,
            message: p.message,
        }
    }
}

/// Coverage problems.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProblemList {
    pub items: Vec<CoverageProblemOut>,
}

/// A publication.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicationOut {
    pub id: i64,
    pub from: String,
    pub to: String,
    /// `rotation` or `import`.
    pub source: String,
    pub slots: Vec<String>,
    pub assignments: i64,
    pub created_by: String,
    pub created_at: String,
}

impl From<Roster> for PublicationOut {
    fn from(r: Roster) -> Self {
        PublicationOut {
            id: r.id,
            from: r.from_day,
            to: r.to_day,
            source: r.source,
            slots: serde_json::from_str(&r.slots).unwrap_or_default(),
            assignments: r.assignments,
            created_by: r.created_by,
            created_at: ts(r.created_at),
        }
    }
}

/// A generated or imported roster with its coverage problems; `roster` is set once published.
#[derive(Debug, Serialize, ToSchema)]
pub struct RosterResultOut {
    pub from: String,
    pub to: String,
    pub assignments: Vec<PlannedOut>,
    pub problems: Vec<CoverageProblemOut>,
    pub roster: Option<PublicationOut>,
}

impl From<RosterResult> for RosterResultOut {
    fn from(r: RosterResult) -> Self {
        RosterResultOut {
            from: r.from,
            to: r.to,
            assignments: r.assignments.into_iter().map(Into::into).collect(),
            problems: r.problems.into_iter().map(Into::into).collect(),
            roster: r.roster.map(Into::into),
        }
    }
}

/// A person on duty.
#[derive(Debug, Serialize, ToSchema)]
pub struct OnDutyOut {
    pub person: String,
    pub name: String,
    pub slot: String,
    pub shift: String,
    pub region: Option<String>,
    pub start: String,
    pub end: String,
}

impl From<OnDutyPerson> for OnDutyOut {
    fn from(o: OnDutyPerson) -> Self {
        OnDutyOut {
            person: o.person,
            name: o.name,
            slot: o.slot,
            shift: o.shift,
            region: o.region,
            start: o.start,
            end: o.end,
        }
    }
}

/// Who is on duty at an instant.
#[derive(Debug, Serialize, ToSchema)]
pub struct OnDutyList {
    /// The instant asked about (RFC 3339 UTC).
    pub at: String,
    pub items: Vec<OnDutyOut>,
}

/// An override.
#[derive(Debug, Serialize, ToSchema)]
pub struct OverrideOut {
    pub id: i64,
    pub assignment_id: i64,
    pub date: String,
    pub slot: String,
    pub shift: String,
    pub from_person: String,
    pub to_person: String,
    pub reason: String,
    pub created_by: String,
    pub created_at: String,
}

impl From<OverrideRow> for OverrideOut {
    fn from(o: OverrideRow) -> Self {
        OverrideOut {
            id: o.id,
            assignment_id: o.assignment_id,
            date: o.day,
            slot: o.slot,
            shift: o.shift,
            from_person: o.from_user,
            to_person: o.to_user,
            reason: o.reason,
            created_by: o.created_by,
            created_at: ts(o.created_at),
        }
    }
}

/// Overrides.
#[derive(Debug, Serialize, ToSchema)]
pub struct OverrideList {
    pub items: Vec<OverrideOut>,
}

/// A swap request.
#[derive(Debug, Serialize, ToSchema)]
pub struct SwapOut {
    pub id: i64,
    pub assignment_id: i64,
    pub counter_assignment_id: Option<i64>,
    pub requester: String,
    pub counterpart: String,
    pub reason: String,
    /// `requested`, `approved` or `rejected`.
    pub state: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<String>,
    pub note: Option<String>,
    pub version: i64,
    pub created_at: String,
}

impl From<SwapRow> for SwapOut {
    fn from(s: SwapRow) -> Self {
        SwapOut {
            id: s.id,
            assignment_id: s.assignment_id,
            counter_assignment_id: s.counter_assignment_id,
            requester: s.requester,
            counterpart: s.counterpart,
            reason: s.reason,
            state: s.state,
            decided_by: s.decided_by,
            decided_at: s.decided_at.map(ts),
            note: s.note,
            version: s.version,
            created_at: ts(s.created_at),
        }
    }
}

/// Swap requests.
#[derive(Debug, Serialize, ToSchema)]
pub struct SwapList {
    pub items: Vec<SwapOut>,
}

/// A filed daily duty report.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportOut {
    pub id: i64,
    pub date: String,
    pub slot: String,
    pub shift: String,
    pub person: String,
    /// The form's values by field key.
    #[schema(value_type = Object)]
    pub fields: Value,
    pub submitted_at: String,
}

impl From<ReportRow> for ReportOut {
    fn from(r: ReportRow) -> Self {
        ReportOut {
            id: r.id,
            date: r.day,
            slot: r.slot,
            shift: r.shift,
            person: r.username,
            fields: serde_json::from_str(&r.fields).unwrap_or(Value::Null),
            submitted_at: ts(r.submitted_at),
        }
    }
}

/// Daily reports.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportList {
    pub items: Vec<ReportOut>,
}

/// A hand-over note.
#[derive(Debug, Serialize, ToSchema)]
pub struct HandoverOut {
    pub id: i64,
    pub date: String,
    pub slot: String,
    pub shift: String,
    pub author: String,
    pub note: String,
    pub created_at: String,
}

impl From<HandoverRow> for HandoverOut {
    fn from(h: HandoverRow) -> Self {
        HandoverOut {
            id: h.id,
            date: h.day,
            slot: h.slot,
            shift: h.shift,
            author: h.author,
            note: h.note,
            created_at: ts(h.created_at),
        }
    }
}

/// Hand-over notes.
#[derive(Debug, Serialize, ToSchema)]
pub struct HandoverList {
    pub items: Vec<HandoverOut>,
}

/// One duty of a comp-time statement.
#[derive(Debug, Serialize, ToSchema)]
pub struct CompLineOut {
    pub date: String,
    pub slot: String,
    pub shift: String,
    /// Whether the day was a working day of the calendar (C-2).
    pub working_day: bool,
    pub minutes: i64,
}

/// A person's comp time for a month (DUTY-05).
#[derive(Debug, Serialize, ToSchema)]
pub struct CompStatementOut {
    pub person: String,
    /// `YYYY-MM`.
    pub month: String,
    pub lines: Vec<CompLineOut>,
    pub total_minutes: i64,
    pub total_hours: f64,
}

impl From<CompStatement> for CompStatementOut {
    fn from(s: CompStatement) -> Self {
        CompStatementOut {
            person: s.person,
            month: s.month,
            lines: s
                .lines
                .into_iter()
                .map(|l| CompLineOut {
                    date: l.date.format("%Y-%m-%d").to_string(),
                    slot: l.slot,
                    shift: l.shift,
                    working_day: l.working_day,
                    minutes: l.minutes,
                })
                .collect(),
            total_minutes: s.total_minutes,
            total_hours: s.total_hours,
        }
    }
}

/// Everyone's statements of a month.
#[derive(Debug, Serialize, ToSchema)]
pub struct CompList {
    pub month: String,
    pub items: Vec<CompStatementOut>,
}

/// ICS text (`text/calendar`).
#[derive(ToSchema)]
#[schema(value_type = String)]
pub struct IcsText(#[allow(dead_code)] String);

// ---------------------------------------------------------------- requests

/// A date range: `from`/`to` (`YYYY-MM-DD`), or `range` = `today` | `week`; default this week.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RangeQuery {
    pub from: Option<String>,
    pub to: Option<String>,
    /// `today` or `week` (Monday to Sunday of today's week).
    pub range: Option<String>,
}

impl RangeQuery {
    fn resolve(&self, st: &AppState) -> Result<(NaiveDate, NaiveDate), ServiceError> {
        let today = duty::today(&st.platform);
        match (&self.from, &self.to, self.range.as_deref()) {
            (Some(f), Some(t), None) => {
                Ok((duty::date_field("from", f)?, duty::date_field("to", t)?))
            }
            (Some(f), None, None) => {
                let f = duty::date_field("from", f)?;
                Ok((f, f))
            }
            (None, None, Some("today")) => Ok((today, today)),
            (None, None, Some("week") | None) => Ok(duty::week_of(today)),
            (None, None, Some(other)) => Err(ServiceError::invalid(
                "range",
                format!("'{other}' is not today or week"),
            )),
            (None, Some(_), _) => Err(ServiceError::invalid("from", "give from with to")),
            (Some(_), _, Some(_)) => Err(ServiceError::invalid(
                "range",
                "give either range or from/to",
            )),
        }
    }
}

/// Checks a range's order and length.
fn ordered(from: NaiveDate, to: NaiveDate) -> Result<(), ServiceError> {
    if to < from {
        return Err(ServiceError::invalid(
            "to",
            format!("{to} is before {from}"),
        ));
    }
    if (to - from).num_days() >= tianshu_core::duty::MAX_RANGE_DAYS {
        return Err(ServiceError::invalid("to", "a range of at most 400 days"));
    }
    Ok(())
}

fn span(q: &RangeQuery, st: &AppState) -> Result<(NaiveDate, NaiveDate), ServiceError> {
    let (f, t) = q.resolve(st)?;
    ordered(f, t)?;
    Ok((f, t))
}

/// The central team of a rotation.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamBody {
    /// Branch organisation key → its people (usernames; the first works the day shift).
    pub branches: BTreeMap<String, Vec<String>>,
    /// HQ people (usernames) in rotation.hq order.
    pub hq: Vec<String>,
}

/// Generate the DUTY-04 rotation for a range; `publish` stores it (refused while coverage problems remain).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerateBody {
    pub from: String,
    pub to: String,
    pub team: TeamBody,
    #[serde(default)]
    pub publish: bool,
}

/// Who-is-on-duty query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct OnDutyParams {
    /// RFC 3339 instant (default now).
    pub at: Option<String>,
    pub system: Option<String>,
    pub region: Option<String>,
    pub slot: Option<String>,
}

/// Override the person of an assignment.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OverrideBody {
    pub person: String,
    pub reason: String,
    pub version: i64,
}

/// Request a swap.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SwapBody {
    pub assignment_id: i64,
    pub counterpart: String,
    pub counter_assignment_id: Option<i64>,
    pub reason: String,
}

/// Approve or reject a swap.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    pub note: Option<String>,
    pub version: i64,
}

/// Swap filter.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SwapParams {
    /// `requested`, `approved` or `rejected`.
    pub state: Option<String>,
}

/// File a daily duty report.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportBody {
    pub assignment_id: i64,
    /// Field key → value (see `report_fields` of the setup).
    #[schema(value_type = Object)]
    pub fields: BTreeMap<String, Value>,
}

/// Add a hand-over note.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandoverBody {
    pub date: String,
    pub slot: String,
    pub shift: String,
    pub note: String,
}

/// Month parameter.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct MonthParams {
    /// `YYYY-MM` (default this month).
    pub month: Option<String>,
}

/// Import parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ImportParams {
    /// Store the roster (default false: check only).
    pub publish: Option<bool>,
}

fn month_or_now(st: &AppState, m: &Option<String>) -> String {
    m.clone()
        .unwrap_or_else(|| duty::today(&st.platform).format("%Y-%m").to_string())
}

fn file(bytes: Vec<u8>, content_type: &'static str, name: &str) -> Response {
    let mut r = (StatusCode::OK, bytes).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    r.headers_mut().insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    r
}

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

// ---------------------------------------------------------------- handlers

/// Shifts, slots, rotation, comp-time hours and the report form of the active pack.
#[utoipa::path(get, path = "/api/v1/duty/setup", tag = "duty", responses((status = 200, description = "duty setup", body = SetupOut)))]
pub async fn setup(State(st): State<AppState>, Auth(p): Auth) -> ApiResult<Json<SetupOut>> {
    let d = duty::setup(&st.platform, &p)?;
    Ok(Json(SetupOut {
        time_zone: d.time_zone.clone(),
        shifts: d
            .shifts
            .iter()
            .map(|s| ShiftOut {
                key: s.key.clone(),
                name_zh: s.name_zh.clone(),
                name_en: s.name_en.clone(),
                start: s.start.clone(),
                end: s.end.clone(),
            })
            .collect(),
        slots: d
            .slots
            .iter()
            .map(|s| SlotOut {
                key: s.key.clone(),
                rule: s.rule.clone(),
                name_zh: s.name_zh.clone(),
                name_en: s.name_en.clone(),
                shifts: s.shifts.clone(),
                required: s.required,
                people: s.people,
                scope: enum_name(&s.scope),
                systems: s.systems.clone(),
                report: s.report,
                comp_time: s.comp_time,
            })
            .collect(),
        rotation: d
            .rotation
            .branches
            .iter()
            .map(|b| BranchDayOut {
                branch: b.branch.clone(),
                weekday: enum_name(&b.weekday),
            })
            .collect(),
        comp_time_working_day: d.comp_time.working_day.clone(),
        comp_time_non_working_day: d.comp_time.non_working_day.clone(),
        report_fields: d
            .report
            .fields
            .iter()
            .map(|f| ReportFieldOut {
                key: f.key.clone(),
                name_zh: f.name_zh.clone(),
                name_en: f.name_en.clone(),
                kind: enum_name(&f.kind),
                required: f.required,
            })
            .collect(),
        report_due_after: d.report.due_after.to_string(),
    }))
}

fn enum_name<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The stored roster of a range (default this week; `range=today`).
#[utoipa::path(get, path = "/api/v1/duty/roster", tag = "duty", params(RangeQuery),
    responses((status = 200, description = "assignments", body = RosterOut)))]
pub async fn roster(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<RangeQuery>,
) -> ApiResult<Json<RosterOut>> {
    let (from, to) = span(&q, &st)?;
    let items = duty::roster(&st.platform, &p, from, to).await?;
    Ok(Json(RosterOut {
        from: from.format("%Y-%m-%d").to_string(),
        to: to.format("%Y-%m-%d").to_string(),
        items: items.into_iter().map(Into::into).collect(),
    }))
}

/// Generate the rotation (preview), or publish it with `publish: true` (duty.manage).
#[utoipa::path(post, path = "/api/v1/duty/roster/generate", tag = "duty", request_body = GenerateBody,
    responses((status = 200, description = "the roster and its coverage problems", body = RosterResultOut)))]
pub async fn generate(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiJson(b): ApiJson<GenerateBody>,
) -> ApiResult<Json<RosterResultOut>> {
    let r = duty::generate(
        &st.platform,
        &p,
        duty::GenerateRequest {
            from: b.from,
            to: b.to,
            team: Team {
                branches: b.team.branches,
                hq: b.team.hq,
            },
            publish: b.publish,
        },
    )
    .await?;
    Ok(Json(r.into()))
}

/// Coverage problems of the stored roster (uncovered or overlapping shifts, naming day and shift).
#[utoipa::path(get, path = "/api/v1/duty/coverage", tag = "duty", params(RangeQuery),
    responses((status = 200, description = "problems", body = ProblemList)))]
pub async fn coverage(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<RangeQuery>,
) -> ApiResult<Json<ProblemList>> {
    let (from, to) = span(&q, &st)?;
    let items = duty::coverage(&st.platform, &p, from, to).await?;
    Ok(Json(ProblemList {
        items: items.into_iter().map(Into::into).collect(),
    }))
}

/// Who is on duty at an instant (default now), for a system, region and/or slot.
#[utoipa::path(get, path = "/api/v1/duty/on-duty", tag = "duty", params(OnDutyParams),
    responses((status = 200, description = "people on duty", body = OnDutyList)))]
pub async fn on_duty(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<OnDutyParams>,
) -> ApiResult<Json<OnDutyList>> {
    let at = match &q.at {
        None => st.platform.clock.now(),
        Some(s) => DateTime::parse_from_rfc3339(s)
            .map(|d| d.with_timezone(&Utc))
            .map_err(|_| {
                ServiceError::invalid("at", format!("'{s}' is not an RFC 3339 instant"))
            })?,
    };
    let query = OnDutyQuery {
        system: q.system.as_deref(),
        region: q.region.as_deref(),
        slot: q.slot.as_deref(),
    };
    let items = duty::on_duty(&st.platform, &p, at, &query).await?;
    Ok(Json(OnDutyList {
        at: at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        items: items.into_iter().map(Into::into).collect(),
    }))
}

/// Put another person on an assignment (duty.manage).
#[utoipa::path(post, path = "/api/v1/duty/assignments/{id}/override", tag = "duty", request_body = OverrideBody,
    params(("id" = i64, Path, description = "assignment id")),
    responses((status = 200, description = "the assignment", body = AssignmentOut)))]
pub async fn override_assignment(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<OverrideBody>,
) -> ApiResult<Json<AssignmentOut>> {
    let a = duty::override_assignment(
        &st.platform,
        &p,
        id,
        duty::OverrideRequest {
            person: b.person,
            reason: b.reason,
            version: b.version,
        },
    )
    .await?;
    Ok(Json(a.into()))
}

/// Overrides of a range.
#[utoipa::path(get, path = "/api/v1/duty/overrides", tag = "duty", params(RangeQuery),
    responses((status = 200, description = "overrides", body = OverrideList)))]
pub async fn overrides(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<RangeQuery>,
) -> ApiResult<Json<OverrideList>> {
    let (from, to) = span(&q, &st)?;
    let items = duty::overrides(&st.platform, &p, from, to).await?;
    Ok(Json(OverrideList {
        items: items.into_iter().map(Into::into).collect(),
    }))
}

/// Swap requests, newest first.
#[utoipa::path(get, path = "/api/v1/duty/swaps", tag = "duty", params(SwapParams),
    responses((status = 200, description = "swaps", body = SwapList)))]
pub async fn swaps(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<SwapParams>,
) -> ApiResult<Json<SwapList>> {
    let items = duty::swaps(&st.platform, &p, q.state.as_deref()).await?;
    Ok(Json(SwapList {
        items: items.into_iter().map(Into::into).collect(),
    }))
}

/// Request a swap of one's duty.
#[utoipa::path(post, path = "/api/v1/duty/swaps", tag = "duty", request_body = SwapBody,
    responses((status = 201, description = "requested", body = SwapOut)))]
pub async fn request_swap(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiJson(b): ApiJson<SwapBody>,
) -> ApiResult<(StatusCode, Json<SwapOut>)> {
    let s = duty::request_swap(
        &st.platform,
        &p,
        duty::SwapRequest {
            assignment_id: b.assignment_id,
            counterpart: b.counterpart,
            counter_assignment_id: b.counter_assignment_id,
            reason: b.reason,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(s.into())))
}

/// Approve (`approve`) or reject (`reject`) a requested swap (duty.manage, not the requester).
#[utoipa::path(post, path = "/api/v1/duty/swaps/{id}/{decision}", tag = "duty", request_body = DecisionBody,
    params(("id" = i64, Path, description = "swap id"), ("decision" = String, Path, description = "approve or reject")),
    responses((status = 200, description = "decided", body = SwapOut)))]
pub async fn decide_swap(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath((id, decision)): ApiPath<(i64, String)>,
    ApiJson(b): ApiJson<DecisionBody>,
) -> ApiResult<Json<SwapOut>> {
    let approve = match decision.as_str() {
        "approve" => true,
        "reject" => false,
        _ => return Err(ServiceError::NotFound(format!("action {decision}")).into()),
    };
    let s = duty::decide_swap(
        &st.platform,
        &p,
        id,
        approve,
        duty::SwapDecision {
            note: b.note,
            version: b.version,
        },
    )
    .await?;
    Ok(Json(s.into()))
}

/// Daily reports of a range.
#[utoipa::path(get, path = "/api/v1/duty/reports", tag = "duty", params(RangeQuery),
    responses((status = 200, description = "reports", body = ReportList)))]
pub async fn reports(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<RangeQuery>,
) -> ApiResult<Json<ReportList>> {
    let (from, to) = span(&q, &st)?;
    let items = duty::reports(&st.platform, &p, from, to).await?;
    Ok(Json(ReportList {
        items: items.into_iter().map(Into::into).collect(),
    }))
}

/// File the daily duty report of one's duty (DUTY-06); stops its reminder and escalation.
#[utoipa::path(post, path = "/api/v1/duty/reports", tag = "duty", request_body = ReportBody,
    responses((status = 201, description = "filed", body = ReportOut)))]
pub async fn file_report(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiJson(b): ApiJson<ReportBody>,
) -> ApiResult<(StatusCode, Json<ReportOut>)> {
    let r = duty::file_report(
        &st.platform,
        &p,
        duty::ReportRequest {
            assignment_id: b.assignment_id,
            fields: b.fields,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(r.into())))
}

/// Hand-over notes of a range.
#[utoipa::path(get, path = "/api/v1/duty/handovers", tag = "duty", params(RangeQuery),
    responses((status = 200, description = "notes", body = HandoverList)))]
pub async fn handovers(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<RangeQuery>,
) -> ApiResult<Json<HandoverList>> {
    let (from, to) = span(&q, &st)?;
    let items = duty::handovers(&st.platform, &p, from, to).await?;
    Ok(Json(HandoverList {
        items: items.into_iter().map(Into::into).collect(),
    }))
}

/// Add a hand-over note for the next shift.
#[utoipa::path(post, path = "/api/v1/duty/handovers", tag = "duty", request_body = HandoverBody,
    responses((status = 201, description = "added", body = HandoverOut)))]
pub async fn add_handover(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiJson(b): ApiJson<HandoverBody>,
) -> ApiResult<(StatusCode, Json<HandoverOut>)> {
    let h = duty::add_handover(
        &st.platform,
        &p,
        duty::HandoverRequest {
            date: b.date,
            slot: b.slot,
            shift: b.shift,
            note: b.note,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(h.into())))
}

/// Everyone's comp time of a month (DUTY-05).
#[utoipa::path(get, path = "/api/v1/duty/comp-time", tag = "duty", params(MonthParams),
    responses((status = 200, description = "statements", body = CompList)))]
pub async fn comp_time_all(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<MonthParams>,
) -> ApiResult<Json<CompList>> {
    let month = month_or_now(&st, &q.month);
    let items = duty::comp_time_all(&st.platform, &p, &month).await?;
    Ok(Json(CompList {
        month,
        items: items.into_iter().map(Into::into).collect(),
    }))
}

/// One person's comp-time statement of a month (DUTY-05).
#[utoipa::path(get, path = "/api/v1/duty/comp-time/{person}", tag = "duty",
    params(("person" = String, Path, description = "username"), MonthParams),
    responses((status = 200, description = "statement", body = CompStatementOut)))]
pub async fn comp_time(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(person): ApiPath<String>,
    ApiQuery(q): ApiQuery<MonthParams>,
) -> ApiResult<Json<CompStatementOut>> {
    let month = month_or_now(&st, &q.month);
    let s = duty::comp_time(&st.platform, &p, &person, &month).await?;
    Ok(Json(s.into()))
}

/// The month's comp time as XLSX (summary and lines).
#[utoipa::path(get, path = "/api/v1/duty/comp-time.xlsx", tag = "duty", params(MonthParams),
    responses((status = 200, description = "workbook", body = BinaryFile,
        content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")))]
pub async fn comp_time_xlsx(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<MonthParams>,
) -> ApiResult<Response> {
    let month = month_or_now(&st, &q.month);
    let bytes = duty::xlsx::export_comp_time(&st.platform, &p, &month).await?;
    Ok(file(bytes, XLSX, &format!("comp-time-{month}.xlsx")))
}

/// The roster of a range as XLSX, in the import layout.
#[utoipa::path(get, path = "/api/v1/duty/roster.xlsx", tag = "duty", params(RangeQuery),
    responses((status = 200, description = "workbook", body = BinaryFile,
        content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")))]
pub async fn roster_xlsx(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<RangeQuery>,
) -> ApiResult<Response> {
    let (from, to) = span(&q, &st)?;
    let bytes = duty::xlsx::export_roster(&st.platform, &p, from, to).await?;
    Ok(file(bytes, XLSX, &format!("roster-{from}-{to}.xlsx")))
}

/// Import a roster workbook (the raw XLSX bytes as the body, any content type). Bad cells are refused with sheet/row/column and nothing is stored;
/// without `publish=true` it is only checked.
#[utoipa::path(post, path = "/api/v1/duty/roster/import", tag = "duty", params(ImportParams),
    request_body(content = BinaryFile, content_type = "application/octet-stream"),
    responses((status = 200, description = "the roster and its coverage problems", body = RosterResultOut)))]
pub async fn import_roster(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<ImportParams>,
    body: axum::body::Bytes,
) -> ApiResult<Json<RosterResultOut>> {
    let r = duty::xlsx::import_roster(&st.platform, &p, &body, q.publish.unwrap_or(false)).await?;
    Ok(Json(r.into()))
}

/// A person's duties as an ICS calendar feed (RFC 5545).
#[utoipa::path(get, path = "/api/v1/duty/people/{person}/calendar.ics", tag = "duty",
    params(("person" = String, Path, description = "username")),
    responses((status = 200, description = "calendar", body = IcsText, content_type = "text/calendar")))]
pub async fn ics(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(person): ApiPath<String>,
) -> ApiResult<Response> {
    let text = duty::ics(&st.platform, &p, &person).await?;
    let mut r = (StatusCode::OK, text).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/calendar; charset=utf-8"),
    );
    Ok(r)
}
