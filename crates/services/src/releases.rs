//! The release calendar (issue 7 item 2; CHG-01..CHG-10): planning a release checks the monthly quotas
//! (CHG-01, CHG-02 with the department manager's override), the start time (CHG-09), the downtime window
//! (CHG-10) and that no gate counted back on the working-day calendar (CHG-03/04/08) is already past.

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tianshu_core::change::{
    check_downtime, check_gates_ahead, check_quota, check_start, upgrade_start, ReleaseKind,
};
use tianshu_core::dataop::Refusal;
use tianshu_core::Permission;
use tianshu_store::audit::{append, NewAuditEntry};
use tianshu_store::cutovers::{self as st, NewRelease, ReleaseRow};
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
