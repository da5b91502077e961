//! duty.toml: shifts (DUTY-03), duty slots (DUTY-02/04/09), the weekday rotation (DUTY-04), comp time (DUTY-05),
//! the daily duty report (DUTY-06) and the on-duty index freshness.

use std::collections::{BTreeMap, HashSet};

use chrono::{NaiveTime, Weekday};
use serde::{Deserialize, Serialize};

use super::error::Issue;
use super::pack::check_time_zone;
use super::units::{check_key, check_non_empty, check_rule_id, PolicyDuration};

/// The duty policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DutyPolicy {
    /// Rule ID of the file as a whole.
    pub rule: String,
    /// IANA zone of shift times and of the ICS feed.
    pub time_zone: String,
    /// Working-day calendar (calendars.toml) deciding weekday vs. non-working day for comp time (C-2).
    pub calendar: String,
    /// The shifts of a day, in order.
    #[serde(rename = "shift")]
    pub shifts: Vec<ShiftDef>,
    /// The named duties people are rostered to.
    #[serde(rename = "slot")]
    pub slots: Vec<SlotDef>,
    /// The DUTY-04 weekday rotation.
    pub rotation: RotationDef,
    /// DUTY-05 comp time.
    pub comp_time: CompTimeDef,
    /// DUTY-06 daily report.
    pub report: ReportDef,
    /// On-duty index freshness.
    pub lookup: LookupDef,
}

/// A shift (DUTY-03): a local time span within one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShiftDef {
    /// Stable key (`day`, `evening`).
    pub key: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// Local start `HH:MM`.
    pub start: String,
    /// Local end `HH:MM`, after `start` on the same day.
    pub end: String,
}

impl ShiftDef {
    /// Start time of day (validated at load).
    pub fn start_time(&self) -> NaiveTime {
        parse_hhmm(&self.start).unwrap_or(NaiveTime::MIN)
    }

    /// End time of day (validated at load).
    pub fn end_time(&self) -> NaiveTime {
        parse_hhmm(&self.end).unwrap_or(NaiveTime::MIN)
    }

    /// Length in minutes.
    pub fn minutes(&self) -> i64 {
        (self.end_time() - self.start_time()).num_minutes()
    }
}

/// Where a slot's duty answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlotScope {
    /// On duty for the whole province, whatever region asks.
    Province,
    /// On duty only for the assignment's own region.
    Region,
}

/// A named duty (central duty, HQ day, billing declaration …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotDef {
    /// Stable key.
    pub key: String,
    /// Rule ID.
    pub rule: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// Shift keys the slot is staffed on.
    pub shifts: Vec<String>,
    /// Whether every day must have `people` on each of its shifts (coverage check).
    pub required: bool,
    /// People needed per shift.
    pub people: u32,
    /// Which region's questions it answers.
    pub scope: SlotScope,
    /// Systems covered (empty = every system).
    pub systems: Vec<String>,
    /// Whether a daily report is due after each duty (DUTY-06).
    pub report: bool,
    /// Whether the duty earns comp time (DUTY-05).
    pub comp_time: bool,
}

/// A weekday as written in the pack (`mon` … `sun`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DayOfWeek {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl DayOfWeek {
    /// Every day, Monday first.
    pub const ALL: [DayOfWeek; 7] = [
        DayOfWeek::Mon,
        DayOfWeek::Tue,
        DayOfWeek::Wed,
        DayOfWeek::Thu,
        DayOfWeek::Fri,
        DayOfWeek::Sat,
        DayOfWeek::Sun,
    ];

    /// As a chrono weekday.
    pub fn weekday(self) -> Weekday {
        match self {
            DayOfWeek::Mon => Weekday::Mon,
            DayOfWeek::Tue => Weekday::Tue,
            DayOfWeek::Wed => Weekday::Wed,
            DayOfWeek::Thu => Weekday::Thu,
            DayOfWeek::Fri => Weekday::Fri,
            DayOfWeek::Sat => Weekday::Sat,
            DayOfWeek::Sun => Weekday::Sun,
        }
    }

    /// From a chrono weekday.
    pub fn from_weekday(w: Weekday) -> Self {
        DayOfWeek::ALL[w.num_days_from_monday() as usize]
    }
}

/// The DUTY-04 rotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotationDef {
    /// Rule ID.
    pub rule: String,
    /// Slot the branch pairs staff.
    pub branch_slot: String,
    /// The i-th person of a branch works the i-th of these shifts on the branch's weekday.
    pub branch_shifts: Vec<String>,
    /// Slot the HQ people staff.
    pub hq_slot: String,
    /// Shift the HQ people work.
    pub hq_shift: String,
    /// Organisation key of the HQ people.
    pub hq_org: String,
    /// Branch ↔ weekday.
    #[serde(rename = "branch")]
    pub branches: Vec<BranchDay>,
    /// HQ positions: the i-th HQ person covers these weekdays.
    pub hq: Vec<HqPosition>,
}

/// One branch and the weekday it owns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BranchDay {
    /// Organisation key of the branch.
    pub branch: String,
    /// Its weekday.
    pub weekday: DayOfWeek,
}

/// The weekdays one HQ person covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HqPosition {
    /// Weekdays.
    pub weekdays: Vec<DayOfWeek>,
}

impl RotationDef {
    /// The branch owning `w`.
    pub fn branch_for(&self, w: Weekday) -> Option<&str> {
        let d = DayOfWeek::from_weekday(w);
        self.branches
            .iter()
            .find(|b| b.weekday == d)
            .map(|b| b.branch.as_str())
    }

    /// Index of the HQ position covering `w`.
    pub fn hq_position_for(&self, w: Weekday) -> Option<usize> {
        let d = DayOfWeek::from_weekday(w);
        self.hq.iter().position(|h| h.weekdays.contains(&d))
    }
}

/// DUTY-05: hours of comp time per shift key, by kind of day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompTimeDef {
    /// Rule ID.
    pub rule: String,
    /// Shift key → hours on a working day of the calendar.
    pub working_day: BTreeMap<String, f64>,
    /// Shift key → hours on a weekend or holiday.
    pub non_working_day: BTreeMap<String, f64>,
}

impl CompTimeDef {
    /// Comp time in minutes for one `shift` worked on a working (or non-working) day; 0 for an unlisted shift.
    pub fn minutes(&self, shift: &str, working_day: bool) -> i64 {
        let table = if working_day {
            &self.working_day
        } else {
            &self.non_working_day
        };
        // Validated at load to be whole minutes, so rounding only removes float noise.
        table.get(shift).map_or(0, |h| (h * 60.0).round() as i64)
    }
}

/// Kind of a report field's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    /// Free text.
    Text,
    /// Yes / no.
    Bool,
    /// A non-negative whole number.
    Number,
}

/// One field of the daily duty report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportField {
    /// Stable key.
    pub key: String,
    /// Chinese label.
    pub name_zh: String,
    /// English label.
    pub name_en: String,
    /// Value kind.
    pub kind: FieldKind,
    /// Whether it must be filled.
    pub required: bool,
}

/// DUTY-06: the daily duty report and what happens when it is missing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportDef {
    /// Rule ID.
    pub rule: String,
    /// The report is due this long after the shift ends.
    pub due_after: PolicyDuration,
    /// The officer is reminded this long after the shift ends, if still missing.
    pub remind_after: PolicyDuration,
    /// The escalation goes out this long after the shift ends, if still missing.
    pub escalate_after: PolicyDuration,
    /// Template of the reminder (notifications.toml).
    pub reminder_template: String,
    /// Template of the escalation (notifications.toml).
    pub escalation_template: String,
    /// Roles told on escalation.
    pub escalate_to_roles: Vec<String>,
    /// The form.
    #[serde(rename = "field")]
    pub fields: Vec<ReportField>,
}

/// Freshness of each instance's in-memory on-duty index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookupDef {
    /// Rebuild when older than this.
    pub max_staleness: PolicyDuration,
}

/// Parses `HH:MM`.
pub fn parse_hhmm(s: &str) -> Option<NaiveTime> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    NaiveTime::from_hms_opt(h.parse().ok()?, m.parse().ok()?, 0)
}

impl DutyPolicy {
    /// The shift called `key`.
    pub fn shift(&self, key: &str) -> Option<&ShiftDef> {
        self.shifts.iter().find(|s| s.key == key)
    }

    /// The slot called `key`.
    pub fn slot(&self, key: &str) -> Option<&SlotDef> {
        self.slots.iter().find(|s| s.key == key)
    }

    /// Templates the file names, with their paths, for the cross-file check against notifications.toml.
    pub(crate) fn templates(&self) -> [(&'static str, &str); 2] {
        [
            ("report.reminder_template", &self.report.reminder_template),
            (
                "report.escalation_template",
                &self.report.escalation_template,
            ),
        ]
    }

    pub(crate) fn validate(&self, issues: &mut Vec<Issue>) {
        check_rule_id("rule", &self.rule, issues);
        check_time_zone("time_zone", &self.time_zone, issues);
        check_non_empty("calendar", &self.calendar, issues);
        if self.shifts.is_empty() {
            issues.push(Issue::new("shift", "define at least one shift (DUTY-03)"));
        }
        let mut keys = HashSet::new();
        let mut spans: Vec<(NaiveTime, NaiveTime)> = Vec::new();
        for (i, s) in self.shifts.iter().enumerate() {
            let at = |f: &str| format!("shift[{i}].{f}");
            check_key(&at("key"), &s.key, issues);
            if !keys.insert(s.key.as_str()) {
                issues.push(Issue::new(
                    at("key"),
                    format!("duplicate shift '{}'", s.key),
                ));
            }
            check_non_empty(&at("name_zh"), &s.name_zh, issues);
            check_non_empty(&at("name_en"), &s.name_en, issues);
            let (start, end) = (parse_hhmm(&s.start), parse_hhmm(&s.end));
            if start.is_none() {
                issues.push(Issue::new(
                    at("start"),
                    format!("'{}' is not a time HH:MM", s.start),
                ));
            }
            if end.is_none() {
                issues.push(Issue::new(
                    at("end"),
                    format!("'{}' is not a time HH:MM", s.end),
                ));
            }
            if let (Some(a), Some(b)) = (start, end) {
                if b <= a {
                    issues.push(Issue::new(
                        at("end"),
                        format!(
                            "'{}' must be after start '{}' (a shift lies within one day)",
                            s.end, s.start
                        ),
                    ));
                } else if let Some(j) = spans.iter().position(|&(x, y)| a < y && x < b) {
                    issues.push(Issue::new(
                        at("start"),
                        format!("{}–{} overlaps shift[{j}]", s.start, s.end),
                    ));
                } else {
                    spans.push((a, b));
                }
            }
        }
        let mut slot_keys = HashSet::new();
        for (i, s) in self.slots.iter().enumerate() {
            let at = |f: &str| format!("slot[{i}].{f}");
            check_key(&at("key"), &s.key, issues);
            if !slot_keys.insert(s.key.as_str()) {
                issues.push(Issue::new(at("key"), format!("duplicate slot '{}'", s.key)));
            }
            check_rule_id(&at("rule"), &s.rule, issues);
            check_non_empty(&at("name_zh"), &s.name_zh, issues);
            check_non_empty(&at("name_en"), &s.name_en, issues);
            if s.shifts.is_empty() {
                issues.push(Issue::new(at("shifts"), "list at least one shift"));
            }
            for (j, sh) in s.shifts.iter().enumerate() {
                if self.shift(sh).is_none() {
                    issues.push(Issue::new(
                        format!("slot[{i}].shifts[{j}]"),
                        format!("no [[shift]] with key '{sh}'"),
                    ));
                }
            }
            if s.required && s.people == 0 {
                issues.push(Issue::new(
                    at("people"),
                    "a required slot needs at least 1 person per shift",
                ));
            }
            for (j, sys) in s.systems.iter().enumerate() {
                check_key(&format!("slot[{i}].systems[{j}]"), sys, issues);
            }
        }
        self.validate_rotation(issues);
        self.validate_comp_time(issues);
        self.validate_report(issues);
        if self.lookup.max_staleness.seconds() <= 0 {
            issues.push(Issue::new("lookup.max_staleness", "must be positive"));
        }
    }

    fn validate_rotation(&self, issues: &mut Vec<Issue>) {
        let r = &self.rotation;
        check_rule_id("rotation.rule", &r.rule, issues);
        check_non_empty("rotation.hq_org", &r.hq_org, issues);
        for (field, slot, shifts) in [
            ("rotation.branch_slot", &r.branch_slot, &r.branch_shifts),
            ("rotation.hq_slot", &r.hq_slot, &vec![r.hq_shift.clone()]),
        ] {
            match self.slot(slot) {
                None => issues.push(Issue::new(field, format!("no [[slot]] with key '{slot}'"))),
                Some(s) => {
                    for sh in shifts {
                        if !s.shifts.contains(sh) {
                            issues.push(Issue::new(
                                field,
                                format!("slot '{slot}' is not staffed on shift '{sh}'"),
                            ));
                        }
                    }
                }
            }
        }
        if r.branch_shifts.is_empty() {
            issues.push(Issue::new(
                "rotation.branch_shifts",
                "list the shift of each branch person (DUTY-04: day, evening)",
            ));
        }
        for (j, sh) in r.branch_shifts.iter().enumerate() {
            if self.shift(sh).is_none() {
                issues.push(Issue::new(
                    format!("rotation.branch_shifts[{j}]"),
                    format!("no [[shift]] with key '{sh}'"),
                ));
            }
        }
        if self.shift(&r.hq_shift).is_none() {
            issues.push(Issue::new(
                "rotation.hq_shift",
                format!("no [[shift]] with key '{}'", r.hq_shift),
            ));
        }
        // Proposed default for the DUTY-04 ambiguity: each branch exactly one weekday, each weekday one branch.
        let mut branches = HashSet::new();
        let mut days: BTreeMap<DayOfWeek, usize> = BTreeMap::new();
        for (i, b) in r.branches.iter().enumerate() {
            check_non_empty(&format!("rotation.branch[{i}].branch"), &b.branch, issues);
            if !branches.insert(b.branch.as_str()) {
                issues.push(Issue::new(
                    format!("rotation.branch[{i}].branch"),
                    format!("branch '{}' owns more than one weekday (DUTY-04)", b.branch),
                ));
            }
            if let Some(j) = days.insert(b.weekday, i) {
                issues.push(Issue::new(
                    format!("rotation.branch[{i}].weekday"),
                    format!("weekday already owned by rotation.branch[{j}] (DUTY-04)"),
                ));
            }
        }
        for d in DayOfWeek::ALL {
            if !days.contains_key(&d) {
                issues.push(Issue::new(
                    "rotation.branch",
                    format!(
                        "no branch owns {:?}: the rotation runs 7 days a week (DUTY-04)",
                        d.weekday()
                    ),
                ));
            }
        }
        let mut hq_days: BTreeMap<DayOfWeek, usize> = BTreeMap::new();
        for (i, h) in r.hq.iter().enumerate() {
            if h.weekdays.is_empty() {
                issues.push(Issue::new(
                    format!("rotation.hq[{i}].weekdays"),
                    "list at least one weekday",
                ));
            }
            for (j, d) in h.weekdays.iter().enumerate() {
                if let Some(k) = hq_days.insert(*d, i) {
                    issues.push(Issue::new(
                        format!("rotation.hq[{i}].weekdays[{j}]"),
                        format!("weekday already covered by rotation.hq[{k}]"),
                    ));
                }
            }
        }
        if let Some(s) = self.slot(&r.hq_slot) {
            if s.required {
                for d in DayOfWeek::ALL {
                    if !hq_days.contains_key(&d) {
                        issues.push(Issue::new(
                            "rotation.hq",
                            format!(
                                "no HQ person covers {:?}, but slot '{}' is required",
                                d.weekday(),
                                r.hq_slot
                            ),
                        ));
                    }
                }
            }
        }
    }

    fn validate_comp_time(&self, issues: &mut Vec<Issue>) {
        let c = &self.comp_time;
        check_rule_id("comp_time.rule", &c.rule, issues);
        for (name, table) in [
            ("working_day", &c.working_day),
            ("non_working_day", &c.non_working_day),
        ] {
            for (shift, h) in table {
                let path = format!("comp_time.{name}.{shift}");
                if self.shift(shift).is_none() {
                    issues.push(Issue::new(
                        &path,
                        format!("no [[shift]] with key '{shift}'"),
                    ));
                }
                let minutes = h * 60.0;
                if !h.is_finite()
                    || *h < 0.0
                    || *h > 24.0
                    || (minutes - minutes.round()).abs() > 1e-6
                {
                    issues.push(Issue::new(
                        path,
                        format!("{h} must be hours between 0 and 24 in whole minutes (e.g. 1.5)"),
                    ));
                }
            }
            for s in self.slots.iter().filter(|s| s.comp_time) {
                for sh in &s.shifts {
                    if !table.contains_key(sh) {
                        issues.push(Issue::new(
                            format!("comp_time.{name}"),
                            format!(
                                "no hours for shift '{sh}', which slot '{}' earns comp time on",
                                s.key
                            ),
                        ));
                    }
                }
            }
        }
    }

    fn validate_report(&self, issues: &mut Vec<Issue>) {
        let r = &self.report;
        check_rule_id("report.rule", &r.rule, issues);
        if r.due_after.seconds() < 0 {
            issues.push(Issue::new("report.due_after", "must not be negative"));
        }
        if r.remind_after < r.due_after {
            issues.push(Issue::new(
                "report.remind_after",
                format!(
                    "{} is before the report is due ({})",
                    r.remind_after, r.due_after
                ),
            ));
        }
        if r.escalate_after <= r.remind_after {
            issues.push(Issue::new(
                "report.escalate_after",
                format!(
                    "{} must be after remind_after ({})",
                    r.escalate_after, r.remind_after
                ),
            ));
        }
        check_non_empty("report.reminder_template", &r.reminder_template, issues);
        check_non_empty("report.escalation_template", &r.escalation_template, issues);
        if r.escalate_to_roles.is_empty() {
            issues.push(Issue::new(
                "report.escalate_to_roles",
                "list at least one role",
            ));
        }
        if r.fields.is_empty() {
            issues.push(Issue::new(
                "report.field",
                "define the report's fields (DUTY-06)",
            ));
        }
        let mut keys = HashSet::new();
        for (i, f) in r.fields.iter().enumerate() {
            let at = |x: &str| format!("report.field[{i}].{x}");
            check_key(&at("key"), &f.key, issues);
            if !keys.insert(f.key.as_str()) {
                issues.push(Issue::new(
                    at("key"),
                    format!("duplicate field '{}'", f.key),
                ));
            }
            check_non_empty(&at("name_zh"), &f.name_zh, issues);
            check_non_empty(&at("name_en"), &f.name_en, issues);
        }
    }
}
