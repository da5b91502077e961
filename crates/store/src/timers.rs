//! Timelines, SLA clocks, durable timers and the outbox: shared by every subject kind.
//!
//! Exactly-once firing: a timer is leased (`lease_owner`, `lease_until`) by one scheduler, and
//! fired by a conditional update `state = 'pending' → 'fired'` in the same transaction as its
//! effects (timeline event, outbox message, next timer). A crashed instance's lease expires and
//! another instance takes the timer over; the conditional update and the unique `events.timer_id`
//! and `outbox.idempotency_key` make a second firing impossible.

use serde::Serialize;
use serde_json::Value;

use crate::{on_conn, on_pool, Conn, Store, StoreResult};

/// One timeline entry.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct Event {
    pub id: i64,
    pub subject_kind: String,
    pub subject_id: String,
    pub at: i64,
    pub kind: String,
    pub actor: String,
    pub data: String,
    pub timer_id: Option<i64>,
}

/// Input of [`insert_event`].
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub subject_kind: String,
    pub subject_id: String,
    pub at: i64,
    pub kind: String,
    pub actor: String,
    pub data: Value,
    pub timer_id: Option<i64>,
}

/// An SLA clock.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct ClockRow {
    pub id: i64,
    pub subject_kind: String,
    pub subject_id: String,
    pub clock_key: String,
    pub rule: String,
    pub basis: String,
    pub calendar: String,
    pub started_at: i64,
    pub due_at: i64,
    pub state: String,
    pub paused_at: Option<i64>,
    pub stopped_at: Option<i64>,
    pub breached_at: Option<i64>,
    pub repeat_basis: Option<String>,
    /// JSON: what to send when the clock fires (template, recipients, context, review).
    pub notify: String,
    pub version: i64,
}

/// Input of [`insert_clock`].
#[derive(Debug, Clone)]
pub struct NewClock {
    pub subject_kind: String,
    pub subject_id: String,
    pub clock_key: String,
    pub rule: String,
    pub basis: String,
    pub calendar: String,
    pub started_at: i64,
    pub due_at: i64,
    pub repeat_basis: Option<String>,
    pub notify: Value,
}

/// A durable timer.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct Timer {
    pub id: i64,
    pub clock_id: Option<i64>,
    pub subject_kind: String,
    pub subject_id: String,
    pub kind: String,
    pub due_at: i64,
    pub state: String,
    pub lease_owner: Option<String>,
    pub lease_until: Option<i64>,
    pub fired_at: Option<i64>,
    pub fired_by: Option<String>,
    pub attempts: i64,
    pub payload: String,
    pub created_at: i64,
}

/// Input of [`insert_timer`].
#[derive(Debug, Clone)]
pub struct NewTimer {
    pub clock_id: Option<i64>,
    pub subject_kind: String,
    pub subject_id: String,
    pub kind: String,
    pub due_at: i64,
    pub payload: Value,
    /// When the timer was scheduled (Unix µs).
    pub created_at: i64,
}

/// One outbox message request.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct OutboxRow {
    pub id: i64,
    pub idempotency_key: String,
    pub subject_kind: String,
    pub subject_id: String,
    pub template: String,
    pub recipients: String,
    pub context: String,
    pub cause: String,
    pub state: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub attempts: i64,
    pub next_attempt_at: Option<i64>,
    pub last_error: Option<String>,
    pub reviewed_by: Option<String>,
    pub reviewed_at: Option<i64>,
}

/// Input of [`insert_outbox`].
#[derive(Debug, Clone)]
pub struct NewOutbox {
    pub idempotency_key: String,
    pub subject_kind: String,
    pub subject_id: String,
    pub template: String,
    pub recipients: Value,
    pub context: Value,
    pub cause: String,
    /// `pending_review` when a person must approve it first (NTF-09), else `queued`.
    pub state: String,
    pub created_at: i64,
}

const CLOCK_COLS: &str = "id, subject_kind, subject_id, clock_key, rule, basis, calendar, started_at, due_at, state, paused_at, stopped_at, breached_at, repeat_basis, notify, version";
const TIMER_COLS: &str = "id, clock_id, subject_kind, subject_id, kind, due_at, state, lease_owner, lease_until, fired_at, fired_by, attempts, payload, created_at";
const OUTBOX_COLS: &str = "id, idempotency_key, subject_kind, subject_id, template, recipients, context, cause, state, created_at, updated_at, attempts, next_attempt_at, last_error, reviewed_by, reviewed_at";
const EVENT_COLS: &str = "id, subject_kind, subject_id, at, kind, actor, data, timer_id";

/// Appends a timeline event.
pub async fn insert_event(conn: &mut Conn<'_>, e: NewEvent) -> StoreResult<()> {
    // Written with the transaction's other events once the write succeeds (see `Conn`); a duplicate
    // `timer_id` still fails the write then, inside its transaction.
    conn.queue_event(e);
    Ok(())
}

/// Rows per INSERT when writing queued events (7 parameters each, well under both databases' limits).
const EVENTS_PER_STATEMENT: usize = 200;

/// Writes events as multi-row INSERTs, in order.
pub(crate) async fn write_events(conn: &mut Conn<'_>, events: Vec<NewEvent>) -> StoreResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    if let Some(r) = conn.sqlite_raw().await? {
        // In place, one cached single-row statement per event: no round trip to amortise.
        for e in &events {
            let data = crate::audit::canonical_json(&e.data);
            r.exec(
                "INSERT INTO events (subject_kind, subject_id, at, kind, actor, data, timer_id) VALUES ($1,$2,$3,$4,$5,$6,$7)",
                &[
                    (&e.subject_kind).into(),
                    (&e.subject_id).into(),
                    e.at.into(),
                    (&e.kind).into(),
                    (&e.actor).into(),
                    (&data).into(),
                    e.timer_id.into(),
                ],
            )?;
        }
        return Ok(());
    }
    for chunk in events.chunks(EVENTS_PER_STATEMENT) {
        let mut sql = String::from(
            "INSERT INTO events (subject_kind, subject_id, at, kind, actor, data, timer_id) VALUES ",
        );
        for i in 0..chunk.len() {
            let b = i * 7;
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&format!(
                "(${},${},${},${},${},${},${})",
                b + 1,
                b + 2,
                b + 3,
                b + 4,
                b + 5,
                b + 6,
                b + 7
            ));
        }
        on_conn!(conn, c => {
            let mut q = sqlx::query(&sql);
            for e in chunk {
                q = q
                    .bind(&e.subject_kind)
                    .bind(&e.subject_id)
                    .bind(e.at)
                    .bind(&e.kind)
                    .bind(&e.actor)
                    .bind(crate::audit::canonical_json(&e.data))
                    .bind(e.timer_id);
            }
            q.execute(&mut **c).await.map(|_| ())
        })?;
    }
    Ok(())
}

/// Starts a clock row (the caller computed `due_at`) unless a live clock with the same key exists: then `None`
/// and nothing changes. One statement, so starting a clock costs no separate existence check.
pub async fn insert_clock(conn: &mut Conn<'_>, k: NewClock) -> StoreResult<Option<ClockRow>> {
    let sql = format!(
        "INSERT INTO clocks (subject_kind, subject_id, clock_key, rule, basis, calendar, started_at, due_at, state, repeat_basis, notify)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,'running',$9,$10)
         ON CONFLICT (subject_kind, subject_id, clock_key) WHERE state IN ('running','paused') DO NOTHING
         RETURNING {CLOCK_COLS}"
    );
    let notify = crate::audit::canonical_json(&k.notify);
    if let Some(r) = conn.sqlite_raw().await? {
        // Without RETURNING on the SQLite writer: SQLite materialises RETURNING rows in an ephemeral table opened
        // and closed per statement, and every value of the new row is known here (a conflict inserts nothing).
        let n = r.exec(
            "INSERT INTO clocks (subject_kind, subject_id, clock_key, rule, basis, calendar, started_at, due_at, state, repeat_basis, notify)
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,'running',$9,$10)
             ON CONFLICT (subject_kind, subject_id, clock_key) WHERE state IN ('running','paused') DO NOTHING",
            &[
                (&k.subject_kind).into(),
                (&k.subject_id).into(),
                (&k.clock_key).into(),
                (&k.rule).into(),
                (&k.basis).into(),
                (&k.calendar).into(),
                k.started_at.into(),
                k.due_at.into(),
                (&k.repeat_basis).into(),
                (&notify).into(),
            ],
        )?;
        if n == 0 {
            return Ok(None);
        }
        let id = r.last_insert_rowid()?;
        return Ok(Some(ClockRow {
            id,
            subject_kind: k.subject_kind,
            subject_id: k.subject_id,
            clock_key: k.clock_key,
            rule: k.rule,
            basis: k.basis,
            calendar: k.calendar,
            started_at: k.started_at,
            due_at: k.due_at,
            state: "running".into(),
            paused_at: None,
            stopped_at: None,
            breached_at: None,
            repeat_basis: k.repeat_basis,
            notify,
            version: 1,
        }));
    }
    Ok(on_conn!(conn, c => sqlx::query_as(&sql)
        .bind(&k.subject_kind).bind(&k.subject_id).bind(&k.clock_key).bind(&k.rule).bind(&k.basis).bind(&k.calendar)
        .bind(k.started_at).bind(k.due_at).bind(&k.repeat_basis).bind(&notify)
        .fetch_optional(&mut **c).await)?)
}

/// A [`ClockRow`] from a raw row of [`CLOCK_COLS`].
fn clock_row(r: &crate::raw::Row<'_>) -> ClockRow {
    ClockRow {
        id: r.int(0),
        subject_kind: r.text(1),
        subject_id: r.text(2),
        clock_key: r.text(3),
        rule: r.text(4),
        basis: r.text(5),
        calendar: r.text(6),
        started_at: r.int(7),
        due_at: r.int(8),
        state: r.text(9),
        paused_at: r.opt_int(10),
        stopped_at: r.opt_int(11),
        breached_at: r.opt_int(12),
        repeat_basis: r.opt_text(13),
        notify: r.text(14),
        version: r.int(15),
    }
}

/// Every clock of a subject inside a transaction, oldest first (what [`Store::clocks_of`] reads once it commits).
pub async fn clocks_in_tx(conn: &mut Conn<'_>, kind: &str, id: &str) -> StoreResult<Vec<ClockRow>> {
    let sql = format!(
        "SELECT {CLOCK_COLS} FROM clocks WHERE subject_kind = $1 AND subject_id = $2 ORDER BY id"
    );
    if let Some(r) = conn.sqlite_raw().await? {
        return r.query(&sql, &[kind.into(), id.into()], clock_row);
    }
    Ok(on_conn!(conn, c => sqlx::query_as(&sql).bind(kind).bind(id).fetch_all(&mut **c).await)?)
}

/// The running or paused clock with this key, if any.
pub async fn live_clock(
    conn: &mut Conn<'_>,
    kind: &str,
    id: &str,
    key: &str,
) -> StoreResult<Option<ClockRow>> {
    let sql = format!(
        "SELECT {CLOCK_COLS} FROM clocks WHERE subject_kind = $1 AND subject_id = $2 AND clock_key = $3 AND state IN ('running','paused')"
    );
    Ok(
        on_conn!(conn, c => sqlx::query_as(&sql).bind(kind).bind(id).bind(key).fetch_optional(&mut **c).await)?,
    )
}

/// A clock by id (inside a transaction).
pub async fn clock_by_id(conn: &mut Conn<'_>, id: i64) -> StoreResult<Option<ClockRow>> {
    let sql = format!("SELECT {CLOCK_COLS} FROM clocks WHERE id = $1");
    Ok(on_conn!(conn, c => sqlx::query_as(&sql).bind(id).fetch_optional(&mut **c).await)?)
}

/// Sets a clock's state and timestamps.
pub async fn set_clock_state(
    conn: &mut Conn<'_>,
    id: i64,
    state: &str,
    due_at: i64,
    paused_at: Option<i64>,
    stopped_at: Option<i64>,
    breached_at: Option<i64>,
) -> StoreResult<()> {
    on_conn!(conn, c => sqlx::query(
        "UPDATE clocks SET state = $1, due_at = $2, paused_at = $3, stopped_at = $4, breached_at = COALESCE(breached_at, $5), version = version + 1 WHERE id = $6")
        .bind(state).bind(due_at).bind(paused_at).bind(stopped_at).bind(breached_at).bind(id)
        .execute(&mut **c).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// Moves a clock's due time and sets its breach mark as given (`None` clears it: the moved deadline has not
/// passed yet); state and pauses stay as they are.
pub async fn move_clock_due(
    conn: &mut Conn<'_>,
    id: i64,
    due_at: i64,
    breached_at: Option<i64>,
) -> StoreResult<()> {
    on_conn!(conn, c => sqlx::query(
        "UPDATE clocks SET due_at = $1, breached_at = $2, version = version + 1 WHERE id = $3")
        .bind(due_at).bind(breached_at).bind(id)
        .execute(&mut **c).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// Opens a pause interval.
pub async fn open_pause(
    conn: &mut Conn<'_>,
    clock_id: i64,
    from: i64,
    reason: &str,
) -> StoreResult<()> {
    on_conn!(conn, c => sqlx::query("INSERT INTO clock_pauses (clock_id, from_at, reason) VALUES ($1,$2,$3)")
        .bind(clock_id).bind(from).bind(reason).execute(&mut **c).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// Closes the open pause interval of a clock.
pub async fn close_pause(conn: &mut Conn<'_>, clock_id: i64, to: i64) -> StoreResult<()> {
    on_conn!(conn, c => sqlx::query("UPDATE clock_pauses SET to_at = $1 WHERE clock_id = $2 AND to_at IS NULL")
        .bind(to).bind(clock_id).execute(&mut **c).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// Closed pause intervals of a clock as `(from, to)`.
pub async fn pauses_of(conn: &mut Conn<'_>, clock_id: i64) -> StoreResult<Vec<(i64, i64)>> {
    let rows: Vec<(i64, Option<i64>)> = on_conn!(conn, c => sqlx::query_as(
        "SELECT from_at, to_at FROM clock_pauses WHERE clock_id = $1 ORDER BY from_at").bind(clock_id).fetch_all(&mut **c).await)?;
    Ok(rows
        .into_iter()
        .filter_map(|(f, t)| t.map(|t| (f, t)))
        .collect())
}

/// Schedules a timer.
pub async fn insert_timer(conn: &mut Conn<'_>, t: NewTimer) -> StoreResult<i64> {
    let payload = crate::audit::canonical_json(&t.payload);
    if let Some(r) = conn.sqlite_raw().await? {
        return r.insert(
            "INSERT INTO timers (clock_id, subject_kind, subject_id, kind, due_at, state, payload, created_at)
             VALUES ($1,$2,$3,$4,$5,'pending',$6,$7)",
            &[
                t.clock_id.into(),
                (&t.subject_kind).into(),
                (&t.subject_id).into(),
                (&t.kind).into(),
                t.due_at.into(),
                (&payload).into(),
                t.created_at.into(),
            ],
        );
    }
    Ok(on_conn!(conn, c => sqlx::query_scalar(
        "INSERT INTO timers (clock_id, subject_kind, subject_id, kind, due_at, state, payload, created_at)
         VALUES ($1,$2,$3,$4,$5,'pending',$6,$7) RETURNING id")
        .bind(t.clock_id).bind(&t.subject_kind).bind(&t.subject_id).bind(&t.kind).bind(t.due_at).bind(&payload).bind(t.created_at)
        .fetch_one(&mut **c).await)?)
}

/// Cancels a clock's pending timers; returns how many.
pub async fn cancel_clock_timers(conn: &mut Conn<'_>, clock_id: i64) -> StoreResult<u64> {
    Ok(
        on_conn!(conn, c => sqlx::query("UPDATE timers SET state = 'cancelled' WHERE clock_id = $1 AND state = 'pending'")
        .bind(clock_id).execute(&mut **c).await.map(|r| r.rows_affected()))?,
    )
}

/// Marks a leased timer fired; false when it was fired, cancelled or re-leased by someone else.
pub async fn mark_fired(
    conn: &mut Conn<'_>,
    timer_id: i64,
    owner: &str,
    now: i64,
) -> StoreResult<bool> {
    let n = on_conn!(conn, c => sqlx::query(
        "UPDATE timers SET state = 'fired', fired_at = $1, fired_by = $2, lease_owner = NULL, lease_until = NULL
         WHERE id = $3 AND state = 'pending' AND lease_owner = $2")
        .bind(now).bind(owner).bind(timer_id).execute(&mut **c).await.map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Queues a message unless one with the same idempotency key exists; returns its id when new.
pub async fn insert_outbox(conn: &mut Conn<'_>, m: NewOutbox) -> StoreResult<Option<i64>> {
    let recipients = crate::audit::canonical_json(&m.recipients);
    let context = crate::audit::canonical_json(&m.context);
    if let Some(r) = conn.sqlite_raw().await? {
        // Without RETURNING (an ephemeral table per statement on SQLite): a conflict changes no row.
        let n = r.exec(
            "INSERT INTO outbox (idempotency_key, subject_kind, subject_id, template, recipients, context, cause, state, created_at, updated_at)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$9) ON CONFLICT (idempotency_key) DO NOTHING",
            &[
                (&m.idempotency_key).into(),
                (&m.subject_kind).into(),
                (&m.subject_id).into(),
                (&m.template).into(),
                (&recipients).into(),
                (&context).into(),
                (&m.cause).into(),
                (&m.state).into(),
                m.created_at.into(),
            ],
        )?;
        return if n == 0 {
            Ok(None)
        } else {
            r.last_insert_rowid().map(Some)
        };
    }
    Ok(on_conn!(conn, c => sqlx::query_scalar(
        "INSERT INTO outbox (idempotency_key, subject_kind, subject_id, template, recipients, context, cause, state, created_at, updated_at)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$9) ON CONFLICT (idempotency_key) DO NOTHING RETURNING id")
        .bind(&m.idempotency_key).bind(&m.subject_kind).bind(&m.subject_id).bind(&m.template).bind(&recipients)
        .bind(&context).bind(&m.cause).bind(&m.state).bind(m.created_at)
        .fetch_optional(&mut **c).await)?)
}

impl Store {
    /// Leases up to `limit` due timers for `owner` until `now + lease_us`.
    ///
    /// PostgreSQL skips rows other instances hold (`FOR UPDATE SKIP LOCKED`); SQLite's single
    /// writer serialises claims anyway.
    pub async fn claim_due_timers(
        &self,
        owner: &str,
        now: i64,
        lease_us: i64,
        limit: i64,
    ) -> StoreResult<Vec<Timer>> {
        let owner = owner.to_string();
        self.write(move |c| {
            Box::pin(async move {
                let lock = if c.is_postgres() {
                    " FOR UPDATE SKIP LOCKED"
                } else {
                    ""
                };
                let sql = format!(
                    "UPDATE timers SET lease_owner = $1, lease_until = $2, attempts = attempts + 1
                     WHERE id IN (SELECT id FROM timers WHERE state = 'pending' AND due_at <= $3
                                  AND (lease_until IS NULL OR lease_until < $3) ORDER BY due_at LIMIT $4{lock})
                     RETURNING {TIMER_COLS}"
                );
                let mut rows: Vec<Timer> = on_conn!(c, c => sqlx::query_as(&sql)
                    .bind(&owner).bind(now + lease_us).bind(now).bind(limit).fetch_all(&mut **c).await)?;
                rows.sort_by_key(|t| (t.due_at, t.id));
                Ok(rows)
            })
        })
        .await
    }

    /// Gives a leased timer back (its handler failed); it is retried after `retry_at`.
    pub async fn release_timer(&self, id: i64, owner: &str, retry_at: i64) -> StoreResult<()> {
        let owner = owner.to_string();
        self.write(move |c| {
            Box::pin(async move {
                on_conn!(c, c => sqlx::query("UPDATE timers SET lease_owner = NULL, lease_until = $1 WHERE id = $2 AND lease_owner = $3 AND state = 'pending'")
                    .bind(retry_at).bind(id).bind(&owner).execute(&mut **c).await.map(|r| r.rows_affected()))?;
                Ok(())
            })
        })
        .await
    }

    /// The timeline of a subject, oldest first.
    pub async fn events_of(&self, kind: &str, id: &str) -> StoreResult<Vec<Event>> {
        let sql = format!("SELECT {EVENT_COLS} FROM events WHERE subject_kind = $1 AND subject_id = $2 ORDER BY id");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(kind).bind(id).fetch_all(p).await)?)
    }

    /// Every clock of a subject (running and historical), oldest first.
    pub async fn clocks_of(&self, kind: &str, id: &str) -> StoreResult<Vec<ClockRow>> {
        let sql = format!("SELECT {CLOCK_COLS} FROM clocks WHERE subject_kind = $1 AND subject_id = $2 ORDER BY id");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(kind).bind(id).fetch_all(p).await)?)
    }

    /// Timers of a subject.
    pub async fn timers_of(&self, kind: &str, id: &str) -> StoreResult<Vec<Timer>> {
        let sql = format!("SELECT {TIMER_COLS} FROM timers WHERE subject_kind = $1 AND subject_id = $2 ORDER BY id");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(kind).bind(id).fetch_all(p).await)?)
    }

    /// Outbox messages after `after_id`, optionally in one state, oldest first.
    pub async fn outbox_page(
        &self,
        after_id: i64,
        limit: i64,
        state: Option<&str>,
    ) -> StoreResult<Vec<OutboxRow>> {
        let sql = format!("SELECT {OUTBOX_COLS} FROM outbox WHERE id > $1 AND ($2 = '' OR state = $2) ORDER BY id LIMIT $3");
        Ok(
            on_pool!(self, p => sqlx::query_as(&sql).bind(after_id).bind(state.unwrap_or("")).bind(limit).fetch_all(p).await)?,
        )
    }

    /// Outbox messages of one subject.
    pub async fn outbox_of(&self, kind: &str, id: &str) -> StoreResult<Vec<OutboxRow>> {
        let sql = format!("SELECT {OUTBOX_COLS} FROM outbox WHERE subject_kind = $1 AND subject_id = $2 ORDER BY id");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(kind).bind(id).fetch_all(p).await)?)
    }

    /// Number of pending timers and the earliest due time among them.
    pub async fn pending_timers(&self) -> StoreResult<(i64, Option<i64>)> {
        Ok(
            on_pool!(self, p => sqlx::query_as("SELECT COUNT(*), MIN(due_at) FROM timers WHERE state = 'pending'").fetch_one(p).await)?,
        )
    }
}

/// Keys of a subject's live (running or paused) clocks, inside a transaction.
pub async fn live_clock_keys(
    conn: &mut Conn<'_>,
    kind: &str,
    id: &str,
) -> StoreResult<Vec<String>> {
    let rows: Vec<(String,)> = on_conn!(conn, c => sqlx::query_as(
        "SELECT clock_key FROM clocks WHERE subject_kind = $1 AND subject_id = $2 AND state IN ('running','paused') ORDER BY id")
        .bind(kind).bind(id).fetch_all(&mut **c).await)?;
    Ok(rows.into_iter().map(|(k,)| k).collect())
}
