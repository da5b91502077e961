//! The adapter between stored incident rows and the pure rules of `tianshu_core::incident`:
//! parsing vocabulary, building the contexts the rules need, and turning their answers into
//! stored values, clocks and messages.

use std::str::FromStr;

use serde::{Deserialize, Serialize};
use tianshu_core::incident::{
    self as rules_core, Action, ActorCtx, CauseClass, CentreFacts, HandoffKind, IncidentCtx,
    IncidentFacts, IncidentState, LevelChange, LevelReason, RecurrenceKind, SourceChannel,
    TransitionError,
};
use tianshu_core::kpi::complaint::CS_LEVEL_MAX;
use tianshu_core::{ComplaintLevel, FaultLevel, Permission};
use tianshu_store::incidents::Incident;

use crate::authz::Principal;
use crate::error::{ServiceError, ServiceResult};
use crate::policy::ActivePolicy;

/// Severity facts as a client sends them (every field optional).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FactsInput {
    pub affected_users: Option<u64>,
    pub complaints: Option<u64>,
    pub gold_diamond_complaints: Option<u64>,
    pub hot_outage_minutes: Option<u64>,
    pub non_hot_outage_minutes: Option<u64>,
    pub interface_outage_minutes: Option<u64>,
    pub cs_level: Option<u8>,
    pub potential: Vec<String>,
    /// SEV-06: the fault affects customers' communication / business handling / query.
    pub affects_customers: Option<bool>,
    pub possibly_affected_users: Option<u64>,
    pub possible_complaints: Option<u64>,
    pub system_outage_minutes: Option<u64>,
    pub function_outage_minutes: Option<u64>,
    // ESC-07 (centre manager) facts; see `tianshu_core::incident::CentreFacts`.
    pub comm_failure_complaints: Option<u64>,
    pub possibly_comm_failure_users: Option<u64>,
    pub wrong_suspension_complaints: Option<u64>,
    pub possibly_wrong_suspension_users: Option<u64>,
    pub billing_anomaly_complaints: Option<u64>,
    pub possibly_billing_anomaly_users: Option<u64>,
    pub self_service_detail_outage_minutes: Option<u64>,
    pub core_login_outage_minutes: Option<u64>,
    pub data_loss_unfixed_minutes: Option<u64>,
    pub red_list_customers: Option<u64>,
    pub recurrence: Option<String>,
    pub core_interface_outage_minutes: Option<u64>,
}

fn cs_level_error() -> ServiceError {
    ServiceError::invalid_zh(
        "facts.cs_level",
        "must be 1–4 (CS1–CS4)",
        "客服投诉等级须为 1–4（CS1–CS4）",
    )
}

/// Validated facts as a client sends them: [`facts`], with the complaint level on the CS1…CS4 scale (C-6, SEV-08).
pub fn facts_input(f: &FactsInput, pol: &ActivePolicy) -> ServiceResult<IncidentFacts> {
    if f.cs_level.is_some_and(|n| n > CS_LEVEL_MAX) {
        return Err(cs_level_error());
    }
    facts(f, pol)
}

/// Validated facts in the rules' type. Stored tickets are read with this too; the scale's upper bound is checked
/// on input only ([`facts_input`]) because tickets stored before it was may hold CS5 or above and must stay workable.
pub fn facts(f: &FactsInput, pol: &ActivePolicy) -> ServiceResult<IncidentFacts> {
    let cs_level = match f.cs_level {
        None => None,
        Some(n) => Some(ComplaintLevel::new(n).ok_or_else(cs_level_error)?),
    };
    for (i, k) in f.potential.iter().enumerate() {
        if pol.pack.fault_levels.potential(k).is_none() {
            return Err(ServiceError::invalid_zh(
                format!("facts.potential[{i}]"),
                format!("unknown criterion '{k}'"),
                format!("未知的潜在影响判据“{k}”"),
            ));
        }
    }
    let recurrence = match &f.recurrence {
        None => None,
        Some(k) => Some(RecurrenceKind::from_str(k).map_err(|e| {
            ServiceError::invalid_zh(
                "facts.recurrence",
                e,
                "反复故障类型须为 system_login_instability 或 self_service_login_failure",
            )
        })?),
    };
    Ok(IncidentFacts {
        centre: CentreFacts {
            comm_failure_complaints: f.comm_failure_complaints.unwrap_or(0),
            possibly_comm_failure_users: f.possibly_comm_failure_users,
            wrong_suspension_complaints: f.wrong_suspension_complaints.unwrap_or(0),
            possibly_wrong_suspension_users: f.possibly_wrong_suspension_users,
            billing_anomaly_complaints: f.billing_anomaly_complaints.unwrap_or(0),
            possibly_billing_anomaly_users: f.possibly_billing_anomaly_users,
            self_service_detail_outage_minutes: f.self_service_detail_outage_minutes,
            core_login_outage_minutes: f.core_login_outage_minutes,
            data_loss_unfixed_minutes: f.data_loss_unfixed_minutes,
            red_list_customers: f.red_list_customers.unwrap_or(0),
            recurrence,
            core_interface_outage_minutes: f.core_interface_outage_minutes,
        },
        affected_users: f.affected_users,
        complaints: f.complaints.unwrap_or(0),
        gold_diamond_complaints: f.gold_diamond_complaints.unwrap_or(0),
        hot_outage_minutes: f.hot_outage_minutes,
        non_hot_outage_minutes: f.non_hot_outage_minutes,
        interface_outage_minutes: f.interface_outage_minutes,
        cs_level,
        potential: f.potential.clone(),
        affects_customers: f.affects_customers.unwrap_or(false),
        possibly_affected_users: f.possibly_affected_users,
        possible_complaints: f.possible_complaints,
        system_outage_minutes: f.system_outage_minutes,
        function_outage_minutes: f.function_outage_minutes,
    })
}

/// The master's facts with every merged report counted in (DUP-01; clones and children never count).
pub fn with_merged(
    master: &IncidentFacts,
    merged: &[Incident],
    pol: &ActivePolicy,
) -> ServiceResult<IncidentFacts> {
    let mut reports = Vec::with_capacity(merged.len());
    for m in merged {
        let f: FactsInput = serde_json::from_str(&m.facts).unwrap_or_default();
        reports.push(facts(&f, pol)?);
    }
    Ok(rules_core::aggregate(master, &reports))
}

/// A stored level reason (both languages), as views read it back.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LevelReasonOut {
    pub rule: String,
    pub criterion: String,
    pub level: String,
    pub text_zh: String,
    pub text_en: String,
}

/// A level decision in stored form.
pub struct Assess {
    pub level: String,
    pub reasons: Vec<LevelReason>,
    pub raised: bool,
    pub would_lower: bool,
}

/// SEV-07 reassessment: raised automatically, never lowered.
pub fn assess(
    current: Option<&str>,
    f: &IncidentFacts,
    pol: &ActivePolicy,
) -> ServiceResult<Assess> {
    let cur = current.and_then(|c| FaultLevel::from_str(c).ok());
    let a = rules_core::reassess(cur, f, &pol.pack.fault_levels)
        .map_err(|e| ServiceError::invalid("facts.potential", e.to_string()))?;
    Ok(Assess {
        level: a.level.as_str().to_string(),
        reasons: a.reasons,
        raised: matches!(a.change, LevelChange::Raised { .. } | LevelChange::Initial),
        would_lower: matches!(a.change, LevelChange::WouldLower { .. }),
    })
}

/// SEV-07 manual lowering checks.
pub fn check_lower(current: &str, to: &str, reason: &str) -> ServiceResult<()> {
    let from = FaultLevel::from_str(current).map_err(|e| ServiceError::Internal(e.to_string()))?;
    let to_l = FaultLevel::from_str(to).map_err(|_| {
        ServiceError::invalid_zh("level", "must be general or FL1", "等级须为 general 或 FL1")
    })?;
    rules_core::lower_manually(from, to_l, reason)
        .map(|_| ())
        .map_err(|e| match e {
            rules_core::LowerError::ReasonRequired => {
                ServiceError::invalid_zh("reason", e.to_string(), "降级必须填写原因（SEV-07）")
            }
            rules_core::LowerError::NotLower { .. } => {
                ServiceError::invalid_zh("level", e.to_string(), "只能降到比当前更低的等级")
            }
        })
}

/// Where a new ticket starts.
pub fn initial_state(pol: &ActivePolicy) -> String {
    pol.pack.incident_workflow.initial.as_str().to_string()
}

/// Where a dispatch child starts: handed to its team, awaiting their reply.
pub fn child_initial_state() -> String {
    IncidentState::HandedOff.as_str().to_string()
}

/// A dispatch child whose team replied that it is done.
pub fn child_done_state() -> String {
    IncidentState::Closed.as_str().to_string()
}

/// Whether no more work happens on a ticket in this state.
pub fn is_finished(state: &str) -> bool {
    IncidentState::from_str(state)
        .map(|s| !s.is_open())
        .unwrap_or(false)
}

fn open_children(children: &[Incident]) -> usize {
    children
        .iter()
        .filter(|c| c.child_kind.as_deref() != Some("clone") && !is_finished(&c.state))
        .count()
}

/// Owned values the workflow's guard contexts borrow.
struct Guards {
    perms: Vec<Permission>,
    uid: String,
    handler: Option<String>,
    open: usize,
}

impl Guards {
    fn of(i: &Incident, children: &[Incident], actor: &Principal) -> Guards {
        Guards {
            perms: actor.permissions.iter().copied().collect(),
            uid: actor.user_id.to_string(),
            handler: i.handler_id.map(|h| h.to_string()),
            open: open_children(children),
        }
    }

    fn actor(&self) -> ActorCtx<'_> {
        ActorCtx {
            user_id: &self.uid,
            permissions: &self.perms,
        }
    }

    /// Open dispatch children are also the open hand-offs: each child is one hand-off (INC-03).
    fn incident(&self) -> IncidentCtx<'_> {
        IncidentCtx {
            handler_id: self.handler.as_deref(),
            open_children: self.open,
            open_handoffs: self.open,
        }
    }
}

/// The actions `actor` may take now (none on a merged report: it lives on under its master).
pub fn allowed(
    pol: &ActivePolicy,
    i: &Incident,
    children: &[Incident],
    actor: &Principal,
) -> Vec<String> {
    if i.master_id.is_some() {
        return Vec::new();
    }
    let Ok(state) = IncidentState::from_str(&i.state) else {
        return Vec::new();
    };
    let g = Guards::of(i, children, actor);
    rules_core::allowed_actions(
        &pol.pack.incident_workflow,
        state,
        &g.actor(),
        &g.incident(),
    )
    .into_iter()
    .map(|a| a.as_str().to_string())
    .collect()
}

/// What a permitted move does to the row.
pub struct Outcome {
    pub to: String,
    pub sets_auditor: bool,
    pub resolves: bool,
    pub closes: bool,
    pub reopens: bool,
    pub sets_handler: bool,
}

/// Applies `action` under the pack's workflow; a refusal lists the allowed actions.
pub fn transition(
    pol: &ActivePolicy,
    i: &Incident,
    children: &[Incident],
    actor: &Principal,
    action: &str,
    input: &super::ActionInput,
) -> ServiceResult<Outcome> {
    let allowed_now = || allowed(pol, i, children, actor);
    let act = Action::from_str(action).map_err(|_| ServiceError::Transition {
        code: "unknown_action",
        message: format!("unknown action '{action}'"),
        allowed: allowed_now(),
    })?;
    if i.master_id.is_some() {
        return Err(ServiceError::Transition {
            code: "merged_report",
            message: "this report is merged under a master ticket; act on the master or unmerge it"
                .into(),
            allowed: Vec::new(),
        });
    }
    let state =
        IncidentState::from_str(&i.state).map_err(|e| ServiceError::Internal(e.to_string()))?;
    let g = Guards::of(i, children, actor);
    let to = rules_core::transition(
        &pol.pack.incident_workflow,
        state,
        act,
        &g.actor(),
        &g.incident(),
        input.reason.as_deref(),
    )
    .map_err(|e| {
        let allowed = match &e {
            TransitionError::NotAllowed { allowed, .. } => {
                allowed.iter().map(|x| x.as_str().to_string()).collect()
            }
            _ => allowed_now(),
        };
        ServiceError::Transition {
            code: e.code(),
            message: e.to_string(),
            allowed,
        }
    })?;
    Ok(Outcome {
        to: to.as_str().to_string(),
        sets_auditor: act == Action::Approve,
        resolves: act == Action::SubmitForAudit,
        closes: matches!(to, IncidentState::Closed | IncidentState::Cancelled),
        reopens: act == Action::Reopen,
        sets_handler: act == Action::Accept,
    })
}

/// Text fields: trimmed, bounded, no control characters (line breaks allowed).
pub fn check_text(field: &str, v: &str, max: usize) -> ServiceResult<()> {
    crate::validate::text(field, v, max, true)
}

/// INC-10 source channels.
pub fn check_channel(c: &str) -> ServiceResult<()> {
    SourceChannel::from_str(c).map(|_| ()).map_err(|e| {
        ServiceError::invalid_zh(
            "source_channel",
            e.to_string(),
            format!("未知的来源渠道“{c}”"),
        )
    })
}

/// INC-02 cause classes.
pub fn check_cause(c: &str) -> ServiceResult<()> {
    CauseClass::from_str(c).map(|_| ()).map_err(|e| {
        ServiceError::invalid_zh("cause_class", e.to_string(), format!("未知的原因分类“{c}”"))
    })
}

/// INC-03 hand-off kinds.
pub fn check_handoff(field: &str, k: &str) -> ServiceResult<()> {
    HandoffKind::from_str(k)
        .map(|_| ())
        .map_err(|e| ServiceError::invalid_zh(field, e.to_string(), format!("未知的派单类型“{k}”")))
}

/// Link targets later capabilities add records for.
pub fn check_link(to_kind: &str, link_type: &str) -> ServiceResult<()> {
    const KINDS: &[&str] = &[
        "incident", "bug", "problem", "dataop", "change", "alert", "customer",
    ];
    const TYPES: &[&str] = &[
        "related",
        "caused_by",
        "converted_to",
        "duplicate_of",
        "fixed_by",
        "about",
    ];
    if !KINDS.contains(&to_kind) {
        return Err(ServiceError::invalid_zh(
            "to_kind",
            format!("must be one of {}", KINDS.join(", ")),
            format!("关联对象类型须为 {}", KINDS.join("、")),
        ));
    }
    if !TYPES.contains(&link_type) {
        return Err(ServiceError::invalid_zh(
            "link_type",
            format!("must be one of {}", TYPES.join(", ")),
            format!("关联类型须为 {}", TYPES.join("、")),
        ));
    }
    Ok(())
}

/// What happened, in the terms the clock planner needs.
#[derive(Debug, Clone)]
pub enum Trigger {
    /// A new ticket: INC-06 and the level's clocks start; immediate reports are checked.
    Created,
    /// Facts changed; `level_from` when the level rose, `cs_from` when the CS level changed, `widened` when
    /// the impact grew (ESC-02, ESC-08 re-report).
    FactsUpdated {
        level_from: Option<String>,
        cs_from: Option<Option<i64>>,
        widened: bool,
    },
    /// Someone recorded a report (ESC-01/02 room manager, ESC-07 centre manager, ESC-09 group and analysis,
    /// ESC-12 bulletin).
    Reported(ReportKind),
    /// A new symptom appeared (ESC-02, ESC-08).
    NewSymptom,
    /// The level was lowered by hand.
    LevelLowered { from: String },
    /// A workflow action moved the ticket.
    StateChanged { from: String },
    /// A dispatch child was created (the hand-off id is the child's id).
    HandoffStarted { child_id: i64, kind: String },
    /// The child's team reported progress.
    HandoffProgress { child_id: i64 },
    /// The child's team finished.
    HandoffReplied { child_id: i64 },
    /// A progress entry on the ticket itself (INC-06).
    ProgressRecorded,
}

fn t(us: i64) -> chrono::DateTime<chrono::Utc> {
    tianshu_store::time::from_micros(us)
}

fn store_err(e: ServiceError) -> tianshu_store::StoreError {
    match e {
        ServiceError::Store(s) => s,
        other => tianshu_store::StoreError::Conflict {
            field: "incident".into(),
            message: other.to_string(),
        },
    }
}

fn events(trigger: &Trigger, inc: &Incident, now: i64) -> Vec<rules_core::IncidentEvent> {
    use rules_core::IncidentEvent as E;
    let at = t(now);
    let level = FaultLevel::from_str(&inc.fault_level).unwrap_or(FaultLevel::General);
    let cs = |n: Option<i64>| {
        n.and_then(|v| u8::try_from(v).ok())
            .and_then(ComplaintLevel::new)
    };
    match trigger {
        Trigger::Created => {
            let mut v = vec![
                E::Received { at },
                E::LevelChanged {
                    from: None,
                    to: level,
                    at,
                },
            ];
            if let Some(to) = cs(inc.cs_level) {
                v.push(E::CsLevelChanged { from: None, to, at });
            }
            v
        }
        Trigger::FactsUpdated {
            level_from,
            cs_from,
            widened,
        } => {
            let mut v = Vec::new();
            if let Some(from) = level_from {
                v.push(E::LevelChanged {
                    from: FaultLevel::from_str(from).ok(),
                    to: level,
                    at,
                });
            }
            if let (Some(before), Some(to)) = (cs_from, cs(inc.cs_level)) {
                v.push(E::CsLevelChanged {
                    from: cs(*before),
                    to,
                    at,
                });
            }
            v.push(E::FactsChanged { at });
            if *widened {
                v.push(E::ImpactWidened { at });
            }
            v
        }
        Trigger::Reported(kind) => vec![match kind {
            ReportKind::RoomManager => E::ReportedToRoomManager { at },
            ReportKind::CentreManager => E::ReportedToCentreManager { at },
            ReportKind::Group => E::ReportedToGroup { at },
            ReportKind::Analysis => E::AnalysisSubmitted { at },
            ReportKind::Bulletin => E::BulletinPublished { at },
        }],
        Trigger::NewSymptom => vec![E::NewSymptom { at }],
        Trigger::LevelLowered { from } => vec![E::LevelChanged {
            from: FaultLevel::from_str(from).ok(),
            to: level,
            at,
        }],
        Trigger::StateChanged { from } => match (
            IncidentState::from_str(from),
            IncidentState::from_str(&inc.state),
        ) {
            (Ok(f), Ok(to)) if f != to => vec![E::StateChanged { from: f, to, at }],
            _ => Vec::new(),
        },
        Trigger::HandoffStarted { child_id, kind } => match HandoffKind::from_str(kind) {
            Ok(k) => vec![E::HandoffStarted {
                handoff_id: child_id.to_string(),
                kind: k,
                at,
            }],
            Err(_) => Vec::new(),
        },
        Trigger::HandoffProgress { child_id } => vec![E::HandoffProgress {
            handoff_id: child_id.to_string(),
            at,
        }],
        Trigger::HandoffReplied { child_id } => vec![E::HandoffReplied {
            handoff_id: child_id.to_string(),
            at,
        }],
        Trigger::ProgressRecorded => vec![E::ProgressRecorded { at }],
    }
}

/// `base` with the fields that come from the row itself taken from `inc` as it is now.
fn refreshed(base: &rules_core::IncidentSnapshot, inc: &Incident) -> rules_core::IncidentSnapshot {
    rules_core::IncidentSnapshot {
        state: IncidentState::from_str(&inc.state).unwrap_or(IncidentState::New),
        level: FaultLevel::from_str(&inc.fault_level).unwrap_or(FaultLevel::General),
        fl1_classified_at: inc.fl1_at.map(t),
        escalated_flow: inc.escalated_flow,
        reported_to_room_manager: inc.reported_to_rm_at.is_some(),
        reported_to_centre_manager: inc.reported_to_cm_at.is_some(),
        notified: serde_json::from_str(&inc.notified).unwrap_or_default(),
        ..base.clone()
    }
}

async fn snapshot(
    c: &mut tianshu_store::Conn<'_>,
    pol: &ActivePolicy,
    inc: &Incident,
    fresh: bool,
) -> tianshu_store::StoreResult<rules_core::IncidentSnapshot> {
    let own: FactsInput = serde_json::from_str(&inc.facts).unwrap_or_default();
    let merged = if fresh {
        Vec::new()
    } else {
        tianshu_store::incidents::merged_in_tx(c, inc.id).await?
    };
    let facts =
        with_merged(&facts(&own, pol).map_err(store_err)?, &merged, pol).map_err(store_err)?;
    let children = if fresh {
        Vec::new()
    } else {
        tianshu_store::incidents::children_in_tx(c, inc.id).await?
    };
    let system = match inc.system_id {
        Some(sid) => tianshu_store::incidents::system_key_in_tx(c, sid).await?,
        None => None,
    };
    let recurrences_this_month = match (inc.system_id, facts.centre.recurrence) {
        (Some(sid), Some(kind)) => {
            let (from, to) = month_of(pol, inc.created_at);
            let n = tianshu_store::incidents::recurrences_in_tx(c, sid, kind.as_str(), from, to)
                .await?;
            u64::try_from(n).unwrap_or(0)
        }
        _ => 0,
    };
    Ok(rules_core::IncidentSnapshot {
        system,
        recurrences_this_month,
        reported_to_centre_manager: inc.reported_to_cm_at.is_some(),
        id: inc.id.to_string(),
        state: IncidentState::from_str(&inc.state).unwrap_or(IncidentState::New),
        level: FaultLevel::from_str(&inc.fault_level).unwrap_or(FaultLevel::General),
        fl1_classified_at: inc.fl1_at.map(t),
        escalated_flow: inc.escalated_flow,
        facts,
        open_vendor_handoffs: children
            .iter()
            .filter(|ch| ch.child_kind.as_deref() == Some("vendor") && !is_finished(&ch.state))
            .map(|ch| ch.id.to_string())
            .collect(),
        reported_to_room_manager: inc.reported_to_rm_at.is_some(),
        notified: serde_json::from_str(&inc.notified).unwrap_or_default(),
    })
}

/// The calendar month (in the pack's time zone) holding `at`, as `[from, to)` microseconds (ESC-07 (12), (13)).
fn month_of(pol: &ActivePolicy, at: i64) -> (i64, i64) {
    use chrono::{Datelike, TimeZone};
    let tz: chrono_tz::Tz = pol
        .pack
        .pack
        .time_zone
        .parse()
        .unwrap_or(chrono_tz::Asia::Shanghai);
    let local = t(at).with_timezone(&tz);
    let first = |y: i32, m: u32| {
        tz.with_ymd_and_hms(y, m, 1, 0, 0, 0)
            .earliest()
            .map(|d| d.timestamp_micros())
    };
    let (y, m) = (local.year(), local.month());
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    match (first(y, m), first(ny, nm)) {
        (Some(a), Some(b)) => (a, b),
        _ => (at, at + 1),
    }
}

/// Reports a person records on a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportKind {
    /// Phoned the room manager (ESC-01, ESC-02; starts ESC-03).
    RoomManager,
    /// The room manager phoned the centre manager (ESC-07; starts ESC-08).
    CentreManager,
    /// Reported to the group (ESC-09, within 1 hour).
    Group,
    /// Fault-analysis report submitted via ITSM (ESC-09, within 2 days after handling ends).
    Analysis,
    /// Fault bulletin published (ESC-12).
    Bulletin,
}

impl ReportKind {
    /// Every kind.
    pub const ALL: &'static [ReportKind] = &[
        ReportKind::RoomManager,
        ReportKind::CentreManager,
        ReportKind::Group,
        ReportKind::Analysis,
        ReportKind::Bulletin,
    ];

    /// The stable code.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportKind::RoomManager => "room_manager",
            ReportKind::CentreManager => "centre_manager",
            ReportKind::Group => "group",
            ReportKind::Analysis => "analysis",
            ReportKind::Bulletin => "bulletin",
        }
    }

    /// Parses a code, naming the field on error.
    pub fn parse(s: &str) -> ServiceResult<ReportKind> {
        ReportKind::ALL
            .iter()
            .copied()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                ServiceError::invalid_zh(
                    "kind",
                    "must be one of room_manager, centre_manager, group, analysis, bulletin",
                    "上报类型须为 room_manager、centre_manager、group、analysis、bulletin 之一",
                )
            })
    }
}

async fn recipients(
    c: &mut tianshu_store::Conn<'_>,
    inc: &Incident,
    keys: &[String],
) -> tianshu_store::StoreResult<crate::clocks::Recipients> {
    let mut r = crate::clocks::Recipients::default();
    for k in keys {
        if k == "handler" {
            if let Some(h) = inc.handler_id {
                if let Some(u) = tianshu_store::identity::user_in_tx(c, h).await? {
                    r.users.push(u.username);
                }
            }
        } else {
            r.roles.push(k.clone());
        }
    }
    Ok(r)
}

/// Plans and applies the clocks and immediate messages `trigger` calls for; returns the row as saved.
pub async fn apply_clock_plan(
    c: &mut tianshu_store::Conn<'_>,
    pol: &ActivePolicy,
    inc: &Incident,
    trigger: Trigger,
    now: i64,
) -> tianshu_store::StoreResult<Incident> {
    use rules_core::ClockCommand as C;
    let mut inc = inc.clone();
    let mut queue = events(&trigger, &inc, now);
    let mut changed = false;
    // Merged reports, children, the system and the month's recurrences do not change while a plan runs; only the
    // row's own fields do, so the snapshot is read once and refreshed from the row for each event.
    // A ticket created in this very write has no merged reports or children yet: no need to ask.
    let fresh = matches!(trigger, Trigger::Created);
    let base = snapshot(c, pol, &inc, fresh).await?;
    while let Some(ev) = (!queue.is_empty()).then(|| queue.remove(0)) {
        let snap = refreshed(&base, &inc);
        for cmd in rules_core::plan_on(&ev, &snap, &pol.pack.escalation) {
            match cmd {
                C::Start {
                    key,
                    rule,
                    basis,
                    start_at,
                    repeat,
                    recipients: to,
                    template,
                } => {
                    let who = recipients(c, &inc, &to).await?;
                    crate::clocks::start(c, pol, crate::clocks::ClockSpec {
                        subject_kind: key.subject_kind,
                        subject_id: key.subject_id,
                        clock_key: key.clock_key,
                        rule,
                        basis,
                        calendar: None,
                        start_at: start_at.timestamp_micros(),
                        repeat,
                        notify: crate::clocks::Notify {
                            template,
                            recipients: who,
                            context: serde_json::json!({"incident": inc.number, "title": inc.title, "level": inc.fault_level}),
                            review: false,
                        },
                    })
                    .await?;
                }
                C::Stop { key, outcome, at } => {
                    let why = serde_json::to_value(outcome)
                        .ok()
                        .map(|v| v.to_string())
                        .unwrap_or_default();
                    crate::clocks::stop(
                        c,
                        &key.subject_kind,
                        &key.subject_id,
                        &key.clock_key,
                        at.timestamp_micros(),
                        &why,
                    )
                    .await?;
                }
                C::Pause { key, at } => {
                    crate::clocks::pause(
                        c,
                        &key.subject_kind,
                        &key.subject_id,
                        &key.clock_key,
                        at.timestamp_micros(),
                        "state",
                    )
                    .await?;
                }
                C::Resume { key, at } => {
                    crate::clocks::resume(
                        c,
                        pol,
                        &key.subject_kind,
                        &key.subject_id,
                        &key.clock_key,
                        at.timestamp_micros(),
                    )
                    .await?;
                }
                C::Notify {
                    rule,
                    recipients: to,
                    template,
                    criteria,
                } => {
                    let who = recipients(c, &inc, &to).await?;
                    let keys: Vec<String> = criteria.iter().map(rules_core::notified_key).collect();
                    tianshu_store::timers::insert_outbox(c, tianshu_store::timers::NewOutbox {
                        idempotency_key: format!("incident:{}:{}:{}", inc.id, rule, keys.join("+")),
                        subject_kind: super::KIND.into(),
                        subject_id: inc.id.to_string(),
                        template,
                        recipients: serde_json::to_value(&who).unwrap_or_default(),
                        context: serde_json::json!({
                            "incident": inc.number, "title": inc.title, "level": inc.fault_level,
                            "criteria_zh": criteria.iter().map(|c| c.text_zh.clone()).collect::<Vec<_>>(),
                            "criteria_en": criteria.iter().map(|c| c.text_en.clone()).collect::<Vec<_>>(),
                        }),
                        cause: rule.clone(),
                        state: "queued".into(),
                        created_at: now,
                    })
                    .await?;
                    tianshu_store::timers::insert_event(c, tianshu_store::timers::NewEvent {
                        subject_kind: super::KIND.into(),
                        subject_id: inc.id.to_string(),
                        at: now,
                        kind: "incident.immediate_report".into(),
                        actor: "system:escalation".into(),
                        data: serde_json::json!({"rule": rule, "recipients": to, "criteria": criteria}),
                        timer_id: None,
                    })
                    .await?;
                    let mut notified: Vec<String> =
                        serde_json::from_str(&inc.notified).unwrap_or_default();
                    notified.extend(keys);
                    inc.notified = serde_json::to_string(&notified).unwrap_or_else(|_| "[]".into());
                    changed = true;
                    // ESC-01: the immediate report is the report to the room manager; ESC-03 runs from here.
                    if to.iter().any(|r| r == "room_manager") && inc.reported_to_rm_at.is_none() {
                        inc.reported_to_rm_at = Some(now);
                        queue.push(rules_core::IncidentEvent::ReportedToRoomManager { at: t(now) });
                    }
                    // ESC-07: likewise the centre manager; ESC-08 runs from here.
                    if to.iter().any(|r| r == "centre_manager") && inc.reported_to_cm_at.is_none() {
                        inc.reported_to_cm_at = Some(now);
                        queue.push(rules_core::IncidentEvent::ReportedToCentreManager {
                            at: t(now),
                        });
                    }
                }
            }
        }
    }
    if changed {
        if fresh {
            // Only the report columns changed on a ticket inserted in this write.
            tianshu_store::incidents::save_reports(c, &inc).await?;
        } else {
            inc = tianshu_store::incidents::save(c, &inc, now).await?;
        }
    }
    Ok(inc)
}
