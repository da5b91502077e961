//! The weekly / monthly report pack page (issue 8, RPT): frequent faults, major faults, program defects, SLA
//! compliance (chart), duty statistics, reconciliation ("no runs" until runs are stored) and, monthly, the KPI
//! ranking (chart); each section with its table and the XLSX download.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use tianshu_core::Permission;
use tianshu_services::report_pack::{self, PackKind};
use tianshu_services::ServiceError;

use super::charts::{ranking_bars, stacked_bars, RankBar, Series};
use super::pages::service_error_page;
use super::{render, ConsoleUser, Layout};
use crate::api::kpi::{pack_out, ReportPackOut};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "report_pack.html")]
struct PackPage {
    l: Layout,
    kind_key: String,
    period: String,
    kind_err: String,
    period_err: String,
    pack: Option<ReportPackOut>,
    sla_chart: String,
    kpi_chart: String,
    xlsx: String,
    major: Vec<MajorRow>,
}

/// A major fault with local times.
struct MajorRow {
    href: String,
    number: String,
    title: String,
    level: String,
    state: String,
    created: String,
    resolved: String,
}

/// Query of the pack page.
#[derive(Debug, Deserialize)]
pub struct PackQuery {
    kind: Option<String>,
    period: Option<String>,
}

fn local(st: &AppState, us: &i64) -> String {
    tianshu_store::time::from_micros(*us)
        .with_timezone(&st.platform.time_zone())
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// The report pack page.
pub async fn page(
    State(st): State<AppState>,
    u: ConsoleUser,
    Query(q): Query<PackQuery>,
) -> Response {
    if let Some(r) = u.require(&st, Permission::ReportRead) {
        return r;
    }
    let kind_s = q.kind.clone().unwrap_or_else(|| "monthly".into());
    let built = match PackKind::parse(&kind_s) {
        Ok(kind) => {
            let period = q
                .period
                .clone()
                .filter(|s| !s.trim().is_empty())
                .unwrap_or_else(|| report_pack::current_period(&st.platform, kind));
            report_pack::build(&st.platform, &u.p, kind, Some(&period))
                .await
                .map(|p| (period, p))
        }
        Err(e) => Err(e),
    };
    let period_in = q.period.clone().unwrap_or_default();
    let (status, pack, error, period) = match built {
        Ok((period, p)) => (StatusCode::OK, Some(pack_out(p)), None, period),
        Err(e @ ServiceError::Invalid { .. }) => {
            let field = match &e {
                ServiceError::Invalid { field, .. } => field.clone(),
                _ => String::new(),
            };
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some((field, e.localized(u.t.lang()))),
                period_in,
            )
        }
        Err(e) => return service_error_page(&u, &st, e),
    };
    let (mut sla_chart, mut kpi_chart, mut xlsx) = (String::new(), String::new(), String::new());
    if let Some(p) = &pack {
        let labels: Vec<String> = p.sla.iter().map(|l| l.rule.clone()).collect();
        sla_chart = stacked_bars(
            "chart-pack-sla",
            &u.t.t("pack-sla"),
            &labels,
            &[
                Series {
                    label: u.t.t("rep-met"),
                    class: "c-rank".into(),
                    values: p.sla.iter().map(|l| l.met as f64).collect(),
                },
                Series {
                    label: u.t.t("rep-breached"),
                    class: "c-laggard".into(),
                    values: p.sla.iter().map(|l| l.breached as f64).collect(),
                },
            ],
        );
        if let Some(k) = &p.kpi {
            let max = k.cards.iter().map(|c| c.max).fold(0.0, f64::max);
            let bars: Vec<RankBar> = k
                .ranking
                .iter()
                .map(|r| RankBar {
                    label: k
                        .cards
                        .iter()
                        .find(|c| c.unit == r.unit)
                        .map_or_else(|| r.unit.clone(), |c| c.unit_name.clone()),
                    value: r.total,
                    marked: r.laggard,
                })
                .collect();
            kpi_chart = ranking_bars("chart-pack-kpi", &u.t.t("kpi-ranking"), max, &bars);
        }
        xlsx = format!(
            "/api/v1/reports/pack.xlsx?kind={}&period={}",
            p.kind, p.period
        );
    }
    let major: Vec<MajorRow> = pack
        .as_ref()
        .map(|p| {
            p.major
                .iter()
                .map(|m| MajorRow {
                    href: format!("/incidents/{}", m.id),
                    number: m.number.clone(),
                    title: m.title.clone(),
                    level: m.fault_level.clone(),
                    state: m.state.clone(),
                    created: local(&st, &m.created_at),
                    resolved: m
                        .resolved_at
                        .as_ref()
                        .map(|r| local(&st, r))
                        .unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default();
    render(
        status,
        &PackPage {
            l: u.layout(&st, "reports", "pack-title"),
            kind_key: kind_s,
            period,
            kind_err: super::kpi::err_of(&error, "kind"),
            period_err: super::kpi::err_of(&error, "period"),
            pack,
            sla_chart,
            kpi_chart,
            xlsx,
            major,
        },
    )
}
