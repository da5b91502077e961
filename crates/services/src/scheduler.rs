//! The timer scheduler: leases due timers and fires each exactly once.
//!
//! Safe with several instances on PostgreSQL (leases with `FOR UPDATE SKIP LOCKED`, a
//! conditional `pending → fired` update in the firing transaction) and restart-safe (an expired
//! lease of a crashed instance is taken over). Firing a clock's timer records one timeline event,
//! queues one outbox message (idempotency key `timer:<id>`) and, for a cadence, schedules the next.

use std::time::Duration;

use serde_json::json;
use tianshu_store::timers::{
    clock_by_id, insert_event, insert_outbox, insert_timer, mark_fired, set_clock_state, NewEvent,
    NewOutbox, NewTimer, Timer,
};
use tianshu_store::StoreResult;
use tianshu_workcal::DeadlineBasis;

use crate::clocks::{due, Notify};
use crate::Platform;

/// How long a claimed timer stays leased before another instance may take it over.
pub const LEASE_US: i64 = 30_000_000;

/// A unique name for this scheduler instance.
pub fn instance_id() -> String {
    format!("{}-{}", std::process::id(), crate::secrets::random_token(6))
}

/// Fires every due timer once; returns how many this call fired.
pub async fn tick(p: &Platform, owner: &str, batch: i64) -> StoreResult<usize> {
    let now = p.now_us();
    let claimed = p
        .store
        .claim_due_timers(owner, now, LEASE_US, batch)
        .await?;
    // Fire the batch concurrently: on SQLite the writer folds the transactions into one commit.
    let results = futures::future::join_all(claimed.into_iter().map(|t| {
        let id = t.id;
        async move { (id, fire(p, owner, t).await) }
    }))
    .await;
    let mut fired = 0;
    for (id, r) in results {
        match r {
            Ok(true) => {
                fired += 1;
                metrics::counter!("tianshu_timers_fired_total").increment(1);
            }
            Ok(false) => {}
            Err(e) => {
                tracing::error!(timer = id, error = %e, "timer handler failed; will retry");
                p.store
                    .release_timer(id, owner, p.now_us() + 5_000_000)
                    .await?;
            }
        }
    }
    Ok(fired)
}

async fn fire(p: &Platform, owner: &str, t: Timer) -> StoreResult<bool> {
    let pol = p.policy.current();
    let tz = p.time_zone();
    let owner = owner.to_string();
    let now = p.now_us();
    p.store
        .write(move |c| {
            Box::pin(async move {
                if !mark_fired(c, t.id, &owner, now).await? {
                    return Ok(false);
                }
                metrics::histogram!("tianshu_timer_lag_seconds").record((now - t.due_at).max(0) as f64 / 1e6);
                let Some(clock_id) = t.clock_id else {
                    if t.kind == crate::notify::follow_up::TIMER_KIND {
                        crate::notify::follow_up::fire(c, &pol, &t, now).await?;
                        return Ok(true);
                    }
                    if t.kind == crate::report_pack::TIMER_KIND {
                        crate::report_pack::fire(c, &pol, &t, now).await?;
                        return Ok(true);
                    }
                    if t.kind == crate::problems::clocks::TIMER_KIND {
                        crate::problems::clocks::fire(c, &pol, &t, now).await?;
                        return Ok(true);
                    }
                    insert_event(c, NewEvent {
                        subject_kind: t.subject_kind.clone(),
                        subject_id: t.subject_id.clone(),
                        at: now,
                        kind: t.kind.clone(),
                        actor: "system:scheduler".into(),
                        data: serde_json::from_str(&t.payload).unwrap_or_default(),
                        timer_id: Some(t.id),
                    })
                    .await?;
                    return Ok(true);
                };
                let Some(clock) = clock_by_id(c, clock_id).await? else { return Ok(true) };
                if clock.state != "running" {
                    // Stopped or paused after the lease was taken: nothing to announce.
                    return Ok(true);
                }
                let notify: Notify = serde_json::from_str(&clock.notify).unwrap_or_default();
                let repeat: Option<DeadlineBasis> = clock.repeat_basis.as_deref().and_then(|r| r.parse().ok());
                let kind = if repeat.is_some() { "clock.reminder" } else { "clock.breached" };
                insert_event(c, NewEvent {
                    subject_kind: t.subject_kind.clone(),
                    subject_id: t.subject_id.clone(),
                    at: now,
                    kind: kind.into(),
                    actor: "system:scheduler".into(),
                    data: json!({"clock_key": clock.clock_key, "rule": clock.rule, "due_at": t.due_at, "lag_us": now - t.due_at}),
                    timer_id: Some(t.id),
                })
                .await?;
                if repeat.is_none() && t.subject_kind == crate::problems::clocks::KIND {
                    // Problems keep their own history: the breach is shown there as well.
                    crate::problems::clocks::record_breach(c, &t, &clock, now).await?;
                }
                if !notify.template.is_empty() {
                    // People read the deadline in the message: the centre's wall-clock time, as other notices give it.
                    let due_local = tianshu_store::time::from_micros(t.due_at).with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string();
                    let mut context = notify.context.clone();
                    if let Some(obj) = context.as_object_mut() {
                        obj.insert("rule".into(), json!(clock.rule));
                        obj.insert("due_at".into(), json!(due_local));
                    } else {
                        context = json!({"rule": clock.rule, "due_at": due_local});
                    }
                    insert_outbox(c, NewOutbox {
                        idempotency_key: format!("timer:{}", t.id),
                        subject_kind: t.subject_kind.clone(),
                        subject_id: t.subject_id.clone(),
                        template: notify.template.clone(),
                        recipients: serde_json::to_value(&notify.recipients).unwrap_or_default(),
                        context,
                        cause: format!("{}:{}", clock.rule, clock.clock_key),
                        state: if notify.review { "pending_review".into() } else { "queued".into() },
                        created_at: now,
                    })
                    .await?;
                }
                match repeat {
                    Some(r) => {
                        // The next reminder counts from the previous due time, so cadences never drift.
                        let next = due(&pol, &r, &clock.calendar, t.due_at, &[])?;
                        set_clock_state(c, clock.id, "running", next, None, None, None).await?;
                        insert_timer(c, NewTimer {
                            clock_id: Some(clock.id),
                            subject_kind: t.subject_kind.clone(),
                            subject_id: t.subject_id.clone(),
                            kind: "clock.due".into(),
                            due_at: next,
                            payload: serde_json::from_str(&t.payload).unwrap_or_default(),
                            created_at: now,
                        })
                        .await?;
                    }
                    None => {
                        // The deadline passed: the clock stays live (the work is still open) but is breached.
                        set_clock_state(c, clock.id, "running", clock.due_at, None, None, Some(t.due_at)).await?;
                    }
                }
                Ok(true)
            })
        })
        .await
}

/// Runs the scheduler until `stop` resolves.
pub async fn run(p: Platform, owner: String, mut stop: tokio::sync::watch::Receiver<bool>) {
    // RPT-06: the monthly report pack's e-mail timer exists once the scheduler runs.
    if let Err(e) = crate::report_pack::ensure_scheduled(&p).await {
        tracing::warn!(error = %e, "could not schedule the monthly report pack");
    }
    // PRB-09: likewise the monthly problem report's e-mail.
    if let Err(e) = crate::problems::clocks::ensure_scheduled(&p).await {
        tracing::warn!(error = %e, "could not schedule the monthly problem report");
    }
    loop {
        match tick(&p, &owner, 200).await {
            Ok(n) if n > 0 => continue, // more may be due; keep going without sleeping
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "scheduler tick failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
    }
}
