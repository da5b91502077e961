//! Tianshu storage: one data-access layer over SQLite and PostgreSQL.
//!
//! Queries are written once in the common SQL subset (`$N` placeholders work on both) and
//! dispatched per backend by the `on_pool!` / `on_conn!` macros, so each query is type-checked
//! against both drivers without a trait object per table. Every write runs inside [`Store::write`]:
//! a PostgreSQL transaction, or on SQLite one savepoint inside a group-committed transaction of
//! the single writer connection (see [`sqlite_writer`]).

mod alert_keys;
pub mod alerts;
pub mod assessments;
pub mod assurance;
pub mod audit;
pub mod complaints;
pub mod credentials;
pub mod cutovers;
pub mod dataops;
pub mod delivery;
pub mod duty;
mod error;
pub mod identity;
pub mod incidents;
pub mod kpi;
pub mod leased_lines;
pub mod monitoring;
pub mod notify;
mod pcache;
pub mod policy;
pub mod problems;
pub mod provisioning;
pub mod raw;
pub mod recon;
pub mod release_prereqs;
pub mod reports;
pub mod security;
mod sqlite_config;
mod sqlite_writer;
pub mod time;
pub mod timers;
pub mod views;
mod walbuf;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgConnection, PgPool, SqliteConnection, SqlitePool};

pub use error::StoreError;

/// Result alias for storage calls.
pub type StoreResult<T> = Result<T, StoreError>;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// Which database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    Sqlite,
    Postgres,
}

enum Backend {
    Sqlite {
        read: SqlitePool,
        writer: sqlite_writer::Writer,
    },
    Postgres(PgPool),
}

/// The database connection of a [`Conn`].
pub enum Db<'a> {
    Sqlite(&'a mut SqliteConnection),
    Postgres(&'a mut PgConnection),
}

/// A connection inside a write transaction, handed to [`Store::write`] closures.
///
/// Timeline events are queued here and written as one multi-row INSERT when the closure has succeeded, still
/// inside its transaction (SQLite: its savepoint): a ticket write records half a dozen events, and every
/// statement is a round trip to the database thread, so this keeps the write path short. Nothing in a write
/// reads the events it is adding.
pub struct Conn<'a> {
    /// The connection. Use it through `on_conn!` (or [`Conn::db_mut`]), which first hands a locked raw
    /// SQLite handle back to sqlx.
    pub db: Db<'a>,
    pending_events: Vec<timers::NewEvent>,
    raw: Option<&'a mut raw::RawSqlite>,
}

impl<'a> Conn<'a> {
    /// A SQLite connection in a write transaction.
    pub fn sqlite(c: &'a mut SqliteConnection) -> Self {
        Conn {
            db: Db::Sqlite(c),
            pending_events: Vec::new(),
            raw: None,
        }
    }

    /// The SQLite writer's connection with its raw handle for synchronous statements.
    pub(crate) fn sqlite_writer(c: &'a mut SqliteConnection, raw: &'a mut raw::RawSqlite) -> Self {
        Conn {
            db: Db::Sqlite(c),
            pending_events: Vec::new(),
            raw: Some(raw),
        }
    }

    /// The connection for a sqlx statement (a raw SQLite handle held by this write is released first).
    pub fn db_mut(&mut self) -> &mut Db<'a> {
        if let Some(r) = self.raw.as_deref_mut() {
            r.release();
        }
        &mut self.db
    }

    /// On the SQLite writer: its raw handle, locked, for statements run in place (see [`raw`]); `None` on
    /// PostgreSQL, where callers use sqlx.
    pub async fn sqlite_raw(&mut self) -> StoreResult<Option<&mut raw::RawSqlite>> {
        match self.raw.as_deref_mut() {
            Some(r) => {
                r.lock().await?;
                Ok(Some(r))
            }
            None => Ok(None),
        }
    }

    /// A PostgreSQL connection in a write transaction.
    pub fn postgres(c: &'a mut PgConnection) -> Self {
        Conn {
            db: Db::Postgres(c),
            pending_events: Vec::new(),
            raw: None,
        }
    }

    /// Whether this is PostgreSQL (for row-locking clauses SQLite does not have).
    pub fn is_postgres(&self) -> bool {
        matches!(self.db, Db::Postgres(_))
    }

    pub(crate) fn queue_event(&mut self, e: timers::NewEvent) {
        self.pending_events.push(e);
    }

    /// Writes the queued events; called by the store after the write closure succeeded.
    pub(crate) async fn flush(&mut self) -> StoreResult<()> {
        let events = std::mem::take(&mut self.pending_events);
        timers::write_events(self, events).await
    }
}

/// Runs `$body` with `$c` bound to the concrete connection of a [`Conn`].
#[macro_export]
macro_rules! on_conn {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn.db_mut() {
            $crate::Db::Sqlite($c) => $body,
            $crate::Db::Postgres($c) => $body,
        }
    };
}

/// Runs `$body` with `$p` bound to the concrete read pool of a [`Store`].
macro_rules! on_pool {
    ($store:expr, $p:ident => $body:expr) => {
        match $store.backend() {
            $crate::PoolRef::Sqlite($p) => $body,
            $crate::PoolRef::Postgres($p) => $body,
        }
    };
}
pub(crate) use on_pool;

#[doc(hidden)]
pub enum PoolRef<'a> {
    Sqlite(&'a SqlitePool),
    Postgres(&'a PgPool),
}

/// Connection settings for [`Store::connect`].
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// `sqlite://path` / `sqlite:path` or `postgres://…`.
    pub url: String,
    /// PostgreSQL schema to use (tests isolate themselves this way); created if missing.
    pub pg_schema: Option<String>,
    /// Largest number of writes the SQLite writer folds into one transaction.
    pub sqlite_group_commit_max: usize,
    /// How long the SQLite writer, busy with concurrent callers, may keep gathering writes before it begins a
    /// batch (see `sqlite_writer::run`); zero never waits.
    pub sqlite_commit_wait: Duration,
    /// WAL pages after which a commit checkpoints (SQLite's `wal_autocheckpoint`, default 1,000 there).
    pub sqlite_wal_autocheckpoint: u32,
}

impl StoreConfig {
    /// Settings for a database URL with defaults for the rest.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            pg_schema: None,
            sqlite_group_commit_max: 256,
            sqlite_commit_wait: Duration::from_micros(400),
            // 10,000 pages (~40 MiB of WAL): a checkpoint copies each page changed since the last one once, however
            // often it changed, so checkpointing a tenth as often copies less than half the pages per alert under
            // alert intake (page writes 1.0–1.2 → 0.4–0.6 and page reads 0.9–1.0 → 0.3–0.4 per alert,
            // bench/RESULTS.md session 16). The WAL file keeps that size on disk; recovery after a crash reads it.
            sqlite_wal_autocheckpoint: 10_000,
        }
    }

    /// The SQLite file inside a data directory.
    pub fn sqlite_in(data_dir: &Path) -> Self {
        Self::new(format!(
            "sqlite://{}",
            data_dir.join("tianshu.db").display()
        ))
    }
}

/// The handle every layer above uses; cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Backend>,
}

impl Store {
    /// Connects (creating a SQLite file if needed) without migrating.
    pub async fn connect(cfg: &StoreConfig) -> StoreResult<Store> {
        let url = cfg.url.trim();
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let mut opts = PgConnectOptions::from_str(url)
                .map_err(|e| StoreError::Config(format!("database URL: {e}")))?;
            // One direct connection first: an unreachable server fails at once with its real
            // error instead of after the pool's acquire timeout.
            let mut c: PgConnection = sqlx::Connection::connect_with(&opts).await?;
            if let Some(schema) = &cfg.pg_schema {
                validate_ident(schema)?;
                sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))
                    .execute(&mut c)
                    .await?;
                opts = opts.options([("search_path", schema.as_str())]);
            }
            sqlx::Connection::close(c).await?;
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(opts)
                .await?;
            Backend::Postgres(pool)
        } else if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)
                .map_err(|e| StoreError::Config(format!("database URL: {e}")))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // FULL: a write acknowledged to a client survives power loss, not only kill -9.
                .synchronous(SqliteSynchronous::Full)
                // Savepoint journals and RETURNING's ephemeral tables in memory: with the default, a job of the
                // group-commit writer that touched more than 64 KiB of pages under its savepoint spilled the
                // journal to a temporary file (a file created, written and deleted inside every such write).
                .pragma("temp_store", "memory")
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            // The writer hands each commit's WAL frames to the kernel in one write (see `walbuf`); the readers
            // never write the WAL and open the database with the default VFS.
            walbuf::register().map_err(StoreError::Config)?;
            let mut writer_conn: SqliteConnection =
                sqlx::Connection::connect_with(&opts.clone().vfs(walbuf::VFS_NAME)).await?;
            // The writer alone gets a larger page cache than the default 2 MiB (readers keep it): under alert
            // intake its inserts land on random leaves of the dedup-key index, which were read back from the file
            // again and again. (A 32 MiB cache once cost more per commit than the reads it saved: every COMMIT
            // after a page split walked the cache's whole hash table. `pcache` removed that walk; a larger cache
            // has not been measured since.)
            sqlx::raw_sql("PRAGMA cache_size = -8192;")
                .execute(&mut writer_conn)
                .await?;
            // Only the writer commits, so only its setting matters (readers never checkpoint).
            sqlx::raw_sql(&format!(
                "PRAGMA wal_autocheckpoint = {};",
                cfg.sqlite_wal_autocheckpoint
            ))
            .execute(&mut writer_conn)
            .await?;
            let read = SqlitePoolOptions::new()
                .max_connections(8)
                .connect_with(opts)
                .await?;
            let writer = sqlite_writer::Writer::spawn(
                writer_conn,
                cfg.sqlite_group_commit_max,
                cfg.sqlite_commit_wait,
            );
            Backend::Sqlite { read, writer }
        } else {
            return Err(StoreError::Config(format!(
                "database URL must start with sqlite: or postgres:// (got '{}')",
                redact_url(url)
            )));
        };
        Ok(Store {
            inner: Arc::new(backend),
        })
    }

    /// Connects and applies pending migrations.
    pub async fn open(cfg: &StoreConfig) -> StoreResult<Store> {
        let store = Self::connect(cfg).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Which backend this store uses.
    pub fn kind(&self) -> BackendKind {
        match &*self.inner {
            Backend::Sqlite { .. } => BackendKind::Sqlite,
            Backend::Postgres(_) => BackendKind::Postgres,
        }
    }

    #[doc(hidden)]
    pub fn backend(&self) -> PoolRef<'_> {
        match &*self.inner {
            Backend::Sqlite { read, .. } => PoolRef::Sqlite(read),
            Backend::Postgres(p) => PoolRef::Postgres(p),
        }
    }

    /// Applies all pending migrations of this backend.
    pub async fn migrate(&self) -> StoreResult<()> {
        match &*self.inner {
            Backend::Sqlite { read, .. } => {
                // With foreign keys off, as SQLite documents for schema changes: a migration that rebuilds a table
                // (0030) must not have the references to it rewritten or checked half-way. They are checked once
                // all migrations ran; the pragma cannot change inside the migrations' transactions.
                let mut c = read.acquire().await?;
                sqlx::raw_sql("PRAGMA foreign_keys = OFF")
                    .execute(&mut *c)
                    .await?;
                let ran = SQLITE_MIGRATIONS.run(&mut *c).await;
                let broken: Result<Vec<(String, i64)>, sqlx::Error> =
                    sqlx::query_as("SELECT \"table\", rowid FROM pragma_foreign_key_check LIMIT 5")
                        .fetch_all(&mut *c)
                        .await;
                // Back on before anything else can use this pooled connection; if even that fails, it is closed
                // instead of going back to the pool.
                if let Err(e) = sqlx::raw_sql("PRAGMA foreign_keys = ON")
                    .execute(&mut *c)
                    .await
                {
                    c.detach();
                    return Err(e.into());
                }
                ran?;
                let broken = broken?;
                if !broken.is_empty() {
                    return Err(StoreError::Migrate(format!(
                        "foreign keys broken after migrating, e.g. (table, rowid) {broken:?}"
                    )));
                }
            }
            Backend::Postgres(p) => POSTGRES_MIGRATIONS.run(p).await?,
        }
        Ok(())
    }

    /// The database answers a trivial query.
    pub async fn ping(&self) -> StoreResult<()> {
        on_pool!(self, p => sqlx::query("SELECT 1").execute(p).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Number of migrations known to the binary that the database has not applied.
    pub async fn pending_migrations(&self) -> StoreResult<usize> {
        let migrator = match self.kind() {
            BackendKind::Sqlite => &SQLITE_MIGRATIONS,
            BackendKind::Postgres => &POSTGRES_MIGRATIONS,
        };
        let applied: Vec<i64> = on_pool!(self, p => sqlx::query_scalar(
            "SELECT version FROM _sqlx_migrations WHERE success = TRUE").fetch_all(p).await)
        .unwrap_or_default();
        Ok(migrator
            .iter()
            .filter(|m| !applied.contains(&m.version))
            .count())
    }

    /// Runs `f` in one transaction and returns its value once the transaction is durable.
    ///
    /// If `f` fails, none of its changes stay. On SQLite, concurrent calls are batched into one
    /// transaction (group commit), each isolated by its own savepoint.
    pub async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'a, 'b> FnOnce(&'a mut Conn<'b>) -> BoxFuture<'a, StoreResult<T>> + Send + 'static,
    {
        match &*self.inner {
            Backend::Sqlite { writer, .. } => writer.submit(f).await,
            Backend::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let out = {
                    let mut conn = Conn::postgres(&mut tx);
                    match f(&mut conn).await {
                        Ok(v) => conn.flush().await.map(|_| v),
                        Err(e) => Err(e),
                    }
                };
                match out {
                    Ok(v) => {
                        tx.commit().await?;
                        Ok(v)
                    }
                    Err(e) => {
                        tx.rollback().await.ok();
                        Err(e)
                    }
                }
            }
        }
    }

    /// Closes pools and stops the SQLite writer after draining queued writes.
    pub async fn close(&self) {
        match &*self.inner {
            Backend::Sqlite { read, writer } => {
                writer.shutdown().await;
                read.close().await;
            }
            Backend::Postgres(p) => p.close().await,
        }
    }
}

/// A PostgreSQL schema name Tianshu accepts: 1–63 ASCII letters, digits and underscores (it is quoted into DDL).
pub fn valid_schema_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 63 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn validate_ident(s: &str) -> StoreResult<()> {
    if valid_schema_name(s) {
        Ok(())
    } else {
        Err(StoreError::Config(format!("invalid schema name '{s}'")))
    }
}

/// The URL with any password replaced, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}://{}:***{}", &url[..s], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}
