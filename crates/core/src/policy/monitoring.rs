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

    /// Templates named by the routes, with their paths, for the cross-file check.
    pub(crate) fn templates(&self) -> Vec<(String, &str)> {
        let mut v = Vec::new();
        for (i, r) in self.routes.iter().enumerate() {
            v.push((format!("route[{i}].template"), r.template.as_str()));
            if let Some(t) = &r.resolved_template {
                v.push((format!("route[{i}].resolved_template"), t.as_str()));
            }
        }
        v
    }

    /// Role keys named by the routes.
    pub(crate) fn role_refs(&self) -> Vec<(String, &str)> {
        let mut v = Vec::new();
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
        if !keys.contains(self.fallback.as_str()) {
            issues.push(Issue::new(
                "fallback",
                format!("no [[route]] with key '{}'", self.fallback),
            ));
        }
    }
}
