//! Evaluator assessments of `assessed` KPI indicators (issue 8; KPI-12, KPI-13): recorded with
//! `POST /api/v1/kpi/assessments` (`kpi.assess`), listed with their history.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use tianshu_services::assessments::{self, points_of, AssessmentInput};
use tianshu_store::assessments::AssessmentRow;
use utoipa::{IntoParams, ToSchema};

use crate::api::ts;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiQuery, Auth};
use crate::state::AppState;

/// An evaluator's assessment of one indicator of one unit for one month.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KpiAssessmentOut {
    pub id: i64,
    pub set: String,
    pub indicator: String,
    /// The indicator's rule when assessed (KPI-13).
    pub rule: String,
    /// Unit key and name.
    pub unit: String,
    pub unit_name: String,
    /// `YYYY-MM`.
    pub period: String,
    pub points: f64,
    /// The indicator's full marks when assessed.
    pub max: f64,
    pub reason: String,
    /// Who assessed (`user:name`) and when (Unix microseconds UTC, and RFC 3339).
    pub assessed_by: String,
    pub assessed_at: i64,
    pub assessed: String,
    /// The assessment this one replaced.
    pub supersedes: Option<i64>,
    /// The assessment that replaced this one (null: current).
    pub superseded_by: Option<i64>,
    pub superseded_at: Option<i64>,
}

impl From<AssessmentRow> for KpiAssessmentOut {
    fn from(a: AssessmentRow) -> Self {
        KpiAssessmentOut {
            points: points_of(&a).as_f64(),
            max: tianshu_core::kpi::Points::from_hundredths(a.max_points).as_f64(),
            assessed: ts(a.assessed_at),
            id: a.id,
            set: a.set_key,
            indicator: a.indicator_key,
            rule: a.rule,
            unit: a.unit,
            unit_name: a.unit_name,
            period: a.period,
            reason: a.reason,
            assessed_by: a.assessed_by,
            assessed_at: a.assessed_at,
            supersedes: a.supersedes,
            superseded_by: a.superseded_by,
            superseded_at: a.superseded_at,
        }
    }
}

/// A recorded assessment and the one it superseded.
#[derive(Debug, Serialize, ToSchema)]
pub struct KpiAssessOut {
    pub current: KpiAssessmentOut,
    pub superseded: Option<KpiAssessmentOut>,
}

/// The assessments of a set and month, newest first (superseded ones kept).
#[derive(Debug, Serialize, ToSchema)]
pub struct KpiAssessmentListOut {
    pub assessments: Vec<KpiAssessmentOut>,
}

/// An assessment to record.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KpiAssessBody {
    /// Indicator set key of kpi.toml (`agent_portal_branch`).
    pub set: String,
    /// Key of an `assessed` indicator of the set; an indicator scored from records → 422 on `indicator`.
    pub indicator: String,
    /// Key of the unit (branch, province or vendor); unknown → 400 on `unit`.
    pub unit: String,
    /// Local month `YYYY-MM` (begun).
    pub period: String,
    /// Points within 0..=the indicator's full marks, exact to 0.01; outside → 422 on `points` citing its rule.
    pub points: f64,
    /// Why these points (required, at most 2000 characters).
    pub reason: String,
}

/// Which assessments.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct KpiAssessmentQuery {
    pub set: String,
    /// `YYYY-MM`.
    pub period: String,
    /// One unit's key.
    pub unit: Option<String>,
}

/// Records the points of an `assessed` indicator for a unit and month (KPI-12/KPI-13; `kpi.assess`, province
/// scope). A re-assessment supersedes the current one; both are kept and audited. The scorecards score the
/// indicator from the current one and show it in the drill-down.
#[utoipa::path(post, path = "/api/v1/kpi/assessments", tag = "kpi", request_body = KpiAssessBody,
    responses((status = 201, description = "recorded", body = KpiAssessOut)))]
pub async fn assess(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiJson(b): ApiJson<KpiAssessBody>,
) -> ApiResult<(StatusCode, Json<KpiAssessOut>)> {
    let o = assessments::assess(
        &st.platform,
        &p,
        AssessmentInput {
            set: b.set,
            indicator: b.indicator,
            unit: b.unit,
            period: b.period,
            points: b.points,
            reason: b.reason,
        },
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(KpiAssessOut {
            current: o.current.into(),
            superseded: o.superseded.map(Into::into),
        }),
    ))
}

/// The assessments of a set and month with their history (`kpi.read`; branch and vendor users see their own).
#[utoipa::path(get, path = "/api/v1/kpi/assessments", tag = "kpi", params(KpiAssessmentQuery),
    responses((status = 200, description = "assessments, newest first", body = KpiAssessmentListOut)))]
pub async fn list(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<KpiAssessmentQuery>,
) -> ApiResult<Json<KpiAssessmentListOut>> {
    let rows = assessments::history(&st.platform, &p, &q.set, &q.period, q.unit.as_deref()).await?;
    Ok(Json(KpiAssessmentListOut {
        assessments: rows.into_iter().map(Into::into).collect(),
    }))
}
