//! Duty rosters: publications, assignments, overrides, swap requests, daily reports and hand-over notes.
//!
//! Days are `YYYY-MM-DD` text on both backends, so range queries compare strings that sort as dates.

use serde::Serialize;

use crate::{on_conn, on_pool, Conn, Store, StoreError, StoreResult};

/// A publication of a roster over a range.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct Roster {
    pub id: i64,
    pub from_day: String,
    pub to_day: String,
    /// `rotation` or `import`.
    pub source: String,
    /// JSON list of the slot keys the publication replaced.
    pub slots: String,
    pub assignments: i64,
    pub created_by: String,
    pub created_at: i64,
}

/// One person on one slot and shift of one day.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct AssignmentRow {
    pub id: i64,
    pub roster_id: Option<i64>,
    pub day: String,
    pub slot: String,
    pub shift: String,
    pub username: String,
    pub region: Option<String>,
    /// `rotation`, `import`, `override` or `swap`.
    pub source: String,
    pub version: i64,
    pub updated_at: i64,
}

/// An assignment to insert.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAssignment {
    pub day: String,
    pub slot: String,
    pub shift: String,
    pub username: String,
    pub region: Option<String>,
}

/// A recorded override.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct OverrideRow {
    pub id: i64,
    pub assignment_id: i64,
    pub day: String,
    pub slot: String,
    pub shift: String,
    pub from_user: String,
    pub to_user: String,
    pub reason: String,
    pub created_by: String,
    pub created_at: i64,
}

/// A swap request.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct SwapRow {
    pub id: i64,
    pub assignment_id: i64,
    pub counter_assignment_id: Option<i64>,
    pub requester: String,
    pub counterpart: String,
    pub reason: String,
    /// `requested`, `approved` or `rejected`.
    pub state: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
    pub note: Option<String>,
    pub version: i64,
    pub created_at: i64,
}

/// A filed daily duty report (DUTY-06).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct ReportRow {
    pub id: i64,
    pub day: String,
    pub slot: String,
    pub shift: String,
    pub username: String,
    /// JSON object of the form's fields.
    pub fields: String,
    pub submitted_at: i64,
}

/// A hand-over note.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct HandoverRow {
    pub id: i64,
    pub day: String,
    pub slot: String,
    pub shift: String,
    pub author: String,
    pub note: String,
    pub created_at: i64,
}

const ROSTER_COLS: &str =
    "id, from_day, to_day, source, slots, assignments, created_by, created_at";
const ASG_COLS: &str =
    "id, roster_id, day, slot, shift, username, region, source, version, updated_at";
const OVR_COLS: &str =
    "id, assignment_id, day, slot, shift, from_user, to_user, reason, created_by, created_at";
const SWAP_COLS: &str = "id, assignment_id, counter_assignment_id, requester, counterpart, reason, state, decided_by, decided_at, note, version, created_at";
const REPORT_COLS: &str = "id, day, slot, shift, username, fields, submitted_at";
const HANDOVER_COLS: &str = "id, day, slot, shift, author, note, created_at";

/// Rows per multi-row INSERT: 5 binds each, well under both backends' bind limits.
const INSERT_CHUNK: usize = 200;

/// What a publication covers.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRoster {
    /// First day, `YYYY-MM-DD`.
    pub from: String,
    /// Last day, inclusive.
    pub to: String,
    /// `rotation` or `import`.
    pub source: String,
    /// Slots whose assignments in the range are replaced.
    pub slots: Vec<String>,
    /// Actor.
    pub by: String,
    /// Unix microseconds.
    pub now: i64,
}

/// Publishes a roster: removes the assignments of `r.slots` in `r.from..=r.to` and inserts `rows`; returns the
/// publication. Rows outside the range or slots are a conflict (the caller built them wrong).
pub async fn publish(
    conn: &mut Conn<'_>,
    r: &NewRoster,
    rows: &[NewAssignment],
) -> StoreResult<Roster> {
    let (from, to, source, slots, by, now) = (
        r.from.as_str(),
        r.to.as_str(),
        r.source.as_str(),
        &r.slots,
        r.by.as_str(),
        r.now,
    );
    if let Some(r) = rows
        .iter()
        .find(|r| r.day.as_str() < from || r.day.as_str() > to || !slots.contains(&r.slot))
    {
        return Err(StoreError::Conflict {
            field: "assignments".into(),
            message: format!(
                "{} {} is outside the published range or slots",
                r.day, r.slot
            ),
        });
    }
    let slots_json = serde_json::to_string(slots).unwrap_or_else(|_| "[]".into());
    let sql = format!(
        "INSERT INTO duty_rosters (from_day, to_day, source, slots, assignments, created_by, created_at)
         VALUES ($1,$2,$3,$4,$5,$6,$7) RETURNING {ROSTER_COLS}"
    );
    let roster: Roster = on_conn!(conn, c => sqlx::query_as(&sql)
        .bind(from).bind(to).bind(source).bind(&slots_json).bind(rows.len() as i64).bind(by).bind(now)
        .fetch_one(&mut **c).await)?;
    for s in slots {
        on_conn!(conn, c => sqlx::query("DELETE FROM duty_assignments WHERE day >= $1 AND day <= $2 AND slot = $3")
            .bind(from).bind(to).bind(s).execute(&mut **c).await.map(|r| r.rows_affected()))?;
    }
    for chunk in rows.chunks(INSERT_CHUNK) {
        let mut sql = String::from(
            "INSERT INTO duty_assignments (roster_id, day, slot, shift, username, region, source, version, updated_at) VALUES ",
        );
        for i in 0..chunk.len() {
            if i > 0 {
                sql.push(',');
            }
            let b = i * 5;
            sql.push_str(&format!(
                "($1, ${}, ${}, ${}, ${}, ${}, $2, 1, $3)",
                b + 4,
                b + 5,
                b + 6,
                b + 7,
                b + 8
            ));
        }
        on_conn!(conn, c => {
            let mut q = sqlx::query(&sql).bind(roster.id).bind(source).bind(now);
            for r in chunk {
                q = q.bind(&r.day).bind(&r.slot).bind(&r.shift).bind(&r.username).bind(&r.region);
            }
            q.execute(&mut **c).await.map(|r| r.rows_affected())
        })?;
    }
    Ok(roster)
}

/// Assignments with `from <= day <= to`, inside a transaction.
pub async fn assignments_in_tx(
    conn: &mut Conn<'_>,
    from: &str,
    to: &str,
) -> StoreResult<Vec<AssignmentRow>> {
    let sql = format!(
        "SELECT {ASG_COLS} FROM duty_assignments WHERE day >= $1 AND day <= $2 ORDER BY day, slot, shift, username"
    );
    Ok(on_conn!(conn, c => sqlx::query_as(&sql).bind(from).bind(to).fetch_all(&mut **c).await)?)
}

/// An assignment by id, inside a transaction.
pub async fn assignment_in_tx(conn: &mut Conn<'_>, id: i64) -> StoreResult<Option<AssignmentRow>> {
    let sql = format!("SELECT {ASG_COLS} FROM duty_assignments WHERE id = $1");
    Ok(on_conn!(conn, c => sqlx::query_as(&sql).bind(id).fetch_optional(&mut **c).await)?)
}

/// Moves assignment `id` to `to_user` if it is still at `expected_version`; `source` records why.
pub async fn reassign(
    conn: &mut Conn<'_>,
    id: i64,
    to_user: &str,
    expected_version: i64,
    source: &str,
    now: i64,
) -> StoreResult<AssignmentRow> {
    let sql = format!(
        "UPDATE duty_assignments SET username = $1, source = $2, version = version + 1, updated_at = $3
         WHERE id = $4 AND version = $5 RETURNING {ASG_COLS}"
    );
    let row: Option<AssignmentRow> = on_conn!(conn, c => sqlx::query_as(&sql)
        .bind(to_user).bind(source).bind(now).bind(id).bind(expected_version).fetch_optional(&mut **c).await)?;
    row.ok_or_else(|| StoreError::Stale(format!("duty assignment {id}")))
}

/// Records an override of `a` (already reassigned) from `from_user`.
pub async fn insert_override(
    conn: &mut Conn<'_>,
    a: &AssignmentRow,
    from_user: &str,
    reason: &str,
    by: &str,
    now: i64,
) -> StoreResult<OverrideRow> {
    let sql = format!(
        "INSERT INTO duty_overrides (assignment_id, day, slot, shift, from_user, to_user, reason, created_by, created_at)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) RETURNING {OVR_COLS}"
    );
    Ok(on_conn!(conn, c => sqlx::query_as(&sql)
        .bind(a.id).bind(&a.day).bind(&a.slot).bind(&a.shift).bind(from_user).bind(&a.username).bind(reason).bind(by).bind(now)
        .fetch_one(&mut **c).await)?)
}

/// Files a swap request.
pub async fn insert_swap(
    conn: &mut Conn<'_>,
    assignment_id: i64,
    counter_assignment_id: Option<i64>,
    requester: &str,
    counterpart: &str,
    reason: &str,
    now: i64,
) -> StoreResult<SwapRow> {
    let sql = format!(
        "INSERT INTO duty_swaps (assignment_id, counter_assignment_id, requester, counterpart, reason, state, version, created_at)
         VALUES ($1,$2,$3,$4,$5,'requested',1,$6) RETURNING {SWAP_COLS}"
    );
    Ok(on_conn!(conn, c => sqlx::query_as(&sql)
        .bind(assignment_id).bind(counter_assignment_id).bind(requester).bind(counterpart).bind(reason).bind(now)
        .fetch_one(&mut **c).await)?)
}

/// A swap by id, inside a transaction.
pub async fn swap_in_tx(conn: &mut Conn<'_>, id: i64) -> StoreResult<Option<SwapRow>> {
    let sql = format!("SELECT {SWAP_COLS} FROM duty_swaps WHERE id = $1");
    Ok(on_conn!(conn, c => sqlx::query_as(&sql).bind(id).fetch_optional(&mut **c).await)?)
}

/// Decides a requested swap (`approved` / `rejected`). Only a `requested` swap at `expected_version` changes;
/// the database refuses an approver equal to the requester as well (CHECK), as a second line of defence.
pub async fn decide_swap(
    conn: &mut Conn<'_>,
    id: i64,
    state: &str,
    by: &str,
    note: Option<&str>,
    expected_version: i64,
    now: i64,
) -> StoreResult<SwapRow> {
    let sql = format!(
        "UPDATE duty_swaps SET state = $1, decided_by = $2, decided_at = $3, note = $4, version = version + 1
         WHERE id = $5 AND state = 'requested' AND version = $6 RETURNING {SWAP_COLS}"
    );
    let row: Option<SwapRow> = on_conn!(conn, c => sqlx::query_as(&sql)
        .bind(state).bind(by).bind(now).bind(note).bind(id).bind(expected_version).fetch_optional(&mut **c).await)?;
    row.ok_or_else(|| StoreError::Stale(format!("duty swap {id}")))
}

/// Files a daily report; a second report for the same duty is a conflict on `report`.
pub async fn insert_report(
    conn: &mut Conn<'_>,
    day: &str,
    slot: &str,
    shift: &str,
    username: &str,
    fields: &str,
    now: i64,
) -> StoreResult<ReportRow> {
    let sql = format!(
        "INSERT INTO duty_reports (day, slot, shift, username, fields, submitted_at) VALUES ($1,$2,$3,$4,$5,$6)
         ON CONFLICT (day, slot, shift, username) DO NOTHING RETURNING {REPORT_COLS}"
    );
    let row: Option<ReportRow> = on_conn!(conn, c => sqlx::query_as(&sql)
        .bind(day).bind(slot).bind(shift).bind(username).bind(fields).bind(now).fetch_optional(&mut **c).await)?;
    row.ok_or_else(|| StoreError::Conflict {
        field: "report".into(),
        message: format!("the report for {day} {slot} {shift} was already filed"),
    })
}

/// Adds a hand-over note.
pub async fn insert_handover(
    conn: &mut Conn<'_>,
    day: &str,
    slot: &str,
    shift: &str,
    author: &str,
    note: &str,
    now: i64,
) -> StoreResult<HandoverRow> {
    let sql = format!(
        "INSERT INTO duty_handovers (day, slot, shift, author, note, created_at) VALUES ($1,$2,$3,$4,$5,$6) RETURNING {HANDOVER_COLS}"
    );
    Ok(on_conn!(conn, c => sqlx::query_as(&sql)
        .bind(day).bind(slot).bind(shift).bind(author).bind(note).bind(now).fetch_one(&mut **c).await)?)
}

impl Store {
    /// Assignments with `from <= day <= to`, by day, slot, shift and person.
    pub async fn duty_assignments(&self, from: &str, to: &str) -> StoreResult<Vec<AssignmentRow>> {
        let sql = format!(
            "SELECT {ASG_COLS} FROM duty_assignments WHERE day >= $1 AND day <= $2 ORDER BY day, slot, shift, username"
        );
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(from).bind(to).fetch_all(p).await)?)
    }

    /// Display names of the people rostered on `from..=to`, by username.
    pub async fn duty_display_names(
        &self,
        from: &str,
        to: &str,
    ) -> StoreResult<Vec<(String, String)>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT u.username, u.display_name FROM users u WHERE u.username IN
               (SELECT DISTINCT username FROM duty_assignments WHERE day >= $1 AND day <= $2)")
            .bind(from).bind(to).fetch_all(p).await)?)
    }

    /// One person's assignments with `from <= day <= to`.
    pub async fn duty_assignments_of(
        &self,
        username: &str,
        from: &str,
        to: &str,
    ) -> StoreResult<Vec<AssignmentRow>> {
        let sql = format!(
            "SELECT {ASG_COLS} FROM duty_assignments WHERE username = $1 AND day >= $2 AND day <= $3 ORDER BY day, shift"
        );
        Ok(
            on_pool!(self, p => sqlx::query_as(&sql).bind(username).bind(from).bind(to).fetch_all(p).await)?,
        )
    }

    /// An assignment by id.
    pub async fn duty_assignment(&self, id: i64) -> StoreResult<Option<AssignmentRow>> {
        let sql = format!("SELECT {ASG_COLS} FROM duty_assignments WHERE id = $1");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await)?)
    }

    /// Publications, newest first.
    pub async fn duty_rosters(&self, limit: i64) -> StoreResult<Vec<Roster>> {
        let sql = format!("SELECT {ROSTER_COLS} FROM duty_rosters ORDER BY id DESC LIMIT $1");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(limit).fetch_all(p).await)?)
    }

    /// Overrides of days `from..=to`, newest first.
    pub async fn duty_overrides(&self, from: &str, to: &str) -> StoreResult<Vec<OverrideRow>> {
        let sql = format!(
            "SELECT {OVR_COLS} FROM duty_overrides WHERE day >= $1 AND day <= $2 ORDER BY id DESC"
        );
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(from).bind(to).fetch_all(p).await)?)
    }

    /// Swaps, newest first; only those in `state` when given.
    pub async fn duty_swaps(&self, state: Option<&str>) -> StoreResult<Vec<SwapRow>> {
        let sql = format!(
            "SELECT {SWAP_COLS} FROM duty_swaps WHERE (CAST($1 AS TEXT) IS NULL OR state = $1) ORDER BY id DESC LIMIT 500"
        );
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(state).fetch_all(p).await)?)
    }

    /// A swap by id.
    pub async fn duty_swap(&self, id: i64) -> StoreResult<Option<SwapRow>> {
        let sql = format!("SELECT {SWAP_COLS} FROM duty_swaps WHERE id = $1");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await)?)
    }

    /// Reports of days `from..=to`.
    pub async fn duty_reports(&self, from: &str, to: &str) -> StoreResult<Vec<ReportRow>> {
        let sql = format!(
            "SELECT {REPORT_COLS} FROM duty_reports WHERE day >= $1 AND day <= $2 ORDER BY day, slot, shift, username"
        );
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(from).bind(to).fetch_all(p).await)?)
    }

    /// Hand-over notes of days `from..=to`.
    pub async fn duty_handovers(&self, from: &str, to: &str) -> StoreResult<Vec<HandoverRow>> {
        let sql = format!(
            "SELECT {HANDOVER_COLS} FROM duty_handovers WHERE day >= $1 AND day <= $2 ORDER BY day, id"
        );
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(from).bind(to).fetch_all(p).await)?)
    }
}
