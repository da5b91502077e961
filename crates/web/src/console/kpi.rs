//! The KPI page (issue 8): scorecards of a month per branch, province or vendor, the KPI-15 ranking as an SVG
//! chart, and a unit's drill-down to the records behind every point lost. Indicators whose measures the
//! records cannot provide yet are shown as not scored with the reason. In the drill-down, `assessed` indicators
//! (KPI-12/KPI-13) show their evaluator assessments with the history and, for `kpi.assess`, a form to assess.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tianshu_core::policy::FormulaKind;
use tianshu_core::Permission;
use tianshu_services::assessments::{self, points_of, AssessmentInput};
use tianshu_services::kpi::{self, Scorecards};
use tianshu_services::ServiceError;

use super::charts::{ranking_bars, RankBar};
use super::pages::{field, form_pairs, local, service_error_page};
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
    /// The drill-down's `assessed` indicators with their assessments and form (KPI-13).
    assess: Vec<AssessForm>,
    /// May assess (`kpi.assess`).
    can_assess: bool,
}

/// One `assessed` indicator of the drill-down: its assessments (current first) and the form.
struct AssessForm {
    key: String,
    label: String,
    max: String,
    /// `points · who · when · reason`, newest first; superseded ones marked.
    history: Vec<(String, bool)>,
    /// Refusals next to their field, and the values the refused form held.
    points_err: String,
    reason_err: String,
    submit_err: String,
    points: String,
    reason: String,
}

/// A refused assessment: indicator, field, message, and the points and reason typed.
struct AssessRefusal {
    indicator: String,
    field: String,
    msg: String,
    points: String,
    reason: String,
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
    build(&st, &u, q, None, StatusCode::OK).await
}

/// The drill-down's assessed indicators of `set` for `unit` with their history, a refusal placed at its form.
async fn assess_forms(
    st: &AppState,
    u: &ConsoleUser,
    set: &str,
    period: &str,
    unit: &str,
    refusal: Option<&AssessRefusal>,
) -> Result<Vec<AssessForm>, ServiceError> {
    let pol = st.platform.policy.current();
    let Some(set_def) = pol.pack.kpi.set(set) else {
        return Ok(Vec::new());
    };
    let history = assessments::history(&st.platform, &u.p, set, period, Some(unit)).await?;
    Ok(set_def
        .indicators
        .iter()
        .filter(|i| i.kind == FormulaKind::Assessed)
        .map(|i| {
            let r = refusal.filter(|r| r.indicator == i.key);
            let at = |f: &str| {
                r.filter(|r| r.field == f)
                    .map(|r| r.msg.clone())
                    .unwrap_or_default()
            };
            AssessForm {
                key: i.key.clone(),
                label: format!("{} {}", i.rule, i.name_zh),
                max: i.max.to_string(),
                history: history
                    .iter()
                    .filter(|a| a.indicator_key == i.key)
                    .map(|a| {
                        (
                            format!(
                                "{} / {} · {} · {} · {}",
                                points_of(a),
                                i.max,
                                a.assessed_by,
                                local(st, a.assessed_at),
                                a.reason
                            ),
                            a.superseded_at.is_some(),
                        )
                    })
                    .collect(),
                points_err: at("points"),
                reason_err: at("reason"),
                submit_err: r
                    .filter(|r| r.field != "points" && r.field != "reason")
                    .map(|r| r.msg.clone())
                    .unwrap_or_default(),
                points: r.map(|r| r.points.clone()).unwrap_or_default(),
                reason: r.map(|r| r.reason.clone()).unwrap_or_default(),
            }
        })
        .collect())
}

/// Records an assessment from the drill-down's form; a refusal re-renders the page with it next to the field.
pub async fn assess(State(st): State<AppState>, u: ConsoleUser, body: Bytes) -> Response {
    let pairs = form_pairs(&body);
    if let Some(r) = u.check_csrf(&st, &field(&pairs, "csrf")) {
        return r;
    }
    let q = KpiQuery {
        period: Some(field(&pairs, "period")),
        set: Some(field(&pairs, "set")),
        by: Some(field(&pairs, "by")),
        unit: Some(field(&pairs, "unit")),
    };
    let indicator = field(&pairs, "indicator");
    let points_text = field(&pairs, "points");
    let reason = field(&pairs, "reason");
    let points = points_text.trim().parse::<f64>();
    let result = match points {
        Ok(v) if v.is_finite() => {
            assessments::assess(
                &st.platform,
                &u.p,
                AssessmentInput {
                    set: field(&pairs, "set"),
                    indicator: indicator.clone(),
                    unit: field(&pairs, "unit"),
                    period: field(&pairs, "period"),
                    points: v,
                    reason: reason.clone(),
                },
            )
            .await
        }
        _ => Err(ServiceError::invalid_zh(
            "points",
            format!("'{points_text}' is not a number"),
            format!("评分“{points_text}”不是数字"),
        )),
    };
    match result {
        Ok(_) => Redirect::to(&format!(
            "/kpi?period={}&set={}&by={}&unit={}#assess-{indicator}",
            field(&pairs, "period"),
            field(&pairs, "set"),
            field(&pairs, "by"),
            field(&pairs, "unit")
        ))
        .into_response(),
        Err(ServiceError::Forbidden(p)) => super::pages::forbidden(&u, &st, p),
        Err(e) => {
            let status = match &e {
                ServiceError::UnknownReference { .. } => StatusCode::BAD_REQUEST,
                ServiceError::Conflict { .. } => StatusCode::CONFLICT,
                ServiceError::OutOfScope => StatusCode::FORBIDDEN,
                ServiceError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            if status == StatusCode::INTERNAL_SERVER_ERROR {
                return service_error_page(&u, &st, e);
            }
            let refusal = AssessRefusal {
                indicator,
                field: e.field().unwrap_or("").to_string(),
                msg: e.localized(u.t.lang()),
                points: points_text,
                reason,
            };
            build(&st, &u, q, Some(refusal), status).await
        }
    }
}

async fn build(
    st: &AppState,
    u: &ConsoleUser,
    q: KpiQuery,
    refusal: Option<AssessRefusal>,
    ok_status: StatusCode,
) -> Response {
    if let Some(r) = u.require(st, Permission::KpiRead) {
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
        Ok(s) => (ok_status, Some(scorecards_out(s)), None),
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
        Err(e) => return service_error_page(u, st, e),
    };
    let (mut headers, mut rows, mut chart, mut detail) =
        (Vec::new(), Vec::new(), String::new(), None);
    let mut assess = Vec::new();
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
            // The page shows when an indicator was assessed in the centre's local time.
            for a in detail
                .iter_mut()
                .flat_map(|d| d.indicators.iter_mut())
                .filter_map(|i| i.assessment.as_mut())
            {
                a.assessed = local(st, a.assessed_at);
            }
            if detail.is_some() {
                assess = match assess_forms(st, u, &s.set, &s.period, unit, refusal.as_ref()).await
                {
                    Ok(f) => f,
                    Err(e) => return service_error_page(u, st, e),
                };
            }
        }
    }
    render(
        status,
        &KpiPage {
            l: u.layout(st, "kpi", "kpi-title"),
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
            assess,
            can_assess: u.p.can(Permission::KpiAssess),
        },
    )
}
