//! The leased line of a customer fault (KPI-09 network quality, migration 0028), and the faults of the year the
//! network-quality indicator judges.

use serde::Serialize;

use crate::{on_conn, on_pool, Conn, Store, StoreResult};

/// The leased line a ticket is on.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq, Eq)]
pub struct IncidentLeasedLine {
    pub incident_id: i64,
    /// The customer's circuit id.
    pub leased_line: String,
    /// A `[[service_type]]` key of sla.toml, when given.
    pub service_type: Option<String>,
    pub set_by: String,
    pub set_at: i64,
}

/// A top-level, unmerged customer fault on a leased line (KPI-09 input).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq, Eq)]
pub struct LineFaultRow {
    pub id: i64,
    pub number: String,
    pub title: String,
    /// The branch of the ticket.
    pub region_id: Option<i64>,
    pub org_id: i64,
    pub customer: String,
    pub tier: String,
    pub leased_line: String,
    pub service_type: Option<String>,
    /// Reported: the interruption starts.
    pub created_at: i64,
    /// Resolved: the interruption ends (none while it lasts).
    pub resolved_at: Option<i64>,
}

/// Sets (replaces) the leased line of `incident_id`.
pub async fn set(conn: &mut Conn<'_>, l: &IncidentLeasedLine) -> StoreResult<()> {
    on_conn!(conn, c => sqlx::query(
        "INSERT INTO incident_leased_lines (incident_id, leased_line, service_type, set_by, set_at)
         VALUES ($1,$2,$3,$4,$5)
         ON CONFLICT (incident_id) DO UPDATE SET leased_line = excluded.leased_line,
           service_type = excluded.service_type, set_by = excluded.set_by, set_at = excluded.set_at")
        .bind(l.incident_id).bind(&l.leased_line).bind(&l.service_type).bind(&l.set_by).bind(l.set_at)
        .execute(&mut **c).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// Clears the leased line of `incident_id`; whether there was one.
pub async fn clear(conn: &mut Conn<'_>, incident_id: i64) -> StoreResult<bool> {
    let n = on_conn!(conn, c => sqlx::query("DELETE FROM incident_leased_lines WHERE incident_id = $1")
        .bind(incident_id).execute(&mut **c).await.map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

impl Store {
    /// The leased line of `incident_id`, if it has one.
    pub async fn incident_leased_line(
        &self,
        incident_id: i64,
    ) -> StoreResult<Option<IncidentLeasedLine>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT incident_id, leased_line, service_type, set_by, set_at
             FROM incident_leased_lines WHERE incident_id = $1")
            .bind(incident_id).fetch_optional(p).await)?)
    }

    /// Leased-line faults of group customers (of `customer` only, when given) that were reported before `to` and
    /// not resolved by `from`: the faults whose occurrence or interruption falls in `[from, to)`. Dispatch
    /// children, merged reports and cancelled tickets are left out (a merged report is the same fault; a cancelled
    /// one was none).
    pub async fn leased_line_faults(
        &self,
        from: i64,
        to: i64,
        customer: Option<&str>,
    ) -> StoreResult<Vec<LineFaultRow>> {
        let only = if customer.is_some() {
            " AND g.key = $3"
        } else {
            ""
        };
        let sql = format!(
            "SELECT i.id, i.number, i.title, i.region_id, i.org_id, g.key AS customer, g.tier,
                    l.leased_line, l.service_type, i.created_at, i.resolved_at
             FROM incident_leased_lines l
             JOIN incidents i ON i.id = l.incident_id
             JOIN group_customers g ON g.key = i.customer
             WHERE i.created_at < $2 AND (i.resolved_at IS NULL OR i.resolved_at > $1)
               AND i.parent_id IS NULL AND i.master_id IS NULL AND i.state <> 'cancelled'{only}
             ORDER BY i.id"
        );
        Ok(match customer {
            Some(c) => {
                on_pool!(self, p => sqlx::query_as(&sql).bind(from).bind(to).bind(c).fetch_all(p).await)?
            }
            None => {
                on_pool!(self, p => sqlx::query_as(&sql).bind(from).bind(to).fetch_all(p).await)?
            }
        })
    }

    /// (ticket, vendor organisation) of the vendor dispatches of leased-line faults.
    pub async fn vendor_dispatches_of_leased_line_faults(&self) -> StoreResult<Vec<(i64, i64)>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT DISTINCT c.parent_id, c.assignee_org_id
             FROM incidents c JOIN incident_leased_lines l ON l.incident_id = c.parent_id
             JOIN organizations o ON o.id = c.assignee_org_id AND o.kind = 'vendor'
             ORDER BY 1, 2")
            .fetch_all(p).await)?)
    }
}
