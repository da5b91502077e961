//! Trend series for the reports page and its API: tickets opened per day by fault level, alerts per day by
//! severity, and the share of incident deadlines met per day. Region-scoped users see their region's
//! tickets only; alerts are not region-scoped yet (the alert store keeps the region as a label).

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate, Offset, TimeZone};
use serde::Serialize;
use tianshu_core::Permission;
use tianshu_store::reports::DAY_US;

use crate::authz::{Principal, Scope};
use crate::{Platform, ServiceError, ServiceResult};

/// Longest window a trend may span.
pub const MAX_DAYS: i64 = 366;

/// Counts of one day, by label.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DayCounts {
    /// Local date, `YYYY-MM-DD`.
    pub date: String,
    pub counts: BTreeMap<String, i64>,
}

/// The trends of a window; a series is absent when the caller may not read it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Trends {
    pub from: String,
    pub to: String,
    /// Tickets opened (top level) per day by fault level (`FL2`, `FL1`, `general`).
    pub incidents: Option<Vec<DayCounts>>,
    /// Incident deadline clocks stopped per day by outcome (`met`, `breached`).
    pub sla: Option<Vec<DayCounts>>,
    /// Alerts first seen per day by severity.
    pub alerts: Option<Vec<DayCounts>>,
}

fn series(first_day: i64, days: i64, rows: Vec<(i64, String, i64)>) -> Vec<DayCounts> {
    let mut by_day: BTreeMap<i64, BTreeMap<String, i64>> = (first_day..first_day + days)
        .map(|d| (d, BTreeMap::new()))
        .collect();
    for (d, label, n) in rows {
        if let Some(m) = by_day.get_mut(&d) {
            *m.entry(label).or_default() += n;
        }
    }
    by_day
        .into_iter()
        .map(|(d, counts)| DayCounts {
            date: date_of(d),
            counts,
        })
        .collect()
}

fn date_of(day: i64) -> String {
    NaiveDate::from_ymd_opt(1970, 1, 1)
        .and_then(|e| e.checked_add_signed(Duration::days(day)))
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// The last `days` local days up to and including today.
pub async fn trends(p: &Platform, actor: &Principal, days: i64) -> ServiceResult<Trends> {
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(ServiceError::invalid(
            "days",
            format!("must be between 1 and {MAX_DAYS}"),
        ));
    }
    let can_incidents = actor.can(Permission::IncidentRead);
    let can_alerts = actor.can(Permission::AlertRead);
    if !can_incidents && !can_alerts {
        return Err(ServiceError::Forbidden(Permission::IncidentRead));
    }
    let tz: chrono_tz::Tz = p
        .policy
        .current()
        .pack
        .pack
        .time_zone
        .parse()
        .unwrap_or(chrono_tz::Asia::Shanghai);
    let now = p.now_us();
    // The zone's offset now; the centres' zones have no daylight saving, so one offset serves the window.
    let offset_us = tz
        .offset_from_utc_datetime(&tianshu_store::time::from_micros(now).naive_utc())
        .fix()
        .local_minus_utc() as i64
        * 1_000_000;
    let today = (now + offset_us).div_euclid(DAY_US);
    let first_day = today - days + 1;
    let since = first_day * DAY_US - offset_us;
    let region = match actor.scope {
        Scope::Province => None,
        Scope::Region(r) => Some(r),
        // An own-organisation scope (vendors, departments without a region) reads tickets assigned to it;
        // the trends are per region, so it gets empty incident series rather than the whole centre's.
        Scope::Vendor(_) => Some(-1),
    };
    let incidents = if can_incidents {
        let rows = p.store.incidents_per_day(since, offset_us, region).await?;
        Some(series(first_day, days, rows))
    } else {
        None
    };
    let sla = if can_incidents {
        let rows = p
            .store
            .incident_clock_outcomes_per_day(since, offset_us, region)
            .await?;
        Some(series(first_day, days, rows))
    } else {
        None
    };
    let alerts = if can_alerts {
        let rows = p.store.alerts_per_day(since, offset_us).await?;
        Some(series(first_day, days, rows))
    } else {
        None
    };
    Ok(Trends {
        from: date_of(first_day),
        to: date_of(today),
        incidents,
        sla,
        alerts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_has_every_day_of_the_window_and_ignores_rows_outside_it() {
        let s = series(
            20_000,
            3,
            vec![
                (20_000, "FL2".into(), 2),
                (20_002, "general".into(), 1),
                (19_999, "FL1".into(), 5),
            ],
        );
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].date, "2024-10-04");
        assert_eq!(s[0].counts.get("FL2"), Some(&2));
        assert!(s[1].counts.is_empty());
        assert_eq!(s[2].counts.get("general"), Some(&1));
    }
}
