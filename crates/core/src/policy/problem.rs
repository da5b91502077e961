//! problem_levels.toml: P1–P5 response/resolution limits (PRB-01) and the dispatch limit (PRB-02).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use tianshu_workcal::DeadlineBasis;

use super::error::Issue;
use super::units::{check_non_empty, check_rule_id};
use crate::severity::ProblemLevel;

/// The whole problem-level policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProblemLevelPolicy {
    /// Dispatch limit for every problem (PRB-02).
    pub dispatch: DispatchRule,
    /// One entry per level P1..P5 (PRB-01).
    #[serde(rename = "level")]
    pub levels: Vec<ProblemLevelRule>,
}

/// PRB-02: every problem must be dispatched within this limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DispatchRule {
    /// Rule ID (PRB-02).
    pub rule: String,
    /// The limit, counted from the report.
    pub limit: DeadlineBasis,
}

/// The limits of one problem level (PRB-01).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProblemLevelRule {
    /// Which level.
    pub level: ProblemLevel,
    /// Rule ID (PRB-01).
    pub rule: String,
    /// Chinese name.
    pub name_zh: String,
    /// The level's definition as shown to the reporter.
    #[serde(default)]
    pub definition_zh: String,
    /// Time to first response, counted from the report.
    pub response: DeadlineBasis,
    /// Time to resolution (or hazard removal / improvement for P4/P5), counted from the report.
    pub resolution: DeadlineBasis,
}

impl ProblemLevelPolicy {
    /// The rule for `level`.
    pub fn get(&self, level: ProblemLevel) -> Option<&ProblemLevelRule> {
        self.levels.iter().find(|l| l.level == level)
    }

    /// Every deadline in the file with its path, for cross-checks such as `@calendar` names.
    pub(crate) fn deadlines(&self) -> Vec<(String, &DeadlineBasis)> {
        let mut v = vec![("dispatch.limit".to_string(), &self.dispatch.limit)];
        for (i, l) in self.levels.iter().enumerate() {
            v.push((format!("level[{i}].response"), &l.response));
            v.push((format!("level[{i}].resolution"), &l.resolution));
        }
        v
    }

    pub(crate) fn validate(&self, issues: &mut Vec<Issue>) {
        check_rule_id("dispatch.rule", &self.dispatch.rule, issues);
        let mut seen = HashSet::new();
        for (i, l) in self.levels.iter().enumerate() {
            let at = |f: &str| format!("level[{i}].{f}");
            if !seen.insert(l.level) {
                issues.push(Issue::new(
                    at("level"),
                    format!("{} is defined more than once", l.level),
                ));
            }
            check_rule_id(&at("rule"), &l.rule, issues);
            check_non_empty(&at("name_zh"), &l.name_zh, issues);
            if let (Some(resp), Some(res)) =
                (nominal_seconds(&l.response), nominal_seconds(&l.resolution))
            {
                if res <= resp {
                    issues.push(Issue::new(
                        at("resolution"),
                        format!("must be longer than response ({})", l.response),
                    ));
                }
            }
        }
        for missing in ProblemLevel::ALL.iter().filter(|l| !seen.contains(l)) {
            issues.push(Issue::new(
                "level",
                format!("{missing} is missing (PRB-01 defines P1–P5)"),
            ));
        }
        for (path, d) in self.deadlines() {
            if nominal_seconds(d).is_none() {
                issues.push(Issue::new(
                    path,
                    format!("'{d}' counts backwards from a date; a limit counted from the report needs a forward basis"),
                ));
            }
        }
    }
}

/// A forward basis's nominal length, used only to compare two limits; backward bases have none.
fn nominal_seconds(d: &DeadlineBasis) -> Option<i64> {
    match d {
        DeadlineBasis::WallClock { seconds } | DeadlineBasis::WorkingTime { seconds, .. } => {
            Some(*seconds)
        }
        DeadlineBasis::CalendarDaysEnd { days } | DeadlineBasis::WorkingDaysEnd { days } => {
            Some(i64::from(*days) * 86_400)
        }
        DeadlineBasis::NextDayAt { .. } => Some(86_400),
        DeadlineBasis::WorkingDaysBefore { .. } | DeadlineBasis::CalendarDaysBefore { .. } => None,
    }
}
