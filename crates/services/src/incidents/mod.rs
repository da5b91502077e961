//! Incident use cases: intake, severity, workflow transitions, dispatch to several teams,
//! duplicate merging, links — each change with its timeline event, audit entry and clocks in one
//! transaction. The rules themselves are pure functions in `tianshu_core::incident`; this module
//! loads, applies them, and saves.

mod leased_line;
mod rules;

use chrono::TimeZone;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tianshu_core::Permission;
use tianshu_store::audit::{append, NewAuditEntry};
use tianshu_store::incidents::{self as db, Incident, IncidentFilter, Link};
use tianshu_store::leased_lines::IncidentLeasedLine;
use tianshu_store::timers::{insert_event, ClockRow, Event, NewEvent};
use tianshu_store::Conn;

use crate::authz::{Principal, Scope};
use crate::error::{ServiceError, ServiceResult};
use crate::Platform;

pub use leased_line::{set as set_leased_line, LeasedLineInput};
pub use rules::FactsInput;

/// Whether no more work happens on a ticket in this state.
pub fn rules_is_finished(state: &str) -> bool {
    rules::is_finished(state)
}

/// Subject kind of incidents in clocks, timers, events and the outbox.
pub const KIND: &str = "incident";

/// Input of [`create`].
#[derive(Debug, Clone, Deserialize)]
pub struct NewIncident {
    pub title: String,
    pub symptom: String,
    pub symptom_category: Option<String>,
    pub source_channel: String,
    pub reporter: String,
    pub reporter_contact: Option<String>,
    /// The reporting branch or team.
    pub org_key: String,
    pub system_key: Option<String>,
    pub business: Option<String>,
    pub customer: Option<String>,
    /// ESC-06: the room or department that owns the fault when it is not ours; the reporting obligations
    /// apply all the same.
    pub owning_org_key: Option<String>,
    pub facts: FactsInput,
    /// KPI-09: the group customer's leased line the fault is on.
    pub leased_line: Option<LeasedLineInput>,
}

/// Everything a detail view shows.
#[derive(Debug, Clone, Serialize)]
pub struct IncidentView {
    pub incident: Incident,
    /// Why the ticket has its level, in Chinese and English.
    pub reasons: Vec<rules::LevelReasonOut>,
    pub allowed_actions: Vec<String>,
    pub children: Vec<Incident>,
    pub merged: Vec<Incident>,
    pub clocks: Vec<ClockRow>,
    pub links: Vec<Link>,
    /// Merged progress of the dispatch children, 0–100.
    pub children_progress: i64,
    pub children_open: usize,
    /// KPI-09: the leased line the fault is on.
    pub leased_line: Option<IncidentLeasedLine>,
}

fn stamp(p: &Platform) -> (i64, String) {
    day_of(&p.policy.current(), p.now_us())
}

/// `now` with its local day as `YYYYMMDD` (ticket numbers).
fn day_of(pol: &crate::policy::ActivePolicy, now: i64) -> (i64, String) {
    let tz: chrono_tz::Tz = pol
        .pack
        .pack
        .time_zone
        .parse()
        .unwrap_or(chrono_tz::Asia::Shanghai);
    let day = tianshu_store::time::from_micros(now)
        .with_timezone(&tz)
        .format("%Y%m%d")
        .to_string();
    (now, day)
}

/// Checks that the caller may see this incident (region, vendor scope).
pub fn require_visible(actor: &Principal, i: &Incident) -> ServiceResult<()> {
    let ok = match actor.scope {
        Scope::Province => true,
        Scope::Region(r) => i.region_id == Some(r),
        Scope::Vendor(v) => i.assignee_org_id == Some(v),
    };
    if ok {
        Ok(())
    } else {
        Err(ServiceError::NotFound(format!("incident {}", i.id)))
    }
}

async fn event(
    c: &mut Conn<'_>,
    i: &Incident,
    at: i64,
    kind: &str,
    actor: &str,
    data: Value,
) -> tianshu_store::StoreResult<()> {
    insert_event(
        c,
        NewEvent {
            subject_kind: KIND.into(),
            subject_id: i.id.to_string(),
            at,
            kind: kind.into(),
            actor: actor.into(),
            data,
            timer_id: None,
        },
    )
    .await
}

async fn audit(
    c: &mut Conn<'_>,
    actor: &str,
    action: &str,
    before: Option<&Incident>,
    after: &Incident,
    rid: Option<String>,
    at: i64,
) -> tianshu_store::StoreResult<()> {
    append(
        c,
        NewAuditEntry {
            actor: actor.into(),
            action: action.into(),
            object_type: KIND.into(),
            object_id: after.id.to_string(),
            before: before.map(|b| json!(b)),
            after: Some(json!(after)),
            request_id: rid,
            at,
        },
    )
    .await
    .map(|_| ())
}

/// Opens a ticket: severity assessed from its facts, clocks started, all in one transaction.
pub async fn create(
    p: &Platform,
    actor: &Principal,
    input: NewIncident,
    rid: Option<String>,
) -> ServiceResult<IncidentView> {
    actor.require(Permission::IncidentCreate)?;
    rules::check_text("title", &input.title, 200)?;
    rules::check_text("symptom", &input.symptom, 4000)?;
    rules::check_text("reporter", &input.reporter, 64)?;
    rules::check_channel(&input.source_channel)?;
    for (field, v) in [
        ("symptom_category", &input.symptom_category),
        ("reporter_contact", &input.reporter_contact),
        ("business", &input.business),
        ("customer", &input.customer),
    ] {
        if let Some(v) = v {
            rules::check_text(field, v, 200)?;
        }
    }
    let org = p
        .directory
        .org_by_key(&p.store, &input.org_key)
        .await?
        .ok_or_else(|| {
            ServiceError::unknown_ref(
                "org_key",
                format!("no organisation '{}'", input.org_key),
                format!("单位“{}”不存在", input.org_key),
            )
        })?;
    actor.require_visible(org.region_id, org.id)?;
    let system_id = match &input.system_key {
        Some(k) => Some(
            p.directory
                .system_by_key(&p.store, k)
                .await?
                .ok_or_else(|| {
                    ServiceError::unknown_ref(
                        "system_key",
                        format!("no system '{k}'"),
                        format!("系统“{k}”不存在"),
                    )
                })?
                .id,
        ),
        None => None,
    };
    let owning_org_id = match &input.owning_org_key {
        Some(k) => Some(
            p.directory
                .org_by_key(&p.store, k)
                .await?
                .ok_or_else(|| {
                    ServiceError::unknown_ref(
                        "owning_org_key",
                        format!("no organisation '{k}'"),
                        format!("责任单位“{k}”不存在"),
                    )
                })?
                .id,
        ),
        None => None,
    };
    let pol = p.policy.current();
    let facts = rules::facts_input(&input.facts, &pol)?;
    let assessed = rules::assess(None, &facts, &pol)?;
    let line = match &input.leased_line {
        Some(l) => Some(leased_line::checked(p, &pol.pack, input.customer.as_deref(), l).await?),
        None => None,
    };
    let (now, day) = stamp(p);
    let actor_s = actor.actor();
    let inc = Incident {
        title: input.title.trim().to_string(),
        symptom: input.symptom.trim().to_string(),
        symptom_category: input.symptom_category.clone(),
        source_channel: input.source_channel.clone(),
        reporter: input.reporter.trim().to_string(),
        reporter_contact: input.reporter_contact.clone(),
        org_id: org.id,
        region_id: org.region_id,
        system_id,
        business: input.business.clone(),
        customer: input.customer.clone(),
        owning_org_id,
        state: rules::initial_state(&pol),
        fault_level: assessed.level.clone(),
        level_reasons: serde_json::to_string(&assessed.reasons).unwrap_or_else(|_| "[]".into()),
        level_set_at: Some(now),
        fl1_at: (assessed.level == "FL1").then_some(now),
        fl2_at: (assessed.level == "FL2").then_some(now),
        cs_level: input.facts.cs_level.map(i64::from),
        facts: serde_json::to_string(&input.facts).unwrap_or_else(|_| "{}".into()),
        created_by: actor_s.clone(),
        created_at: now,
        updated_at: now,
        ..Default::default()
    };
    let pol2 = pol.clone();
    let system_key = input.system_key.clone();
    let tz: chrono_tz::Tz = pol
        .pack
        .change
        .time_zone
        .parse()
        .unwrap_or(chrono_tz::Asia::Shanghai);
    let saved = p
        .store
        .write(move |c| {
            Box::pin(async move {
                let inc = db::insert_numbered(c, &inc, &format!("INC-{day}")).await?;
                // CNT-06: a fault during an active key-communications assurance period, in its scope, goes to
                // the network department.
                crate::assurance_plans::report_incident(
                    c,
                    &pol2.pack.change,
                    tz,
                    &crate::assurance_plans::ReportedIncident {
                        id: inc.id,
                        number: &inc.number,
                        title: &inc.title,
                        system: system_key.as_deref(),
                        region_id: inc.region_id,
                        level: &inc.fault_level,
                    },
                    now,
                )
                .await?;
                event(
                    c,
                    &inc,
                    now,
                    "incident.created",
                    &actor_s,
                    json!({"level": inc.fault_level, "state": inc.state}),
                )
                .await?;
                let line = match line {
                    Some(l) => {
                        let row = IncidentLeasedLine {
                            incident_id: inc.id,
                            leased_line: l.line,
                            service_type: l.service_type,
                            set_by: actor_s.clone(),
                            set_at: now,
                        };
                        tianshu_store::leased_lines::set(c, &row).await?;
                        event(c, &inc, now, "incident.leased_line_set", &actor_s,
                            json!({"leased_line": row.leased_line, "service_type": row.service_type})).await?;
                        Some(row)
                    }
                    None => None,
                };
                let inc =
                    rules::apply_clock_plan(c, &pol2, &inc, rules::Trigger::Created, now).await?;
                audit(c, &actor_s, "incident.create", None, &inc, rid, now).await?;
                // On the SQLite writer the response's clocks are read in place, in this transaction (no
                // round trip to a reader after it); PostgreSQL reads them after COMMIT as before, to keep
                // its transaction (which holds the audit head) short.
                let clocks = if c.is_postgres() {
                    None
                } else {
                    Some(tianshu_store::timers::clocks_in_tx(c, KIND, &inc.id.to_string()).await?)
                };
                Ok((inc, clocks, line))
            })
        })
        .await?;
    let (i, clocks, line) = saved;
    let mut v = match clocks {
        Some(clocks) => assemble(p, actor, i, Vec::new(), Vec::new(), clocks, Vec::new())?,
        None => view_new(p, actor, i).await?,
    };
    v.leased_line = line;
    Ok(v)
}

/// The detail view of one incident.
pub async fn get(p: &Platform, actor: &Principal, id: i64) -> ServiceResult<IncidentView> {
    actor.require(Permission::IncidentRead)?;
    let i = p
        .store
        .incident(id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("incident {id}")))?;
    require_visible(actor, &i)?;
    view(p, actor, i).await
}

async fn view(p: &Platform, actor: &Principal, i: Incident) -> ServiceResult<IncidentView> {
    let children = p.store.incident_children(i.id).await?;
    let merged = p.store.incident_merged(i.id).await?;
    let clocks = p.store.clocks_of(KIND, &i.id.to_string()).await?;
    let mut links = Vec::new();
    for l in p.store.links_of(KIND, &i.id.to_string()).await? {
        if link_target_visible(p, actor, &l.to_kind, &l.to_id).await? {
            links.push(l);
        }
    }
    let line = p.store.incident_leased_line(i.id).await?;
    let mut v = assemble(p, actor, i, children, merged, clocks, links)?;
    v.leased_line = line;
    Ok(v)
}

/// The view of a ticket created in this request: it has no children, merged reports or links yet, so only
/// its clocks are read (the create path is the hottest write; every read is a round trip).
async fn view_new(p: &Platform, actor: &Principal, i: Incident) -> ServiceResult<IncidentView> {
    let clocks = p.store.clocks_of(KIND, &i.id.to_string()).await?;
    assemble(p, actor, i, Vec::new(), Vec::new(), clocks, Vec::new())
}

fn assemble(
    p: &Platform,
    actor: &Principal,
    i: Incident,
    children: Vec<Incident>,
    merged: Vec<Incident>,
    clocks: Vec<ClockRow>,
    links: Vec<Link>,
) -> ServiceResult<IncidentView> {
    let pol = p.policy.current();
    let allowed_actions = rules::allowed(&pol, &i, &children, actor);
    let reasons: Vec<rules::LevelReasonOut> =
        serde_json::from_str(&i.level_reasons).unwrap_or_default();
    let dispatches: Vec<&Incident> = children
        .iter()
        .filter(|c| c.child_kind.as_deref() != Some("clone"))
        .collect();
    let children_open = dispatches
        .iter()
        .filter(|c| !rules::is_finished(&c.state))
        .count();
    let children_progress = if dispatches.is_empty() {
        0
    } else {
        dispatches
            .iter()
            .map(|c| {
                if rules::is_finished(&c.state) {
                    100
                } else {
                    c.progress
                }
            })
            .sum::<i64>()
            / dispatches.len() as i64
    };
    Ok(IncidentView {
        incident: i,
        reasons,
        allowed_actions,
        children,
        merged,
        clocks,
        links,
        children_progress,
        children_open,
        leased_line: None,
    })
}

/// A page of incidents the caller may see, newest first.
pub async fn list(
    p: &Platform,
    actor: &Principal,
    before_id: i64,
    limit: i64,
    mut f: IncidentFilter,
) -> ServiceResult<Vec<Incident>> {
    actor.require(Permission::IncidentRead)?;
    match actor.scope {
        Scope::Province => {}
        Scope::Region(r) => f.region_id = Some(r),
        Scope::Vendor(v) => f.assignee_org_id = Some(v),
    }
    Ok(p.store.incidents_page(before_id, limit, &f).await?)
}

/// List filters as users give them: codes and keys rather than row ids. Empty strings mean "any".
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ListFilterInput {
    pub q: Option<String>,
    /// Fault level: `general`, `FL1`, `FL2`.
    pub level: Option<String>,
    pub state: Option<String>,
    /// Region (branch) organisation key.
    pub region: Option<String>,
    /// Affected system key.
    pub system: Option<String>,
    /// Source channel code.
    pub source: Option<String>,
    /// Only tickets with a clock past due or breached.
    pub overdue: bool,
    /// Include dispatch children and merged reports.
    pub all: bool,
}

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Turns user-facing list filters into a store filter; an unknown code names its field (422), an unknown
/// region or system key is an unknown reference (400).
pub async fn resolve_filter(p: &Platform, f: &ListFilterInput) -> ServiceResult<IncidentFilter> {
    let mut out = IncidentFilter {
        q: given(&f.q).map(str::to_string),
        top_level: !f.all,
        ..Default::default()
    };
    if let Some(lv) = given(&f.level) {
        if !["general", "FL1", "FL2"].contains(&lv) {
            return Err(ServiceError::invalid(
                "level",
                format!("no fault level '{lv}' (general, FL1, FL2)"),
            ));
        }
        out.fault_level = Some(lv.to_string());
    }
    if let Some(s) = given(&f.state) {
        let st: tianshu_core::incident::IncidentState =
            s.parse()
                .map_err(|e: tianshu_core::incident::UnknownCode| {
                    ServiceError::invalid("state", e.to_string())
                })?;
        out.state = Some(st.as_str().to_string());
    }
    if let Some(s) = given(&f.source) {
        let ch: tianshu_core::incident::SourceChannel =
            s.parse()
                .map_err(|e: tianshu_core::incident::UnknownCode| {
                    ServiceError::invalid("source", e.to_string())
                })?;
        out.source_channel = Some(ch.as_str().to_string());
    }
    if let Some(key) = given(&f.region) {
        let org = p.store.org_by_key(key).await?.ok_or_else(|| {
            ServiceError::unknown_ref(
                "region",
                format!("no organisation '{key}'"),
                format!("没有机构 '{key}'"),
            )
        })?;
        out.region_id = Some(org.region_id.unwrap_or(org.id));
    }
    if let Some(key) = given(&f.system) {
        let sys = p
            .store
            .systems()
            .await?
            .into_iter()
            .find(|s| s.key == key)
            .ok_or_else(|| {
                ServiceError::unknown_ref(
                    "system",
                    format!("no system '{key}'"),
                    format!("没有系统 '{key}'"),
                )
            })?;
        out.system_id = Some(sys.id);
    }
    if f.overdue {
        out.overdue_at = Some(p.now_us());
    }
    Ok(out)
}

/// The timeline of an incident.
pub async fn timeline(p: &Platform, actor: &Principal, id: i64) -> ServiceResult<Vec<Event>> {
    let i = p
        .store
        .incident(id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("incident {id}")))?;
    actor.require(Permission::IncidentRead)?;
    require_visible(actor, &i)?;
    let mut shown = Vec::new();
    for e in p.store.events_of(KIND, &id.to_string()).await? {
        if e.kind == "incident.linked" {
            let d: Value = serde_json::from_str(&e.data).unwrap_or_default();
            let (kind, to) = (d["to_kind"].as_str(), d["to_id"].as_str());
            if !link_target_visible(p, actor, kind.unwrap_or(""), to.unwrap_or("")).await? {
                continue;
            }
        }
        shown.push(e);
    }
    Ok(shown)
}

/// Whether the reader may see what a link points at. Problems are scoped by branch and one outside the reader's
/// scope is "not found" (`problems::require_visible`), so a link to it would disclose it: such links are left out.
async fn link_target_visible(
    p: &Platform,
    actor: &Principal,
    to_kind: &str,
    to_id: &str,
) -> ServiceResult<bool> {
    if to_kind != "problem" {
        return Ok(true);
    }
    if !actor.can(Permission::ProblemRead) {
        return Ok(false);
    }
    if actor.scope == Scope::Province {
        return Ok(true);
    }
    // A target naming no stored problem discloses nothing.
    let Ok(id) = to_id.trim().parse::<i64>() else {
        return Ok(true);
    };
    Ok(match p.store.problem(id).await? {
        Some(row) => crate::problems::visible(actor, &row),
        None => true,
    })
}

/// Optional fields of a workflow action.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ActionInput {
    /// Why (required for cancel, reopen and some others, per the workflow in the pack).
    pub reason: Option<String>,
    /// INC-02 cause class, set when pre-processing classifies the ticket.
    pub cause_class: Option<String>,
    /// Free text recorded on the timeline (e.g. the reply to the front line).
    pub note: Option<String>,
    /// INC-04: the pre-processor judges an escalated-complaint tendency (set with `classify`).
    pub escalated: Option<bool>,
}

async fn load_for_change(
    p: &Platform,
    actor: &Principal,
    id: i64,
    version: i64,
) -> ServiceResult<Incident> {
    let i = p
        .store
        .incident(id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("incident {id}")))?;
    require_visible(actor, &i)?;
    if i.version != version {
        return Err(ServiceError::Stale(format!("incident {}", i.number)));
    }
    Ok(i)
}

/// Changes the facts that drive severity; the level is re-assessed and never lowered silently.
pub async fn update_facts(
    p: &Platform,
    actor: &Principal,
    id: i64,
    version: i64,
    facts_in: FactsInput,
    rid: Option<String>,
) -> ServiceResult<IncidentView> {
    actor.require(Permission::IncidentTriage)?;
    let before = load_for_change(p, actor, id, version).await?;
    let pol = p.policy.current();
    let merged = p.store.incident_merged(id).await?;
    let facts = rules::facts_input(&facts_in, &pol)?;
    let total = rules::with_merged(&facts, &merged, &pol)?;
    let old_in: FactsInput = serde_json::from_str(&before.facts).unwrap_or_default();
    let widened = match rules::facts(&old_in, &pol) {
        Ok(old) => rules::with_merged(&old, &merged, &pol)
            .map(|old_total| tianshu_core::incident::impact_widened(&old_total, &total))
            .unwrap_or(false),
        Err(_) => false,
    };
    let current = before.fault_level.clone();
    let a = rules::assess(Some(&current), &total, &pol)?;
    let now = p.now_us();
    let mut inc = before.clone();
    inc.facts = serde_json::to_string(&facts_in).unwrap_or_else(|_| "{}".into());
    inc.cs_level = facts_in.cs_level.map(i64::from);
    let cs_from = (inc.cs_level != before.cs_level).then_some(before.cs_level);
    if a.raised {
        inc.fault_level = a.level.clone();
        inc.level_set_at = Some(now);
        if a.level == "FL1" && inc.fl1_at.is_none() {
            inc.fl1_at = Some(now);
        }
        if a.level == "FL2" && inc.fl2_at.is_none() {
            inc.fl2_at = Some(now);
        }
    }
    inc.level_reasons = serde_json::to_string(&a.reasons).unwrap_or_else(|_| "[]".into());
    let actor_s = actor.actor();
    let pol2 = pol.clone();
    let saved = p
        .store
        .write(move |c| {
            Box::pin(async move {
                let saved = db::save(c, &inc, now).await?;
                event(c, &saved, now, "incident.facts_changed", &actor_s, json!({"facts": serde_json::from_str::<Value>(&saved.facts).unwrap_or_default()})).await?;
                if a.raised {
                    event(c, &saved, now, "incident.level_raised", &actor_s, json!({"from": current, "to": saved.fault_level, "reasons": a.reasons})).await?;
                }
                let trigger = rules::Trigger::FactsUpdated { level_from: a.raised.then(|| current.clone()), cs_from, widened };
                let saved = rules::apply_clock_plan(c, &pol2, &saved, trigger, now).await?;
                if a.would_lower {
                    // SEV-07: a lower level is only ever set by a person with a reason.
                    event(c, &saved, now, "incident.level_kept", &actor_s, json!({"level": saved.fault_level, "facts_suggest": a.level})).await?;
                }
                audit(c, &actor_s, "incident.update_facts", Some(&before), &saved, rid, now).await?;
                Ok(saved)
            })
        })
        .await?;
    view(p, actor, saved).await
}

/// Lowers the fault level by hand; a reason is mandatory (SEV-07).
pub async fn lower_level(
    p: &Platform,
    actor: &Principal,
    id: i64,
    version: i64,
    to: &str,
    reason: &str,
    rid: Option<String>,
) -> ServiceResult<IncidentView> {
    actor.require(Permission::IncidentTriage)?;
    let before = load_for_change(p, actor, id, version).await?;
    rules::check_lower(&before.fault_level, to, reason)?;
    let now = p.now_us();
    let mut inc = before.clone();
    inc.fault_level = to.to_string();
    inc.level_set_at = Some(now);
    let actor_s = actor.actor();
    let reason = reason.trim().to_string();
    let pol = p.policy.current();
    let saved = p
        .store
        .write(move |c| {
            Box::pin(async move {
                let saved = db::save(c, &inc, now).await?;
                event(
                    c,
                    &saved,
                    now,
                    "incident.level_lowered",
                    &actor_s,
                    json!({"from": before.fault_level, "to": saved.fault_level, "reason": reason}),
                )
                .await?;
                let saved = rules::apply_clock_plan(
                    c,
                    &pol,
                    &saved,
                    rules::Trigger::LevelLowered {
                        from: before.fault_level.clone(),
                    },
                    now,
                )
                .await?;
                audit(
                    c,
                    &actor_s,
                    "incident.lower_level",
                    Some(&before),
                    &saved,
                    rid,
                    now,
                )
                .await?;
                Ok(saved)
            })
        })
        .await?;
    view(p, actor, saved).await
}

/// Applies a workflow action (accept, submit for audit, approve, reply, close, reopen, cancel …).
pub async fn act(
    p: &Platform,
    actor: &Principal,
    id: i64,
    version: i64,
    action: &str,
    input: ActionInput,
    rid: Option<String>,
) -> ServiceResult<IncidentView> {
    actor.require(Permission::IncidentRead)?;
    let before = load_for_change(p, actor, id, version).await?;
    let children = p.store.incident_children(id).await?;
    let pol = p.policy.current();
    let outcome = rules::transition(&pol, &before, &children, actor, action, &input)?;
    let now = p.now_us();
    let mut inc = before.clone();
    inc.state = outcome.to.clone();
    if let Some(cc) = &input.cause_class {
        rules::check_cause(cc)?;
        inc.cause_class = Some(cc.clone());
    }
    if let Some(e) = input.escalated {
        inc.escalated_flow = e;
    }
    if outcome.sets_handler {
        inc.handler_id = Some(actor.user_id);
    }
    if outcome.sets_auditor {
        inc.auditor_id = Some(actor.user_id);
    }
    if outcome.resolves {
        inc.resolved_at = Some(now);
    }
    if outcome.closes {
        inc.closed_at = Some(now);
    }
    if outcome.reopens {
        inc.resolved_at = None;
        inc.closed_at = None;
    }
    let actor_s = actor.actor();
    let action_s = action.to_string();
    let saved = p
        .store
        .write(move |c| {
            Box::pin(async move {
                let saved = db::save(c, &inc, now).await?;
                event(c, &saved, now, &format!("incident.{action_s}"), &actor_s, json!({
                    "from": before.state, "to": saved.state, "reason": input.reason, "note": input.note, "cause_class": input.cause_class,
                }))
                .await?;
                let saved = rules::apply_clock_plan(c, &pol, &saved, rules::Trigger::StateChanged { from: before.state.clone() }, now).await?;
                audit(c, &actor_s, &format!("incident.{action_s}"), Some(&before), &saved, rid, now).await?;
                Ok(saved)
            })
        })
        .await?;
    view(p, actor, saved).await
}

/// One hand-off of a multi-dispatch.
#[derive(Debug, Clone, Deserialize)]
pub struct DispatchTarget {
    /// vendor, billing_centre, data_fix, branch, other_department (INC-03).
    pub kind: String,
    /// The receiving organisation.
    pub org_key: String,
    pub note: Option<String>,
}

/// Dispatches the ticket to several teams at once as linked child tasks (DUP-04).
pub async fn dispatch(
    p: &Platform,
    actor: &Principal,
    id: i64,
    version: i64,
    targets: Vec<DispatchTarget>,
    rid: Option<String>,
) -> ServiceResult<IncidentView> {
    actor.require(Permission::IncidentDispatch)?;
    if targets.is_empty() {
        return Err(ServiceError::invalid_zh(
            "targets",
            "name at least one target",
            "至少选择一个派单对象",
        ));
    }
    let before = load_for_change(p, actor, id, version).await?;
    if before.parent_id.is_some() || before.master_id.is_some() {
        return Err(ServiceError::invalid_zh(
            "id",
            "only a top-level ticket can be dispatched",
            "只有主工单可以派单",
        ));
    }
    let pol = p.policy.current();
    let mut resolved = Vec::new();
    for (i, t) in targets.iter().enumerate() {
        rules::check_handoff(&format!("targets[{i}].kind"), &t.kind)?;
        let org = p.store.org_by_key(&t.org_key).await?.ok_or_else(|| {
            ServiceError::unknown_ref(
                format!("targets[{i}].org_key"),
                format!("no organisation '{}'", t.org_key),
                format!("单位“{}”不存在", t.org_key),
            )
        })?;
        resolved.push((t.clone(), org));
    }
    let children_before = p.store.incident_children(id).await?;
    let outcome = rules::transition(
        &pol,
        &before,
        &children_before,
        actor,
        "hand_off",
        &ActionInput::default(),
    )?;
    let (now, day) = stamp(p);
    let actor_s = actor.actor();
    let saved = p
        .store
        .write(move |c| {
            Box::pin(async move {
                let mut parent = before.clone();
                parent.state = outcome.to.clone();
                let mut parent = db::save(c, &parent, now).await?;
                for (t, org) in &resolved {
                    let child = db::insert_numbered(c, &Incident {
                        parent_id: Some(parent.id),
                        child_kind: Some(t.kind.clone()),
                        assignee_org_id: Some(org.id),
                        // A task dispatched to a branch belongs to that branch's region, so its people see it.
                        region_id: org.region_id.or(parent.region_id),
                        state: rules::child_initial_state(),
                        progress: 0,
                        handler_id: None,
                        auditor_id: None,
                        created_by: actor_s.clone(),
                        created_at: now,
                        updated_at: now,
                        level_set_at: parent.level_set_at,
                        ..parent.clone()
                    }, &format!("INC-{day}"))
                    .await?;
                    event(c, &child, now, "incident.dispatched", &actor_s, json!({"parent": parent.number, "kind": t.kind, "org": org.key, "note": t.note})).await?;
                    event(c, &parent, now, "incident.child_dispatched", &actor_s, json!({"child": child.number, "kind": t.kind, "org": org.key})).await?;
                    parent = rules::apply_clock_plan(c, &pol, &parent, rules::Trigger::HandoffStarted { child_id: child.id, kind: t.kind.clone() }, now).await?;
                    db::insert_link(c, &Link {
                        id: 0,
                        from_kind: KIND.into(),
                        from_id: parent.id.to_string(),
                        to_kind: KIND.into(),
                        to_id: child.id.to_string(),
                        link_type: "dispatch".into(),
                        created_by: actor_s.clone(),
                        created_at: now,
                    })
                    .await?;
                }
                audit(c, &actor_s, "incident.dispatch", Some(&before), &parent, rid, now).await?;
                Ok(parent)
            })
        })
        .await?;
    view(p, actor, saved).await
}

/// A progress entry on a ticket or a dispatch child (a reply from the vendor or branch).
#[derive(Debug, Clone, Deserialize)]
pub struct ProgressInput {
    pub version: i64,
    pub note: String,
    /// 0–100.
    pub percent: Option<i64>,
    /// The hand-off is finished (its reply is in `note`).
    #[serde(default)]
    pub done: bool,
    /// The note describes a new symptom: whoever has been told is told again (ESC-02, ESC-08).
    #[serde(default)]
    pub new_symptom: bool,
}

/// Records progress; stops the progress clocks it satisfies and, when `done`, closes a child.
pub async fn progress(
    p: &Platform,
    actor: &Principal,
    id: i64,
    input: ProgressInput,
    rid: Option<String>,
) -> ServiceResult<IncidentView> {
    actor.require(Permission::IncidentRead)?;
    let before = load_for_change(p, actor, id, input.version).await?;
    if !(actor.can(Permission::IncidentTriage)
        || actor.can(Permission::IncidentDispatch)
        || before.assignee_org_id == Some(actor.org_id))
    {
        return Err(ServiceError::Forbidden(Permission::IncidentTriage));
    }
    rules::check_text("note", &input.note, 4000)?;
    let percent = input.percent.unwrap_or(before.progress);
    if !(0..=100).contains(&percent) {
        return Err(ServiceError::invalid_zh(
            "percent",
            "must be between 0 and 100",
            "进度须在 0–100 之间",
        ));
    }
    let now = p.now_us();
    let mut inc = before.clone();
    inc.progress = if input.done { 100 } else { percent };
    inc.last_progress_at = Some(now);
    if input.done && inc.parent_id.is_some() {
        inc.state = rules::child_done_state();
        inc.resolved_at = Some(now);
    }
    let actor_s = actor.actor();
    let pol = p.policy.current();
    let note = input.note.trim().to_string();
    let done = input.done;
    let new_symptom = input.new_symptom;
    let saved = p
        .store
        .write(move |c| {
            Box::pin(async move {
                let saved = db::save(c, &inc, now).await?;
                event(c, &saved, now, "incident.progress", &actor_s, json!({"note": note, "percent": saved.progress, "done": done, "new_symptom": new_symptom})).await?;
                match saved.parent_id {
                    Some(parent_id) => {
                        if let Some(parent) = db::get_in_tx(c, parent_id).await? {
                            event(c, &parent, now, "incident.child_progress", &actor_s, json!({"child": saved.number, "percent": saved.progress, "done": done, "note": note})).await?;
                            let trigger = if done {
                                rules::Trigger::HandoffReplied { child_id: saved.id }
                            } else {
                                rules::Trigger::HandoffProgress { child_id: saved.id }
                            };
                            rules::apply_clock_plan(c, &pol, &parent, trigger, now).await?;
                        }
                    }
                    None => {
                        let saved = rules::apply_clock_plan(c, &pol, &saved, rules::Trigger::ProgressRecorded, now).await?;
                        if new_symptom {
                            rules::apply_clock_plan(c, &pol, &saved, rules::Trigger::NewSymptom, now).await?;
                        }
                    }
                }
                let saved = db::get_in_tx(c, saved.id).await?.unwrap_or(saved);
                audit(c, &actor_s, "incident.progress", Some(&before), &saved, rid, now).await?;
                Ok(saved)
            })
        })
        .await?;
    view(p, actor, saved).await
}

/// A report a person records (see [`rules::ReportKind`]).
#[derive(Debug, Clone, Deserialize)]
pub struct ReportInput {
    pub version: i64,
    /// room_manager, centre_manager, group, analysis, bulletin.
    pub kind: String,
    pub note: String,
}

/// Records that a report was made (by phone, ITSM, bulletin): the clocks it satisfies stop, the ones it starts
/// start (ESC-03 after the room manager, ESC-08 after the centre manager, ESC-09 group and analysis, ESC-12).
pub async fn report(
    p: &Platform,
    actor: &Principal,
    id: i64,
    input: ReportInput,
    rid: Option<String>,
) -> ServiceResult<IncidentView> {
    actor.require(Permission::IncidentEscalate)?;
    let kind = rules::ReportKind::parse(&input.kind)?;
    rules::check_text("note", &input.note, 4000)?;
    let before = load_for_change(p, actor, id, input.version).await?;
    if before.master_id.is_some() || before.parent_id.is_some() {
        return Err(ServiceError::invalid_zh(
            "id",
            "reports are recorded on the top-level ticket, not on a merged report or dispatch child",
            "上报记录在主工单上,而非合并报告或派发子单",
        ));
    }
    let now = p.now_us();
    let mut inc = before.clone();
    // A repeated report to a manager is a fresh report, but the clocks it starts run from the first one.
    let first = match kind {
        rules::ReportKind::RoomManager => {
            let first = inc.reported_to_rm_at.is_none();
            inc.reported_to_rm_at.get_or_insert(now);
            first
        }
        rules::ReportKind::CentreManager => {
            let first = inc.reported_to_cm_at.is_none();
            inc.reported_to_cm_at.get_or_insert(now);
            first
        }
        _ => true,
    };
    let actor_s = actor.actor();
    let pol = p.policy.current();
    let note = input.note.trim().to_string();
    let saved = p
        .store
        .write(move |c| {
            Box::pin(async move {
                let saved = db::save(c, &inc, now).await?;
                event(
                    c,
                    &saved,
                    now,
                    "incident.reported",
                    &actor_s,
                    json!({"kind": kind.as_str(), "note": note}),
                )
                .await?;
                let saved = if first {
                    rules::apply_clock_plan(c, &pol, &saved, rules::Trigger::Reported(kind), now)
                        .await?
                } else {
                    saved
                };
                audit(
                    c,
                    &actor_s,
                    "incident.report",
                    Some(&before),
                    &saved,
                    rid,
                    now,
                )
                .await?;
                Ok(saved)
            })
        })
        .await?;
    view(p, actor, saved).await
}

/// Merges duplicate reports under a master ticket (DUP-01); their counts join the master's facts.
pub async fn merge(
    p: &Platform,
    actor: &Principal,
    master_id: i64,
    version: i64,
    report_ids: Vec<i64>,
    rid: Option<String>,
) -> ServiceResult<IncidentView> {
    actor.require(Permission::IncidentTriage)?;
    let master = load_for_change(p, actor, master_id, version).await?;
    if master.master_id.is_some() || master.parent_id.is_some() {
        return Err(ServiceError::invalid_zh(
            "id",
            "the master must be a top-level ticket",
            "主单必须是顶层工单",
        ));
    }
    let mut reports = Vec::new();
    for (i, rid_) in report_ids.iter().enumerate() {
        let r = p.store.incident(*rid_).await?.ok_or_else(|| {
            ServiceError::invalid_zh(
                format!("report_ids[{i}]"),
                format!("no incident {rid_}"),
                format!("工单 {rid_} 不存在"),
            )
        })?;
        require_visible(actor, &r)?;
        if r.id == master.id
            || r.master_id.is_some()
            || r.parent_id.is_some()
            || rules::is_finished(&r.state)
        {
            return Err(ServiceError::invalid_zh(
                format!("report_ids[{i}]"),
                format!(
                    "{} cannot be merged (it is the master, already merged, a child, or finished)",
                    r.number
                ),
                format!("{} 不能合并（为主单、已合并、为子单或已结束）", r.number),
            ));
        }
        reports.push(r);
    }
    if reports.is_empty() {
        return Err(ServiceError::invalid_zh(
            "report_ids",
            "name at least one report",
            "至少选择一张重复工单",
        ));
    }
    let pol = p.policy.current();
    // DUP-01: each report goes to the branch of its home city for verification (reports without a home
    // branch, e.g. filed by a province team, stay with the master only).
    let mut branches = std::collections::HashMap::new();
    if pol
        .pack
        .incident_workflow
        .duplicates
        .route_reports_to_branch
    {
        for r in &reports {
            if let Some(b) = r.region_id {
                if let Some(org) = p.store.org(b).await? {
                    branches.insert(r.id, org);
                }
            }
        }
    }
    let mut all_merged = p.store.incident_merged(master_id).await?;
    all_merged.extend(reports.iter().cloned());
    let own: FactsInput = serde_json::from_str(&master.facts).unwrap_or_default();
    let total = rules::with_merged(&rules::facts(&own, &pol)?, &all_merged, &pol)?;
    let a = rules::assess(Some(&master.fault_level), &total, &pol)?;
    let now = p.now_us();
    let actor_s = actor.actor();
    let saved = p
        .store
        .write(move |c| {
            Box::pin(async move {
                for r in &reports {
                    let mut m = r.clone();
                    m.master_id = Some(master.id);
                    let m = db::save(c, &m, now).await?;
                    event(c, &m, now, "incident.merged_into", &actor_s, json!({"master": master.number})).await?;
                    tianshu_store::timers::insert_event(c, NewEvent {
                        subject_kind: KIND.into(),
                        subject_id: master.id.to_string(),
                        at: now,
                        kind: "incident.report_merged".into(),
                        actor: actor_s.clone(),
                        data: json!({"report": m.number}),
                        timer_id: None,
                    })
                    .await?;
                    // A merged report's own clocks end: its master carries the work (DUP-01).
                    for k in tianshu_store::timers::live_clock_keys(c, KIND, &m.id.to_string()).await? {
                        crate::clocks::stop(c, KIND, &m.id.to_string(), &k, now, "merged").await?;
                    }
                    if let Some(org) = branches.get(&m.id) {
                        let (_, day) = day_of(&pol, now);
                        let task = db::insert_numbered(c, &Incident {
                            parent_id: Some(m.id),
                            master_id: None,
                            child_kind: Some("branch".into()),
                            assignee_org_id: Some(org.id),
                            region_id: Some(org.id),
                            state: rules::child_initial_state(),
                            progress: 0,
                            handler_id: None,
                            auditor_id: None,
                            created_by: actor_s.clone(),
                            created_at: now,
                            updated_at: now,
                            ..m.clone()
                        }, &format!("INC-{day}"))
                        .await?;
                        let note = format!("DUP-01: 核实重复报障（主单 {}）", master.number);
                        event(c, &task, now, "incident.dispatched", &actor_s, json!({"parent": m.number, "kind": "branch", "org": org.key, "note": note, "rule": "DUP-01"})).await?;
                        event(c, &m, now, "incident.child_dispatched", &actor_s, json!({"child": task.number, "kind": "branch", "org": org.key, "rule": "DUP-01"})).await?;
                        event(c, &master, now, "incident.report_routed", &actor_s, json!({"report": m.number, "task": task.number, "org": org.key, "rule": "DUP-01"})).await?;
                    }
                }
                let mut mm = master.clone();
                mm.level_reasons = serde_json::to_string(&a.reasons).unwrap_or_else(|_| "[]".into());
                if a.raised {
                    mm.fault_level = a.level.clone();
                    mm.level_set_at = Some(now);
                    if a.level == "FL1" && mm.fl1_at.is_none() {
                        mm.fl1_at = Some(now);
                    }
                    if a.level == "FL2" && mm.fl2_at.is_none() {
                        mm.fl2_at = Some(now);
                    }
                }
                let saved = db::save(c, &mm, now).await?;
                if a.raised {
                    event(c, &saved, now, "incident.level_raised", &actor_s, json!({"from": master.fault_level, "to": saved.fault_level, "reasons": a.reasons})).await?;
                }
                // Each merged report is one more complaint about the fault: its impact grew (ESC-02, ESC-08).
                let trigger = rules::Trigger::FactsUpdated { level_from: a.raised.then(|| master.fault_level.clone()), cs_from: None, widened: true };
                let saved = rules::apply_clock_plan(c, &pol, &saved, trigger, now).await?;
                audit(c, &actor_s, "incident.merge", Some(&master), &saved, rid, now).await?;
                Ok(saved)
            })
        })
        .await?;
    view(p, actor, saved).await
}

/// Takes one report out of its master again; both keep their full history.
pub async fn unmerge(
    p: &Platform,
    actor: &Principal,
    report_id: i64,
    version: i64,
    rid: Option<String>,
) -> ServiceResult<IncidentView> {
    actor.require(Permission::IncidentTriage)?;
    let before = load_for_change(p, actor, report_id, version).await?;
    let Some(master_id) = before.master_id else {
        return Err(ServiceError::invalid_zh(
            "id",
            "this report is not merged",
            "该工单未被合并",
        ));
    };
    let now = p.now_us();
    let actor_s = actor.actor();
    let saved = p
        .store
        .write(move |c| {
            Box::pin(async move {
                let mut r = before.clone();
                r.master_id = None;
                let r = db::save(c, &r, now).await?;
                event(
                    c,
                    &r,
                    now,
                    "incident.unmerged",
                    &actor_s,
                    json!({"master_id": master_id}),
                )
                .await?;
                if let Some(m) = db::get_in_tx(c, master_id).await? {
                    event(
                        c,
                        &m,
                        now,
                        "incident.report_unmerged",
                        &actor_s,
                        json!({"report": r.number}),
                    )
                    .await?;
                }
                audit(c, &actor_s, "incident.unmerge", Some(&before), &r, rid, now).await?;
                Ok(r)
            })
        })
        .await?;
    view(p, actor, saved).await
}

/// Links a ticket to another subject (bug, problem, data-fix request, change, alert, customer).
pub async fn link(
    p: &Platform,
    actor: &Principal,
    id: i64,
    to_kind: &str,
    to_id: &str,
    link_type: &str,
    rid: Option<String>,
) -> ServiceResult<IncidentView> {
    actor.require(Permission::IncidentTriage)?;
    let i = p
        .store
        .incident(id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("incident {id}")))?;
    require_visible(actor, &i)?;
    rules::check_link(to_kind, link_type)?;
    rules::check_text("to_id", to_id, 128)?;
    let now = p.now_us();
    let actor_s = actor.actor();
    let l = Link {
        id: 0,
        from_kind: KIND.into(),
        from_id: id.to_string(),
        to_kind: to_kind.into(),
        to_id: to_id.trim().into(),
        link_type: link_type.into(),
        created_by: actor_s.clone(),
        created_at: now,
    };
    let inc = i.clone();
    p.store
        .write(move |c| {
            Box::pin(async move {
                db::insert_link(c, &l).await?;
                event(
                    c,
                    &inc,
                    now,
                    "incident.linked",
                    &actor_s,
                    json!({"to_kind": l.to_kind, "to_id": l.to_id, "type": l.link_type}),
                )
                .await?;
                append(
                    c,
                    NewAuditEntry {
                        actor: actor_s,
                        action: "incident.link".into(),
                        object_type: KIND.into(),
                        object_id: inc.id.to_string(),
                        before: None,
                        after: Some(json!(l)),
                        request_id: rid,
                        at: now,
                    },
                )
                .await?;
                Ok(())
            })
        })
        .await?;
    view(p, actor, i).await
}

/// DUP-01: open reports of the same system and symptom category received within the pack's window.
pub async fn duplicates(p: &Platform, actor: &Principal, id: i64) -> ServiceResult<Vec<Incident>> {
    actor.require(Permission::IncidentRead)?;
    let i = p
        .store
        .incident(id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("incident {id}")))?;
    require_visible(actor, &i)?;
    let pol = p.policy.current();
    let window = pol.pack.incident_workflow.duplicates.window.seconds() * 1_000_000;
    let f = IncidentFilter {
        system_id: i.system_id,
        since: Some(i.created_at - window),
        ..Default::default()
    };
    let nearby = list(p, actor, i64::MAX, 500, f).await?;
    let summary = |x: &Incident| tianshu_core::incident::ReportSummary {
        id: x.id.to_string(),
        system: x.system_id.map(|s| s.to_string()).unwrap_or_default(),
        symptom: x
            .symptom_category
            .clone()
            .unwrap_or_else(|| x.title.clone()),
        received_at: tianshu_store::time::from_micros(x.created_at),
        is_clone_or_child: x.parent_id.is_some(),
        merged: x.master_id.is_some(),
    };
    let me = summary(&i);
    let all: Vec<_> = nearby
        .iter()
        .filter(|x| !rules::is_finished(&x.state))
        .map(summary)
        .collect();
    let ids: Vec<String> = tianshu_core::incident::duplicate_candidates(
        &me,
        &all,
        &pol.pack.incident_workflow.duplicates,
    )
    .into_iter()
    .map(|r| r.id.clone())
    .collect();
    Ok(nearby
        .into_iter()
        .filter(|x| ids.contains(&x.id.to_string()))
        .collect())
}

/// RPT-01..03: the frequent faults of a weekly or monthly report ending (exclusive) on `end`.
pub async fn frequent_faults(
    p: &Platform,
    actor: &Principal,
    monthly: bool,
    end: chrono::NaiveDate,
) -> ServiceResult<Vec<tianshu_core::incident::FrequentFault>> {
    use chrono::Datelike;
    use tianshu_core::incident::{Occurrence, ReportWindow};
    actor.require(Permission::ReportRead)?;
    let pol = p.policy.current();
    let tz: chrono_tz::Tz = pol
        .pack
        .pack
        .time_zone
        .parse()
        .unwrap_or(chrono_tz::Asia::Shanghai);
    let last = end.pred_opt().unwrap_or(end);
    let week_start = end - chrono::Duration::days(7);
    let month_start = last.with_day(1).unwrap_or(last);
    let start = if monthly {
        month_start
    } else {
        week_start.min(month_start)
    };
    let since = tz
        .from_local_datetime(&start.and_hms_opt(0, 0, 0).unwrap_or_default())
        .earliest()
        .map(|t| t.timestamp_micros())
        .unwrap_or(0);
    let systems: std::collections::HashMap<i64, String> = p
        .store
        .systems()
        .await?
        .into_iter()
        .map(|s| (s.id, s.key))
        .collect();
    let merged_counts: std::collections::HashMap<i64, i64> = p
        .store
        .merged_counts_since(since)
        .await?
        .into_iter()
        .collect();
    let mut occurrences = Vec::new();
    let mut before = i64::MAX;
    loop {
        let f = IncidentFilter {
            since: Some(since),
            ..Default::default()
        };
        let page = list(p, actor, before, 500, f).await?;
        let Some(last_row) = page.last() else { break };
        before = last_row.id;
        for i in page
            .iter()
            .filter(|i| i.parent_id.is_none() && i.master_id.is_none() && i.state != "cancelled")
        {
            let facts: FactsInput = serde_json::from_str(&i.facts).unwrap_or_default();
            let merged = merged_counts.get(&i.id).copied().unwrap_or(0) as u64;
            let key = format!(
                "{}:{}",
                i.system_id
                    .and_then(|s| systems.get(&s).cloned())
                    .unwrap_or_else(|| "-".into()),
                i.symptom_category
                    .clone()
                    .unwrap_or_else(|| i.title.clone())
            );
            // DUP-06: every occurrence counts, several on one day included.
            occurrences.push(Occurrence {
                fault_key: key,
                category: i.cause_class.clone(),
                date: tianshu_store::time::from_micros(i.created_at)
                    .with_timezone(&tz)
                    .date_naive(),
                complaints: facts.complaints.unwrap_or(0) + merged,
            });
        }
        if page.len() < 500 {
            break;
        }
    }
    let kind = if monthly {
        tianshu_core::policy::ReportKind::Monthly
    } else {
        tianshu_core::policy::ReportKind::Weekly
    };
    let window = ReportWindow {
        kind,
        start: if monthly { month_start } else { week_start },
        end,
    };
    Ok(tianshu_core::incident::frequent_faults(
        &occurrences,
        window,
        &pol.pack.frequent_faults,
    ))
}

/// What a BUG record needs beyond the incident (BUG-05 collaboration-ticket fields).
#[derive(Debug, Clone, Deserialize)]
pub struct BugInput {
    pub description: String,
    pub complaining_number: String,
    #[serde(default)]
    pub vendor_reply: String,
    pub bug_number: Option<String>,
    pub assistance_requested: String,
    pub complaints: Option<u64>,
    pub outage_minutes: Option<u64>,
    /// special, urgent or normal.
    pub urgency: String,
    pub expected_resolution: String,
    #[serde(default)]
    pub consequence_if_missed: String,
}

/// Converts a ticket into a BUG record (BUG-02/05), linked both ways; BUG-03 tells the room manager.
pub async fn convert_to_bug(
    p: &Platform,
    actor: &Principal,
    id: i64,
    input: BugInput,
    rid: Option<String>,
) -> ServiceResult<tianshu_store::incidents::Bug> {
    use std::str::FromStr;
    use tianshu_core::incident::{bug_needs_room_manager, BugUrgency, CollaborationTicket};
    actor.require(Permission::IncidentEscalate)?;
    let inc = p
        .store
        .incident(id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("incident {id}")))?;
    require_visible(actor, &inc)?;
    let urgency = BugUrgency::from_str(&input.urgency).map_err(|e| {
        ServiceError::invalid_zh(
            "urgency",
            e.to_string(),
            "紧急程度须为 special（特级）、urgent（紧急）或 normal（一般）",
        )
    })?;
    let ticket = CollaborationTicket {
        incident_id: inc.number.clone(),
        description: input.description.clone(),
        complaining_number: input.complaining_number.clone(),
        vendor_reply: input.vendor_reply.clone(),
        bug_number: input.bug_number.clone(),
        assistance_requested: input.assistance_requested.clone(),
        complaints: input.complaints,
        outage_minutes: input.outage_minutes,
        urgency,
        expected_resolution: input.expected_resolution.clone(),
        consequence_if_missed: input.consequence_if_missed.clone(),
    };
    if let Some(issue) = ticket.check().first() {
        return Err(ServiceError::invalid(issue.field, issue.message));
    }
    let pol = p.policy.current();
    let facts: FactsInput = serde_json::from_str(&inc.facts).unwrap_or_default();
    let cs = inc
        .cs_level
        .and_then(|v| u8::try_from(v).ok())
        .and_then(tianshu_core::ComplaintLevel::new);
    let room_manager = bug_needs_room_manager(
        facts.affected_users,
        cs,
        &pol.pack.escalation.bug_room_manager,
    );
    let (now, day) = stamp(p);
    let actor_s = actor.actor();
    let payload = serde_json::to_string(&ticket).unwrap_or_else(|_| "{}".into());
    let bug =
        p.store
            .write(move |c| {
                Box::pin(async move {
                    let n = db::next_in_sequence(c, &format!("BUG-{day}")).await?;
                    let bug = db::insert_bug(
                        c,
                        &tianshu_store::incidents::Bug {
                            id: 0,
                            number: format!("BUG-{day}-{n:04}"),
                            incident_id: inc.id,
                            urgency: urgency.as_str().into(),
                            payload,
                            state: "submitted".into(),
                            created_by: actor_s.clone(),
                            created_at: now,
                        },
                    )
                    .await?;
                    db::insert_link(
                        c,
                        &Link {
                            id: 0,
                            from_kind: KIND.into(),
                            from_id: inc.id.to_string(),
                            to_kind: "bug".into(),
                            to_id: bug.number.clone(),
                            link_type: "converted_to".into(),
                            created_by: actor_s.clone(),
                            created_at: now,
                        },
                    )
                    .await?;
                    event(
                        c,
                        &inc,
                        now,
                        "incident.bug_raised",
                        &actor_s,
                        json!({"bug": bug.number, "urgency": bug.urgency}),
                    )
                    .await?;
                    if let Some(why) = &room_manager {
                        tianshu_store::timers::insert_outbox(c, tianshu_store::timers::NewOutbox {
                        idempotency_key: format!("bug:{}:room_manager", bug.number),
                        subject_kind: KIND.into(),
                        subject_id: inc.id.to_string(),
                        template: "bug03_room_manager".into(),
                        recipients: json!({"roles": ["room_manager"]}),
                        context: json!({"incident": inc.number, "bug": bug.number, "why": why}),
                        cause: "BUG-03".into(),
                        state: "queued".into(),
                        created_at: now,
                    })
                    .await?;
                    }
                    append(
                        c,
                        NewAuditEntry {
                            actor: actor_s,
                            action: "incident.convert_to_bug".into(),
                            object_type: "bug".into(),
                            object_id: bug.number.clone(),
                            before: None,
                            after: Some(json!(bug)),
                            request_id: rid,
                            at: now,
                        },
                    )
                    .await?;
                    Ok(bug)
                })
            })
            .await?;
    Ok(bug)
}

/// Largest attachment accepted.
pub const MAX_ATTACHMENT_BYTES: usize = 10 * 1024 * 1024;

/// Attaches a file to a ticket (audited, on the timeline).
pub async fn attach(
    p: &Platform,
    actor: &Principal,
    id: i64,
    filename: &str,
    content_type: &str,
    data: Vec<u8>,
    rid: Option<String>,
) -> ServiceResult<tianshu_store::incidents::Attachment> {
    use sha2::Digest;
    actor.require(Permission::IncidentRead)?;
    let inc = p
        .store
        .incident(id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("incident {id}")))?;
    require_visible(actor, &inc)?;
    if !(actor.can(Permission::IncidentTriage)
        || actor.can(Permission::IncidentCreate)
        || inc.assignee_org_id == Some(actor.org_id))
    {
        return Err(ServiceError::Forbidden(Permission::IncidentTriage));
    }
    rules::check_text("filename", filename, 200)?;
    if filename.contains(['/', '\\', '\n', '\r']) || filename.starts_with('.') {
        return Err(ServiceError::invalid_zh(
            "filename",
            "must be a plain file name",
            "须为不含路径的文件名",
        ));
    }
    if data.is_empty() {
        return Err(ServiceError::invalid_zh(
            "body",
            "the file is empty",
            "文件为空",
        ));
    }
    if data.len() > MAX_ATTACHMENT_BYTES {
        return Err(ServiceError::invalid_zh(
            "body",
            "the file exceeds 10 MiB",
            "文件超过 10 MiB",
        ));
    }
    let content_type = if content_type.is_empty() || content_type.len() > 100 {
        "application/octet-stream"
    } else {
        content_type
    };
    let now = p.now_us();
    let actor_s = actor.actor();
    let meta = tianshu_store::incidents::Attachment {
        id: 0,
        subject_kind: KIND.into(),
        subject_id: inc.id.to_string(),
        filename: filename.trim().to_string(),
        content_type: content_type.to_string(),
        size: data.len() as i64,
        sha256: hex::encode(sha2::Sha256::digest(&data)),
        created_by: actor_s.clone(),
        created_at: now,
    };
    Ok(p.store
        .write(move |c| {
            Box::pin(async move {
                let a = db::insert_attachment(c, &meta, &data).await?;
                event(
                    c,
                    &inc,
                    now,
                    "incident.attached",
                    &actor_s,
                    json!({"file": a.filename, "size": a.size, "sha256": a.sha256}),
                )
                .await?;
                append(
                    c,
                    NewAuditEntry {
                        actor: actor_s,
                        action: "incident.attach".into(),
                        object_type: "attachment".into(),
                        object_id: a.id.to_string(),
                        before: None,
                        after: Some(json!(a)),
                        request_id: rid,
                        at: now,
                    },
                )
                .await?;
                Ok(a)
            })
        })
        .await?)
}

/// The attachments of a ticket.
pub async fn attachments(
    p: &Platform,
    actor: &Principal,
    id: i64,
) -> ServiceResult<Vec<tianshu_store::incidents::Attachment>> {
    let inc = p
        .store
        .incident(id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("incident {id}")))?;
    actor.require(Permission::IncidentRead)?;
    require_visible(actor, &inc)?;
    Ok(p.store.attachments_of(KIND, &id.to_string()).await?)
}

/// One attachment's bytes, if its ticket is visible to the caller.
pub async fn download(
    p: &Platform,
    actor: &Principal,
    attachment_id: i64,
) -> ServiceResult<(tianshu_store::incidents::Attachment, Vec<u8>)> {
    actor.require(Permission::IncidentRead)?;
    let (meta, data) = p
        .store
        .attachment(attachment_id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("attachment {attachment_id}")))?;
    let inc_id: i64 = meta
        .subject_id
        .parse()
        .map_err(|_| ServiceError::NotFound(format!("attachment {attachment_id}")))?;
    let inc = p
        .store
        .incident(inc_id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("attachment {attachment_id}")))?;
    require_visible(actor, &inc)
        .map_err(|_| ServiceError::NotFound(format!("attachment {attachment_id}")))?;
    Ok((meta, data))
}
