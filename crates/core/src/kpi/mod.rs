//! The KPI engine (KPI-01..KPI-15): scores indicator sets of kpi.toml from the measures of a period and a
//! unit, with the records behind every point lost, and ranks units. Pure functions; the formula numbers come
//! from the pack, the measures from the records layer.

mod assessment;
pub mod complaint;
mod engine;
mod measures;
mod points;

pub use assessment::{check_assessment, AssessmentError};
pub use engine::{
    deduction_units, linear_steps_score, per_unit_score, rank, score_set, IndicatorScore, KpiError,
    Loss, OverrunRecord, RankRow, RecordRef, Scorecard, UnitMeasures,
};
pub use measures::{measure, MeasureDef, MeasureShape, MEASURES};
pub use points::{Percent, PercentRounding, Points};
