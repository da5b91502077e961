//! reconciliation.toml: the REC schedules (REC-01..REC-07), cut-off and upload deadline (REC-08), the
//! consistency target and follow-up deadlines (REC-07, REC-12) and the engine's defaults (issue 6).

use std::collections::HashSet;

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use serde::{Deserialize, Serialize};

use super::duty::parse_hhmm;
use super::error::Issue;
use super::units::{check_key, check_non_empty, check_rule_id};

/// The reconciliation policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconciliationPolicy {
    /// Working-day calendar (calendars.toml) of the reply and fix deadlines.
    pub calendar: String,
    /// REC-08 cut-off and upload deadline.
    pub upload: UploadDef,
    /// Consistency target and follow-up deadlines.
    pub follow_up: FollowUpDef,
    /// Engine defaults for jobs that do not say otherwise.
    pub engine: EngineDef,
    /// The scheduled reconciliations.
    #[serde(rename = "schedule")]
    pub schedules: Vec<ScheduleDef>,
}

/// REC-08: data as of the cut-off of the reconciliation day, uploaded before the deadline that day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadDef {
    /// Rule ID.
    pub rule: String,
    /// Local `HH:MM`: the data is as of this time of the reconciliation day.
    pub cut_off: String,
    /// Local `HH:MM`: the file must arrive before this time the same day.
    pub deadline: String,
}

/// REC-07 / REC-12: consistency target; diffs answered and fixed within working days.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowUpDef {
    /// Rule ID.
    pub rule: String,
    /// Minimum consistency, percent (e.g. 99.9).
    pub consistency_target_percent: f64,
    /// Working days to reply to a difference batch.
    pub reply_working_days: u32,
    /// Working days to fix it.
    pub fix_working_days: u32,
    /// Template queued (to `notify_roles`) when a work item's reply or fix deadline passes.
    pub overdue_template: String,
    /// Roles told when a deadline passes.
    pub notify_roles: Vec<String>,
}

/// NULL versus empty string when a job does not declare it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NullDefault {
    /// NULL and '' differ.
    Distinct,
    /// NULL and '' compare equal.
    Equal,
}

/// Engine defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineDef {
    /// NULL versus empty string.
    pub null_policy: NullDefault,
    /// Differences kept per run as a sample for the API.
    pub sample_size: u32,
    /// Memory for per-row records before partitions spill to disk (MiB).
    pub memory_budget_mb: u32,
}

/// Full or incremental.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReconMode {
    /// Every row of both sides.
    Full,
    /// Keys changed since the last run.
    Incremental,
}

/// One scheduled reconciliation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleDef {
    /// Stable key.
    pub key: String,
    /// Rule ID.
    pub rule: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// Full or incremental.
    pub mode: ReconMode,
    /// Days of the month (1–31); empty with `daily = true`.
    #[serde(default)]
    pub days: Vec<u32>,
    /// Every day.
    #[serde(default)]
    pub daily: bool,
    /// The files the job compares (`[schedule.inputs]`); a job without them is listed but not run.
    #[serde(default)]
    pub inputs: Option<ScheduleInputs>,
}

/// The declared inputs of a scheduled job: file names under the server's reconciliation inbox, `{date}` standing
/// for the reconciliation day as `YYYYMMDD`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleInputs {
    /// Left file (e.g. the group side), relative to the inbox.
    pub left: String,
    /// Right file (e.g. the province side), relative to the inbox.
    pub right: String,
    /// Key column(s).
    pub key: Vec<String>,
    /// Delimiter of both files (one character; default `,`).
    #[serde(default)]
    pub delimiter: Option<String>,
    /// Encoding of both files (utf-8, gbk, gb18030; default utf-8).
    #[serde(default)]
    pub encoding: Option<String>,
    /// Incremental mode: the column holding each row's last change (compared to the previous run's cut-off).
    #[serde(default)]
    pub updated_at: Option<String>,
    /// Incremental mode: a file of changed keys (one column per key column, with a header), relative to the inbox.
    #[serde(default)]
    pub delta: Option<String>,
}

impl ScheduleInputs {
    /// A declared path with `{date}` replaced by the day as `YYYYMMDD`.
    pub fn resolve(pattern: &str, day: NaiveDate) -> String {
        pattern.replace("{date}", &day.format("%Y%m%d").to_string())
    }
}

impl ScheduleDef {
    /// Whether the job runs on this day of the month.
    pub fn due_on(&self, day_of_month: u32) -> bool {
        self.daily || self.days.contains(&day_of_month)
    }
}

/// Whether a file arrived in time (REC-08).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadStatus {
    /// Before the deadline.
    OnTime,
    /// At or after the deadline.
    Late,
}

impl ReconciliationPolicy {
    /// The schedules due on a day of the month, in file order.
    pub fn due_on(&self, day_of_month: u32) -> Vec<&ScheduleDef> {
        self.schedules
            .iter()
            .filter(|s| s.due_on(day_of_month))
            .collect()
    }

    /// The schedule with this key.
    pub fn schedule(&self, key: &str) -> Option<&ScheduleDef> {
        self.schedules.iter().find(|s| s.key == key)
    }

    /// REC-08: the local time the data is as of, for a reconciliation day.
    pub fn data_as_of(&self, day: NaiveDate) -> NaiveDateTime {
        day.and_time(parse_hhmm(&self.upload.cut_off).unwrap_or(NaiveTime::MIN))
    }

    /// REC-08: the local upload deadline of a reconciliation day.
    pub fn upload_deadline(&self, day: NaiveDate) -> NaiveDateTime {
        day.and_time(parse_hhmm(&self.upload.deadline).unwrap_or(NaiveTime::MIN))
    }

    /// REC-08: a file uploaded at local time `at` for reconciliation day `day`.
    pub fn upload_status(&self, day: NaiveDate, at: NaiveDateTime) -> UploadStatus {
        if at < self.upload_deadline(day) {
            UploadStatus::OnTime
        } else {
            UploadStatus::Late
        }
    }

    /// REC-07 / REC-12: whether a consistency rate (0.0–1.0) meets the target.
    pub fn meets_target(&self, consistency: f64) -> bool {
        // Compare in basis points of a percent to avoid 0.999 * 100 = 99.89999… surprises.
        (consistency * 1_000_000.0).round()
            >= (self.follow_up.consistency_target_percent * 10_000.0).round()
    }

    pub(crate) fn validate(&self, issues: &mut Vec<Issue>) {
        check_non_empty("calendar", &self.calendar, issues);
        check_rule_id("upload.rule", &self.upload.rule, issues);
        let cut = parse_hhmm(&self.upload.cut_off);
        let dl = parse_hhmm(&self.upload.deadline);
        if cut.is_none() {
            issues.push(Issue::new("upload.cut_off", "expected local time HH:MM"));
        }
        if dl.is_none() {
            issues.push(Issue::new("upload.deadline", "expected local time HH:MM"));
        }
        if let (Some(c), Some(d)) = (cut, dl) {
            if d <= c {
                issues.push(Issue::new(
                    "upload.deadline",
                    "must be after upload.cut_off",
                ));
            }
        }
        let f = &self.follow_up;
        check_rule_id("follow_up.rule", &f.rule, issues);
        if !(f.consistency_target_percent > 0.0 && f.consistency_target_percent <= 100.0) {
            issues.push(Issue::new(
                "follow_up.consistency_target_percent",
                "must be more than 0 and at most 100",
            ));
        }
        if f.reply_working_days == 0 {
            issues.push(Issue::new(
                "follow_up.reply_working_days",
                "must be at least 1",
            ));
        }
        if f.fix_working_days < f.reply_working_days {
            issues.push(Issue::new(
                "follow_up.fix_working_days",
                "must not be shorter than reply_working_days",
            ));
        }
        if f.notify_roles.is_empty() {
            issues.push(Issue::new(
                "follow_up.notify_roles",
                "name at least one role to tell when a deadline passes",
            ));
        }
        if self.engine.sample_size == 0 {
            issues.push(Issue::new("engine.sample_size", "must be at least 1"));
        }
        if self.engine.memory_budget_mb == 0 {
            issues.push(Issue::new("engine.memory_budget_mb", "must be at least 1"));
        }
        if self.schedules.is_empty() {
            issues.push(Issue::new(
                "schedule",
                "at least one [[schedule]] is required",
            ));
        }
        let mut keys = HashSet::new();
        for (i, s) in self.schedules.iter().enumerate() {
            let p = format!("schedule[{i}]");
            check_key(&format!("{p}.key"), &s.key, issues);
            if !keys.insert(s.key.as_str()) {
                issues.push(Issue::new(
                    format!("{p}.key"),
                    format!("'{}' is defined twice", s.key),
                ));
            }
            check_rule_id(&format!("{p}.rule"), &s.rule, issues);
            check_non_empty(&format!("{p}.name_zh"), &s.name_zh, issues);
            check_non_empty(&format!("{p}.name_en"), &s.name_en, issues);
            if s.daily && !s.days.is_empty() {
                issues.push(Issue::new(
                    format!("{p}.days"),
                    "must be empty with daily = true",
                ));
            }
            if !s.daily && s.days.is_empty() {
                issues.push(Issue::new(
                    format!("{p}.days"),
                    "list the days of the month, or set daily = true",
                ));
            }
            if let Some(inp) = &s.inputs {
                for (f, v) in [("left", &inp.left), ("right", &inp.right)]
                    .into_iter()
                    .chain(inp.delta.as_ref().map(|d| ("delta", d)))
                {
                    let field = format!("{p}.inputs.{f}");
                    check_non_empty(&field, v, issues);
                    if v.starts_with('/') || v.split(['/', '\\']).any(|c| c == "..") {
                        issues.push(Issue::new(
                            field,
                            "must be a relative path inside the inbox (no leading '/', no '..')",
                        ));
                    }
                }
                if inp.key.is_empty() || inp.key.iter().any(|k| k.trim().is_empty()) {
                    issues.push(Issue::new(
                        format!("{p}.inputs.key"),
                        "name at least one key column",
                    ));
                }
                if let Some(d) = &inp.delimiter {
                    if d != "\\t" && d != "tab" && !(d.len() == 1 && d.is_ascii()) {
                        issues.push(Issue::new(
                            format!("{p}.inputs.delimiter"),
                            "one character (or \\t for tab)",
                        ));
                    }
                }
                if let Some(e) = &inp.encoding {
                    if !["utf-8", "utf8", "gbk", "gb18030"]
                        .contains(&e.to_ascii_lowercase().as_str())
                    {
                        issues.push(Issue::new(
                            format!("{p}.inputs.encoding"),
                            "utf-8, gbk or gb18030",
                        ));
                    }
                }
                if s.mode == ReconMode::Incremental
                    && inp.updated_at.is_none()
                    && inp.delta.is_none()
                {
                    issues.push(Issue::new(
                        format!("{p}.inputs"),
                        "an incremental job needs updated_at (a column) or delta (a file of changed keys)",
                    ));
                }
            }
            for (j, d) in s.days.iter().enumerate() {
                if !(1..=31).contains(d) {
                    issues.push(Issue::new(
                        format!("{p}.days[{j}]"),
                        format!("{d} is not a day of the month (1-31)"),
                    ));
                }
                if s.days[..j].contains(d) {
                    issues.push(Issue::new(
                        format!("{p}.days[{j}]"),
                        format!("{d} is listed twice"),
                    ));
                }
            }
        }
    }
}

impl ReconciliationPolicy {
    /// Role keys named by the follow-up (checked against roles.toml at load).
    pub(crate) fn role_refs(&self) -> Vec<(String, &str)> {
        self.follow_up
            .notify_roles
            .iter()
            .enumerate()
            .map(|(i, r)| (format!("follow_up.notify_roles[{i}]"), r.as_str()))
            .collect()
    }
}
