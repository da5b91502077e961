//! A problem's deadlines as durable clocks (issue 8): the shared SLA clocks and timers of `crate::clocks` and
//! the scheduler, started in the write of the step that starts them and stopped in the write of the step that
//! satisfies them. A deadline that passes unmet is announced once — `clock.breached` on the problem's history
//! and the pack's message through the outbox — however often the service restarts, because the timer is a row.
//! Also the PRB-09 monthly problem report's scheduled e-mail (a durable monthly timer like the report pack's).

use chrono::{Datelike, Utc};
use serde_json::json;
use tianshu_core::problem::{clocks_started_by, ClockStep, DeadlineKind};
use tianshu_core::ProblemLevel;
use tianshu_store::problems::{self as st, ProblemRow};
use tianshu_store::time::from_micros;
use tianshu_store::timers::{
    cancel_clock_timers, insert_event, insert_outbox, insert_timer, live_clock, set_clock_state,
    ClockRow, NewEvent, NewOutbox, NewTimer, Timer,
};
use tianshu_store::{Conn, StoreError, StoreResult};
use tianshu_workcal::DeadlineBasis;

use crate::clocks::{self as shared, ClockSpec, Notify, Recipients};
use crate::policy::ActivePolicy;
use crate::{Platform, ServiceResult};

/// Subject kind of a problem's clocks, timers, events and messages.
pub const KIND: &str = "problem";

fn notify(pol: &ActivePolicy, r: &ProblemRow, kind: DeadlineKind) -> Notify {
    let b = &pol.pack.problem_levels.breach;
    Notify {
        template: b.template.clone(),
        recipients: Recipients {
            roles: b.roles.clone(),
            ..Default::default()
        },
        context: json!({
            "problem_id": r.id.to_string(),
            "level": r.level,
            "title": r.title,
            "deadline": kind.as_str(),
        }),
        review: false,
    }
}

async fn start_one(
    c: &mut Conn<'_>,
    pol: &ActivePolicy,
    r: &ProblemRow,
    kind: DeadlineKind,
    rule: String,
    basis: DeadlineBasis,
    at: i64,
) -> StoreResult<()> {
    shared::start(
        c,
        pol,
        ClockSpec {
            subject_kind: KIND.into(),
            subject_id: r.id.to_string(),
            clock_key: kind.as_str().into(),
            rule,
            basis,
            // The basis's own calendar, else the pack's default: the calendar the deadlines shown are read on.
            calendar: None,
            start_at: at,
            repeat: None,
            notify: notify(pol, r, kind),
        },
    )
    .await
    .map(|_| ())
}

/// Starts the clocks `step` starts, counted from `at` (the report time, or the resolution).
pub async fn start_step(
    c: &mut Conn<'_>,
    pol: &ActivePolicy,
    r: &ProblemRow,
    step: ClockStep,
    at: i64,
) -> StoreResult<()> {
    let Ok(level) = r.level.parse::<ProblemLevel>() else {
        return Ok(());
    };
    for s in clocks_started_by(step, level, &pol.pack.problem_levels) {
        start_one(c, pol, r, s.kind, s.rule, s.basis, at).await?;
    }
    Ok(())
}

/// PRB-11: the reply clock of a letter sent at `at`. A previous letter's clock is withdrawn (cancelled, or
/// kept as breached if it had already passed).
pub async fn start_reply(
    c: &mut Conn<'_>,
    pol: &ActivePolicy,
    r: &ProblemRow,
    basis: DeadlineBasis,
    at: i64,
) -> StoreResult<()> {
    let sid = r.id.to_string();
    let key = DeadlineKind::DepartmentReply.as_str();
    if let Some(old) = live_clock(c, KIND, &sid, key).await? {
        if old.breached_at.is_some() {
            shared::stop(c, KIND, &sid, key, at, "a new letter").await?;
        } else {
            cancel(c, &old, at).await?;
        }
    }
    let rule = pol.pack.problem_levels.other_department.rule.clone();
    start_one(c, pol, r, DeadlineKind::DepartmentReply, rule, basis, at).await
}

async fn cancel(c: &mut Conn<'_>, k: &ClockRow, at: i64) -> StoreResult<()> {
    cancel_clock_timers(c, k.id).await?;
    set_clock_state(c, k.id, "cancelled", k.due_at, None, Some(at), None).await?;
    insert_event(
        c,
        NewEvent {
            subject_kind: KIND.into(),
            subject_id: k.subject_id.clone(),
            at,
            kind: "clock.stopped".into(),
            actor: "system:clocks".into(),
            data: json!({"clock_key": k.clock_key, "rule": k.rule, "outcome": "cancelled", "why": "a new letter"}),
            timer_id: None,
        },
    )
    .await
}

/// The deadlines a recorded step (the history entry's kind) satisfies — the same `met_at` as the deadlines
/// shown: dispatch and resolution also count as the response, and a problem the coordinator resolves
/// directly needs no dispatch (PRB-06).
fn met_by(event: &str) -> &'static [DeadlineKind] {
    use DeadlineKind as K;
    match event {
        "responded" => &[K::Response],
        "dispatched" => &[K::Response, K::Dispatch],
        "resolved" => &[K::Response, K::Dispatch, K::Resolution],
        "analysis" => &[K::AnalysisReport],
        "review_meeting" => &[K::ReviewMeeting],
        "reply" => &[K::DepartmentReply],
        "archived" => &[K::Archive],
        _ => &[],
    }
}

/// Stops the live clocks the step `event` satisfies: met if in time, else they stay breached.
pub async fn stop_for(c: &mut Conn<'_>, id: i64, event: &str, at: i64) -> StoreResult<()> {
    let sid = id.to_string();
    for k in met_by(event) {
        shared::stop(c, KIND, &sid, k.as_str(), at, event).await?;
    }
    Ok(())
}

/// The scheduler fired a problem clock's deadline: the breach goes on the problem's own history too.
pub async fn record_breach(
    c: &mut Conn<'_>,
    t: &Timer,
    clock: &ClockRow,
    now: i64,
) -> StoreResult<()> {
    let Ok(id) = t.subject_id.parse::<i64>() else {
        return Ok(());
    };
    st::insert_problem_event(
        c,
        id,
        now,
        "clock.breached",
        "system:scheduler",
        &json!({"deadline": clock.clock_key, "rule": clock.rule, "due_at": t.due_at}),
    )
    .await
    .map(|_| ())
}

// ---------------------------------------------------------------- PRB-09 monthly report e-mail

/// Kind of the durable timer that e-mails the monthly problem report.
pub const TIMER_KIND: &str = "problem.monthly_report";
const REPORT_KIND: &str = "problem_report";
const REPORT_ID: &str = "monthly";

/// Schedules the next monthly report e-mail unless one is pending (called when the scheduler starts).
pub async fn ensure_scheduled(p: &Platform) -> ServiceResult<Option<i64>> {
    let pol = p.policy.current();
    let Some(s) = pol.pack.problem_levels.monthly_report.clone() else {
        return Ok(None);
    };
    if p.store
        .timers_of(REPORT_KIND, REPORT_ID)
        .await?
        .iter()
        .any(|t| t.state == "pending" && t.kind == TIMER_KIND)
    {
        return Ok(None);
    }
    let Some(due) = crate::report_pack::next_send(&s, p.time_zone(), p.clock.now()) else {
        return Ok(None);
    };
    let now = p.now_us();
    let inserted = p
        .store
        .write(move |c| {
            Box::pin(async move {
                insert_timer(
                    c,
                    NewTimer {
                        clock_id: None,
                        subject_kind: REPORT_KIND.into(),
                        subject_id: REPORT_ID.into(),
                        kind: TIMER_KIND.into(),
                        due_at: due.timestamp_micros(),
                        payload: json!({"rule": s.rule}),
                        created_at: now,
                    },
                )
                .await
            })
        })
        .await;
    match inserted {
        Ok(id) => Ok(Some(id)),
        // Another instance scheduled it first (one pending timer, unique index of migration 0019).
        Err(StoreError::Conflict { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn counts(rows: &[super::CountRow]) -> String {
    rows.iter()
        .map(|r| format!("{} {}", r.key, r.count))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Fires the monthly timer inside the scheduler's write: last month's report summarised into one e-mail
/// (idempotency key per month) with the link to the full report, and next month's timer.
pub async fn fire(c: &mut Conn<'_>, pol: &ActivePolicy, t: &Timer, now: i64) -> StoreResult<()> {
    let Some(s) = pol.pack.problem_levels.monthly_report.clone() else {
        return Ok(());
    };
    let tz: chrono_tz::Tz = pol
        .pack
        .pack
        .time_zone
        .parse()
        .unwrap_or(chrono_tz::Asia::Shanghai);
    let Some(due) = chrono::DateTime::<Utc>::from_timestamp_micros(t.due_at) else {
        return Ok(());
    };
    let local = due.with_timezone(&tz).date_naive();
    let Some(first) = local
        .with_day(1)
        .and_then(|d| d.checked_sub_months(chrono::Months::new(1)))
    else {
        return Ok(());
    };
    let Some((from, to)) = super::month_bounds(tz, first) else {
        return Ok(());
    };
    let rows = st::problems_reported_between_in(c, from, to).await?;
    let cal = pol
        .calendars
        .get(&pol.pack.calendars.default_calendar)
        .map_err(|e| StoreError::Conflict {
            field: "calendar".into(),
            message: e.to_string(),
        })?;
    let report = super::summarise(first, &rows, &pol.pack, cal, from_micros(now));
    let month = report.month.clone();
    insert_outbox(
        c,
        NewOutbox {
            idempotency_key: format!("problem:monthly_report:{month}"),
            subject_kind: REPORT_KIND.into(),
            subject_id: month.clone(),
            template: s.template.clone(),
            recipients: json!({"classes": s.classes, "roles": s.roles, "on_duty": []}),
            context: json!({
                "month": month,
                "total": report.total,
                "by_level": counts(&report.by_level),
                "by_category": counts(&report.by_category),
                "overdue": report.overdue,
                "link": format!("/api/v1/problems/monthly?month={month}"),
            }),
            cause: format!("{}:monthly_report", s.rule),
            state: "queued".into(),
            created_at: now,
        },
    )
    .await?;
    // Recorded like every other firing, so "fired timers = recorded firings" holds for this one too.
    insert_event(
        c,
        NewEvent {
            subject_kind: REPORT_KIND.into(),
            subject_id: REPORT_ID.into(),
            at: now,
            kind: TIMER_KIND.into(),
            actor: "system:scheduler".into(),
            data: json!({"month": month, "total": report.total, "rule": s.rule}),
            timer_id: Some(t.id),
        },
    )
    .await?;
    if let Some(next) = crate::report_pack::next_send(&s, tz, due) {
        insert_timer(
            c,
            NewTimer {
                clock_id: None,
                subject_kind: REPORT_KIND.into(),
                subject_id: REPORT_ID.into(),
                kind: TIMER_KIND.into(),
                due_at: next.timestamp_micros(),
                payload: json!({"rule": s.rule}),
                created_at: now,
            },
        )
        .await?;
    }
    Ok(())
}
