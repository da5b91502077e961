//! Provisioning orders of group customers (SLA-04..SLA-07, migration 0018) and their delay requests. Saves are
//! version-checked like every record; the limit and deadline are computed by the service from the pack.

use serde::Serialize;

use crate::{on_conn, on_pool, Conn, Store, StoreError, StoreResult};

/// A stored provisioning order.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq, Eq)]
pub struct ProvisioningOrderRow {
    pub id: i64,
    pub customer_id: i64,
    /// Key of the customer (joined).
    pub customer_key: String,
    /// Stage key of sla.toml.
    pub stage: String,
    /// The customer's tier when the order was placed.
    pub tier: String,
    pub access_points: i64,
    pub city: String,
    pub note: String,
    /// SLA-04 limit after SLA-05 scaling (`13wd`).
    pub limit_text: String,
    pub started_at: i64,
    pub deadline_at: i64,
    /// `open` or `completed`.
    pub state: String,
    pub completed_at: Option<i64>,
    /// SLA-07: delay requests filed at or after the deadline.
    pub late_requests: i64,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub version: i64,
}

/// What placing an order stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProvisioningOrder {
    pub customer_id: i64,
    pub stage: String,
    pub tier: String,
    pub access_points: i64,
    pub city: String,
    pub note: String,
    pub limit_text: String,
    pub started_at: i64,
    pub deadline_at: i64,
    pub created_by: String,
    pub now: i64,
}

/// A delay request (SLA-07) as filed and decided (migration 0025: approval step).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq, Eq)]
pub struct ProvisioningDelayRow {
    pub id: i64,
    pub order_id: i64,
    /// Always `customer_caused`: other causes are refused and not stored.
    pub reason: String,
    pub from_at: i64,
    pub until_at: i64,
    pub note: String,
    /// `requested` (awaiting a decision), `granted` (approved, excluded from the clock), `rejected`, or
    /// `refused_late` (filed at or after the deadline: one overdue).
    pub outcome: String,
    pub deadline_before: i64,
    pub deadline_after: i64,
    pub filed_by: String,
    pub filed_at: i64,
    /// The requester's user name (four-eyes check); empty for requests filed before migration 0025.
    pub requested_by: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
    /// The reason given when rejecting.
    pub decision_note: String,
}

/// What filing a delay request stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProvisioningDelay {
    pub order_id: i64,
    pub from_at: i64,
    pub until_at: i64,
    pub note: String,
    pub outcome: String,
    pub deadline_before: i64,
    pub deadline_after: i64,
    pub filed_by: String,
    pub filed_at: i64,
    pub requested_by: String,
}

pub(crate) const COLS: &str = "o.id, o.customer_id, g.key AS customer_key, o.stage, o.tier, o.access_points, o.city, o.note,
    o.limit_text, o.started_at, o.deadline_at, o.state, o.completed_at, o.late_requests, o.created_by,
    o.created_at, o.updated_at, o.version";
pub(crate) const FROM: &str =
    "provisioning_orders o JOIN group_customers g ON g.id = o.customer_id";
const DELAY_COLS: &str = "id, order_id, reason, from_at, until_at, note, outcome, deadline_before, deadline_after, filed_by, filed_at,
    requested_by, decided_by, decided_at, decision_note";

pub(crate) async fn order_in_tx(
    conn: &mut Conn<'_>,
    id: i64,
) -> StoreResult<Option<ProvisioningOrderRow>> {
    let sql = format!("SELECT {COLS} FROM {FROM} WHERE o.id = $1");
    Ok(on_conn!(conn, c => sqlx::query_as(&sql).bind(id).fetch_optional(&mut **c).await)?)
}

/// Places an order.
pub async fn insert_order(
    conn: &mut Conn<'_>,
    n: &NewProvisioningOrder,
) -> StoreResult<ProvisioningOrderRow> {
    let id: i64 = on_conn!(conn, c => sqlx::query_scalar(
        "INSERT INTO provisioning_orders (customer_id, stage, tier, access_points, city, note, limit_text, started_at,
           deadline_at, created_by, created_at, updated_at)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$11) RETURNING id")
        .bind(n.customer_id).bind(&n.stage).bind(&n.tier).bind(n.access_points).bind(&n.city).bind(&n.note)
        .bind(&n.limit_text).bind(n.started_at).bind(n.deadline_at).bind(&n.created_by).bind(n.now)
        .fetch_one(&mut **c).await)?;
    order_in_tx(conn, id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("provisioning order {id}")))
}

/// The order `id`, locked for the rest of the write on PostgreSQL.
pub async fn order_for_update(
    conn: &mut Conn<'_>,
    id: i64,
) -> StoreResult<Option<ProvisioningOrderRow>> {
    if conn.is_postgres() {
        let _: Option<i64> = on_conn!(conn, c => sqlx::query_scalar(
            "SELECT id FROM provisioning_orders WHERE id = $1 FOR UPDATE")
            .bind(id).fetch_optional(&mut **c).await)?;
    }
    order_in_tx(conn, id).await
}

/// The granted delays of an order, oldest first (inside a write).
pub async fn granted_delays_in_tx(
    conn: &mut Conn<'_>,
    order_id: i64,
) -> StoreResult<Vec<ProvisioningDelayRow>> {
    let sql = format!(
        "SELECT {DELAY_COLS} FROM provisioning_delays WHERE order_id = $1 AND outcome = 'granted' ORDER BY id"
    );
    Ok(on_conn!(conn, c => sqlx::query_as(&sql).bind(order_id).fetch_all(&mut **c).await)?)
}

/// Records a delay request.
pub async fn insert_delay(
    conn: &mut Conn<'_>,
    d: &NewProvisioningDelay,
) -> StoreResult<ProvisioningDelayRow> {
    let sql = format!(
        "INSERT INTO provisioning_delays (order_id, reason, from_at, until_at, note, outcome, deadline_before,
           deadline_after, filed_by, filed_at, requested_by)
         VALUES ($1,'customer_caused',$2,$3,$4,$5,$6,$7,$8,$9,$10) RETURNING {DELAY_COLS}"
    );
    Ok(on_conn!(conn, c => sqlx::query_as(&sql)
        .bind(d.order_id).bind(d.from_at).bind(d.until_at).bind(&d.note).bind(&d.outcome)
        .bind(d.deadline_before).bind(d.deadline_after).bind(&d.filed_by).bind(d.filed_at)
        .bind(&d.requested_by)
        .fetch_one(&mut **c).await)?)
}

/// The delay request `id` of order `order_id` (inside a write).
pub async fn delay_in_tx(
    conn: &mut Conn<'_>,
    order_id: i64,
    id: i64,
) -> StoreResult<Option<ProvisioningDelayRow>> {
    let sql =
        format!("SELECT {DELAY_COLS} FROM provisioning_delays WHERE id = $1 AND order_id = $2");
    Ok(
        on_conn!(conn, c => sqlx::query_as(&sql).bind(id).bind(order_id).fetch_optional(&mut **c).await)?,
    )
}

/// The request of an order awaiting a decision, if any (inside a write).
pub async fn requested_delay_in_tx(
    conn: &mut Conn<'_>,
    order_id: i64,
) -> StoreResult<Option<ProvisioningDelayRow>> {
    let sql = format!(
        "SELECT {DELAY_COLS} FROM provisioning_delays WHERE order_id = $1 AND outcome = 'requested'"
    );
    Ok(on_conn!(conn, c => sqlx::query_as(&sql).bind(order_id).fetch_optional(&mut **c).await)?)
}

/// Records the decision on a request still `requested`: `granted` (with the deadline it moved to) or
/// `rejected` (with the reason). A request decided meanwhile → `Conflict` on `state`.
pub async fn decide_delay(
    conn: &mut Conn<'_>,
    id: i64,
    outcome: &str,
    deadline_after: i64,
    decided_by: &str,
    decided_at: i64,
    decision_note: &str,
) -> StoreResult<ProvisioningDelayRow> {
    let n = on_conn!(conn, c => sqlx::query(
        "UPDATE provisioning_delays SET outcome = $1, deadline_after = $2, decided_by = $3, decided_at = $4,
           decision_note = $5
         WHERE id = $6 AND outcome = 'requested'")
        .bind(outcome).bind(deadline_after).bind(decided_by).bind(decided_at).bind(decision_note).bind(id)
        .execute(&mut **c).await.map(|r| r.rows_affected()))?;
    if n == 0 {
        return Err(StoreError::Conflict {
            field: "state".into(),
            message: format!("delay request {id} is already decided"),
        });
    }
    let sql = format!("SELECT {DELAY_COLS} FROM provisioning_delays WHERE id = $1");
    Ok(on_conn!(conn, c => sqlx::query_as(&sql).bind(id).fetch_one(&mut **c).await)?)
}

/// Saves the clock columns (deadline, state, completion, late requests) if the version is still `version`.
#[allow(clippy::too_many_arguments)]
pub async fn save_order_clock(
    conn: &mut Conn<'_>,
    id: i64,
    version: i64,
    deadline_at: i64,
    state: &str,
    completed_at: Option<i64>,
    late_requests: i64,
    now: i64,
) -> StoreResult<ProvisioningOrderRow> {
    let n = on_conn!(conn, c => sqlx::query(
        "UPDATE provisioning_orders SET deadline_at = $1, state = $2, completed_at = $3, late_requests = $4,
           updated_at = $5, version = version + 1
         WHERE id = $6 AND version = $7")
        .bind(deadline_at).bind(state).bind(completed_at).bind(late_requests).bind(now).bind(id).bind(version)
        .execute(&mut **c).await.map(|r| r.rows_affected()))?;
    if n == 0 {
        return Err(StoreError::Stale(format!("provisioning order {id}")));
    }
    order_in_tx(conn, id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("provisioning order {id}")))
}

/// Counts a change to an order's delivery records (acceptances, data configuration) as a change of the order:
/// the version moves if it is still `version`, so two people recording on the same order do not pass silently.
pub async fn touch_order(
    conn: &mut Conn<'_>,
    id: i64,
    version: i64,
    now: i64,
) -> StoreResult<ProvisioningOrderRow> {
    let n = on_conn!(conn, c => sqlx::query(
        "UPDATE provisioning_orders SET updated_at = $1, version = version + 1 WHERE id = $2 AND version = $3")
        .bind(now).bind(id).bind(version)
        .execute(&mut **c).await.map(|r| r.rows_affected()))?;
    if n == 0 {
        return Err(StoreError::Stale(format!("provisioning order {id}")));
    }
    order_in_tx(conn, id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("provisioning order {id}")))
}

impl Store {
    /// The orders of customer `customer_id`, newest first.
    pub async fn provisioning_orders_of(
        &self,
        customer_id: i64,
    ) -> StoreResult<Vec<ProvisioningOrderRow>> {
        let sql = format!("SELECT {COLS} FROM {FROM} WHERE o.customer_id = $1 ORDER BY o.id DESC");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(customer_id).fetch_all(p).await)?)
    }

    /// The order `id`.
    pub async fn provisioning_order(&self, id: i64) -> StoreResult<Option<ProvisioningOrderRow>> {
        let sql = format!("SELECT {COLS} FROM {FROM} WHERE o.id = $1");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await)?)
    }

    /// Every delay request of an order, oldest first.
    pub async fn provisioning_delays(
        &self,
        order_id: i64,
    ) -> StoreResult<Vec<ProvisioningDelayRow>> {
        let sql =
            format!("SELECT {DELAY_COLS} FROM provisioning_delays WHERE order_id = $1 ORDER BY id");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(order_id).fetch_all(p).await)?)
    }

    /// Orders of stage `stage` completed in `[from, to)`, with the branch serving the customer (KPI-04).
    pub async fn provisioning_completed_between(
        &self,
        stage: &str,
        from: i64,
        to: i64,
    ) -> StoreResult<Vec<(ProvisioningOrderRow, Option<i64>)>> {
        let sql = format!(
            "SELECT {COLS}, g.org_id AS customer_org_id FROM {FROM}
             WHERE o.stage = $1 AND o.completed_at >= $2 AND o.completed_at < $3 ORDER BY o.id"
        );
        let rows: Vec<CompletedRow> = on_pool!(self, p => sqlx::query_as(&sql)
            .bind(stage).bind(from).bind(to).fetch_all(p).await)?;
        Ok(rows
            .into_iter()
            .map(|r| (r.order, r.customer_org_id))
            .collect())
    }
}

#[derive(sqlx::FromRow)]
struct CompletedRow {
    #[sqlx(flatten)]
    order: ProvisioningOrderRow,
    customer_org_id: Option<i64>,
}
