//! The reports page: pictures of the last weeks — tickets opened per day by level, the share of incident
//! deadlines met, alert volume, each reconciliation job's consistency, and this month's KPI ranking — each
//! with its numbers in a table underneath. Each picture appears only to those allowed to read its records.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use tianshu_core::Permission;
use tianshu_services::reports::{self, DayCounts};
use tianshu_services::ServiceError;
use tianshu_services::{kpi, recon};

use super::charts::{percent_line, ranking_bars, stacked_bars, RankBar, Series};
use super::pages::service_error_page;
use super::{render, ConsoleUser, Layout};
use crate::state::AppState;

/// One chart with its table: header labels and rows (date, cells).
struct Chart {
    id: String,
    title: String,
    svg: String,
    /// Header of the first (row label) column.
    first: String,
    columns: Vec<String>,
    rows: Vec<(String, Vec<String>)>,
    /// Where the records behind the picture are: (href, text).
    link: Option<(String, String)>,
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
        id: id.to_string(),
        svg: stacked_bars(id, &title, &labels, &series),
        title,
        first: u.t.t("rep-date"),
        link: None,
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
    if ![
        Permission::IncidentRead,
        Permission::AlertRead,
        Permission::ReconRead,
        Permission::KpiRead,
    ]
    .iter()
    .any(|p| u.p.can(*p))
    {
        if let Some(r) = u.require(&st, Permission::IncidentRead) {
            return r;
        }
    }
    let (days, mut error) = match q.days.as_deref().map(str::parse::<i64>) {
        None => (30, None),
        Some(Ok(d)) => (d, None),
        Some(Err(_)) => (30, Some(u.t.t("rep-days-invalid"))),
    };
    let reads_trends = u.p.can(Permission::IncidentRead) || u.p.can(Permission::AlertRead);
    let trends = if reads_trends {
        reports::trends(&st.platform, &u.p, days).await
    } else {
        window_only(&st, days)
    };
    let (status, trends) = match trends {
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
                id: "chart-sla".into(),
                svg: percent_line("chart-sla", &title, &labels, &values),
                title,
                first: u.t.t("rep-date"),
                link: None,
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
    if u.p.can(Permission::ReconRead) && !from.is_empty() {
        match consistency_charts(&st, &u, &from, &to).await {
            Ok(mut c) => charts.append(&mut c),
            Err(e) => return service_error_page(&u, &st, e),
        }
    }
    if u.p.can(Permission::KpiRead) {
        match kpi_ranking_chart(&st, &u).await {
            Ok(c) => charts.extend(c),
            Err(e) => return service_error_page(&u, &st, e),
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

/// The window alone, for those who read neither incidents nor alerts (the reconciliation and KPI pictures).
fn window_only(st: &AppState, days: i64) -> Result<reports::Trends, ServiceError> {
    if !(1..=reports::MAX_DAYS).contains(&days) {
        return Err(ServiceError::invalid(
            "days",
            format!("must be between 1 and {}", reports::MAX_DAYS),
        ));
    }
    let today = st
        .platform
        .clock
        .now()
        .with_timezone(&st.platform.time_zone())
        .date_naive();
    Ok(reports::Trends {
        from: (today - chrono::Days::new(days as u64 - 1)).to_string(),
        to: today.to_string(),
        incidents: None,
        sla: None,
        alerts: None,
    })
}

/// The most runs one consistency picture reads (the service's own limit): a daily job over the longest window.
const TREND_RUNS: i64 = 366;

/// One picture per reconciliation job: the consistency of its runs whose day falls in the window, against
/// the pack's target.
async fn consistency_charts(
    st: &AppState,
    u: &ConsoleUser,
    from: &str,
    to: &str,
) -> Result<Vec<Chart>, ServiceError> {
    let p = &st.platform;
    let tz = p.time_zone();
    let mut out = Vec::new();
    for job in recon::jobs(p, &u.p).await? {
        let trend = recon::trend(p, &u.p, &job.key, TREND_RUNS).await?;
        let points: Vec<(String, f64)> = trend
            .points
            .iter()
            .map(|t| {
                let day = t.as_of.clone().unwrap_or_else(|| {
                    chrono::DateTime::from_timestamp(t.finished_at, 0)
                        .map(|d| d.with_timezone(&tz).format("%Y-%m-%d").to_string())
                        .unwrap_or_default()
                });
                (day, t.consistency * 100.0)
            })
            .filter(|(day, _)| day.as_str() >= from && day.as_str() <= to)
            .collect();
        if points.is_empty() {
            continue;
        }
        let id = format!("chart-recon-{}", job.key);
        let name = super::recon::job_name(u, &job.name_zh, &job.name_en);
        let title = format!("{} — {}", u.t.t("rep-consistency"), name);
        let labels: Vec<String> = points.iter().map(|(d, _)| short(d)).collect();
        let values: Vec<Option<f64>> = points.iter().map(|(_, v)| Some(*v)).collect();
        let target = format!("{}%", trend.target_percent);
        out.push(Chart {
            svg: percent_line(&id, &title, &labels, &values),
            id,
            title,
            first: u.t.t("rep-date"),
            columns: vec![u.t.t("rep-consistency-col"), u.t.t("rep-target")],
            rows: points
                .iter()
                .map(|(d, v)| (d.clone(), vec![format!("{v:.2}%"), target.clone()]))
                .collect(),
            link: Some(("/recon".into(), u.t.t("rep-open-recon"))),
        });
    }
    Ok(out)
}

/// This month's ranking by the first KPI set of the pack, per branch (KPI-15 laggards marked).
async fn kpi_ranking_chart(st: &AppState, u: &ConsoleUser) -> Result<Option<Chart>, ServiceError> {
    let p = &st.platform;
    let period = kpi::current_month(p);
    let s = crate::api::kpi::scorecards_out(
        kpi::scorecards(p, &u.p, Some(&period), None, Some("branch"), None).await?,
    );
    if s.ranking.is_empty() {
        return Ok(None);
    }
    let name_of = |unit: &str| {
        s.cards
            .iter()
            .find(|c| c.unit == unit)
            .map(|c| c.unit_name.clone())
            .unwrap_or_else(|| unit.to_string())
    };
    let max = s.cards.iter().map(|c| c.max).fold(0.0, f64::max);
    let bars: Vec<RankBar> = s
        .ranking
        .iter()
        .map(|r| RankBar {
            label: name_of(&r.unit),
            value: r.total,
            marked: r.laggard,
        })
        .collect();
    let id = "chart-kpi-ranking".to_string();
    let title = format!(
        "{} — {} {} ({})",
        u.t.t("kpi-ranking"),
        s.set_name_zh,
        s.period,
        s.set_rule
    );
    let (yes, no) = (u.t.t("rep-yes"), String::new());
    Ok(Some(Chart {
        svg: ranking_bars(&id, &title, max, &bars),
        id,
        title,
        first: u.t.t("rep-rank"),
        columns: vec![u.t.t("rep-unit"), u.t.t("rep-points"), u.t.t("rep-laggard")],
        rows: s
            .ranking
            .iter()
            .map(|r| {
                (
                    r.rank.to_string(),
                    vec![
                        name_of(&r.unit),
                        format!("{:.2}", r.total),
                        if r.laggard { yes.clone() } else { no.clone() },
                    ],
                )
            })
            .collect(),
        link: Some((
            format!("/kpi?period={}&set={}&by=branch", s.period, s.set),
            u.t.t("rep-open-kpi"),
        )),
    }))
}
