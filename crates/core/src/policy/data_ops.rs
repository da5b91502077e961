//! data_ops.toml: back-end data operations (DATA-02, DATA-04, DATA-10, DATA-12, DATA-17) and the limits of
//! guarded execution.

use std::collections::HashSet;

use chrono::NaiveTime;
use serde::{Deserialize, Serialize};

use super::duty::parse_hhmm;
use super::error::Issue;
use super::pack::check_time_zone;
use super::units::{check_key, check_non_empty, check_rule_id, PolicyDuration};

/// The data-operations policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataOpsPolicy {
    /// Rule ID of the file as a whole.
    pub rule: String,
    /// IANA zone of the peak windows.
    pub time_zone: String,
    /// DATA-02 thresholds.
    pub batch: BatchRule,
    /// DATA-04 ticket types.
    pub tickets: TicketRule,
    /// DATA-10 maker-checker.
    pub separation: SeparationRule,
    /// DATA-12 sensitive classes and approvers.
    pub sensitive: SensitiveRule,
    /// DATA-17 peak hours.
    pub peak: PeakRule,
    /// Guarded-execution limits.
    pub guard: GuardRule,
    /// Extraction caps.
    pub extraction: ExtractionRule,
}

/// DATA-02: when a modification is batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchRule {
    pub rule: String,
    /// Records at or above which a change is batch (C-1: 以上 includes the number).
    pub min_records: u64,
    /// Amount difference (yuan) above which a report correction is batch.
    pub amount_over_yuan: f64,
    /// Inventory reconciliation error above which a correction is batch.
    pub inventory_error_over: f64,
}

/// DATA-04 / DATA-15: allowed ticket types.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketRule {
    pub rule: String,
    pub modification: Vec<String>,
    pub extraction: Vec<String>,
}

/// DATA-10.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeparationRule {
    pub rule: String,
    /// Tables whose modification is "important" (compared case-insensitively, without schema).
    pub important_tables: Vec<String>,
}

/// DATA-12.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SensitiveRule {
    pub rule: String,
    pub approver_roles: Vec<String>,
    pub batch_approver_roles: Vec<String>,
    pub refused_vendor_modes: Vec<String>,
    #[serde(rename = "class")]
    pub classes: Vec<SensitiveClass>,
}

/// One level-1 sensitive data class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SensitiveClass {
    pub key: String,
    pub name_zh: String,
    pub name_en: String,
}

/// DATA-17.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeakRule {
    pub rule: String,
    /// `[start, end)` local `HH:MM` pairs.
    pub windows: Vec<[String; 2]>,
    /// Rows above which an extraction is "large".
    pub max_rows: u64,
    /// Estimated run time above which a statement is banned in a window.
    pub max_runtime: PolicyDuration,
    pub exception_roles: Vec<String>,
}

/// Guarded-execution limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardRule {
    pub rule: String,
    pub max_steps: usize,
    pub max_rows_per_step: u64,
    pub statement_timeout: PolicyDuration,
    pub lock_timeout: PolicyDuration,
}

/// Extraction caps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtractionRule {
    pub rule: String,
    pub row_cap: u64,
    pub time_cap: PolicyDuration,
}

/// The vendor modes the request form offers (DATA-03, DATA-12).
pub const VENDOR_MODES: [&str; 3] = ["company", "onsite_vendor", "remote_vendor"];

impl DataOpsPolicy {
    /// Semantic checks after parsing.
    pub(crate) fn validate(&self, issues: &mut Vec<Issue>) {
        check_rule_id("rule", &self.rule, issues);
        check_time_zone("time_zone", &self.time_zone, issues);
        check_rule_id("batch.rule", &self.batch.rule, issues);
        if self.batch.min_records == 0 {
            issues.push(Issue::new("batch.min_records", "must be at least 1"));
        }
        for (f, v) in [
            ("batch.amount_over_yuan", self.batch.amount_over_yuan),
            (
                "batch.inventory_error_over",
                self.batch.inventory_error_over,
            ),
        ] {
            if !v.is_finite() || v < 0.0 {
                issues.push(Issue::new(f, "must be a number of 0 or more"));
            }
        }
        check_rule_id("tickets.rule", &self.tickets.rule, issues);
        for (f, list) in [
            ("tickets.modification", &self.tickets.modification),
            ("tickets.extraction", &self.tickets.extraction),
        ] {
            if list.is_empty() {
                issues.push(Issue::new(f, "name at least one ticket type"));
            }
            for (i, t) in list.iter().enumerate() {
                check_key(&format!("{f}[{i}]"), t, issues);
            }
        }
        check_rule_id("separation.rule", &self.separation.rule, issues);
        for (i, t) in self.separation.important_tables.iter().enumerate() {
            check_non_empty(&format!("separation.important_tables[{i}]"), t, issues);
        }
        check_rule_id("sensitive.rule", &self.sensitive.rule, issues);
        if self.sensitive.approver_roles.is_empty() {
            issues.push(Issue::new(
                "sensitive.approver_roles",
                "name at least one role",
            ));
        }
        if self.sensitive.batch_approver_roles.is_empty() {
            issues.push(Issue::new(
                "sensitive.batch_approver_roles",
                "name at least one role",
            ));
        }
        for (i, m) in self.sensitive.refused_vendor_modes.iter().enumerate() {
            if !VENDOR_MODES.contains(&m.as_str()) {
                issues.push(Issue::new(
                    format!("sensitive.refused_vendor_modes[{i}]"),
                    format!("'{m}' is not one of {}", VENDOR_MODES.join(", ")),
                ));
            }
        }
        let mut seen = HashSet::new();
        for (i, c) in self.sensitive.classes.iter().enumerate() {
            let p = format!("sensitive.class[{i}]");
            check_key(&format!("{p}.key"), &c.key, issues);
            check_non_empty(&format!("{p}.name_zh"), &c.name_zh, issues);
            check_non_empty(&format!("{p}.name_en"), &c.name_en, issues);
            if !seen.insert(c.key.as_str()) {
                issues.push(Issue::new(
                    format!("{p}.key"),
                    format!("'{}' is defined twice", c.key),
                ));
            }
        }
        check_rule_id("peak.rule", &self.peak.rule, issues);
        for (i, [s, e]) in self.peak.windows.iter().enumerate() {
            match (parse_hhmm(s), parse_hhmm(e)) {
                (Some(a), Some(b)) if a < b => {}
                (Some(_), Some(_)) => issues.push(Issue::new(
                    format!("peak.windows[{i}]"),
                    "the end must be after the start on the same day",
                )),
                _ => issues.push(Issue::new(
                    format!("peak.windows[{i}]"),
                    "write each window as [\"HH:MM\", \"HH:MM\"]",
                )),
            }
        }
        if self.peak.exception_roles.is_empty() {
            issues.push(Issue::new("peak.exception_roles", "name at least one role"));
        }
        if self.peak.max_runtime.seconds() <= 0 {
            issues.push(Issue::new("peak.max_runtime", "must be positive"));
        }
        check_rule_id("guard.rule", &self.guard.rule, issues);
        if !(1..=1000).contains(&self.guard.max_steps) {
            issues.push(Issue::new("guard.max_steps", "must be between 1 and 1000"));
        }
        if self.guard.max_rows_per_step == 0 {
            issues.push(Issue::new("guard.max_rows_per_step", "must be at least 1"));
        }
        for (f, d) in [
            ("guard.statement_timeout", self.guard.statement_timeout),
            ("guard.lock_timeout", self.guard.lock_timeout),
            ("extraction.time_cap", self.extraction.time_cap),
        ] {
            if d.seconds() <= 0 {
                issues.push(Issue::new(f, "must be positive"));
            }
        }
        check_rule_id("extraction.rule", &self.extraction.rule, issues);
        if self.extraction.row_cap == 0 {
            issues.push(Issue::new("extraction.row_cap", "must be at least 1"));
        }
    }

    /// Every role key the file names, with its field path, for the cross-file check against roles.toml.
    pub fn role_refs(&self) -> Vec<(String, &str)> {
        let mut out = Vec::new();
        for (f, list) in [
            ("sensitive.approver_roles", &self.sensitive.approver_roles),
            (
                "sensitive.batch_approver_roles",
                &self.sensitive.batch_approver_roles,
            ),
            ("peak.exception_roles", &self.peak.exception_roles),
        ] {
            for (i, r) in list.iter().enumerate() {
                out.push((format!("{f}[{i}]"), r.as_str()));
            }
        }
        out
    }

    /// The peak windows as times (validated at load).
    pub fn peak_windows(&self) -> Vec<(NaiveTime, NaiveTime)> {
        self.peak
            .windows
            .iter()
            .filter_map(|[s, e]| Some((parse_hhmm(s)?, parse_hhmm(e)?)))
            .collect()
    }

    /// The sensitive class with key `key`.
    pub fn sensitive_class(&self, key: &str) -> Option<&SensitiveClass> {
        self.sensitive.classes.iter().find(|c| c.key == key)
    }
}
