//! NTF-06 follow-ups: once a fault notice (T1/T2) has gone out, a follow-up (T3) is due before the end of the
//! working afternoon, and again every working day while the fault stays open. A durable timer per notice
//! drafts each follow-up — with the notice's recipients, facts, language and channels, waiting for review
//! where NTF-09 says so — until the recovery notice (NTF-07) is drafted or the ticket is resolved.

use serde_json::{json, Value};
use tianshu_core::notify::{first_follow_up_due, next_follow_up_due};
use tianshu_store::notify::{self as st, Message};
use tianshu_store::timers::{
    insert_event, insert_outbox, insert_timer, NewEvent, NewOutbox, NewTimer, Timer,
};
use tianshu_store::{Conn, StoreResult};
use tianshu_workcal::WorkCalendar;

use crate::policy::ActivePolicy;

/// Kind of the timers this module owns.
pub const TIMER_KIND: &str = "notify.follow_up";

fn calendar(pol: &ActivePolicy) -> Option<&WorkCalendar> {
    let f = &pol.pack.notifications.follow_up;
    let name = f
        .calendar
        .as_deref()
        .unwrap_or(&pol.pack.calendars.default_calendar);
    pol.calendars.get(name).ok()
}

fn utc(us: i64) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::from_timestamp_micros(us)
}

/// Starts the follow-up chain of a notice that has just been sent (no-op for other templates).
pub(super) async fn schedule_after_notice(
    c: &mut Conn<'_>,
    pol: &ActivePolicy,
    notice: &Message,
    sent_at: i64,
) -> StoreResult<()> {
    let f = &pol.pack.notifications.follow_up;
    if !f.after.contains(&notice.template) {
        return Ok(());
    }
    let Some(due) = calendar(pol)
        .zip(utc(sent_at))
        .and_then(|(cal, at)| first_follow_up_due(f, cal, at))
    else {
        tracing::warn!(
            message = notice.id,
            "NTF-06: no follow-up time could be computed"
        );
        return Ok(());
    };
    insert_timer(
        c,
        NewTimer {
            clock_id: None,
            subject_kind: notice.subject_kind.clone(),
            subject_id: notice.subject_id.clone(),
            kind: TIMER_KIND.into(),
            due_at: due.timestamp_micros(),
            payload: json!({"notice": notice.id, "rule": f.rule}),
            created_at: sent_at,
        },
    )
    .await?;
    Ok(())
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

/// A follow-up timer fell due: draft the follow-up and schedule the next one, or record that they ended.
pub async fn fire(c: &mut Conn<'_>, pol: &ActivePolicy, t: &Timer, now: i64) -> StoreResult<()> {
    let f = &pol.pack.notifications.follow_up;
    let notice_id = parse(&t.payload)["notice"].as_i64().unwrap_or_default();
    let notice = st::message_in_tx(c, notice_id).await?;
    let stopped = match &notice {
        None => true,
        Some(n) => st::follow_up_stopped(c, &n.subject_kind, &n.subject_id, &f.stopped_by).await?,
    };
    let event = |kind: &str, data: Value| NewEvent {
        subject_kind: t.subject_kind.clone(),
        subject_id: t.subject_id.clone(),
        at: now,
        kind: kind.into(),
        actor: "system:scheduler".into(),
        data,
        timer_id: Some(t.id),
    };
    let Some(n) = notice.filter(|_| !stopped) else {
        insert_event(
            c,
            event(
                "notification.follow_up_ended",
                json!({"rule": f.rule, "notice": notice_id, "due_at": t.due_at}),
            ),
        )
        .await?;
        return Ok(());
    };
    let state = if pol.pack.notifications.needs_review(&f.template) {
        "pending_review"
    } else {
        "queued"
    };
    let draft = insert_outbox(
        c,
        NewOutbox {
            idempotency_key: format!("follow_up:{notice_id}:{}", t.id),
            subject_kind: n.subject_kind.clone(),
            subject_id: n.subject_id.clone(),
            template: f.template.clone(),
            recipients: parse(&n.recipients),
            context: parse(&n.context),
            cause: format!("{}:follow_up:{notice_id}", f.rule),
            state: state.into(),
            created_at: now,
        },
    )
    .await?;
    if let Some(id) = draft {
        st::copy_delivery_settings(c, notice_id, id).await?;
    }
    insert_event(
        c,
        event(
            "notification.follow_up_due",
            json!({"rule": f.rule, "notice": notice_id, "message": draft, "due_at": t.due_at}),
        ),
    )
    .await?;
    let next = calendar(pol)
        .zip(utc(t.due_at))
        .and_then(|(cal, at)| next_follow_up_due(f, cal, at));
    if let Some(next) = next {
        insert_timer(
            c,
            NewTimer {
                clock_id: None,
                subject_kind: t.subject_kind.clone(),
                subject_id: t.subject_id.clone(),
                kind: TIMER_KIND.into(),
                due_at: next.timestamp_micros(),
                payload: parse(&t.payload),
                created_at: now,
            },
        )
        .await?;
    }
    Ok(())
}
