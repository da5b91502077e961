//! The KPI page (issue 8): scorecards of a month per branch, province or vendor, the KPI-15 ranking as an SVG
//! chart, and a unit's drill-down to the records behind every point lost. Indicators whose measures the
//! records cannot provide yet are shown as not scored with the reason.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use tianshu_core::Permission;
use tianshu_services::kpi::{self, Scorecards};
use tianshu_services::ServiceError;

use super::charts::{ranking_bars, RankBar};
use super::pages::service_error_page;
use super::{render, ConsoleUser, Layout};
use crate::api::kpi::{scorecards_out, KpiCardOut, KpiScorecardsOut};
use crate::state::AppState;

/// A row of the scorecard table.
struct Row {
    unit_name: String,
    cells: Vec<String>,
    total: String,
    max: String,
    percent: String,
    rank: String,
    laggard: bool,
    href: String,
}

#[derive(Template)]
#[template(path = "kpi.html")]
struct KpiPage {
    l: Layout,
    period: String,
    set_key: String,
    by_key: String,
    sets: Vec<(String, String)>,
    bys: Vec<(&'static str, String)>,
    /// Messages of a refused query next to their field (empty: fine).
    period_err: String,
    set_err: String,
    by_err: String,
    data: Option<KpiScorecardsOut>,
    headers: Vec<(String, String)>,
    rows: Vec<Row>,
    chart: String,
    detail: Option<KpiCardOut>,
}

/// Query of the KPI page.
#[derive(Debug, Deserialize)]
pub struct KpiQuery {
    period: Option<String>,
    set: Option<String>,
    by: Option<String>,
    unit: Option<String>,
}

fn num(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn rows_of(s: &KpiScorecardsOut) -> Vec<Row> {
    s.cards
        .iter()
        .map(|c| {
            let r = s.ranking.iter().find(|r| r.unit == c.unit);
            Row {
                unit_name: c.unit_name.clone(),
                cells: c
                    .indicators
                    .iter()
                    .map(|i| i.score.map(num).unwrap_or_else(|| "—".into()))
                    .collect(),
                total: num(c.total),
                max: num(c.max),
                percent: c.percent.map(num).unwrap_or_else(|| "—".into()),
                rank: r.map(|r| r.rank.to_string()).unwrap_or_default(),
                laggard: r.is_some_and(|r| r.laggard),
                href: format!(
                    "/kpi?period={}&set={}&by={}&unit={}",
                    s.period, s.set, s.by, c.unit
                ),
            }
        })
        .collect()
}

/// The message of a refused query when it names `field`.
pub(super) fn err_of(error: &Option<(String, String)>, field: &str) -> String {
    error
        .as_ref()
        .filter(|(f, _)| f == field)
        .map(|(_, m)| m.clone())
        .unwrap_or_default()
}

/// The KPI page.
pub async fn page(
    State(st): State<AppState>,
    u: ConsoleUser,
    Query(q): Query<KpiQuery>,
) -> Response {
    if let Some(r) = u.require(&st, Permission::KpiRead) {
        return r;
    }
    let pol = st.platform.policy.current();
    let sets: Vec<(String, String)> = pol
        .pack
        .kpi
        .sets
        .iter()
        .map(|s| (s.key.clone(), format!("{} ({})", s.name_zh, s.rule)))
        .collect();
    let bys = vec![
        ("branch", u.t.t("kpi-by-branch")),
        ("province", u.t.t("kpi-by-province")),
        ("vendor", u.t.t("kpi-by-vendor")),
    ];
    let period = q
        .period
        .clone()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| kpi::current_month(&st.platform));
    let set = q
        .set
        .clone()
        .filter(|s| !s.trim().is_empty())
        .or_else(|| sets.first().map(|s| s.0.clone()))
        .unwrap_or_default();
    let by = q.by.clone().unwrap_or_else(|| "branch".into());
    let result: Result<Scorecards, ServiceError> = kpi::scorecards(
        &st.platform,
        &u.p,
        Some(&period),
        Some(&set),
        Some(&by),
        None,
    )
    .await;
    let (status, data, error) = match result {
        Ok(s) => (StatusCode::OK, Some(scorecards_out(s)), None),
        Err(e @ ServiceError::Invalid { .. }) => {
            let field = match &e {
                ServiceError::Invalid { field, .. } => field.clone(),
                _ => String::new(),
            };
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some((field, e.localized(u.t.lang()))),
            )
        }
        Err(e) => return service_error_page(&u, &st, e),
    };
    let (mut headers, mut rows, mut chart, mut detail) =
        (Vec::new(), Vec::new(), String::new(), None);
    if let Some(s) = &data {
        if let Some(c) = s.cards.first() {
            headers = c
                .indicators
                .iter()
                .map(|i| (format!("{} {}", i.rule, i.name_zh), num(i.max)))
                .collect();
        }
        rows = rows_of(s);
        let max = s.cards.iter().map(|c| c.max).fold(0.0, f64::max);
        let bars: Vec<RankBar> = s
            .ranking
            .iter()
            .map(|r| RankBar {
                label: s
                    .cards
                    .iter()
                    .find(|c| c.unit == r.unit)
                    .map(|c| c.unit_name.clone())
                    .unwrap_or_else(|| r.unit.clone()),
                value: r.total,
                marked: r.laggard,
            })
            .collect();
        chart = ranking_bars("chart-kpi-ranking", &u.t.t("kpi-ranking"), max, &bars);
        if let Some(unit) = q.unit.as_deref().filter(|s| !s.is_empty()) {
            detail = s.cards.iter().find(|c| c.unit == unit).cloned();
        }
    }
    render(
        status,
        &KpiPage {
            l: u.layout(&st, "kpi", "kpi-title"),
            period,
            set_key: set,
            by_key: by,
            sets,
            bys,
            period_err: err_of(&error, "period"),
            set_err: err_of(&error, "set"),
            by_err: err_of(&error, "by"),
            data,
            headers,
            rows,
            chart,
            detail,
        },
    )
}
