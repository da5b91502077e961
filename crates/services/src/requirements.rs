//! Requirements (issue 7 item 1; REQ-01, CHG-06): registered with requester and system, an analysis deadline
//! in working days, linked to a release, accepted by the requester or — if the requester did not take part once
//! the release is due — deemed accepted, which is recorded as such and names who recorded it.

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tianshu_core::change::{analysis_average, working_days_ahead};
use tianshu_core::Permission;
use tianshu_store::audit::{append, NewAuditEntry};
use tianshu_store::cutovers::{self as st, RequirementRow};
use tianshu_store::StoreError;

use crate::authz::Principal;
use crate::error::{ServiceError, ServiceResult};
use crate::Platform;

/// A requirement to register.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequirementInput {
    pub title: String,
    /// Username of the requester (who signs acceptance, CHG-06).
    pub requester: String,
    pub system: String,
}

/// What happens to a requirement.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequirementAction {
    /// solution_approved, link_release, accept, reject, deem_accepted.
    pub action: String,
    pub version: i64,
    pub release_id: Option<i64>,
    pub note: Option<String>,
}

/// The REQ-01 figures of one intake week.
#[derive(Debug, Clone, Serialize)]
pub struct WeekReport {
    /// Monday of the ISO week, YYYY-MM-DD.
    pub week_of: String,
    pub registered: usize,
    pub analysed: usize,
    /// Working days each analysed item took.
    pub analysis_wd: Vec<i64>,
    pub average_wd: Option<f64>,
    pub limit_wd: f64,
    pub breach: bool,
    /// Items still open at or past the warning threshold.
    pub warnings: Vec<i64>,
    pub items: Vec<RequirementRow>,
}

fn conflict(field: &str, message: String) -> StoreError {
    StoreError::Conflict {
        field: field.into(),
        message,
    }
}

/// Registers a requirement (needs `change.request`); the analysis deadline comes from REQ-01.
pub async fn register(
    p: &Platform,
    actor: &Principal,
    input: RequirementInput,
) -> ServiceResult<RequirementRow> {
    actor.require(Permission::ChangeRequest)?;
    let pol = p.policy.current();
    let rq = pol.pack.change.requirements.clone();
    let cal = pol.calendars.get(&pol.pack.change.calendar)?;
    let title = input.title.trim().to_string();
    if title.is_empty() || title.chars().count() > 200 {
        return Err(ServiceError::invalid("title", "1 to 200 characters"));
    }
    let system = input.system.trim().to_string();
    if system.is_empty() || system.len() > 64 {
        return Err(ServiceError::invalid("system", "1 to 64 characters"));
    }
    if p.store.user_by_username(&input.requester).await?.is_none() {
        return Err(ServiceError::unknown_ref(
            "requester",
            format!("no user '{}'", input.requester),
            format!("用户 '{}' 不存在", input.requester),
        ));
    }
    let now = p.clock.now();
    let due = cal
        .deadline(&rq.analysis_limit, now, &[])
        .map_err(|e| ServiceError::Internal(format!("REQ-01 deadline: {e}")))?;
    let (who, by, requester) = (
        actor.actor(),
        actor.username.clone(),
        input.requester.clone(),
    );
    let now_us = now.timestamp_micros();
    let due_us = due.timestamp_micros();
    Ok(p.store
        .write(move |c| {
            Box::pin(async move {
                let r = st::insert_requirement(c, &title, &requester, &system, now_us, due_us, &by).await?;
                append(
                    c,
                    NewAuditEntry {
                        actor: who,
                        action: "requirement.register".into(),
                        object_type: "requirement".into(),
                        object_id: r.id.to_string(),
                        before: None,
                        after: Some(json!({"title": r.title, "requester": r.requester, "analysis_due": due_us})),
                        request_id: None,
                        at: now_us,
                    },
                )
                .await?;
                Ok(r)
            })
        })
        .await?)
}

/// Moves a requirement on: `solution_approved` (REQ-01 analysis time), `link_release`, `accept` / `reject` (the
/// requester only), `deem_accepted` (CHG-06: `change.approve`, only once the release date has come and the
/// requester has not decided).
pub async fn act(
    p: &Platform,
    actor: &Principal,
    id: i64,
    a: RequirementAction,
) -> ServiceResult<RequirementRow> {
    let pol = p.policy.current();
    let cp = pol.pack.change.clone();
    let cal = pol.calendars.get(&cp.calendar)?.clone();
    match a.action.as_str() {
        "solution_approved" | "link_release" => actor.require(Permission::ChangeRequest)?,
        "deem_accepted" => actor.require(Permission::ChangeApprove)?,
        "accept" | "reject" => {}
        other => {
            return Err(ServiceError::invalid(
                "action",
                format!(
                    "'{other}': solution_approved, link_release, accept, reject or deem_accepted"
                ),
            ))
        }
    }
    let note = a.note.clone().unwrap_or_default().trim().to_string();
    if note.chars().count() > 2000 {
        return Err(ServiceError::invalid("note", "at most 2000 characters"));
    }
    let now = p.clock.now();
    let now_us = now.timestamp_micros();
    let (who, by) = (actor.actor(), actor.username.clone());
    let row = p
        .store
        .write(move |c| {
            Box::pin(async move {
                let r = st::requirement_in_tx(c, id)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("requirement {id}")))?;
                if r.version != a.version {
                    return Err(StoreError::Stale(format!("requirement {id}")));
                }
                let tz = cal.time_zone();
                let day = |us: i64| DateTime::<Utc>::from_timestamp_micros(us).unwrap_or_default().with_timezone(&tz).date_naive();
                let row = match a.action.as_str() {
                    "solution_approved" => {
                        if r.solution_at.is_some() {
                            return Err(conflict("action", "the solution is already approved".into()));
                        }
                        let wd = working_days_ahead(&cal, day(r.registered_at), now.with_timezone(&tz).date_naive());
                        st::set_solution(c, id, now_us, i64::from(wd)).await?
                    }
                    "link_release" => {
                        let rid = a.release_id.ok_or_else(|| conflict("release_id", "name the release".into()))?;
                        let Some(rel) = st::release_in_tx(c, rid).await? else {
                            return Err(StoreError::NotFound(format!("release {rid}")));
                        };
                        let gates: serde_json::Value = serde_json::from_str(&rel.gates).unwrap_or_default();
                        let frozen = gates
                            .as_array()
                            .into_iter()
                            .flatten()
                            .find(|g| g["key"] == cp.releases.freeze_gate.as_str())
                            .and_then(|g| g["due_at"].as_i64())
                            .unwrap_or(rel.starts_at);
                        if now_us >= frozen {
                            return Err(conflict("release_id", format!(
                                "{}: release {rid} is frozen since {}; items are swapped only before the code freeze",
                                cp.releases.emergency_rule,
                                DateTime::<Utc>::from_timestamp_micros(frozen).unwrap_or_default().with_timezone(&tz).format("%Y-%m-%d %H:%M"))));
                        }
                        st::set_release(c, id, rid).await?
                    }
                    decision => {
                        if r.acceptance.is_some() {
                            return Err(conflict("action", format!("{}: acceptance is already recorded ({})", cp.requirements.acceptance_rule, r.acceptance.clone().unwrap_or_default())));
                        }
                        let Some(rid) = r.release_id else {
                            return Err(conflict("release_id", format!("{}: acceptance belongs to a release; link one first", cp.requirements.acceptance_rule)));
                        };
                        if decision == "deem_accepted" {
                            let rel = st::release_in_tx(c, rid).await?.ok_or_else(|| StoreError::NotFound(format!("release {rid}")))?;
                            if now_us < rel.starts_at {
                                return Err(conflict("action", format!(
                                    "{}: the requester may still accept until the upgrade starts; deemed acceptance applies only after that",
                                    cp.requirements.acceptance_rule)));
                            }
                            let text = format!(
                                "{}: {} did not take part in acceptance and is deemed to accept the IT acceptance results. {note}",
                                cp.requirements.acceptance_rule, r.requester);
                            st::set_acceptance(c, id, "deemed_accepted", &by, now_us, text.trim()).await?
                        } else {
                            if by != r.requester {
                                return Err(conflict("actor", format!("{}: acceptance is signed by the requester ({})", cp.requirements.acceptance_rule, r.requester)));
                            }
                            let v = if decision == "accept" { "accepted" } else { "rejected" };
                            st::set_acceptance(c, id, v, &by, now_us, &note).await?
                        }
                    }
                };
                append(
                    c,
                    NewAuditEntry {
                        actor: who,
                        action: format!("requirement.{}", a.action),
                        object_type: "requirement".into(),
                        object_id: id.to_string(),
                        before: None,
                        after: Some(json!({"analysis_wd": row.analysis_wd, "release_id": row.release_id,
                            "acceptance": row.acceptance, "note": row.acceptance_note})),
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
            StoreError::Conflict { field, message } if message.starts_with("CHG-") || message.starts_with("REQ-") => {
                ServiceError::invalid(field, message)
            }
            other => other.into(),
        })?;
    Ok(row)
}

/// REQ-01: the intake week containing `date` (YYYY-MM-DD): average analysis time and warnings.
pub async fn week(p: &Platform, actor: &Principal, date: &str) -> ServiceResult<WeekReport> {
    actor.require(Permission::ChangeRead)?;
    let pol = p.policy.current();
    let cp = pol.pack.change.clone();
    let cal = pol.calendars.get(&cp.calendar)?;
    let d = NaiveDate::parse_from_str(date, "%Y-%m-%d")
        .map_err(|_| ServiceError::invalid("date", "write the date as YYYY-MM-DD"))?;
    let monday = d - chrono::Days::new(u64::from(d.weekday().num_days_from_monday()));
    let tz = cal.time_zone();
    let start = |x: NaiveDate| {
        tz.from_local_datetime(&x.and_hms_opt(0, 0, 0).unwrap_or_default())
            .earliest()
            .map(|t| t.timestamp_micros())
            .unwrap_or(0)
    };
    let items = p
        .store
        .requirements_between(start(monday), start(monday + chrono::Days::new(7)))
        .await?;
    let analysis_wd: Vec<i64> = items.iter().filter_map(|r| r.analysis_wd).collect();
    let days: Vec<u32> = analysis_wd
        .iter()
        .map(|x| u32::try_from(*x).unwrap_or(0))
        .collect();
    let avg = analysis_average(&cp, &days);
    let today = p.clock.now().with_timezone(&tz).date_naive();
    let warnings = items
        .iter()
        .filter(|r| r.solution_at.is_none())
        .filter(|r| {
            let reg = DateTime::<Utc>::from_timestamp_micros(r.registered_at)
                .unwrap_or_default()
                .with_timezone(&tz)
                .date_naive();
            working_days_ahead(cal, reg, today) >= cp.requirements.warn_wd
        })
        .map(|r| r.id)
        .collect();
    Ok(WeekReport {
        week_of: monday.to_string(),
        registered: items.len(),
        analysed: analysis_wd.len(),
        analysis_wd,
        average_wd: avg.map(|a| a.0),
        limit_wd: cp.requirements.average_limit_wd,
        breach: avg.is_some_and(|a| a.1),
        warnings,
        items,
    })
}

/// The newest requirements (needs `change.read`).
pub async fn recent(
    p: &Platform,
    actor: &Principal,
    limit: i64,
) -> ServiceResult<Vec<RequirementRow>> {
    actor.require(Permission::ChangeRead)?;
    Ok(p.store.requirements_recent(limit.clamp(1, 500)).await?)
}

/// One requirement (needs `change.read`).
pub async fn get(p: &Platform, actor: &Principal, id: i64) -> ServiceResult<RequirementRow> {
    actor.require(Permission::ChangeRead)?;
    p.store
        .requirement(id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("requirement {id}")))
}
