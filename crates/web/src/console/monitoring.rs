//! Console pages for monitoring (issue 5): dial-test probes with availability and a latency chart (inline SVG
//! rendered here, no script), one probe's runs with per-step timings, the catalogue of SQL monitoring points,
//! and the MON-09 sign-in / MON-10 budget panels of /alerts.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use tianshu_core::Permission;
use tianshu_services::monitoring::{points, probes, signin};

use super::pages::service_error_page;
use super::{render, ConsoleUser, Layout};
use crate::state::AppState;

/// The MON-09 panel on /alerts.
pub struct SigninPanel {
    pub day: String,
    pub deadline: String,
    pub signed: bool,
    pub signed_by: String,
    pub signed_at: String,
    pub note: String,
    pub overdue: bool,
    pub previous_day: String,
    pub unhandled: Vec<(i64, String)>,
    pub can_sign: bool,
}

/// Today's sign-in state for the /alerts page.
pub async fn signin_panel(st: &AppState, u: &ConsoleUser) -> Option<SigninPanel> {
    let s = signin::status(&st.platform, &u.p).await.ok()?;
    Some(SigninPanel {
        day: s.day,
        deadline: s.deadline,
        signed: s.signed_by.is_some(),
        signed_by: s.signed_by.unwrap_or_default(),
        signed_at: s
            .signed_at
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| super::pages::local(st, t.timestamp_micros()))
            .unwrap_or_default(),
        note: s.note.unwrap_or_default(),
        overdue: s.overdue,
        previous_day: s.previous_day,
        unhandled: s.unhandled.into_iter().map(|a| (a.id, a.summary)).collect(),
        can_sign: u.p.can(Permission::AlertManage),
    })
}

/// The MON-10 panel on /alerts.
pub struct BudgetPanel {
    pub month: String,
    pub per_month: i64,
    /// Region (or "—"), count, over.
    pub rows: Vec<(String, i64, bool)>,
}

/// This month's severe-alarm counts per region.
pub async fn budget_panel(st: &AppState, u: &ConsoleUser) -> Option<BudgetPanel> {
    let b = signin::budget(&st.platform, &u.p, None).await.ok()?;
    Some(BudgetPanel {
        month: b.month,
        per_month: b.per_month,
        rows: b
            .regions
            .into_iter()
            .map(|r| {
                let name = if r.region.is_empty() {
                    "—".to_string()
                } else {
                    r.region
                };
                (name, r.count, r.over)
            })
            .collect(),
    })
}

/// A latency sparkline of runs (oldest first): one bar per run, its height the total latency, failed runs
/// drawn full height in the failure colour. Only numbers go into the markup.
pub fn latency_svg(runs: &[(bool, i64)]) -> String {
    const W: i64 = 240;
    const H: i64 = 40;
    if runs.is_empty() {
        return String::new();
    }
    let max = runs.iter().map(|(_, ms)| *ms).max().unwrap_or(1).max(1);
    let n = runs.len() as i64;
    let bw = (W / n).max(1);
    let mut s = format!(
        r#"<svg class="spark" role="img" width="{W}" height="{H}" viewBox="0 0 {W} {H}" xmlns="http://www.w3.org/2000/svg">"#
    );
    for (i, (ok, ms)) in runs.iter().enumerate() {
        let h = if *ok {
            ((*ms).max(0) * (H - 2) / max).max(1)
        } else {
            H
        };
        let x = i as i64 * bw;
        let fill = if *ok { "#2f7d32" } else { "#c62828" };
        s.push_str(&format!(
            r#"<rect x="{x}" y="{}" width="{}" height="{h}" fill="{fill}"><title>{ms} ms</title></rect>"#,
            H - h,
            (bw - 1).max(1)
        ));
    }
    s.push_str("</svg>");
    s
}

struct ProbeRow {
    id: i64,
    name: String,
    system: String,
    enabled: bool,
    alerting: bool,
    last_ok: String,
    availability: String,
    avg_ms: String,
    failures: i64,
    next: String,
    chart: String,
}

#[derive(Template)]
#[template(path = "probes.html")]
struct ProbesPage {
    l: Layout,
    rows: Vec<ProbeRow>,
    manage: bool,
}

fn when(st: &AppState, rfc: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc)
        .map(|t| super::pages::local(st, t.timestamp_micros()))
        .unwrap_or_default()
}

/// The probes with their availability (24 h), average latency and a chart of the latest runs.
pub async fn probes_page(State(st): State<AppState>, u: ConsoleUser) -> Response {
    if !u.p.can(Permission::AlertRead) {
        return super::pages::forbidden(&u, &st, Permission::AlertRead);
    }
    let list = match probes::list(&st.platform, &u.p).await {
        Ok(l) => l,
        Err(e) => return service_error_page(&u, &st, e),
    };
    let mut rows = Vec::with_capacity(list.len());
    for p in list {
        let runs = st
            .platform
            .store
            .probe_runs(p.id, 40)
            .await
            .unwrap_or_default();
        let series: Vec<(bool, i64)> = runs.iter().rev().map(|r| (r.ok != 0, r.total_ms)).collect();
        rows.push(ProbeRow {
            id: p.id,
            name: p.name,
            system: p.system,
            enabled: p.enabled,
            alerting: p.alerting,
            last_ok: match p.last_ok {
                Some(true) => u.t.t("probe-ok"),
                Some(false) => u.t.t("probe-failed"),
                None => "—".into(),
            },
            availability: p
                .availability_24h
                .map_or("—".into(), |a| format!("{a:.1}%")),
            avg_ms: p.avg_ms_24h.map_or("—".into(), |a| format!("{a:.0}")),
            failures: p.consecutive_failures,
            next: when(&st, &p.next_run_at),
            chart: latency_svg(&series),
        });
    }
    render(
        StatusCode::OK,
        &ProbesPage {
            l: u.layout(&st, "probes", "probe-title-list"),
            rows,
            manage: u.p.can(Permission::ProbeManage),
        },
    )
}

struct StepCell {
    name: String,
    ok: bool,
    status: String,
    ms: u64,
    error: String,
}

struct RunRow {
    at: String,
    ok: bool,
    total_ms: i64,
    error: String,
    steps: Vec<StepCell>,
}

#[derive(Template)]
#[template(path = "probe.html")]
struct ProbePage {
    l: Layout,
    id: i64,
    name: String,
    system: String,
    region: String,
    severity: String,
    availability: String,
    alerting: bool,
    failures: i64,
    steps: Vec<(String, String, String)>,
    chart: String,
    runs: Vec<RunRow>,
    manage: bool,
}

/// One probe: its steps and its latest runs with per-step timings.
pub async fn probe_page(
    State(st): State<AppState>,
    u: ConsoleUser,
    Path(id): Path<i64>,
) -> Response {
    let v = match probes::get(&st.platform, &u.p, id, 50).await {
        Ok(v) => v,
        Err(e) => return service_error_page(&u, &st, e),
    };
    let steps = v.probe.scenario["steps"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| {
                    (
                        s["name"].as_str().unwrap_or("").to_string(),
                        s["method"].as_str().unwrap_or("GET").to_string(),
                        s["url"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    // The latency chart: one bar per run (oldest first) on a millisecond axis, good and failed runs apart.
    let labels: Vec<String> = v
        .runs
        .iter()
        .rev()
        .map(|r| {
            when(&st, &r.started_at)
                .get(11..16)
                .unwrap_or("")
                .to_string()
        })
        .collect();
    let ms = |want: bool| -> Vec<f64> {
        v.runs
            .iter()
            .rev()
            .map(|r| {
                if r.ok == want {
                    r.total_ms.max(1) as f64
                } else {
                    0.0
                }
            })
            .collect()
    };
    let chart = if v.runs.is_empty() {
        String::new()
    } else {
        super::charts::stacked_bars(
            "probe-latency-chart",
            &u.t.t("probe-latency-ms"),
            &labels,
            &[
                super::charts::Series {
                    label: u.t.t("probe-ok"),
                    class: "c-probe-ok".into(),
                    values: ms(true),
                },
                super::charts::Series {
                    label: u.t.t("probe-failed"),
                    class: "c-probe-failed".into(),
                    values: ms(false),
                },
            ],
        )
    };
    let runs = v
        .runs
        .iter()
        .map(|r| RunRow {
            at: when(&st, &r.started_at),
            ok: r.ok,
            total_ms: r.total_ms,
            error: r.error.clone().unwrap_or_default(),
            steps: r
                .steps
                .iter()
                .map(|s| StepCell {
                    name: s.name.clone(),
                    ok: s.ok,
                    status: s.status.map_or("—".into(), |x| x.to_string()),
                    ms: s.latency_ms,
                    error: s.error.clone().unwrap_or_default(),
                })
                .collect(),
        })
        .collect();
    render(
        StatusCode::OK,
        &ProbePage {
            l: u.layout(&st, "probes", "probe-title-detail"),
            id: v.probe.id,
            name: v.probe.name,
            system: v.probe.system,
            region: v.probe.region,
            severity: v.probe.severity,
            availability: v
                .probe
                .availability_24h
                .map_or("—".into(), |a| format!("{a:.1}%")),
            alerting: v.probe.alerting,
            failures: v.probe.consecutive_failures,
            steps,
            chart,
            runs,
            manage: u.p.can(Permission::ProbeManage),
        },
    )
}

struct PointRow {
    id: i64,
    name: String,
    owner: String,
    runbook: String,
    database: String,
    rule: String,
    state: String,
    state_key: String,
    value: String,
    reason: String,
    last: String,
}

#[derive(Template)]
#[template(path = "points.html")]
struct PointsPage {
    l: Layout,
    rows: Vec<PointRow>,
    databases: Vec<tianshu_store::monitoring::DatabaseRow>,
    manage: bool,
}

/// The catalogue of SQL monitoring points with owner, runbook and state.
pub async fn points_page(State(st): State<AppState>, u: ConsoleUser) -> Response {
    let list = match points::list(&st.platform, &u.p).await {
        Ok(l) => l,
        Err(e) => return service_error_page(&u, &st, e),
    };
    let rows = list
        .into_iter()
        .map(|p| PointRow {
            rule: if p.comparison == "stale" {
                format!("{} > {} s", u.t.t("point-age"), p.stale_after_s)
            } else {
                let op = match p.comparison.as_str() {
                    "lt" => "<",
                    "le" => "≤",
                    "gt" => ">",
                    _ => "≥",
                };
                format!("{op} {}", p.threshold)
            },
            state: u.t.t(&format!("point-state-{}", p.state)),
            state_key: p.state,
            id: p.id,
            name: p.name,
            owner: p.owner,
            runbook: p.runbook_url,
            database: p.database,
            value: p.last_value.unwrap_or_default(),
            reason: p.last_reason.unwrap_or_default(),
            last: p
                .last_run_at
                .as_deref()
                .map(|t| when(&st, t))
                .unwrap_or_default(),
        })
        .collect();
    render(
        StatusCode::OK,
        &PointsPage {
            l: u.layout(&st, "monitoring-points", "point-title-list"),
            rows,
            databases: points::databases(&st.platform, &u.p)
                .await
                .unwrap_or_default(),
            manage: u.p.can(Permission::ProbeManage),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::latency_svg;

    #[test]
    fn sparkline_scales_bars_and_marks_failures() {
        let s = latency_svg(&[(true, 100), (true, 50), (false, 3000)]);
        assert!(s.starts_with("<svg"));
        assert_eq!(s.matches("<rect").count(), 3);
        assert!(s.contains(r##"height="40" fill="#c62828""##), "{s}");
        assert!(latency_svg(&[]).is_empty());
    }
}
