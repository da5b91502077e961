//! Incident rows, dispatch children, merged reports and typed links.
//!
//! Services load a row, apply the pure domain rules, and save the whole row back with the
//! version they read (optimistic concurrency); a concurrent change makes the save `Stale`.

use serde::Serialize;

use crate::{on_conn, on_pool, Conn, Store, StoreError, StoreResult};

/// One incident row (a ticket, a dispatch child, a clone or a merged report).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq, Default)]
pub struct Incident {
    pub id: i64,
    pub number: String,
    pub title: String,
    pub symptom: String,
    pub symptom_category: Option<String>,
    pub source_channel: String,
    pub reporter: String,
    pub reporter_contact: Option<String>,
    pub org_id: i64,
    pub region_id: Option<i64>,
    pub system_id: Option<i64>,
    pub business: Option<String>,
    pub customer: Option<String>,
    pub cause_class: Option<String>,
    pub state: String,
    pub fault_level: String,
    /// JSON array of reasons for the level.
    pub level_reasons: String,
    pub level_set_at: Option<i64>,
    pub fl1_at: Option<i64>,
    pub fl2_at: Option<i64>,
    pub cs_level: Option<i64>,
    pub escalated_flow: bool,
    pub reported_to_rm_at: Option<i64>,
    /// ESC-07: when the centre manager was told (ESC-08 runs from there).
    pub reported_to_cm_at: Option<i64>,
    /// ESC-06: the room or department that owns the fault, when it is not the reporting one.
    pub owning_org_id: Option<i64>,
    /// JSON array of immediate-report keys already sent.
    pub notified: String,
    /// JSON object of the facts that drive severity.
    pub facts: String,
    pub handler_id: Option<i64>,
    pub auditor_id: Option<i64>,
    pub master_id: Option<i64>,
    pub parent_id: Option<i64>,
    pub child_kind: Option<String>,
    pub assignee_org_id: Option<i64>,
    pub due_at: Option<i64>,
    pub progress: i64,
    pub last_progress_at: Option<i64>,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub resolved_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub version: i64,
}

const COLS: &str = "id, number, title, symptom, symptom_category, source_channel, reporter, reporter_contact, org_id, region_id, system_id, business, customer, cause_class, state, fault_level, level_reasons, level_set_at, fl1_at, fl2_at, cs_level, escalated_flow, reported_to_rm_at, notified, facts, handler_id, auditor_id, master_id, parent_id, child_kind, assignee_org_id, due_at, progress, last_progress_at, created_by, created_at, updated_at, resolved_at, closed_at, version, reported_to_cm_at, owning_org_id";

/// A typed link between two subjects.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct Link {
    pub id: i64,
    pub from_kind: String,
    pub from_id: String,
    pub to_kind: String,
    pub to_id: String,
    pub link_type: String,
    pub created_by: String,
    pub created_at: i64,
}

/// The next value of a named sequence (e.g. one per day for incident numbers).
pub async fn next_in_sequence(conn: &mut Conn<'_>, scope: &str) -> StoreResult<i64> {
    Ok(on_conn!(conn, c => sqlx::query_scalar(
        "INSERT INTO number_sequences (scope, value) VALUES ($1, 1)
         ON CONFLICT (scope) DO UPDATE SET value = number_sequences.value + 1 RETURNING value")
        .bind(scope).fetch_one(&mut **c).await)?)
}

const INSERT_SQL: &str = "INSERT INTO incidents (number, title, symptom, symptom_category, source_channel, reporter, reporter_contact, org_id, region_id,
           system_id, business, customer, cause_class, state, fault_level, level_reasons, level_set_at, fl1_at, fl2_at, cs_level, facts,
           handler_id, auditor_id, master_id, parent_id, child_kind, assignee_org_id, due_at, progress, last_progress_at,
           created_by, created_at, updated_at, resolved_at, closed_at, version, escalated_flow, reported_to_rm_at, notified,
           reported_to_cm_at, owning_org_id)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24,$25,$26,$27,$28,$29,$30,$31,$32,$32,$33,$34,1,$35,$36,$37,$38,$39)";

/// Inserts an incident (id, version and timestamps as given are ignored where the database assigns them).
pub async fn insert(conn: &mut Conn<'_>, i: &Incident) -> StoreResult<Incident> {
    if let Some(r) = conn.sqlite_raw().await? {
        use crate::raw::Val;
        let id = r.insert(
            INSERT_SQL,
            &[
                (&i.number).into(),
                (&i.title).into(),
                (&i.symptom).into(),
                (&i.symptom_category).into(),
                (&i.source_channel).into(),
                (&i.reporter).into(),
                (&i.reporter_contact).into(),
                i.org_id.into(),
                i.region_id.into(),
                i.system_id.into(),
                (&i.business).into(),
                (&i.customer).into(),
                (&i.cause_class).into(),
                (&i.state).into(),
                (&i.fault_level).into(),
                (&i.level_reasons).into(),
                i.level_set_at.into(),
                i.fl1_at.into(),
                i.fl2_at.into(),
                i.cs_level.into(),
                (&i.facts).into(),
                i.handler_id.into(),
                i.auditor_id.into(),
                i.master_id.into(),
                i.parent_id.into(),
                (&i.child_kind).into(),
                i.assignee_org_id.into(),
                i.due_at.into(),
                Val::Int(i.progress),
                i.last_progress_at.into(),
                (&i.created_by).into(),
                Val::Int(i.created_at),
                i.resolved_at.into(),
                i.closed_at.into(),
                i.escalated_flow.into(),
                i.reported_to_rm_at.into(),
                (&i.notified).into(),
                i.reported_to_cm_at.into(),
                i.owning_org_id.into(),
            ],
        )?;
        // Every column was bound from `i`; the database adds the id and version 1 (what RETURNING would read).
        return Ok(Incident {
            id,
            updated_at: i.created_at,
            version: 1,
            ..i.clone()
        });
    }
    let sql = format!("{INSERT_SQL} RETURNING {COLS}");
    Ok(on_conn!(conn, c => sqlx::query_as(&sql)
        .bind(&i.number).bind(&i.title).bind(&i.symptom).bind(&i.symptom_category).bind(&i.source_channel)
        .bind(&i.reporter).bind(&i.reporter_contact).bind(i.org_id).bind(i.region_id).bind(i.system_id)
        .bind(&i.business).bind(&i.customer).bind(&i.cause_class).bind(&i.state).bind(&i.fault_level)
        .bind(&i.level_reasons).bind(i.level_set_at).bind(i.fl1_at).bind(i.fl2_at).bind(i.cs_level).bind(&i.facts)
        .bind(i.handler_id).bind(i.auditor_id).bind(i.master_id).bind(i.parent_id).bind(&i.child_kind)
        .bind(i.assignee_org_id).bind(i.due_at).bind(i.progress).bind(i.last_progress_at)
        .bind(&i.created_by).bind(i.created_at).bind(i.resolved_at).bind(i.closed_at)
        .bind(i.escalated_flow).bind(i.reported_to_rm_at).bind(&i.notified)
        .bind(i.reported_to_cm_at).bind(i.owning_org_id)
        .fetch_one(&mut **c).await)?)
}

const SAVE_SQL: &str = "UPDATE incidents SET title = $1, symptom = $2, symptom_category = $3, system_id = $4, business = $5, customer = $6,
           cause_class = $7, state = $8, fault_level = $9, level_reasons = $10, level_set_at = $11, fl1_at = $12, fl2_at = $13,
           cs_level = $14, facts = $15, handler_id = $16, auditor_id = $17, master_id = $18, assignee_org_id = $19, due_at = $20,
           progress = $21, last_progress_at = $22, resolved_at = $23, closed_at = $24, updated_at = $25, version = version + 1,
           escalated_flow = $28, reported_to_rm_at = $29, notified = $30, reported_to_cm_at = $31, owning_org_id = $32
         WHERE id = $26 AND version = $27";

/// Records which immediate reports a ticket created in this same write has had (ESC-01/ESC-07/INC-09): only
/// those columns, none indexed, so the row just inserted is not rewritten with every index as [`save`] would
/// (the create path is the hottest write). The version stays: nobody can have read the row before this commits.
pub async fn save_reports(conn: &mut Conn<'_>, i: &Incident) -> StoreResult<()> {
    const SQL: &str =
        "UPDATE incidents SET notified = $1, reported_to_rm_at = $2, reported_to_cm_at = $3 WHERE id = $4";
    let n = if let Some(r) = conn.sqlite_raw().await? {
        r.exec(
            SQL,
            &[
                (&i.notified).into(),
                i.reported_to_rm_at.into(),
                i.reported_to_cm_at.into(),
                i.id.into(),
            ],
        )?
    } else {
        on_conn!(conn, c => sqlx::query(SQL)
            .bind(&i.notified).bind(i.reported_to_rm_at).bind(i.reported_to_cm_at).bind(i.id)
            .execute(&mut **c).await.map(|r| r.rows_affected()))?
    };
    if n == 1 {
        Ok(())
    } else {
        Err(StoreError::NotFound(format!("incident {}", i.number)))
    }
}

/// Saves every mutable column if the stored version is still `i.version`; returns the new row.
pub async fn save(conn: &mut Conn<'_>, i: &Incident, now: i64) -> StoreResult<Incident> {
    if let Some(r) = conn.sqlite_raw().await? {
        use crate::raw::Val;
        let n = r.exec(
            SAVE_SQL,
            &[
                (&i.title).into(),
                (&i.symptom).into(),
                (&i.symptom_category).into(),
                i.system_id.into(),
                (&i.business).into(),
                (&i.customer).into(),
                (&i.cause_class).into(),
                (&i.state).into(),
                (&i.fault_level).into(),
                (&i.level_reasons).into(),
                i.level_set_at.into(),
                i.fl1_at.into(),
                i.fl2_at.into(),
                i.cs_level.into(),
                (&i.facts).into(),
                i.handler_id.into(),
                i.auditor_id.into(),
                i.master_id.into(),
                i.assignee_org_id.into(),
                i.due_at.into(),
                Val::Int(i.progress),
                i.last_progress_at.into(),
                i.resolved_at.into(),
                i.closed_at.into(),
                Val::Int(now),
                Val::Int(i.id),
                Val::Int(i.version),
                i.escalated_flow.into(),
                i.reported_to_rm_at.into(),
                (&i.notified).into(),
                i.reported_to_cm_at.into(),
                i.owning_org_id.into(),
            ],
        )?;
        if n != 1 {
            return Err(StoreError::Stale(format!("incident {}", i.number)));
        }
        // The mutable columns are what was bound; the rest cannot change here (what RETURNING would read).
        let stored = r.query_opt(
            "SELECT number, source_channel, reporter, reporter_contact, org_id, region_id, parent_id, child_kind, created_by, created_at FROM incidents WHERE id = $1",
            &[Val::Int(i.id)],
            |row| (row.text(0), row.text(1), row.text(2), row.opt_text(3), row.int(4), row.opt_int(5), row.opt_int(6), row.opt_text(7), row.text(8), row.int(9)),
        )?;
        let Some((
            number,
            source_channel,
            reporter,
            reporter_contact,
            org_id,
            region_id,
            parent_id,
            child_kind,
            created_by,
            created_at,
        )) = stored
        else {
            return Err(StoreError::Stale(format!("incident {}", i.number)));
        };
        return Ok(Incident {
            number,
            source_channel,
            reporter,
            reporter_contact,
            org_id,
            region_id,
            parent_id,
            child_kind,
            created_by,
            created_at,
            updated_at: now,
            version: i.version + 1,
            ..i.clone()
        });
    }
    let sql = format!("{SAVE_SQL} RETURNING {COLS}");
    let row: Option<Incident> = on_conn!(conn, c => sqlx::query_as(&sql)
        .bind(&i.title).bind(&i.symptom).bind(&i.symptom_category).bind(i.system_id).bind(&i.business).bind(&i.customer)
        .bind(&i.cause_class).bind(&i.state).bind(&i.fault_level).bind(&i.level_reasons).bind(i.level_set_at)
        .bind(i.fl1_at).bind(i.fl2_at).bind(i.cs_level).bind(&i.facts).bind(i.handler_id).bind(i.auditor_id)
        .bind(i.master_id).bind(i.assignee_org_id).bind(i.due_at).bind(i.progress).bind(i.last_progress_at)
        .bind(i.resolved_at).bind(i.closed_at).bind(now).bind(i.id).bind(i.version)
        .bind(i.escalated_flow).bind(i.reported_to_rm_at).bind(&i.notified)
        .bind(i.reported_to_cm_at).bind(i.owning_org_id)
        .fetch_optional(&mut **c).await)?;
    row.ok_or_else(|| StoreError::Stale(format!("incident {}", i.number)))
}

/// One incident inside a transaction.
pub async fn get_in_tx(conn: &mut Conn<'_>, id: i64) -> StoreResult<Option<Incident>> {
    let sql = format!("SELECT {COLS} FROM incidents WHERE id = $1");
    Ok(on_conn!(conn, c => sqlx::query_as(&sql).bind(id).fetch_optional(&mut **c).await)?)
}

/// The key of a system inside a transaction.
pub async fn system_key_in_tx(conn: &mut Conn<'_>, id: i64) -> StoreResult<Option<String>> {
    if let Some(r) = conn.sqlite_raw().await? {
        return r.query_opt(
            "SELECT key FROM systems WHERE id = $1",
            &[id.into()],
            |row| row.text(0),
        );
    }
    Ok(
        on_conn!(conn, c => sqlx::query_scalar("SELECT key FROM systems WHERE id = $1")
        .bind(id).fetch_optional(&mut **c).await)?,
    )
}

/// Top-level tickets (no merged reports, clones or children) of one system created in `[from, to)` whose
/// stored facts name `recurrence` (ESC-07 (12), (13)). The facts are written by serde_json in compact form,
/// so the pattern is exact on both databases without a JSON operator that differs between them.
pub async fn recurrences_in_tx(
    conn: &mut Conn<'_>,
    system_id: i64,
    recurrence: &str,
    from: i64,
    to: i64,
) -> StoreResult<i64> {
    let pattern = format!("%\"recurrence\":\"{recurrence}\"%");
    Ok(on_conn!(conn, c => sqlx::query_scalar(
        "SELECT COUNT(*) FROM incidents WHERE system_id = $1 AND created_at >= $2 AND created_at < $3
           AND master_id IS NULL AND parent_id IS NULL AND facts LIKE $4")
        .bind(system_id).bind(from).bind(to).bind(pattern).fetch_one(&mut **c).await)?)
}

/// Children (dispatches and clones) of a parent inside a transaction.
pub async fn children_in_tx(conn: &mut Conn<'_>, parent: i64) -> StoreResult<Vec<Incident>> {
    let sql = format!("SELECT {COLS} FROM incidents WHERE parent_id = $1 ORDER BY id");
    Ok(on_conn!(conn, c => sqlx::query_as(&sql).bind(parent).fetch_all(&mut **c).await)?)
}

/// Reports merged under a master inside a transaction.
pub async fn merged_in_tx(conn: &mut Conn<'_>, master: i64) -> StoreResult<Vec<Incident>> {
    let sql = format!("SELECT {COLS} FROM incidents WHERE master_id = $1 ORDER BY id");
    Ok(on_conn!(conn, c => sqlx::query_as(&sql).bind(master).fetch_all(&mut **c).await)?)
}

/// Records a typed link (idempotent).
pub async fn insert_link(conn: &mut Conn<'_>, l: &Link) -> StoreResult<()> {
    on_conn!(conn, c => sqlx::query(
        "INSERT INTO links (from_kind, from_id, to_kind, to_id, link_type, created_by, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7)
         ON CONFLICT (from_kind, from_id, to_kind, to_id, link_type) DO NOTHING")
        .bind(&l.from_kind).bind(&l.from_id).bind(&l.to_kind).bind(&l.to_id).bind(&l.link_type).bind(&l.created_by).bind(l.created_at)
        .execute(&mut **c).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// Filters for [`Store::incidents_page`].
#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    pub state: Option<String>,
    pub fault_level: Option<String>,
    pub region_id: Option<i64>,
    /// Only rows whose assignee organisation is this one (vendor scope).
    pub assignee_org_id: Option<i64>,
    pub system_id: Option<i64>,
    /// Substring of number, title or symptom.
    pub q: Option<String>,
    /// Top-level tickets only (no children, no merged reports).
    pub top_level: bool,
    /// Created at or after (Unix µs).
    pub since: Option<i64>,
    /// Source channel (`hotline`, `monitoring`, …).
    pub source_channel: Option<String>,
    /// Only tickets with a live clock past due at this instant (Unix µs) or already breached.
    pub overdue_at: Option<i64>,
}

impl Store {
    /// One incident.
    pub async fn incident(&self, id: i64) -> StoreResult<Option<Incident>> {
        let sql = format!("SELECT {COLS} FROM incidents WHERE id = $1");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await)?)
    }

    /// Children of a parent.
    pub async fn incident_children(&self, parent: i64) -> StoreResult<Vec<Incident>> {
        let sql = format!("SELECT {COLS} FROM incidents WHERE parent_id = $1 ORDER BY id");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(parent).fetch_all(p).await)?)
    }

    /// Reports merged under a master.
    pub async fn incident_merged(&self, master: i64) -> StoreResult<Vec<Incident>> {
        let sql = format!("SELECT {COLS} FROM incidents WHERE master_id = $1 ORDER BY id");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(master).fetch_all(p).await)?)
    }

    /// Newest first, ids below `before_id` (cursor), filtered.
    pub async fn incidents_page(
        &self,
        before_id: i64,
        limit: i64,
        f: &IncidentFilter,
    ) -> StoreResult<Vec<Incident>> {
        let sql = format!(
            "SELECT {COLS} FROM incidents WHERE id < $1
               AND ($2 = '' OR state = $2) AND ($3 = '' OR fault_level = $3)
               AND ($4 = FALSE OR region_id = $5) AND ($6 = FALSE OR assignee_org_id = $7)
               AND ($8 = FALSE OR system_id = $9)
               AND ($10 = '' OR number LIKE $11 OR title LIKE $11 OR symptom LIKE $11)
               AND ($12 = FALSE OR (parent_id IS NULL AND master_id IS NULL))
               AND created_at >= $13
               AND ($15 = '' OR source_channel = $15)
               AND ($16 = FALSE OR EXISTS (SELECT 1 FROM clocks c
                     WHERE c.subject_kind = 'incident' AND c.subject_id = CAST(incidents.id AS TEXT)
                       AND c.state IN ('running','paused')
                       AND (c.breached_at IS NOT NULL OR (c.state = 'running' AND c.due_at < $17))))
             ORDER BY id DESC LIMIT $14"
        );
        let q = f.q.clone().unwrap_or_default();
        let like = format!("%{}%", q.replace(['%', '_'], ""));
        Ok(on_pool!(self, p => sqlx::query_as(&sql)
            .bind(before_id).bind(f.state.clone().unwrap_or_default()).bind(f.fault_level.clone().unwrap_or_default())
            .bind(f.region_id.is_some()).bind(f.region_id.unwrap_or(0))
            .bind(f.assignee_org_id.is_some()).bind(f.assignee_org_id.unwrap_or(0))
            .bind(f.system_id.is_some()).bind(f.system_id.unwrap_or(0))
            .bind(&q).bind(&like).bind(f.top_level).bind(f.since.unwrap_or(i64::MIN)).bind(limit)
            .bind(f.source_channel.clone().unwrap_or_default())
            .bind(f.overdue_at.is_some()).bind(f.overdue_at.unwrap_or(0))
            .fetch_all(p).await)?)
    }

    /// Links from or to a subject.
    pub async fn links_of(&self, kind: &str, id: &str) -> StoreResult<Vec<Link>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT id, from_kind, from_id, to_kind, to_id, link_type, created_by, created_at FROM links
             WHERE (from_kind = $1 AND from_id = $2) OR (to_kind = $1 AND to_id = $2) ORDER BY id")
            .bind(kind).bind(id).fetch_all(p).await)?)
    }
}

/// A live clock of an incident, for the dashboard.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct DueClock {
    pub incident_id: i64,
    pub number: String,
    pub title: String,
    pub fault_level: String,
    pub rule: String,
    pub clock_key: String,
    pub due_at: i64,
    pub breached_at: Option<i64>,
}

impl Store {
    /// Open top-level tickets per fault level, optionally of one region or assignee.
    pub async fn open_incidents_by_level(
        &self,
        region_id: Option<i64>,
        assignee_org_id: Option<i64>,
    ) -> StoreResult<Vec<(String, i64)>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT fault_level, COUNT(*) FROM incidents
             WHERE state NOT IN ('replied','closed','cancelled') AND master_id IS NULL
               AND (($3 = TRUE AND assignee_org_id = $4)
                    OR ($3 = FALSE AND parent_id IS NULL AND ($1 = FALSE OR region_id = $2)))
             GROUP BY fault_level")
            .bind(region_id.is_some())
            .bind(region_id.unwrap_or(-1)).bind(assignee_org_id.is_some()).bind(assignee_org_id.unwrap_or(-1))
            .fetch_all(p).await)?)
    }

    /// The running incident clocks that fall due first (breached ones first of all).
    pub async fn next_due_clocks(
        &self,
        limit: i64,
        region_id: Option<i64>,
    ) -> StoreResult<Vec<DueClock>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT i.id AS incident_id, i.number, i.title, i.fault_level, c.rule, c.clock_key, c.due_at, c.breached_at
             FROM clocks c JOIN incidents i ON c.subject_kind = 'incident' AND c.subject_id = CAST(i.id AS TEXT)
             WHERE c.state = 'running' AND ($1 = FALSE OR i.region_id = $2)
             ORDER BY c.due_at LIMIT $3")
            .bind(region_id.is_some()).bind(region_id.unwrap_or(-1)).bind(limit)
            .fetch_all(p).await)?)
    }
}

/// A BUG record raised from an incident.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct Bug {
    pub id: i64,
    pub number: String,
    pub incident_id: i64,
    pub urgency: String,
    /// JSON: the CMCP collaboration payload (BUG-05).
    pub payload: String,
    pub state: String,
    pub created_by: String,
    pub created_at: i64,
}

/// Stores a BUG record.
pub async fn insert_bug(conn: &mut Conn<'_>, b: &Bug) -> StoreResult<Bug> {
    Ok(on_conn!(conn, c => sqlx::query_as(
        "INSERT INTO bugs (number, incident_id, urgency, payload, state, created_by, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7)
         RETURNING id, number, incident_id, urgency, payload, state, created_by, created_at")
        .bind(&b.number).bind(b.incident_id).bind(&b.urgency).bind(&b.payload).bind(&b.state).bind(&b.created_by).bind(b.created_at)
        .fetch_one(&mut **c).await)?)
}

impl Store {
    /// BUG records of an incident.
    pub async fn bugs_of(&self, incident_id: i64) -> StoreResult<Vec<Bug>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT id, number, incident_id, urgency, payload, state, created_by, created_at FROM bugs WHERE incident_id = $1 ORDER BY id")
            .bind(incident_id).fetch_all(p).await)?)
    }
}

/// Inserts an incident numbered `<prefix>-<id>`.
///
/// The number comes from the row id rather than a per-day counter row: a counter row would be
/// locked for the whole creating transaction and serialise every concurrent create on PostgreSQL.
pub async fn insert_numbered(
    conn: &mut Conn<'_>,
    i: &Incident,
    prefix: &str,
) -> StoreResult<Incident> {
    let mut row = i.clone();
    row.number = format!("{prefix}-pending-{}", uuid::Uuid::new_v4().simple());
    let mut saved = insert(conn, &row).await?;
    saved.number = format!("{prefix}-{:06}", saved.id);
    if let Some(r) = conn.sqlite_raw().await? {
        r.exec(
            "UPDATE incidents SET number = $1 WHERE id = $2",
            &[(&saved.number).into(), saved.id.into()],
        )?;
        return Ok(saved);
    }
    on_conn!(conn, c => sqlx::query("UPDATE incidents SET number = $1 WHERE id = $2")
        .bind(&saved.number).bind(saved.id).execute(&mut **c).await.map(|r| r.rows_affected()))?;
    Ok(saved)
}

/// An attachment's metadata (the bytes are read separately).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct Attachment {
    pub id: i64,
    pub subject_kind: String,
    pub subject_id: String,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub created_by: String,
    pub created_at: i64,
}

const ATTACHMENT_COLS: &str =
    "id, subject_kind, subject_id, filename, content_type, size, sha256, created_by, created_at";

/// Stores an attachment.
pub async fn insert_attachment(
    conn: &mut Conn<'_>,
    a: &Attachment,
    data: &[u8],
) -> StoreResult<Attachment> {
    let sql = format!(
        "INSERT INTO attachments (subject_kind, subject_id, filename, content_type, size, sha256, data, created_by, created_at)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) RETURNING {ATTACHMENT_COLS}"
    );
    Ok(on_conn!(conn, c => sqlx::query_as(&sql)
        .bind(&a.subject_kind).bind(&a.subject_id).bind(&a.filename).bind(&a.content_type).bind(a.size)
        .bind(&a.sha256).bind(data).bind(&a.created_by).bind(a.created_at)
        .fetch_one(&mut **c).await)?)
}

impl Store {
    /// Attachments of a subject, oldest first.
    pub async fn attachments_of(&self, kind: &str, id: &str) -> StoreResult<Vec<Attachment>> {
        let sql = format!("SELECT {ATTACHMENT_COLS} FROM attachments WHERE subject_kind = $1 AND subject_id = $2 ORDER BY id");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(kind).bind(id).fetch_all(p).await)?)
    }

    /// One attachment with its bytes.
    pub async fn attachment(&self, id: i64) -> StoreResult<Option<(Attachment, Vec<u8>)>> {
        let sql = format!("SELECT {ATTACHMENT_COLS} FROM attachments WHERE id = $1");
        let meta: Option<Attachment> =
            on_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await)?;
        let Some(meta) = meta else { return Ok(None) };
        let data: Vec<u8> = on_pool!(self, p => sqlx::query_scalar("SELECT data FROM attachments WHERE id = $1").bind(id).fetch_one(p).await)?;
        Ok(Some((meta, data)))
    }
}

impl Store {
    /// How many reports were merged under each master created at or after `since` (Unix µs).
    pub async fn merged_counts_since(&self, since: i64) -> StoreResult<Vec<(i64, i64)>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT r.master_id, COUNT(*) FROM incidents r JOIN incidents m ON m.id = r.master_id
             WHERE m.created_at >= $1 GROUP BY r.master_id")
            .bind(since).fetch_all(p).await)?)
    }
}
