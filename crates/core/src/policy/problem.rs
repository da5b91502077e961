//! problem_levels.toml: P1–P5 response/resolution limits (PRB-01) and the dispatch limit (PRB-02).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use tianshu_workcal::DeadlineBasis;

use super::error::Issue;
use super::kpi::MonthlyPackSchedule;
use super::units::{check_key, check_non_empty, check_rule_id};
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
    /// PRB-04 categories.
    #[serde(rename = "category")]
    pub categories: Vec<ProblemCategory>,
    /// PRB-06: levels reported to managers at once.
    pub immediate_report: ImmediateProblemReport,
    /// PRB-09 deadlines after resolution.
    pub review: ReviewRule,
    /// PRB-10 archive.
    pub archive: ArchiveRule,
    /// PRB-11 other departments.
    pub other_department: OtherDepartmentRule,
    /// What is queued when a problem's durable deadline clock passes unmet.
    pub breach: BreachNotice,
    /// PRB-09: the scheduled e-mail of the monthly problem report (none: not sent).
    #[serde(default)]
    pub monthly_report: Option<MonthlyPackSchedule>,
    /// PRB-13: the reminder of a monthly-meeting action still open at its due date (none: no reminders).
    #[serde(default)]
    pub meeting_reminder: Option<MeetingReminder>,
}

/// PRB-13: an open meeting action past its due date is reminded once: `template` of notifications.toml to
/// `roles` of roles.toml.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeetingReminder {
    /// The rule (PRB-13).
    pub rule: String,
    /// Template of notifications.toml.
    pub template: String,
    /// Roles of roles.toml told.
    pub roles: Vec<String>,
}

/// A problem deadline passed unmet: the template of notifications.toml queued and the roles it goes to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreachNotice {
    /// Template of notifications.toml.
    pub template: String,
    /// Roles of roles.toml told.
    pub roles: Vec<String>,
}

/// A PRB-04 category.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProblemCategory {
    /// Stable key.
    pub key: String,
    /// Chinese name.
    pub name_zh: String,
}

/// PRB-06: problems of `levels` are reported to `roles` at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImmediateProblemReport {
    /// Rule ID.
    pub rule: String,
    /// Levels reported at once.
    pub levels: Vec<ProblemLevel>,
    /// Roles of roles.toml told.
    pub roles: Vec<String>,
    /// Template of notifications.toml the report is sent with.
    pub template: String,
}

/// PRB-09: analysis report after resolution; review meeting for some levels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewRule {
    /// Rule ID.
    pub rule: String,
    /// Analysis-and-handling report due, counted from resolution.
    pub analysis_report: DeadlineBasis,
    /// Levels that need a review meeting.
    pub meeting_levels: Vec<ProblemLevel>,
    /// Review meeting due, counted from resolution.
    pub review_meeting: DeadlineBasis,
}

/// PRB-10: hand-over to the document administrator and retention.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveRule {
    /// Rule ID.
    pub rule: String,
    /// Hand-over due, counted from resolution.
    pub hand_over: DeadlineBasis,
    /// Years documents are kept at least.
    pub retention_years: u32,
}

/// PRB-11: problems involving other departments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtherDepartmentRule {
    /// Rule ID.
    pub rule: String,
    /// Reply deadline proposed when the coordinator gives none, counted from the letter.
    pub default_reply: DeadlineBasis,
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

    /// The category called `key`.
    pub fn category(&self, key: &str) -> Option<&ProblemCategory> {
        self.categories.iter().find(|c| c.key == key)
    }

    /// Every template of notifications.toml the file queues, with its path (cross-checked at load).
    pub(crate) fn templates(&self) -> Vec<(String, &str)> {
        let mut v = vec![
            (
                "immediate_report.template".to_string(),
                self.immediate_report.template.as_str(),
            ),
            ("breach.template".to_string(), self.breach.template.as_str()),
        ];
        if let Some(m) = &self.monthly_report {
            v.push(("monthly_report.template".to_string(), m.template.as_str()));
        }
        if let Some(m) = &self.meeting_reminder {
            v.push(("meeting_reminder.template".to_string(), m.template.as_str()));
        }
        v
    }

    /// Every role the file sends to, with its path (cross-checked at load).
    pub(crate) fn role_refs(&self) -> Vec<(String, &str)> {
        let mut v = Vec::new();
        for (j, r) in self.immediate_report.roles.iter().enumerate() {
            v.push((format!("immediate_report.roles[{j}]"), r.as_str()));
        }
        for (j, r) in self.breach.roles.iter().enumerate() {
            v.push((format!("breach.roles[{j}]"), r.as_str()));
        }
        if let Some(m) = &self.monthly_report {
            for (j, r) in m.roles.iter().enumerate() {
                v.push((format!("monthly_report.roles[{j}]"), r.as_str()));
            }
        }
        if let Some(m) = &self.meeting_reminder {
            for (j, r) in m.roles.iter().enumerate() {
                v.push((format!("meeting_reminder.roles[{j}]"), r.as_str()));
            }
        }
        v
    }

    /// Every deadline in the file with its path, for cross-checks such as `@calendar` names.
    pub(crate) fn deadlines(&self) -> Vec<(String, &DeadlineBasis)> {
        let mut v = vec![
            ("dispatch.limit".to_string(), &self.dispatch.limit),
            (
                "review.analysis_report".to_string(),
                &self.review.analysis_report,
            ),
            (
                "review.review_meeting".to_string(),
                &self.review.review_meeting,
            ),
            ("archive.hand_over".to_string(), &self.archive.hand_over),
            (
                "other_department.default_reply".to_string(),
                &self.other_department.default_reply,
            ),
        ];
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
        let mut cats = HashSet::new();
        for (i, c) in self.categories.iter().enumerate() {
            check_key(&format!("category[{i}].key"), &c.key, issues);
            check_non_empty(&format!("category[{i}].name_zh"), &c.name_zh, issues);
            if !cats.insert(c.key.as_str()) {
                issues.push(Issue::new(
                    format!("category[{i}].key"),
                    format!("duplicate category '{}'", c.key),
                ));
            }
        }
        if self.categories.is_empty() {
            issues.push(Issue::new(
                "category",
                "PRB-04 needs the problem categories",
            ));
        }
        check_rule_id("immediate_report.rule", &self.immediate_report.rule, issues);
        check_rule_id("review.rule", &self.review.rule, issues);
        check_rule_id("archive.rule", &self.archive.rule, issues);
        check_rule_id("other_department.rule", &self.other_department.rule, issues);
        check_non_empty("breach.template", &self.breach.template, issues);
        if self.breach.roles.is_empty() {
            issues.push(Issue::new(
                "breach.roles",
                "name at least one role to tell when a deadline passes",
            ));
        }
        if let Some(m) = &self.monthly_report {
            m.validate("monthly_report", issues);
        }
        if let Some(m) = &self.meeting_reminder {
            check_rule_id("meeting_reminder.rule", &m.rule, issues);
            check_non_empty("meeting_reminder.template", &m.template, issues);
            if m.roles.is_empty() {
                issues.push(Issue::new(
                    "meeting_reminder.roles",
                    "name at least one role to remind of an overdue meeting action",
                ));
            }
        }
        if self.archive.retention_years == 0 {
            issues.push(Issue::new("archive.retention_years", "must be at least 1"));
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
