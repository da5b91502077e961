//! What a release records before its go decision (CHG-05 vendor deliverables, CHG-12 vendor training); which
//! ones are required is the policy pack's `[[releases.prerequisite]]`, checked in the service layer.

use serde::Serialize;

use crate::{on_conn, on_pool, Conn, Store, StoreResult};

/// One recorded prerequisite of a release.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct PrerequisiteRow {
    pub id: i64,
    pub release_id: i64,
    /// Key of the pack's `[[releases.prerequisite]]`.
    pub key: String,
    /// Document number or link (a deliverable), or what the training covered and who gave it.
    pub reference: String,
    /// When a training was held (Unix microseconds UTC); None for a document.
    pub held_at: Option<i64>,
    pub note: String,
    pub recorded_by: String,
    pub recorded_at: i64,
}

const COLS: &str = "id, release_id, key, reference, held_at, note, recorded_by, recorded_at";

/// A prerequisite to record.
#[derive(Debug, Clone)]
pub struct NewPrerequisite {
    pub release_id: i64,
    pub key: String,
    pub reference: String,
    pub held_at: Option<i64>,
    pub note: String,
    pub recorded_by: String,
    pub now: i64,
}

/// Records a prerequisite, replacing an earlier record of the same key on the release.
pub async fn upsert_prerequisite(
    conn: &mut Conn<'_>,
    n: &NewPrerequisite,
) -> StoreResult<PrerequisiteRow> {
    let sql = format!(
        "INSERT INTO release_prerequisites (release_id, key, reference, held_at, note, recorded_by, recorded_at)
         VALUES ($1,$2,$3,$4,$5,$6,$7)
         ON CONFLICT (release_id, key) DO UPDATE SET reference = excluded.reference, held_at = excluded.held_at,
           note = excluded.note, recorded_by = excluded.recorded_by, recorded_at = excluded.recorded_at
         RETURNING {COLS}"
    );
    Ok(on_conn!(conn, c => sqlx::query_as(&sql)
        .bind(n.release_id).bind(&n.key).bind(&n.reference).bind(n.held_at).bind(&n.note)
        .bind(&n.recorded_by).bind(n.now)
        .fetch_one(&mut **c).await)?)
}

/// The prerequisites recorded on a release, inside a write (the go decision checks them in its transaction).
pub async fn prerequisites_in_tx(
    conn: &mut Conn<'_>,
    release_id: i64,
) -> StoreResult<Vec<PrerequisiteRow>> {
    let sql = format!("SELECT {COLS} FROM release_prerequisites WHERE release_id = $1 ORDER BY id");
    Ok(on_conn!(conn, c => sqlx::query_as(&sql).bind(release_id).fetch_all(&mut **c).await)?)
}

impl Store {
    /// The prerequisites recorded on a release.
    pub async fn release_prerequisites(
        &self,
        release_id: i64,
    ) -> StoreResult<Vec<PrerequisiteRow>> {
        let sql =
            format!("SELECT {COLS} FROM release_prerequisites WHERE release_id = $1 ORDER BY id");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(release_id).fetch_all(p).await)?)
    }
}
