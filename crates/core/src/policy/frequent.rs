//! frequent_faults.toml: frequent-fault report triggers RPT-01 (version A) and RPT-02 (version B); RPT-03 picks
//! which sets apply (Proposed default: both, i.e. their union).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::error::Issue;
use super::units::{check_key, check_non_empty, check_rule_id};

/// The frequent-fault policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrequentFaultPolicy {
    /// Keys of the sets that apply; a fault is listed when any selected set fires (RPT-03 union).
    pub selected: Vec<String>,
    /// Every threshold set.
    #[serde(rename = "set")]
    pub sets: Vec<TriggerSet>,
}

/// One version of the thresholds (RPT-01 or RPT-02).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerSet {
    /// Stable key (`a`, `b`).
    pub key: String,
    /// Rule ID.
    pub rule: String,
    /// Chinese name.
    pub name_zh: String,
    /// Its triggers.
    #[serde(rename = "trigger")]
    pub triggers: Vec<FrequentTrigger>,
}

/// One trigger: counts over `period` put a fault into the listed reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrequentTrigger {
    /// Reports the fault appears in when the trigger fires.
    pub reports: Vec<ReportKind>,
    /// The counting window: the report's week, or the month to date.
    pub period: Period,
    /// Occurrences in the period, at least (含, C-1); several on one day count separately (DUP-06).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_occurrences: Option<u32>,
    /// Cumulative complaints in the period, strictly more than (超过, C-1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complaints_more_than: Option<u64>,
    /// Whether any or all of the given conditions must hold.
    pub combine: Combine,
    /// Only faults of these categories count (empty = every fault).
    #[serde(default)]
    pub categories: Vec<String>,
}

/// A periodic report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportKind {
    /// 周报.
    Weekly,
    /// 月报.
    Monthly,
}

/// A counting window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// The report's week.
    Week,
    /// The calendar month up to the report's end.
    Month,
}

/// How conditions combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Combine {
    /// Either condition (或).
    Any,
    /// Both conditions (且).
    All,
}

impl FrequentFaultPolicy {
    /// The selected sets, in file order.
    pub fn selected_sets(&self) -> impl Iterator<Item = &TriggerSet> {
        self.sets.iter().filter(|s| self.selected.contains(&s.key))
    }

    pub(crate) fn validate(&self, issues: &mut Vec<Issue>) {
        let mut keys = HashSet::new();
        for (i, s) in self.sets.iter().enumerate() {
            let at = |f: &str| format!("set[{i}].{f}");
            check_key(&at("key"), &s.key, issues);
            if !keys.insert(s.key.as_str()) {
                issues.push(Issue::new(
                    at("key"),
                    format!("duplicate set key '{}'", s.key),
                ));
            }
            check_rule_id(&at("rule"), &s.rule, issues);
            check_non_empty(&at("name_zh"), &s.name_zh, issues);
            for (j, t) in s.triggers.iter().enumerate() {
                let at = |f: &str| format!("set[{i}].trigger[{j}].{f}");
                if t.min_occurrences.is_none() && t.complaints_more_than.is_none() {
                    issues.push(Issue::new(
                        at("min_occurrences"),
                        "give min_occurrences, complaints_more_than or both",
                    ));
                }
                if t.reports.is_empty() {
                    issues.push(Issue::new(at("reports"), "list at least one report"));
                }
                if t.period == Period::Week && t.reports.contains(&ReportKind::Monthly) {
                    issues.push(Issue::new(
                        at("period"),
                        "a monthly report cannot count over a week",
                    ));
                }
            }
        }
        if self.selected.is_empty() {
            issues.push(Issue::new("selected", "select at least one set (RPT-03)"));
        }
        for (i, k) in self.selected.iter().enumerate() {
            if !keys.contains(k.as_str()) {
                issues.push(Issue::new(
                    format!("selected[{i}]"),
                    format!("no [[set]] with key '{k}'"),
                ));
            }
        }
    }
}
