//! Group-customer complaints (KPI-08 records, migration 0027): recorded with the handling deadline customer
//! service set, closed by a separate, version-checked transition.

use serde::Serialize;

use crate::{on_conn, on_pool, Conn, Store, StoreError, StoreResult};

/// A stored complaint.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq, Eq)]
pub struct ComplaintRow {
    pub id: i64,
    pub customer_id: i64,
    /// Key of the customer (joined).
    pub customer_key: String,
    /// The branch serving the customer (joined).
    pub customer_org_id: Option<i64>,
    pub received_at: i64,
    /// The handling deadline set by customer service.
    pub due_at: i64,
    /// SEV-08 level n of CS`n` (1..=4).
    pub cs_level: Option<i64>,
    pub incident_id: Option<i64>,
    /// Number of the linked ticket (joined).
    pub incident_number: Option<String>,
    pub summary: String,
    /// `open` or `closed`.
    pub state: String,
    pub closed_at: Option<i64>,
    pub closed_by: Option<String>,
    pub resolution: String,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub version: i64,
}

/// What recording a complaint stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewComplaint {
    pub customer_id: i64,
    pub received_at: i64,
    pub due_at: i64,
    pub cs_level: Option<i64>,
    pub incident_id: Option<i64>,
    pub summary: String,
    pub created_by: String,
    pub now: i64,
}

const COLS: &str = "m.id, m.customer_id, g.key AS customer_key, g.org_id AS customer_org_id, m.received_at,
    m.due_at, m.cs_level, m.incident_id, i.number AS incident_number, m.summary, m.state, m.closed_at,
    m.closed_by, m.resolution, m.created_by, m.created_at, m.updated_at, m.version";
const FROM: &str = "complaints m JOIN group_customers g ON g.id = m.customer_id
    LEFT JOIN incidents i ON i.id = m.incident_id";

async fn complaint_in_tx(conn: &mut Conn<'_>, id: i64) -> StoreResult<Option<ComplaintRow>> {
    let sql = format!("SELECT {COLS} FROM {FROM} WHERE m.id = $1");
    Ok(on_conn!(conn, c => sqlx::query_as(&sql).bind(id).fetch_optional(&mut **c).await)?)
}

/// Records a complaint.
pub async fn insert_complaint(conn: &mut Conn<'_>, n: &NewComplaint) -> StoreResult<ComplaintRow> {
    let id: i64 = on_conn!(conn, c => sqlx::query_scalar(
        "INSERT INTO complaints (customer_id, received_at, due_at, cs_level, incident_id, summary, created_by,
           created_at, updated_at)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$8) RETURNING id")
        .bind(n.customer_id).bind(n.received_at).bind(n.due_at).bind(n.cs_level).bind(n.incident_id)
        .bind(&n.summary).bind(&n.created_by).bind(n.now)
        .fetch_one(&mut **c).await)?;
    complaint_in_tx(conn, id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("complaint {id}")))
}

/// The complaint `id`, locked for the rest of the write on PostgreSQL.
pub async fn complaint_for_update(
    conn: &mut Conn<'_>,
    id: i64,
) -> StoreResult<Option<ComplaintRow>> {
    if conn.is_postgres() {
        let _: Option<i64> = on_conn!(conn, c => sqlx::query_scalar(
            "SELECT id FROM complaints WHERE id = $1 FOR UPDATE")
            .bind(id).fetch_optional(&mut **c).await)?;
    }
    complaint_in_tx(conn, id).await
}

/// Closes an open complaint if its version is still `version`; closed meanwhile → `Conflict` on `state`.
pub async fn close_complaint(
    conn: &mut Conn<'_>,
    id: i64,
    version: i64,
    closed_at: i64,
    closed_by: &str,
    resolution: &str,
    now: i64,
) -> StoreResult<ComplaintRow> {
    let n = on_conn!(conn, c => sqlx::query(
        "UPDATE complaints SET state = 'closed', closed_at = $1, closed_by = $2, resolution = $3, updated_at = $4,
           version = version + 1
         WHERE id = $5 AND version = $6 AND state = 'open'")
        .bind(closed_at).bind(closed_by).bind(resolution).bind(now).bind(id).bind(version)
        .execute(&mut **c).await.map(|r| r.rows_affected()))?;
    let row = complaint_in_tx(conn, id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("complaint {id}")))?;
    if n == 0 {
        return Err(if row.state != "open" {
            StoreError::Conflict {
                field: "state".into(),
                message: format!("complaint {id} is already closed"),
            }
        } else {
            StoreError::Stale(format!("complaint {id}"))
        });
    }
    Ok(row)
}

impl Store {
    /// The id of the ticket numbered `number` (a complaint's linked incident).
    pub async fn incident_id_by_number(&self, number: &str) -> StoreResult<Option<i64>> {
        Ok(
            on_pool!(self, p => sqlx::query_scalar("SELECT id FROM incidents WHERE number = $1")
            .bind(number).fetch_optional(p).await)?,
        )
    }

    /// The complaints of customer `customer_id`, newest first.
    pub async fn complaints_of(&self, customer_id: i64) -> StoreResult<Vec<ComplaintRow>> {
        let sql = format!("SELECT {COLS} FROM {FROM} WHERE m.customer_id = $1 ORDER BY m.id DESC");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(customer_id).fetch_all(p).await)?)
    }

    /// The complaint `id`.
    pub async fn complaint(&self, id: i64) -> StoreResult<Option<ComplaintRow>> {
        let sql = format!("SELECT {COLS} FROM {FROM} WHERE m.id = $1");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await)?)
    }

    /// Complaints closed in `[from, to)`, oldest first (KPI-08).
    pub async fn complaints_closed_between(
        &self,
        from: i64,
        to: i64,
    ) -> StoreResult<Vec<ComplaintRow>> {
        let sql = format!(
            "SELECT {COLS} FROM {FROM} WHERE m.closed_at >= $1 AND m.closed_at < $2 ORDER BY m.id"
        );
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(from).bind(to).fetch_all(p).await)?)
    }
}
