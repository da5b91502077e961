//! monitoring.toml: alert intake limits, grouping, flapping, silences and the MON-06 graded routing (issue 5).

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use super::error::Issue;
use super::units::{check_key, check_non_empty, check_rule_id, PolicyDuration};
use crate::alert::Matcher;

/// The whole monitoring policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitoringPolicy {
    /// Payload limits.
    pub intake: IntakePolicy,
    /// Grouping by labels within a window.
    pub grouping: GroupingPolicy,
    /// Flapping suppression.
    pub flapping: FlappingPolicy,
    /// Silence limits.
    pub silences: SilencePolicy,
    /// Key of the route used when no route matches.
    pub fallback: String,
    /// MON-06 routes, tried in file order.
    #[serde(rename = "route")]
    pub routes: Vec<AlertRoute>,
    /// MON-03, MON-05: dial-test probes.
    pub probes: ProbePolicy,
    /// MON-02: SQL business-monitoring points.
    pub points: PointPolicy,
    /// MON-09: the daily sign-in.
    pub signin: SignInPolicy,
    /// MON-10: the severe-alarm budget.
    pub severe_budget: SevereBudgetPolicy,
    /// How long probe runs, point evaluations and alert history are kept.
    pub retention: MonRetentionPolicy,
}

/// Retention of monitoring history: a durable job deletes what is older than these many days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonRetentionPolicy {
    /// Days of probe runs kept (availability and latency history).
    pub probe_runs_days: u32,
    /// Days of monitoring-point evaluations kept.
    pub point_runs_days: u32,
    /// Days of the event history of resolved alerts; 0 keeps it forever.
    pub alert_history_days: u32,
    /// How often the pruning job runs.
    pub every: PolicyDuration,
    /// Rows deleted per transaction (the job repeats until nothing older is left).
    pub batch: u32,
}

/// MON-03, MON-05: how dial-test probes run and when they alarm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbePolicy {
    /// Rule ID.
    pub rule: String,
    /// Shortest gap between two runs of one probe (MON-05: 3 minutes).
    pub interval_min: PolicyDuration,
    /// Longest gap (MON-05: 5 minutes); each gap is drawn uniformly in [min, max].
    pub interval_max: PolicyDuration,
    /// Timeout of a step that names none.
    pub step_timeout: PolicyDuration,
    /// Longest timeout a step may name.
    pub max_step_timeout: PolicyDuration,
    /// Steps per probe.
    pub max_steps: u32,
    /// Response bytes read per step; the rest is not read (the step says so if an assertion fails).
    pub max_body_bytes: u32,
    /// Consecutive failed runs that raise the probe's alert.
    pub failures_to_alert: u32,
    /// Probe runs at the same time per instance.
    pub concurrency: u32,
    /// Severity label of a probe's alert when the probe names none.
    pub default_severity: String,
}

/// MON-02: how SQL monitoring points run against external databases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointPolicy {
    /// Rule ID.
    pub rule: String,
    /// Shortest interval a point may ask for.
    pub min_interval: PolicyDuration,
    /// Interval of a point that names none.
    pub default_interval: PolicyDuration,
    /// Statement timeout set on every query.
    pub statement_timeout: PolicyDuration,
    /// Connection timeout to an external database.
    pub connect_timeout: PolicyDuration,
    /// Connections per external database.
    pub pool_size: u32,
    /// A point whose database cannot be read stays `unknown` this long before it alarms.
    pub unknown_grace: PolicyDuration,
    /// Point queries at the same time per instance.
    pub concurrency: u32,
    /// Severity label of a point's alert when the point names none.
    pub default_severity: String,
}

/// MON-09: the duty officer signs in every day and confirms the previous day's alerts are handled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignInPolicy {
    /// Rule ID.
    pub rule: String,
    /// Local time (HH:MM) of the reminder when nobody has signed in yet.
    pub remind_at: String,
    /// Local time (HH:MM) by which the sign-in is due; missing then → escalation.
    pub deadline: String,
    /// Template of the reminder.
    pub reminder_template: String,
    /// Roles reminded.
    pub remind_roles: Vec<String>,
    /// Template of the escalation.
    pub escalation_template: String,
    /// Roles the escalation goes to.
    pub escalate_to_roles: Vec<String>,
}

/// MON-10: at most `per_month` severe alarms per province (region label) per month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SevereBudgetPolicy {
    /// Rule ID.
    pub rule: String,
    /// Severe alarms allowed per region per month.
    pub per_month: u32,
    /// Values of the `severity` label that make an alarm severe.
    pub severities: Vec<String>,
}

/// Payload limits: anything beyond is refused with the field named.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntakePolicy {
    /// Rule ID.
    pub rule: String,
    /// Labels per alert.
    pub max_labels: u32,
    /// Bytes per label name or value.
    pub max_label_length: u32,
    /// Alerts per request.
    pub max_batch: u32,
    /// Bytes per annotation value.
    pub max_annotation_length: u32,
}

/// Grouping by labels within a window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupingPolicy {
    /// Rule ID.
    pub rule: String,
    /// Labels whose values make the group key.
    pub group_by: Vec<String>,
    /// Alerts within this long of the group's first alert join it.
    pub window: PolicyDuration,
}

/// N state changes within M minutes → flapping, notifications suppressed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlappingPolicy {
    /// Rule ID.
    pub rule: String,
    /// State changes (firing ↔ resolved) that make an alert flap.
    pub state_changes: u32,
    /// … within this window.
    pub within: PolicyDuration,
}

/// Silence limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SilencePolicy {
    /// Rule ID.
    pub rule: String,
    /// Longest silence.
    pub max_duration: PolicyDuration,
}

/// What a route does about tickets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketAction {
    /// No ticket.
    None,
    /// Open a new ticket per alert group.
    Open,
    /// Attach to an open ticket of the same system, else nothing.
    Attach,
    /// Attach to an open ticket of the same system, else open one.
    AttachOrOpen,
}

impl TicketAction {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            TicketAction::None => "none",
            TicketAction::Open => "open",
            TicketAction::Attach => "attach",
            TicketAction::AttachOrOpen => "attach_or_open",
        }
    }
}

/// A scalar incident fact a route's ticket starts with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FactValue {
    /// `true` / `false`.
    Bool(bool),
    /// A count or minutes.
    Int(i64),
    /// A text.
    Text(String),
}

/// One MON-06 route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRoute {
    /// Stable key.
    pub key: String,
    /// Rule ID.
    pub rule: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// Label matchers (Alertmanager syntax), all must hold; empty = every alert.
    #[serde(default)]
    pub matchers: Vec<String>,
    /// Recipient classes (notifications.toml).
    #[serde(default)]
    pub classes: Vec<String>,
    /// Roles (roles.toml).
    #[serde(default)]
    pub roles: Vec<String>,
    /// Also the duty officer on duty now for the alert's system and region.
    #[serde(default)]
    pub on_duty: bool,
    /// Template of the firing notification.
    pub template: String,
    /// Template of the recovery notification; none = recoveries are not notified.
    #[serde(default)]
    pub resolved_template: Option<String>,
    /// Ticket handling.
    pub ticket: TicketAction,
    /// Reporting organisation key of an opened ticket.
    #[serde(default)]
    pub ticket_org: Option<String>,
    /// Source channel of an opened ticket.
    #[serde(default)]
    pub ticket_source_channel: Option<String>,
    /// Incident facts an opened ticket starts with.
    #[serde(default)]
    pub ticket_facts: BTreeMap<String, FactValue>,
    /// Keep trying later routes after this one matched.
    #[serde(default, rename = "continue")]
    pub continue_matching: bool,
}

impl AlertRoute {
    /// The parsed matchers (validated at load, so parse errors cannot happen on a loaded pack).
    pub fn parsed_matchers(&self) -> Vec<Matcher> {
        self.matchers
            .iter()
            .filter_map(|m| m.parse().ok())
            .collect()
    }
}

impl MonitoringPolicy {
    /// The route with key `key`.
    pub fn route(&self, key: &str) -> Option<&AlertRoute> {
        self.routes.iter().find(|r| r.key == key)
    }

    /// Templates named by the routes and the sign-in, with their paths, for the cross-file check.
    pub(crate) fn templates(&self) -> Vec<(String, &str)> {
        let mut v = vec![
            (
                "signin.reminder_template".to_string(),
                self.signin.reminder_template.as_str(),
            ),
            (
                "signin.escalation_template".to_string(),
                self.signin.escalation_template.as_str(),
            ),
        ];
        for (i, r) in self.routes.iter().enumerate() {
            v.push((format!("route[{i}].template"), r.template.as_str()));
            if let Some(t) = &r.resolved_template {
                v.push((format!("route[{i}].resolved_template"), t.as_str()));
            }
        }
        v
    }

    /// Role keys named by the routes and the sign-in.
    pub(crate) fn role_refs(&self) -> Vec<(String, &str)> {
        let mut v = Vec::new();
        for (j, role) in self.signin.remind_roles.iter().enumerate() {
            v.push((format!("signin.remind_roles[{j}]"), role.as_str()));
        }
        for (j, role) in self.signin.escalate_to_roles.iter().enumerate() {
            v.push((format!("signin.escalate_to_roles[{j}]"), role.as_str()));
        }
        for (i, r) in self.routes.iter().enumerate() {
            for (j, role) in r.roles.iter().enumerate() {
                v.push((format!("route[{i}].roles[{j}]"), role.as_str()));
            }
        }
        v
    }

    /// Class keys named by the routes.
    pub(crate) fn class_refs(&self) -> Vec<(String, &str)> {
        let mut v = Vec::new();
        for (i, r) in self.routes.iter().enumerate() {
            for (j, c) in r.classes.iter().enumerate() {
                v.push((format!("route[{i}].classes[{j}]"), c.as_str()));
            }
        }
        v
    }

    pub(crate) fn validate(&self, issues: &mut Vec<Issue>) {
        check_rule_id("intake.rule", &self.intake.rule, issues);
        for (f, v) in [
            ("intake.max_labels", self.intake.max_labels),
            ("intake.max_label_length", self.intake.max_label_length),
            ("intake.max_batch", self.intake.max_batch),
            (
                "intake.max_annotation_length",
                self.intake.max_annotation_length,
            ),
            ("flapping.state_changes", self.flapping.state_changes),
        ] {
            if v == 0 {
                issues.push(Issue::new(f, "must be at least 1"));
            }
        }
        check_rule_id("grouping.rule", &self.grouping.rule, issues);
        for (i, l) in self.grouping.group_by.iter().enumerate() {
            check_non_empty(&format!("grouping.group_by[{i}]"), l, issues);
        }
        check_rule_id("flapping.rule", &self.flapping.rule, issues);
        check_rule_id("silences.rule", &self.silences.rule, issues);
        for (f, d) in [
            ("grouping.window", self.grouping.window),
            ("flapping.within", self.flapping.within),
            ("silences.max_duration", self.silences.max_duration),
        ] {
            if d.seconds() <= 0 {
                issues.push(Issue::new(f, "must be longer than zero"));
            }
        }
        let mut keys = HashSet::new();
        for (i, r) in self.routes.iter().enumerate() {
            let at = |f: &str| format!("route[{i}].{f}");
            check_key(&at("key"), &r.key, issues);
            if !keys.insert(r.key.as_str()) {
                issues.push(Issue::new(
                    at("key"),
                    format!("duplicate route key '{}'", r.key),
                ));
            }
            check_rule_id(&at("rule"), &r.rule, issues);
            check_non_empty(&at("name_zh"), &r.name_zh, issues);
            check_non_empty(&at("name_en"), &r.name_en, issues);
            for (j, m) in r.matchers.iter().enumerate() {
                if let Err(e) = m.parse::<Matcher>() {
                    issues.push(Issue::new(format!("route[{i}].matchers[{j}]"), e));
                }
            }
            if r.classes.is_empty() && r.roles.is_empty() && !r.on_duty {
                issues.push(Issue::new(
                    at("roles"),
                    "name at least one recipient (classes, roles or on_duty = true)",
                ));
            }
            if matches!(r.ticket, TicketAction::Open | TicketAction::AttachOrOpen) {
                if r.ticket_org.as_deref().is_none_or(|o| o.trim().is_empty()) {
                    issues.push(Issue::new(
                        at("ticket_org"),
                        "a route that opens tickets names the reporting organisation",
                    ));
                }
                if r.ticket_source_channel
                    .as_deref()
                    .is_none_or(|o| o.trim().is_empty())
                {
                    issues.push(Issue::new(
                        at("ticket_source_channel"),
                        "a route that opens tickets names the source channel",
                    ));
                }
                if let Some(c) = &r.ticket_source_channel {
                    if c.parse::<crate::incident::SourceChannel>().is_err() {
                        issues.push(Issue::new(
                            at("ticket_source_channel"),
                            format!("'{c}' is not an incident source channel"),
                        ));
                    }
                }
            }
        }
        self.validate_monitors(issues);
        if !keys.contains(self.fallback.as_str()) {
            issues.push(Issue::new(
                "fallback",
                format!("no [[route]] with key '{}'", self.fallback),
            ));
        }
    }
}

const SEVERITIES: [&str; 4] = ["critical", "error", "warning", "info"];

impl MonitoringPolicy {
    fn validate_monitors(&self, issues: &mut Vec<Issue>) {
        let pr = &self.probes;
        check_rule_id("probes.rule", &pr.rule, issues);
        check_rule_id("points.rule", &self.points.rule, issues);
        check_rule_id("signin.rule", &self.signin.rule, issues);
        check_rule_id("severe_budget.rule", &self.severe_budget.rule, issues);
        for (f, d) in [
            ("probes.interval_min", pr.interval_min),
            ("probes.interval_max", pr.interval_max),
            ("probes.step_timeout", pr.step_timeout),
            ("probes.max_step_timeout", pr.max_step_timeout),
            ("points.min_interval", self.points.min_interval),
            ("points.default_interval", self.points.default_interval),
            ("points.statement_timeout", self.points.statement_timeout),
            ("points.connect_timeout", self.points.connect_timeout),
            ("points.unknown_grace", self.points.unknown_grace),
        ] {
            if d.seconds() <= 0 {
                issues.push(Issue::new(f, "must be longer than zero"));
            }
        }
        if pr.interval_max < pr.interval_min {
            issues.push(Issue::new(
                "probes.interval_max",
                "must not be shorter than interval_min",
            ));
        }
        if pr.step_timeout > pr.max_step_timeout {
            issues.push(Issue::new(
                "probes.step_timeout",
                "must not be longer than max_step_timeout",
            ));
        }
        if self.points.default_interval < self.points.min_interval {
            issues.push(Issue::new(
                "points.default_interval",
                "must not be shorter than min_interval",
            ));
        }
        let rt = &self.retention;
        if rt.every.seconds() <= 0 {
            issues.push(Issue::new("retention.every", "must be longer than zero"));
        }
        for (f, v) in [
            ("retention.probe_runs_days", rt.probe_runs_days),
            ("retention.point_runs_days", rt.point_runs_days),
            ("retention.batch", rt.batch),
        ] {
            if v == 0 {
                issues.push(Issue::new(f, "must be at least 1"));
            }
        }
        // MON-10 counts alarms per month over the year; the flapping rule looks back `flapping.within`.
        if rt.alert_history_days != 0 && rt.alert_history_days < 366 {
            issues.push(Issue::new(
                "retention.alert_history_days",
                "must be 0 (keep forever) or at least 366 (a year of MON-10 monthly counts)",
            ));
        }
        for (f, v) in [
            ("probes.max_steps", pr.max_steps),
            ("probes.max_body_bytes", pr.max_body_bytes),
            ("probes.failures_to_alert", pr.failures_to_alert),
            ("probes.concurrency", pr.concurrency),
            ("points.pool_size", self.points.pool_size),
            ("points.concurrency", self.points.concurrency),
        ] {
            if v == 0 {
                issues.push(Issue::new(f, "must be at least 1"));
            }
        }
        for (f, s) in [
            ("probes.default_severity", &pr.default_severity),
            ("points.default_severity", &self.points.default_severity),
        ] {
            if !SEVERITIES.contains(&s.as_str()) {
                issues.push(Issue::new(
                    f,
                    format!("'{s}' is not one of critical, error, warning, info"),
                ));
            }
        }
        let si = &self.signin;
        let remind = super::parse_hhmm(&si.remind_at);
        let deadline = super::parse_hhmm(&si.deadline);
        if remind.is_none() {
            issues.push(Issue::new("signin.remind_at", "expected HH:MM"));
        }
        if deadline.is_none() {
            issues.push(Issue::new("signin.deadline", "expected HH:MM"));
        }
        if let (Some(r), Some(d)) = (remind, deadline) {
            if r >= d {
                issues.push(Issue::new(
                    "signin.remind_at",
                    "the reminder comes before the deadline",
                ));
            }
        }
        if si.remind_roles.is_empty() {
            issues.push(Issue::new("signin.remind_roles", "name at least one role"));
        }
        if si.escalate_to_roles.is_empty() {
            issues.push(Issue::new(
                "signin.escalate_to_roles",
                "name at least one role",
            ));
        }
        if self.severe_budget.severities.is_empty() {
            issues.push(Issue::new(
                "severe_budget.severities",
                "name at least one severity",
            ));
        }
        for (i, s) in self.severe_budget.severities.iter().enumerate() {
            check_non_empty(&format!("severe_budget.severities[{i}]"), s, issues);
        }
    }
}
