//! Database inputs (PostgreSQL, MySQL/MariaDB) and the database-to-database mode.
//!
//! Every column type that can be compared has ONE canonical SQL text expression per database
//! ([`Kind::canon`]), chosen so that PostgreSQL and MariaDB produce the same text for equal values:
//! decimals without trailing zeros, timestamps as `YYYY-MM-DD HH:MM:SS.ffffff` (UTC for
//! `timestamptz` / MariaDB `TIMESTAMP`), booleans as 0/1, bytes as lower-case hex, text as
//! UTF-8. A type without a canonical form (floating point, `time`, geometry…) is an error naming
//! the column — never a silent fallback.
//!
//! * [`export`] streams a table or query through these expressions into a temporary CSV file
//!   for the file engine (`mode = "file"` with a database side).
//! * [`bisect`] is `mode = "db"`: per key range, `count(*)` and the sum of a 60-bit slice of
//!   each row's MD5 are computed inside each database and compared; mismatching ranges are split
//!   and only small mismatching ranges are downloaded and compared row by row. One integer key
//!   splits by arithmetic; text and composite keys split at sampled key values ([`ordered`]).

mod bisect;
mod export;
mod ordered;

use futures::TryStreamExt;
use sqlx::{Column, ConnectOptions, Connection, Executor, Row, Statement, TypeInfo};

pub use bisect::{run_db, DbStats};
pub use export::export_side;

/// Run any job: `mode = "db"` bisects inside both databases; file mode streams database sides
/// (if any) to temporary files and runs the file engine on a blocking thread.
pub async fn run_any(
    job: &crate::JobSpec,
    opts: crate::RunOptions,
) -> Result<(crate::Report, Option<DbStats>), ReconError> {
    match job.mode {
        crate::ReconMode::Db => run_db(job, opts).await.map(|(r, s)| (r, Some(s))),
        crate::ReconMode::File => export::run_file_mode(job, opts).await.map(|r| (r, None)),
    }
}

use crate::job::{ColumnRule, Side, SideSpec};
use crate::ReconError;

/// Which database server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    MariaDb,
}

/// The comparable column kinds (each has one canonical text form).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Integers of any width: decimal digits.
    Int,
    /// Booleans: `0` / `1` (MariaDB `BOOLEAN` is `TINYINT(1)` and falls under [`Kind::Int`]).
    Bool,
    /// Exact decimals: no trailing zeros after the point, no point for whole numbers (1.50 → 1.5).
    Decimal,
    /// Character data: the UTF-8 text.
    Text,
    /// Dates: `YYYY-MM-DD`.
    Date,
    /// Timestamps: `YYYY-MM-DD HH:MM:SS.ffffff` (time-zone aware types in UTC).
    Timestamp,
    /// Time-zone aware timestamps (PostgreSQL `timestamptz`, MariaDB `TIMESTAMP`), as UTC.
    TimestampTz,
    /// Binary strings: lower-case hex.
    Bytes,
}

impl Kind {
    /// The kind of a server type name (as sqlx reports it), or None when it has no canonical form.
    pub fn of(dialect: Dialect, type_name: &str) -> Option<Kind> {
        let t = type_name.to_ascii_uppercase();
        let t = t.trim_end_matches(" UNSIGNED");
        Some(match dialect {
            Dialect::Postgres => match t {
                "INT2" | "INT4" | "INT8" | "SMALLINT" | "INT" | "INTEGER" | "BIGINT" => Kind::Int,
                "BOOL" | "BOOLEAN" => Kind::Bool,
                "NUMERIC" | "DECIMAL" => Kind::Decimal,
                "TEXT" | "VARCHAR" | "BPCHAR" | "CHAR" | "NAME" | "UUID" | "CITEXT" => Kind::Text,
                "DATE" => Kind::Date,
                "TIMESTAMP" => Kind::Timestamp,
                "TIMESTAMPTZ" => Kind::TimestampTz,
                "BYTEA" => Kind::Bytes,
                _ => return None,
            },
            Dialect::MariaDb => match t {
                "TINYINT" | "SMALLINT" | "MEDIUMINT" | "INT" | "BIGINT" | "YEAR" | "BOOLEAN" => {
                    Kind::Int
                }
                "DECIMAL" => Kind::Decimal,
                "CHAR" | "VARCHAR" | "TINYTEXT" | "TEXT" | "MEDIUMTEXT" | "LONGTEXT" | "ENUM"
                | "SET" | "JSON" => Kind::Text,
                "DATE" => Kind::Date,
                "DATETIME" => Kind::Timestamp,
                "TIMESTAMP" => Kind::TimestampTz,
                "BINARY" | "VARBINARY" | "TINYBLOB" | "BLOB" | "MEDIUMBLOB" | "LONGBLOB" => {
                    Kind::Bytes
                }
                _ => return None,
            },
        })
    }

    /// The canonical text expression of column expression `c` (NULL stays NULL). `scale` rounds
    /// numbers half away from zero first (both servers round exact decimals that way).
    pub fn canon(self, d: Dialect, c: &str, scale: Option<u32>) -> String {
        match (d, self) {
            (Dialect::Postgres, Kind::Int) => format!("({c})::text"),
            (Dialect::Postgres, Kind::Bool) => format!("(({c})::int)::text"),
            (Dialect::Postgres, Kind::Decimal) => match scale {
                Some(s) => format!("trim_scale(round({c}, {s}))::text"),
                None => format!("trim_scale({c})::text"),
            },
            (Dialect::Postgres, Kind::Text) => format!("({c})::text"),
            (Dialect::Postgres, Kind::Date) => format!("to_char({c}, 'YYYY-MM-DD')"),
            (Dialect::Postgres, Kind::Timestamp) => {
                format!("to_char({c}, 'YYYY-MM-DD HH24:MI:SS.US')")
            }
            (Dialect::Postgres, Kind::TimestampTz) => {
                format!("to_char(({c}) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')")
            }
            (Dialect::Postgres, Kind::Bytes) => format!("encode({c}, 'hex')"),
            (Dialect::MariaDb, Kind::Int | Kind::Bool) => format!("CAST({c} AS CHAR)"),
            (Dialect::MariaDb, Kind::Decimal) => {
                let v = match scale {
                    Some(s) => format!("ROUND({c}, {s})"),
                    None => c.to_string(),
                };
                // Strip trailing zeros (and a trailing point); zero (also -0.00) is "0".
                format!(
                    "IF({v} = 0, '0', IF(LOCATE('.', CAST({v} AS CHAR)) > 0, \
                     TRIM(TRAILING '.' FROM TRIM(TRAILING '0' FROM CAST({v} AS CHAR))), \
                     CAST({v} AS CHAR)))"
                )
            }
            (Dialect::MariaDb, Kind::Text) => format!("CONVERT({c} USING utf8mb4)"),
            (Dialect::MariaDb, Kind::Date) => format!("DATE_FORMAT({c}, '%Y-%m-%d')"),
            (Dialect::MariaDb, Kind::Timestamp | Kind::TimestampTz) => {
                format!("DATE_FORMAT({c}, '%Y-%m-%d %H:%i:%s.%f')")
            }
            (Dialect::MariaDb, Kind::Bytes) => format!("LOWER(HEX({c}))"),
        }
    }
}

/// One column of a database input.
#[derive(Debug, Clone)]
pub(crate) struct DbCol {
    /// Name in the job (after `rename`).
    pub name: String,
    /// Quoted source identifier.
    pub ident: String,
    /// Server type name.
    pub ty: String,
    /// Canonical kind (None: no canonical form).
    pub kind: Option<Kind>,
}

/// An open database input (one connection; in db mode inside a read-only snapshot transaction).
pub(crate) struct DbSide {
    pub side: Side,
    pub dialect: Dialect,
    pub conn: Conn,
    /// `FROM` target: a quoted table or `(query) AS tianshu_q`.
    pub from: String,
    /// Table name parts when the input is a table (schema, name).
    pub table: Option<(Option<String>, String)>,
    pub cols: Vec<DbCol>,
    /// Inside the snapshot transaction (db mode), ended by [`DbSide::close`].
    snapshot: bool,
}

pub(crate) enum Conn {
    Pg(sqlx::PgConnection),
    My(sqlx::MySqlConnection),
}

/// Replace the password of any URL-looking text and the URL itself (never print credentials).
pub(crate) fn scrub(msg: &str, url: &str) -> String {
    let mut m = msg.to_string();
    if !url.is_empty() {
        m = m.replace(url, &redact_url(url));
    }
    if let Some(pw) = password_of(url) {
        if !pw.is_empty() {
            m = m.replace(&pw, "***");
        }
    }
    m
}

fn password_of(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let auth = rest.split('/').next()?.rsplit_once('@')?.0;
    Some(auth.split_once(':')?.1.to_string())
}

/// `scheme://user:***@host/db`.
pub fn redact_url(url: &str) -> String {
    match password_of(url) {
        Some(pw) if !pw.is_empty() => url.replacen(&format!(":{pw}@"), ":***@", 1),
        _ => url.to_string(),
    }
}

/// What a message about a side must never show: its URL (with the password in it) or a password given in code.
struct Secret {
    url: String,
    password: String,
}

fn db_err(side: Side, secret: &Secret, what: &str, e: impl std::fmt::Display) -> ReconError {
    let mut msg = scrub(&format!("{what}: {e}"), &secret.url);
    if !secret.password.is_empty() {
        msg = msg.replace(&secret.password, "***");
    }
    ReconError::Database {
        side: side.name().into(),
        msg,
    }
}

/// Where a side connects: a URL (as given, and as the driver takes it: `mariadb://` becomes `mysql://`), or
/// settings given in code.
enum Target {
    Url(String, String),
    Settings(crate::job::DbConnect),
}

impl Target {
    fn secret(&self) -> Secret {
        match self {
            Target::Url(_, given) => Secret {
                url: given.clone(),
                password: String::new(),
            },
            Target::Settings(c) => Secret {
                url: String::new(),
                password: c.password.clone(),
            },
        }
    }

    async fn connect(&self, d: Dialect, side: Side, secret: &Secret) -> Result<Conn, ReconError> {
        let timeout = match self {
            Target::Settings(c) => c.connect_timeout,
            Target::Url(..) => None,
        };
        // Checksum queries are long by design: no slow-statement log lines.
        let cannot = |e: sqlx::Error| db_err(side, secret, "cannot connect", e);
        let fut = async {
            match (d, self) {
                (Dialect::Postgres, Target::Url(u, _)) => u
                    .parse::<sqlx::postgres::PgConnectOptions>()
                    .map_err(|e| db_err(side, secret, "invalid URL", e))?
                    .disable_statement_logging()
                    .connect()
                    .await
                    .map(Conn::Pg)
                    .map_err(cannot),
                (Dialect::MariaDb, Target::Url(u, _)) => u
                    .parse::<sqlx::mysql::MySqlConnectOptions>()
                    .map_err(|e| db_err(side, secret, "invalid URL", e))?
                    .disable_statement_logging()
                    .connect()
                    .await
                    .map(Conn::My)
                    .map_err(cannot),
                (Dialect::Postgres, Target::Settings(c)) => {
                    let mut o = sqlx::postgres::PgConnectOptions::new()
                        .host(&c.host)
                        .port(c.port)
                        .database(&c.database)
                        .username(&c.username)
                        .application_name("tianshu-recon")
                        .disable_statement_logging();
                    if c.read_only {
                        o = o.options([("default_transaction_read_only", "on")]);
                    }
                    if !c.password.is_empty() {
                        o = o.password(&c.password);
                    }
                    o.connect().await.map(Conn::Pg).map_err(cannot)
                }
                (Dialect::MariaDb, Target::Settings(c)) => {
                    let mut o = sqlx::mysql::MySqlConnectOptions::new()
                        .host(&c.host)
                        .port(c.port)
                        .database(&c.database)
                        .username(&c.username)
                        .disable_statement_logging();
                    if !c.password.is_empty() {
                        o = o.password(&c.password);
                    }
                    o.connect().await.map(Conn::My).map_err(cannot)
                }
            }
        };
        match timeout {
            Some(t) => tokio::time::timeout(t, fut).await.map_err(|_| {
                db_err(
                    side,
                    secret,
                    "cannot connect",
                    format!("no connection within {} s", t.as_secs_f64()),
                )
            })?,
            None => fut.await,
        }
    }
}

/// The URL of a database side: from `url_env` or `url_file` (exactly one).
pub(crate) fn side_url(spec: &SideSpec, side: Side) -> Result<String, ReconError> {
    let n = side.name();
    match (&spec.url_env, &spec.url_file) {
        (Some(_), Some(_)) => Err(ReconError::Job {
            field: format!("{n}.url_env"),
            msg: "give url_env or url_file, not both".into(),
        }),
        (Some(var), None) => match std::env::var(var) {
            Ok(u) if !u.trim().is_empty() => Ok(u.trim().to_string()),
            _ => Err(ReconError::Job {
                field: format!("{n}.url_env"),
                msg: format!("environment variable {var} is not set"),
            }),
        },
        (None, Some(p)) => {
            let text = std::fs::read_to_string(p).map_err(|e| ReconError::Job {
                field: format!("{n}.url_file"),
                msg: format!("{}: {e}", p.display()),
            })?;
            match text.lines().next().map(str::trim) {
                Some(u) if !u.is_empty() => Ok(u.to_string()),
                _ => Err(ReconError::Job {
                    field: format!("{n}.url_file"),
                    msg: format!("{}: the first line must be the database URL", p.display()),
                }),
            }
        }
        (None, None) => Err(ReconError::Job {
            field: format!("{n}.url_env"),
            msg: "a database input needs url_env or url_file".into(),
        }),
    }
}

fn quote_ident(d: Dialect, name: &str) -> String {
    match d {
        Dialect::Postgres => format!("\"{}\"", name.replace('"', "\"\"")),
        Dialect::MariaDb => format!("`{}`", name.replace('`', "``")),
    }
}

/// Quote `name` or `schema.name`.
fn split_table(t: &str) -> (Option<String>, String) {
    match t.split_once('.') {
        Some((s, n)) => (Some(s.to_string()), n.to_string()),
        None => (None, t.to_string()),
    }
}

impl DbSide {
    /// Connect, check the input (table or query) and read its column types.
    pub(crate) async fn open(
        spec: &SideSpec,
        side: Side,
        snapshot: bool,
    ) -> Result<DbSide, ReconError> {
        let n = side.name();
        let (dialect, target) = match &spec.connect {
            Some(c) => {
                if spec.url_env.is_some() || spec.url_file.is_some() {
                    return Err(ReconError::Job {
                        field: format!("{n}.url_env"),
                        msg: "this side's connection is given in code; no url_env or url_file"
                            .into(),
                    });
                }
                (c.dialect, Target::Settings(c.clone()))
            }
            None => {
                let url = side_url(spec, side)?;
                if url.starts_with("postgres://") || url.starts_with("postgresql://") {
                    (Dialect::Postgres, Target::Url(url.clone(), url))
                } else if let Some(rest) = url.strip_prefix("mariadb://") {
                    (
                        Dialect::MariaDb,
                        Target::Url(format!("mysql://{rest}"), url),
                    )
                } else if url.starts_with("mysql://") {
                    (Dialect::MariaDb, Target::Url(url.clone(), url))
                } else {
                    return Err(ReconError::Job {
                        field: format!(
                            "{n}.{}",
                            if spec.url_env.is_some() {
                                "url_env"
                            } else {
                                "url_file"
                            }
                        ),
                        msg: "the URL must start with postgres://, mysql:// or mariadb://".into(),
                    });
                }
            }
        };
        let secret = target.secret();
        let (table, from) = match (&spec.table, &spec.query) {
            (Some(_), Some(_)) => {
                return Err(ReconError::Job {
                    field: format!("{n}.query"),
                    msg: "give table or query, not both".into(),
                })
            }
            (Some(t), None) => {
                if t.trim().is_empty() || t.split('.').count() > 2 {
                    return Err(ReconError::Job {
                        field: format!("{n}.table"),
                        msg: "must be name or schema.name".into(),
                    });
                }
                let (s, t) = split_table(t.trim());
                let q = match &s {
                    Some(s) => format!("{}.{}", quote_ident(dialect, s), quote_ident(dialect, &t)),
                    None => quote_ident(dialect, &t),
                };
                (Some((s, t)), q)
            }
            (None, Some(q)) => {
                let q = q.trim().trim_end_matches(';');
                if q.is_empty() {
                    return Err(ReconError::Job {
                        field: format!("{n}.query"),
                        msg: "empty query".into(),
                    });
                }
                (None, format!("({q}) AS tianshu_q"))
            }
            (None, None) => {
                return Err(ReconError::Job {
                    field: format!("{n}.table"),
                    msg: "a database input needs table or query".into(),
                })
            }
        };
        let mut conn = target.connect(dialect, side, &secret).await?;
        if matches!(&target, Target::Settings(c) if c.read_only) && dialect == Dialect::MariaDb {
            // PostgreSQL got default_transaction_read_only at connect; MariaDB has no such option.
            conn.execute("SET SESSION TRANSACTION READ ONLY")
                .await
                .map_err(|e| db_err(side, &secret, "session setup", e))?;
        }
        // Session: UTC for MariaDB TIMESTAMP, a consistent read-only snapshot in db mode.
        let setup: &[&str] = match (dialect, snapshot) {
            (Dialect::Postgres, true) => &[
                "SET TIME ZONE 'UTC'",
                "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
            ],
            (Dialect::Postgres, false) => &["SET TIME ZONE 'UTC'"],
            (Dialect::MariaDb, true) => &[
                "SET time_zone = '+00:00'",
                "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
                "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY",
            ],
            (Dialect::MariaDb, false) => &["SET time_zone = '+00:00'"],
        };
        for s in setup {
            conn.execute(s)
                .await
                .map_err(|e| db_err(side, &secret, "session setup", e))?;
        }
        let probe = format!("SELECT * FROM {from}");
        let described = conn
            .columns(&probe)
            .await
            .map_err(|e| db_err(side, &secret, &format!("cannot read {}", what(spec)), e))?;
        let mut cols = Vec::with_capacity(described.len());
        for (name, ty) in described {
            let job_name = spec.rename.get(&name).cloned().unwrap_or(name.clone());
            if cols.iter().any(|c: &DbCol| c.name == job_name) {
                return Err(ReconError::Job {
                    field: format!("{n}.{}", if table.is_some() { "table" } else { "query" }),
                    msg: format!("column {job_name:?} appears twice"),
                });
            }
            cols.push(DbCol {
                name: job_name,
                ident: quote_ident(dialect, &name),
                kind: Kind::of(dialect, &ty),
                ty,
            });
        }
        Ok(DbSide {
            side,
            dialect,
            conn,
            from,
            table,
            cols,
            snapshot,
        })
    }

    pub(crate) fn col(&self, name: &str) -> Option<&DbCol> {
        self.cols.iter().find(|c| c.name == name)
    }

    /// The canonical expression of a column, or an error naming it when its type has none.
    pub(crate) fn canon(
        &self,
        name: &str,
        rule: Option<&ColumnRule>,
    ) -> Result<String, ReconError> {
        let c = self.col(name).ok_or_else(|| ReconError::Job {
            field: format!("{}.columns", self.side.name()),
            msg: format!("no column {name:?}"),
        })?;
        let kind = c.kind.ok_or_else(|| ReconError::Job {
            field: format!("{}.{name}", self.side.name()),
            msg: format!(
                "column {name:?} has type {} which has no canonical form for comparison across \
                 databases (cast it in a query: numeric for floating point, text for others)",
                c.ty
            ),
        })?;
        let scale = rule.and_then(|r| r.scale);
        if scale.is_some() && !matches!(kind, Kind::Int | Kind::Decimal) {
            return Err(ReconError::Job {
                field: format!("normalize.{name}.scale"),
                msg: format!("only for numeric columns ({} is {})", name, c.ty),
            });
        }
        Ok(kind.canon(self.dialect, &c.ident, scale))
    }

    pub(crate) fn err(&self, what: &str, e: impl std::fmt::Display) -> ReconError {
        ReconError::Database {
            side: self.side.name().into(),
            msg: format!("{what}: {e}"),
        }
    }

    /// All rows of a query whose columns are all text (cast in SQL).
    pub(crate) async fn rows(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>, ReconError> {
        let r = match &mut self.conn {
            Conn::Pg(c) => sqlx::query(sql).fetch_all(&mut *c).await.map(|rows| {
                rows.iter()
                    .map(|r| (0..r.len()).map(|i| text(r, i)).collect())
                    .collect()
            }),
            Conn::My(c) => sqlx::query(sql).fetch_all(&mut *c).await.map(|rows| {
                rows.iter()
                    .map(|r| (0..r.len()).map(|i| text_my(r, i)).collect())
                    .collect()
            }),
        };
        r.map_err(|e| self.err("query failed", e))
    }

    /// Stream the rows of a text-only query into `f` (rows are not collected).
    pub(crate) async fn for_each(
        &mut self,
        sql: &str,
        mut f: impl FnMut(&[Option<String>]) -> Result<(), ReconError>,
    ) -> Result<(), ReconError> {
        let side = self.side;
        let err = |e: sqlx::Error| ReconError::Database {
            side: side.name().into(),
            msg: format!("query failed: {e}"),
        };
        let mut buf: Vec<Option<String>> = Vec::new();
        match &mut self.conn {
            Conn::Pg(c) => {
                let mut s = sqlx::query(sql).fetch(&mut *c);
                while let Some(r) = s.try_next().await.map_err(err)? {
                    buf.clear();
                    buf.extend((0..r.len()).map(|i| text(&r, i)));
                    f(&buf)?;
                }
            }
            Conn::My(c) => {
                let mut s = sqlx::query(sql).fetch(&mut *c);
                while let Some(r) = s.try_next().await.map_err(err)? {
                    buf.clear();
                    buf.extend((0..r.len()).map(|i| text_my(&r, i)));
                    f(&buf)?;
                }
            }
        }
        Ok(())
    }

    /// End the snapshot transaction (if any) and close.
    pub(crate) async fn close(self) {
        // Only a snapshot has a transaction to end (a bare ROLLBACK makes PostgreSQL log a warning notice).
        match self.conn {
            Conn::Pg(mut c) => {
                if self.snapshot {
                    let _ = c.execute("ROLLBACK").await;
                }
                let _ = c.close().await;
            }
            Conn::My(mut c) => {
                if self.snapshot {
                    let _ = c.execute("ROLLBACK").await;
                }
                let _ = c.close().await;
            }
        }
    }
}

fn what(spec: &SideSpec) -> String {
    match &spec.table {
        Some(t) => format!("table {t}"),
        None => "the query".into(),
    }
}

fn text(r: &sqlx::postgres::PgRow, i: usize) -> Option<String> {
    r.try_get_unchecked::<Option<String>, _>(i).ok().flatten()
}

fn text_my(r: &sqlx::mysql::MySqlRow, i: usize) -> Option<String> {
    match r.try_get_unchecked::<Option<String>, _>(i) {
        Ok(v) => v,
        Err(_) => r
            .try_get_unchecked::<Option<Vec<u8>>, _>(i)
            .ok()
            .flatten()
            .map(|b| String::from_utf8_lossy(&b).into_owned()),
    }
}

impl Conn {
    async fn execute(&mut self, sql: &str) -> Result<(), sqlx::Error> {
        match self {
            Conn::Pg(c) => c.execute(sql).await.map(|_| ()),
            Conn::My(c) => c.execute(sql).await.map(|_| ()),
        }
    }

    /// Column names and server type names of a query (prepared, not run).
    async fn columns(&mut self, sql: &str) -> Result<Vec<(String, String)>, sqlx::Error> {
        Ok(match self {
            Conn::Pg(c) => {
                let st = c.prepare(sql).await?;
                st.columns()
                    .iter()
                    .map(|c| (c.name().to_string(), c.type_info().name().to_string()))
                    .collect()
            }
            Conn::My(c) => {
                let st = c.prepare(sql).await?;
                st.columns()
                    .iter()
                    .map(|c| (c.name().to_string(), c.type_info().name().to_string()))
                    .collect()
            }
        })
    }
}
