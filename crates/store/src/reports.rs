//! Aggregates for trend charts: counts per local day or week, computed in the database so a month of
//! records is a handful of rows, not a download.
//!
//! Buckets are integer divisions of `timestamp + offset` (both backends divide BIGINTs as integers), so the
//! caller passes the centre's UTC offset in microseconds and gets local day (or week) numbers since the epoch.

use crate::{on_pool, Store, StoreResult};

/// Microseconds in a day.
pub const DAY_US: i64 = 86_400_000_000;

/// One bucket of a series: bucket number, a label (level, severity, outcome) and the count.
pub type Bucket = (i64, String, i64);

impl Store {
    /// Top-level tickets opened per local day and fault level since `since`, optionally of one region.
    pub async fn incidents_per_day(
        &self,
        since: i64,
        offset_us: i64,
        region_id: Option<i64>,
    ) -> StoreResult<Vec<Bucket>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT (created_at + $2) / $3 AS d, fault_level, COUNT(*) FROM incidents
             WHERE created_at >= $1 AND parent_id IS NULL AND master_id IS NULL
               AND ($4 = FALSE OR region_id = $5)
             GROUP BY (created_at + $2) / $3, fault_level ORDER BY 1, 2")
            .bind(since).bind(offset_us).bind(DAY_US)
            .bind(region_id.is_some()).bind(region_id.unwrap_or(-1))
            .fetch_all(p).await)?)
    }

    /// Alerts first seen per local day and severity since `since`.
    pub async fn alerts_per_day(&self, since: i64, offset_us: i64) -> StoreResult<Vec<Bucket>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT (first_seen + $2) / $3 AS d, severity, COUNT(*) FROM alerts
             WHERE first_seen >= $1
             GROUP BY (first_seen + $2) / $3, severity ORDER BY 1, 2")
            .bind(since).bind(offset_us).bind(DAY_US)
            .fetch_all(p).await)?)
    }

    /// Deadline clocks of incidents stopped per local day since `since`, by outcome (`met` or `breached`).
    /// Cadence clocks (repeating reminders) have no deadline to meet and are left out.
    pub async fn incident_clock_outcomes_per_day(
        &self,
        since: i64,
        offset_us: i64,
        region_id: Option<i64>,
    ) -> StoreResult<Vec<Bucket>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT (c.stopped_at + $2) / $3 AS d, c.state, COUNT(*)
             FROM clocks c JOIN incidents i ON c.subject_kind = 'incident' AND c.subject_id = CAST(i.id AS TEXT)
             WHERE c.stopped_at >= $1 AND c.state IN ('met','breached') AND c.repeat_basis IS NULL
               AND ($4 = FALSE OR i.region_id = $5)
             GROUP BY (c.stopped_at + $2) / $3, c.state ORDER BY 1, 2")
            .bind(since).bind(offset_us).bind(DAY_US)
            .bind(region_id.is_some()).bind(region_id.unwrap_or(-1))
            .fetch_all(p).await)?)
    }
}
