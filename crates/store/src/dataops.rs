//! Back-end data operations (issue 7, DATA-*): target databases, requests, their approval chain and executions.
//!
//! A target's password is stored in `secret` and read only by [`Store::dataop_target_secret`], which the
//! executor calls; [`TargetRow`] never carries it, so no list or view can leak it.

use serde::Serialize;
use serde_json::Value;

use crate::{on_conn, on_pool, Conn, Store, StoreError, StoreResult};

/// A registered target database (without its password).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct TargetRow {
    pub id: i64,
    pub name: String,
    /// `postgres` or `mysql`.
    pub kind: String,
    pub host: String,
    pub port: i64,
    pub database_name: String,
    pub username: String,
    pub system: String,
    pub created_by: String,
    pub created_at: i64,
    pub version: i64,
}

/// A target to register.
#[derive(Clone, PartialEq)]
pub struct NewTarget {
    pub name: String,
    pub kind: String,
    pub host: String,
    pub port: i64,
    pub database_name: String,
    pub username: String,
    pub secret: String,
    pub system: String,
    pub created_by: String,
    pub now: i64,
}

impl std::fmt::Debug for NewTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewTarget")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("database_name", &self.database_name)
            .field("username", &self.username)
            .field("secret", &"***")
            .finish()
    }
}

/// A stored request.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct RequestRow {
    pub id: i64,
    pub kind: String,
    pub state: String,
    pub target_id: i64,
    pub title: String,
    pub ticket_type: String,
    pub ticket_ref: String,
    pub impact: String,
    pub purpose: String,
    pub fields: String,
    pub declared_rows: i64,
    pub amount_diff_yuan: Option<f64>,
    pub inventory_error: Option<f64>,
    pub estimated_minutes: Option<i64>,
    /// JSON list of class keys.
    pub sensitive_classes: String,
    pub vendor_mode: String,
    pub batch: i64,
    pub important: i64,
    /// JSON of the classification.
    pub classification: String,
    /// JSON list of steps.
    pub steps: String,
    pub submitter: String,
    pub processor: String,
    pub reviewer: String,
    pub executed_by: Option<String>,
    pub executed_at: Option<i64>,
    pub reviewed_by: Option<String>,
    pub reviewed_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub version: i64,
}

/// A request to insert (state `submitted`).
#[derive(Debug, Clone, PartialEq)]
pub struct NewRequest {
    pub kind: String,
    pub target_id: i64,
    pub title: String,
    pub ticket_type: String,
    pub ticket_ref: String,
    pub impact: String,
    pub purpose: String,
    pub fields: String,
    pub declared_rows: i64,
    pub amount_diff_yuan: Option<f64>,
    pub inventory_error: Option<f64>,
    pub estimated_minutes: Option<i64>,
    pub sensitive_classes: Vec<String>,
    pub vendor_mode: String,
    pub batch: bool,
    pub important: bool,
    pub classification: Value,
    pub steps: Value,
    pub submitter: String,
    pub processor: String,
    pub reviewer: String,
    pub now: i64,
}

/// One entry of the approval chain.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct EventRow {
    pub id: i64,
    pub request_id: i64,
    pub at: i64,
    pub actor: String,
    pub kind: String,
    pub note: String,
    /// JSON.
    pub data: String,
}

/// One execution.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct ExecutionRow {
    pub id: i64,
    pub request_id: i64,
    pub actor: String,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    /// `running`, `committed`, `rolled_back`, `failed`.
    pub outcome: String,
    pub message: String,
    /// JSON: per step, the rows as they were before the step.
    pub before_image: String,
    /// JSON: per step, declared and affected row counts.
    pub affected: String,
    /// JSON rows of an extraction.
    pub result: Option<String>,
    pub result_rows: Option<i64>,
}

/// The end of an execution.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionEnd {
    pub outcome: String,
    pub message: String,
    pub before_image: Value,
    pub affected: Value,
    pub result: Option<Value>,
    pub result_rows: Option<i64>,
    pub now: i64,
}

/// List filters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestFilter {
    pub state: Option<String>,
    pub kind: Option<String>,
    /// Created at or after (Unix µs).
    pub from: Option<i64>,
    /// Created before (Unix µs).
    pub to: Option<i64>,
}

const TARGET_COLS: &str =
    "id, name, kind, host, port, database_name, username, system, created_by, created_at, version";
const REQUEST_COLS: &str = "id, kind, state, target_id, title, ticket_type, ticket_ref, impact, purpose, fields, declared_rows, amount_diff_yuan, inventory_error, estimated_minutes, sensitive_classes, vendor_mode, batch, important, classification, steps, submitter, processor, reviewer, executed_by, executed_at, reviewed_by, reviewed_at, created_at, updated_at, version";
const EVENT_COLS: &str = "id, request_id, at, actor, kind, note, data";
const EXEC_COLS: &str = "id, request_id, actor, started_at, finished_at, outcome, message, before_image, affected, result, result_rows";

/// Registers a target.
pub async fn insert_target(conn: &mut Conn<'_>, t: &NewTarget) -> StoreResult<TargetRow> {
    let sql = format!(
        "INSERT INTO dataop_targets (name, kind, host, port, database_name, username, secret, system, created_by, created_at)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) RETURNING {TARGET_COLS}"
    );
    Ok(on_conn!(conn, c => sqlx::query_as(&sql)
        .bind(&t.name).bind(&t.kind).bind(&t.host).bind(t.port).bind(&t.database_name)
        .bind(&t.username).bind(&t.secret).bind(&t.system).bind(&t.created_by).bind(t.now)
        .fetch_one(&mut **c).await)?)
}

/// Inserts a request in state `submitted`.
pub async fn insert_request(conn: &mut Conn<'_>, r: &NewRequest) -> StoreResult<RequestRow> {
    let sql = format!(
        "INSERT INTO dataop_requests (kind, state, target_id, title, ticket_type, ticket_ref, impact, purpose, fields,
            declared_rows, amount_diff_yuan, inventory_error, estimated_minutes, sensitive_classes, vendor_mode, batch,
            important, classification, steps, submitter, processor, reviewer, created_at, updated_at)
         VALUES ($1,'submitted',$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$22)
         RETURNING {REQUEST_COLS}"
    );
    let classes = serde_json::to_string(&r.sensitive_classes).unwrap_or_else(|_| "[]".into());
    let classification = crate::audit::canonical_json(&r.classification);
    let steps = crate::audit::canonical_json(&r.steps);
    Ok(on_conn!(conn, c => sqlx::query_as(&sql)
        .bind(&r.kind).bind(r.target_id).bind(&r.title).bind(&r.ticket_type).bind(&r.ticket_ref)
        .bind(&r.impact).bind(&r.purpose).bind(&r.fields).bind(r.declared_rows).bind(r.amount_diff_yuan)
        .bind(r.inventory_error).bind(r.estimated_minutes).bind(&classes).bind(&r.vendor_mode)
        .bind(i64::from(r.batch)).bind(i64::from(r.important)).bind(&classification).bind(&steps)
        .bind(&r.submitter).bind(&r.processor).bind(&r.reviewer).bind(r.now)
        .fetch_one(&mut **c).await)?)
}

/// The request, locked for the rest of the write on PostgreSQL.
pub async fn request_in_tx(conn: &mut Conn<'_>, id: i64) -> StoreResult<Option<RequestRow>> {
    let lock = if conn.is_postgres() {
        " FOR UPDATE"
    } else {
        ""
    };
    let sql = format!("SELECT {REQUEST_COLS} FROM dataop_requests WHERE id = $1{lock}");
    Ok(on_conn!(conn, c => sqlx::query_as(&sql).bind(id).fetch_optional(&mut **c).await)?)
}

/// Moves a request to `state` if it is still at `version`; records who executed or reviewed it.
pub async fn set_request_state(
    conn: &mut Conn<'_>,
    id: i64,
    version: i64,
    state: &str,
    actor: Option<&str>,
    now: i64,
) -> StoreResult<RequestRow> {
    let set_actor = match state {
        "executed" => ", executed_by = $5, executed_at = $4",
        "reviewed" => ", reviewed_by = $5, reviewed_at = $4",
        _ => "",
    };
    let sql = format!(
        "UPDATE dataop_requests SET state = $3, updated_at = $4, version = version + 1{set_actor}
         WHERE id = $1 AND version = $2 RETURNING {REQUEST_COLS}"
    );
    let row: Option<RequestRow> = if set_actor.is_empty() {
        on_conn!(conn, c => sqlx::query_as(&sql)
            .bind(id).bind(version).bind(state).bind(now)
            .fetch_optional(&mut **c).await)?
    } else {
        on_conn!(conn, c => sqlx::query_as(&sql)
            .bind(id).bind(version).bind(state).bind(now).bind(actor.unwrap_or(""))
            .fetch_optional(&mut **c).await)?
    };
    row.ok_or_else(|| StoreError::Stale(format!("data operation {id}")))
}

/// Appends an entry to a request's chain.
pub async fn insert_event(
    conn: &mut Conn<'_>,
    request_id: i64,
    at: i64,
    actor: &str,
    kind: &str,
    note: &str,
    data: &Value,
) -> StoreResult<EventRow> {
    let sql = format!(
        "INSERT INTO dataop_events (request_id, at, actor, kind, note, data) VALUES ($1,$2,$3,$4,$5,$6)
         RETURNING {EVENT_COLS}"
    );
    let data = crate::audit::canonical_json(data);
    Ok(on_conn!(conn, c => sqlx::query_as(&sql)
        .bind(request_id).bind(at).bind(actor).bind(kind).bind(note).bind(&data)
        .fetch_one(&mut **c).await)?)
}

/// The chain of a request inside a write.
pub async fn events_in_tx(conn: &mut Conn<'_>, request_id: i64) -> StoreResult<Vec<EventRow>> {
    let sql = format!("SELECT {EVENT_COLS} FROM dataop_events WHERE request_id = $1 ORDER BY id");
    Ok(on_conn!(conn, c => sqlx::query_as(&sql).bind(request_id).fetch_all(&mut **c).await)?)
}

/// Opens an execution (`running`), with the before-images already taken.
pub async fn insert_execution(
    conn: &mut Conn<'_>,
    request_id: i64,
    actor: &str,
    started_at: i64,
    before_image: &Value,
    affected: &Value,
) -> StoreResult<i64> {
    let before = before_image.to_string();
    let affected = affected.to_string();
    Ok(on_conn!(conn, c => sqlx::query_scalar(
        "INSERT INTO dataop_executions (request_id, actor, started_at, outcome, before_image, affected)
         VALUES ($1,$2,$3,'running',$4,$5) RETURNING id")
        .bind(request_id).bind(actor).bind(started_at).bind(&before).bind(&affected)
        .fetch_one(&mut **c).await)?)
}

/// Records how an execution ended.
pub async fn finish_execution(conn: &mut Conn<'_>, id: i64, e: &ExecutionEnd) -> StoreResult<()> {
    let before = e.before_image.to_string();
    let affected = e.affected.to_string();
    let result = e.result.as_ref().map(Value::to_string);
    on_conn!(conn, c => sqlx::query(
        "UPDATE dataop_executions SET finished_at = $2, outcome = $3, message = $4, before_image = $5,
            affected = $6, result = $7, result_rows = $8 WHERE id = $1")
        .bind(id).bind(e.now).bind(&e.outcome).bind(&e.message).bind(&before).bind(&affected)
        .bind(&result).bind(e.result_rows)
        .execute(&mut **c).await.map(|r| r.rows_affected()))?;
    Ok(())
}

impl Store {
    /// Every registered target, by name.
    pub async fn dataop_targets(&self) -> StoreResult<Vec<TargetRow>> {
        let sql = format!("SELECT {TARGET_COLS} FROM dataop_targets ORDER BY name");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).fetch_all(p).await)?)
    }

    /// One target.
    pub async fn dataop_target(&self, id: i64) -> StoreResult<Option<TargetRow>> {
        let sql = format!("SELECT {TARGET_COLS} FROM dataop_targets WHERE id = $1");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await)?)
    }

    /// The password of a target: for the executor only, never for a response or a log line.
    pub async fn dataop_target_secret(&self, id: i64) -> StoreResult<Option<String>> {
        Ok(
            on_pool!(self, p => sqlx::query_scalar("SELECT secret FROM dataop_targets WHERE id = $1")
            .bind(id).fetch_optional(p).await)?,
        )
    }

    /// One request.
    pub async fn dataop_request(&self, id: i64) -> StoreResult<Option<RequestRow>> {
        let sql = format!("SELECT {REQUEST_COLS} FROM dataop_requests WHERE id = $1");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await)?)
    }

    /// Requests matching `f` with id below `before`, newest first.
    pub async fn dataop_requests(
        &self,
        f: &RequestFilter,
        before: i64,
        limit: i64,
    ) -> StoreResult<Vec<RequestRow>> {
        let sql = format!(
            "SELECT {REQUEST_COLS} FROM dataop_requests WHERE id < $1
               AND ($2 IS NULL OR state = $2) AND ($3 IS NULL OR kind = $3)
               AND ($4 IS NULL OR created_at >= $4) AND ($5 IS NULL OR created_at < $5)
             ORDER BY id DESC LIMIT $6"
        );
        Ok(
            on_pool!(self, p => sqlx::query_as(&sql).bind(before).bind(&f.state).bind(&f.kind)
            .bind(f.from).bind(f.to).bind(limit).fetch_all(p).await)?,
        )
    }

    /// The chain of a request, oldest first.
    pub async fn dataop_events(&self, request_id: i64) -> StoreResult<Vec<EventRow>> {
        let sql =
            format!("SELECT {EVENT_COLS} FROM dataop_events WHERE request_id = $1 ORDER BY id");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(request_id).fetch_all(p).await)?)
    }

    /// The executions of a request, oldest first.
    pub async fn dataop_executions(&self, request_id: i64) -> StoreResult<Vec<ExecutionRow>> {
        let sql =
            format!("SELECT {EXEC_COLS} FROM dataop_executions WHERE request_id = $1 ORDER BY id");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(request_id).fetch_all(p).await)?)
    }
}

/// A `running` execution with the number of steps of its request (for the recovery sweep).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct RunningExecution {
    pub id: i64,
    pub request_id: i64,
    pub started_at: i64,
    /// The request's steps (JSON), to bound how long an execution may legitimately run.
    pub steps: String,
}

impl Store {
    /// Every execution still marked `running`.
    pub async fn running_executions(&self) -> StoreResult<Vec<RunningExecution>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT e.id, e.request_id, e.started_at, r.steps FROM dataop_executions e
               JOIN dataop_requests r ON r.id = e.request_id WHERE e.outcome = 'running' ORDER BY e.id")
            .fetch_all(p).await)?)
    }
}

/// Marks a `running` execution `unknown` (interrupted); false if it is no longer running.
pub async fn mark_execution_unknown(
    conn: &mut Conn<'_>,
    id: i64,
    message: &str,
    now: i64,
) -> StoreResult<bool> {
    let n = on_conn!(conn, c => sqlx::query(
        "UPDATE dataop_executions SET outcome = 'unknown', message = $2, finished_at = $3
          WHERE id = $1 AND outcome = 'running'")
        .bind(id).bind(message).bind(now).execute(&mut **c).await.map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Records how an execution found `unknown` was settled by hand (`committed` or `rolled_back`).
pub async fn settle_execution(
    conn: &mut Conn<'_>,
    request_id: i64,
    id: i64,
    outcome: &str,
    message: &str,
) -> StoreResult<bool> {
    let n = on_conn!(conn, c => sqlx::query(
        "UPDATE dataop_executions SET outcome = $2, message = $3 WHERE id = $1 AND request_id = $4 AND outcome = 'unknown'")
        .bind(id).bind(outcome).bind(message).bind(request_id).execute(&mut **c).await.map(|r| r.rows_affected()))?;
    Ok(n == 1)
}
