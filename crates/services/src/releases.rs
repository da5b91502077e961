//! The release calendar (issue 7 item 2; CHG-01..CHG-10): planning a release checks the monthly quotas
//! (CHG-01, CHG-02 with the department manager's override), the start time (CHG-09), the downtime window
//! (CHG-10) and that no gate counted back on the working-day calendar (CHG-03/04/08) is already past.

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tianshu_core::change::{
    check_downtime, check_gates_ahead, check_prerequisites, check_quota, check_start,
    check_training_time, upgrade_start, verification_assignment, verification_coverage,
    ReleaseKind,
};
use tianshu_core::dataop::Refusal;
use tianshu_core::Permission;
use tianshu_store::alerts::{insert_mute, MuteKind, NewMute};
use tianshu_store::audit::{append, NewAuditEntry};
use tianshu_store::cutovers::{self as st, NewRelease, ReleaseRow};
use tianshu_store::release_prereqs::{self as pr, NewPrerequisite, PrerequisiteRow};
use tianshu_store::timers::{insert_outbox, NewOutbox};
use tianshu_store::StoreError;

use crate::authz::Principal;
use crate::error::{ServiceError, ServiceResult};
use crate::Platform;

fn refuse(r: Refusal) -> ServiceError {
    ServiceError::invalid_zh(r.field, r.message, r.zh)
}

/// A release to plan.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseInput {
    pub title: String,
    /// routine or emergency.
    pub kind: String,
    /// The system family the CHG-02 quota counts per (e.g. `crm`, `agent_portal`).
    pub system_family: String,
    /// Upgrade date, YYYY-MM-DD (local).
    pub date: String,
    /// Local start time HH:MM (CHG-09); default the policy's.
    pub start: Option<String>,
    /// Declared service stop, RFC 3339 (CHG-10).
    pub downtime_from: Option<String>,
    pub downtime_to: Option<String>,
    /// CHG-02: reason for an emergency release over the quota (department manager only).
    pub override_reason: Option<String>,
}

/// A release as returned.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseView {
    pub id: i64,
    pub title: String,
    pub kind: String,
    pub system_family: String,
    pub release_date: String,
    pub starts_at: i64,
    pub downtime_from: Option<i64>,
    pub downtime_to: Option<i64>,
    pub gates: Value,
    pub override_reason: Option<String>,
    pub override_by: Option<String>,
    pub state: String,
    pub created_by: String,
    pub created_at: i64,
    pub version: i64,
    pub decision_by: Option<String>,
    pub decision_at: Option<i64>,
    pub decision_note: String,
    pub maintenance_id: Option<i64>,
    pub announcement_key: Option<String>,
}

fn view(r: ReleaseRow) -> ReleaseView {
    ReleaseView {
        id: r.id,
        title: r.title,
        kind: r.kind,
        system_family: r.system_family,
        release_date: r.release_date,
        starts_at: r.starts_at,
        downtime_from: r.downtime_from,
        downtime_to: r.downtime_to,
        gates: serde_json::from_str(&r.gates).unwrap_or(Value::Null),
        override_reason: r.override_reason,
        override_by: r.override_by,
        state: r.state,
        created_by: r.created_by,
        created_at: r.created_at,
        version: r.version,
        decision_by: r.decision_by,
        decision_at: r.decision_at,
        decision_note: r.decision_note,
        maintenance_id: r.maintenance_id,
        announcement_key: r.announcement_key,
    }
}

fn parse_time(field: &str, s: &str) -> ServiceResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| ServiceError::invalid(field, format!("'{s}' is not an RFC 3339 time: {e}")))
}

/// Plans a release (needs `change.request`; an over-quota emergency release needs a reason and one of the
/// policy's override roles); audited.
pub async fn plan(
    p: &Platform,
    actor: &Principal,
    input: ReleaseInput,
) -> ServiceResult<ReleaseView> {
    // The department manager records an over-quota emergency release himself (CHG-02): approving it is the point.
    if input.override_reason.is_none() || !actor.can(Permission::ChangeApprove) {
        actor.require(Permission::ChangeRequest)?;
    }
    let pol = p.policy.current();
    let cp = pol.pack.change.clone();
    let cal = pol.calendars.get(&cp.calendar)?.clone();
    let title = input.title.trim().to_string();
    if title.is_empty() || title.chars().count() > 200 {
        return Err(ServiceError::invalid("title", "1 to 200 characters"));
    }
    let kind = match input.kind.as_str() {
        "routine" => ReleaseKind::Routine,
        "emergency" => ReleaseKind::Emergency,
        _ => return Err(ServiceError::invalid("kind", "routine or emergency")),
    };
    let family = input.system_family.trim().to_string();
    if family.is_empty() || family.len() > 64 {
        return Err(ServiceError::invalid("system_family", "1 to 64 characters"));
    }
    let date = NaiveDate::parse_from_str(&input.date, "%Y-%m-%d")
        .map_err(|_| ServiceError::invalid("date", "write the date as YYYY-MM-DD"))?;
    if let Some(s) = &input.start {
        let t = NaiveTime::parse_from_str(s, "%H:%M")
            .map_err(|_| ServiceError::invalid("start", "write the time as HH:MM"))?;
        check_start(&cp, t).map_err(refuse)?;
    }
    let starts_at = upgrade_start(&cp, &cal, date)
        .ok_or_else(|| ServiceError::invalid("date", "no such local time on that date"))?;
    let now = p.clock.now();
    // "A gate date in the past": the release is planned too late for its gates.
    let gates = check_gates_ahead(&cp, &cal, date, now).map_err(refuse)?;
    let tz = cal.time_zone();
    let (downtime_from, downtime_to) = match (&input.downtime_from, &input.downtime_to) {
        (None, None) => (None, None),
        (Some(f), Some(t)) => {
            let f = parse_time("downtime_from", f)?;
            let t = parse_time("downtime_to", t)?;
            check_downtime(
                &cp,
                f.with_timezone(&tz).naive_local(),
                t.with_timezone(&tz).naive_local(),
            )
            .map_err(refuse)?;
            if f < starts_at {
                return Err(ServiceError::invalid(
                    "downtime_from",
                    format!(
                        "{}: the service stop comes after the upgrade start",
                        cp.releases.start_rule
                    ),
                ));
            }
            (Some(f.timestamp_micros()), Some(t.timestamp_micros()))
        }
        _ => {
            return Err(ServiceError::invalid(
                "downtime_to",
                "give both ends of the outage",
            ))
        }
    };
    let reason = input
        .override_reason
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let may_override = actor
        .roles
        .iter()
        .any(|r| cp.releases.override_roles.contains(r));
    if reason.is_some() && (!may_override || kind != ReleaseKind::Emergency) {
        return Err(ServiceError::invalid(
            "override_reason",
            format!(
                "{}: only {} may override, and only the emergency quota",
                cp.releases.emergency_rule,
                cp.releases.override_roles.join(", ")
            ),
        ));
    }
    let month = format!("{:04}-{:02}", date.year(), date.month());
    let gates_json = Value::Array(
        gates
            .iter()
            .map(|g| json!({"key": g.key, "rule": g.rule, "name_zh": g.name_zh, "name_en": g.name_en, "due_at": g.due.timestamp_micros()}))
            .collect(),
    );
    let who = actor.actor();
    let by = actor.username.clone();
    let now_us = now.timestamp_micros();
    let kind_s = input.kind.clone();
    let row = p
        .store
        .write(move |c| {
            Box::pin(async move {
                let fam = (kind == ReleaseKind::Emergency).then_some(family.as_str());
                let n = st::releases_in_month(c, &month, &kind_s, fam).await?;
                let over = check_quota(&cp, kind, u32::try_from(n).unwrap_or(u32::MAX), None).is_err();
                if let Err(r) = check_quota(&cp, kind, u32::try_from(n).unwrap_or(u32::MAX), reason.as_deref()) {
                    return Err(StoreError::Conflict { field: r.field, message: r.message });
                }
                let new = NewRelease {
                    title,
                    kind: kind_s.clone(),
                    system_family: family.clone(),
                    release_date: date.to_string(),
                    month,
                    starts_at: starts_at.timestamp_micros(),
                    downtime_from,
                    downtime_to,
                    gates: gates_json,
                    override_reason: if over { reason.clone() } else { None },
                    override_by: if over { Some(by.clone()) } else { None },
                    created_by: by,
                    now: now_us,
                };
                let row = st::insert_release(c, &new).await?;
                append(
                    c,
                    NewAuditEntry {
                        actor: who,
                        action: "release.plan".into(),
                        object_type: "release".into(),
                        object_id: row.id.to_string(),
                        before: None,
                        after: Some(json!({"title": row.title, "kind": row.kind, "date": row.release_date,
                            "system_family": row.system_family, "override_reason": row.override_reason})),
                        request_id: None,
                        at: now_us,
                    },
                )
                .await?;
                Ok(row)
            })
        })
        .await
        .map_err(|e| match e {
            StoreError::Conflict { field, message } if message.starts_with("CHG-") => ServiceError::invalid(field, message),
            other => other.into(),
        })?;
    Ok(view(row))
}

/// Releases of a month (`YYYY-MM`), by date: the change calendar.
pub async fn month(
    p: &Platform,
    actor: &Principal,
    month: &str,
) -> ServiceResult<Vec<ReleaseView>> {
    actor.require(Permission::ChangeRead)?;
    let first = NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d")
        .map_err(|_| ServiceError::invalid("month", "write the month as YYYY-MM"))?;
    let next = first
        .checked_add_months(chrono::Months::new(1))
        .ok_or_else(|| ServiceError::invalid("month", "out of range"))?;
    Ok(p.store
        .releases_between(&first.to_string(), &next.to_string())
        .await?
        .into_iter()
        .map(view)
        .collect())
}

/// A release with its CHG-07 checklist, its requirements and what the user may do.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseDetail {
    pub release: ReleaseView,
    pub verifications: Vec<st::VerificationRow>,
    pub requirements: Vec<tianshu_store::cutovers::RequirementRow>,
    /// Share of the scenario catalogue verified per release (CHG-07), percent.
    pub coverage_pct: f64,
    /// What the pack requires before the go decision (CHG-05, CHG-12) and what is recorded.
    pub prerequisites: Vec<PrerequisiteStatus>,
    /// go, no_go, verify, record_prerequisite.
    pub allowed: Vec<String>,
}

/// One `[[releases.prerequisite]]` of the pack on a release.
#[derive(Debug, Clone, Serialize)]
pub struct PrerequisiteStatus {
    pub key: String,
    pub rule: String,
    /// document or training.
    pub kind: String,
    pub name_zh: String,
    pub name_en: String,
    /// The record, once made.
    pub recorded: Option<PrerequisiteRow>,
}

/// One release (needs `change.read`).
pub async fn get(p: &Platform, actor: &Principal, id: i64) -> ServiceResult<ReleaseDetail> {
    actor.require(Permission::ChangeRead)?;
    let r = p
        .store
        .release(id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("release {id}")))?;
    let verifications = p.store.release_verifications(id).await?;
    let requirements = p.store.requirements_of_release(id).await?;
    let pol = p.policy.current();
    let cp = &pol.pack.change;
    let coverage_pct = verification_coverage(cp);
    let mut recorded = p.store.release_prerequisites(id).await?;
    let prerequisites: Vec<PrerequisiteStatus> = cp
        .releases
        .prerequisites
        .iter()
        .map(|d| PrerequisiteStatus {
            key: d.key.clone(),
            rule: d.rule.clone(),
            kind: d.kind.clone(),
            name_zh: d.name_zh.clone(),
            name_en: d.name_en.clone(),
            recorded: recorded
                .iter()
                .position(|x| x.key == d.key)
                .map(|i| recorded.swap_remove(i)),
        })
        .collect();
    let mut allowed = Vec::new();
    if r.state == "planned" && actor.can(Permission::ChangeApprove) {
        allowed.extend(["go".to_string(), "no_go".to_string()]);
    }
    if r.state == "planned" && !prerequisites.is_empty() && actor.can(Permission::ChangeRequest) {
        allowed.push("record_prerequisite".into());
    }
    if r.state == "go" && actor.can(Permission::ChangeRequest) {
        allowed.push("verify".into());
    }
    Ok(ReleaseDetail {
        release: view(r),
        verifications,
        requirements,
        coverage_pct,
        prerequisites,
        allowed,
    })
}

/// A deliverable or a training to record on a release (CHG-05, CHG-12).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrerequisiteInput {
    /// Key of the pack's `[[releases.prerequisite]]`.
    pub key: String,
    /// Document number or link; for a training, what it covered and who gave it.
    pub reference: String,
    /// A training: when it was held, RFC 3339 (in the past, before the upgrade start).
    #[serde(default)]
    pub held_at: Option<String>,
    #[serde(default)]
    pub note: String,
}

/// Records a vendor deliverable or the vendor training on a planned release (needs `change.request`); recording a
/// key again replaces the record until the go decision. Audited.
pub async fn record_prerequisite(
    p: &Platform,
    actor: &Principal,
    id: i64,
    input: PrerequisiteInput,
) -> ServiceResult<ReleaseDetail> {
    actor.require(Permission::ChangeRequest)?;
    let pol = p.policy.current();
    let Some(def) = pol
        .pack
        .change
        .releases
        .prerequisites
        .iter()
        .find(|d| d.key == input.key)
        .cloned()
    else {
        let keys: Vec<&str> = pol
            .pack
            .change
            .releases
            .prerequisites
            .iter()
            .map(|d| d.key.as_str())
            .collect();
        return Err(ServiceError::invalid(
            "key",
            format!("expected one of: {}", keys.join(", ")),
        ));
    };
    let reference = input.reference.trim().to_string();
    if reference.is_empty() || reference.chars().count() > 500 {
        return Err(ServiceError::invalid_zh(
            "reference",
            format!(
                "{}: 1 to 500 characters naming the {}",
                def.rule, def.name_en
            ),
            format!("{}：请填写{}（1 至 500 个字符）", def.rule, def.name_zh),
        ));
    }
    let note = input.note.trim().to_string();
    if note.chars().count() > 2000 {
        return Err(ServiceError::invalid("note", "at most 2000 characters"));
    }
    let held_at = match (def.kind.as_str(), input.held_at.as_deref().map(str::trim)) {
        ("training", None | Some("")) => {
            return Err(ServiceError::invalid_zh(
                "held_at",
                format!("{}: when was the {} held?", def.rule, def.name_en),
                format!("{}：请填写{}的时间", def.rule, def.name_zh),
            ))
        }
        ("training", Some(t)) => Some(parse_time("held_at", t)?),
        _ => None,
    };
    let r = p
        .store
        .release(id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("release {id}")))?;
    let now = p.clock.now();
    if let Some(h) = held_at {
        check_training_time(&def, h, now, at(r.starts_at)).map_err(refuse)?;
    }
    let who = actor.actor();
    let new = NewPrerequisite {
        release_id: id,
        key: def.key.clone(),
        reference,
        held_at: held_at.map(|h| h.timestamp_micros()),
        note,
        recorded_by: actor.username.clone(),
        now: now.timestamp_micros(),
    };
    let rule = def.rule.clone();
    p.store
        .write(move |c| {
            Box::pin(async move {
                let r = st::release_for_update(c, id)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("release {id}")))?;
                if r.state != "planned" {
                    return Err(StoreError::Conflict {
                        field: "key".into(),
                        message: format!("{rule}: recorded before the go decision, on a planned release (state {})", r.state),
                    });
                }
                let row = pr::upsert_prerequisite(c, &new).await?;
                append(
                    c,
                    NewAuditEntry {
                        actor: who,
                        action: "release.prerequisite".into(),
                        object_type: "release".into(),
                        object_id: id.to_string(),
                        before: None,
                        after: Some(json!({"key": row.key, "reference": row.reference,
                            "held_at": row.held_at, "note": row.note})),
                        request_id: None,
                        at: new.now,
                    },
                )
                .await?;
                Ok(())
            })
        })
        .await
        .map_err(rule_conflict)?;
    get(p, actor, id).await
}

/// The go / no-go decision of the readiness review (CHG-04).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionInput {
    /// go or no_go.
    pub decision: String,
    pub version: i64,
    /// Required for no_go.
    #[serde(default)]
    pub note: String,
}

/// Takes the go / no-go decision (needs `change.approve`). `go`, in one transaction: opens an alert maintenance
/// window for the release's system family over the upgrade (CHG-09/10), queues the release announcement through
/// the outbox (CHG-08), and creates the CHG-07 verification checklist, the scenarios spread over the next
/// branches of the durable rotation. `no_go` needs a reason and frees the quota place. Audited.
pub async fn decide(
    p: &Platform,
    actor: &Principal,
    id: i64,
    input: DecisionInput,
) -> ServiceResult<ReleaseDetail> {
    actor.require(Permission::ChangeApprove)?;
    let go = match input.decision.as_str() {
        "go" => true,
        "no_go" => false,
        _ => return Err(ServiceError::invalid("decision", "go or no_go")),
    };
    let note = input.note.trim().to_string();
    if !go && note.is_empty() {
        return Err(ServiceError::invalid_zh(
            "note",
            "CHG-04: a no-go decision states its reason",
            "CHG-04：不通过上线评审须说明原因",
        ));
    }
    if note.chars().count() > 2000 {
        return Err(ServiceError::invalid("note", "at most 2000 characters"));
    }
    let pol = p.policy.current();
    let cp = pol.pack.change.clone();
    let cal = pol.calendars.get(&cp.calendar)?.clone();
    let now = p.now_us();
    let who = actor.actor();
    let by = actor.username.clone();
    let version = input.version;
    p.store
        .write(move |c| {
            Box::pin(async move {
                let r = st::release_for_update(c, id)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("release {id}")))?;
                if r.version != version {
                    return Err(StoreError::Stale(format!("release {id}")));
                }
                if r.state != "planned" {
                    return Err(StoreError::Conflict {
                        field: "decision".into(),
                        message: format!("CHG-04: the go / no-go decision is taken once, on a planned release (state {})", r.state),
                    });
                }
                if !go {
                    let row = st::decide_release(c, id, "no_go", &by, now, &note, None, None).await?;
                    audit_decision(c, &who, id, "release.no_go", json!({"note": note}), now).await?;
                    return Ok(row);
                }
                if now >= r.starts_at {
                    return Err(StoreError::Conflict {
                        field: "decision".into(),
                        message: "CHG-04: the go decision comes before the upgrade starts".into(),
                    });
                }
                // CHG-05 / CHG-12: the vendor's deliverables and training, checked in this transaction.
                let recorded: Vec<(String, Option<DateTime<Utc>>)> = pr::prerequisites_in_tx(c, id)
                    .await?
                    .into_iter()
                    .map(|x| (x.key, x.held_at.map(at)))
                    .collect();
                check_prerequisites(&cp, &recorded, at(r.starts_at))
                    .map_err(|e| StoreError::Conflict { field: e.field, message: e.message })?;
                let tz = cal.time_zone();
                let ann = &cp.announcement;
                let silence_end = r
                    .downtime_to
                    .unwrap_or(r.starts_at + i64::from(ann.silence_hours) * 3_600_000_000);
                let mute = insert_mute(
                    c,
                    MuteKind::Maintenance,
                    &NewMute {
                        name: format!("版本 #{id} {}", r.title),
                        matchers: vec![format!("system={}", r.system_family)],
                        starts_at: r.starts_at,
                        ends_at: silence_end.max(r.starts_at + 1),
                        author: by.clone(),
                        reason: format!("release {id} go decision ({})", cp.releases.start_rule),
                        now,
                    },
                )
                .await?;
                // CHG-07: the next branches of the rotation verify this release.
                let v = &cp.verification;
                let nb = i64::from(v.branches_per_release).min(v.branches.len() as i64).max(1);
                let len = v.branches.len() as i64;
                let start = st::rotation_take(c, "chg07.branches", nb, len, now).await?;
                let (chosen, assigned) = verification_assignment(&cp, usize::try_from(start).unwrap_or(0));
                let due = cal
                    .deadline(&v.report_within, at(r.starts_at), &[])
                    .map_err(|e| StoreError::Conflict { field: "verification.report_within".into(), message: e.to_string() })?
                    .timestamp_micros();
                for (sc, (_, branch)) in v.scenarios.iter().zip(&assigned) {
                    st::insert_verification(c, id, &sc.key, &sc.name_zh, &sc.name_en, branch, due).await?;
                }
                // CHG-08: the announcement, due by the pre-release notice gate.
                let gates: Value = serde_json::from_str(&r.gates).unwrap_or(Value::Null);
                let notice_due = gates
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|g| g["rule"] == ann.rule.as_str())
                    .and_then(|g| g["due_at"].as_i64())
                    .unwrap_or(r.starts_at);
                let fmt = |us: i64| at(us).with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string();
                let downtime = match (r.downtime_from, r.downtime_to) {
                    (Some(f), Some(t)) => format!("{}–{}", fmt(f), at(t).with_timezone(&tz).format("%H:%M")),
                    _ => String::new(),
                };
                let key = format!("release:{id}:announcement");
                insert_outbox(
                    c,
                    NewOutbox {
                        idempotency_key: key.clone(),
                        subject_kind: "release".into(),
                        subject_id: id.to_string(),
                        template: ann.template.clone(),
                        recipients: json!({"roles": ann.roles}),
                        context: json!({
                            "title": r.title, "kind": r.kind, "system_family": r.system_family,
                            "date": r.release_date, "starts_at": fmt(r.starts_at), "downtime": downtime,
                            "due": fmt(notice_due), "branches": chosen.join("、"), "rule": ann.rule,
                        }),
                        cause: format!("release:announcement:{}", ann.rule),
                        state: "queued".into(),
                        created_at: now,
                    },
                )
                .await?;
                let row = st::decide_release(c, id, "go", &by, now, &note, Some(mute.id), Some(&key)).await?;
                audit_decision(
                    c,
                    &who,
                    id,
                    "release.go",
                    json!({"maintenance_id": mute.id, "silenced_until": silence_end, "announcement": key,
                        "branches": chosen, "scenarios": v.scenarios.len(), "note": note}),
                    now,
                )
                .await?;
                Ok(row)
            })
        })
        .await
        .map_err(rule_conflict)?;
    get(p, actor, id).await
}

fn at(us: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_micros(us).unwrap_or_default()
}

fn rule_conflict(e: StoreError) -> ServiceError {
    match e {
        StoreError::Conflict { field, message } if message.starts_with("CHG-") => {
            ServiceError::invalid(field, message)
        }
        other => other.into(),
    }
}

async fn audit_decision(
    c: &mut tianshu_store::Conn<'_>,
    who: &str,
    id: i64,
    action: &str,
    after: Value,
    now: i64,
) -> Result<(), StoreError> {
    append(
        c,
        NewAuditEntry {
            actor: who.to_string(),
            action: action.into(),
            object_type: "release".into(),
            object_id: id.to_string(),
            before: Some(json!({"state": "planned"})),
            after: Some(after),
            request_id: None,
            at: now,
        },
    )
    .await?;
    Ok(())
}

/// The result of one CHG-07 scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyInput {
    /// Scenario key of change.toml [[verification.scenario]].
    pub scenario: String,
    /// passed or failed.
    pub result: String,
    #[serde(default)]
    pub note: String,
}

/// Records the production verification of one scenario (needs `change.request`; only after the upgrade started,
/// CHG-07); a failure states what failed. When every scenario has a result the release becomes `verified` (all
/// passed) or `verification_failed`. Audited.
pub async fn verify(
    p: &Platform,
    actor: &Principal,
    id: i64,
    input: VerifyInput,
) -> ServiceResult<ReleaseDetail> {
    actor.require(Permission::ChangeRequest)?;
    let passed = match input.result.as_str() {
        "passed" => true,
        "failed" => false,
        _ => return Err(ServiceError::invalid("result", "passed or failed")),
    };
    let note = input.note.trim().to_string();
    if !passed && note.is_empty() {
        return Err(ServiceError::invalid_zh(
            "note",
            "CHG-07: a failed verification says what failed",
            "CHG-07：验证不通过须说明问题",
        ));
    }
    if note.chars().count() > 2000 {
        return Err(ServiceError::invalid("note", "at most 2000 characters"));
    }
    let now = p.now_us();
    let who = actor.actor();
    let by = actor.username.clone();
    let scenario = input.scenario.clone();
    p.store
        .write(move |c| {
            Box::pin(async move {
                let r = st::release_for_update(c, id)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("release {id}")))?;
                if r.state != "go" {
                    return Err(StoreError::Conflict {
                        field: "scenario".into(),
                        message: format!("CHG-07: verification follows a go decision and is open until complete (state {})", r.state),
                    });
                }
                if now < r.starts_at {
                    return Err(StoreError::Conflict {
                        field: "scenario".into(),
                        message: "CHG-07: production verification happens after the upgrade has started".into(),
                    });
                }
                let items = st::verifications_in_tx(c, id).await?;
                let Some(item) = items.iter().find(|v| v.scenario == scenario) else {
                    return Err(StoreError::Conflict {
                        field: "scenario".into(),
                        message: format!("CHG-07: '{scenario}' is not on this release's checklist"),
                    });
                };
                if item.result.is_some() {
                    return Err(StoreError::Conflict {
                        field: "scenario".into(),
                        message: format!("CHG-07: '{scenario}' is already recorded"),
                    });
                }
                let res = if passed { "passed" } else { "failed" };
                st::record_verification(c, item.id, res, &note, &by, now).await?;
                let open = items.iter().filter(|v| v.result.is_none() && v.id != item.id).count();
                let any_failed = !passed || items.iter().any(|v| v.result.as_deref() == Some("failed"));
                let state = if open == 0 {
                    Some(if any_failed { "verification_failed" } else { "verified" })
                } else {
                    None
                };
                if let Some(s) = state {
                    st::set_release_state(c, id, s).await?;
                }
                append(
                    c,
                    NewAuditEntry {
                        actor: who,
                        action: "release.verify".into(),
                        object_type: "release".into(),
                        object_id: id.to_string(),
                        before: None,
                        after: Some(json!({"scenario": scenario, "branch": item.branch, "result": res,
                            "note": note, "open": open, "state": state})),
                        request_id: None,
                        at: now,
                    },
                )
                .await?;
                Ok(())
            })
        })
        .await
        .map_err(rule_conflict)?;
    get(p, actor, id).await
}
