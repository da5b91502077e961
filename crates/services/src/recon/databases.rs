//! Database inputs of reconciliation runs (issue 6): a side of a pack job may name a database registered in the
//! server instead of a file (`left_db` / `right_db` with a table or a query), and `mode = "db"` compares two such
//! databases by checksum bisection inside them.
//!
//! The registry is the one of the monitored databases (issue 5, `mon_databases`, console 监控 → 数据库, API
//! `/api/v1/monitoring/databases`), referred to by its registered name. It fits a reconciliation: those databases
//! are *read* (monitoring points run read-only queries), their passwords are sealed with the credentials key
//! (`CredentialColumn::MonDatabase`) and never returned by the API. The data-operation targets of issue 7 are the
//! other registry, but they hold accounts that change production data under approval; a reconciliation, which
//! only reads, must not borrow them.
//!
//! The password is opened here, at run time, only to hand the connection settings to the engine in memory
//! ([`tianshu_recon::DbConnect`], read-only session). It is never logged, never written to a URL, an environment
//! variable, a file or the run record, and the engine replaces it with `***` in any message.

use std::time::Duration;

use tianshu_core::policy::InputSource;
use tianshu_recon::db::Dialect;
use tianshu_recon::DbConnect;
use tianshu_store::credentials::CredentialColumn;

use crate::Platform;

/// A side read from a registered database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbInput {
    /// The database's registered name.
    pub db: String,
    /// `name` or `schema.name`.
    pub table: Option<String>,
    /// A SELECT (instead of a table).
    pub query: Option<String>,
}

impl DbInput {
    /// The side of a declared input, if it is a database (`{date}` already resolved by the caller).
    pub fn from_source(s: InputSource) -> Option<DbInput> {
        match s {
            InputSource::Db { db, table, query } => Some(DbInput { db, table, query }),
            InputSource::File { .. } => None,
        }
    }

    /// How a run records this side in place of a file path: `db:<name>/<table>` or `db:<name>/(<query>)`. The
    /// registered name and the table or query text, never a URL or a credential.
    pub fn label(&self) -> String {
        match (&self.table, &self.query) {
            (Some(t), _) => format!("db:{}/{}", self.db, t.trim()),
            (None, Some(q)) => format!("db:{}/({})", self.db, q.trim()),
            (None, None) => format!("db:{}", self.db),
        }
    }
}

/// The connection settings of the registered database `name`, its password opened with the credentials key. The
/// error names the database and what to do, never the password.
pub(crate) async fn connect(p: &Platform, name: &str) -> Result<DbConnect, String> {
    let dbs = p
        .store
        .mon_databases()
        .await
        .map_err(|e| format!("cannot read the registered databases: {e}"))?;
    let Some(db) = dbs.into_iter().find(|d| d.name == name) else {
        return Err(
            "no database is registered under this name (register it under 监控 → 数据库, \
                    POST /api/v1/monitoring/databases)"
                .into(),
        );
    };
    let dialect = match db.kind.as_str() {
        "postgres" => Dialect::Postgres,
        "mysql" => Dialect::MariaDb,
        other => return Err(format!("registered with an unknown kind {other:?}")),
    };
    let port = u16::try_from(db.port).map_err(|_| format!("invalid port {}", db.port))?;
    let stored = p
        .store
        .database_password(db.id)
        .await
        .map_err(|e| format!("cannot read the stored password: {e}"))?;
    let password = p
        .credentials
        .open(
            CredentialColumn::MonDatabase,
            &stored,
            &format!("the password of database {}", db.id),
        )
        .map_err(|e| e.to_string())?;
    // The registry's connection timeout (monitoring.toml [points].connect_timeout) bounds the wait, so an
    // unreachable server fails the run instead of holding the scheduler.
    let timeout = p
        .policy
        .current()
        .pack
        .monitoring
        .points
        .connect_timeout
        .seconds();
    Ok(DbConnect {
        dialect,
        host: db.host,
        port,
        database: db.database,
        username: db.username,
        password,
        connect_timeout: Some(Duration::from_secs(timeout.max(1) as u64)),
        read_only: true,
    })
}

/// The keys of the active pack's jobs that read the registered database `name` (a registration they need must
/// not be deleted or renamed from under them).
pub fn jobs_reading(p: &Platform, name: &str) -> Vec<String> {
    p.policy
        .current()
        .pack
        .reconciliation
        .schedules
        .iter()
        .filter(|s| {
            s.inputs.as_ref().is_some_and(|i| {
                i.left_db.as_deref() == Some(name) || i.right_db.as_deref() == Some(name)
            })
        })
        .map(|s| s.key.clone())
        .collect()
}
