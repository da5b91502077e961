//! Scoring: one function per formula kind, then a set's scorecard and a ranking.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::points::{Percent, Points};
use crate::policy::{
    FlagCombine, FormulaKind, Indicator, IndicatorSet, KpiPolicy, UnitRounding, WhenEmpty,
};
use crate::sla::{StageLimit, Tier};

/// A record behind a measure (`provisioning_order` `PV-0012`), for the drill-down.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RecordRef {
    /// Record kind.
    pub kind: String,
    /// Its id.
    pub id: String,
}

/// One record's overrun of its limit: working seconds for working-day limits (KPI-10), else wall-clock seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverrunRecord {
    /// The record.
    pub record: RecordRef,
    /// The customer's tier, which selects the unit.
    pub tier: Tier,
    /// Time beyond the limit (≤ 0: on time).
    pub overrun_seconds: i64,
}

/// The measures of one unit (branch, province, vendor) over one period; a missing measure has no records.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitMeasures {
    /// The unit.
    pub unit: String,
    /// Counted measures: the records counted.
    #[serde(default)]
    pub counts: BTreeMap<String, BTreeSet<RecordRef>>,
    /// Overrun measures.
    #[serde(default)]
    pub overruns: BTreeMap<String, Vec<OverrunRecord>>,
    /// Flags: the records that set the flag (none → not set).
    #[serde(default)]
    pub flags: BTreeMap<String, BTreeSet<RecordRef>>,
    /// Assessed points per indicator key.
    #[serde(default)]
    pub assessed: BTreeMap<String, Points>,
    /// Measures the records layer cannot provide yet, with why (a ratio's measures, a flag, or
    /// `assessed:<indicator>`): an indicator reading one is not scored and says so, never a guessed number.
    #[serde(default)]
    pub unavailable: BTreeMap<String, String>,
}

/// Bad input to the engine, naming the rule or field that refuses it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KpiError {
    /// An assessed score outside [0, max].
    #[error("{rule}: assessed points {points} for '{indicator}' are outside 0..={max}")]
    AssessedOutOfRange {
        /// The indicator's rule.
        rule: String,
        /// The indicator.
        indicator: String,
        /// Given.
        points: Points,
        /// Its maximum.
        max: Points,
    },
    /// A numerator record that is not in the denominator.
    #[error("{indicator}: {record:?} is counted in '{numerator}' but not in '{denominator}'")]
    NumeratorNotInDenominator {
        /// The indicator.
        indicator: String,
        /// The record.
        record: RecordRef,
        /// Numerator measure.
        numerator: String,
        /// Denominator measure.
        denominator: String,
    },
}

/// Points lost on one record (or, for a rate, the records that missed it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Loss {
    /// The record.
    pub record: RecordRef,
    /// Points this record cost (`None` for a rate, where only the total loss is defined).
    pub points: Option<Points>,
    /// Why, in words.
    pub reason: String,
}

/// One indicator's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndicatorScore {
    /// Indicator key.
    pub key: String,
    /// Its rule.
    pub rule: String,
    /// Group key.
    pub group: String,
    /// Chinese name.
    pub name_zh: String,
    /// Weighted full marks.
    pub max: Points,
    /// Weighted score; `None` when not scored (no records and `when_empty = "not_scored"`).
    pub score: Option<Points>,
    /// The measured value shown next to the score (a rate, a number of units, a flag).
    pub value: String,
    /// The records behind the points lost.
    pub losses: Vec<Loss>,
    /// Why the indicator is not scored when a measure it reads cannot be computed from the records.
    #[serde(default)]
    pub unavailable: Option<String>,
}

/// A set's scorecard for one unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scorecard {
    /// Set key.
    pub set: String,
    /// Unit.
    pub unit: String,
    /// Sum of scored indicators.
    pub total: Points,
    /// Sum of the maxima of scored indicators.
    pub max: Points,
    /// `total / max` on the 100-point scale (KPI-14 rounding).
    pub percent: Option<Points>,
    /// Per indicator, in file order.
    pub indicators: Vec<IndicatorScore>,
    /// Groups the seed gives no rules for: (key, points, why).
    pub not_scored: Vec<(String, Points, String)>,
}

/// A unit's place in a ranking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RankRow {
    /// Unit.
    pub unit: String,
    /// Its total.
    pub total: Points,
    /// Competition rank (1, 2, 2, 4).
    pub rank: u32,
    /// KPI-15: among the lowest `laggards` (ties at the boundary included).
    pub laggard: bool,
}

/// KPI-04/05/08 with KPI-11: 0 below the baseline, `max` at or above the challenge, else
/// `base + per_step × floor((rate − baseline) / step)` capped at `max`.
pub fn linear_steps_score(
    rate: Percent,
    baseline: Percent,
    challenge: Percent,
    base: Points,
    step: Percent,
    per_step: Points,
    max: Points,
) -> Points {
    if rate < baseline {
        return Points::ZERO;
    }
    if rate >= challenge {
        return max;
    }
    let steps = (rate.hundredths() - baseline.hundredths()) / step.hundredths().max(1);
    let s = base.hundredths() + steps * per_step.hundredths();
    Points::from_hundredths(s.clamp(0, max.hundredths()))
}

/// KPI-10: overrun units of one record (0 when on time).
pub fn deduction_units(overrun_seconds: i64, unit_seconds: i64, rounding: UnitRounding) -> i64 {
    if overrun_seconds <= 0 || unit_seconds <= 0 {
        return 0;
    }
    match rounding {
        UnitRounding::Started => overrun_seconds.saturating_add(unit_seconds - 1) / unit_seconds,
        UnitRounding::Completed => overrun_seconds / unit_seconds,
    }
}

/// KPI-02/03/06/07: `max − per_unit × Σ units`, floored.
pub fn per_unit_score(max: Points, per_unit: Points, units: i64, floor: Points) -> Points {
    let d = per_unit.hundredths().saturating_mul(units.max(0));
    Points::from_hundredths(max.hundredths().saturating_sub(d).max(floor.hundredths()))
}

fn unit_seconds(units: &BTreeMap<Tier, StageLimit>, tier: Tier, day_seconds: i64) -> i64 {
    units.get(&tier).map_or(0, |u| u.seconds(day_seconds))
}

/// Scores one set for one unit. `day_seconds` is one working day on the SLA calendar (for units in wd).
pub fn score_set(
    policy: &KpiPolicy,
    set: &IndicatorSet,
    input: &UnitMeasures,
    day_seconds: i64,
) -> Result<Scorecard, KpiError> {
    let mut indicators = Vec::new();
    for ind in &set.indicators {
        let missing = missing_measure(policy, ind, input);
        let (raw, value, losses) = if missing.is_some() {
            (None, "—".to_string(), Vec::new())
        } else {
            score_indicator(policy, ind, input, day_seconds)?
        };
        indicators.push(IndicatorScore {
            key: ind.key.clone(),
            rule: ind.rule.clone(),
            group: ind.group.clone(),
            name_zh: ind.name_zh.clone(),
            max: ind.max.weighted(ind.weight),
            score: raw.map(|s| s.weighted(ind.weight)),
            value,
            losses,
            unavailable: missing,
        });
    }
    let scored = indicators
        .iter()
        .filter_map(|i| i.score.map(|s| (s, i.max)));
    let (total, max) = scored.fold((0, 0), |(t, m), (s, x)| {
        (t + s.hundredths(), m + x.hundredths())
    });
    let (total, max) = (Points::from_hundredths(total), Points::from_hundredths(max));
    Ok(Scorecard {
        set: set.key.clone(),
        unit: input.unit.clone(),
        total,
        max,
        percent: total.on_percent_scale(max, policy.conversion.rounding),
        indicators,
        not_scored: set
            .groups
            .iter()
            .filter_map(|g| {
                g.not_scored
                    .as_ref()
                    .map(|why| (g.key.clone(), g.points, why.clone()))
            })
            .collect(),
    })
}

type Scored = (Option<Points>, String, Vec<Loss>);

/// The first measure `ind` reads that the input marks unavailable, as "measure: why".
fn missing_measure(policy: &KpiPolicy, ind: &Indicator, input: &UnitMeasures) -> Option<String> {
    if input.unavailable.is_empty() {
        return None;
    }
    let mut keys: Vec<String> = Vec::new();
    match ind.kind {
        FormulaKind::LinearSteps => {
            if let Some(m) = ind.measure.as_deref() {
                keys.push(m.to_string());
                if let Some(r) = policy.ratio(m) {
                    keys.push(r.numerator.clone());
                    keys.push(r.denominator.clone());
                }
            }
        }
        FormulaKind::PerUnitDeduction => keys.extend(ind.measure.clone()),
        FormulaKind::Binary => keys.extend(ind.flags.iter().cloned()),
        FormulaKind::Assessed => keys.push(format!("assessed:{}", ind.key)),
    }
    keys.iter()
        .find_map(|k| input.unavailable.get(k).map(|why| format!("{k}: {why}")))
}

fn score_indicator(
    policy: &KpiPolicy,
    ind: &Indicator,
    input: &UnitMeasures,
    day_seconds: i64,
) -> Result<Scored, KpiError> {
    let measure = ind.measure.as_deref().unwrap_or_default();
    match ind.kind {
        FormulaKind::LinearSteps => {
            // Validation guarantees the measure is a ratio and the numbers are present.
            let Some(ratio) = policy.ratio(measure) else {
                return Ok((None, String::new(), Vec::new()));
            };
            let empty = BTreeSet::new();
            let num = input.counts.get(&ratio.numerator).unwrap_or(&empty);
            let den = input.counts.get(&ratio.denominator).unwrap_or(&empty);
            if let Some(r) = num.iter().find(|r| !den.contains(r)) {
                return Err(KpiError::NumeratorNotInDenominator {
                    indicator: ind.key.clone(),
                    record: r.clone(),
                    numerator: ratio.numerator.clone(),
                    denominator: ratio.denominator.clone(),
                });
            }
            let Some(rate) = Percent::ratio(num.len() as u64, den.len() as u64) else {
                let score = (ind.when_empty == WhenEmpty::FullMarks).then_some(ind.max);
                return Ok((score, "—".to_string(), Vec::new()));
            };
            let score = linear_steps_score(
                rate,
                ind.baseline.unwrap_or_default(),
                ind.challenge.unwrap_or(Percent::whole(100)),
                ind.base_score.unwrap_or_default(),
                ind.step.unwrap_or(Percent::from_hundredths(10)),
                ind.points_per_step.unwrap_or_default(),
                ind.max,
            );
            let losses = if score < ind.max {
                den.iter()
                    .filter(|r| !num.contains(r))
                    .map(|r| Loss {
                        record: r.clone(),
                        points: None,
                        reason: format!("{}: not counted in {}", ind.rule, ratio.numerator),
                    })
                    .collect()
            } else {
                Vec::new()
            };
            Ok((
                Some(score),
                format!("{rate} ({}/{})", num.len(), den.len()),
                losses,
            ))
        }
        FormulaKind::PerUnitDeduction => {
            let units_by_tier = ind.unit.clone().unwrap_or_default();
            let rounding = ind.rounding.unwrap_or(UnitRounding::Started);
            let per_unit = ind.points_per_unit.unwrap_or_default();
            let mut total_units = 0i64;
            let mut losses = Vec::new();
            for o in input
                .overruns
                .get(measure)
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                let unit = unit_seconds(&units_by_tier, o.tier, day_seconds);
                let n = deduction_units(o.overrun_seconds, unit, rounding);
                if n > 0 {
                    total_units += n;
                    let unit_text = units_by_tier
                        .get(&o.tier)
                        .map(ToString::to_string)
                        .unwrap_or_default();
                    losses.push(Loss {
                        record: o.record.clone(),
                        points: Some(Points::from_hundredths(
                            per_unit.hundredths().saturating_mul(n),
                        )),
                        reason: format!("{}: {n} × {unit_text} over ({})", ind.rule, o.tier),
                    });
                }
            }
            let score = per_unit_score(
                ind.max,
                per_unit,
                total_units,
                ind.floor.unwrap_or_default(),
            );
            Ok((Some(score), format!("{total_units}"), losses))
        }
        FormulaKind::Binary => {
            let set: Vec<&BTreeSet<RecordRef>> = ind
                .flags
                .iter()
                .filter_map(|f| input.flags.get(f).filter(|r| !r.is_empty()))
                .collect();
            let fired = match ind.combine.unwrap_or(FlagCombine::Any) {
                FlagCombine::Any => !set.is_empty(),
                FlagCombine::All => set.len() == ind.flags.len(),
            };
            let losses = if fired {
                let mut records: BTreeSet<&RecordRef> = BTreeSet::new();
                set.iter().for_each(|s| records.extend(s.iter()));
                records
                    .into_iter()
                    .map(|r| Loss {
                        record: r.clone(),
                        points: None,
                        reason: format!("{}: exceeded the SLA standard", ind.rule),
                    })
                    .collect()
            } else {
                Vec::new()
            };
            let score = if fired { Points::ZERO } else { ind.max };
            Ok((
                Some(score),
                if fired { "exceeded" } else { "ok" }.to_string(),
                losses,
            ))
        }
        FormulaKind::Assessed => match input.assessed.get(&ind.key) {
            Some(p) if *p < Points::ZERO || *p > ind.max => Err(KpiError::AssessedOutOfRange {
                rule: ind.rule.clone(),
                indicator: ind.key.clone(),
                points: *p,
                max: ind.max,
            }),
            Some(p) => Ok((Some(*p), p.to_string(), Vec::new())),
            None => Ok((None, "—".to_string(), Vec::new())),
        },
    }
}

/// Ranks scorecards by total, highest first (competition ranking); KPI-15 marks the lowest `laggards`: a unit
/// is a laggard when fewer than `laggards` units score strictly lower.
pub fn rank(cards: &[Scorecard], laggards: u32) -> Vec<RankRow> {
    let mut rows: Vec<(String, Points)> = cards.iter().map(|c| (c.unit.clone(), c.total)).collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let totals: Vec<Points> = rows.iter().map(|r| r.1).collect();
    rows.into_iter()
        .map(|(unit, total)| {
            let higher = totals.iter().filter(|t| **t > total).count();
            let lower = totals.iter().filter(|t| **t < total).count();
            RankRow {
                unit,
                total,
                rank: u32::try_from(higher + 1).unwrap_or(u32::MAX),
                laggard: (lower as u64) < u64::from(laggards),
            }
        })
        .collect()
}
