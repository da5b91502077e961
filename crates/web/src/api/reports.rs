//! Report series for charts and for clients that draw their own.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use tianshu_services::reports;
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiResult;
use crate::extract::{ApiQuery, Auth};
use crate::state::AppState;

/// The window of a trend.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TrendQuery {
    /// Local days up to and including today, 1–366 (default 30).
    pub days: Option<i64>,
}

/// Counts of one local day by label.
#[derive(Debug, Serialize, ToSchema)]
pub struct DayCountsOut {
    /// `YYYY-MM-DD` in the centre's time zone.
    pub date: String,
    /// Label (fault level, outcome or severity) → count; labels with no records are absent.
    #[schema(value_type = std::collections::BTreeMap<String, i64>)]
    pub counts: std::collections::BTreeMap<String, i64>,
}

/// Trends of a window; a series is null when the caller may not read it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TrendsOut {
    pub from: String,
    pub to: String,
    /// Top-level tickets opened per day by fault level.
    pub incidents: Option<Vec<DayCountsOut>>,
    /// Incident deadline clocks stopped per day by outcome (`met`, `breached`).
    pub sla: Option<Vec<DayCountsOut>>,
    /// Alerts first seen per day by severity.
    pub alerts: Option<Vec<DayCountsOut>>,
}

fn out(v: Option<Vec<reports::DayCounts>>) -> Option<Vec<DayCountsOut>> {
    v.map(|days| {
        days.into_iter()
            .map(|d| DayCountsOut {
                date: d.date,
                counts: d.counts,
            })
            .collect()
    })
}

/// Tickets, SLA outcomes and alerts per day.
#[utoipa::path(get, path = "/api/v1/reports/trends", tag = "reports", params(TrendQuery),
    responses((status = 200, description = "daily series", body = TrendsOut)))]
pub async fn trends(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<TrendQuery>,
) -> ApiResult<Json<TrendsOut>> {
    let t = reports::trends(&st.platform, &p, q.days.unwrap_or(30)).await?;
    Ok(Json(TrendsOut {
        from: t.from,
        to: t.to,
        incidents: out(t.incidents),
        sla: out(t.sla),
        alerts: out(t.alerts),
    }))
}
