//! kpi.toml: KPI indicator sets as data (KPI-01..KPI-15). An indicator names a formula kind the engine knows
//! (`crate::kpi`) and the measures it reads; the numbers of the formula live here.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use super::error::Issue;
use super::units::{check_key, check_non_empty, check_rule_id};
use crate::kpi::{measure, MeasureShape, Percent, PercentRounding, Points, MEASURES};
use crate::sla::{StageLimit, Tier};

/// The whole KPI policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KpiPolicy {
    /// KPI-14: how a set's score is shown on a 100-point scale.
    pub conversion: Conversion,
    /// KPI-15: ranking and laggards.
    pub ranking: RankingRule,
    /// Rates over two counted measures (the "ratio" formula kind).
    #[serde(rename = "ratio", default)]
    pub ratios: Vec<RatioMeasure>,
    /// The indicator sets.
    #[serde(rename = "set")]
    pub sets: Vec<IndicatorSet>,
    /// RPT-06 / SLA-13: when the monthly report pack is e-mailed and to whom (none: not sent).
    #[serde(default)]
    pub monthly_pack: Option<MonthlyPackSchedule>,
}

/// The scheduled e-mail of last month's report pack (a link to the pack and its XLSX).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonthlyPackSchedule {
    /// Rule ID the message cites.
    pub rule: String,
    /// Day of the month it is sent (1–28), for the previous month.
    pub day: u32,
    /// Local time of day, `HH:MM`.
    pub at: String,
    /// Template of notifications.toml.
    pub template: String,
    /// Recipient classes of notifications.toml.
    #[serde(default)]
    pub classes: Vec<String>,
    /// Recipient roles.
    #[serde(default)]
    pub roles: Vec<String>,
}

impl MonthlyPackSchedule {
    /// (hour, minute) of `at`, when valid.
    pub fn time_of_day(&self) -> Option<(u32, u32)> {
        let (h, m) = self.at.split_once(':')?;
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        (h < 24 && m < 60 && self.at.len() == 5).then_some((h, m))
    }

    /// Checks the schedule found at table `at` (also used by problem_levels.toml `[monthly_report]`).
    pub(crate) fn validate(&self, at: &str, issues: &mut Vec<Issue>) {
        check_rule_id(&format!("{at}.rule"), &self.rule, issues);
        check_non_empty(&format!("{at}.template"), &self.template, issues);
        if !(1..=28).contains(&self.day) {
            issues.push(Issue::new(
                format!("{at}.day"),
                "must be 1..=28 (every month has it)",
            ));
        }
        if self.time_of_day().is_none() {
            issues.push(Issue::new(
                format!("{at}.at"),
                format!("'{}' is not a time HH:MM", self.at),
            ));
        }
        if self.classes.is_empty() && self.roles.is_empty() {
            issues.push(Issue::new(
                format!("{at}.classes"),
                "name at least one recipient class or role",
            ));
        }
    }
}

/// KPI-14 conversion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conversion {
    /// Rule ID (KPI-14).
    pub rule: String,
    /// Rounding to the 100-point scale.
    pub rounding: PercentRounding,
}

/// KPI-15: the lowest `laggards` units of a ranking report causes and get a special analysis call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RankingRule {
    /// Rule ID (KPI-15).
    pub rule: String,
    /// How many of the lowest-ranked units are laggards.
    pub laggards: u32,
}

/// A rate: `numerator / denominator` in percent, to 0.01 % (KPI-11).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RatioMeasure {
    /// Key indicators use as `measure`.
    pub key: String,
    /// Chinese name.
    pub name_zh: String,
    /// A counted measure: the records that met the target.
    pub numerator: String,
    /// A counted measure: all records.
    pub denominator: String,
}

/// One indicator set (a scorecard).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndicatorSet {
    /// Stable key.
    pub key: String,
    /// Rule ID of the structure.
    pub rule: String,
    /// Chinese name.
    pub name_zh: String,
    /// Points of the whole scorecard as the seed states them (scored or not).
    pub nominal_total: Points,
    /// Point blocks.
    #[serde(rename = "group")]
    pub groups: Vec<IndicatorGroup>,
    /// Indicators.
    #[serde(rename = "indicator", default)]
    pub indicators: Vec<Indicator>,
}

/// A block of points; its indicators' maxima (× weight) must add up to `points` unless it is not scored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndicatorGroup {
    /// Stable key.
    pub key: String,
    /// Chinese name.
    pub name_zh: String,
    /// Its points.
    pub points: Points,
    /// Why the block cannot be scored (the seed lacks its rules); it then has no indicators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_scored: Option<String>,
}

/// A formula kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FormulaKind {
    /// Linear between baseline and challenge: below baseline 0, at or above challenge `max`, else
    /// `base_score + points_per_step × completed steps`, capped at `max` (KPI-04/05/08, KPI-11).
    LinearSteps,
    /// `max` minus `points_per_unit` per overrun unit of each record (unit by tier), floored (KPI-02/03/06/07).
    PerUnitDeduction,
    /// `max` unless the flags (any/all) are set, then 0 (KPI-09).
    Binary,
    /// Points given by an evaluator, within [0, max] (KPI-13: the seed splits the points but gives no formula).
    Assessed,
}

/// How a partial overrun unit counts (KPI-10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitRounding {
    /// Proposed default: a started unit counts (ceil).
    Started,
    /// Only completed units count (floor).
    Completed,
}

/// What a rate indicator scores when the period has no records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum WhenEmpty {
    /// Nothing was late: full marks.
    #[default]
    FullMarks,
    /// Left out of the total, shown as "not scored".
    NotScored,
}

/// How several flags combine (KPI-09 "及").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlagCombine {
    /// Any flag set → 0 (Proposed default).
    Any,
    /// Only all flags set → 0.
    All,
}

/// The time limit a per-unit deduction counts overruns from: one value, one per tier, or an SLA-04 stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LimitSource {
    /// The same for every tier (KPI-06: 0.5 h).
    Fixed(StageLimit),
    /// One per tier (KPI-07).
    PerTier(BTreeMap<Tier, StageLimit>),
    /// The SLA-04 stage table of sla.toml.
    Stage {
        /// Stage key.
        sla_stage: String,
    },
}

/// One indicator; which fields apply depends on `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Indicator {
    /// Stable key.
    pub key: String,
    /// Rule ID.
    pub rule: String,
    /// Group key.
    pub group: String,
    /// Chinese name.
    pub name_zh: String,
    /// Full marks.
    pub max: Points,
    /// Weight of the score in its group (default 1).
    #[serde(default = "one")]
    pub weight: Points,
    /// The formula.
    pub kind: FormulaKind,
    /// The measure read (rate for linear_steps, overrun for per_unit_deduction).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measure: Option<String>,
    /// Flags read by binary.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
    /// How binary combines its flags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub combine: Option<FlagCombine>,
    /// Evaluated over the year to date (KPI-09 is annual).
    #[serde(default)]
    pub annual: bool,
    /// linear_steps: rate below which the score is 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<Percent>,
    /// linear_steps: rate at which the score is `max`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge: Option<Percent>,
    /// linear_steps: score at the baseline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_score: Option<Points>,
    /// linear_steps: rate improvement per step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<Percent>,
    /// linear_steps: points per completed step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub points_per_step: Option<Points>,
    /// linear_steps: score when the period has no records.
    #[serde(default)]
    pub when_empty: WhenEmpty,
    /// per_unit_deduction: the limit overruns are counted from (informs the records layer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<LimitSource>,
    /// per_unit_deduction: the overrun unit per tier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<BTreeMap<Tier, StageLimit>>,
    /// per_unit_deduction: points per unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub points_per_unit: Option<Points>,
    /// per_unit_deduction: partial units (KPI-10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rounding: Option<UnitRounding>,
    /// per_unit_deduction: the lowest score (扣完为止: 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floor: Option<Points>,
}

fn one() -> Points {
    Points::whole(1)
}

impl KpiPolicy {
    /// The set called `key`.
    pub fn set(&self, key: &str) -> Option<&IndicatorSet> {
        self.sets.iter().find(|s| s.key == key)
    }

    /// The ratio called `key`.
    pub fn ratio(&self, key: &str) -> Option<&RatioMeasure> {
        self.ratios.iter().find(|r| r.key == key)
    }

    /// Every SLA stage an indicator counts from, with its path, for the cross-check against sla.toml.
    pub(crate) fn sla_stages(&self) -> Vec<(String, &str)> {
        let mut v = Vec::new();
        for (i, s) in self.sets.iter().enumerate() {
            for (j, ind) in s.indicators.iter().enumerate() {
                if let Some(LimitSource::Stage { sla_stage }) = &ind.limit {
                    v.push((
                        format!("set[{i}].indicator[{j}].limit.sla_stage"),
                        sla_stage.as_str(),
                    ));
                }
            }
        }
        v
    }

    fn shape(&self, key: &str) -> Option<MeasureShape> {
        if self.ratio(key).is_some() {
            return Some(MeasureShape::Rate);
        }
        measure(key).map(|m| m.shape)
    }

    fn unknown_measure(&self, key: &str, want: MeasureShape) -> String {
        let mut known: Vec<&str> = MEASURES
            .iter()
            .filter(|m| m.shape == want)
            .map(|m| m.key)
            .collect();
        if want == MeasureShape::Rate {
            known = self.ratios.iter().map(|r| r.key.as_str()).collect();
        }
        format!(
            "'{key}' is not a known measure (known {want:?} measures: {})",
            known.join(", ")
        )
    }

    pub(crate) fn validate(&self, issues: &mut Vec<Issue>) {
        check_rule_id("conversion.rule", &self.conversion.rule, issues);
        if let Some(m) = &self.monthly_pack {
            m.validate("monthly_pack", issues);
        }
        check_rule_id("ranking.rule", &self.ranking.rule, issues);
        let mut ratio_keys = HashSet::new();
        for (i, r) in self.ratios.iter().enumerate() {
            let at = |f: &str| format!("ratio[{i}].{f}");
            check_key(&at("key"), &r.key, issues);
            check_non_empty(&at("name_zh"), &r.name_zh, issues);
            if !ratio_keys.insert(r.key.as_str()) || measure(&r.key).is_some() {
                issues.push(Issue::new(
                    at("key"),
                    format!("'{}' is already a measure", r.key),
                ));
            }
            for (f, m) in [("numerator", &r.numerator), ("denominator", &r.denominator)] {
                if measure(m).map(|m| m.shape) != Some(MeasureShape::Count) {
                    issues.push(Issue::new(
                        at(f),
                        self.unknown_measure(m, MeasureShape::Count),
                    ));
                }
            }
            if r.numerator == r.denominator {
                issues.push(Issue::new(
                    at("numerator"),
                    "numerator and denominator are the same measure",
                ));
            }
        }
        let mut set_keys = HashSet::new();
        for (i, s) in self.sets.iter().enumerate() {
            let at = |f: &str| format!("set[{i}].{f}");
            check_key(&at("key"), &s.key, issues);
            if !set_keys.insert(s.key.as_str()) {
                issues.push(Issue::new(at("key"), format!("duplicate set '{}'", s.key)));
            }
            check_rule_id(&at("rule"), &s.rule, issues);
            check_non_empty(&at("name_zh"), &s.name_zh, issues);
            self.validate_set(i, s, issues);
        }
    }

    fn validate_set(&self, i: usize, s: &IndicatorSet, issues: &mut Vec<Issue>) {
        let mut groups: BTreeMap<&str, Points> = BTreeMap::new();
        let mut group_total = Points::ZERO;
        for (g, grp) in s.groups.iter().enumerate() {
            let at = |f: &str| format!("set[{i}].group[{g}].{f}");
            check_key(&at("key"), &grp.key, issues);
            check_non_empty(&at("name_zh"), &grp.name_zh, issues);
            if grp.points <= Points::ZERO {
                issues.push(Issue::new(at("points"), "must be more than 0"));
            }
            if groups.insert(&grp.key, Points::ZERO).is_some() {
                issues.push(Issue::new(
                    at("key"),
                    format!("duplicate group '{}'", grp.key),
                ));
            }
            group_total =
                Points::from_hundredths(group_total.hundredths() + grp.points.hundredths());
        }
        if group_total != s.nominal_total {
            issues.push(Issue::new(
                format!("set[{i}].nominal_total"),
                format!("groups add up to {group_total}, not {}", s.nominal_total),
            ));
        }
        let mut keys = HashSet::new();
        for (j, ind) in s.indicators.iter().enumerate() {
            let at = |f: &str| format!("set[{i}].indicator[{j}].{f}");
            check_key(&at("key"), &ind.key, issues);
            if !keys.insert(ind.key.as_str()) {
                issues.push(Issue::new(
                    at("key"),
                    format!("duplicate indicator '{}'", ind.key),
                ));
            }
            check_rule_id(&at("rule"), &ind.rule, issues);
            check_non_empty(&at("name_zh"), &ind.name_zh, issues);
            if ind.max <= Points::ZERO {
                issues.push(Issue::new(at("max"), "must be more than 0"));
            }
            if ind.weight <= Points::ZERO {
                issues.push(Issue::new(at("weight"), "must be more than 0"));
            }
            match groups.get_mut(ind.group.as_str()) {
                Some(sum) => {
                    *sum = Points::from_hundredths(
                        sum.hundredths() + ind.max.weighted(ind.weight).hundredths(),
                    )
                }
                None => issues.push(Issue::new(
                    at("group"),
                    format!("no [[set.group]] with key '{}'", ind.group),
                )),
            }
            if s.groups
                .iter()
                .any(|g| g.key == ind.group && g.not_scored.is_some())
            {
                issues.push(Issue::new(
                    at("group"),
                    format!("group '{}' is marked not_scored", ind.group),
                ));
            }
            self.validate_formula(&at, ind, issues);
        }
        for (g, grp) in s.groups.iter().enumerate() {
            let sum = groups.get(grp.key.as_str()).copied().unwrap_or_default();
            if grp.not_scored.is_none() && sum != grp.points {
                issues.push(Issue::new(
                    format!("set[{i}].group[{g}].points"),
                    format!("its indicators' maxima add up to {sum}, not {}", grp.points),
                ));
            }
        }
    }

    fn validate_formula(
        &self,
        at: &dyn Fn(&str) -> String,
        ind: &Indicator,
        issues: &mut Vec<Issue>,
    ) {
        let mut need = |f: &str, present: bool| {
            if !present {
                issues.push(Issue::new(at(f), format!("{:?} needs {f}", ind.kind)));
            }
        };
        match ind.kind {
            FormulaKind::LinearSteps => {
                need("measure", ind.measure.is_some());
                need("baseline", ind.baseline.is_some());
                need("challenge", ind.challenge.is_some());
                need("base_score", ind.base_score.is_some());
                need("step", ind.step.is_some());
                need("points_per_step", ind.points_per_step.is_some());
            }
            FormulaKind::PerUnitDeduction => {
                need("measure", ind.measure.is_some());
                need("unit", ind.unit.is_some());
                need("points_per_unit", ind.points_per_unit.is_some());
                need("rounding", ind.rounding.is_some());
                need("limit", ind.limit.is_some());
            }
            FormulaKind::Binary => {
                need("flags", !ind.flags.is_empty());
                need("combine", ind.combine.is_some());
            }
            FormulaKind::Assessed => {}
        }
        let mut stray = |f: &str, present: bool| {
            if present {
                issues.push(Issue::new(
                    at(f),
                    format!("{f} does not apply to {:?}", ind.kind),
                ));
            }
        };
        let linear = ind.kind == FormulaKind::LinearSteps;
        let per_unit = ind.kind == FormulaKind::PerUnitDeduction;
        let binary = ind.kind == FormulaKind::Binary;
        stray("measure", ind.measure.is_some() && !(linear || per_unit));
        stray("baseline", ind.baseline.is_some() && !linear);
        stray("challenge", ind.challenge.is_some() && !linear);
        stray("base_score", ind.base_score.is_some() && !linear);
        stray("step", ind.step.is_some() && !linear);
        stray("points_per_step", ind.points_per_step.is_some() && !linear);
        stray("unit", ind.unit.is_some() && !per_unit);
        stray(
            "points_per_unit",
            ind.points_per_unit.is_some() && !per_unit,
        );
        stray("rounding", ind.rounding.is_some() && !per_unit);
        stray("floor", ind.floor.is_some() && !per_unit);
        stray("limit", ind.limit.is_some() && !per_unit);
        stray("flags", !ind.flags.is_empty() && !binary);
        stray("combine", ind.combine.is_some() && !binary);

        let want = match ind.kind {
            FormulaKind::LinearSteps => Some(MeasureShape::Rate),
            FormulaKind::PerUnitDeduction => Some(MeasureShape::Overrun),
            _ => None,
        };
        if let (Some(m), Some(want)) = (&ind.measure, want) {
            if self.shape(m) != Some(want) {
                issues.push(Issue::new(at("measure"), self.unknown_measure(m, want)));
            }
        }
        for (k, f) in ind.flags.iter().enumerate() {
            if self.shape(f) != Some(MeasureShape::Flag) {
                issues.push(Issue::new(
                    at(&format!("flags[{k}]")),
                    self.unknown_measure(f, MeasureShape::Flag),
                ));
            }
        }
        if let (Some(b), Some(c)) = (ind.baseline, ind.challenge) {
            if b >= c {
                issues.push(Issue::new(
                    at("challenge"),
                    format!("must be above the baseline {b}"),
                ));
            }
            if c > Percent::whole(100) {
                issues.push(Issue::new(at("challenge"), "a rate cannot exceed 100 %"));
            }
        }
        if let Some(b) = ind.base_score {
            if b < Points::ZERO || b > ind.max {
                issues.push(Issue::new(
                    at("base_score"),
                    format!("must be within 0..={}", ind.max),
                ));
            }
        }
        for (f, v) in [
            ("step", ind.step.map(|p| p.hundredths())),
            (
                "points_per_step",
                ind.points_per_step.map(|p| p.hundredths()),
            ),
            (
                "points_per_unit",
                ind.points_per_unit.map(|p| p.hundredths()),
            ),
        ] {
            if v.is_some_and(|v| v <= 0) {
                issues.push(Issue::new(at(f), "must be more than 0"));
            }
        }
        if let Some(f) = ind.floor {
            if f < Points::ZERO || f >= ind.max {
                issues.push(Issue::new(
                    at("floor"),
                    format!("must be within 0..{}", ind.max),
                ));
            }
        }
        if let Some(units) = &ind.unit {
            for t in Tier::ALL {
                match units.get(&t) {
                    None => issues.push(Issue::new(at("unit"), format!("no unit for tier {t}"))),
                    Some(u) if u.seconds(1) == 0 => issues.push(Issue::new(
                        at(&format!("unit.{t}")),
                        "must be longer than zero",
                    )),
                    Some(_) => {}
                }
            }
        }
        if let Some(LimitSource::PerTier(m)) = &ind.limit {
            for t in Tier::ALL {
                if !m.contains_key(&t) {
                    issues.push(Issue::new(at("limit"), format!("no limit for tier {t}")));
                }
            }
        }
    }
}
