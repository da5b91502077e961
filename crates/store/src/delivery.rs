//! Delivery records of provisioning orders (migration 0026): SLA-09 acceptances and the KPI-06 data
//! configuration, with the period queries KPI-05 and KPI-06 read. The phase order is the service's to check.

use serde::Serialize;

use crate::provisioning::{ProvisioningOrderRow, COLS, FROM};
use crate::{on_conn, on_pool, Conn, Store, StoreError, StoreResult};

/// One acceptance (SLA-09) as held.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq, Eq)]
pub struct AcceptanceRow {
    pub id: i64,
    pub order_id: i64,
    /// `accompanying_inspection`, `initial_acceptance`, `trial_run` or `final_acceptance`.
    pub phase: String,
    /// `passed` or `failed`.
    pub outcome: String,
    pub held_at: i64,
    pub note: String,
    pub recorded_by: String,
    pub recorded_at: i64,
}

/// What recording an acceptance stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAcceptance {
    pub order_id: i64,
    pub phase: String,
    pub outcome: String,
    pub held_at: i64,
    pub note: String,
    pub recorded_by: String,
    pub recorded_at: i64,
}

/// The data configuration of an order (KPI-06): the notice, then the start.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq, Eq)]
pub struct DataConfigRow {
    pub order_id: i64,
    pub notified_at: i64,
    /// `None` until configuration started.
    pub started_at: Option<i64>,
    /// The customer's tier when the notice was recorded (selects the KPI-06 unit).
    pub tier: String,
    pub note: String,
    pub notified_by: String,
    pub started_by: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const ACC_COLS: &str = "id, order_id, phase, outcome, held_at, note, recorded_by, recorded_at";
const CFG_COLS: &str =
    "order_id, notified_at, started_at, tier, note, notified_by, started_by, created_at, updated_at";

/// The acceptances of an order in recorded order (inside a write).
pub async fn acceptances_in_tx(
    conn: &mut Conn<'_>,
    order_id: i64,
) -> StoreResult<Vec<AcceptanceRow>> {
    let sql =
        format!("SELECT {ACC_COLS} FROM provisioning_acceptances WHERE order_id = $1 ORDER BY id");
    Ok(on_conn!(conn, c => sqlx::query_as(&sql).bind(order_id).fetch_all(&mut **c).await)?)
}

/// Records an acceptance.
pub async fn insert_acceptance(
    conn: &mut Conn<'_>,
    a: &NewAcceptance,
) -> StoreResult<AcceptanceRow> {
    let sql = format!(
        "INSERT INTO provisioning_acceptances (order_id, phase, outcome, held_at, note, recorded_by, recorded_at)
         VALUES ($1,$2,$3,$4,$5,$6,$7) RETURNING {ACC_COLS}"
    );
    Ok(on_conn!(conn, c => sqlx::query_as(&sql)
        .bind(a.order_id).bind(&a.phase).bind(&a.outcome).bind(a.held_at).bind(&a.note)
        .bind(&a.recorded_by).bind(a.recorded_at)
        .fetch_one(&mut **c).await)?)
}

/// The data configuration of an order, if any (inside a write).
pub async fn data_config_in_tx(
    conn: &mut Conn<'_>,
    order_id: i64,
) -> StoreResult<Option<DataConfigRow>> {
    let sql = format!("SELECT {CFG_COLS} FROM provisioning_data_configs WHERE order_id = $1");
    Ok(on_conn!(conn, c => sqlx::query_as(&sql).bind(order_id).fetch_optional(&mut **c).await)?)
}

/// Records the notice of an order's data configuration (and its start when known at once).
pub async fn insert_data_config(
    conn: &mut Conn<'_>,
    d: &DataConfigRow,
) -> StoreResult<DataConfigRow> {
    let sql = format!(
        "INSERT INTO provisioning_data_configs ({CFG_COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) RETURNING {CFG_COLS}"
    );
    Ok(on_conn!(conn, c => sqlx::query_as(&sql)
        .bind(d.order_id).bind(d.notified_at).bind(d.started_at).bind(&d.tier).bind(&d.note).bind(&d.notified_by)
        .bind(&d.started_by).bind(d.created_at).bind(d.updated_at)
        .fetch_one(&mut **c).await)?)
}

/// Records the start of a data configuration whose start is not recorded yet (a recorded start never moves).
pub async fn start_data_config(
    conn: &mut Conn<'_>,
    order_id: i64,
    started_at: i64,
    started_by: &str,
    note: &str,
    now: i64,
) -> StoreResult<DataConfigRow> {
    let sql = format!(
        "UPDATE provisioning_data_configs SET started_at = $1, started_by = $2, note = $3, updated_at = $4
         WHERE order_id = $5 AND started_at IS NULL RETURNING {CFG_COLS}"
    );
    let row: Option<DataConfigRow> = on_conn!(conn, c => sqlx::query_as(&sql)
        .bind(started_at).bind(started_by).bind(note).bind(now).bind(order_id)
        .fetch_optional(&mut **c).await)?;
    row.ok_or_else(|| StoreError::Conflict {
        field: "started_at".into(),
        message: "the start of this data configuration is already recorded".into(),
    })
}

/// An order whose first initial acceptance (KPI-05) was held in a window.
#[derive(Debug, Clone, sqlx::FromRow, PartialEq, Eq)]
pub struct FirstAcceptanceRow {
    #[sqlx(flatten)]
    pub order: ProvisioningOrderRow,
    /// The branch serving the customer.
    pub customer_org_id: Option<i64>,
    /// The outcome of that first initial acceptance.
    pub first_outcome: String,
    pub first_held_at: i64,
}

/// A data configuration started in a window (KPI-06), with its order.
#[derive(Debug, Clone, sqlx::FromRow, PartialEq, Eq)]
pub struct StartedConfigRow {
    #[sqlx(flatten)]
    pub order: ProvisioningOrderRow,
    /// The branch serving the customer.
    pub customer_org_id: Option<i64>,
    pub cfg_notified_at: i64,
    pub cfg_started_at: i64,
    /// The customer's tier when the notice was recorded.
    pub cfg_tier: String,
}

impl Store {
    /// The acceptances of an order in recorded order.
    pub async fn acceptances(&self, order_id: i64) -> StoreResult<Vec<AcceptanceRow>> {
        let sql = format!(
            "SELECT {ACC_COLS} FROM provisioning_acceptances WHERE order_id = $1 ORDER BY id"
        );
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(order_id).fetch_all(p).await)?)
    }

    /// The data configuration of an order, if recorded.
    pub async fn data_config(&self, order_id: i64) -> StoreResult<Option<DataConfigRow>> {
        let sql = format!("SELECT {CFG_COLS} FROM provisioning_data_configs WHERE order_id = $1");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(order_id).fetch_optional(p).await)?)
    }

    /// KPI-05: orders whose first initial acceptance was held in `[from, to)`, with its outcome.
    pub async fn first_initial_acceptances_between(
        &self,
        from: i64,
        to: i64,
    ) -> StoreResult<Vec<FirstAcceptanceRow>> {
        let sql = format!(
            "SELECT {COLS}, g.org_id AS customer_org_id, a.outcome AS first_outcome, a.held_at AS first_held_at
             FROM {FROM} JOIN provisioning_acceptances a ON a.order_id = o.id
             WHERE a.phase = 'initial_acceptance' AND a.held_at >= $1 AND a.held_at < $2
               AND a.id = (SELECT MIN(b.id) FROM provisioning_acceptances b
                           WHERE b.order_id = a.order_id AND b.phase = 'initial_acceptance')
             ORDER BY o.id"
        );
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(from).bind(to).fetch_all(p).await)?)
    }

    /// KPI-06: data configurations started in `[from, to)`, with their orders.
    pub async fn data_configs_started_between(
        &self,
        from: i64,
        to: i64,
    ) -> StoreResult<Vec<StartedConfigRow>> {
        let sql = format!(
            "SELECT {COLS}, g.org_id AS customer_org_id, d.notified_at AS cfg_notified_at,
                    d.started_at AS cfg_started_at, d.tier AS cfg_tier
             FROM {FROM} JOIN provisioning_data_configs d ON d.order_id = o.id
             WHERE d.started_at >= $1 AND d.started_at < $2
             ORDER BY o.id"
        );
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(from).bind(to).fetch_all(p).await)?)
    }
}
