//! Cut-over requests (issue 7 item 3; CHG-10/11/13..19, CNT-01..05): the application with its plan and lead
//! time, the approval (approver ≠ requester) that silences the affected systems' alerts for the window and queues
//! the customer notices by tier through the outbox, the on-site start (CHG-17: conditions recorded and the order
//! given before any step) and the two-person execution log.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tianshu_core::change::{
    check_cutover_lead, check_downtime, check_rectification, check_start_conditions,
    check_start_window, data_case, notice_due, StartConditions,
};
use tianshu_core::dataop::Refusal;
use tianshu_core::Permission;
use tianshu_store::alerts::{insert_mute, MuteKind, NewMute};
use tianshu_store::audit::{append, NewAuditEntry};
use tianshu_store::cutovers::{self as st, CutoverRow, LogRow, NewCutover, StartRow};
use tianshu_store::timers::{insert_outbox, NewOutbox};
use tianshu_store::StoreError;

use crate::authz::Principal;
use crate::error::{ServiceError, ServiceResult};
use crate::Platform;

/// The notice template queued for each customer tier (notifications.toml).
pub const NOTICE_TEMPLATE: &str = "chg_customer_notice";

/// CHG-13 cut-over types.
pub const KINDS: [&str; 3] = ["hardware", "software", "data"];

fn refuse(r: Refusal) -> ServiceError {
    ServiceError::invalid_zh(r.field, r.message, r.zh)
}

fn parse_time(field: &str, s: &str) -> ServiceResult<i64> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc).timestamp_micros())
        .map_err(|e| ServiceError::invalid(field, format!("'{s}' is not an RFC 3339 time: {e}")))
}

fn at(us: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_micros(us).unwrap_or_default()
}

/// A cut-over application (CHG-15/CHG-16 contents).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CutoverInput {
    pub title: String,
    /// hardware, software or data (CHG-13).
    pub kind: String,
    /// Affected systems (alert `system` label values).
    pub systems: Vec<String>,
    /// Major-version cut-over (CHG-11: a week ahead).
    #[serde(default)]
    pub major: bool,
    /// Emergency for a major safety hazard (CNT-04).
    #[serde(default)]
    pub emergency: bool,
    /// RFC 3339.
    pub starts_at: String,
    pub ends_at: String,
    /// Declared service stop (CHG-10), RFC 3339.
    pub downtime_from: Option<String>,
    pub downtime_to: Option<String>,
    pub plan: String,
    pub rollback_plan: String,
    pub checklist: String,
    /// Dial-test list (CHG-15).
    pub test_list: String,
    pub people: String,
    pub impact: String,
    /// Affected customer circuits, for the notices.
    #[serde(default)]
    pub circuits: Vec<String>,
    /// Customer tiers to notify (CNT-01..05).
    #[serde(default)]
    pub customer_tiers: Vec<String>,
    /// CHG-20: a data cut-over's case (`change.toml [[cutover.data_case]]` key), which decides who is responsible.
    #[serde(default)]
    pub data_case: Option<String>,
}

/// A cut-over as returned.
#[derive(Debug, Clone, Serialize)]
pub struct CutoverView {
    pub id: i64,
    pub title: String,
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
    pub notices: Value,
    pub maintenance_id: Option<i64>,
    pub state: String,
    pub requester: String,
    pub approver: Option<String>,
    pub approved_at: Option<i64>,
    pub completed_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub version: i64,
    /// CHG-20: the data case and the responsible party derived from it (data cut-overs only).
    pub data_case: Option<String>,
    pub responsible: Option<String>,
    /// CHG-20: the rectification report (province-wide fault), who attached it and when.
    pub rectification_report: Option<String>,
    pub rectification_by: Option<String>,
    pub rectification_at: Option<i64>,
    /// The CHG-17 start conditions and order, once given (not filled in lists).
    pub start: Option<StartRow>,
    pub log: Vec<LogRow>,
}

fn list(s: &str) -> Vec<String> {
    serde_json::from_str(s).unwrap_or_default()
}

fn view(r: CutoverRow, log: Vec<LogRow>, start: Option<StartRow>) -> CutoverView {
    CutoverView {
        id: r.id,
        title: r.title,
        kind: r.kind,
        systems: list(&r.systems),
        major: r.major != 0,
        emergency: r.emergency != 0,
        starts_at: r.starts_at,
        ends_at: r.ends_at,
        downtime_from: r.downtime_from,
        downtime_to: r.downtime_to,
        plan: r.plan,
        rollback_plan: r.rollback_plan,
        checklist: r.checklist,
        test_list: r.test_list,
        people: r.people,
        impact: r.impact,
        circuits: list(&r.circuits),
        customer_tiers: list(&r.customer_tiers),
        notices: serde_json::from_str(&r.notices).unwrap_or(Value::Null),
        maintenance_id: r.maintenance_id,
        state: r.state,
        requester: r.requester,
        approver: r.approver,
        approved_at: r.approved_at,
        completed_at: r.completed_at,
        created_at: r.created_at,
        updated_at: r.updated_at,
        version: r.version,
        data_case: r.data_case,
        responsible: r.responsible,
        rectification_report: r.rectification_report,
        rectification_by: r.rectification_by,
        rectification_at: r.rectification_at,
        start,
        log,
    }
}

fn required(field: &str, v: &str, max: usize) -> ServiceResult<String> {
    let t = v.trim();
    if t.is_empty() {
        return Err(ServiceError::invalid_zh(
            field,
            format!(
                "CHG-16: the application states the {}",
                field.replace('_', " ")
            ),
            format!("CHG-16：割接申请必须填写 {field}"),
        ));
    }
    if t.chars().count() > max {
        return Err(ServiceError::invalid(
            field,
            format!("at most {max} characters"),
        ));
    }
    Ok(t.to_string())
}

fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
}

/// Applies for a cut-over (needs `change.request`): contents (CHG-15/16), downtime window (CHG-10) and lead
/// times (CHG-16, CHG-11) checked against the working-day calendar; audited.
pub async fn apply(
    p: &Platform,
    actor: &Principal,
    input: CutoverInput,
) -> ServiceResult<CutoverView> {
    actor.require(Permission::ChangeRequest)?;
    let pol = p.policy.current();
    let cp = &pol.pack.change;
    let cal = pol.calendars.get(&cp.calendar)?;
    let title = required("title", &input.title, 200)?;
    if !KINDS.contains(&input.kind.as_str()) {
        return Err(ServiceError::invalid(
            "kind",
            "CHG-13: hardware, software or data",
        ));
    }
    let case = data_case(cp, &input.kind, input.data_case.as_deref()).map_err(refuse)?;
    if input.systems.is_empty() || input.systems.len() > 50 {
        return Err(ServiceError::invalid(
            "systems",
            "name 1–50 affected systems",
        ));
    }
    for (i, s) in input.systems.iter().enumerate() {
        if !is_label(s) {
            return Err(ServiceError::invalid(
                format!("systems[{i}]"),
                "a system key (letters, digits, _ - .)",
            ));
        }
    }
    for (i, t) in input.customer_tiers.iter().enumerate() {
        if cp.notice(t).is_none() {
            return Err(ServiceError::invalid(
                format!("customer_tiers[{i}]"),
                format!("'{t}' is not a tier of change.toml [[notice]]"),
            ));
        }
    }
    if input.circuits.len() > 500
        || input
            .circuits
            .iter()
            .any(|c| c.trim().is_empty() || c.len() > 100)
    {
        return Err(ServiceError::invalid(
            "circuits",
            "up to 500 circuit ids of 1–100 characters",
        ));
    }
    let starts_at = parse_time("starts_at", &input.starts_at)?;
    let ends_at = parse_time("ends_at", &input.ends_at)?;
    if ends_at <= starts_at {
        return Err(ServiceError::invalid("ends_at", "must be after starts_at"));
    }
    if ends_at - starts_at > 7 * 24 * 3_600_000_000 {
        return Err(ServiceError::invalid(
            "ends_at",
            "a cut-over window is at most 7 days",
        ));
    }
    let now = p.now_us();
    if starts_at <= now {
        return Err(ServiceError::invalid("starts_at", "must be in the future"));
    }
    let tz = cal.time_zone();
    let (downtime_from, downtime_to) = match (&input.downtime_from, &input.downtime_to) {
        (None, None) => (None, None),
        (Some(f), Some(t)) => {
            let f = parse_time("downtime_from", f)?;
            let t = parse_time("downtime_to", t)?;
            if f < starts_at || t > ends_at {
                return Err(ServiceError::invalid(
                    "downtime_from",
                    "the outage lies inside the cut-over window",
                ));
            }
            check_downtime(
                cp,
                at(f).with_timezone(&tz).naive_local(),
                at(t).with_timezone(&tz).naive_local(),
            )
            .map_err(refuse)?;
            (Some(f), Some(t))
        }
        _ => {
            return Err(ServiceError::invalid(
                "downtime_to",
                "give both ends of the outage",
            ))
        }
    };
    let date = at(starts_at).with_timezone(&tz).date_naive();
    if !input.emergency {
        check_cutover_lead(cp, cal, date, input.major, at(now)).map_err(refuse)?;
    }
    let n = NewCutover {
        title,
        kind: input.kind.clone(),
        systems: input.systems.clone(),
        major: input.major,
        emergency: input.emergency,
        starts_at,
        ends_at,
        downtime_from,
        downtime_to,
        plan: required("plan", &input.plan, 20_000)?,
        rollback_plan: required("rollback_plan", &input.rollback_plan, 20_000)?,
        checklist: required("checklist", &input.checklist, 20_000)?,
        test_list: required("test_list", &input.test_list, 20_000)?,
        people: required("people", &input.people, 4000)?,
        impact: required("impact", &input.impact, 4000)?,
        circuits: input.circuits.clone(),
        customer_tiers: input.customer_tiers.clone(),
        data_case: case.map(|d| d.key.clone()),
        responsible: case.map(|d| d.responsible.clone()),
        requester: actor.username.clone(),
        now,
    };
    let who = actor.actor();
    let row = p
        .store
        .write(move |c| {
            Box::pin(async move {
                let row = st::insert_cutover(c, &n).await?;
                append(
                    c,
                    NewAuditEntry {
                        actor: who,
                        action: "cutover.apply".into(),
                        object_type: "cutover".into(),
                        object_id: row.id.to_string(),
                        before: None,
                        after: Some(
                            json!({"title": row.title, "kind": row.kind, "starts_at": row.starts_at,
                            "ends_at": row.ends_at, "systems": n.systems, "major": n.major,
                            "data_case": n.data_case, "responsible": n.responsible}),
                        ),
                        request_id: None,
                        at: now,
                    },
                )
                .await?;
                Ok(row)
            })
        })
        .await?;
    Ok(view(row, Vec::new(), None))
}

/// One cut-over with its log.
pub async fn get(p: &Platform, actor: &Principal, id: i64) -> ServiceResult<CutoverView> {
    actor.require(Permission::ChangeRead)?;
    let r = p
        .store
        .cutover(id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("cut-over {id}")))?;
    let log = p.store.cutover_log(id).await?;
    let start = p.store.cutover_start(id).await?;
    Ok(view(r, log, start))
}

/// Cut-overs starting in `[from, to)` (Unix µs).
pub async fn between(
    p: &Platform,
    actor: &Principal,
    from: i64,
    to: i64,
) -> ServiceResult<Vec<CutoverView>> {
    actor.require(Permission::ChangeRead)?;
    if to <= from {
        return Err(ServiceError::invalid("to", "must be after from"));
    }
    Ok(p.store
        .cutovers_between(from, to)
        .await?
        .into_iter()
        .map(|r| view(r, Vec::new(), None))
        .collect())
}

fn conflict(field: &str, message: String) -> StoreError {
    StoreError::Conflict {
        field: field.into(),
        message,
    }
}

/// Approves (needs `change.approve`; the approver is not the requester, CHG-14): opens a maintenance window
/// silencing the affected systems' alerts over the cut-over window and queues the customer notices (CNT-01..05)
/// from the notice template with the affected circuits; audited.
pub async fn approve(
    p: &Platform,
    actor: &Principal,
    id: i64,
    version: i64,
) -> ServiceResult<CutoverView> {
    actor.require(Permission::ChangeApprove)?;
    let pol = p.policy.current();
    let cp = pol.pack.change.clone();
    let cal = pol.calendars.get(&cp.calendar)?.clone();
    let now = p.now_us();
    let who = actor.actor();
    let approver = actor.username.clone();
    let row = p
        .store
        .write(move |c| {
            Box::pin(async move {
                let r = st::cutover_in_tx(c, id)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("cut-over {id}")))?;
                if r.version != version {
                    return Err(StoreError::Stale(format!("cut-over {id}")));
                }
                if r.state != "submitted" {
                    return Err(conflict("state", format!("CHG-14: only a submitted cut-over is approved (state {})", r.state)));
                }
                if r.requester == approver {
                    return Err(conflict(
                        "approver",
                        format!("CHG-14: the approver must not be the requester ({approver})"),
                    ));
                }
                let systems = list(&r.systems);
                let matcher = if systems.len() == 1 {
                    format!("system={}", systems[0])
                } else {
                    format!("system=~{}", systems.join("|"))
                };
                let mute = insert_mute(
                    c,
                    MuteKind::Maintenance,
                    &NewMute {
                        name: format!("割接 #{id} {}", r.title),
                        matchers: vec![matcher],
                        starts_at: r.starts_at,
                        ends_at: r.ends_at,
                        author: approver.clone(),
                        reason: format!("cut-over {id} approved (CHG-14)"),
                        now,
                    },
                )
                .await?;
                let tz = cal.time_zone();
                let start = at(r.starts_at);
                let mut notices = Vec::new();
                for tier in list(&r.customer_tiers) {
                    let Some(n) = notice_due(&cp, &cal, &tier, start, r.emergency != 0) else {
                        continue;
                    };
                    let key = format!("cutover:{id}:notice:{tier}");
                    let context = json!({
                        "title": r.title, "tier": tier, "rule": n.rule, "notify": n.notify,
                        "systems": systems.join("、"), "circuits": list(&r.circuits).join("、"),
                        "starts_at": start.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string(),
                        "ends_at": at(r.ends_at).with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string(),
                        "impact": r.impact,
                        "due": n.due.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string(),
                    });
                    insert_outbox(
                        c,
                        NewOutbox {
                            idempotency_key: key.clone(),
                            subject_kind: "cutover".into(),
                            subject_id: id.to_string(),
                            template: NOTICE_TEMPLATE.into(),
                            recipients: json!({"roles": ["account_manager"]}),
                            context,
                            cause: format!("cutover:notice:{}", n.rule),
                            state: "queued".into(),
                            created_at: now,
                        },
                    )
                    .await?;
                    notices.push(json!({"tier": tier, "rule": n.rule, "notify": n.notify,
                        "due_at": n.due.timestamp_micros(), "late": n.due.timestamp_micros() < now, "outbox_key": key}));
                }
                let notices = Value::Array(notices);
                let row = st::approve_cutover(c, id, version, &approver, Some(mute.id), &notices, now).await?;
                append(
                    c,
                    NewAuditEntry {
                        actor: who,
                        action: "cutover.approve".into(),
                        object_type: "cutover".into(),
                        object_id: id.to_string(),
                        before: Some(json!({"state": r.state})),
                        after: Some(json!({"state": row.state, "maintenance_id": mute.id, "notices": notices})),
                        request_id: None,
                        at: now,
                    },
                )
                .await?;
                Ok(row)
            })
        })
        .await
        .map_err(rule_conflict)?;
    let log = p.store.cutover_log(id).await?;
    let start = p.store.cutover_start(id).await?;
    Ok(view(row, log, start))
}

fn rule_conflict(e: StoreError) -> ServiceError {
    match e {
        StoreError::Conflict { field, message } if message.starts_with("CHG-") => {
            ServiceError::invalid(field, message)
        }
        other => other.into(),
    }
}

/// The CHG-17 start conditions the on-site lead records with the order to start.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartInput {
    /// When the kick-off meeting with the contractor was held, RFC 3339.
    #[serde(default)]
    pub kickoff_at: Option<String>,
    /// The on-site lead (username).
    #[serde(default)]
    pub lead: String,
    #[serde(default)]
    pub lead_qualified: bool,
    /// When the lead arrived on site, RFC 3339.
    #[serde(default)]
    pub arrived_at: Option<String>,
    #[serde(default)]
    pub equipment_checked: bool,
    #[serde(default)]
    pub host_present: bool,
    #[serde(default)]
    pub departments_present: bool,
    #[serde(default)]
    pub contractor_present: bool,
    #[serde(default)]
    pub note: String,
}

fn opt_time(field: &str, v: &Option<String>) -> ServiceResult<Option<i64>> {
    match v.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => parse_time(field, s).map(Some),
    }
}

/// Starts an approved cut-over (needs `change.request`): the start conditions are checked (CHG-17: kick-off held,
/// a qualified lead arrived the pack's minutes before the planned start, equipment checked, everyone present) and
/// recorded with the order; only then are steps logged. Audited.
pub async fn start(
    p: &Platform,
    actor: &Principal,
    id: i64,
    input: StartInput,
) -> ServiceResult<CutoverView> {
    actor.require(Permission::ChangeRequest)?;
    let rule = p.policy.current().pack.change.cutover.clone();
    let kickoff_at = opt_time("kickoff_at", &input.kickoff_at)?;
    let arrived_at = opt_time("arrived_at", &input.arrived_at)?;
    let lead = input.lead.trim().to_string();
    if lead.chars().count() > 100 {
        return Err(ServiceError::invalid("lead", "at most 100 characters"));
    }
    let note = input.note.trim().to_string();
    if note.chars().count() > 4000 {
        return Err(ServiceError::invalid("note", "at most 4000 characters"));
    }
    let r = p
        .store
        .cutover(id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("cut-over {id}")))?;
    let now = p.now_us();
    let cond = StartConditions {
        kickoff_at: kickoff_at.map(at),
        lead: lead.clone(),
        lead_qualified: input.lead_qualified,
        arrived_at: arrived_at.map(at),
        equipment_checked: input.equipment_checked,
        host_present: input.host_present,
        departments_present: input.departments_present,
        contractor_present: input.contractor_present,
    };
    check_start_window(&rule, at(r.starts_at), at(r.ends_at), at(now)).map_err(refuse)?;
    check_start_conditions(&rule, &cond, at(r.starts_at), at(now)).map_err(refuse)?;
    if p.store.user_by_username(&lead).await?.is_none() {
        return Err(ServiceError::unknown_ref(
            "lead",
            format!("no user '{lead}'"),
            format!("用户 '{lead}' 不存在"),
        ));
    }
    let rec = StartRow {
        cutover_id: id,
        kickoff_at: kickoff_at.unwrap_or_default(),
        lead,
        lead_qualified: 1,
        arrived_at: arrived_at.unwrap_or_default(),
        equipment_checked: 1,
        host_present: 1,
        departments_present: 1,
        contractor_present: 1,
        note,
        ordered_by: actor.username.clone(),
        ordered_at: now,
    };
    let who = actor.actor();
    let start_rule = rule.start_rule.clone();
    let (row, started) = p
        .store
        .write(move |c| {
            Box::pin(async move {
                let r = st::cutover_in_tx(c, id)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("cut-over {id}")))?;
                if r.state != "approved" {
                    return Err(conflict(
                        "state",
                        format!(
                            "{start_rule}: only an approved cut-over not yet started is started (state {})",
                            r.state
                        ),
                    ));
                }
                let s = st::insert_start(c, &rec).await?;
                let row = st::set_cutover_state(c, id, "started", now).await?;
                append(
                    c,
                    NewAuditEntry {
                        actor: who,
                        action: "cutover.start".into(),
                        object_type: "cutover".into(),
                        object_id: id.to_string(),
                        before: Some(json!({"state": r.state})),
                        after: Some(json!({"state": row.state, "lead": s.lead, "kickoff_at": s.kickoff_at,
                            "arrived_at": s.arrived_at, "ordered_at": s.ordered_at})),
                        request_id: None,
                        at: now,
                    },
                )
                .await?;
                Ok((row, s))
            })
        })
        .await
        .map_err(rule_conflict)?;
    let log = p.store.cutover_log(id).await?;
    Ok(view(row, log, Some(started)))
}

/// One step of the execution log.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogInput {
    pub step: String,
    /// Important operations need two people (CHG-18).
    #[serde(default)]
    pub important: bool,
    pub operator: String,
    pub supervisor: String,
    #[serde(default)]
    pub result: String,
}

/// Records a step of a started cut-over (needs `change.request`; before the CHG-17 start it is refused naming
/// `state`); an important step with operator = supervisor is refused (CHG-18).
pub async fn log_step(
    p: &Platform,
    actor: &Principal,
    id: i64,
    input: LogInput,
) -> ServiceResult<CutoverView> {
    actor.require(Permission::ChangeRequest)?;
    let step = required("step", &input.step, 2000)?;
    let operator = required("operator", &input.operator, 100)?;
    let supervisor = required("supervisor", &input.supervisor, 100)?;
    if input.important && operator == supervisor {
        return Err(ServiceError::invalid_zh(
            "supervisor",
            format!("CHG-18: an important operation is done by one person and supervised by another ({operator} is both)"),
            "CHG-18：重要操作必须“一人操作、一人监督”",
        ));
    }
    for (f, u) in [("operator", &operator), ("supervisor", &supervisor)] {
        if p.store.user_by_username(u).await?.is_none() {
            return Err(ServiceError::unknown_ref(
                f,
                format!("no user '{u}'"),
                format!("用户 '{u}' 不存在"),
            ));
        }
    }
    let result = input.result.trim().to_string();
    let now = p.now_us();
    let who = actor.actor();
    let by = actor.username.clone();
    let important = input.important;
    let start_rule = p.policy.current().pack.change.cutover.start_rule.clone();
    let row = p
        .store
        .write(move |c| {
            Box::pin(async move {
                let r = st::cutover_in_tx(c, id)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("cut-over {id}")))?;
                if r.state == "approved" {
                    return Err(conflict(
                        "state",
                        format!("{start_rule}: no step is logged before the on-site lead records the start conditions and gives the order"),
                    ));
                }
                if r.state != "started" && r.state != "in_progress" {
                    return Err(conflict(
                        "state",
                        format!(
                            "CHG-14: execution starts only after approval (state {})",
                            r.state
                        ),
                    ));
                }
                let e = st::insert_log(
                    c,
                    id,
                    now,
                    &step,
                    important,
                    &operator,
                    &supervisor,
                    &result,
                    &by,
                )
                .await?;
                let row = if r.state == "started" {
                    st::set_cutover_state(c, id, "in_progress", now).await?
                } else {
                    r
                };
                append(
                    c,
                    NewAuditEntry {
                        actor: who,
                        action: "cutover.log".into(),
                        object_type: "cutover".into(),
                        object_id: id.to_string(),
                        before: None,
                        after: Some(json!({"log_id": e.id, "step": step, "important": important,
                            "operator": operator, "supervisor": supervisor})),
                        request_id: None,
                        at: now,
                    },
                )
                .await?;
                Ok(row)
            })
        })
        .await
        .map_err(rule_conflict)?;
    let log = p.store.cutover_log(id).await?;
    let start = p.store.cutover_start(id).await?;
    Ok(view(row, log, start))
}

/// Completes a cut-over after its log (CHG-19: checked against the checklist); refused without any logged step.
pub async fn complete(p: &Platform, actor: &Principal, id: i64) -> ServiceResult<CutoverView> {
    actor.require(Permission::ChangeRequest)?;
    let cp = p.policy.current().pack.change.clone();
    let now = p.now_us();
    let who = actor.actor();
    let row = p
        .store
        .write(move |c| {
            Box::pin(async move {
                let r = st::cutover_in_tx(c, id)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("cut-over {id}")))?;
                if r.state != "in_progress" {
                    return Err(conflict(
                        "state",
                        format!(
                            "CHG-19: only a cut-over in progress is completed (state {})",
                            r.state
                        ),
                    ));
                }
                // CHG-20: a province-wide fault is closed only with the rectification report attached.
                if let Some(def) = r.data_case.as_deref().and_then(|k| cp.data_case(k)) {
                    if let Err(e) = check_rectification(def, r.rectification_report.as_deref()) {
                        return Err(conflict(&e.field, e.message));
                    }
                }
                let log = st::log_in_tx(c, id).await?;
                if log
                    .iter()
                    .any(|e| e.important != 0 && e.operator == e.supervisor)
                {
                    return Err(conflict(
                        "log",
                        "CHG-18: an important step was done without a second person".into(),
                    ));
                }
                let row = st::set_cutover_state(c, id, "completed", now).await?;
                append(
                    c,
                    NewAuditEntry {
                        actor: who,
                        action: "cutover.complete".into(),
                        object_type: "cutover".into(),
                        object_id: id.to_string(),
                        before: Some(json!({"state": r.state})),
                        after: Some(json!({"state": "completed", "steps": log.len()})),
                        request_id: None,
                        at: now,
                    },
                )
                .await?;
                Ok(row)
            })
        })
        .await
        .map_err(rule_conflict)?;
    let log = p.store.cutover_log(id).await?;
    let start = p.store.cutover_start(id).await?;
    Ok(view(row, log, start))
}

/// CHG-20: attaches the responsible party's rectification report to a data cut-over (needs `change.request`;
/// replaces an earlier one until the cut-over is completed). Audited.
pub async fn rectify(
    p: &Platform,
    actor: &Principal,
    id: i64,
    report: &str,
) -> ServiceResult<CutoverView> {
    actor.require(Permission::ChangeRequest)?;
    let report = report.trim().to_string();
    if report.is_empty() {
        return Err(ServiceError::invalid_zh(
            "report",
            "CHG-20: the rectification report states the analysis, the emergency measures and the repair",
            "CHG-20：整改报告须写明原因分析、应急措施和修复情况",
        ));
    }
    if report.chars().count() > 20_000 {
        return Err(ServiceError::invalid("report", "at most 20000 characters"));
    }
    let now = p.now_us();
    let who = actor.actor();
    let by = actor.username.clone();
    let row = p
        .store
        .write(move |c| {
            Box::pin(async move {
                let r = st::cutover_in_tx(c, id)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("cut-over {id}")))?;
                if r.data_case.is_none() {
                    return Err(conflict(
                        "data_case",
                        "CHG-20: a rectification report belongs to a data cut-over with a data case".into(),
                    ));
                }
                if r.state == "completed" {
                    return Err(conflict(
                        "state",
                        "CHG-20: the cut-over is completed; its rectification report is fixed".into(),
                    ));
                }
                let row = st::set_rectification(c, id, &report, &by, now).await?;
                append(
                    c,
                    NewAuditEntry {
                        actor: who,
                        action: "cutover.rectification".into(),
                        object_type: "cutover".into(),
                        object_id: id.to_string(),
                        before: Some(json!({"had_report": r.rectification_report.is_some()})),
                        after: Some(json!({"data_case": row.data_case, "responsible": row.responsible,
                            "chars": report.chars().count()})),
                        request_id: None,
                        at: now,
                    },
                )
                .await?;
                Ok(row)
            })
        })
        .await
        .map_err(rule_conflict)?;
    let log = p.store.cutover_log(id).await?;
    let start = p.store.cutover_start(id).await?;
    Ok(view(row, log, start))
}
