//! The reports page: pictures of the last weeks — tickets opened per day by level, the share of incident
//! deadlines met, alert volume — each with its numbers in a table underneath.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use tianshu_core::Permission;
use tianshu_services::reports::{self, DayCounts};
use tianshu_services::ServiceError;

use super::charts::{percent_line, stacked_bars, Series};
use super::pages::service_error_page;
use super::{render, ConsoleUser, Layout};
use crate::state::AppState;

/// One chart with its table: header labels and rows (date, cells).
struct Chart {
    id: &'static str,
    title: String,
    svg: String,
    columns: Vec<String>,
    rows: Vec<(String, Vec<String>)>,
}

#[derive(Template)]
#[template(path = "reports.html")]
struct ReportsPage {
    l: Layout,
    days: i64,
    choices: Vec<i64>,
    from: String,
    to: String,
    error: Option<String>,
    charts: Vec<Chart>,
}

/// Query of the reports page.
#[derive(Debug, Deserialize)]
pub struct ReportsQuery {
    days: Option<String>,
}

fn short(date: &str) -> String {
    date.get(5..).unwrap_or(date).to_string()
}

fn stacked(
    u: &ConsoleUser,
    id: &'static str,
    title_key: &str,
    days: &[DayCounts],
    keys: &[(&str, String)],
) -> Chart {
    let labels: Vec<String> = days.iter().map(|d| short(&d.date)).collect();
    let series: Vec<Series> = keys
        .iter()
        .map(|(k, label)| Series {
            label: label.clone(),
            class: format!("c-{k}"),
            values: days
                .iter()
                .map(|d| d.counts.get(*k).copied().unwrap_or(0) as f64)
                .collect(),
        })
        .collect();
    let title = u.t.t(title_key);
    Chart {
        id,
        svg: stacked_bars(id, &title, &labels, &series),
        title,
        columns: keys.iter().map(|(_, l)| l.clone()).collect(),
        rows: days
            .iter()
            .map(|d| {
                (
                    d.date.clone(),
                    keys.iter()
                        .map(|(k, _)| d.counts.get(*k).copied().unwrap_or(0).to_string())
                        .collect(),
                )
            })
            .collect(),
    }
}

/// The reports page.
pub async fn page(
    State(st): State<AppState>,
    u: ConsoleUser,
    Query(q): Query<ReportsQuery>,
) -> Response {
    if !u.p.can(Permission::IncidentRead) && !u.p.can(Permission::AlertRead) {
        if let Some(r) = u.require(&st, Permission::IncidentRead) {
            return r;
        }
    }
    let (days, mut error) = match q.days.as_deref().map(str::parse::<i64>) {
        None => (30, None),
        Some(Ok(d)) => (d, None),
        Some(Err(_)) => (30, Some(u.t.t("rep-days-invalid"))),
    };
    let (status, trends) = match reports::trends(&st.platform, &u.p, days).await {
        Ok(t) => (
            if error.is_some() {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::OK
            },
            Some(t),
        ),
        Err(e @ ServiceError::Invalid { .. }) => {
            error = Some(e.localized(u.t.lang()));
            (StatusCode::UNPROCESSABLE_ENTITY, None)
        }
        Err(e) => return service_error_page(&u, &st, e),
    };
    let mut charts = Vec::new();
    let (mut from, mut to) = (String::new(), String::new());
    if let Some(t) = trends {
        from = t.from;
        to = t.to;
        if let Some(inc) = &t.incidents {
            let keys = ["FL2", "FL1", "general"]
                .iter()
                .map(|k| (*k, u.t.t(&format!("level-{k}"))))
                .collect::<Vec<_>>();
            charts.push(stacked(&u, "chart-incidents", "rep-incidents", inc, &keys));
        }
        if let Some(sla) = &t.sla {
            let labels: Vec<String> = sla.iter().map(|d| short(&d.date)).collect();
            let values: Vec<Option<f64>> = sla
                .iter()
                .map(|d| {
                    let met = d.counts.get("met").copied().unwrap_or(0);
                    let all = met + d.counts.get("breached").copied().unwrap_or(0);
                    (all > 0).then(|| met as f64 * 100.0 / all as f64)
                })
                .collect();
            let title = u.t.t("rep-sla");
            charts.push(Chart {
                id: "chart-sla",
                svg: percent_line("chart-sla", &title, &labels, &values),
                title,
                columns: vec![u.t.t("rep-met"), u.t.t("rep-breached"), u.t.t("rep-rate")],
                rows: sla
                    .iter()
                    .zip(&values)
                    .map(|(d, v)| {
                        (
                            d.date.clone(),
                            vec![
                                d.counts.get("met").copied().unwrap_or(0).to_string(),
                                d.counts.get("breached").copied().unwrap_or(0).to_string(),
                                v.map(|v| format!("{v:.1}%")).unwrap_or_else(|| "—".into()),
                            ],
                        )
                    })
                    .collect(),
            });
        }
        if let Some(alerts) = &t.alerts {
            let mut sev: Vec<String> = alerts
                .iter()
                .flat_map(|d| d.counts.keys().cloned())
                .collect();
            sev.sort();
            sev.dedup();
            // Most severe first when the usual names are used.
            sev.sort_by_key(|s| match s.as_str() {
                "critical" | "severe" => 0,
                "major" | "warning" => 1,
                _ => 2,
            });
            let keys: Vec<(&str, String)> = sev.iter().map(|s| (s.as_str(), s.clone())).collect();
            charts.push(stacked(&u, "chart-alerts", "rep-alerts", alerts, &keys));
        }
    }
    render(
        status,
        &ReportsPage {
            l: u.layout(&st, "reports", "rep-title"),
            days,
            choices: vec![7, 30, 90, 365],
            from,
            to,
            error,
            charts,
        },
    )
}
