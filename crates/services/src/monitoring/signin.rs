//! MON-09: the duty officer signs in every day and confirms the previous day's alerts are handled, by the
//! policy's deadline; missing → a reminder, then an escalation (durable clocks, like the DUTY-06 report).
//! MON-10: severe alarms per province (region) per month against the budget.

use chrono::{Datelike, Duration, NaiveDate, TimeZone};
use serde::Serialize;
use serde_json::json;
use tianshu_core::policy::parse_hhmm;
use tianshu_core::Permission;
use tianshu_store::monitoring as st;
use tianshu_workcal::DeadlineBasis;

use super::{audit, rfc3339, tz};
use crate::authz::Principal;
use crate::clocks::{self, ClockSpec, Notify, Recipients};
use crate::{Platform, ServiceError, ServiceResult};

/// Subject kind of the sign-in clocks (`mon_signin` + `<day>`).
pub const KIND: &str = "mon_signin";
/// Clock key of the reminder.
pub const REMIND_KEY: &str = "mon09.reminder";
/// Clock key of the escalation.
pub const ESCALATE_KEY: &str = "mon09.escalation";

fn day_bounds(p: &Platform, d: NaiveDate) -> (i64, i64) {
    let tz = tz(p);
    let start = |d: NaiveDate| {
        d.and_hms_opt(0, 0, 0)
            .and_then(|n| tz.from_local_datetime(&n).earliest())
            .map_or(0, |t| t.timestamp_micros())
    };
    (start(d), start(d + Duration::days(1)))
}

/// Today's local date in the pack's time zone.
pub fn today(p: &Platform) -> NaiveDate {
    p.clock.now().with_timezone(&tz(p)).date_naive()
}

fn at_local(p: &Platform, d: NaiveDate, hhmm: &str) -> i64 {
    let tz = tz(p);
    parse_hhmm(hhmm)
        .map(|t| d.and_time(t))
        .and_then(|n| tz.from_local_datetime(&n).earliest())
        .map_or(0, |t| t.timestamp_micros())
}

/// Starts the day's reminder and escalation clocks once per day (the first tick of the day does it).
pub(crate) async fn open_today(p: &Platform) -> ServiceResult<()> {
    let day = today(p);
    let key = day.format("%Y-%m-%d").to_string();
    let pol = p.policy.current();
    let si = pol.pack.monitoring.signin.clone();
    let (start, _) = day_bounds(p, day);
    let remind = at_local(p, day, &si.remind_at);
    let deadline = at_local(p, day, &si.deadline);
    let now = p.now_us();
    let context = json!({"date": key, "deadline": si.deadline, "open_alerts": ""});
    p.store
        .write(move |c| {
            Box::pin(async move {
                if !st::open_signin_day(c, &key, now).await? {
                    return Ok(());
                }
                for (clock_key, due, template, roles) in [
                    (REMIND_KEY, remind, &si.reminder_template, &si.remind_roles),
                    (
                        ESCALATE_KEY,
                        deadline,
                        &si.escalation_template,
                        &si.escalate_to_roles,
                    ),
                ] {
                    clocks::start(
                        c,
                        &pol,
                        ClockSpec {
                            subject_kind: KIND.into(),
                            subject_id: key.clone(),
                            clock_key: clock_key.into(),
                            rule: si.rule.clone(),
                            basis: DeadlineBasis::WallClock {
                                seconds: ((due - start) / 1_000_000).max(0),
                            },
                            calendar: None,
                            start_at: start,
                            repeat: None,
                            notify: Notify {
                                template: template.clone(),
                                recipients: Recipients {
                                    roles: roles.clone(),
                                    ..Default::default()
                                },
                                context: context.clone(),
                                review: false,
                            },
                        },
                    )
                    .await?;
                }
                Ok(())
            })
        })
        .await?;
    Ok(())
}

/// An alert of the previous day that is not handled yet.
#[derive(Debug, Clone, Serialize)]
pub struct OpenAlert {
    pub id: i64,
    pub summary: String,
}

/// Today's sign-in state.
#[derive(Debug, Clone, Serialize)]
pub struct SigninStatus {
    pub day: String,
    /// Local HH:MM.
    pub deadline: String,
    pub signed_by: Option<String>,
    pub signed_at: Option<String>,
    pub note: Option<String>,
    /// The deadline passed without a sign-in.
    pub overdue: bool,
    pub previous_day: String,
    /// The previous day's alerts still firing (neither acknowledged nor resolved).
    pub unhandled: Vec<OpenAlert>,
}

/// Today's sign-in and the previous day's unhandled alerts.
pub async fn status(p: &Platform, actor: &Principal) -> ServiceResult<SigninStatus> {
    actor.require(Permission::AlertRead)?;
    let pol = p.policy.current();
    let si = &pol.pack.monitoring.signin;
    let day = today(p);
    let prev = day - Duration::days(1);
    let (from, to) = day_bounds(p, prev);
    let unhandled = p.store.unhandled_alerts(from, to).await?;
    let row = p.store.signin(&day.format("%Y-%m-%d").to_string()).await?;
    let signed_at = row.as_ref().and_then(|r| r.signed_at);
    Ok(SigninStatus {
        day: day.format("%Y-%m-%d").to_string(),
        deadline: si.deadline.clone(),
        signed_by: row.as_ref().and_then(|r| r.signed_by.clone()),
        signed_at: signed_at.map(rfc3339),
        note: row.and_then(|r| r.note),
        overdue: signed_at.is_none() && p.now_us() >= at_local(p, day, &si.deadline),
        previous_day: prev.format("%Y-%m-%d").to_string(),
        unhandled: unhandled
            .into_iter()
            .map(|(id, summary)| OpenAlert { id, summary })
            .collect(),
    })
}

/// Signs in for today, confirming the previous day's alerts are handled: refused (409, field `alerts`) while
/// any of them is still firing, and when someone already signed in today. Stops the day's clocks; audited.
pub async fn sign_in(
    p: &Platform,
    actor: &Principal,
    note: Option<String>,
) -> ServiceResult<SigninStatus> {
    actor.require(Permission::AlertManage)?;
    let note = note.unwrap_or_default();
    if note.chars().count() > 2000 {
        return Err(ServiceError::invalid("note", "at most 2000 characters"));
    }
    open_today(p).await?;
    let day = today(p);
    let (from, to) = day_bounds(p, day - Duration::days(1));
    let open = p.store.unhandled_alerts(from, to).await?;
    if !open.is_empty() {
        let ids: Vec<String> = open.iter().take(20).map(|(id, _)| id.to_string()).collect();
        return Err(ServiceError::Conflict {
            field: "alerts".into(),
            message: format!(
                "{} alert(s) of the previous day are still firing (ids {}): acknowledge or resolve them first",
                open.len(),
                ids.join(", ")
            ),
        });
    }
    let key = day.format("%Y-%m-%d").to_string();
    let now = p.now_us();
    let who = actor.actor();
    let user = actor.username.clone();
    let done = p
        .store
        .write(move |c| {
            Box::pin(async move {
                let Some(r) = st::sign_in(c, &key, &user, &note, 0, now).await? else {
                    return Ok(false);
                };
                for k in [REMIND_KEY, ESCALATE_KEY] {
                    clocks::stop(c, KIND, &key, k, now, "signed in").await?;
                }
                audit(
                    c,
                    &who,
                    "monitoring.signin",
                    "mon_signin",
                    r.day.clone(),
                    None,
                    Some(json!({"signed_by": r.signed_by, "note": r.note})),
                    now,
                )
                .await?;
                Ok(true)
            })
        })
        .await?;
    if !done {
        let s = status(p, actor).await?;
        return Err(ServiceError::Conflict {
            field: "day".into(),
            message: format!(
                "{} already signed in for {} at {}",
                s.signed_by.unwrap_or_default(),
                s.day,
                s.signed_at.unwrap_or_default()
            ),
        });
    }
    metrics::counter!("tianshu_monitoring_signins_total").increment(1);
    status(p, actor).await
}

/// MON-10: severe alarms of one region in a month.
#[derive(Debug, Clone, Serialize)]
pub struct BudgetLine {
    /// The `region` label (empty: alerts without one).
    pub region: String,
    pub count: i64,
    pub budget: i64,
    pub over: bool,
}

/// MON-10 for a month.
#[derive(Debug, Clone, Serialize)]
pub struct Budget {
    /// YYYY-MM.
    pub month: String,
    pub rule: String,
    pub per_month: i64,
    pub severities: Vec<String>,
    pub regions: Vec<BudgetLine>,
}

/// Severe alarms (firings of alerts whose severity the policy names) per region in `month` (YYYY-MM, default
/// the current month), each flagged when over the budget.
pub async fn budget(p: &Platform, actor: &Principal, month: Option<&str>) -> ServiceResult<Budget> {
    actor.require(Permission::AlertRead)?;
    let pol = p.policy.current();
    let b = &pol.pack.monitoring.severe_budget;
    let first = match month {
        Some(m) => NaiveDate::parse_from_str(&format!("{m}-01"), "%Y-%m-%d")
            .map_err(|_| ServiceError::invalid("month", format!("'{m}' is not a month YYYY-MM")))?,
        None => today(p).with_day(1).unwrap_or_else(|| today(p)),
    };
    let next = if first.month() == 12 {
        NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
    }
    .ok_or_else(|| ServiceError::invalid("month", "out of range"))?;
    let (from, _) = day_bounds(p, first);
    let (to, _) = day_bounds(p, next);
    let rows = p.store.severe_firings(&b.severities, from, to).await?;
    let per = i64::from(b.per_month);
    Ok(Budget {
        month: first.format("%Y-%m").to_string(),
        rule: b.rule.clone(),
        per_month: per,
        severities: b.severities.clone(),
        regions: rows
            .into_iter()
            .map(|(region, count)| BudgetLine {
                region,
                count,
                budget: per,
                over: count > per,
            })
            .collect(),
    })
}
