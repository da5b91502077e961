//! Policy-pack versions and operator-edited calendar data.
//!
//! The active pack's files are stored in the database so every instance loads the same version:
//! a reload on one instance writes a new row and flips `policy_active`; the others poll it.

use serde::Serialize;

use crate::{on_conn, on_pool, Conn, Store, StoreResult};

/// One stored pack version.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct PolicyVersion {
    pub id: i64,
    pub version: String,
    pub source_hash: String,
    /// JSON array of `[relative_name, content]` pairs.
    #[serde(skip)]
    pub files: String,
    pub loaded_at: i64,
    pub loaded_by: String,
}

/// Stores a pack version and makes it the active one; returns its id.
pub async fn activate_policy(
    conn: &mut Conn<'_>,
    version: &str,
    source_hash: &str,
    files_json: &str,
    now: i64,
    by: &str,
) -> StoreResult<i64> {
    let id: i64 = on_conn!(conn, c => sqlx::query_scalar(
        "INSERT INTO policy_versions (version, source_hash, files, loaded_at, loaded_by) VALUES ($1,$2,$3,$4,$5) RETURNING id")
        .bind(version).bind(source_hash).bind(files_json).bind(now).bind(by).fetch_one(&mut **c).await)?;
    on_conn!(conn, c => sqlx::query(
        "INSERT INTO policy_active (id, version_id) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET version_id = excluded.version_id")
        .bind(id).execute(&mut **c).await.map(|r| r.rows_affected()))?;
    Ok(id)
}

/// Writes one year of holiday data, bumping its version.
pub async fn put_holiday_year(
    conn: &mut Conn<'_>,
    year: i32,
    data_json: &str,
    now: i64,
    by: &str,
) -> StoreResult<i64> {
    let v: i64 = on_conn!(conn, c => sqlx::query_scalar(
        "INSERT INTO holiday_years (year, data, version, updated_at, updated_by) VALUES ($1,$2,1,$3,$4)
         ON CONFLICT (year) DO UPDATE SET data = excluded.data, version = holiday_years.version + 1,
           updated_at = excluded.updated_at, updated_by = excluded.updated_by
         RETURNING version")
        .bind(i64::from(year)).bind(data_json).bind(now).bind(by).fetch_one(&mut **c).await)?;
    Ok(v)
}

/// Stored holiday years as `(year, json, version)`.
pub async fn holiday_years_in_tx(conn: &mut Conn<'_>) -> StoreResult<Vec<(i64, String, i64)>> {
    Ok(on_conn!(conn, c => sqlx::query_as(
        "SELECT year, data, version FROM holiday_years ORDER BY year").fetch_all(&mut **c).await)?)
}

impl Store {
    /// The active pack version, if one was ever stored.
    pub async fn active_policy(&self) -> StoreResult<Option<PolicyVersion>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT v.id, v.version, v.source_hash, v.files, v.loaded_at, v.loaded_by
             FROM policy_active a JOIN policy_versions v ON v.id = a.version_id WHERE a.id = 1")
            .fetch_optional(p).await)?)
    }

    /// Id of the active pack version (cheap poll for other instances' reloads).
    pub async fn active_policy_id(&self) -> StoreResult<Option<i64>> {
        Ok(
            on_pool!(self, p => sqlx::query_scalar("SELECT version_id FROM policy_active WHERE id = 1")
            .fetch_optional(p).await)?,
        )
    }

    /// Stored holiday years as `(year, json, version)`.
    pub async fn holiday_years(&self) -> StoreResult<Vec<(i64, String, i64)>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT year, data, version FROM holiday_years ORDER BY year").fetch_all(p).await)?)
    }
}
