//! Monitoring (issue 5): dial-test probes and their runs, external databases, SQL monitoring points and their
//! runs, the daily sign-in (MON-09).
//!
//! Due probes and points are claimed by moving their `next_run_at` forward in one write (`FOR UPDATE SKIP
//! LOCKED` on PostgreSQL), so two instances never run the same probe for the same slot.

use serde::Serialize;

use crate::{on_conn, on_pool, Conn, Store, StoreError, StoreResult};

/// A stored probe (secrets excluded: see [`probe_secrets`]).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct ProbeRow {
    pub id: i64,
    pub name: String,
    pub system: String,
    pub region: String,
    pub severity: String,
    /// JSON scenario.
    pub scenario: String,
    pub enabled: i64,
    pub next_run_at: i64,
    pub consecutive_failures: i64,
    pub alerting: i64,
    pub last_run_at: Option<i64>,
    pub last_ok: Option<i64>,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub version: i64,
}

/// What a probe is made of (insert and edit).
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeDef {
    pub name: String,
    pub system: String,
    pub region: String,
    pub severity: String,
    pub scenario: String,
    /// JSON object of secret variables.
    pub secrets: String,
    pub enabled: bool,
}

/// One stored run.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct ProbeRunRow {
    pub id: i64,
    pub probe_id: i64,
    pub started_at: i64,
    pub ok: i64,
    pub total_ms: i64,
    pub failed_step: Option<i64>,
    pub error: Option<String>,
    /// JSON list of step results.
    pub steps: String,
}

/// A run to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewProbeRun {
    pub probe_id: i64,
    pub started_at: i64,
    pub ok: bool,
    pub total_ms: i64,
    pub failed_step: Option<i64>,
    pub error: Option<String>,
    pub steps: String,
}

/// Availability and latency of a probe over a period.
#[derive(Debug, Clone, Default, Serialize, sqlx::FromRow, PartialEq)]
pub struct ProbeStats {
    pub runs: i64,
    pub ok_runs: i64,
    pub avg_ms: Option<f64>,
    pub max_ms: Option<i64>,
}

/// A registered external database (password excluded: see [`database_password`]).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct DatabaseRow {
    pub id: i64,
    pub name: String,
    /// `postgres` or `mysql`.
    pub kind: String,
    pub host: String,
    pub port: i64,
    pub database: String,
    pub username: String,
    /// Whether a password is stored (the password itself never leaves the store except to connect).
    pub has_password: bool,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub version: i64,
}

/// What a database registration is made of.
#[derive(Clone, PartialEq)]
pub struct DatabaseDef {
    pub name: String,
    pub kind: String,
    pub host: String,
    pub port: i64,
    pub database: String,
    pub username: String,
    /// `None` on edit: keep the stored one.
    pub password: Option<String>,
}

impl std::fmt::Debug for DatabaseDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseDef")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("database", &self.database)
            .field("username", &self.username)
            .field("password", &"***")
            .finish()
    }
}

/// A stored monitoring point.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct PointRow {
    pub id: i64,
    pub name: String,
    pub owner: String,
    pub runbook_url: String,
    pub database_id: i64,
    pub query: String,
    pub comparison: String,
    pub threshold: f64,
    pub stale_after_s: i64,
    pub interval_s: i64,
    pub system: String,
    pub region: String,
    pub severity: String,
    pub enabled: i64,
    /// ok, breached, unknown.
    pub state: String,
    pub last_value: Option<String>,
    pub last_reason: Option<String>,
    pub last_run_at: Option<i64>,
    pub unknown_since: Option<i64>,
    pub alerting: i64,
    pub next_run_at: i64,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub version: i64,
}

/// What a point is made of.
#[derive(Debug, Clone, PartialEq)]
pub struct PointDef {
    pub name: String,
    pub owner: String,
    pub runbook_url: String,
    pub database_id: i64,
    pub query: String,
    pub comparison: String,
    pub threshold: f64,
    pub stale_after_s: i64,
    pub interval_s: i64,
    pub system: String,
    pub region: String,
    pub severity: String,
    pub enabled: bool,
}

/// One evaluation of a point.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct PointRunRow {
    pub id: i64,
    pub point_id: i64,
    pub at: i64,
    pub state: String,
    pub value: Option<String>,
    pub reason: String,
    pub latency_ms: i64,
}

/// MON-09: a day's sign-in record.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct SigninRow {
    pub day: String,
    pub clocks_started_at: Option<i64>,
    pub signed_by: Option<String>,
    pub signed_at: Option<i64>,
    pub note: Option<String>,
    pub open_alerts: Option<i64>,
    pub version: i64,
}

const PROBE_COLS: &str = "id, name, system, region, severity, scenario, enabled, next_run_at, consecutive_failures, alerting, last_run_at, last_ok, created_by, created_at, updated_at, version";
const RUN_COLS: &str = "id, probe_id, started_at, ok, total_ms, failed_step, error, steps";
const DB_COLS: &str = "id, name, kind, host, port, database, username, (password <> '') AS has_password, created_by, created_at, updated_at, version";
const POINT_COLS: &str = "id, name, owner, runbook_url, database_id, query, comparison, threshold, stale_after_s, interval_s, system, region, severity, enabled, state, last_value, last_reason, last_run_at, unknown_since, alerting, next_run_at, created_by, created_at, updated_at, version";
const POINT_RUN_COLS: &str = "id, point_id, at, state, value, reason, latency_ms";
const SIGNIN_COLS: &str =
    "day, clocks_started_at, signed_by, signed_at, note, open_alerts, version";

fn unique(e: sqlx::Error, what: &str, name: &str) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict {
            field: "name".into(),
            message: format!("a {what} named '{name}' already exists"),
        },
        _ => e.into(),
    }
}

// ---------------------------------------------------------------- probes

/// Inserts a probe, first due at `next_run_at`.
pub async fn insert_probe(
    conn: &mut Conn<'_>,
    d: &ProbeDef,
    by: &str,
    next_run_at: i64,
    now: i64,
) -> StoreResult<ProbeRow> {
    let sql = format!(
        "INSERT INTO probes (name, system, region, severity, scenario, secrets, enabled, next_run_at, created_by, created_at, updated_at)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$10) RETURNING {PROBE_COLS}"
    );
    on_conn!(conn, c => sqlx::query_as(&sql).bind(&d.name).bind(&d.system).bind(&d.region).bind(&d.severity)
        .bind(&d.scenario).bind(&d.secrets).bind(i64::from(d.enabled)).bind(next_run_at).bind(by).bind(now)
        .fetch_one(&mut **c).await)
    .map_err(|e| unique(e, "probe", &d.name))
}

/// Replaces a probe's definition if its version is still `version`.
pub async fn update_probe(
    conn: &mut Conn<'_>,
    id: i64,
    version: i64,
    d: &ProbeDef,
    now: i64,
) -> StoreResult<ProbeRow> {
    let sql = format!(
        "UPDATE probes SET name=$1, system=$2, region=$3, severity=$4, scenario=$5, secrets=$6, enabled=$7,
           updated_at=$8, version=version+1 WHERE id=$9 AND version=$10 RETURNING {PROBE_COLS}"
    );
    let row: Option<ProbeRow> = on_conn!(conn, c => sqlx::query_as(&sql).bind(&d.name).bind(&d.system)
        .bind(&d.region).bind(&d.severity).bind(&d.scenario).bind(&d.secrets).bind(i64::from(d.enabled))
        .bind(now).bind(id).bind(version).fetch_optional(&mut **c).await)
    .map_err(|e| unique(e, "probe", &d.name))?;
    row.ok_or_else(|| StoreError::Stale(format!("probe {id}")))
}

/// Deletes a probe and its runs if its version is still `version`.
pub async fn delete_probe(conn: &mut Conn<'_>, id: i64, version: i64) -> StoreResult<()> {
    on_conn!(conn, c => sqlx::query("DELETE FROM probe_runs WHERE probe_id = $1").bind(id)
        .execute(&mut **c).await.map(|r| r.rows_affected()))?;
    let n = on_conn!(conn, c => sqlx::query("DELETE FROM probes WHERE id = $1 AND version = $2")
        .bind(id).bind(version).execute(&mut **c).await.map(|r| r.rows_affected()))?;
    if n == 0 {
        return Err(StoreError::Stale(format!("probe {id}")));
    }
    Ok(())
}

/// A probe inside a write.
pub async fn probe_in_tx(conn: &mut Conn<'_>, id: i64) -> StoreResult<Option<ProbeRow>> {
    let sql = format!("SELECT {PROBE_COLS} FROM probes WHERE id = $1");
    Ok(on_conn!(conn, c => sqlx::query_as(&sql).bind(id).fetch_optional(&mut **c).await)?)
}

/// Claims up to `gaps.len()` enabled probes due at `now`: each one's next run moves to `now + gaps[i]` µs.
pub async fn claim_due_probes(
    conn: &mut Conn<'_>,
    now: i64,
    gaps: &[i64],
) -> StoreResult<Vec<ProbeRow>> {
    let lock = if conn.is_postgres() {
        " FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    let sql = format!(
        "SELECT {PROBE_COLS} FROM probes WHERE enabled = 1 AND next_run_at <= $1 ORDER BY next_run_at LIMIT $2{lock}"
    );
    let due: Vec<ProbeRow> = on_conn!(conn, c => sqlx::query_as(&sql).bind(now).bind(gaps.len() as i64)
        .fetch_all(&mut **c).await)?;
    let mut out = Vec::with_capacity(due.len());
    for (mut p, gap) in due.into_iter().zip(gaps) {
        let next = now + gap;
        on_conn!(conn, c => sqlx::query("UPDATE probes SET next_run_at = $1 WHERE id = $2")
            .bind(next).bind(p.id).execute(&mut **c).await.map(|r| r.rows_affected()))?;
        p.next_run_at = next;
        out.push(p);
    }
    Ok(out)
}

/// Records a run and the probe's new streak.
pub async fn record_probe_run(
    conn: &mut Conn<'_>,
    r: &NewProbeRun,
    consecutive_failures: i64,
    alerting: bool,
) -> StoreResult<i64> {
    let id: i64 = on_conn!(conn, c => sqlx::query_scalar(
        "INSERT INTO probe_runs (probe_id, started_at, ok, total_ms, failed_step, error, steps) VALUES ($1,$2,$3,$4,$5,$6,$7) RETURNING id")
        .bind(r.probe_id).bind(r.started_at).bind(i64::from(r.ok)).bind(r.total_ms).bind(r.failed_step)
        .bind(&r.error).bind(&r.steps).fetch_one(&mut **c).await)?;
    on_conn!(conn, c => sqlx::query(
        "UPDATE probes SET consecutive_failures = $1, alerting = $2, last_run_at = $3, last_ok = $4 WHERE id = $5")
        .bind(consecutive_failures).bind(i64::from(alerting)).bind(r.started_at).bind(i64::from(r.ok)).bind(r.probe_id)
        .execute(&mut **c).await.map(|r| r.rows_affected()))?;
    Ok(id)
}

/// The streak of a probe, locked for the rest of the write on PostgreSQL.
pub async fn probe_streak(conn: &mut Conn<'_>, id: i64) -> StoreResult<Option<(i64, i64)>> {
    let lock = if conn.is_postgres() {
        " FOR UPDATE"
    } else {
        ""
    };
    let sql = format!("SELECT consecutive_failures, alerting FROM probes WHERE id = $1{lock}");
    Ok(on_conn!(conn, c => sqlx::query_as(&sql).bind(id).fetch_optional(&mut **c).await)?)
}

/// The secret variables of a probe (JSON object).
pub async fn probe_secrets(conn: &mut Conn<'_>, id: i64) -> StoreResult<String> {
    Ok(
        on_conn!(conn, c => sqlx::query_scalar("SELECT secrets FROM probes WHERE id = $1").bind(id)
        .fetch_optional(&mut **c).await)?
        .unwrap_or_else(|| "{}".into()),
    )
}

// ---------------------------------------------------------------- databases

/// Registers an external database.
pub async fn insert_database(
    conn: &mut Conn<'_>,
    d: &DatabaseDef,
    by: &str,
    now: i64,
) -> StoreResult<DatabaseRow> {
    let sql = format!(
        "INSERT INTO mon_databases (name, kind, host, port, database, username, password, created_by, created_at, updated_at)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$9) RETURNING {DB_COLS}"
    );
    on_conn!(conn, c => sqlx::query_as(&sql).bind(&d.name).bind(&d.kind).bind(&d.host).bind(d.port)
        .bind(&d.database).bind(&d.username).bind(d.password.as_deref().unwrap_or("")).bind(by).bind(now)
        .fetch_one(&mut **c).await)
    .map_err(|e| unique(e, "database", &d.name))
}

/// Edits a registration (the password only when given) if its version is still `version`.
pub async fn update_database(
    conn: &mut Conn<'_>,
    id: i64,
    version: i64,
    d: &DatabaseDef,
    now: i64,
) -> StoreResult<DatabaseRow> {
    let sql = format!(
        "UPDATE mon_databases SET name=$1, kind=$2, host=$3, port=$4, database=$5, username=$6,
           password=COALESCE($7, password), updated_at=$8, version=version+1
         WHERE id=$9 AND version=$10 RETURNING {DB_COLS}"
    );
    let row: Option<DatabaseRow> =
        on_conn!(conn, c => sqlx::query_as(&sql).bind(&d.name).bind(&d.kind)
        .bind(&d.host).bind(d.port).bind(&d.database).bind(&d.username).bind(&d.password).bind(now)
        .bind(id).bind(version).fetch_optional(&mut **c).await)
        .map_err(|e| unique(e, "database", &d.name))?;
    row.ok_or_else(|| StoreError::Stale(format!("database {id}")))
}

/// Removes a registration no point uses, if its version is still `version`.
pub async fn delete_database(conn: &mut Conn<'_>, id: i64, version: i64) -> StoreResult<()> {
    let used: i64 = on_conn!(conn, c => sqlx::query_scalar("SELECT COUNT(*) FROM mon_points WHERE database_id = $1")
        .bind(id).fetch_one(&mut **c).await)?;
    if used > 0 {
        return Err(StoreError::Conflict {
            field: "id".into(),
            message: format!("{used} monitoring point(s) still read this database"),
        });
    }
    let n = on_conn!(conn, c => sqlx::query("DELETE FROM mon_databases WHERE id = $1 AND version = $2")
        .bind(id).bind(version).execute(&mut **c).await.map(|r| r.rows_affected()))?;
    if n == 0 {
        return Err(StoreError::Stale(format!("database {id}")));
    }
    Ok(())
}

// ---------------------------------------------------------------- points

/// Inserts a point, first due at `next_run_at`.
pub async fn insert_point(
    conn: &mut Conn<'_>,
    d: &PointDef,
    by: &str,
    next_run_at: i64,
    now: i64,
) -> StoreResult<PointRow> {
    let sql = format!(
        "INSERT INTO mon_points (name, owner, runbook_url, database_id, query, comparison, threshold, stale_after_s,
           interval_s, system, region, severity, enabled, next_run_at, unknown_since, created_by, created_at, updated_at)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$15,$15) RETURNING {POINT_COLS}"
    );
    on_conn!(conn, c => sqlx::query_as(&sql).bind(&d.name).bind(&d.owner).bind(&d.runbook_url).bind(d.database_id)
        .bind(&d.query).bind(&d.comparison).bind(d.threshold).bind(d.stale_after_s).bind(d.interval_s)
        .bind(&d.system).bind(&d.region).bind(&d.severity).bind(i64::from(d.enabled)).bind(next_run_at)
        .bind(now).bind(by).fetch_one(&mut **c).await)
    .map_err(|e| unique(e, "monitoring point", &d.name))
}

/// Replaces a point's definition if its version is still `version`.
pub async fn update_point(
    conn: &mut Conn<'_>,
    id: i64,
    version: i64,
    d: &PointDef,
    now: i64,
) -> StoreResult<PointRow> {
    let sql = format!(
        "UPDATE mon_points SET name=$1, owner=$2, runbook_url=$3, database_id=$4, query=$5, comparison=$6,
           threshold=$7, stale_after_s=$8, interval_s=$9, system=$10, region=$11, severity=$12, enabled=$13,
           updated_at=$14, version=version+1 WHERE id=$15 AND version=$16 RETURNING {POINT_COLS}"
    );
    let row: Option<PointRow> = on_conn!(conn, c => sqlx::query_as(&sql).bind(&d.name).bind(&d.owner)
        .bind(&d.runbook_url).bind(d.database_id).bind(&d.query).bind(&d.comparison).bind(d.threshold)
        .bind(d.stale_after_s).bind(d.interval_s).bind(&d.system).bind(&d.region).bind(&d.severity)
        .bind(i64::from(d.enabled)).bind(now).bind(id).bind(version).fetch_optional(&mut **c).await)
    .map_err(|e| unique(e, "monitoring point", &d.name))?;
    row.ok_or_else(|| StoreError::Stale(format!("monitoring point {id}")))
}

/// Deletes a point and its runs if its version is still `version`.
pub async fn delete_point(conn: &mut Conn<'_>, id: i64, version: i64) -> StoreResult<()> {
    on_conn!(conn, c => sqlx::query("DELETE FROM mon_point_runs WHERE point_id = $1").bind(id)
        .execute(&mut **c).await.map(|r| r.rows_affected()))?;
    let n = on_conn!(conn, c => sqlx::query("DELETE FROM mon_points WHERE id = $1 AND version = $2")
        .bind(id).bind(version).execute(&mut **c).await.map(|r| r.rows_affected()))?;
    if n == 0 {
        return Err(StoreError::Stale(format!("monitoring point {id}")));
    }
    Ok(())
}

/// Claims up to `limit` enabled points due at `now`; each one's next run moves `interval_s` later.
pub async fn claim_due_points(
    conn: &mut Conn<'_>,
    now: i64,
    limit: i64,
) -> StoreResult<Vec<PointRow>> {
    let lock = if conn.is_postgres() {
        " FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    let sql = format!(
        "SELECT {POINT_COLS} FROM mon_points WHERE enabled = 1 AND next_run_at <= $1 ORDER BY next_run_at LIMIT $2{lock}"
    );
    let due: Vec<PointRow> =
        on_conn!(conn, c => sqlx::query_as(&sql).bind(now).bind(limit).fetch_all(&mut **c).await)?;
    let mut out = Vec::with_capacity(due.len());
    for mut p in due {
        let next = now + p.interval_s * 1_000_000;
        on_conn!(conn, c => sqlx::query("UPDATE mon_points SET next_run_at = $1 WHERE id = $2")
            .bind(next).bind(p.id).execute(&mut **c).await.map(|r| r.rows_affected()))?;
        p.next_run_at = next;
        out.push(p);
    }
    Ok(out)
}

/// The point, locked for the rest of the write on PostgreSQL.
pub async fn point_for_update(conn: &mut Conn<'_>, id: i64) -> StoreResult<Option<PointRow>> {
    let lock = if conn.is_postgres() {
        " FOR UPDATE"
    } else {
        ""
    };
    let sql = format!("SELECT {POINT_COLS} FROM mon_points WHERE id = $1{lock}");
    Ok(on_conn!(conn, c => sqlx::query_as(&sql).bind(id).fetch_optional(&mut **c).await)?)
}

/// Records an evaluation and the point's new state.
#[allow(clippy::too_many_arguments)]
pub async fn record_point_run(
    conn: &mut Conn<'_>,
    point_id: i64,
    at: i64,
    state: &str,
    value: Option<&str>,
    reason: &str,
    latency_ms: i64,
    unknown_since: Option<i64>,
    alerting: bool,
) -> StoreResult<i64> {
    let id: i64 = on_conn!(conn, c => sqlx::query_scalar(
        "INSERT INTO mon_point_runs (point_id, at, state, value, reason, latency_ms) VALUES ($1,$2,$3,$4,$5,$6) RETURNING id")
        .bind(point_id).bind(at).bind(state).bind(value).bind(reason).bind(latency_ms).fetch_one(&mut **c).await)?;
    on_conn!(conn, c => sqlx::query(
        "UPDATE mon_points SET state = $1, last_value = $2, last_reason = $3, last_run_at = $4, unknown_since = $5, alerting = $6 WHERE id = $7")
        .bind(state).bind(value).bind(reason).bind(at).bind(unknown_since).bind(i64::from(alerting)).bind(point_id)
        .execute(&mut **c).await.map(|r| r.rows_affected()))?;
    Ok(id)
}

// ---------------------------------------------------------------- sign-in (MON-09)

// ---------------------------------------------------------------- retention

/// Claims the slot of housekeeping job `name` if it is due at `now` (a job never seen before is due): moves its
/// next run to `next`. True when this caller won the slot; another instance, or a repeat after a restart within
/// the slot, gets false.
pub async fn claim_job(conn: &mut Conn<'_>, name: &str, now: i64, next: i64) -> StoreResult<bool> {
    on_conn!(conn, c => sqlx::query(
        "INSERT INTO mon_jobs (name, next_run_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
        .bind(name).bind(now).execute(&mut **c).await.map(|r| r.rows_affected()))?;
    let n = on_conn!(conn, c => sqlx::query(
        "UPDATE mon_jobs SET next_run_at = $1, last_run_at = $2 WHERE name = $3 AND next_run_at <= $2")
        .bind(next).bind(now).bind(name).execute(&mut **c).await.map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Records what a job's run did, and optionally brings its next run forward (more is left to do).
pub async fn finish_job(
    conn: &mut Conn<'_>,
    name: &str,
    result: &str,
    next: Option<i64>,
) -> StoreResult<()> {
    on_conn!(conn, c => sqlx::query(
        "UPDATE mon_jobs SET last_result = $1, next_run_at = COALESCE($2, next_run_at) WHERE name = $3")
        .bind(result).bind(next).bind(name).execute(&mut **c).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// Deletes up to `batch` probe runs started before `before`; returns how many.
pub async fn prune_probe_runs(conn: &mut Conn<'_>, before: i64, batch: i64) -> StoreResult<u64> {
    Ok(on_conn!(conn, c => sqlx::query(
        "DELETE FROM probe_runs WHERE id IN (SELECT id FROM probe_runs WHERE started_at < $1 ORDER BY started_at LIMIT $2)")
        .bind(before).bind(batch).execute(&mut **c).await.map(|r| r.rows_affected()))?)
}

/// Deletes up to `batch` point evaluations made before `before`; returns how many.
pub async fn prune_point_runs(conn: &mut Conn<'_>, before: i64, batch: i64) -> StoreResult<u64> {
    Ok(on_conn!(conn, c => sqlx::query(
        "DELETE FROM mon_point_runs WHERE id IN (SELECT id FROM mon_point_runs WHERE at < $1 ORDER BY at LIMIT $2)")
        .bind(before).bind(batch).execute(&mut **c).await.map(|r| r.rows_affected()))?)
}

/// Deletes up to `batch` history events before `before` of resolved alerts; returns how many. The
/// alerts themselves are kept.
pub async fn prune_alert_events(conn: &mut Conn<'_>, before: i64, batch: i64) -> StoreResult<u64> {
    Ok(on_conn!(conn, c => sqlx::query(
        "DELETE FROM alert_events WHERE id IN (SELECT e.id FROM alert_events e JOIN alerts a ON a.id = e.alert_id
         WHERE e.at < $1 AND a.state = 'resolved' LIMIT $2)")
        .bind(before).bind(batch).execute(&mut **c).await.map(|r| r.rows_affected()))?)
}

/// A housekeeping job's schedule and last result.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct JobRow {
    pub name: String,
    pub next_run_at: i64,
    pub last_run_at: Option<i64>,
    pub last_result: Option<String>,
}

/// Creates the day's row when missing; `true` when created here (its clocks are to be started).
pub async fn open_signin_day(conn: &mut Conn<'_>, day: &str, now: i64) -> StoreResult<bool> {
    let n = on_conn!(conn, c => sqlx::query(
        "INSERT INTO mon_signins (day, clocks_started_at) VALUES ($1, $2) ON CONFLICT (day) DO NOTHING")
        .bind(day).bind(now).execute(&mut **c).await.map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

/// Records the day's sign-in; `None` when someone already signed in that day.
pub async fn sign_in(
    conn: &mut Conn<'_>,
    day: &str,
    by: &str,
    note: &str,
    open_alerts: i64,
    now: i64,
) -> StoreResult<Option<SigninRow>> {
    on_conn!(conn, c => sqlx::query("INSERT INTO mon_signins (day) VALUES ($1) ON CONFLICT (day) DO NOTHING")
        .bind(day).execute(&mut **c).await.map(|r| r.rows_affected()))?;
    let sql = format!(
        "UPDATE mon_signins SET signed_by = $1, signed_at = $2, note = $3, open_alerts = $4, version = version + 1
         WHERE day = $5 AND signed_at IS NULL RETURNING {SIGNIN_COLS}"
    );
    Ok(
        on_conn!(conn, c => sqlx::query_as(&sql).bind(by).bind(now).bind(note).bind(open_alerts).bind(day)
        .fetch_optional(&mut **c).await)?,
    )
}

impl Store {
    /// A housekeeping job's schedule.
    pub async fn mon_job(&self, name: &str) -> StoreResult<Option<JobRow>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT name, next_run_at, last_run_at, last_result FROM mon_jobs WHERE name = $1")
            .bind(name).fetch_optional(p).await)?)
    }

    /// Every probe, by name.
    pub async fn probes(&self) -> StoreResult<Vec<ProbeRow>> {
        let sql = format!("SELECT {PROBE_COLS} FROM probes ORDER BY name");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).fetch_all(p).await)?)
    }

    /// One probe.
    pub async fn probe(&self, id: i64) -> StoreResult<Option<ProbeRow>> {
        let sql = format!("SELECT {PROBE_COLS} FROM probes WHERE id = $1");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await)?)
    }

    /// A probe's secret variables (JSON object; callers never show the values).
    pub async fn probe_secret_json(&self, id: i64) -> StoreResult<String> {
        Ok(on_pool!(self, p => sqlx::query_scalar("SELECT secrets FROM probes WHERE id = $1").bind(id)
            .fetch_optional(p).await)?
        .unwrap_or_else(|| "{}".into()))
    }

    /// A probe's latest runs, newest first.
    pub async fn probe_runs(&self, probe_id: i64, limit: i64) -> StoreResult<Vec<ProbeRunRow>> {
        let sql = format!(
            "SELECT {RUN_COLS} FROM probe_runs WHERE probe_id = $1 ORDER BY started_at DESC, id DESC LIMIT $2"
        );
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(probe_id).bind(limit).fetch_all(p).await)?)
    }

    /// Availability and latency of a probe's runs since `since`.
    pub async fn probe_stats(&self, probe_id: i64, since: i64) -> StoreResult<ProbeStats> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT COUNT(*) AS runs, CAST(COALESCE(SUM(ok), 0) AS BIGINT) AS ok_runs, CAST(AVG(total_ms) AS DOUBLE PRECISION) AS avg_ms, MAX(total_ms) AS max_ms
             FROM probe_runs WHERE probe_id = $1 AND started_at >= $2")
            .bind(probe_id).bind(since).fetch_one(p).await)?)
    }

    /// Every registered database, by name.
    pub async fn mon_databases(&self) -> StoreResult<Vec<DatabaseRow>> {
        let sql = format!("SELECT {DB_COLS} FROM mon_databases ORDER BY name");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).fetch_all(p).await)?)
    }

    /// One registered database.
    pub async fn mon_database(&self, id: i64) -> StoreResult<Option<DatabaseRow>> {
        let sql = format!("SELECT {DB_COLS} FROM mon_databases WHERE id = $1");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await)?)
    }

    /// The stored password of a database, for connecting only.
    pub async fn database_password(&self, id: i64) -> StoreResult<String> {
        Ok(on_pool!(self, p => sqlx::query_scalar("SELECT password FROM mon_databases WHERE id = $1")
            .bind(id).fetch_optional(p).await)?
        .unwrap_or_default())
    }

    /// Every monitoring point, by name.
    pub async fn mon_points(&self) -> StoreResult<Vec<PointRow>> {
        let sql = format!("SELECT {POINT_COLS} FROM mon_points ORDER BY name");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).fetch_all(p).await)?)
    }

    /// One monitoring point.
    pub async fn mon_point(&self, id: i64) -> StoreResult<Option<PointRow>> {
        let sql = format!("SELECT {POINT_COLS} FROM mon_points WHERE id = $1");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await)?)
    }

    /// A point's latest evaluations, newest first.
    pub async fn mon_point_runs(&self, point_id: i64, limit: i64) -> StoreResult<Vec<PointRunRow>> {
        let sql = format!(
            "SELECT {POINT_RUN_COLS} FROM mon_point_runs WHERE point_id = $1 ORDER BY at DESC, id DESC LIMIT $2"
        );
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(point_id).bind(limit).fetch_all(p).await)?)
    }

    /// A day's sign-in record.
    pub async fn signin(&self, day: &str) -> StoreResult<Option<SigninRow>> {
        let sql = format!("SELECT {SIGNIN_COLS} FROM mon_signins WHERE day = $1");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(day).fetch_optional(p).await)?)
    }

    /// Alerts first seen in [from, to) still `firing` (neither acknowledged nor resolved): (id, summary).
    pub async fn unhandled_alerts(&self, from: i64, to: i64) -> StoreResult<Vec<(i64, String)>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT id, summary FROM alerts WHERE first_seen >= $1 AND first_seen < $2 AND state = 'firing' ORDER BY id")
            .bind(from).bind(to).fetch_all(p).await)?)
    }

    /// MON-10: times alerts of the given severities went to firing in [from, to), per region.
    pub async fn severe_firings(
        &self,
        severities: &[String],
        from: i64,
        to: i64,
    ) -> StoreResult<Vec<(String, i64)>> {
        // The severities come from the policy pack; they are bound, never spliced.
        let marks: Vec<String> = (0..severities.len())
            .map(|i| format!("${}", i + 3))
            .collect();
        let sql = format!(
            "SELECT a.region, COUNT(*) FROM alert_events e JOIN alerts a ON a.id = e.alert_id
             WHERE e.kind = 'fired' AND e.at >= $1 AND e.at < $2 AND a.severity IN ({})
             GROUP BY a.region ORDER BY a.region",
            marks.join(",")
        );
        if severities.is_empty() {
            return Ok(Vec::new());
        }
        Ok(on_pool!(self, p => {
            let mut q = sqlx::query_as(&sql).bind(from).bind(to);
            for s in severities {
                q = q.bind(s);
            }
            q.fetch_all(p).await
        })?)
    }
}
