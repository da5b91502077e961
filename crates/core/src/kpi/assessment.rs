//! Evaluator assessments (KPI-12 internal/external evaluation; KPI-13): the seed splits an indicator's points
//! but gives no formula inside the parts, so kpi.toml marks those indicators `assessed` and an evaluator records
//! the points. This module checks an assessment against the indicator before it is stored.

use super::points::Points;
use crate::policy::{FormulaKind, Indicator, IndicatorSet};

/// Why an assessment is refused, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssessmentError {
    /// No such indicator in the set.
    #[error("'{indicator}' is not an indicator of set '{set}' ({known})")]
    UnknownIndicator {
        /// The set.
        set: String,
        /// Given.
        indicator: String,
        /// The set's indicators, comma-separated.
        known: String,
    },
    /// The indicator is computed from records, not assessed.
    #[error("{rule}: '{indicator}' is scored from records ({kind}), not by an evaluator (KPI-12/KPI-13 assess only `assessed` indicators)")]
    NotAssessed {
        /// The indicator's rule.
        rule: String,
        /// The indicator.
        indicator: String,
        /// Its formula kind.
        kind: String,
    },
    /// Outside [0, max].
    #[error("{rule}: {points} points for '{indicator}' are outside 0..={max}")]
    PointsOutOfRange {
        /// The indicator's rule.
        rule: String,
        /// The indicator.
        indicator: String,
        /// Given.
        points: Points,
        /// Its full marks.
        max: Points,
    },
    /// A blank reason: an assessment without a reason cannot be reviewed.
    #[error("KPI-12: give the reason for the points")]
    NoReason,
}

impl AssessmentError {
    /// The input field the refusal names.
    pub fn field(&self) -> &'static str {
        match self {
            AssessmentError::UnknownIndicator { .. } | AssessmentError::NotAssessed { .. } => {
                "indicator"
            }
            AssessmentError::PointsOutOfRange { .. } => "points",
            AssessmentError::NoReason => "reason",
        }
    }
}

fn kind_name(k: FormulaKind) -> &'static str {
    match k {
        FormulaKind::LinearSteps => "linear_steps",
        FormulaKind::PerUnitDeduction => "per_unit_deduction",
        FormulaKind::Binary => "binary",
        FormulaKind::Assessed => "assessed",
    }
}

/// The `assessed` indicator `indicator` of `set`, if `points` lie within its full marks (before weighting: the
/// engine applies the weight) and a reason is given.
pub fn check_assessment<'a>(
    set: &'a IndicatorSet,
    indicator: &str,
    points: Points,
    reason: &str,
) -> Result<&'a Indicator, AssessmentError> {
    let ind = set
        .indicators
        .iter()
        .find(|i| i.key == indicator)
        .ok_or_else(|| AssessmentError::UnknownIndicator {
            set: set.key.clone(),
            indicator: indicator.to_string(),
            known: set
                .indicators
                .iter()
                .map(|i| i.key.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    if ind.kind != FormulaKind::Assessed {
        return Err(AssessmentError::NotAssessed {
            rule: ind.rule.clone(),
            indicator: ind.key.clone(),
            kind: kind_name(ind.kind).into(),
        });
    }
    if points < Points::ZERO || points > ind.max {
        return Err(AssessmentError::PointsOutOfRange {
            rule: ind.rule.clone(),
            indicator: ind.key.clone(),
            points,
            max: ind.max,
        });
    }
    if reason.trim().is_empty() {
        return Err(AssessmentError::NoReason);
    }
    Ok(ind)
}
