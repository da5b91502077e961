//! Records behind the KPI scorecards (issue 8): group customers with their tier (SLA-01/02) and the customer
//! faults of a period (KPI-07, SLA-11 clock from the report to the resolution).

use serde::Serialize;

use crate::{on_conn, on_pool, Conn, Store, StoreError, StoreResult};

/// A group customer.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq, Eq)]
pub struct GroupCustomerRow {
    pub id: i64,
    /// Stable key; an incident's `customer` naming it is this customer's fault.
    pub key: String,
    pub name: String,
    /// `key_assurance`, `diamond`, `gold`, `silver` or `bronze`.
    pub tier: String,
    /// The branch serving the customer.
    pub org_id: Option<i64>,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub version: i64,
}

const CUSTOMER_COLS: &str =
    "id, key, name, tier, org_id, created_by, created_at, updated_at, version";

/// A new group customer.
#[derive(Debug, Clone)]
pub struct NewGroupCustomer {
    pub key: String,
    pub name: String,
    pub tier: String,
    pub org_id: Option<i64>,
    pub created_by: String,
    pub now: i64,
}

/// A top-level incident of a group customer resolved in a period, with what the KPI needs.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq, Eq)]
pub struct CustomerFaultRow {
    pub id: i64,
    pub number: String,
    pub title: String,
    /// The branch of the ticket.
    pub region_id: Option<i64>,
    pub org_id: i64,
    pub customer: String,
    pub tier: String,
    /// Reported (SLA-11 clock start).
    pub created_at: i64,
    /// Resolved (SLA-11 clock stop).
    pub resolved_at: i64,
}

/// Counts of group customers per tier.
pub async fn customer_tier_counts(conn: &mut Conn<'_>) -> StoreResult<Vec<(String, i64)>> {
    Ok(on_conn!(conn, c => sqlx::query_as(
        "SELECT tier, COUNT(*) FROM group_customers GROUP BY tier ORDER BY tier")
        .fetch_all(&mut **c).await)?)
}

/// Inserts a group customer.
pub async fn insert_customer(
    conn: &mut Conn<'_>,
    n: &NewGroupCustomer,
) -> StoreResult<GroupCustomerRow> {
    let sql = format!(
        "INSERT INTO group_customers (key, name, tier, org_id, created_by, created_at, updated_at)
         VALUES ($1,$2,$3,$4,$5,$6,$6) RETURNING {CUSTOMER_COLS}"
    );
    Ok(on_conn!(conn, c => sqlx::query_as(&sql)
        .bind(&n.key).bind(&n.name).bind(&n.tier).bind(n.org_id).bind(&n.created_by).bind(n.now)
        .fetch_one(&mut **c).await)?)
}

/// The customer `key`, locked for the rest of the write on PostgreSQL.
pub async fn customer_for_update(
    conn: &mut Conn<'_>,
    key: &str,
) -> StoreResult<Option<GroupCustomerRow>> {
    let lock = if conn.is_postgres() {
        " FOR UPDATE"
    } else {
        ""
    };
    let sql = format!("SELECT {CUSTOMER_COLS} FROM group_customers WHERE key = $1{lock}");
    Ok(on_conn!(conn, c => sqlx::query_as(&sql).bind(key).fetch_optional(&mut **c).await)?)
}

/// Sets a customer's tier if its version is still `version`.
pub async fn set_customer_tier(
    conn: &mut Conn<'_>,
    id: i64,
    version: i64,
    tier: &str,
    now: i64,
) -> StoreResult<GroupCustomerRow> {
    let sql = format!(
        "UPDATE group_customers SET tier = $1, updated_at = $2, version = version + 1
         WHERE id = $3 AND version = $4 RETURNING {CUSTOMER_COLS}"
    );
    let row: Option<GroupCustomerRow> = on_conn!(conn, c => sqlx::query_as(&sql)
        .bind(tier).bind(now).bind(id).bind(version).fetch_optional(&mut **c).await)?;
    row.ok_or_else(|| StoreError::Stale(format!("group customer {id}")))
}

impl Store {
    /// Every group customer, by key.
    pub async fn group_customers(&self) -> StoreResult<Vec<GroupCustomerRow>> {
        let sql = format!("SELECT {CUSTOMER_COLS} FROM group_customers ORDER BY key");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).fetch_all(p).await)?)
    }

    /// The group customer `key`.
    pub async fn group_customer(&self, key: &str) -> StoreResult<Option<GroupCustomerRow>> {
        let sql = format!("SELECT {CUSTOMER_COLS} FROM group_customers WHERE key = $1");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(key).fetch_optional(p).await)?)
    }

    /// Top-level, unmerged incidents of group customers resolved in `[from, to)`.
    pub async fn customer_faults_resolved(
        &self,
        from: i64,
        to: i64,
    ) -> StoreResult<Vec<CustomerFaultRow>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT i.id, i.number, i.title, i.region_id, i.org_id, g.key AS customer, g.tier,
                    i.created_at, i.resolved_at
             FROM incidents i JOIN group_customers g ON g.key = i.customer
             WHERE i.resolved_at >= $1 AND i.resolved_at < $2
               AND i.parent_id IS NULL AND i.master_id IS NULL
             ORDER BY i.id")
            .bind(from).bind(to).fetch_all(p).await)?)
    }

    /// (parent incident, vendor organisation) of the dispatch children of incidents resolved in `[from, to)`.
    pub async fn vendor_dispatches_of_resolved(
        &self,
        from: i64,
        to: i64,
    ) -> StoreResult<Vec<(i64, i64)>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT DISTINCT c.parent_id, c.assignee_org_id
             FROM incidents c JOIN incidents i ON c.parent_id = i.id
             JOIN organizations o ON o.id = c.assignee_org_id AND o.kind = 'vendor'
             WHERE i.resolved_at >= $1 AND i.resolved_at < $2
             ORDER BY 1, 2")
            .bind(from).bind(to).fetch_all(p).await)?)
    }
}

// ---------------------------------------------------------------- report pack (RPT)

/// A top-level FL1/FL2 ticket of a period (INC-12 / RPT-04 major-fault summary).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq, Eq)]
pub struct MajorFaultRow {
    pub id: i64,
    pub number: String,
    pub title: String,
    pub fault_level: String,
    pub state: String,
    pub region_id: Option<i64>,
    pub created_at: i64,
    pub resolved_at: Option<i64>,
}

/// A BUG record of a period (BUG-02/05, the program-defect summary).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq, Eq)]
pub struct BugSummaryRow {
    pub id: i64,
    pub number: String,
    pub incident_id: i64,
    pub incident_number: String,
    pub urgency: String,
    pub state: String,
    pub created_at: i64,
}

impl Store {
    /// Deadline clocks (not cadences) that ended in `[from, to)`: (subject kind, rule, `met`/`breached`, count).
    /// Counted when the clock stopped, like the daily trend.
    pub async fn clock_outcomes_between(
        &self,
        from: i64,
        to: i64,
    ) -> StoreResult<Vec<(String, String, String, i64)>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT subject_kind, rule, state, COUNT(*) FROM clocks
             WHERE repeat_basis IS NULL AND state IN ('met','breached')
               AND stopped_at >= $1 AND stopped_at < $2
             GROUP BY subject_kind, rule, state ORDER BY 1, 2, 3")
            .bind(from).bind(to).fetch_all(p).await)?)
    }

    /// Top-level, unmerged FL1/FL2 tickets opened in `[from, to)`, oldest first.
    pub async fn major_faults_between(
        &self,
        from: i64,
        to: i64,
    ) -> StoreResult<Vec<MajorFaultRow>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT id, number, title, fault_level, state, region_id, created_at, resolved_at FROM incidents
             WHERE created_at >= $1 AND created_at < $2 AND parent_id IS NULL AND master_id IS NULL
               AND fault_level IN ('FL1','FL2')
             ORDER BY created_at, id")
            .bind(from).bind(to).fetch_all(p).await)?)
    }

    /// BUG records raised in `[from, to)`, oldest first.
    pub async fn bugs_between(&self, from: i64, to: i64) -> StoreResult<Vec<BugSummaryRow>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT b.id, b.number, b.incident_id, i.number AS incident_number, b.urgency, b.state, b.created_at
             FROM bugs b JOIN incidents i ON i.id = b.incident_id
             WHERE b.created_at >= $1 AND b.created_at < $2 ORDER BY b.created_at, b.id")
            .bind(from).bind(to).fetch_all(p).await)?)
    }

    /// Duty statistics of the days `[from, to)` (`YYYY-MM-DD`): (slot, shift, assignments, daily reports filed).
    pub async fn duty_stats_between(
        &self,
        from: &str,
        to: &str,
    ) -> StoreResult<Vec<(String, String, i64, i64)>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT a.slot, a.shift, COUNT(*),
                    SUM(CASE WHEN EXISTS (SELECT 1 FROM duty_reports r WHERE r.day = a.day AND r.slot = a.slot
                        AND r.shift = a.shift AND r.username = a.username) THEN 1 ELSE 0 END)
             FROM duty_assignments a WHERE a.day >= $1 AND a.day < $2
             GROUP BY a.slot, a.shift ORDER BY 1, 2")
            .bind(from).bind(to).fetch_all(p).await)?)
    }
}
