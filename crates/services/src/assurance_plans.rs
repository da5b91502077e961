//! CNT-06 key-communications assurance (重保) plans: before a holiday or event the plan is written (scope, measures,
//! contingency, fault handling and escalation, team contacts, single-route and fault-prone sections with their
//! contingency and improvement), activated for its period and archived after it. While an active plan's period
//! runs, every incident reported in its scope is reported to the network department through the outbox
//! ([`report_incident`], called in the incident's own transaction).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tianshu_core::change::{
    assurance_covers, check_assurance_activate, check_assurance_archive, check_assurance_plan,
    AssurancePlan, WeakSection,
};
use tianshu_core::dataop::Refusal;
use tianshu_core::policy::ChangePolicy;
use tianshu_core::Permission;
use tianshu_store::assurance::{self as st, FaultReportRow, NewPlan, PlanRow};
use tianshu_store::audit::{append, NewAuditEntry};
use tianshu_store::timers::{insert_outbox, NewOutbox};
use tianshu_store::{Conn, StoreError, StoreResult};

use crate::authz::Principal;
use crate::error::{ServiceError, ServiceResult};
use crate::Platform;

fn refuse(r: Refusal) -> ServiceError {
    ServiceError::invalid_zh(r.field, r.message, r.zh)
}

fn parse_time(field: &str, s: &str) -> ServiceResult<i64> {
    DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.with_timezone(&Utc).timestamp_micros())
        .map_err(|e| ServiceError::invalid(field, format!("'{s}' is not an RFC 3339 time: {e}")))
}

fn at(us: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_micros(us).unwrap_or_default()
}

fn list<T: serde::de::DeserializeOwned>(s: &str) -> Vec<T> {
    serde_json::from_str(s).unwrap_or_default()
}

/// A plan as written (CNT-06).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanInput {
    /// The holiday or event assured.
    #[serde(default)]
    pub name: String,
    /// The assurance period, RFC 3339.
    #[serde(default)]
    pub starts_at: String,
    #[serde(default)]
    pub ends_at: String,
    /// Systems in scope (system keys).
    #[serde(default)]
    pub scope_systems: Vec<String>,
    /// Regions in scope (branch organisation keys).
    #[serde(default)]
    pub scope_regions: Vec<String>,
    #[serde(default)]
    pub measures: String,
    #[serde(default)]
    pub contingency: String,
    /// Fault handling and escalation.
    #[serde(default)]
    pub escalation: String,
    /// Team contacts.
    #[serde(default)]
    pub contacts: String,
    /// Single-route and fault-prone sections with their contingency and improvement.
    #[serde(default)]
    pub weak_sections: Vec<WeakSection>,
}

/// A plan as returned.
#[derive(Debug, Clone, Serialize)]
pub struct PlanView {
    pub id: i64,
    pub name: String,
    pub starts_at: i64,
    pub ends_at: i64,
    pub scope_systems: Vec<String>,
    pub scope_regions: Vec<String>,
    pub measures: String,
    pub contingency: String,
    pub escalation: String,
    pub contacts: String,
    pub weak_sections: Vec<WeakSection>,
    /// draft, active, archived.
    pub state: String,
    /// The period is running now.
    pub in_period: bool,
    pub created_by: String,
    pub created_at: i64,
    pub activated_by: Option<String>,
    pub activated_at: Option<i64>,
    pub archived_by: Option<String>,
    pub archived_at: Option<i64>,
    pub version: i64,
    /// The faults reported to the network department under this plan (not filled in lists).
    pub fault_reports: Vec<FaultReportRow>,
}

fn view(r: PlanRow, now: i64, fault_reports: Vec<FaultReportRow>) -> PlanView {
    PlanView {
        id: r.id,
        name: r.name,
        starts_at: r.starts_at,
        ends_at: r.ends_at,
        scope_systems: list(&r.scope_systems),
        scope_regions: list(&r.scope_regions),
        measures: r.measures,
        contingency: r.contingency,
        escalation: r.escalation,
        contacts: r.contacts,
        weak_sections: list(&r.weak_sections),
        in_period: r.starts_at <= now && now < r.ends_at,
        state: r.state,
        created_by: r.created_by,
        created_at: r.created_at,
        activated_by: r.activated_by,
        activated_at: r.activated_at,
        archived_by: r.archived_by,
        archived_at: r.archived_at,
        version: r.version,
        fault_reports,
    }
}

fn too_long(field: &str, v: &str, max: usize) -> ServiceResult<()> {
    if v.chars().count() > max {
        return Err(ServiceError::invalid(
            field,
            format!("at most {max} characters"),
        ));
    }
    Ok(())
}

/// Writes a draft plan (needs `change.request`): every part CNT-06 requires is checked, naming the field; the
/// systems and regions in scope must exist. Audited.
pub async fn create(p: &Platform, actor: &Principal, input: PlanInput) -> ServiceResult<PlanView> {
    actor.require(Permission::ChangeRequest)?;
    let pol = p.policy.current();
    let cp: &ChangePolicy = &pol.pack.change;
    let starts_at = if input.starts_at.trim().is_empty() {
        return Err(ServiceError::invalid_zh(
            "starts_at",
            format!(
                "{}: the assurance plan states its period",
                cp.assurance.rule
            ),
            format!("{}：重保方案须写明重保期", cp.assurance.rule),
        ));
    } else {
        parse_time("starts_at", &input.starts_at)?
    };
    let ends_at = if input.ends_at.trim().is_empty() {
        return Err(ServiceError::invalid_zh(
            "ends_at",
            format!(
                "{}: the assurance plan states its period",
                cp.assurance.rule
            ),
            format!("{}：重保方案须写明重保期", cp.assurance.rule),
        ));
    } else {
        parse_time("ends_at", &input.ends_at)?
    };
    let systems: Vec<String> = input
        .scope_systems
        .iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let regions: Vec<String> = input
        .scope_regions
        .iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let plan = AssurancePlan {
        name: &input.name,
        starts_at: at(starts_at),
        ends_at: at(ends_at),
        scope_systems: &systems,
        scope_regions: &regions,
        measures: &input.measures,
        contingency: &input.contingency,
        escalation: &input.escalation,
        contacts: &input.contacts,
        weak_sections: &input.weak_sections,
    };
    check_assurance_plan(cp, &plan).map_err(refuse)?;
    too_long("name", &input.name, 200)?;
    for (f, v) in [
        ("measures", &input.measures),
        ("contingency", &input.contingency),
        ("escalation", &input.escalation),
        ("contacts", &input.contacts),
    ] {
        too_long(f, v, 20_000)?;
    }
    if input.weak_sections.len() > 200 || systems.len() > 200 || regions.len() > 200 {
        return Err(ServiceError::invalid(
            "weak_sections",
            "at most 200 sections, systems and regions each",
        ));
    }
    for (i, k) in systems.iter().enumerate() {
        if p.directory.system_by_key(&p.store, k).await?.is_none() {
            return Err(ServiceError::unknown_ref(
                format!("scope_systems[{i}]"),
                format!("no system '{k}'"),
                format!("系统“{k}”不存在"),
            ));
        }
    }
    let mut region_ids = Vec::new();
    for (i, k) in regions.iter().enumerate() {
        let org = p.directory.org_by_key(&p.store, k).await?;
        match org.and_then(|o| o.region_id.filter(|r| *r == o.id)) {
            Some(id) => region_ids.push(id),
            None => {
                return Err(ServiceError::unknown_ref(
                    format!("scope_regions[{i}]"),
                    format!("no region (branch) '{k}'"),
                    format!("地区（分部）“{k}”不存在"),
                ))
            }
        }
    }
    let now = p.now_us();
    let n = NewPlan {
        name: input.name.trim().to_string(),
        starts_at,
        ends_at,
        scope_systems: json!(systems).to_string(),
        scope_regions: json!(regions).to_string(),
        region_ids: json!(region_ids).to_string(),
        measures: input.measures.trim().to_string(),
        contingency: input.contingency.trim().to_string(),
        escalation: input.escalation.trim().to_string(),
        contacts: input.contacts.trim().to_string(),
        weak_sections: serde_json::to_string(&input.weak_sections).unwrap_or_else(|_| "[]".into()),
        created_by: actor.username.clone(),
        now,
    };
    let who = actor.actor();
    let row = p
        .store
        .write(move |c| {
            Box::pin(async move {
                let row = st::insert_plan(c, &n).await?;
                append(
                    c,
                    NewAuditEntry {
                        actor: who,
                        action: "assurance_plan.create".into(),
                        object_type: "assurance_plan".into(),
                        object_id: row.id.to_string(),
                        before: None,
                        after: Some(json!({"name": row.name, "starts_at": row.starts_at,
                            "ends_at": row.ends_at, "scope_systems": n.scope_systems,
                            "scope_regions": n.scope_regions})),
                        request_id: None,
                        at: now,
                    },
                )
                .await?;
                Ok(row)
            })
        })
        .await?;
    Ok(view(row, now, Vec::new()))
}

/// The most recent plans (needs `change.read`).
pub async fn list_plans(p: &Platform, actor: &Principal) -> ServiceResult<Vec<PlanView>> {
    actor.require(Permission::ChangeRead)?;
    let now = p.now_us();
    Ok(p.store
        .assurance_plans(200)
        .await?
        .into_iter()
        .map(|r| view(r, now, Vec::new()))
        .collect())
}

/// One plan with the faults reported under it (needs `change.read`).
pub async fn get(p: &Platform, actor: &Principal, id: i64) -> ServiceResult<PlanView> {
    actor.require(Permission::ChangeRead)?;
    let r = p
        .store
        .assurance_plan(id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("assurance plan {id}")))?;
    let reports = p.store.assurance_fault_reports(id).await?;
    Ok(view(r, p.now_us(), reports))
}

/// `activate` (draft → active, before the period ends) or `archive` (active → archived, only after the period);
/// needs `change.request`; audited.
pub async fn act(
    p: &Platform,
    actor: &Principal,
    id: i64,
    action: &str,
    version: i64,
) -> ServiceResult<PlanView> {
    actor.require(Permission::ChangeRequest)?;
    let state = match action {
        "activate" => "active",
        "archive" => "archived",
        other => {
            return Err(ServiceError::invalid(
                "action",
                format!("'{other}': activate or archive"),
            ))
        }
    };
    let cp = p.policy.current().pack.change.clone();
    let now = p.now_us();
    let who = actor.actor();
    let by = actor.username.clone();
    let action = action.to_string();
    let row = p
        .store
        .write(move |c| {
            Box::pin(async move {
                let r = st::plan_in_tx(c, id)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("assurance plan {id}")))?;
                if r.version != version {
                    return Err(StoreError::Stale(format!("assurance plan {id}")));
                }
                let checked = if state == "active" {
                    check_assurance_activate(&cp, &r.state, at(r.ends_at), at(now))
                } else {
                    check_assurance_archive(&cp, &r.state, at(r.ends_at), at(now))
                };
                if let Err(e) = checked {
                    return Err(StoreError::Conflict {
                        field: e.field,
                        message: e.message,
                    });
                }
                let row = st::set_plan_state(c, id, version, state, &by, now).await?;
                append(
                    c,
                    NewAuditEntry {
                        actor: who,
                        action: format!("assurance_plan.{action}"),
                        object_type: "assurance_plan".into(),
                        object_id: id.to_string(),
                        before: Some(json!({"state": r.state})),
                        after: Some(json!({"state": row.state})),
                        request_id: None,
                        at: now,
                    },
                )
                .await?;
                Ok(row)
            })
        })
        .await
        .map_err(|e| match e {
            StoreError::Conflict { field, message } if message.starts_with("CNT-") => {
                ServiceError::invalid(field, message)
            }
            other => other.into(),
        })?;
    let reports = p.store.assurance_fault_reports(id).await?;
    Ok(view(row, now, reports))
}

/// The facts of a newly reported incident that an assurance plan's scope is matched against.
#[derive(Debug, Clone)]
pub struct ReportedIncident<'a> {
    pub id: i64,
    pub number: &'a str,
    pub title: &'a str,
    pub system: Option<&'a str>,
    pub region_id: Option<i64>,
    pub level: &'a str,
}

/// CNT-06: in the incident's own transaction, queues one fault report to the network department (the pack's
/// `assurance.roles`, template `assurance.template`) for every active plan whose period contains `now` and whose
/// scope holds the incident's system or region; each plan reports an incident once. Returns how many were queued.
pub async fn report_incident(
    c: &mut Conn<'_>,
    cp: &ChangePolicy,
    tz: chrono_tz::Tz,
    i: &ReportedIncident<'_>,
    now: i64,
) -> StoreResult<usize> {
    let mut queued = 0;
    for plan in st::active_plans_at(c, now).await? {
        let systems: Vec<String> = list(&plan.scope_systems);
        let regions: Vec<String> = list(&plan.scope_regions);
        let ids: Vec<i64> = list(&plan.region_ids);
        let region = i
            .region_id
            .and_then(|r| ids.iter().position(|x| *x == r))
            .and_then(|k| regions.get(k).cloned());
        if !assurance_covers(
            &systems,
            &regions,
            at(plan.starts_at),
            at(plan.ends_at),
            i.system,
            region.as_deref(),
            at(now),
        ) {
            continue;
        }
        let key = format!("assurance:{}:incident:{}", plan.id, i.id);
        if !st::insert_fault_report(c, plan.id, i.id, &key, now).await? {
            continue;
        }
        let fmt = |us: i64| {
            at(us)
                .with_timezone(&tz)
                .format("%Y-%m-%d %H:%M")
                .to_string()
        };
        insert_outbox(
            c,
            NewOutbox {
                idempotency_key: key,
                subject_kind: "assurance_plan".into(),
                subject_id: plan.id.to_string(),
                template: cp.assurance.template.clone(),
                recipients: json!({"roles": cp.assurance.roles}),
                context: json!({
                    "plan": plan.name,
                    "period": format!("{}–{}", fmt(plan.starts_at), fmt(plan.ends_at)),
                    "incident": i.number, "title": i.title,
                    "system": i.system.unwrap_or_default(), "region": region.unwrap_or_default(),
                    "level": i.level, "reported_at": fmt(now), "escalation": plan.escalation,
                }),
                cause: format!("assurance:fault:{}", cp.assurance.rule),
                state: "queued".into(),
                created_at: now,
            },
        )
        .await?;
        queued += 1;
    }
    Ok(queued)
}
