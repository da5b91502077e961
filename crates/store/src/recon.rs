//! Reconciliation (issue 6, REC-01..REC-08): stored runs with their inputs' fingerprints and counts, a sample of
//! their differences, the days of the scheduled jobs (claimed once, REC-08 upload watch) and the work items a
//! difference batch opens (REC-07).

use serde::Serialize;

use crate::{on_conn, on_pool, Conn, Store, StoreError, StoreResult};

/// A stored run.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct ReconRunRow {
    pub id: i64,
    /// The pack's schedule key, or '' for an ad-hoc run.
    pub job_key: String,
    /// `full` or `incremental`.
    pub mode: String,
    /// `schedule`, `api`, `cli`, `demo`.
    pub trigger: String,
    pub started_by: String,
    /// `running`, `succeeded`, `failed`.
    pub status: String,
    pub as_of: Option<String>,
    /// JSON list of the key columns.
    pub key_columns: String,
    pub left_path: String,
    pub left_size: i64,
    pub left_sha256: String,
    pub right_path: String,
    pub right_size: i64,
    pub right_sha256: String,
    pub rows_left: Option<i64>,
    pub rows_right: Option<i64>,
    pub only_left: Option<i64>,
    pub only_right: Option<i64>,
    pub changed: Option<i64>,
    pub identical: Option<i64>,
    pub duplicate_keys_left: Option<i64>,
    pub duplicate_keys_right: Option<i64>,
    pub rejected_left: Option<i64>,
    pub rejected_right: Option<i64>,
    /// JSON object column → count.
    pub per_column: String,
    pub consistency: Option<f64>,
    pub incremental_keys: Option<i64>,
    pub error: Option<String>,
    pub details_path: Option<String>,
    /// Differences in total (only-left + only-right + changed + duplicate rows).
    pub differences: i64,
    pub started_at: i64,
    pub finished_at: Option<i64>,
}

/// A run being started.
#[derive(Debug, Clone, PartialEq)]
pub struct NewReconRun {
    pub job_key: String,
    pub mode: String,
    pub trigger: String,
    pub started_by: String,
    pub as_of: Option<String>,
    pub key_columns: String,
    pub left_path: String,
    pub left_size: i64,
    pub left_sha256: String,
    pub right_path: String,
    pub right_size: i64,
    pub right_sha256: String,
    pub started_at: i64,
}

/// The counts of a finished run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReconCounts {
    pub rows_left: i64,
    pub rows_right: i64,
    pub only_left: i64,
    pub only_right: i64,
    pub changed: i64,
    pub identical: i64,
    pub duplicate_keys_left: i64,
    pub duplicate_keys_right: i64,
    pub rejected_left: i64,
    pub rejected_right: i64,
    pub per_column: String,
    pub consistency: f64,
    pub incremental_keys: Option<i64>,
    pub details_path: Option<String>,
}

/// One sampled difference.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct ReconDiffRow {
    pub seq: i64,
    /// changed, only_left, only_right, duplicate_left, duplicate_right.
    pub kind: String,
    pub key: String,
    #[sqlx(rename = "col")]
    pub column: Option<String>,
    #[sqlx(rename = "left_value")]
    pub left: Option<String>,
    #[sqlx(rename = "right_value")]
    pub right: Option<String>,
}

/// A scheduled job's day.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct ReconDayRow {
    pub job_key: String,
    pub day: String,
    /// waiting, running, done.
    pub state: String,
    /// on_time, late, missing (REC-08).
    pub upload: Option<String>,
    pub alerted: i64,
    pub run_id: Option<i64>,
    pub lease_until: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A work item (REC-07).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct ReconItemRow {
    pub id: i64,
    pub run_id: i64,
    pub job_key: String,
    /// open, replied, fixed, closed.
    pub state: String,
    pub differences: i64,
    pub reply_due: i64,
    pub fix_due: i64,
    pub replied_by: Option<String>,
    pub replied_at: Option<i64>,
    pub reply: Option<String>,
    pub fixed_by: Option<String>,
    pub fixed_at: Option<i64>,
    pub fix_note: Option<String>,
    pub closed_by: Option<String>,
    pub closed_at: Option<i64>,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One point of a job's consistency trend.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct ReconTrendPoint {
    pub run_id: i64,
    /// The reconciliation day of a job's run.
    pub as_of: Option<String>,
    pub finished_at: i64,
    pub consistency: f64,
}

const RUN_COLS: &str = "id, job_key, mode, trigger, started_by, status, as_of, key_columns, left_path, left_size, left_sha256, right_path, right_size, right_sha256, rows_left, rows_right, only_left, only_right, changed, identical, duplicate_keys_left, duplicate_keys_right, rejected_left, rejected_right, per_column, consistency, incremental_keys, error, details_path, differences, started_at, finished_at";
const DIFF_COLS: &str = "seq, kind, key, col, left_value, right_value";
const DAY_COLS: &str =
    "job_key, day, state, upload, alerted, run_id, lease_until, created_at, updated_at";
const ITEM_COLS: &str = "id, run_id, job_key, state, differences, reply_due, fix_due, replied_by, replied_at, reply, fixed_by, fixed_at, fix_note, closed_by, closed_at, version, created_at, updated_at";

/// Records a run that is starting.
pub async fn insert_run(conn: &mut Conn<'_>, r: &NewReconRun) -> StoreResult<ReconRunRow> {
    let sql = format!(
        "INSERT INTO recon_runs (job_key, mode, trigger, started_by, as_of, key_columns, left_path, left_size,
           left_sha256, right_path, right_size, right_sha256, started_at)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13) RETURNING {RUN_COLS}"
    );
    Ok(on_conn!(conn, c => sqlx::query_as(&sql)
        .bind(&r.job_key).bind(&r.mode).bind(&r.trigger).bind(&r.started_by).bind(&r.as_of)
        .bind(&r.key_columns).bind(&r.left_path).bind(r.left_size).bind(&r.left_sha256)
        .bind(&r.right_path).bind(r.right_size).bind(&r.right_sha256).bind(r.started_at)
        .fetch_one(&mut **c).await)?)
}

/// Stores the counts of a run that succeeded (only a `running` run can finish).
pub async fn finish_run(
    conn: &mut Conn<'_>,
    id: i64,
    k: &ReconCounts,
    now: i64,
) -> StoreResult<ReconRunRow> {
    let differences =
        k.only_left + k.only_right + k.changed + k.duplicate_keys_left + k.duplicate_keys_right;
    let sql = format!(
        "UPDATE recon_runs SET status='succeeded', rows_left=$1, rows_right=$2, only_left=$3, only_right=$4,
           changed=$5, identical=$6, duplicate_keys_left=$7, duplicate_keys_right=$8, rejected_left=$9,
           rejected_right=$10, per_column=$11, consistency=$12, incremental_keys=$13, details_path=$14,
           differences=$15, finished_at=$16
         WHERE id=$17 AND status='running' RETURNING {RUN_COLS}"
    );
    let row: Option<ReconRunRow> = on_conn!(conn, c => sqlx::query_as(&sql)
        .bind(k.rows_left).bind(k.rows_right).bind(k.only_left).bind(k.only_right).bind(k.changed)
        .bind(k.identical).bind(k.duplicate_keys_left).bind(k.duplicate_keys_right).bind(k.rejected_left)
        .bind(k.rejected_right).bind(&k.per_column).bind(k.consistency).bind(k.incremental_keys)
        .bind(&k.details_path).bind(differences).bind(now).bind(id)
        .fetch_optional(&mut **c).await)?;
    row.ok_or_else(|| StoreError::Stale(format!("recon run {id}")))
}

/// Marks a running run failed with its error.
pub async fn fail_run(
    conn: &mut Conn<'_>,
    id: i64,
    error: &str,
    now: i64,
) -> StoreResult<ReconRunRow> {
    let sql = format!(
        "UPDATE recon_runs SET status='failed', error=$1, finished_at=$2 WHERE id=$3 AND status='running'
         RETURNING {RUN_COLS}"
    );
    let row: Option<ReconRunRow> = on_conn!(conn, c => sqlx::query_as(&sql)
        .bind(error).bind(now).bind(id).fetch_optional(&mut **c).await)?;
    row.ok_or_else(|| StoreError::Stale(format!("recon run {id}")))
}

/// Stores the sample of a run's differences (in order, `seq` from 0).
pub async fn insert_sample(
    conn: &mut Conn<'_>,
    run_id: i64,
    diffs: &[ReconDiffRow],
) -> StoreResult<()> {
    for d in diffs {
        on_conn!(conn, c => sqlx::query(
            "INSERT INTO recon_differences (run_id, seq, kind, key, col, left_value, right_value)
             VALUES ($1,$2,$3,$4,$5,$6,$7)")
            .bind(run_id).bind(d.seq).bind(&d.kind).bind(&d.key).bind(&d.column).bind(&d.left).bind(&d.right)
            .execute(&mut **c).await.map(|r| r.rows_affected()))?;
    }
    Ok(())
}

/// Creates the day row of a scheduled job if it does not exist; true when this call created it.
pub async fn open_day(
    conn: &mut Conn<'_>,
    job_key: &str,
    day: &str,
    now: i64,
) -> StoreResult<bool> {
    let n = on_conn!(conn, c => sqlx::query(
        "INSERT INTO recon_days (job_key, day, created_at, updated_at) VALUES ($1,$2,$3,$3)
         ON CONFLICT (job_key, day) DO NOTHING")
        .bind(job_key).bind(day).bind(now).execute(&mut **c).await.map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

/// Claims a waiting day (or a running one whose lease expired) for `lease_us`; None when another instance
/// holds it or it is done.
pub async fn claim_day(
    conn: &mut Conn<'_>,
    job_key: &str,
    day: &str,
    now: i64,
    lease_us: i64,
) -> StoreResult<Option<ReconDayRow>> {
    let sql = format!(
        "UPDATE recon_days SET state='running', lease_until=$1, updated_at=$2
         WHERE job_key=$3 AND day=$4 AND (state='waiting' OR (state='running' AND lease_until < $2))
         RETURNING {DAY_COLS}"
    );
    Ok(on_conn!(conn, c => sqlx::query_as(&sql)
        .bind(now + lease_us).bind(now).bind(job_key).bind(day).fetch_optional(&mut **c).await)?)
}

/// Sets a day's state, upload status and run.
pub async fn set_day(
    conn: &mut Conn<'_>,
    job_key: &str,
    day: &str,
    state: &str,
    upload: Option<&str>,
    run_id: Option<i64>,
    now: i64,
) -> StoreResult<()> {
    on_conn!(conn, c => sqlx::query(
        "UPDATE recon_days SET state=$1, upload=COALESCE($2, upload), run_id=COALESCE($3, run_id), lease_until=0,
           updated_at=$4 WHERE job_key=$5 AND day=$6")
        .bind(state).bind(upload).bind(run_id).bind(now).bind(job_key).bind(day)
        .execute(&mut **c).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// Marks the REC-08 alert of a day raised; true only for the call that did it (one alert per day).
pub async fn mark_day_alerted(
    conn: &mut Conn<'_>,
    job_key: &str,
    day: &str,
    now: i64,
) -> StoreResult<bool> {
    let n = on_conn!(conn, c => sqlx::query(
        "UPDATE recon_days SET alerted=1, upload=COALESCE(upload, 'missing'), updated_at=$1
         WHERE job_key=$2 AND day=$3 AND alerted=0")
        .bind(now).bind(job_key).bind(day).execute(&mut **c).await.map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

/// Opens a work item for a run's difference batch.
pub async fn insert_item(
    conn: &mut Conn<'_>,
    run_id: i64,
    job_key: &str,
    differences: i64,
    reply_due: i64,
    fix_due: i64,
    now: i64,
) -> StoreResult<ReconItemRow> {
    let sql = format!(
        "INSERT INTO recon_items (run_id, job_key, differences, reply_due, fix_due, created_at, updated_at)
         VALUES ($1,$2,$3,$4,$5,$6,$6) RETURNING {ITEM_COLS}"
    );
    Ok(on_conn!(conn, c => sqlx::query_as(&sql)
        .bind(run_id).bind(job_key).bind(differences).bind(reply_due).bind(fix_due).bind(now)
        .fetch_one(&mut **c).await)?)
}

/// A work item inside a write, locked on PostgreSQL.
pub async fn item_for_update(conn: &mut Conn<'_>, id: i64) -> StoreResult<Option<ReconItemRow>> {
    let lock = if conn.is_postgres() {
        " FOR UPDATE"
    } else {
        ""
    };
    let sql = format!("SELECT {ITEM_COLS} FROM recon_items WHERE id = $1{lock}");
    Ok(on_conn!(conn, c => sqlx::query_as(&sql).bind(id).fetch_optional(&mut **c).await)?)
}

/// Saves a work item's state and notes if its version is still `i.version`.
pub async fn save_item(
    conn: &mut Conn<'_>,
    i: &ReconItemRow,
    now: i64,
) -> StoreResult<ReconItemRow> {
    let sql = format!(
        "UPDATE recon_items SET state=$1, replied_by=$2, replied_at=$3, reply=$4, fixed_by=$5, fixed_at=$6,
           fix_note=$7, closed_by=$8, closed_at=$9, version=version+1, updated_at=$10
         WHERE id=$11 AND version=$12 RETURNING {ITEM_COLS}"
    );
    let row: Option<ReconItemRow> = on_conn!(conn, c => sqlx::query_as(&sql)
        .bind(&i.state).bind(&i.replied_by).bind(i.replied_at).bind(&i.reply).bind(&i.fixed_by)
        .bind(i.fixed_at).bind(&i.fix_note).bind(&i.closed_by).bind(i.closed_at).bind(now)
        .bind(i.id).bind(i.version).fetch_optional(&mut **c).await)?;
    row.ok_or_else(|| StoreError::Stale(format!("recon work item {}", i.id)))
}

impl Store {
    /// One run.
    pub async fn recon_run(&self, id: i64) -> StoreResult<Option<ReconRunRow>> {
        let sql = format!("SELECT {RUN_COLS} FROM recon_runs WHERE id = $1");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await)?)
    }

    /// Runs with id below `before`, newest first, of one job if given.
    pub async fn recon_runs(
        &self,
        job_key: Option<&str>,
        before: i64,
        limit: i64,
    ) -> StoreResult<Vec<ReconRunRow>> {
        let sql = format!(
            "SELECT {RUN_COLS} FROM recon_runs WHERE id < $1 AND ($2 IS NULL OR job_key = $2)
             ORDER BY id DESC LIMIT $3"
        );
        Ok(
            on_pool!(self, p => sqlx::query_as(&sql).bind(before).bind(job_key).bind(limit)
            .fetch_all(p).await)?,
        )
    }

    /// The latest succeeded run of each job (ad-hoc runs under '').
    pub async fn recon_latest_per_job(&self) -> StoreResult<Vec<ReconRunRow>> {
        let sql = format!(
            "SELECT {RUN_COLS} FROM recon_runs WHERE id IN
               (SELECT MAX(id) FROM recon_runs WHERE status = 'succeeded' GROUP BY job_key)
             ORDER BY job_key"
        );
        Ok(on_pool!(self, p => sqlx::query_as(&sql).fetch_all(p).await)?)
    }

    /// The latest succeeded run of a job before `before` (incremental mode compares against it).
    pub async fn recon_previous_run(
        &self,
        job_key: &str,
        before: i64,
    ) -> StoreResult<Option<ReconRunRow>> {
        let sql = format!(
            "SELECT {RUN_COLS} FROM recon_runs WHERE job_key = $1 AND status = 'succeeded' AND id < $2
             ORDER BY id DESC LIMIT 1"
        );
        Ok(
            on_pool!(self, p => sqlx::query_as(&sql).bind(job_key).bind(before)
            .fetch_optional(p).await)?,
        )
    }

    /// A page of a run's sampled differences, optionally of one kind.
    pub async fn recon_sample(
        &self,
        run_id: i64,
        kind: Option<&str>,
        offset: i64,
        limit: i64,
    ) -> StoreResult<(Vec<ReconDiffRow>, i64)> {
        let sql = format!(
            "SELECT {DIFF_COLS} FROM recon_differences WHERE run_id = $1 AND ($2 IS NULL OR kind = $2)
             ORDER BY seq LIMIT $3 OFFSET $4"
        );
        let rows = on_pool!(self, p => sqlx::query_as(&sql).bind(run_id).bind(kind).bind(limit).bind(offset)
            .fetch_all(p).await)?;
        let total: i64 = on_pool!(self, p => sqlx::query_scalar(
            "SELECT COUNT(*) FROM recon_differences WHERE run_id = $1 AND ($2 IS NULL OR kind = $2)")
            .bind(run_id).bind(kind).fetch_one(p).await)?;
        Ok((rows, total))
    }

    /// The consistency of a job's succeeded runs, oldest first (at most `limit`, the latest ones).
    pub async fn recon_trend(
        &self,
        job_key: &str,
        limit: i64,
    ) -> StoreResult<Vec<ReconTrendPoint>> {
        let mut v: Vec<ReconTrendPoint> = on_pool!(self, p => sqlx::query_as(
            "SELECT id AS run_id, as_of, finished_at, consistency FROM recon_runs
             WHERE job_key = $1 AND status = 'succeeded' AND finished_at IS NOT NULL AND consistency IS NOT NULL
             ORDER BY id DESC LIMIT $2")
            .bind(job_key).bind(limit).fetch_all(p).await)?;
        v.reverse();
        Ok(v)
    }

    /// A scheduled job's day.
    pub async fn recon_day(&self, job_key: &str, day: &str) -> StoreResult<Option<ReconDayRow>> {
        let sql = format!("SELECT {DAY_COLS} FROM recon_days WHERE job_key = $1 AND day = $2");
        Ok(
            on_pool!(self, p => sqlx::query_as(&sql).bind(job_key).bind(day)
            .fetch_optional(p).await)?,
        )
    }

    /// One work item.
    pub async fn recon_item(&self, id: i64) -> StoreResult<Option<ReconItemRow>> {
        let sql = format!("SELECT {ITEM_COLS} FROM recon_items WHERE id = $1");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await)?)
    }

    /// The work item of a run.
    pub async fn recon_item_of_run(&self, run_id: i64) -> StoreResult<Option<ReconItemRow>> {
        let sql = format!("SELECT {ITEM_COLS} FROM recon_items WHERE run_id = $1");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(run_id).fetch_optional(p).await)?)
    }

    /// Work items, newest first, in one state if given.
    pub async fn recon_items(
        &self,
        state: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<ReconItemRow>> {
        let sql = format!(
            "SELECT {ITEM_COLS} FROM recon_items WHERE ($1 IS NULL OR state = $1) ORDER BY id DESC LIMIT $2"
        );
        Ok(
            on_pool!(self, p => sqlx::query_as(&sql).bind(state).bind(limit)
            .fetch_all(p).await)?,
        )
    }
}
