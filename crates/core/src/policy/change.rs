//! change.toml: releases (CHG-01/02/09), gates (CHG-03/04/08), the downtime window (CHG-10), cut-over lead times
//! (CHG-11/16), the on-site start (CHG-17) and customer notices by tier (CNT-01..CNT-05).

use std::collections::HashSet;

use chrono::NaiveTime;
use serde::{Deserialize, Serialize};
use tianshu_workcal::DeadlineBasis;

use super::duty::parse_hhmm;
use super::error::Issue;
use super::pack::check_time_zone;
use super::units::{check_key, check_non_empty, check_rule_id};

/// The change policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangePolicy {
    pub rule: String,
    pub time_zone: String,
    /// Working-day calendar the lead times count on (C-2).
    pub calendar: String,
    pub releases: ReleaseRule,
    pub downtime: DowntimeRule,
    pub cutover: CutoverRule,
    #[serde(rename = "notice")]
    pub notices: Vec<NoticeRule>,
    pub emergency_notice: EmergencyNotice,
    pub requirements: RequirementRule,
    /// CHG-07 post-release verification.
    pub verification: VerificationRule,
    /// CHG-08 release announcement and the alert silence of the release window.
    pub announcement: AnnouncementRule,
    /// CNT-06 key-communications assurance (重保) plans.
    pub assurance: AssuranceRule,
}

/// CNT-06: a fault reported during an active assurance plan's period, in its scope, goes to the network department.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssuranceRule {
    pub rule: String,
    /// Template id in notifications.toml of the fault report.
    pub template: String,
    /// Roles the fault report goes to (the network department).
    pub roles: Vec<String>,
    /// Longest assurance period, days (Proposed default).
    pub max_period_days: u32,
}

/// CHG-20: one kind of data cut-over / data fix and who is responsible for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataCaseDef {
    pub key: String,
    pub rule: String,
    pub name_zh: String,
    pub name_en: String,
    /// The responsible party's key (`branch`, `provincial_centre`, `central_ops` …).
    pub responsible: String,
    pub responsible_zh: String,
    pub responsible_en: String,
    /// The responsible party attaches a rectification report before the cut-over is completed.
    #[serde(default)]
    pub rectification_report: bool,
}

/// CHG-07: the production verification after each upgrade, scenarios assigned to branches in rotation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerificationRule {
    pub rule: String,
    /// Size of the whole scenario catalogue (the verified share is `scenario.len() / catalogue_size`).
    pub catalogue_size: u32,
    /// The branches in rotation order (org keys).
    pub branches: Vec<String>,
    /// How many branches verify each release; the scenarios are spread over them.
    pub branches_per_release: u32,
    /// When the verification report is due, forward from the upgrade start (e.g. `1wd`).
    pub report_within: DeadlineBasis,
    #[serde(rename = "scenario")]
    pub scenarios: Vec<ScenarioDef>,
}

/// One verification scenario.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioDef {
    pub key: String,
    pub name_zh: String,
    pub name_en: String,
}

/// CHG-08 / CHG-09: who the release announcement goes to and how long alerts stay silenced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnnouncementRule {
    pub rule: String,
    /// Template id in notifications.toml.
    pub template: String,
    /// Roles the announcement goes to.
    pub roles: Vec<String>,
    /// Alerts of the release's system family are silenced from the upgrade start for this many hours when no
    /// outage is declared (otherwise until the outage ends).
    pub silence_hours: u32,
}

/// REQ-01 / CHG-06.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequirementRule {
    pub rule: String,
    /// Forward basis from registration, e.g. `7wd`.
    pub analysis_limit: DeadlineBasis,
    /// Largest allowed weekly average, working days.
    pub average_limit_wd: f64,
    /// A single item warns at this many working days.
    pub warn_wd: u32,
    pub acceptance_rule: String,
}

/// CHG-01 / CHG-02 / CHG-09 and the gates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseRule {
    pub rule: String,
    pub routine_per_month: u32,
    pub emergency_rule: String,
    pub emergency_per_month: u32,
    pub override_roles: Vec<String>,
    pub start_rule: String,
    pub start_time: String,
    /// CHG-02: the gate at which the release's code freezes (its content is fixed from that gate's due time
    /// to the upgrade; the calendar shows it as a freeze period).
    pub freeze_gate: String,
    #[serde(rename = "gate")]
    pub gates: Vec<GateDef>,
    /// CHG-05 / CHG-12: what must be recorded on a release before its go decision (the vendor's deliverables,
    /// the vendor training); an empty list requires nothing.
    #[serde(default, rename = "prerequisite")]
    pub prerequisites: Vec<PrerequisiteDef>,
}

/// What a release's prerequisite is: a delivered document, or a training held before the upgrade.
pub const PREREQUISITE_KINDS: [&str; 2] = ["document", "training"];

/// Something recorded on a release before its go decision (CHG-05 deliverables, CHG-12 training).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrerequisiteDef {
    pub key: String,
    pub rule: String,
    /// `document` (recorded with its reference) or `training` (recorded with when it was held, before the upgrade).
    pub kind: String,
    pub name_zh: String,
    pub name_en: String,
}

/// A gate counted back from the upgrade date.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateDef {
    pub key: String,
    pub rule: String,
    pub name_zh: String,
    pub name_en: String,
    pub before: DeadlineBasis,
}

/// CHG-10.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DowntimeRule {
    pub rule: String,
    pub window: [String; 2],
}

/// CHG-11 / CHG-16.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CutoverRule {
    pub rule: String,
    pub apply_before: DeadlineBasis,
    pub report_rule: String,
    pub major_before: DeadlineBasis,
    pub minor_before: DeadlineBasis,
    /// CHG-17: the on-site start conditions recorded before any step is logged.
    pub start_rule: String,
    /// CHG-17: the on-site lead arrives at least this many minutes before the planned start.
    pub arrive_before_minutes: u32,
    /// CHG-17 (Proposed default): the start order may be given at the earliest this many minutes before the
    /// approved window's `starts_at`, and never after its `ends_at`.
    pub start_early_minutes: u32,
    /// CHG-20: the kinds of data cut-over (kind `data`) and who is responsible for each.
    #[serde(default, rename = "data_case")]
    pub data_cases: Vec<DataCaseDef>,
}

/// One tier's notice lead time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoticeRule {
    pub tier: String,
    pub rule: String,
    pub before: DeadlineBasis,
    /// `customer` or `account_manager`.
    pub notify: String,
}

/// CNT-04.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmergencyNotice {
    pub rule: String,
    /// A wall-clock duration before the start.
    pub before: DeadlineBasis,
    pub notify: String,
}

fn is_backward(b: &DeadlineBasis) -> bool {
    matches!(
        b,
        DeadlineBasis::WorkingDaysBefore { .. } | DeadlineBasis::CalendarDaysBefore { .. }
    )
}

impl ChangePolicy {
    pub(crate) fn validate(&self, issues: &mut Vec<Issue>) {
        check_rule_id("rule", &self.rule, issues);
        check_time_zone("time_zone", &self.time_zone, issues);
        check_non_empty("calendar", &self.calendar, issues);
        let r = &self.releases;
        for (f, v) in [
            ("releases.rule", &r.rule),
            ("releases.emergency_rule", &r.emergency_rule),
            ("releases.start_rule", &r.start_rule),
            ("downtime.rule", &self.downtime.rule),
            ("cutover.rule", &self.cutover.rule),
            ("cutover.report_rule", &self.cutover.report_rule),
            ("cutover.start_rule", &self.cutover.start_rule),
            ("emergency_notice.rule", &self.emergency_notice.rule),
        ] {
            check_rule_id(f, v, issues);
        }
        if r.override_roles.is_empty() {
            issues.push(Issue::new(
                "releases.override_roles",
                "name at least one role",
            ));
        }
        if parse_hhmm(&r.start_time).is_none() {
            issues.push(Issue::new("releases.start_time", "write it as HH:MM"));
        }
        let mut keys = HashSet::new();
        for (i, g) in r.gates.iter().enumerate() {
            let p = format!("releases.gate[{i}]");
            check_key(&format!("{p}.key"), &g.key, issues);
            check_rule_id(&format!("{p}.rule"), &g.rule, issues);
            check_non_empty(&format!("{p}.name_zh"), &g.name_zh, issues);
            check_non_empty(&format!("{p}.name_en"), &g.name_en, issues);
            if !is_backward(&g.before) {
                issues.push(Issue::new(
                    format!("{p}.before"),
                    "a gate is counted back from the upgrade date: write e.g. -3wd or -2d",
                ));
            }
            if !keys.insert(g.key.as_str()) {
                issues.push(Issue::new(
                    format!("{p}.key"),
                    format!("'{}' is defined twice", g.key),
                ));
            }
        }
        if !r.gates.iter().any(|g| g.key == r.freeze_gate) {
            issues.push(Issue::new(
                "releases.freeze_gate",
                format!("'{}' is not the key of a [[releases.gate]]", r.freeze_gate),
            ));
        }
        let mut seen = HashSet::new();
        for (i, d) in r.prerequisites.iter().enumerate() {
            let p = format!("releases.prerequisite[{i}]");
            check_key(&format!("{p}.key"), &d.key, issues);
            check_rule_id(&format!("{p}.rule"), &d.rule, issues);
            check_non_empty(&format!("{p}.name_zh"), &d.name_zh, issues);
            check_non_empty(&format!("{p}.name_en"), &d.name_en, issues);
            if !PREREQUISITE_KINDS.contains(&d.kind.as_str()) {
                issues.push(Issue::new(
                    format!("{p}.kind"),
                    format!("'{}': expected document or training", d.kind),
                ));
            }
            if !seen.insert(d.key.as_str()) {
                issues.push(Issue::new(
                    format!("{p}.key"),
                    format!("'{}' is defined twice", d.key),
                ));
            }
        }
        match (
            parse_hhmm(&self.downtime.window[0]),
            parse_hhmm(&self.downtime.window[1]),
        ) {
            (Some(a), Some(b)) if a < b => {}
            _ => issues.push(Issue::new(
                "downtime.window",
                "write it as [\"HH:MM\", \"HH:MM\"] with the end after the start",
            )),
        }
        for (f, b) in [
            ("cutover.apply_before", &self.cutover.apply_before),
            ("cutover.major_before", &self.cutover.major_before),
            ("cutover.minor_before", &self.cutover.minor_before),
        ] {
            if !is_backward(b) {
                issues.push(Issue::new(
                    f,
                    "write a backward lead time such as -3wd or -7d",
                ));
            }
        }
        if !(1..=240).contains(&self.cutover.arrive_before_minutes) {
            issues.push(Issue::new(
                "cutover.arrive_before_minutes",
                "between 1 and 240 minutes",
            ));
        }
        if self.cutover.start_early_minutes > 720 {
            issues.push(Issue::new(
                "cutover.start_early_minutes",
                "between 0 and 720 minutes",
            ));
        }
        let mut seen = HashSet::new();
        for (i, d) in self.cutover.data_cases.iter().enumerate() {
            let p = format!("cutover.data_case[{i}]");
            check_key(&format!("{p}.key"), &d.key, issues);
            check_rule_id(&format!("{p}.rule"), &d.rule, issues);
            check_key(&format!("{p}.responsible"), &d.responsible, issues);
            for (f, v) in [
                ("name_zh", &d.name_zh),
                ("name_en", &d.name_en),
                ("responsible_zh", &d.responsible_zh),
                ("responsible_en", &d.responsible_en),
            ] {
                check_non_empty(&format!("{p}.{f}"), v, issues);
            }
            if !seen.insert(d.key.as_str()) {
                issues.push(Issue::new(
                    format!("{p}.key"),
                    format!("'{}' is defined twice", d.key),
                ));
            }
        }
        let a = &self.assurance;
        check_rule_id("assurance.rule", &a.rule, issues);
        check_key("assurance.template", &a.template, issues);
        if a.roles.is_empty() {
            issues.push(Issue::new("assurance.roles", "name at least one role"));
        }
        if a.max_period_days == 0 || a.max_period_days > 90 {
            issues.push(Issue::new("assurance.max_period_days", "between 1 and 90"));
        }
        let mut tiers = HashSet::new();
        for (i, n) in self.notices.iter().enumerate() {
            let p = format!("notice[{i}]");
            check_key(&format!("{p}.tier"), &n.tier, issues);
            check_rule_id(&format!("{p}.rule"), &n.rule, issues);
            if !is_backward(&n.before) {
                issues.push(Issue::new(
                    format!("{p}.before"),
                    "write a backward lead time such as -5wd",
                ));
            }
            if !["customer", "account_manager"].contains(&n.notify.as_str()) {
                issues.push(Issue::new(
                    format!("{p}.notify"),
                    "customer or account_manager",
                ));
            }
            if !tiers.insert(n.tier.as_str()) {
                issues.push(Issue::new(
                    format!("{p}.tier"),
                    format!("'{}' is defined twice", n.tier),
                ));
            }
        }
        let v = &self.verification;
        check_rule_id("verification.rule", &v.rule, issues);
        if v.scenarios.is_empty() {
            issues.push(Issue::new(
                "verification.scenario",
                "name at least one scenario",
            ));
        }
        if (v.catalogue_size as usize) < v.scenarios.len() {
            issues.push(Issue::new(
                "verification.catalogue_size",
                format!(
                    "the catalogue has at least the {} scenarios verified",
                    v.scenarios.len()
                ),
            ));
        }
        if v.branches.is_empty() {
            issues.push(Issue::new(
                "verification.branches",
                "name at least one branch",
            ));
        }
        let mut seen = HashSet::new();
        for (i, b) in v.branches.iter().enumerate() {
            check_key(&format!("verification.branches[{i}]"), b, issues);
            if !seen.insert(b.as_str()) {
                issues.push(Issue::new(
                    format!("verification.branches[{i}]"),
                    format!("'{b}' is listed twice"),
                ));
            }
        }
        if v.branches_per_release == 0 || v.branches_per_release as usize > v.branches.len().max(1)
        {
            issues.push(Issue::new(
                "verification.branches_per_release",
                format!("between 1 and the {} branches", v.branches.len()),
            ));
        }
        if is_backward(&v.report_within) {
            issues.push(Issue::new(
                "verification.report_within",
                "a forward time after the upgrade start, e.g. 1wd",
            ));
        }
        let mut seen = HashSet::new();
        for (i, sc) in v.scenarios.iter().enumerate() {
            let p = format!("verification.scenario[{i}]");
            check_key(&format!("{p}.key"), &sc.key, issues);
            check_non_empty(&format!("{p}.name_zh"), &sc.name_zh, issues);
            check_non_empty(&format!("{p}.name_en"), &sc.name_en, issues);
            if !seen.insert(sc.key.as_str()) {
                issues.push(Issue::new(
                    format!("{p}.key"),
                    format!("'{}' is defined twice", sc.key),
                ));
            }
        }
        let a = &self.announcement;
        check_rule_id("announcement.rule", &a.rule, issues);
        check_key("announcement.template", &a.template, issues);
        if a.roles.is_empty() {
            issues.push(Issue::new("announcement.roles", "name at least one role"));
        }
        if a.silence_hours == 0 || a.silence_hours > 48 {
            issues.push(Issue::new("announcement.silence_hours", "between 1 and 48"));
        }
        if !matches!(
            self.emergency_notice.before,
            DeadlineBasis::WallClock { .. }
        ) {
            issues.push(Issue::new(
                "emergency_notice.before",
                "write a wall-clock duration such as 24h",
            ));
        }
    }

    /// Role keys, for the cross-file check.
    pub fn role_refs(&self) -> Vec<(String, &str)> {
        self.releases
            .override_roles
            .iter()
            .enumerate()
            .map(|(i, r)| (format!("releases.override_roles[{i}]"), r.as_str()))
            .chain(
                self.announcement
                    .roles
                    .iter()
                    .enumerate()
                    .map(|(i, r)| (format!("announcement.roles[{i}]"), r.as_str())),
            )
            .chain(
                self.assurance
                    .roles
                    .iter()
                    .enumerate()
                    .map(|(i, r)| (format!("assurance.roles[{i}]"), r.as_str())),
            )
            .collect()
    }

    /// CHG-09 start time (validated at load).
    pub fn start_time(&self) -> NaiveTime {
        parse_hhmm(&self.releases.start_time).unwrap_or(NaiveTime::MIN)
    }

    /// CHG-10 window (validated at load).
    pub fn downtime_window(&self) -> (NaiveTime, NaiveTime) {
        (
            parse_hhmm(&self.downtime.window[0]).unwrap_or(NaiveTime::MIN),
            parse_hhmm(&self.downtime.window[1]).unwrap_or(NaiveTime::MIN),
        )
    }

    /// CHG-20: the data cut-over case of `key`.
    pub fn data_case(&self, key: &str) -> Option<&DataCaseDef> {
        self.cutover.data_cases.iter().find(|d| d.key == key)
    }

    /// The notice rule of a tier.
    pub fn notice(&self, tier: &str) -> Option<&NoticeRule> {
        self.notices.iter().find(|n| n.tier == tier)
    }
}
