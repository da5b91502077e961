//! Problem management use cases (issue 8, PRB-01..PRB-13): report (PRB-05/PRB-12, P1/P2 → managers told at
//! once through the outbox, PRB-06), respond, dispatch (PRB-02), resolve (PRB-08), analysis report and review
//! meeting with actions tracked to closure (PRB-09), letters to other departments with a reply deadline
//! (PRB-11), links to incidents / bugs / changes, archive (PRB-10). Every change is version-checked, written
//! with its history and an audit entry in one transaction.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tianshu_core::policy::PolicyPack;
use tianshu_core::problem::{
    close_blockers, deadlines, immediate_report_roles, retention_until, validate_report, ClockStep,
    ProblemDeadline, ProblemState, ProblemTimeline, ReportForm,
};
use tianshu_core::{Permission, ProblemLevel};
use tianshu_store::audit::{append, NewAuditEntry};
use tianshu_store::problems::{
    self as st, NewProblem, ProblemActionRow, ProblemEventRow, ProblemFilter, ProblemLinkRow,
    ProblemRow,
};
use tianshu_store::time::from_micros;
use tianshu_store::timers::{insert_outbox, NewOutbox};
use tianshu_store::StoreError;
use tianshu_workcal::{DeadlineBasis, WorkCalendar};

use crate::authz::{Principal, Scope};
use crate::{Platform, ServiceError, ServiceResult};

pub mod clocks;
pub mod meetings;

/// Link kinds a problem may point to.
pub const LINK_KINDS: [&str; 3] = ["incident", "bug", "change"];

/// CHG-21: a problem fix needing a system change goes through change management.
pub const CHANGE_RULE: &str = "CHG-21";

/// Whether the caller's scope covers the problem, read like incidents: province readers see every problem,
/// a branch-scoped reader those of their branch (region), a vendor's reader those dispatched to the vendor.
pub fn visible(actor: &Principal, r: &ProblemRow) -> bool {
    match actor.scope {
        Scope::Province => true,
        Scope::Region(g) => r.region_id == Some(g),
        Scope::Vendor(v) => r.vendor_org_id == Some(v),
    }
}

/// A problem outside the caller's scope is "not found" (404, like incidents), so its existence does not leak.
pub fn require_visible(actor: &Principal, r: &ProblemRow) -> ServiceResult<()> {
    if visible(actor, r) {
        Ok(())
    } else {
        Err(ServiceError::NotFound(format!("problem {}", r.id)))
    }
}

/// Narrows a list filter to the caller's scope.
pub fn scope_filter(actor: &Principal, f: &mut ProblemFilter) {
    match actor.scope {
        Scope::Province => {}
        Scope::Region(g) => f.region_id = Some(g),
        Scope::Vendor(v) => f.vendor_org_id = Some(v),
    }
}

/// The report form as received (PRB-12 附件一); times RFC 3339.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ReportInput {
    pub title: String,
    /// `P1`..`P5`; mandatory.
    #[serde(default)]
    pub level: Option<String>,
    pub category: String,
    pub source: String,
    /// RFC 3339.
    pub discovered_at: String,
    /// RFC 3339; default now.
    #[serde(default)]
    pub reported_at: Option<String>,
    pub symptom: String,
    pub impact: String,
    #[serde(default)]
    pub on_site_data: String,
    #[serde(default)]
    pub cause_analysis: String,
    /// Key of the organisation the problem concerns; its branch is the problem's region (who may read it).
    /// Default: the reporter's branch for a branch-scoped reporter, none (the centre's own) otherwise.
    #[serde(default)]
    pub org_key: Option<String>,
}

/// A move on a problem.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ProblemAction {
    /// The coordinator's first response (PRB-06).
    Respond,
    /// Dispatch to a handler (PRB-02, work order), optionally of a vendor organisation (whose users then see
    /// the problem); `needs_change` marks a fix that needs a system change (CHG-21).
    Dispatch {
        handler: String,
        #[serde(default)]
        vendor: Option<String>,
        #[serde(default)]
        needs_change: Option<bool>,
    },
    /// Result recorded; resolved when the PRB-08 criteria hold.
    Resolve {
        result: String,
        method: String,
        #[serde(default)]
        improvement: String,
        /// CHG-21: the fix needs a system change (default: as the work order says).
        #[serde(default)]
        needs_change: Option<bool>,
    },
    /// The analysis-and-handling report (PRB-09).
    Analysis { report: String },
    /// The review meeting's minutes and actions (PRB-09, P1/P2).
    Review {
        minutes: String,
        #[serde(default)]
        actions: Vec<ActionInput>,
    },
    /// Closes a review action.
    CloseAction {
        action_id: i64,
        action_version: i64,
        outcome: String,
    },
    /// A formal letter to another department with a reply deadline (PRB-11); RFC 3339, default from the pack.
    Letter {
        department: String,
        #[serde(default)]
        reply_due: Option<String>,
    },
    /// The department's written reply / confirmation (PRB-11).
    Reply { reply: String },
    /// Links an incident, bug or change.
    Link { kind: String, target: String },
    /// Hands the documents to the document administrator and closes (PRB-10).
    Archive,
}

/// A review action to track.
#[derive(Debug, Clone, Deserialize)]
pub struct ActionInput {
    pub text: String,
    pub owner: String,
    /// RFC 3339.
    pub due_at: String,
}

/// A problem as shown: the row, its deadlines, actions, links and history.
#[derive(Debug, Clone, Serialize)]
pub struct ProblemView {
    pub problem: ProblemRow,
    pub deadlines: Vec<DeadlineView>,
    /// Why it cannot be archived yet (empty: it can).
    pub close_blockers: Vec<String>,
    pub actions: Vec<ProblemActionRow>,
    pub links: Vec<ProblemLinkRow>,
    pub events: Vec<ProblemEventRow>,
    /// The durable deadline clocks, oldest first (finished ones stay with their outcome).
    pub clocks: Vec<ClockView>,
}

/// One durable deadline clock of a problem as shown.
#[derive(Debug, Clone, Serialize)]
pub struct ClockView {
    /// The deadline: response, dispatch, resolution, analysis_report, review_meeting, archive,
    /// department_reply.
    pub key: String,
    pub rule: String,
    /// The basis it counts, e.g. `10m`, `3d`, `5wd`.
    pub basis: String,
    pub calendar: String,
    /// Unix microseconds.
    pub started_at: i64,
    pub due_at: i64,
    /// running, met, breached, cancelled.
    pub state: String,
    pub stopped_at: Option<i64>,
    pub breached_at: Option<i64>,
}

impl From<tianshu_store::timers::ClockRow> for ClockView {
    fn from(c: tianshu_store::timers::ClockRow) -> Self {
        ClockView {
            key: c.clock_key,
            rule: c.rule,
            basis: c.basis,
            calendar: c.calendar,
            started_at: c.started_at,
            due_at: c.due_at,
            state: c.state,
            stopped_at: c.stopped_at,
            breached_at: c.breached_at,
        }
    }
}

/// One deadline as shown.
#[derive(Debug, Clone, Serialize)]
pub struct DeadlineView {
    pub kind: String,
    pub rule: String,
    /// Unix microseconds.
    pub due: i64,
    pub met_at: Option<i64>,
    pub overdue: bool,
}

fn time(field: &str, s: &str) -> ServiceResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| ServiceError::invalid(field, format!("'{s}' is not an RFC 3339 time: {e}")))
}

fn text(field: &str, v: &str, max: usize) -> ServiceResult<()> {
    let n = v.trim().chars().count();
    if n == 0 || n > max {
        return Err(ServiceError::invalid(
            field,
            format!("1 to {max} characters"),
        ));
    }
    Ok(())
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn opt_time(us: Option<i64>) -> Option<DateTime<Utc>> {
    us.map(from_micros)
}

fn timeline(r: &ProblemRow) -> Option<ProblemTimeline> {
    Some(ProblemTimeline {
        level: r.level.parse::<ProblemLevel>().ok()?,
        reported_at: from_micros(r.reported_at),
        responded_at: opt_time(r.responded_at),
        dispatched_at: opt_time(r.dispatched_at),
        resolved_at: opt_time(r.resolved_at),
        analysis_at: opt_time(r.analysis_at),
        meeting_at: opt_time(r.meeting_at),
        archived_at: opt_time(r.archived_at),
        letter: r
            .letter_at
            .zip(r.reply_due)
            .map(|(a, b)| (from_micros(a), from_micros(b))),
        replied_at: opt_time(r.replied_at),
    })
}

fn calendar(p: &Platform) -> ServiceResult<WorkCalendar> {
    let active = p.policy.current();
    let name = active.pack.calendars.default_calendar.clone();
    active.calendars.get(&name).cloned()
}

fn deadline_views(
    r: &ProblemRow,
    pack: &PolicyPack,
    cal: &WorkCalendar,
    now: DateTime<Utc>,
) -> Vec<DeadlineView> {
    let Some(t) = timeline(r) else {
        return Vec::new();
    };
    let ds: Vec<ProblemDeadline> = deadlines(&t, &pack.problem_levels, cal).unwrap_or_default();
    ds.into_iter()
        .map(|d| DeadlineView {
            kind: d.kind.as_str().to_string(),
            rule: d.rule.clone(),
            due: micros(d.due),
            met_at: d.met_at.map(micros),
            overdue: d.overdue(now),
        })
        .collect()
}

/// Reports a problem (PRB-05, PRB-12): the form is checked field by field; a P1/P2 is reported to the managers
/// of PRB-06 at once through the outbox, in the same write.
pub async fn report(
    p: &Platform,
    actor: &Principal,
    input: ReportInput,
) -> ServiceResult<ProblemView> {
    actor.require(Permission::ProblemManage)?;
    let now = p.clock.now();
    let pack = p.policy.current().pack.clone();
    let level = match input.level.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(l) => Some(
            l.parse::<ProblemLevel>()
                .map_err(|e| ServiceError::invalid("level", e.to_string()))?,
        ),
    };
    let discovered = time("discovered_at", &input.discovered_at)?;
    let (org_id, region_id, vendor_org_id) = match input
        .org_key
        .as_deref()
        .map(str::trim)
        .filter(|k| !k.is_empty())
    {
        Some(key) => {
            let org = p
                .directory
                .org_by_key(&p.store, key)
                .await?
                .ok_or_else(|| {
                    ServiceError::unknown_ref(
                        "org_key",
                        format!("no organisation '{key}'"),
                        format!("单位“{key}”不存在"),
                    )
                })?;
            // A branch-scoped reporter reports for their own branch only (as for incidents).
            actor.require_visible(org.region_id, org.id)?;
            let vendor = (org.kind == "vendor").then_some(org.id);
            (Some(org.id), org.region_id, vendor)
        }
        None => match actor.scope {
            Scope::Province => (None, None, None),
            Scope::Region(g) => (Some(actor.org_id), Some(g), None),
            Scope::Vendor(v) => (Some(v), None, Some(v)),
        },
    };
    let reported = match &input.reported_at {
        Some(s) => time("reported_at", s)?,
        None => now,
    };
    let form = ReportForm {
        title: input.title.trim().to_string(),
        level,
        category: input.category.trim().to_string(),
        source: input.source.trim().to_string(),
        discovered_at: Some(discovered),
        reported_at: Some(reported),
        reporter: actor.username.clone(),
        symptom: input.symptom.trim().to_string(),
        impact: input.impact.trim().to_string(),
        on_site_data: input.on_site_data,
        cause_analysis: input.cause_analysis,
    };
    if let Some(e) = validate_report(&form, &pack.problem_levels, now)
        .into_iter()
        .next()
    {
        return Err(ServiceError::invalid(e.field, e.message));
    }
    for (f, v) in [
        ("on_site_data", &form.on_site_data),
        ("cause_analysis", &form.cause_analysis),
    ] {
        if v.chars().count() > 20_000 {
            return Err(ServiceError::invalid(f, "at most 20000 characters"));
        }
    }
    let level = level.unwrap_or(ProblemLevel::P5);
    let roles: Vec<String> = immediate_report_roles(level, &pack.problem_levels).to_vec();
    let template = pack.problem_levels.immediate_report.template.clone();
    let rule = pack.problem_levels.immediate_report.rule.clone();
    let tz: chrono_tz::Tz = pack
        .pack
        .time_zone
        .parse()
        .unwrap_or(chrono_tz::Asia::Shanghai);
    let category_zh = pack
        .problem_levels
        .category(&form.category)
        .map(|c| c.name_zh.clone())
        .unwrap_or_default();
    let who = actor.actor();
    let now_us = micros(now);
    let pol = p.policy.current();
    let id = p
        .store
        .write(move |c| {
            Box::pin(async move {
                let mut row = st::insert_problem(
                    c,
                    &NewProblem {
                        title: form.title.clone(),
                        level: level.as_str().into(),
                        category: form.category.clone(),
                        source: form.source.clone(),
                        discovered_at: micros(discovered),
                        reported_at: micros(reported),
                        reporter: form.reporter.clone(),
                        symptom: form.symptom.clone(),
                        impact: form.impact.clone(),
                        on_site_data: form.on_site_data.clone(),
                        cause_analysis: form.cause_analysis.clone(),
                        org_id,
                        region_id,
                        vendor_org_id,
                        now: now_us,
                    },
                )
                .await?;
                st::insert_problem_event(c, row.id, now_us, "reported", &who, &json!({"level": row.level, "category": row.category}))
                    .await?;
                // PRB-01/PRB-02: the response, dispatch and resolution clocks run from the report, in this write.
                clocks::start_step(c, &pol, &row, ClockStep::Report, row.reported_at).await?;
                if !roles.is_empty() {
                    let fmt = |us: i64| from_micros(us).with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string();
                    insert_outbox(
                        c,
                        NewOutbox {
                            idempotency_key: format!("problem:{}:immediate", row.id),
                            subject_kind: "problem".into(),
                            subject_id: row.id.to_string(),
                            template: template.clone(),
                            recipients: json!({"classes": [], "roles": roles, "on_duty": []}),
                            context: json!({
                                "problem_id": row.id.to_string(),
                                "level": row.level,
                                "title": row.title,
                                "category": category_zh,
                                "impact": row.impact,
                                "reported_at": fmt(row.reported_at),
                                "reporter": row.reporter,
                            }),
                            cause: format!("problem:immediate:{rule}"),
                            state: "queued".into(),
                            created_at: now_us,
                        },
                    )
                    .await?;
                    row.managers_told_at = Some(now_us);
                    st::insert_problem_event(c, row.id, now_us, "managers_told", "system", &json!({"rule": rule, "roles": roles}))
                        .await?;
                    row = st::save_problem(c, &row, now_us).await?;
                }
                append(
                    c,
                    NewAuditEntry {
                        actor: who.clone(),
                        action: "problem.report".into(),
                        object_type: "problem".into(),
                        object_id: row.id.to_string(),
                        before: None,
                        after: Some(json!({"level": row.level, "title": row.title, "category": row.category})),
                        request_id: None,
                        at: now_us,
                    },
                )
                .await?;
                Ok(row.id)
            })
        })
        .await?;
    get(p, actor, id).await
}

/// One problem with its deadlines, actions, links and history.
pub async fn get(p: &Platform, actor: &Principal, id: i64) -> ServiceResult<ProblemView> {
    actor.require(Permission::ProblemRead)?;
    let row = p
        .store
        .problem(id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("problem {id}")))?;
    require_visible(actor, &row)?;
    let pack = p.policy.current().pack.clone();
    let cal = calendar(p)?;
    let actions = p.store.problem_actions(id).await?;
    let open = actions.iter().filter(|a| a.closed_at.is_none()).count();
    let blockers = timeline(&row)
        .map(|t| close_blockers(&t, open, &pack.problem_levels))
        .unwrap_or_default();
    Ok(ProblemView {
        deadlines: deadline_views(&row, &pack, &cal, p.clock.now()),
        close_blockers: if row.state == ProblemState::Closed.as_str() {
            Vec::new()
        } else {
            blockers
        },
        actions,
        links: visible_links(p, actor, p.store.problem_links(id).await?).await?,
        events: visible_events(p, actor, p.store.problem_events(id).await?).await?,
        clocks: p
            .store
            .clocks_of(clocks::KIND, &id.to_string())
            .await?
            .into_iter()
            .map(ClockView::from)
            .collect(),
        problem: row,
    })
}

/// Whether the caller may see the incident a link names (by number or id). One outside their scope is left out:
/// its number would disclose it, as a problem's id would on a ticket (`incidents::view`).
async fn incident_target_visible(
    p: &Platform,
    actor: &Principal,
    target: &str,
) -> ServiceResult<bool> {
    if !actor.can(Permission::IncidentRead) {
        return Ok(false);
    }
    if actor.scope == Scope::Province {
        return Ok(true);
    }
    let t = target.trim();
    let id = match p.store.incident_id_by_number(t).await? {
        Some(id) => Some(id),
        None => t.parse::<i64>().ok(),
    };
    // A target naming no stored ticket discloses nothing.
    let Some(id) = id else {
        return Ok(true);
    };
    Ok(match p.store.incident(id).await? {
        Some(i) => crate::incidents::require_visible(actor, &i).is_ok(),
        None => true,
    })
}

async fn visible_links(
    p: &Platform,
    actor: &Principal,
    links: Vec<ProblemLinkRow>,
) -> ServiceResult<Vec<ProblemLinkRow>> {
    let mut out = Vec::with_capacity(links.len());
    for l in links {
        if l.kind != "incident" || incident_target_visible(p, actor, &l.target).await? {
            out.push(l);
        }
    }
    Ok(out)
}

/// The history without the `linked` entries of incidents the caller may not see.
async fn visible_events(
    p: &Platform,
    actor: &Principal,
    events: Vec<ProblemEventRow>,
) -> ServiceResult<Vec<ProblemEventRow>> {
    let mut out = Vec::with_capacity(events.len());
    for e in events {
        if e.kind == "linked" {
            let data: serde_json::Value = serde_json::from_str(&e.data).unwrap_or_default();
            if data["kind"] == "incident"
                && !incident_target_visible(p, actor, data["target"].as_str().unwrap_or_default())
                    .await?
            {
                continue;
            }
        }
        out.push(e);
    }
    Ok(out)
}

/// A problem in a list, with its deadlines.
#[derive(Debug, Clone, Serialize)]
pub struct ProblemListItem {
    pub problem: ProblemRow,
    pub deadlines: Vec<DeadlineView>,
    /// Whether any deadline is overdue now.
    pub overdue: bool,
}

/// Problems matching `filter`, newest first, paged by id.
pub async fn list(
    p: &Platform,
    actor: &Principal,
    mut filter: ProblemFilter,
    before: Option<i64>,
    limit: i64,
) -> ServiceResult<Vec<ProblemListItem>> {
    actor.require(Permission::ProblemRead)?;
    scope_filter(actor, &mut filter);
    if let Some(s) = &filter.state {
        if ![
            ProblemState::Reported,
            ProblemState::Dispatched,
            ProblemState::Resolved,
            ProblemState::Closed,
        ]
        .iter()
        .any(|x| x.as_str() == s)
        {
            return Err(ServiceError::invalid(
                "state",
                "expected reported, dispatched, resolved or closed",
            ));
        }
    }
    if let Some(l) = &filter.level {
        l.parse::<ProblemLevel>()
            .map_err(|e| ServiceError::invalid("level", e.to_string()))?;
    }
    if !(1..=200).contains(&limit) {
        return Err(ServiceError::invalid("limit", "1 to 200"));
    }
    let pack = p.policy.current().pack.clone();
    let cal = calendar(p)?;
    let now = p.clock.now();
    let rows = p
        .store
        .problems_page(before.unwrap_or(i64::MAX), limit, &filter)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let deadlines = deadline_views(&r, &pack, &cal, now);
            ProblemListItem {
                overdue: deadlines.iter().any(|d| d.overdue && d.met_at.is_none()),
                deadlines,
                problem: r,
            }
        })
        .collect())
}

fn refuse(state: &str, what: &str) -> StoreError {
    StoreError::Conflict {
        field: "state".into(),
        message: format!("the problem is {state}; it cannot be {what}"),
    }
}

/// Applies one move to problem `id` at `version` (version-checked, audited, recorded in the history).
pub async fn act(
    p: &Platform,
    actor: &Principal,
    id: i64,
    version: i64,
    action: ProblemAction,
) -> ServiceResult<ProblemView> {
    actor.require(Permission::ProblemManage)?;
    let now = p.clock.now();
    let now_us = micros(now);
    let pack = p.policy.current().pack.clone();
    let cal = calendar(p)?;
    // Out of the caller's scope: not found, before anything else is said about it.
    let current = p
        .store
        .problem(id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("problem {id}")))?;
    require_visible(actor, &current)?;
    // Validate input before touching the database.
    let mut actions_due = Vec::new();
    let mut vendor_org = None;
    let mut reply_due = None;
    let mut reply_basis = None;
    match &action {
        ProblemAction::Dispatch {
            handler, vendor, ..
        } => {
            text("handler", handler, 100)?;
            if let Some(key) = vendor.as_deref().map(str::trim).filter(|k| !k.is_empty()) {
                let org = p
                    .directory
                    .org_by_key(&p.store, key)
                    .await?
                    .ok_or_else(|| {
                        ServiceError::unknown_ref(
                            "vendor",
                            format!("no organisation '{key}'"),
                            format!("单位“{key}”不存在"),
                        )
                    })?;
                if org.kind != "vendor" {
                    return Err(ServiceError::invalid(
                        "vendor",
                        format!("'{key}' is a {} organisation, not a vendor", org.kind),
                    ));
                }
                vendor_org = Some(org.id);
            }
        }
        ProblemAction::Resolve {
            result,
            method,
            improvement,
            ..
        } => {
            text("result", result, 4000)?;
            text("method", method, 4000)?;
            if improvement.chars().count() > 4000 {
                return Err(ServiceError::invalid(
                    "improvement",
                    "at most 4000 characters",
                ));
            }
        }
        ProblemAction::Analysis { report } => text("report", report, 20_000)?,
        ProblemAction::Review { minutes, actions } => {
            text("minutes", minutes, 20_000)?;
            for (i, a) in actions.iter().enumerate() {
                text(&format!("actions[{i}].text"), &a.text, 2000)?;
                text(&format!("actions[{i}].owner"), &a.owner, 100)?;
                actions_due.push(micros(time(&format!("actions[{i}].due_at"), &a.due_at)?));
            }
        }
        ProblemAction::CloseAction { outcome, .. } => text("outcome", outcome, 4000)?,
        ProblemAction::Letter {
            department,
            reply_due: due,
        } => {
            text("department", department, 200)?;
            let default = &pack.problem_levels.other_department.default_reply;
            let d = match due {
                Some(s) => time("reply_due", s)?,
                None => cal
                    .deadline(default, now, &[])
                    .map_err(|e| ServiceError::Internal(e.to_string()))?,
            };
            if d <= now {
                return Err(ServiceError::invalid(
                    "reply_due",
                    "PRB-11: the reply deadline must be in the future",
                ));
            }
            reply_due = Some(micros(d));
            // The reply clock counts the pack's basis, or the letter's own deadline as whole seconds rounded
            // up, so it never falls due before the deadline the letter states.
            reply_basis = Some(match due {
                None => default.clone(),
                Some(_) => DeadlineBasis::WallClock {
                    seconds: (micros(d) - now_us + 999_999) / 1_000_000,
                },
            });
        }
        ProblemAction::Reply { reply } => text("reply", reply, 20_000)?,
        ProblemAction::Link { kind, target } => {
            if !LINK_KINDS.contains(&kind.as_str()) {
                return Err(ServiceError::invalid(
                    "kind",
                    "expected incident, bug or change",
                ));
            }
            text("target", target, 100)?;
        }
        ProblemAction::Respond | ProblemAction::Archive => {}
    }
    let who = actor.actor();
    let retention = pack.problem_levels.clone();
    let pol = p.policy.current();
    p.store
        .write(move |c| {
            Box::pin(async move {
                let Some(mut r) = st::problem_for_update(c, id).await? else {
                    return Err(StoreError::NotFound(format!("problem {id}")));
                };
                if r.version != version {
                    return Err(StoreError::Stale(format!("problem {id}")));
                }
                let closed = r.state == ProblemState::Closed.as_str();
                let (kind, data) = match &action {
                    ProblemAction::Respond => {
                        if r.responded_at.is_some() || closed {
                            return Err(refuse(&r.state, "responded to again"));
                        }
                        r.responded_at = Some(now_us);
                        r.coordinator = Some(who.clone());
                        ("responded", json!({}))
                    }
                    ProblemAction::Dispatch {
                        handler,
                        needs_change,
                        ..
                    } => {
                        if r.state != ProblemState::Reported.as_str()
                            && r.state != ProblemState::Dispatched.as_str()
                        {
                            return Err(refuse(&r.state, "dispatched"));
                        }
                        r.state = ProblemState::Dispatched.as_str().into();
                        r.dispatcher = Some(who.clone());
                        r.dispatched_at.get_or_insert(now_us);
                        r.handler = Some(handler.trim().to_string());
                        // A re-dispatch to a handler of our own takes the problem away from the vendor.
                        r.vendor_org_id = vendor_org;
                        if let Some(n) = needs_change {
                            r.needs_change = *n;
                        }
                        r.responded_at.get_or_insert(now_us);
                        (
                            "dispatched",
                            json!({"handler": handler.trim(), "vendor_org_id": vendor_org, "needs_change": r.needs_change}),
                        )
                    }
                    ProblemAction::Resolve {
                        result,
                        method,
                        improvement,
                        needs_change,
                    } => {
                        if r.state == ProblemState::Resolved.as_str() || closed {
                            return Err(refuse(&r.state, "resolved again"));
                        }
                        // CHG-21 (PRB-06/07): a fix needing a system change goes through change management,
                        // so the problem is resolved only once the change is linked.
                        let needs = needs_change.unwrap_or(r.needs_change);
                        if needs && st::link_count(c, id, "change").await? == 0 {
                            return Err(StoreError::Conflict {
                                field: "needs_change".into(),
                                message: format!(
                                    "{CHANGE_RULE}: the fix needs a system change; link the change (release or cut-over) before resolving"
                                ),
                            });
                        }
                        r.needs_change = needs;
                        r.state = ProblemState::Resolved.as_str().into();
                        r.resolved_at = Some(now_us);
                        r.handled_at = Some(now_us);
                        r.result = Some(result.trim().to_string());
                        r.method = Some(method.trim().to_string());
                        r.improvement = Some(improvement.trim().to_string());
                        if r.handler.is_none() {
                            // PRB-06: the coordinator fixed it directly.
                            r.handler = Some(who.clone());
                        }
                        r.responded_at.get_or_insert(now_us);
                        (
                            "resolved",
                            json!({"result": result.trim(), "needs_change": needs}),
                        )
                    }
                    ProblemAction::Analysis { report } => {
                        if r.resolved_at.is_none() || closed {
                            return Err(refuse(
                                &r.state,
                                "given an analysis report (PRB-09 follows resolution)",
                            ));
                        }
                        r.analysis_report = Some(report.trim().to_string());
                        r.analysis_at = Some(now_us);
                        ("analysis", json!({}))
                    }
                    ProblemAction::Review { minutes, actions } => {
                        if r.resolved_at.is_none() || closed {
                            return Err(refuse(&r.state, "reviewed (PRB-09 follows resolution)"));
                        }
                        r.meeting_minutes = Some(minutes.trim().to_string());
                        r.meeting_at = Some(now_us);
                        for (a, due) in actions.iter().zip(&actions_due) {
                            st::insert_action(
                                c,
                                id,
                                a.text.trim(),
                                a.owner.trim(),
                                *due,
                                &who,
                                now_us,
                            )
                            .await?;
                        }
                        ("review_meeting", json!({"actions": actions.len()}))
                    }
                    ProblemAction::CloseAction {
                        action_id,
                        action_version,
                        outcome,
                    } => {
                        st::close_action(
                            c,
                            id,
                            *action_id,
                            *action_version,
                            outcome.trim(),
                            &who,
                            now_us,
                        )
                        .await?;
                        ("action_closed", json!({"action_id": action_id}))
                    }
                    ProblemAction::Letter { department, .. } => {
                        if closed {
                            return Err(refuse(&r.state, "sent a letter"));
                        }
                        r.other_department = Some(department.trim().to_string());
                        r.letter_at = Some(now_us);
                        r.reply_due = reply_due;
                        r.replied_at = None;
                        r.reply = None;
                        (
                            "letter",
                            json!({"department": department.trim(), "reply_due": reply_due}),
                        )
                    }
                    ProblemAction::Reply { reply } => {
                        if r.letter_at.is_none() {
                            return Err(StoreError::Conflict {
                                field: "reply".into(),
                                message: "PRB-11: no letter has been sent to another department"
                                    .into(),
                            });
                        }
                        r.reply = Some(reply.trim().to_string());
                        r.replied_at = Some(now_us);
                        ("reply", json!({}))
                    }
                    ProblemAction::Link { kind, target } => {
                        st::insert_link(c, id, kind, target.trim(), &who, now_us).await?;
                        ("linked", json!({"kind": kind, "target": target.trim()}))
                    }
                    ProblemAction::Archive => {
                        let open = st::open_action_count(c, id).await?;
                        let t = timeline(&r).ok_or_else(|| StoreError::Conflict {
                            field: "level".into(),
                            message: "unknown level".into(),
                        })?;
                        let blockers = close_blockers(
                            &t,
                            usize::try_from(open).unwrap_or(usize::MAX),
                            &retention,
                        );
                        if !blockers.is_empty() || closed {
                            return Err(StoreError::Conflict {
                                field: "state".into(),
                                message: if closed {
                                    "the problem is already closed".into()
                                } else {
                                    blockers.join("; ")
                                },
                            });
                        }
                        r.state = ProblemState::Closed.as_str().into();
                        r.archived_at = Some(now_us);
                        r.archived_by = Some(who.clone());
                        r.retain_until = Some(micros(retention_until(now, &retention)));
                        ("archived", json!({"retain_until": r.retain_until}))
                    }
                };
                st::insert_problem_event(c, id, now_us, kind, &who, &data).await?;
                let r = st::save_problem(c, &r, now_us).await?;
                // The durable clocks change in the same write as the step: those it satisfies stop, those it
                // starts start (PRB-09 / PRB-10 from the resolution, PRB-11 from the letter).
                clocks::stop_for(c, id, kind, now_us).await?;
                match (kind, &reply_basis) {
                    ("resolved", _) => {
                        clocks::start_step(c, &pol, &r, ClockStep::Resolution, now_us).await?
                    }
                    ("letter", Some(b)) => {
                        clocks::start_reply(c, &pol, &r, b.clone(), now_us).await?
                    }
                    _ => {}
                }
                append(
                    c,
                    NewAuditEntry {
                        actor: who.clone(),
                        action: format!("problem.{kind}"),
                        object_type: "problem".into(),
                        object_id: id.to_string(),
                        before: None,
                        after: Some(json!({"state": r.state, "data": data})),
                        request_id: None,
                        at: now_us,
                    },
                )
                .await?;
                Ok(())
            })
        })
        .await?;
    get(p, actor, id).await
}

/// One count of the monthly report.
#[derive(Debug, Clone, Serialize)]
pub struct CountRow {
    pub key: String,
    pub count: i64,
}

/// One problem of the monthly report.
#[derive(Debug, Clone, Serialize)]
pub struct MonthlyLine {
    pub id: i64,
    pub level: String,
    pub category: String,
    pub title: String,
    pub state: String,
    pub cause: String,
    pub result: String,
    /// Any deadline missed (met late or still open past due).
    pub overdue: bool,
}

/// PRB-09 monthly problem report: the problems reported in a month by type, count, cause and result.
#[derive(Debug, Clone, Serialize)]
pub struct MonthlyReport {
    /// `YYYY-MM`.
    pub month: String,
    pub rule: String,
    pub total: i64,
    pub by_level: Vec<CountRow>,
    pub by_category: Vec<CountRow>,
    pub by_state: Vec<CountRow>,
    pub overdue: i64,
    pub problems: Vec<MonthlyLine>,
}

/// PRB-09: the monthly problem report for `month` (`YYYY-MM`, local calendar month of the centre).
pub async fn monthly_report(
    p: &Platform,
    actor: &Principal,
    month: &str,
) -> ServiceResult<MonthlyReport> {
    use chrono::{Datelike, NaiveDate};
    actor.require(Permission::ProblemRead)?;
    let bad =
        || ServiceError::invalid("month", format!("'{month}' is not a month such as 2026-11"));
    let first = NaiveDate::parse_from_str(&format!("{}-01", month.trim()), "%Y-%m-%d")
        .map_err(|_| bad())?;
    if !(2000..=2100).contains(&first.year()) {
        return Err(bad());
    }
    let pack = p.policy.current().pack.clone();
    let tz: chrono_tz::Tz = pack
        .pack
        .time_zone
        .parse()
        .unwrap_or(chrono_tz::Asia::Shanghai);
    let (from, to) = month_bounds(tz, first).ok_or_else(bad)?;
    let rows: Vec<ProblemRow> = p
        .store
        .problems_reported_between(from, to)
        .await?
        .into_iter()
        .filter(|r| visible(actor, r))
        .collect();
    let cal = calendar(p)?;
    Ok(summarise(first, &rows, &pack, &cal, p.clock.now()))
}

/// The instants `[from, to)` of the local calendar month starting on `first`.
pub(crate) fn month_bounds(tz: chrono_tz::Tz, first: chrono::NaiveDate) -> Option<(i64, i64)> {
    use chrono::TimeZone;
    let start = |d: chrono::NaiveDate| {
        d.and_hms_opt(0, 0, 0)
            .and_then(|n| tz.from_local_datetime(&n).earliest())
            .map(|t| t.with_timezone(&Utc).timestamp_micros())
    };
    Some((
        start(first)?,
        start(first.checked_add_months(chrono::Months::new(1))?)?,
    ))
}

/// PRB-09: the monthly report of the problems reported in the month starting on `first`, as of `now`.
pub(crate) fn summarise(
    first: chrono::NaiveDate,
    rows: &[ProblemRow],
    pack: &PolicyPack,
    cal: &WorkCalendar,
    now: DateTime<Utc>,
) -> MonthlyReport {
    let count = |key: &dyn Fn(&ProblemRow) -> String| {
        let mut m: std::collections::BTreeMap<String, i64> = std::collections::BTreeMap::new();
        for r in rows {
            *m.entry(key(r)).or_default() += 1;
        }
        m.into_iter()
            .map(|(key, count)| CountRow { key, count })
            .collect::<Vec<_>>()
    };
    let problems: Vec<MonthlyLine> = rows
        .iter()
        .map(|r| MonthlyLine {
            id: r.id,
            level: r.level.clone(),
            category: r.category.clone(),
            title: r.title.clone(),
            state: r.state.clone(),
            cause: r
                .analysis_report
                .clone()
                .unwrap_or_else(|| r.cause_analysis.clone()),
            result: r.result.clone().unwrap_or_default(),
            overdue: deadline_views(r, pack, cal, now).iter().any(|d| d.overdue),
        })
        .collect();
    MonthlyReport {
        month: first.format("%Y-%m").to_string(),
        rule: pack.problem_levels.review.rule.clone(),
        total: rows.len() as i64,
        by_level: count(&|r| r.level.clone()),
        by_category: count(&|r| r.category.clone()),
        by_state: count(&|r| r.state.clone()),
        overdue: problems.iter().filter(|l| l.overdue).count() as i64,
        problems,
    }
}
