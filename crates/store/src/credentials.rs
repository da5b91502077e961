//! Stored credentials as the store sees them: opaque text. Encryption and decryption happen in the service layer
//! (`tianshu_services::credentials`), with a key that never reaches the database; the store lists the values
//! still in plain text for the start-up conversion, replaces one only while it is unchanged, and keeps the check
//! value of each key version.

use crate::{on_conn, on_pool, Conn, Store, StoreResult};

/// A column that holds a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialColumn {
    /// `dataop_targets.secret`: a data-operation target's password.
    DataopTarget,
    /// `mon_databases.password`: a monitored database's password.
    MonDatabase,
    /// `probes.secrets`: a JSON object of a dial-test probe's secret variables, each value sealed on its own
    /// (the names stay readable: they are shown and checked against the scenario).
    ProbeSecret,
}

impl CredentialColumn {
    /// The columns holding one password each (not the JSON of [`CredentialColumn::ProbeSecret`]).
    pub const PASSWORDS: [CredentialColumn; 2] = [
        CredentialColumn::DataopTarget,
        CredentialColumn::MonDatabase,
    ];

    fn table_column(self) -> (&'static str, &'static str) {
        match self {
            CredentialColumn::DataopTarget => ("dataop_targets", "secret"),
            CredentialColumn::MonDatabase => ("mon_databases", "password"),
            CredentialColumn::ProbeSecret => ("probes", "secrets"),
        }
    }

    /// `table.column`, for messages and the audit trail.
    pub fn name(self) -> &'static str {
        match self {
            CredentialColumn::DataopTarget => "dataop_targets.secret",
            CredentialColumn::MonDatabase => "mon_databases.password",
            CredentialColumn::ProbeSecret => "probes.secrets",
        }
    }
}

/// A stored credential not yet encrypted (its value is never printed).
#[derive(Clone, PartialEq, Eq)]
pub struct PlainCredential {
    pub column: CredentialColumn,
    pub id: i64,
    pub value: String,
}

impl std::fmt::Debug for PlainCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlainCredential")
            .field("column", &self.column.name())
            .field("id", &self.id)
            .field("value", &"***")
            .finish()
    }
}

/// Records the check value of a key version unless one is already there; true when this call stored it.
pub async fn insert_credential_key(
    conn: &mut Conn<'_>,
    version: i64,
    check_value: &str,
    now: i64,
) -> StoreResult<bool> {
    let n = on_conn!(conn, c => sqlx::query(
        "INSERT INTO credential_keys (version, check_value, created_at) VALUES ($1, $2, $3)
         ON CONFLICT (version) DO NOTHING")
        .bind(version).bind(check_value).bind(now)
        .execute(&mut **c).await.map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Replaces a credential with `new` only if it still holds `old` (another instance may have converted it first);
/// true when this call replaced it.
pub async fn replace_credential(
    conn: &mut Conn<'_>,
    column: CredentialColumn,
    id: i64,
    old: &str,
    new: &str,
) -> StoreResult<bool> {
    let (table, col) = column.table_column();
    let sql = format!("UPDATE {table} SET {col} = $1 WHERE id = $2 AND {col} = $3");
    let n = on_conn!(conn, c => sqlx::query(&sql).bind(new).bind(id).bind(old)
        .execute(&mut **c).await.map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// A key version this database knows: when it was first used and, once a rotation re-encrypted everything under
/// a newer one, when it was retired.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CredentialKeyRow {
    pub version: i64,
    pub created_at: i64,
    pub retired_at: Option<i64>,
}

/// The check value of a key version, inside a transaction.
pub async fn credential_key_check_in(
    conn: &mut Conn<'_>,
    version: i64,
) -> StoreResult<Option<String>> {
    Ok(on_conn!(conn, c => sqlx::query_scalar(
        "SELECT check_value FROM credential_keys WHERE version = $1")
        .bind(version).fetch_optional(&mut **c).await)?)
}

/// Marks every key version below `version` retired (a rotation re-encrypted everything under `version`).
pub async fn retire_credential_keys_below(
    conn: &mut Conn<'_>,
    version: i64,
    now: i64,
) -> StoreResult<u64> {
    Ok(on_conn!(conn, c => sqlx::query(
        "UPDATE credential_keys SET retired_at = $1 WHERE version < $2 AND retired_at IS NULL")
        .bind(now).bind(version)
        .execute(&mut **c).await.map(|r| r.rows_affected()))?)
}

/// Inside a transaction: every non-empty password whose stored text does not start with `prefix` (sealed under
/// another key version, or plain text).
pub async fn credentials_not_under(
    conn: &mut Conn<'_>,
    prefix: &str,
) -> StoreResult<Vec<PlainCredential>> {
    let len = prefix.chars().count();
    let mut out = Vec::new();
    for column in CredentialColumn::PASSWORDS {
        let (table, col) = column.table_column();
        let sql = format!(
            "SELECT id, {col} FROM {table} WHERE {col} <> '' AND substr({col}, 1, {len}) <> $1 ORDER BY id"
        );
        let rows: Vec<(i64, String)> = on_conn!(conn, c => sqlx::query_as(&sql)
            .bind(prefix).fetch_all(&mut **c).await)?;
        out.extend(
            rows.into_iter()
                .map(|(id, value)| PlainCredential { column, id, value }),
        );
    }
    Ok(out)
}

/// Inside a transaction: every probe's secret variables as stored, by probe id.
pub async fn probe_secret_objects_in(conn: &mut Conn<'_>) -> StoreResult<Vec<(i64, String)>> {
    Ok(
        on_conn!(conn, c => sqlx::query_as("SELECT id, secrets FROM probes ORDER BY id")
            .fetch_all(&mut **c).await)?,
    )
}

impl Store {
    /// The check value of a key version, if that version was ever used with this database.
    pub async fn credential_key_check(&self, version: i64) -> StoreResult<Option<String>> {
        Ok(on_pool!(self, p => sqlx::query_scalar(
            "SELECT check_value FROM credential_keys WHERE version = $1")
            .bind(version).fetch_optional(p).await)?)
    }

    /// The newest key version this database recorded, if any.
    pub async fn latest_credential_key(&self) -> StoreResult<Option<i64>> {
        Ok(on_pool!(self, p => sqlx::query_scalar(
            "SELECT MAX(version) FROM credential_keys")
            .fetch_one(p).await)?)
    }

    /// Every key version this database recorded, oldest first.
    pub async fn credential_keys(&self) -> StoreResult<Vec<CredentialKeyRow>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT version, created_at, retired_at FROM credential_keys ORDER BY version")
            .fetch_all(p).await)?)
    }

    /// Every non-empty password (of [`CredentialColumn::PASSWORDS`]) whose stored text does not start with `encrypted_prefix` (an empty value means
    /// "no password" and stays empty).
    pub async fn unencrypted_credentials(
        &self,
        encrypted_prefix: &str,
    ) -> StoreResult<Vec<PlainCredential>> {
        // substr, not LIKE: SQLite's LIKE ignores ASCII case, and a plain-text "V1:…" is not encrypted.
        let len = encrypted_prefix.chars().count();
        let mut out = Vec::new();
        for column in CredentialColumn::PASSWORDS {
            let (table, col) = column.table_column();
            let sql = format!(
                "SELECT id, {col} FROM {table} WHERE {col} <> '' AND substr({col}, 1, {len}) <> $1 ORDER BY id"
            );
            let rows: Vec<(i64, String)> = on_pool!(self, p => sqlx::query_as(&sql)
                .bind(encrypted_prefix).fetch_all(p).await)?;
            out.extend(
                rows.into_iter()
                    .map(|(id, value)| PlainCredential { column, id, value }),
            );
        }
        Ok(out)
    }

    /// Every probe's secret variables as stored (a JSON object per probe), by probe id.
    pub async fn probe_secret_objects(&self) -> StoreResult<Vec<(i64, String)>> {
        Ok(
            on_pool!(self, p => sqlx::query_as("SELECT id, secrets FROM probes ORDER BY id")
            .fetch_all(p).await)?,
        )
    }

    /// The stored text of one credential (encrypted or not), `None` when the row does not exist.
    pub async fn stored_credential(
        &self,
        column: CredentialColumn,
        id: i64,
    ) -> StoreResult<Option<String>> {
        let (table, col) = column.table_column();
        let sql = format!("SELECT {col} FROM {table} WHERE id = $1");
        Ok(on_pool!(self, p => sqlx::query_scalar(&sql).bind(id).fetch_optional(p).await)?)
    }
}
