//! Evaluator assessments (issue 8; KPI-12 evaluation types, KPI-13 split): the seed splits the points of some
//! indicators but gives no formula inside the parts, so kpi.toml marks them `assessed` and a person holding
//! `kpi.assess` records the points of one (set, indicator, unit, month) with a reason. A re-assessment
//! supersedes the current one; both are kept and audited. The scorecards score those indicators from the
//! current assessment (see `kpi::scorecards`).

use serde::{Deserialize, Serialize};
use serde_json::json;
use tianshu_core::kpi::{check_assessment, AssessmentError, Points};
use tianshu_core::Permission;
use tianshu_store::assessments::{record_assessment, AssessmentRow, NewAssessment};
use tianshu_store::audit::{append, NewAuditEntry};

use crate::authz::{Principal, Scope};
use crate::kpi::parse_month;
use crate::{Platform, ServiceError, ServiceResult};

/// Longest reason, in characters.
pub const MAX_REASON: usize = 2000;

/// An assessment to record.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssessmentInput {
    /// Indicator set key of kpi.toml.
    pub set: String,
    /// Indicator key (an `assessed` one).
    pub indicator: String,
    /// Key of the unit (branch, province or vendor).
    pub unit: String,
    /// Local month `YYYY-MM`.
    pub period: String,
    /// Points within 0..=the indicator's full marks, exact to 0.01.
    pub points: f64,
    pub reason: String,
}

/// A recorded assessment and the one it superseded.
#[derive(Debug, Clone, Serialize)]
pub struct AssessmentOutcome {
    pub current: AssessmentRow,
    pub superseded: Option<AssessmentRow>,
}

/// The points of a stored assessment.
pub fn points_of(a: &AssessmentRow) -> Points {
    Points::from_hundredths(a.points)
}

fn assessment_error(e: &AssessmentError) -> ServiceError {
    let zh = match e {
        AssessmentError::UnknownIndicator { set, indicator, .. } => {
            format!("“{indicator}”不是指标集“{set}”中的指标")
        }
        AssessmentError::NotAssessed { rule, .. } => {
            format!(
                "{rule}：该指标由记录计算得分，不能人工评定（KPI-12/KPI-13 只评定 assessed 指标）"
            )
        }
        AssessmentError::PointsOutOfRange {
            rule, points, max, ..
        } => format!("{rule}：评分 {points} 超出 0 至 {max} 分"),
        AssessmentError::NoReason => "KPI-12：请填写评分理由".into(),
    };
    ServiceError::invalid_zh(e.field(), e.to_string(), zh)
}

/// Records an assessment (`kpi.assess`, province scope: a branch or vendor does not assess itself). Every
/// refusal names its field and stores nothing: an unknown set, indicator or unit, an indicator scored from records,
/// points outside 0..=max or not exact to 0.01 (citing the indicator's rule), a month not begun, a blank reason.
pub async fn assess(
    p: &Platform,
    actor: &Principal,
    input: AssessmentInput,
) -> ServiceResult<AssessmentOutcome> {
    actor.require(Permission::KpiAssess)?;
    if actor.scope != Scope::Province {
        return Err(ServiceError::OutOfScope);
    }
    let pol = p.policy.current();
    let kpi = &pol.pack.kpi;
    let set_key = input.set.trim();
    let set = kpi.set(set_key).ok_or_else(|| {
        let known: Vec<&str> = kpi.sets.iter().map(|s| s.key.as_str()).collect();
        ServiceError::invalid_zh(
            "set",
            format!(
                "'{set_key}' is not an indicator set of kpi.toml ({})",
                known.join(", ")
            ),
            format!("“{set_key}”不是 kpi.toml 中的指标集"),
        )
    })?;
    let tz = p.time_zone();
    let period = parse_month("period", &input.period, tz)?;
    if period.from > p.now_us() {
        return Err(ServiceError::invalid_zh(
            "period",
            format!(
                "{} has not begun; a month is assessed once it has started",
                period.key
            ),
            format!("{} 尚未开始，不能评定", period.key),
        ));
    }
    let unit_key = input.unit.trim();
    let unit = p
        .store
        .org_by_key(unit_key)
        .await?
        .filter(|o| matches!(o.kind.as_str(), "branch" | "province" | "vendor"))
        .ok_or_else(|| {
            ServiceError::unknown_ref(
                "unit",
                format!("no branch, province or vendor '{unit_key}'"),
                format!("没有分部、省公司或厂商“{unit_key}”"),
            )
        })?;
    let points = Points::from_decimal(input.points).ok_or_else(|| {
        ServiceError::invalid_zh(
            "points",
            format!("{} is not a number of points exact to 0.01", input.points),
            format!("评分 {} 须精确到 0.01 分", input.points),
        )
    })?;
    let reason = input.reason.trim().to_string();
    let ind = check_assessment(set, input.indicator.trim(), points, &reason)
        .map_err(|e| assessment_error(&e))?;
    if reason.chars().count() > MAX_REASON {
        return Err(ServiceError::invalid_zh(
            "reason",
            format!("at most {MAX_REASON} characters"),
            format!("评分理由最多 {MAX_REASON} 个字符"),
        ));
    }
    let who = actor.actor();
    let new = NewAssessment {
        set_key: set.key.clone(),
        indicator_key: ind.key.clone(),
        org_id: unit.id,
        period: period.key.clone(),
        points: points.hundredths(),
        max_points: ind.max.hundredths(),
        rule: ind.rule.clone(),
        reason,
        assessed_by: who.clone(),
        assessed_at: p.now_us(),
    };
    let (current, superseded) = p
        .store
        .write(move |c| {
            Box::pin(async move {
                let (row, old) = record_assessment(c, &new).await?;
                let action = if old.is_some() {
                    "kpi.reassess"
                } else {
                    "kpi.assess"
                };
                append(
                    c,
                    NewAuditEntry {
                        actor: who,
                        action: action.into(),
                        object_type: "kpi_assessment".into(),
                        object_id: row.id.to_string(),
                        before: old.as_ref().map(|o| {
                            json!({"id": o.id, "points": Points::from_hundredths(o.points),
                                "reason": o.reason, "assessed_by": o.assessed_by})
                        }),
                        after: Some(json!({"set": row.set_key, "indicator": row.indicator_key,
                            "unit": row.unit, "period": row.period, "rule": row.rule,
                            "points": Points::from_hundredths(row.points), "reason": row.reason})),
                        request_id: None,
                        at: new.assessed_at,
                    },
                )
                .await?;
                Ok((row, old))
            })
        })
        .await?;
    Ok(AssessmentOutcome {
        current,
        superseded,
    })
}

/// Every assessment (current first within a key, superseded ones kept) of `set` for `period`, newest first;
/// `unit` keeps one unit. Branch and vendor users see only their own unit's (`kpi.read`).
pub async fn history(
    p: &Platform,
    actor: &Principal,
    set: &str,
    period: &str,
    unit: Option<&str>,
) -> ServiceResult<Vec<AssessmentRow>> {
    actor.require(Permission::KpiRead)?;
    let pol = p.policy.current();
    let set = pol.pack.kpi.set(set.trim()).ok_or_else(|| {
        ServiceError::invalid(
            "set",
            format!("'{set}' is not an indicator set of kpi.toml"),
        )
    })?;
    let period = parse_month("period", period, p.time_zone())?;
    let org = match unit.map(str::trim).filter(|s| !s.is_empty()) {
        Some(k) => Some(p.store.org_by_key(k).await?.ok_or_else(|| {
            ServiceError::unknown_ref("unit", format!("no unit '{k}'"), format!("没有“{k}”"))
        })?),
        None => None,
    };
    let rows = p
        .store
        .assessment_history(&set.key, &period.key, org.as_ref().map(|o| o.id))
        .await?;
    Ok(rows
        .into_iter()
        .filter(|a| match actor.scope {
            Scope::Province => true,
            Scope::Region(r) | Scope::Vendor(r) => a.org_id == r,
        })
        .collect())
}
