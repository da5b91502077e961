//! Cut-over requests (issue 7; CHG-13..CHG-19) and their two-person execution log.

use serde::Serialize;
use serde_json::Value;

use crate::{on_conn, on_pool, Conn, Store, StoreError, StoreResult};

/// A stored cut-over.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct CutoverRow {
    pub id: i64,
    pub title: String,
    /// hardware, software, data (CHG-13).
    pub kind: String,
    /// JSON list.
    pub systems: String,
    pub major: i64,
    pub emergency: i64,
    pub starts_at: i64,
    pub ends_at: i64,
    pub downtime_from: Option<i64>,
    pub downtime_to: Option<i64>,
    pub plan: String,
    pub rollback_plan: String,
    pub checklist: String,
    pub test_list: String,
    pub people: String,
    pub impact: String,
    /// JSON list.
    pub circuits: String,
    /// JSON list.
    pub customer_tiers: String,
    /// JSON list of the notices queued at approval.
    pub notices: String,
    pub maintenance_id: Option<i64>,
    /// submitted, approved, started (CHG-17), in_progress, completed, rejected.
    pub state: String,
    pub requester: String,
    pub approver: Option<String>,
    pub approved_at: Option<i64>,
    pub completed_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub version: i64,
    /// CHG-20: the data case of a data cut-over (`[[cutover.data_case]]` key) and the responsible party derived
    /// from it when applied.
    pub data_case: Option<String>,
    pub responsible: Option<String>,
    /// CHG-20: the rectification report attached by the responsible party (province-wide fault).
    pub rectification_report: Option<String>,
    pub rectification_by: Option<String>,
    pub rectification_at: Option<i64>,
}

/// A cut-over to insert (state `submitted`).
#[derive(Debug, Clone, PartialEq)]
pub struct NewCutover {
    pub title: String,
    pub kind: String,
    pub systems: Vec<String>,
    pub major: bool,
    pub emergency: bool,
    pub starts_at: i64,
    pub ends_at: i64,
    pub downtime_from: Option<i64>,
    pub downtime_to: Option<i64>,
    pub plan: String,
    pub rollback_plan: String,
    pub checklist: String,
    pub test_list: String,
    pub people: String,
    pub impact: String,
    pub circuits: Vec<String>,
    pub customer_tiers: Vec<String>,
    pub data_case: Option<String>,
    pub responsible: Option<String>,
    pub requester: String,
    pub now: i64,
}

/// One entry of the execution log.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct LogRow {
    pub id: i64,
    pub cutover_id: i64,
    pub at: i64,
    pub step: String,
    pub important: i64,
    pub operator: String,
    pub supervisor: String,
    pub result: String,
    pub recorded_by: String,
}

const COLS: &str = "id, title, kind, systems, major, emergency, starts_at, ends_at, downtime_from, downtime_to, plan, rollback_plan, checklist, test_list, people, impact, circuits, customer_tiers, notices, maintenance_id, state, requester, approver, approved_at, completed_at, created_at, updated_at, version, data_case, responsible, rectification_report, rectification_by, rectification_at";
const LOG_COLS: &str =
    "id, cutover_id, at, step, important, operator, supervisor, result, recorded_by";

fn list_json(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

/// Inserts a cut-over.
pub async fn insert_cutover(conn: &mut Conn<'_>, n: &NewCutover) -> StoreResult<CutoverRow> {
    let sql = format!(
        "INSERT INTO cutovers (title, kind, systems, major, emergency, starts_at, ends_at, downtime_from, downtime_to,
            plan, rollback_plan, checklist, test_list, people, impact, circuits, customer_tiers, state, requester,
            created_at, updated_at, data_case, responsible)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,'submitted',$18,$19,$19,$20,$21)
         RETURNING {COLS}"
    );
    Ok(on_conn!(conn, c => sqlx::query_as(&sql)
        .bind(&n.title).bind(&n.kind).bind(list_json(&n.systems)).bind(i64::from(n.major))
        .bind(i64::from(n.emergency)).bind(n.starts_at).bind(n.ends_at).bind(n.downtime_from).bind(n.downtime_to)
        .bind(&n.plan).bind(&n.rollback_plan).bind(&n.checklist).bind(&n.test_list).bind(&n.people)
        .bind(&n.impact).bind(list_json(&n.circuits)).bind(list_json(&n.customer_tiers)).bind(&n.requester)
        .bind(n.now).bind(&n.data_case).bind(&n.responsible)
        .fetch_one(&mut **c).await)?)
}

/// CHG-20: attaches (or replaces) the rectification report of a data cut-over.
pub async fn set_rectification(
    conn: &mut Conn<'_>,
    id: i64,
    report: &str,
    by: &str,
    now: i64,
) -> StoreResult<CutoverRow> {
    let sql = format!(
        "UPDATE cutovers SET rectification_report = $2, rectification_by = $3, rectification_at = $4,
            updated_at = $4, version = version + 1
         WHERE id = $1 RETURNING {COLS}"
    );
    Ok(on_conn!(conn, c => sqlx::query_as(&sql)
        .bind(id).bind(report).bind(by).bind(now)
        .fetch_one(&mut **c).await)?)
}

/// The cut-over, locked for the rest of the write on PostgreSQL.
pub async fn cutover_in_tx(conn: &mut Conn<'_>, id: i64) -> StoreResult<Option<CutoverRow>> {
    let lock = if conn.is_postgres() {
        " FOR UPDATE"
    } else {
        ""
    };
    let sql = format!("SELECT {COLS} FROM cutovers WHERE id = $1{lock}");
    Ok(on_conn!(conn, c => sqlx::query_as(&sql).bind(id).fetch_optional(&mut **c).await)?)
}

/// Records the approval, the maintenance window and the notices.
pub async fn approve_cutover(
    conn: &mut Conn<'_>,
    id: i64,
    version: i64,
    approver: &str,
    maintenance_id: Option<i64>,
    notices: &Value,
    now: i64,
) -> StoreResult<CutoverRow> {
    let sql = format!(
        "UPDATE cutovers SET state = 'approved', approver = $3, approved_at = $4, maintenance_id = $5, notices = $6,
            updated_at = $4, version = version + 1
         WHERE id = $1 AND version = $2 RETURNING {COLS}"
    );
    let notices = notices.to_string();
    let row: Option<CutoverRow> = on_conn!(conn, c => sqlx::query_as(&sql)
        .bind(id).bind(version).bind(approver).bind(now).bind(maintenance_id).bind(&notices)
        .fetch_optional(&mut **c).await)?;
    row.ok_or_else(|| StoreError::Stale(format!("cut-over {id}")))
}

/// Moves a cut-over to `state` (started, in_progress, completed, rejected).
pub async fn set_cutover_state(
    conn: &mut Conn<'_>,
    id: i64,
    state: &str,
    now: i64,
) -> StoreResult<CutoverRow> {
    let completed = if state == "completed" {
        ", completed_at = $3"
    } else {
        ""
    };
    let sql = format!(
        "UPDATE cutovers SET state = $2, updated_at = $3, version = version + 1{completed} WHERE id = $1 RETURNING {COLS}"
    );
    Ok(
        on_conn!(conn, c => sqlx::query_as(&sql).bind(id).bind(state).bind(now)
        .fetch_one(&mut **c).await)?,
    )
}

/// Appends a log entry.
#[allow(clippy::too_many_arguments)]
pub async fn insert_log(
    conn: &mut Conn<'_>,
    cutover_id: i64,
    at: i64,
    step: &str,
    important: bool,
    operator: &str,
    supervisor: &str,
    result: &str,
    recorded_by: &str,
) -> StoreResult<LogRow> {
    let sql = format!(
        "INSERT INTO cutover_log (cutover_id, at, step, important, operator, supervisor, result, recorded_by)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8) RETURNING {LOG_COLS}"
    );
    Ok(on_conn!(conn, c => sqlx::query_as(&sql)
        .bind(cutover_id).bind(at).bind(step).bind(i64::from(important)).bind(operator).bind(supervisor)
        .bind(result).bind(recorded_by)
        .fetch_one(&mut **c).await)?)
}

/// The log of a cut-over inside a write.
pub async fn log_in_tx(conn: &mut Conn<'_>, cutover_id: i64) -> StoreResult<Vec<LogRow>> {
    let sql = format!("SELECT {LOG_COLS} FROM cutover_log WHERE cutover_id = $1 ORDER BY id");
    Ok(on_conn!(conn, c => sqlx::query_as(&sql).bind(cutover_id).fetch_all(&mut **c).await)?)
}

/// The CHG-17 start of a cut-over: the conditions the on-site lead recorded and when the order was given.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct StartRow {
    pub cutover_id: i64,
    pub kickoff_at: i64,
    pub lead: String,
    pub lead_qualified: i64,
    pub arrived_at: i64,
    pub equipment_checked: i64,
    pub host_present: i64,
    pub departments_present: i64,
    pub contractor_present: i64,
    pub note: String,
    pub ordered_by: String,
    pub ordered_at: i64,
}

const START_COLS: &str = "cutover_id, kickoff_at, lead, lead_qualified, arrived_at, equipment_checked, host_present, departments_present, contractor_present, note, ordered_by, ordered_at";

/// Records the start (every condition held when it is written).
pub async fn insert_start(conn: &mut Conn<'_>, s: &StartRow) -> StoreResult<StartRow> {
    let sql = format!(
        "INSERT INTO cutover_starts ({START_COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12) RETURNING {START_COLS}"
    );
    Ok(on_conn!(conn, c => sqlx::query_as(&sql)
        .bind(s.cutover_id).bind(s.kickoff_at).bind(&s.lead).bind(s.lead_qualified).bind(s.arrived_at)
        .bind(s.equipment_checked).bind(s.host_present).bind(s.departments_present).bind(s.contractor_present)
        .bind(&s.note).bind(&s.ordered_by).bind(s.ordered_at)
        .fetch_one(&mut **c).await)?)
}

impl Store {
    /// The CHG-17 start of a cut-over, once given.
    pub async fn cutover_start(&self, cutover_id: i64) -> StoreResult<Option<StartRow>> {
        let sql = format!("SELECT {START_COLS} FROM cutover_starts WHERE cutover_id = $1");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(cutover_id).fetch_optional(p).await)?)
    }
}

impl Store {
    /// One cut-over.
    pub async fn cutover(&self, id: i64) -> StoreResult<Option<CutoverRow>> {
        let sql = format!("SELECT {COLS} FROM cutovers WHERE id = $1");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await)?)
    }

    /// Cut-overs starting in `[from, to)`, by start.
    pub async fn cutovers_between(&self, from: i64, to: i64) -> StoreResult<Vec<CutoverRow>> {
        let sql = format!(
            "SELECT {COLS} FROM cutovers WHERE starts_at >= $1 AND starts_at < $2 ORDER BY starts_at, id LIMIT 1000"
        );
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(from).bind(to).fetch_all(p).await)?)
    }

    /// The execution log of a cut-over.
    pub async fn cutover_log(&self, cutover_id: i64) -> StoreResult<Vec<LogRow>> {
        let sql = format!("SELECT {LOG_COLS} FROM cutover_log WHERE cutover_id = $1 ORDER BY id");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(cutover_id).fetch_all(p).await)?)
    }
}

/// A planned release (CHG-01..CHG-10).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct ReleaseRow {
    pub id: i64,
    pub title: String,
    /// routine or emergency.
    pub kind: String,
    pub system_family: String,
    /// YYYY-MM-DD (local).
    pub release_date: String,
    /// YYYY-MM (local), for the monthly quota.
    pub month: String,
    pub starts_at: i64,
    pub downtime_from: Option<i64>,
    pub downtime_to: Option<i64>,
    /// JSON list of gates with due instants.
    pub gates: String,
    pub override_reason: Option<String>,
    pub override_by: Option<String>,
    pub state: String,
    pub created_by: String,
    pub created_at: i64,
    pub version: i64,
    /// Who took the go / no-go decision (CHG-04), when, and why.
    pub decision_by: Option<String>,
    pub decision_at: Option<i64>,
    pub decision_note: String,
    /// The alert maintenance window opened by the go decision.
    pub maintenance_id: Option<i64>,
    /// Outbox key of the release announcement (CHG-08).
    pub announcement_key: Option<String>,
}

/// A release to insert.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRelease {
    pub title: String,
    pub kind: String,
    pub system_family: String,
    pub release_date: String,
    pub month: String,
    pub starts_at: i64,
    pub downtime_from: Option<i64>,
    pub downtime_to: Option<i64>,
    pub gates: Value,
    pub override_reason: Option<String>,
    pub override_by: Option<String>,
    pub created_by: String,
    pub now: i64,
}

const RELEASE_COLS: &str = "id, title, kind, system_family, release_date, month, starts_at, downtime_from, downtime_to, gates, override_reason, override_by, state, created_by, created_at, version, decision_by, decision_at, decision_note, maintenance_id, announcement_key";

/// Releases of `kind` in `month` (of `family` when given), counted inside the write that adds one, so two
/// concurrent plans cannot both take the last place: on PostgreSQL a transaction-scoped advisory lock per month
/// serialises them (row locks would not stop a concurrent insert); SQLite's single writer does already.
pub async fn releases_in_month(
    conn: &mut Conn<'_>,
    month: &str,
    kind: &str,
    family: Option<&str>,
) -> StoreResult<i64> {
    if let crate::Db::Postgres(c) = &mut conn.db {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('tianshu.releases.' || $1))::text")
            .bind(month)
            .fetch_one(&mut **c)
            .await?;
    }
    let sql = "SELECT id FROM releases WHERE month = $1 AND kind = $2 AND ($3 IS NULL OR system_family = $3) AND state NOT IN ('cancelled', 'no_go')";
    let ids: Vec<i64> = on_conn!(conn, c => sqlx::query_scalar(sql).bind(month).bind(kind).bind(family)
        .fetch_all(&mut **c).await)?;
    Ok(ids.len() as i64)
}

/// Inserts a planned release.
pub async fn insert_release(conn: &mut Conn<'_>, n: &NewRelease) -> StoreResult<ReleaseRow> {
    let sql = format!(
        "INSERT INTO releases (title, kind, system_family, release_date, month, starts_at, downtime_from, downtime_to,
            gates, override_reason, override_by, state, created_by, created_at)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,'planned',$12,$13) RETURNING {RELEASE_COLS}"
    );
    let gates = n.gates.to_string();
    Ok(on_conn!(conn, c => sqlx::query_as(&sql)
        .bind(&n.title).bind(&n.kind).bind(&n.system_family).bind(&n.release_date).bind(&n.month)
        .bind(n.starts_at).bind(n.downtime_from).bind(n.downtime_to).bind(&gates).bind(&n.override_reason)
        .bind(&n.override_by).bind(&n.created_by).bind(n.now)
        .fetch_one(&mut **c).await)?)
}

impl Store {
    /// Releases whose date lies in `[from, to)` (`YYYY-MM-DD`), by date.
    pub async fn releases_between(&self, from: &str, to: &str) -> StoreResult<Vec<ReleaseRow>> {
        let sql = format!(
            "SELECT {RELEASE_COLS} FROM releases WHERE release_date >= $1 AND release_date < $2 ORDER BY release_date, id LIMIT 1000"
        );
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(from).bind(to).fetch_all(p).await)?)
    }
}

/// A requirement (REQ-01, CHG-06).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct RequirementRow {
    pub id: i64,
    pub title: String,
    pub requester: String,
    pub system: String,
    pub registered_at: i64,
    pub analysis_due: i64,
    pub solution_at: Option<i64>,
    pub analysis_wd: Option<i64>,
    pub release_id: Option<i64>,
    /// accepted, rejected, deemed_accepted.
    pub acceptance: Option<String>,
    pub accepted_by: Option<String>,
    pub accepted_at: Option<i64>,
    pub acceptance_note: String,
    pub created_by: String,
    pub version: i64,
}

const REQ_COLS: &str = "id, title, requester, system, registered_at, analysis_due, solution_at, analysis_wd, release_id, acceptance, accepted_by, accepted_at, acceptance_note, created_by, version";

/// Registers a requirement.
#[allow(clippy::too_many_arguments)]
pub async fn insert_requirement(
    conn: &mut Conn<'_>,
    title: &str,
    requester: &str,
    system: &str,
    registered_at: i64,
    analysis_due: i64,
    created_by: &str,
) -> StoreResult<RequirementRow> {
    let sql = format!(
        "INSERT INTO requirements (title, requester, system, registered_at, analysis_due, created_by)
         VALUES ($1,$2,$3,$4,$5,$6) RETURNING {REQ_COLS}"
    );
    Ok(
        on_conn!(conn, c => sqlx::query_as(&sql).bind(title).bind(requester).bind(system)
        .bind(registered_at).bind(analysis_due).bind(created_by).fetch_one(&mut **c).await)?,
    )
}

/// The requirement, locked on PostgreSQL.
pub async fn requirement_in_tx(
    conn: &mut Conn<'_>,
    id: i64,
) -> StoreResult<Option<RequirementRow>> {
    let lock = if conn.is_postgres() {
        " FOR UPDATE"
    } else {
        ""
    };
    let sql = format!("SELECT {REQ_COLS} FROM requirements WHERE id = $1{lock}");
    Ok(on_conn!(conn, c => sqlx::query_as(&sql).bind(id).fetch_optional(&mut **c).await)?)
}

/// Records the approved solution and the analysis time in working days.
pub async fn set_solution(
    conn: &mut Conn<'_>,
    id: i64,
    at: i64,
    wd: i64,
) -> StoreResult<RequirementRow> {
    let sql = format!(
        "UPDATE requirements SET solution_at = $2, analysis_wd = $3, version = version + 1 WHERE id = $1 RETURNING {REQ_COLS}"
    );
    Ok(
        on_conn!(conn, c => sqlx::query_as(&sql).bind(id).bind(at).bind(wd).fetch_one(&mut **c).await)?,
    )
}

/// Links a release.
pub async fn set_release(
    conn: &mut Conn<'_>,
    id: i64,
    release_id: i64,
) -> StoreResult<RequirementRow> {
    let sql = format!(
        "UPDATE requirements SET release_id = $2, version = version + 1 WHERE id = $1 RETURNING {REQ_COLS}"
    );
    Ok(
        on_conn!(conn, c => sqlx::query_as(&sql).bind(id).bind(release_id).fetch_one(&mut **c).await)?,
    )
}

/// Records the acceptance decision.
pub async fn set_acceptance(
    conn: &mut Conn<'_>,
    id: i64,
    acceptance: &str,
    by: &str,
    at: i64,
    note: &str,
) -> StoreResult<RequirementRow> {
    let sql = format!(
        "UPDATE requirements SET acceptance = $2, accepted_by = $3, accepted_at = $4, acceptance_note = $5,
            version = version + 1 WHERE id = $1 RETURNING {REQ_COLS}"
    );
    Ok(
        on_conn!(conn, c => sqlx::query_as(&sql).bind(id).bind(acceptance).bind(by).bind(at).bind(note)
        .fetch_one(&mut **c).await)?,
    )
}

/// The release row, inside a write.
pub async fn release_in_tx(conn: &mut Conn<'_>, id: i64) -> StoreResult<Option<ReleaseRow>> {
    let sql = format!("SELECT {RELEASE_COLS} FROM releases WHERE id = $1");
    Ok(on_conn!(conn, c => sqlx::query_as(&sql).bind(id).fetch_optional(&mut **c).await)?)
}

impl Store {
    /// Requirements registered in `[from, to)`.
    pub async fn requirements_between(
        &self,
        from: i64,
        to: i64,
    ) -> StoreResult<Vec<RequirementRow>> {
        let sql = format!(
            "SELECT {REQ_COLS} FROM requirements WHERE registered_at >= $1 AND registered_at < $2 ORDER BY id LIMIT 5000"
        );
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(from).bind(to).fetch_all(p).await)?)
    }

    /// One requirement.
    pub async fn requirement(&self, id: i64) -> StoreResult<Option<RequirementRow>> {
        let sql = format!("SELECT {REQ_COLS} FROM requirements WHERE id = $1");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await)?)
    }
}

impl Store {
    /// One release.
    pub async fn release(&self, id: i64) -> StoreResult<Option<ReleaseRow>> {
        let sql = format!("SELECT {RELEASE_COLS} FROM releases WHERE id = $1");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await)?)
    }

    /// The newest requirements.
    pub async fn requirements_recent(&self, limit: i64) -> StoreResult<Vec<RequirementRow>> {
        let sql = format!("SELECT {REQ_COLS} FROM requirements ORDER BY id DESC LIMIT $1");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(limit).fetch_all(p).await)?)
    }

    /// Requirements linked to a release.
    pub async fn requirements_of_release(
        &self,
        release_id: i64,
    ) -> StoreResult<Vec<RequirementRow>> {
        let sql = format!("SELECT {REQ_COLS} FROM requirements WHERE release_id = $1 ORDER BY id");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(release_id).fetch_all(p).await)?)
    }

    /// The CHG-07 checklist of a release.
    pub async fn release_verifications(
        &self,
        release_id: i64,
    ) -> StoreResult<Vec<VerificationRow>> {
        let sql = format!(
            "SELECT {VER_COLS} FROM release_verifications WHERE release_id = $1 ORDER BY id"
        );
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(release_id).fetch_all(p).await)?)
    }
}

/// Locks the release for the rest of the write (PostgreSQL).
pub async fn release_for_update(conn: &mut Conn<'_>, id: i64) -> StoreResult<Option<ReleaseRow>> {
    let lock = if conn.is_postgres() {
        " FOR UPDATE"
    } else {
        ""
    };
    let sql = format!("SELECT {RELEASE_COLS} FROM releases WHERE id = $1{lock}");
    Ok(on_conn!(conn, c => sqlx::query_as(&sql).bind(id).fetch_optional(&mut **c).await)?)
}

/// Records the go / no-go decision (version-checked by the caller).
#[allow(clippy::too_many_arguments)]
pub async fn decide_release(
    conn: &mut Conn<'_>,
    id: i64,
    state: &str,
    by: &str,
    at: i64,
    note: &str,
    maintenance_id: Option<i64>,
    announcement_key: Option<&str>,
) -> StoreResult<ReleaseRow> {
    let sql = format!(
        "UPDATE releases SET state = $2, decision_by = $3, decision_at = $4, decision_note = $5, maintenance_id = $6,
            announcement_key = $7, version = version + 1 WHERE id = $1 RETURNING {RELEASE_COLS}"
    );
    Ok(
        on_conn!(conn, c => sqlx::query_as(&sql).bind(id).bind(state).bind(by).bind(at).bind(note)
        .bind(maintenance_id).bind(announcement_key).fetch_one(&mut **c).await)?,
    )
}

/// Sets the state of a release.
pub async fn set_release_state(
    conn: &mut Conn<'_>,
    id: i64,
    state: &str,
) -> StoreResult<ReleaseRow> {
    let sql = format!(
        "UPDATE releases SET state = $2, version = version + 1 WHERE id = $1 RETURNING {RELEASE_COLS}"
    );
    Ok(on_conn!(conn, c => sqlx::query_as(&sql).bind(id).bind(state).fetch_one(&mut **c).await)?)
}

/// Takes `n` places of a durable rotation of `len` entries: returns the index the taken places start at and
/// advances the cursor, inside the caller's write (the row is locked on PostgreSQL, SQLite has one writer).
pub async fn rotation_take(
    conn: &mut Conn<'_>,
    key: &str,
    n: i64,
    len: i64,
    now: i64,
) -> StoreResult<i64> {
    on_conn!(conn, c => sqlx::query(
        "INSERT INTO change_rotation (key, next_index, updated_at) VALUES ($1, 0, $2) ON CONFLICT (key) DO NOTHING")
        .bind(key).bind(now).execute(&mut **c).await.map(|r| r.rows_affected()))?;
    let lock = if conn.is_postgres() {
        " FOR UPDATE"
    } else {
        ""
    };
    let sql = format!("SELECT next_index FROM change_rotation WHERE key = $1{lock}");
    let cur: i64 =
        on_conn!(conn, c => sqlx::query_scalar(&sql).bind(key).fetch_one(&mut **c).await)?;
    let len = len.max(1);
    let start = cur.rem_euclid(len);
    on_conn!(conn, c => sqlx::query("UPDATE change_rotation SET next_index = $2, updated_at = $3 WHERE key = $1")
        .bind(key).bind((start + n).rem_euclid(len)).bind(now).execute(&mut **c).await.map(|r| r.rows_affected()))?;
    Ok(start)
}

/// One CHG-07 verification item.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct VerificationRow {
    pub id: i64,
    pub release_id: i64,
    pub scenario: String,
    pub name_zh: String,
    pub name_en: String,
    /// The branch that verifies it.
    pub branch: String,
    pub due_at: i64,
    /// passed or failed; None while open.
    pub result: Option<String>,
    pub note: String,
    pub recorded_by: Option<String>,
    pub recorded_at: Option<i64>,
}

const VER_COLS: &str =
    "id, release_id, scenario, name_zh, name_en, branch, due_at, result, note, recorded_by, recorded_at";

/// Adds a verification item.
#[allow(clippy::too_many_arguments)]
pub async fn insert_verification(
    conn: &mut Conn<'_>,
    release_id: i64,
    scenario: &str,
    name_zh: &str,
    name_en: &str,
    branch: &str,
    due_at: i64,
) -> StoreResult<VerificationRow> {
    let sql = format!(
        "INSERT INTO release_verifications (release_id, scenario, name_zh, name_en, branch, due_at)
         VALUES ($1,$2,$3,$4,$5,$6) RETURNING {VER_COLS}"
    );
    Ok(
        on_conn!(conn, c => sqlx::query_as(&sql).bind(release_id).bind(scenario).bind(name_zh).bind(name_en)
        .bind(branch).bind(due_at).fetch_one(&mut **c).await)?,
    )
}

/// The checklist of a release, inside a write.
pub async fn verifications_in_tx(
    conn: &mut Conn<'_>,
    release_id: i64,
) -> StoreResult<Vec<VerificationRow>> {
    let sql =
        format!("SELECT {VER_COLS} FROM release_verifications WHERE release_id = $1 ORDER BY id");
    Ok(on_conn!(conn, c => sqlx::query_as(&sql).bind(release_id).fetch_all(&mut **c).await)?)
}

/// Records the result of one item.
pub async fn record_verification(
    conn: &mut Conn<'_>,
    id: i64,
    result: &str,
    note: &str,
    by: &str,
    at: i64,
) -> StoreResult<VerificationRow> {
    let sql = format!(
        "UPDATE release_verifications SET result = $2, note = $3, recorded_by = $4, recorded_at = $5 WHERE id = $1
         RETURNING {VER_COLS}"
    );
    Ok(
        on_conn!(conn, c => sqlx::query_as(&sql).bind(id).bind(result).bind(note).bind(by).bind(at)
        .fetch_one(&mut **c).await)?,
    )
}
