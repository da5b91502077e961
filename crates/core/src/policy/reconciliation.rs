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

/// Full, incremental or database-to-database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReconMode {
    /// Every row of both sides (a database side is read row by row like a file).
    Full,
    /// Keys changed since the last run.
    Incremental,
    /// Both sides are databases: checksums of key ranges are computed inside each database and bisected down to
    /// the differing rows, so only those rows travel.
    Db,
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
    /// The files or databases the job compares (`[schedule.inputs]`); a job without them is listed but not run.
    #[serde(default)]
    pub inputs: Option<ScheduleInputs>,
    /// Local `HH:MM` at which a job whose inputs are both databases runs on its days (it has no files to wait
    /// for). Default: the REC-08 cut-off (`[upload].cut_off`), the moment the data is as of.
    #[serde(default)]
    pub at: Option<String>,
}

/// The declared inputs of a scheduled job. Each side is a file name under the server's reconciliation inbox
/// (`left`, `right`), or a database registered in the server (`left_db`, `right_db`: its name among the
/// monitored databases, whose password the server keeps encrypted) with a table or a query. `{date}` in a file
/// name, table or query stands for the reconciliation day as `YYYYMMDD`. No credential is ever written here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleInputs {
    /// Left file (e.g. the group side), relative to the inbox.
    #[serde(default)]
    pub left: Option<String>,
    /// Right file (e.g. the province side), relative to the inbox.
    #[serde(default)]
    pub right: Option<String>,
    /// Left side read from this registered database (its name) instead of a file.
    #[serde(default)]
    pub left_db: Option<String>,
    /// With `left_db`: the table (`name` or `schema.name`).
    #[serde(default)]
    pub left_table: Option<String>,
    /// With `left_db`: a SELECT whose columns are the side's columns (instead of `left_table`).
    #[serde(default)]
    pub left_query: Option<String>,
    /// Right side read from this registered database (its name) instead of a file.
    #[serde(default)]
    pub right_db: Option<String>,
    /// With `right_db`: the table (`name` or `schema.name`).
    #[serde(default)]
    pub right_table: Option<String>,
    /// With `right_db`: a SELECT (instead of `right_table`).
    #[serde(default)]
    pub right_query: Option<String>,
    /// Key column(s).
    pub key: Vec<String>,
    /// Delimiter of the files (one character; default `,`).
    #[serde(default)]
    pub delimiter: Option<String>,
    /// Encoding of the files (utf-8, gbk, gb18030; default utf-8).
    #[serde(default)]
    pub encoding: Option<String>,
    /// Incremental mode: the column holding each row's last change (compared to the previous run's cut-off).
    #[serde(default)]
    pub updated_at: Option<String>,
    /// Incremental mode: a file of changed keys (one column per key column, with a header), relative to the inbox.
    #[serde(default)]
    pub delta: Option<String>,
}

/// Where one side of a scheduled job reads from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InputSource {
    /// A file, relative to the inbox.
    File {
        /// The file name.
        path: String,
    },
    /// A registered database's table or query.
    Db {
        /// The database's registered name.
        db: String,
        /// `name` or `schema.name`.
        table: Option<String>,
        /// A SELECT (instead of a table).
        query: Option<String>,
    },
}

impl InputSource {
    /// `{date}` replaced by the day as `YYYYMMDD` in the file name, table or query.
    pub fn on(&self, day: NaiveDate) -> InputSource {
        let r = |s: &String| ScheduleInputs::resolve(s, day);
        match self {
            InputSource::File { path } => InputSource::File { path: r(path) },
            InputSource::Db { db, table, query } => InputSource::Db {
                db: db.clone(),
                table: table.as_ref().map(r),
                query: query.as_ref().map(r),
            },
        }
    }
}

impl ScheduleInputs {
    /// A declared path with `{date}` replaced by the day as `YYYYMMDD`.
    pub fn resolve(pattern: &str, day: NaiveDate) -> String {
        pattern.replace("{date}", &day.format("%Y%m%d").to_string())
    }

    fn source(
        file: &Option<String>,
        db: &Option<String>,
        table: &Option<String>,
        query: &Option<String>,
    ) -> Option<InputSource> {
        match (file, db) {
            (Some(f), None) => Some(InputSource::File { path: f.clone() }),
            (None, Some(d)) => Some(InputSource::Db {
                db: d.clone(),
                table: table.clone(),
                query: query.clone(),
            }),
            _ => None,
        }
    }

    /// The left side (None only in a pack that failed validation).
    pub fn left_source(&self) -> Option<InputSource> {
        Self::source(
            &self.left,
            &self.left_db,
            &self.left_table,
            &self.left_query,
        )
    }

    /// The right side (None only in a pack that failed validation).
    pub fn right_source(&self) -> Option<InputSource> {
        Self::source(
            &self.right,
            &self.right_db,
            &self.right_table,
            &self.right_query,
        )
    }

    /// Both sides are databases: nothing to upload, the job runs at its time (`at`).
    pub fn databases_only(&self) -> bool {
        self.left_db.is_some() && self.right_db.is_some()
    }

    /// Either side is a database.
    pub fn uses_database(&self) -> bool {
        self.left_db.is_some() || self.right_db.is_some()
    }

    /// Checks one side: a file or a database with a table or a query, never both, never neither.
    #[allow(clippy::too_many_arguments)]
    fn check_side(
        p: &str,
        n: &str,
        file: &Option<String>,
        db: &Option<String>,
        table: &Option<String>,
        query: &Option<String>,
        mode: ReconMode,
        issues: &mut Vec<Issue>,
    ) {
        match (file, db) {
            (Some(_), Some(_)) => issues.push(Issue::new(
                format!("{p}.inputs.{n}_db"),
                format!("give {n} (a file) or {n}_db (a registered database), not both"),
            )),
            (None, None) => issues.push(Issue::new(
                format!("{p}.inputs.{n}"),
                format!("name a file ({n}) or a registered database ({n}_db)"),
            )),
            _ => {}
        }
        if let Some(f) = file {
            let field = format!("{p}.inputs.{n}");
            check_non_empty(&field, f, issues);
            if f.starts_with('/') || f.split(['/', '\\']).any(|c| c == "..") {
                issues.push(Issue::new(
                    field.clone(),
                    "must be a relative path inside the inbox (no leading '/', no '..')",
                ));
            }
            if mode == ReconMode::Db {
                issues.push(Issue::new(
                    field,
                    format!("mode = \"db\" compares two databases: name {n}_db instead of a file"),
                ));
            }
        }
        if let Some(d) = db {
            let field = format!("{p}.inputs.{n}_db");
            if d.trim().is_empty() || d.len() > 255 {
                issues.push(Issue::new(
                    field.clone(),
                    "the name of a registered database (1 to 255 characters)",
                ));
            }
            if d.contains("://") || d.contains('@') {
                issues.push(Issue::new(
                    field.clone(),
                    "the name a database is registered under, not a URL: credentials never go in the pack",
                ));
            }
            match (table, query) {
                (Some(_), Some(_)) => issues.push(Issue::new(
                    format!("{p}.inputs.{n}_query"),
                    format!("give {n}_table or {n}_query, not both"),
                )),
                (None, None) => issues.push(Issue::new(
                    field.clone(),
                    format!("a database side needs {n}_table or {n}_query"),
                )),
                _ => {}
            }
            if mode == ReconMode::Incremental {
                issues.push(Issue::new(
                    field,
                    "incremental jobs compare files (changed keys by updated_at or a delta file); \
                     use mode = \"full\" or \"db\" for a database side",
                ));
            }
        } else {
            for (f, v) in [("table", table), ("query", query)] {
                if v.is_some() {
                    issues.push(Issue::new(
                        format!("{p}.inputs.{n}_{f}"),
                        format!("only with {n}_db"),
                    ));
                }
            }
        }
        if let Some(t) = table {
            let parts: Vec<&str> = t.split('.').collect();
            if parts.len() > 2 || parts.iter().any(|s| s.trim().is_empty() || s.trim() != *s) {
                issues.push(Issue::new(
                    format!("{p}.inputs.{n}_table"),
                    "must be name or schema.name",
                ));
            }
        }
        if let Some(q) = query {
            let head = q.trim_start().to_ascii_lowercase();
            if !(head.starts_with("select") || head.starts_with("with")) {
                issues.push(Issue::new(
                    format!("{p}.inputs.{n}_query"),
                    "must be one SELECT (or WITH … SELECT) statement",
                ));
            } else if q.trim().trim_end_matches(';').contains(';') {
                issues.push(Issue::new(
                    format!("{p}.inputs.{n}_query"),
                    "must be one statement (no ';' inside)",
                ));
            }
        }
    }
}

impl ScheduleDef {
    /// Whether the job runs on this day of the month.
    pub fn due_on(&self, day_of_month: u32) -> bool {
        self.daily || self.days.contains(&day_of_month)
    }

    /// Whether the job reads only databases (nothing to upload): it runs at [`ReconciliationPolicy::run_at`].
    pub fn databases_only(&self) -> bool {
        self.inputs
            .as_ref()
            .is_some_and(ScheduleInputs::databases_only)
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

    /// The local time a job reading only databases runs on a reconciliation day: its `at`, or the REC-08 cut-off.
    pub fn run_at(&self, s: &ScheduleDef, day: NaiveDate) -> NaiveDateTime {
        let at = s.at.as_deref().unwrap_or(&self.upload.cut_off);
        day.and_time(parse_hhmm(at).unwrap_or(NaiveTime::MIN))
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
                ScheduleInputs::check_side(
                    &p,
                    "left",
                    &inp.left,
                    &inp.left_db,
                    &inp.left_table,
                    &inp.left_query,
                    s.mode,
                    issues,
                );
                ScheduleInputs::check_side(
                    &p,
                    "right",
                    &inp.right,
                    &inp.right_db,
                    &inp.right_table,
                    &inp.right_query,
                    s.mode,
                    issues,
                );
                if let Some(d) = &inp.delta {
                    let field = format!("{p}.inputs.delta");
                    check_non_empty(&field, d, issues);
                    if d.starts_with('/') || d.split(['/', '\\']).any(|c| c == "..") {
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
                if inp.databases_only() {
                    for (f, set) in [
                        ("delimiter", inp.delimiter.is_some()),
                        ("encoding", inp.encoding.is_some()),
                    ] {
                        if set {
                            issues.push(Issue::new(
                                format!("{p}.inputs.{f}"),
                                "is for files; both inputs of this job are databases",
                            ));
                        }
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
                if s.mode != ReconMode::Incremental {
                    for (f, set) in [
                        ("updated_at", inp.updated_at.is_some()),
                        ("delta", inp.delta.is_some()),
                    ] {
                        if set && inp.uses_database() {
                            issues.push(Issue::new(
                                format!("{p}.inputs.{f}"),
                                "only for incremental jobs, which compare files",
                            ));
                        }
                    }
                }
            } else if s.mode == ReconMode::Db {
                issues.push(Issue::new(
                    format!("{p}.mode"),
                    "mode = \"db\" needs [schedule.inputs] with left_db and right_db",
                ));
            }
            if let Some(at) = &s.at {
                if parse_hhmm(at).is_none() {
                    issues.push(Issue::new(format!("{p}.at"), "expected local time HH:MM"));
                }
                if !s
                    .inputs
                    .as_ref()
                    .is_some_and(ScheduleInputs::databases_only)
                {
                    issues.push(Issue::new(
                        format!("{p}.at"),
                        "only for a job whose inputs are both databases (a job with a file runs when its files are in the inbox)",
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
