//! Test support: each test gets its own database (a SQLite file in a temp dir, or a fresh
//! PostgreSQL schema), so tests run in parallel and never see each other's rows.
//!
//! PostgreSQL policy: with `CI=true` it is mandatory (default URL
//! `postgres://postgres@127.0.0.1:5432/test`) and an unreachable server fails the test; elsewhere
//! it runs when `TIANSHU_TEST_DATABASE_URL` is set and otherwise prints one skip line.
//!
//! MariaDB/MySQL (external databases that Tianshu reads or guards, never its own store) follows the
//! same policy with `TIANSHU_TEST_MARIADB_URL` (CI default `mysql://root@127.0.0.1:3306/test`):
//! [`mariadb`] gives each test a fresh database of its own.

use std::sync::atomic::{AtomicBool, Ordering};

use tianshu_store::{Store, StoreConfig};

/// Prefix of every schema the tests create; leftovers from earlier runs are dropped.
pub const SCHEMA_PREFIX: &str = "tianshu_t_";
const CI_DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
const CI_DEFAULT_MARIADB_URL: &str = "mysql://root@127.0.0.1:3306/test";

static SKIP_SAID: AtomicBool = AtomicBool::new(false);
static MARIADB_SKIP_SAID: AtomicBool = AtomicBool::new(false);
static MARIADB_SWEPT: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
static SWEPT: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();

/// Which backend a [`TestDb`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// An isolated database for one test; the SQLite file lives as long as this value.
pub struct TestDb {
    pub backend: Backend,
    pub config: StoreConfig,
    _dir: Option<tempfile::TempDir>,
}

/// True when running under CI (`CI=true`): every real peer is mandatory.
pub fn ci() -> bool {
    std::env::var("CI")
        .map(|v| v == "true" || v == "1")
        .unwrap_or(false)
}

/// The PostgreSQL URL to test against, if any.
pub fn postgres_url() -> Option<String> {
    match std::env::var("TIANSHU_TEST_DATABASE_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ if ci() => Some(CI_DEFAULT_URL.to_string()),
        _ => None,
    }
}

impl TestDb {
    /// A fresh SQLite database file.
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        TestDb {
            backend: Backend::Sqlite,
            config: StoreConfig::sqlite_in(dir.path()),
            _dir: Some(dir),
        }
    }

    /// A fresh PostgreSQL schema, or `None` (after one skip line) when PostgreSQL is not configured.
    pub async fn postgres() -> Option<TestDb> {
        let Some(url) = postgres_url() else {
            if !SKIP_SAID.swap(true, Ordering::SeqCst) {
                eprintln!("SKIP postgres: set TIANSHU_TEST_DATABASE_URL (or CI=true) to run the PostgreSQL half of the suite");
            }
            return None;
        };
        SWEPT.get_or_init(|| sweep_leftovers(url.clone())).await;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let schema = format!("{SCHEMA_PREFIX}{now}_{}", uuid::Uuid::new_v4().simple());
        let mut config = StoreConfig::new(url);
        config.pg_schema = Some(schema);
        Some(TestDb {
            backend: Backend::Postgres,
            config,
            _dir: None,
        })
    }

    /// Opens and migrates the store; panics with a clear message when the database is unreachable.
    pub async fn store(&self) -> Store {
        match Store::open(&self.config).await {
            Ok(s) => s,
            Err(e) => panic!(
                "cannot open the {:?} test database ({}): {e}",
                self.backend,
                tianshu_store::redact_url(&self.config.url)
            ),
        }
    }
}

/// SQLite always, plus PostgreSQL when configured: run a storage test once per entry.
pub async fn backends() -> Vec<TestDb> {
    let mut v = vec![TestDb::sqlite()];
    if let Some(pg) = TestDb::postgres().await {
        v.push(pg);
    }
    v
}

/// Drops test schemas older than two hours (CI reuses the machine's PostgreSQL between runs).
async fn sweep_leftovers(url: String) {
    use sqlx::Connection;
    let Ok(mut c) = sqlx::PgConnection::connect(&url).await else {
        return; // the test itself reports the unreachable server
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let names: Vec<(String,)> = sqlx::query_as(
        "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'tianshu\\_t\\_%'",
    )
    .fetch_all(&mut c)
    .await
    .unwrap_or_default();
    for (name,) in names {
        if is_leftover(&name, now) {
            let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE"))
                .execute(&mut c)
                .await;
        }
    }
}

/// The MariaDB/MySQL server URL to test against, if any.
pub fn mariadb_url() -> Option<String> {
    match std::env::var("TIANSHU_TEST_MARIADB_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ if ci() => Some(CI_DEFAULT_MARIADB_URL.to_string()),
        _ => None,
    }
}

/// A fresh MariaDB database for one test: its URL, or `None` (after one skip line) when MariaDB is
/// not configured. Panics when it is configured but unreachable, so CI fails instead of skipping.
pub async fn mariadb() -> Option<String> {
    use sqlx::Connection;
    let Some(url) = mariadb_url() else {
        if !MARIADB_SKIP_SAID.swap(true, Ordering::SeqCst) {
            eprintln!(
                "SKIP mariadb: set TIANSHU_TEST_MARIADB_URL (or CI=true) to run the MariaDB tests"
            );
        }
        return None;
    };
    MARIADB_SWEPT
        .get_or_init(|| sweep_mariadb(url.clone()))
        .await;
    let mut c = match sqlx::MySqlConnection::connect(&url).await {
        Ok(c) => c,
        Err(e) => panic!(
            "cannot reach the MariaDB test server ({}): {e}",
            tianshu_store::redact_url(&url)
        ),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let name = format!("{SCHEMA_PREFIX}{now}_{}", uuid::Uuid::new_v4().simple());
    if let Err(e) = sqlx::query(&format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
        .execute(&mut c)
        .await
    {
        panic!("cannot create MariaDB test database {name}: {e}");
    }
    // Same server and credentials, the new database as the path.
    let base = match url.rfind('/') {
        Some(i) if url[..i].contains("://") && i > url.find("://").unwrap_or(0) + 2 => &url[..i],
        _ => url.as_str(),
    };
    Some(format!("{base}/{name}"))
}

/// Drops MariaDB test databases older than two hours.
async fn sweep_mariadb(url: String) {
    use sqlx::Connection;
    let Ok(mut c) = sqlx::MySqlConnection::connect(&url).await else {
        return;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let names: Vec<(String,)> = sqlx::query_as(
        "SELECT CAST(schema_name AS CHAR) FROM information_schema.schemata WHERE schema_name LIKE 'tianshu\\_t\\_%'",
    )
    .fetch_all(&mut c)
    .await
    .unwrap_or_default();
    for (name,) in names {
        if is_leftover(&name, now) {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS `{name}`"))
                .execute(&mut c)
                .await;
        }
    }
}

/// Whether a test schema or database named `<prefix><unix seconds>_<uuid>` is over two hours old at `now`.
fn is_leftover(name: &str, now: i64) -> bool {
    let created: i64 = name
        .trim_start_matches(SCHEMA_PREFIX)
        .split('_')
        .next()
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    now - created > 2 * 3600
}
