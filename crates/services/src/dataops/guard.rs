//! Guarded execution against a registered PostgreSQL or MySQL/MariaDB target (issue 7 item 5).
//!
//! All steps run in one transaction on the target. For each step the rows its predicate covers are first
//! selected `FOR UPDATE` (locked, and kept as the before-image), then the statement runs; if the locked or the
//! affected row count differs from the declared one, or anything fails, everything is rolled back. The caller
//! persists the before-images in Tianshu *before* [`Prepared::commit`], so no committed change is ever without
//! its backup. Values are read as text (the databases' own rendering), so decimals, timestamps and Chinese text
//! keep every digit and character; NULL stays `null`.

use std::fmt;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};
use sqlx::{Column, ConnectOptions, Connection, Executor, MySqlConnection, PgConnection, Row};
use tianshu_core::dataop::script::{ParsedStep, SqlDialect, Verb};

/// A target's password; never printed.
#[derive(Clone)]
pub struct Password(pub String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Where to connect.
#[derive(Debug, Clone)]
pub struct TargetConn {
    pub dialect: SqlDialect,
    pub host: String,
    pub port: u16,
    pub database: String,
    pub username: String,
    pub password: Password,
}

/// Limits of one run.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub statement_timeout: Duration,
    pub lock_timeout: Duration,
    /// Rows one step may lock (before-image size).
    pub max_rows_per_step: u64,
}

/// One declared step, validated.
#[derive(Debug, Clone)]
pub struct PlannedStep {
    pub sql: String,
    pub expected_rows: u64,
    pub parsed: ParsedStep,
}

/// What one step did.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StepOutcome {
    pub step: usize,
    pub verb: String,
    pub table: String,
    pub declared: u64,
    /// Rows the predicate covered (locked); INSERT: none.
    pub locked: u64,
    /// Rows the statement reported as affected.
    pub affected: Option<u64>,
    /// The locked rows before the step: column → text or null.
    pub before: Vec<Map<String, Value>>,
}

/// Why a run stopped; everything on the target was rolled back.
#[derive(Debug, Clone, PartialEq)]
pub enum GuardError {
    /// The target could not be reached or refused the login.
    Connect(String),
    /// A row count differed from the declared one (the step, what was found).
    Mismatch { step: usize, message: String },
    /// The database refused a statement.
    Database {
        step: Option<usize>,
        message: String,
    },
}

impl fmt::Display for GuardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GuardError::Connect(m) => write!(f, "cannot connect to the target: {m}"),
            GuardError::Mismatch { step, message } => write!(f, "step {step}: {message}"),
            GuardError::Database {
                step: Some(s),
                message,
            } => write!(f, "step {s}: the database refused it: {message}"),
            GuardError::Database {
                step: None,
                message,
            } => write!(f, "the database refused it: {message}"),
        }
    }
}

enum Db {
    Pg(PgConnection),
    My(MySqlConnection),
}

/// The steps have run and every count matched; the target transaction is still open, its rows locked.
pub struct Prepared {
    db: Db,
    pub outcomes: Vec<StepOutcome>,
}

fn db_err(step: Option<usize>, e: sqlx::Error) -> GuardError {
    let message = match &e {
        sqlx::Error::Database(d) => d.message().to_string(),
        other => other.to_string(),
    };
    GuardError::Database { step, message }
}

async fn connect(t: &TargetConn) -> Result<Db, GuardError> {
    let timeout = Duration::from_secs(15);
    let fut = async {
        match t.dialect {
            SqlDialect::Postgres => {
                let o = sqlx::postgres::PgConnectOptions::new()
                    .host(&t.host)
                    .port(t.port)
                    .database(&t.database)
                    .username(&t.username)
                    .application_name("tianshu-dataop")
                    .disable_statement_logging();
                // An empty password means none (trust or peer authentication), not an empty one.
                let o = if t.password.0.is_empty() {
                    o
                } else {
                    o.password(&t.password.0)
                };
                o.connect().await.map(Db::Pg)
            }
            SqlDialect::MySql => {
                let o = sqlx::mysql::MySqlConnectOptions::new()
                    .host(&t.host)
                    .port(t.port)
                    .database(&t.database)
                    .username(&t.username)
                    .charset("utf8mb4")
                    .disable_statement_logging();
                let o = if t.password.0.is_empty() {
                    o
                } else {
                    o.password(&t.password.0)
                };
                o.connect().await.map(Db::My)
            }
        }
    };
    match tokio::time::timeout(timeout, fut).await {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(e)) => Err(GuardError::Connect(match &e {
            sqlx::Error::Database(d) => d.message().to_string(),
            other => other.to_string(),
        })),
        Err(_) => Err(GuardError::Connect("timed out after 15 s".into())),
    }
}

/// Whether a MySQL-protocol server is MariaDB (its timeout variables differ from MySQL's).
async fn is_mariadb(c: &mut MySqlConnection) -> bool {
    c.fetch_one(sqlx::query("SELECT VERSION()"))
        .await
        .ok()
        .and_then(|r| r.try_get::<String, _>(0).ok())
        .is_some_and(|v| v.to_lowercase().contains("mariadb"))
}

async fn begin(db: &mut Db, read_only: bool, l: Limits) -> Result<(), GuardError> {
    let stmt_ms = l.statement_timeout.as_millis();
    let lock_s = l.lock_timeout.as_secs().max(1);
    match db {
        Db::Pg(c) => {
            let mode = if read_only { " READ ONLY" } else { "" };
            let sql = format!(
                "BEGIN ISOLATION LEVEL READ COMMITTED{mode}; SET LOCAL statement_timeout = {stmt_ms}; SET LOCAL lock_timeout = {}",
                lock_s * 1000
            );
            c.execute(sqlx::raw_sql(&sql))
                .await
                .map_err(|e| db_err(None, e))?;
        }
        Db::My(c) => {
            let maria = is_mariadb(c).await;
            let timeout = if maria {
                format!(
                    "SET SESSION max_statement_time = {}",
                    stmt_ms as f64 / 1000.0
                )
            } else {
                format!("SET SESSION max_execution_time = {stmt_ms}")
            };
            for sql in [
                timeout,
                format!("SET SESSION innodb_lock_wait_timeout = {lock_s}"),
                if read_only {
                    "START TRANSACTION READ ONLY".to_string()
                } else {
                    "START TRANSACTION READ WRITE".to_string()
                },
            ] {
                c.execute(sqlx::raw_sql(&sql))
                    .await
                    .map_err(|e| db_err(None, e))?;
            }
        }
    }
    Ok(())
}

/// Rows of a text-protocol query as column → text (null for NULL), at most `cap` + 1 rows read.
async fn text_rows(
    db: &mut Db,
    sql: &str,
    cap: u64,
    step: Option<usize>,
) -> Result<Vec<Map<String, Value>>, GuardError> {
    use futures::TryStreamExt;
    let mut out = Vec::new();
    match db {
        Db::Pg(c) => {
            let mut s = c.fetch(sqlx::raw_sql(sql));
            while let Some(row) = s.try_next().await.map_err(|e| db_err(step, e))? {
                let mut m = Map::new();
                for (i, col) in row.columns().iter().enumerate() {
                    let v: Option<String> =
                        row.try_get_unchecked(i).map_err(|e| db_err(step, e))?;
                    m.insert(col.name().to_string(), v.map_or(Value::Null, Value::String));
                }
                out.push(m);
                if out.len() as u64 > cap {
                    break;
                }
            }
        }
        Db::My(c) => {
            let mut s = c.fetch(sqlx::raw_sql(sql));
            while let Some(row) = s.try_next().await.map_err(|e| db_err(step, e))? {
                let mut m = Map::new();
                for (i, col) in row.columns().iter().enumerate() {
                    let v: Option<Vec<u8>> =
                        row.try_get_unchecked(i).map_err(|e| db_err(step, e))?;
                    m.insert(
                        col.name().to_string(),
                        v.map_or(Value::Null, |b| {
                            Value::String(String::from_utf8_lossy(&b).into_owned())
                        }),
                    );
                }
                out.push(m);
                if out.len() as u64 > cap {
                    break;
                }
            }
        }
    }
    Ok(out)
}

async fn rollback(db: &mut Db) {
    // Best effort: dropping the connection rolls back too.
    let _ = match db {
        Db::Pg(c) => c.execute(sqlx::raw_sql("ROLLBACK")).await.map(|_| ()),
        Db::My(c) => c.execute(sqlx::raw_sql("ROLLBACK")).await.map(|_| ()),
    };
}

async fn close(db: Db) {
    let _ = match db {
        Db::Pg(c) => c.close().await,
        Db::My(c) => c.close().await,
    };
}

/// Runs every step in one transaction and stops before COMMIT; on any mismatch or error everything is rolled
/// back and the outcomes so far come back with the error.
pub async fn prepare(
    t: &TargetConn,
    steps: &[PlannedStep],
    l: Limits,
) -> Result<Prepared, (Vec<StepOutcome>, GuardError)> {
    let mut db = connect(t).await.map_err(|e| (Vec::new(), e))?;
    if let Err(e) = begin(&mut db, false, l).await {
        close(db).await;
        return Err((Vec::new(), e));
    }
    let mut outcomes = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        let n = i + 1;
        match run_step(&mut db, n, s, l).await {
            Ok(o) => outcomes.push(o),
            Err((o, e)) => {
                outcomes.extend(o);
                rollback(&mut db).await;
                close(db).await;
                return Err((outcomes, e));
            }
        }
    }
    Ok(Prepared { db, outcomes })
}

async fn run_step(
    db: &mut Db,
    n: usize,
    s: &PlannedStep,
    l: Limits,
) -> Result<StepOutcome, (Option<StepOutcome>, GuardError)> {
    let p = &s.parsed;
    let mut o = StepOutcome {
        step: n,
        verb: p.verb.as_str().into(),
        table: p.table.clone(),
        declared: s.expected_rows,
        locked: 0,
        affected: None,
        before: Vec::new(),
    };
    if let Some(pred) = &p.predicate {
        let lock_sql = format!("SELECT * FROM {} WHERE {pred} FOR UPDATE", p.table);
        let rows = text_rows(db, &lock_sql, l.max_rows_per_step, Some(n))
            .await
            .map_err(|e| (None, e))?;
        o.locked = rows.len() as u64;
        if o.locked > l.max_rows_per_step {
            return Err((
                Some(o),
                GuardError::Mismatch {
                    step: n,
                    message: format!(
                        "the predicate covers more than {} rows, the limit of one step",
                        l.max_rows_per_step
                    ),
                },
            ));
        }
        o.before = rows;
        if o.locked != s.expected_rows {
            let m = format!(
                "the predicate covers {} rows, {} declared",
                o.locked, s.expected_rows
            );
            return Err((
                Some(o),
                GuardError::Mismatch {
                    step: n,
                    message: m,
                },
            ));
        }
    }
    let affected = match db {
        Db::Pg(c) => c
            .execute(sqlx::query(&s.sql))
            .await
            .map(|r| r.rows_affected()),
        Db::My(c) => c
            .execute(sqlx::query(&s.sql))
            .await
            .map(|r| r.rows_affected()),
    };
    let affected = match affected {
        Ok(a) => a,
        Err(e) => return Err((Some(o), db_err(Some(n), e))),
    };
    o.affected = Some(affected);
    if affected != s.expected_rows {
        let m = format!("{affected} rows affected, {} declared", s.expected_rows);
        return Err((
            Some(o),
            GuardError::Mismatch {
                step: n,
                message: m,
            },
        ));
    }
    if p.verb != Verb::Insert && affected != o.locked {
        let m = format!("{affected} rows affected but {} rows were locked", o.locked);
        return Err((
            Some(o),
            GuardError::Mismatch {
                step: n,
                message: m,
            },
        ));
    }
    Ok(o)
}

impl Prepared {
    /// Commits the target transaction.
    pub async fn commit(mut self) -> Result<Vec<StepOutcome>, GuardError> {
        let r = match &mut self.db {
            Db::Pg(c) => c.execute(sqlx::raw_sql("COMMIT")).await.map(|_| ()),
            Db::My(c) => c.execute(sqlx::raw_sql("COMMIT")).await.map(|_| ()),
        };
        close(self.db).await;
        r.map_err(|e| db_err(None, e))?;
        Ok(self.outcomes)
    }

    /// Rolls the target transaction back (e.g. when the before-images could not be saved).
    pub async fn abort(mut self) {
        rollback(&mut self.db).await;
        close(self.db).await;
    }
}

/// Result of an extraction: rows as column → text, and whether the row cap cut it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Extracted {
    pub rows: Vec<Map<String, Value>>,
    pub truncated: bool,
}

/// Runs an extraction read-only with a row cap and a time cap (statement timeout).
pub async fn extract(
    t: &TargetConn,
    query: &str,
    row_cap: u64,
    l: Limits,
) -> Result<Extracted, GuardError> {
    let mut db = connect(t).await?;
    if let Err(e) = begin(&mut db, true, l).await {
        close(db).await;
        return Err(e);
    }
    let sql = format!(
        "SELECT * FROM ({}) AS tianshu_extract LIMIT {}",
        query.trim().trim_end_matches(';'),
        row_cap + 1
    );
    let r = text_rows(&mut db, &sql, row_cap, None).await;
    rollback(&mut db).await;
    close(db).await;
    let mut rows = r?;
    let truncated = rows.len() as u64 > row_cap;
    rows.truncate(row_cap as usize);
    Ok(Extracted { rows, truncated })
}
