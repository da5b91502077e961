//! SLA clocks on any subject: start, stop, pause, resume — each on the basis its rule names.
//!
//! All functions run inside the caller's transaction, so a clock changes together with the
//! state change that caused it (and its audit entry).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tianshu_store::timers::{
    cancel_clock_timers, clock_by_id, close_pause, insert_clock, insert_event, insert_timer,
    live_clock, move_clock_due, open_pause, pauses_of, set_clock_state, ClockRow, NewClock,
    NewEvent, NewTimer,
};
use tianshu_store::{Conn, StoreError, StoreResult};
use tianshu_workcal::{DeadlineBasis, Pause};

use crate::policy::ActivePolicy;

/// Who a message goes to: recipient classes (NTF), roles, named users, raw addresses.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Recipients {
    #[serde(default)]
    pub classes: Vec<String>,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub users: Vec<String>,
    #[serde(default)]
    pub addresses: Vec<String>,
}

/// What to send when a clock fires.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Notify {
    pub template: String,
    pub recipients: Recipients,
    #[serde(default)]
    pub context: Value,
    /// The message waits in `pending_review` until a person approves it (NTF-09).
    #[serde(default)]
    pub review: bool,
}

/// A clock to start.
#[derive(Debug, Clone)]
pub struct ClockSpec {
    pub subject_kind: String,
    pub subject_id: String,
    /// Unique per subject among live clocks, e.g. `esc04.department_manager`.
    pub clock_key: String,
    /// The rule ID that defines the clock (e.g. `ESC-04`).
    pub rule: String,
    pub basis: DeadlineBasis,
    /// Calendar for working-day arithmetic; default: the basis's own or the pack's default.
    pub calendar: Option<String>,
    pub start_at: i64,
    /// For cadences (ESC-03): after each firing the next is due this much later.
    pub repeat: Option<DeadlineBasis>,
    pub notify: Notify,
}

fn calendar_name(pol: &ActivePolicy, basis: &DeadlineBasis, explicit: Option<&str>) -> String {
    match (explicit, basis) {
        (Some(c), _) => c.to_string(),
        (None, DeadlineBasis::WorkingTime { calendar, .. }) => calendar.clone(),
        (None, _) => pol.pack.calendars.default_calendar.clone(),
    }
}

fn invalid(msg: impl Into<String>) -> StoreError {
    StoreError::Conflict {
        field: "basis".into(),
        message: msg.into(),
    }
}

/// The due instant of `basis` from `start` with `pauses` on `calendar`.
pub fn due(
    pol: &ActivePolicy,
    basis: &DeadlineBasis,
    calendar: &str,
    start: i64,
    pauses: &[(i64, i64)],
) -> StoreResult<i64> {
    let cal = pol
        .calendars
        .get(calendar)
        .map_err(|e| invalid(e.to_string()))?;
    let ps: Vec<Pause> = pauses
        .iter()
        .map(|(f, t)| Pause {
            from: tianshu_store::time::from_micros(*f),
            to: tianshu_store::time::from_micros(*t),
        })
        .collect();
    let d = cal
        .deadline(basis, tianshu_store::time::from_micros(start), &ps)
        .map_err(|e| invalid(e.to_string()))?;
    Ok(d.timestamp_micros())
}

fn timer_payload(clock: &ClockRow) -> Value {
    json!({"clock_key": clock.clock_key, "rule": clock.rule})
}

/// Starts a clock and schedules its timer; a live clock with the same key is left as it is.
pub async fn start(
    conn: &mut Conn<'_>,
    pol: &ActivePolicy,
    spec: ClockSpec,
) -> StoreResult<ClockRow> {
    let calendar = calendar_name(pol, &spec.basis, spec.calendar.as_deref());
    let due_at = due(pol, &spec.basis, &calendar, spec.start_at, &[])?;
    let inserted = insert_clock(
        conn,
        NewClock {
            subject_kind: spec.subject_kind.clone(),
            subject_id: spec.subject_id.clone(),
            clock_key: spec.clock_key.clone(),
            rule: spec.rule.clone(),
            basis: spec.basis.to_string(),
            calendar,
            started_at: spec.start_at,
            due_at,
            repeat_basis: spec.repeat.as_ref().map(|r| r.to_string()),
            notify: serde_json::to_value(&spec.notify).unwrap_or(Value::Null),
        },
    )
    .await?;
    let Some(clock) = inserted else {
        // A live clock with this key exists: it is left as it is.
        return live_clock(conn, &spec.subject_kind, &spec.subject_id, &spec.clock_key)
            .await?
            .ok_or_else(|| tianshu_store::StoreError::Conflict {
                field: "clock_key".into(),
                message: format!("clock {} vanished while starting", spec.clock_key),
            });
    };
    insert_timer(
        conn,
        NewTimer {
            clock_id: Some(clock.id),
            subject_kind: spec.subject_kind.clone(),
            subject_id: spec.subject_id.clone(),
            kind: "clock.due".into(),
            due_at,
            payload: timer_payload(&clock),
            created_at: spec.start_at,
        },
    )
    .await?;
    insert_event(conn, NewEvent {
        subject_kind: spec.subject_kind,
        subject_id: spec.subject_id,
        at: spec.start_at,
        kind: "clock.started".into(),
        actor: "system:clocks".into(),
        data: json!({"clock_key": clock.clock_key, "rule": clock.rule, "basis": clock.basis, "due_at": due_at}),
        timer_id: None,
    })
    .await?;
    Ok(clock)
}

/// Stops a live clock: `met` when stopped before it fell due, else it stays `breached`.
pub async fn stop(
    conn: &mut Conn<'_>,
    kind: &str,
    id: &str,
    key: &str,
    now: i64,
    why: &str,
) -> StoreResult<Option<ClockRow>> {
    let Some(c) = live_clock(conn, kind, id, key).await? else {
        return Ok(None);
    };
    cancel_clock_timers(conn, c.id).await?;
    if c.state == "paused" {
        close_pause(conn, c.id, now).await?;
    }
    // A cadence (repeat) is never "breached" by being stopped; a deadline is met only if in time.
    let met = c.breached_at.is_none() && (c.repeat_basis.is_some() || now <= c.due_at);
    let state = if met { "met" } else { "breached" };
    let breached_at = if met {
        None
    } else {
        Some(c.breached_at.unwrap_or(c.due_at))
    };
    set_clock_state(conn, c.id, state, c.due_at, None, Some(now), breached_at).await?;
    insert_event(
        conn,
        NewEvent {
            subject_kind: kind.into(),
            subject_id: id.into(),
            at: now,
            kind: "clock.stopped".into(),
            actor: "system:clocks".into(),
            data: json!({"clock_key": key, "rule": c.rule, "outcome": state, "why": why}),
            timer_id: None,
        },
    )
    .await?;
    clock_by_id(conn, c.id).await
}

/// Pauses a running clock (e.g. waiting for the customer); its timer is withdrawn.
pub async fn pause(
    conn: &mut Conn<'_>,
    kind: &str,
    id: &str,
    key: &str,
    now: i64,
    reason: &str,
) -> StoreResult<Option<ClockRow>> {
    let Some(c) = live_clock(conn, kind, id, key).await? else {
        return Ok(None);
    };
    if c.state != "running" {
        return Ok(Some(c));
    }
    cancel_clock_timers(conn, c.id).await?;
    open_pause(conn, c.id, now, reason).await?;
    set_clock_state(conn, c.id, "paused", c.due_at, Some(now), None, None).await?;
    insert_event(
        conn,
        NewEvent {
            subject_kind: kind.into(),
            subject_id: id.into(),
            at: now,
            kind: "clock.paused".into(),
            actor: "system:clocks".into(),
            data: json!({"clock_key": key, "reason": reason}),
            timer_id: None,
        },
    )
    .await?;
    clock_by_id(conn, c.id).await
}

/// Resumes a paused clock; the due time moves by the paused time as the basis counts it.
pub async fn resume(
    conn: &mut Conn<'_>,
    pol: &ActivePolicy,
    kind: &str,
    id: &str,
    key: &str,
    now: i64,
) -> StoreResult<Option<ClockRow>> {
    let Some(c) = live_clock(conn, kind, id, key).await? else {
        return Ok(None);
    };
    if c.state != "paused" {
        return Ok(Some(c));
    }
    close_pause(conn, c.id, now).await?;
    let pauses = pauses_of(conn, c.id).await?;
    let basis: DeadlineBasis = c
        .basis
        .parse()
        .map_err(|e: tianshu_workcal::DeadlineParseError| invalid(e.to_string()))?;
    let due_at = due(pol, &basis, &c.calendar, c.started_at, &pauses)?;
    set_clock_state(conn, c.id, "running", due_at, None, None, None).await?;
    insert_timer(
        conn,
        NewTimer {
            clock_id: Some(c.id),
            subject_kind: kind.into(),
            subject_id: id.into(),
            kind: "clock.due".into(),
            due_at,
            payload: timer_payload(&c),
            created_at: now,
        },
    )
    .await?;
    insert_event(
        conn,
        NewEvent {
            subject_kind: kind.into(),
            subject_id: id.into(),
            at: now,
            kind: "clock.resumed".into(),
            actor: "system:clocks".into(),
            data: json!({"clock_key": key, "due_at": due_at}),
            timer_id: None,
        },
    )
    .await?;
    clock_by_id(conn, c.id).await
}

/// Moves a live clock's due time to `due_at` (a deadline extended, e.g. an SLA-07 delay granted); its timer is
/// replaced. A breached clock whose new due time is still ahead is live again (the earlier breach stays on the
/// timeline, so it is never announced twice for the same due time); one whose new due time has passed keeps its
/// breach, and one that had not fired yet is due at once.
pub async fn move_due(
    conn: &mut Conn<'_>,
    kind: &str,
    id: &str,
    key: &str,
    due_at: i64,
    now: i64,
    why: &str,
) -> StoreResult<Option<ClockRow>> {
    let Some(c) = live_clock(conn, kind, id, key).await? else {
        return Ok(None);
    };
    if c.due_at == due_at {
        return Ok(Some(c));
    }
    cancel_clock_timers(conn, c.id).await?;
    let breached_at = if due_at > now { None } else { c.breached_at };
    move_clock_due(conn, c.id, due_at, breached_at).await?;
    if c.state == "running" && breached_at.is_none() {
        insert_timer(
            conn,
            NewTimer {
                clock_id: Some(c.id),
                subject_kind: kind.into(),
                subject_id: id.into(),
                kind: "clock.due".into(),
                due_at,
                payload: timer_payload(&c),
                created_at: now,
            },
        )
        .await?;
    }
    insert_event(
        conn,
        NewEvent {
            subject_kind: kind.into(),
            subject_id: id.into(),
            at: now,
            kind: "clock.moved".into(),
            actor: "system:clocks".into(),
            data: json!({"clock_key": key, "rule": c.rule, "due_before": c.due_at, "due_at": due_at, "why": why}),
            timer_id: None,
        },
    )
    .await?;
    clock_by_id(conn, c.id).await
}
