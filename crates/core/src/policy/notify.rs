//! notifications.toml: recipient classes and their routing (NTF-02..NTF-05, NTF-10), follow-up timing (NTF-06),
//! review before send (NTF-09), delivery retries / rate limit / digest, and the message templates (NTF-08, NTF-15
//! and the escalation notices of escalation.toml).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::error::Issue;
use super::units::{check_key, check_non_empty, check_rule_id, PolicyDuration};
use crate::severity::ComplaintLevel;

/// The whole notification policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyPolicy {
    /// NTF-02: the recipient classes and the recipient list that holds each class's people.
    #[serde(rename = "class")]
    pub classes: Vec<RecipientClass>,
    /// NTF-03..NTF-05: which classes a fault notice goes to.
    pub routing: Routing,
    /// NTF-10: per-system base lists with regional extra lists.
    #[serde(default, rename = "regional")]
    pub regional: Vec<RegionalLists>,
    /// NTF-06: when follow-ups are due.
    pub follow_up: FollowUpPolicy,
    /// NTF-09: which templates wait for review, and who approves.
    pub review: ReviewPolicy,
    /// Retries, dead letters, rate limit and digest of the delivery worker.
    pub delivery: DeliveryPolicy,
    /// The default templates (operators may override the texts at run time).
    #[serde(rename = "template")]
    pub templates: Vec<TemplateDef>,
}

/// One recipient class (NTF-02).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecipientClass {
    /// Class letter as the rules name it (`A` … `D`).
    pub key: String,
    /// The recipient list (data, managed over the API) holding the class's people.
    pub list: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
}

/// Fault-notice routing to classes (NTF-03, NTF-04, NTF-05).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Routing {
    /// NTF-03: business-type fault.
    pub business: Vec<String>,
    /// NTF-04: system-type fault on a system that is not a CallCenter system.
    pub system: Vec<String>,
    /// NTF-04: system-type fault on a CallCenter system.
    pub callcenter: Vec<String>,
    /// System keys that count as CallCenter systems.
    pub callcenter_systems: Vec<String>,
    /// NTF-05: complaints at or above this level add `complaint_classes`.
    pub complaint_cs_at_least: ComplaintLevel,
    /// NTF-05 (proposed default: union with the NTF-03/04 classes).
    pub complaint_classes: Vec<String>,
}

/// NTF-10: a system's base list and the extra lists added per region involved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionalLists {
    /// Rule ID (NTF-10).
    pub rule: String,
    /// System key the lists apply to.
    pub system: String,
    /// Always included.
    pub base_list: String,
    /// Added when the region is involved.
    #[serde(default)]
    pub extra: Vec<RegionExtra>,
}

/// One regional extra list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionExtra {
    /// Region (branch organisation key).
    pub region: String,
    /// Recipient list key.
    pub list: String,
}

/// NTF-06 follow-up timing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowUpPolicy {
    /// Rule ID (NTF-06).
    pub rule: String,
    /// End of the working afternoon, `HH:MM` local time (proposed default 17:30).
    pub end_of_afternoon: String,
    /// Calendar whose working days count (calendars.toml); `None` = the pack's default.
    #[serde(default)]
    pub calendar: Option<String>,
    /// Templates that start the follow-up obligation (fault notices).
    pub after: Vec<String>,
    /// The follow-up template (T3).
    pub template: String,
    /// Templates whose message ends the follow-ups of a fault (the recovery notice T4, NTF-07); so does the
    /// ticket being resolved, closed or cancelled.
    pub stopped_by: Vec<String>,
}

impl FollowUpPolicy {
    /// `end_of_afternoon` as seconds after midnight; `None` when malformed.
    pub fn end_seconds(&self) -> Option<u32> {
        let (h, m) = self.end_of_afternoon.split_once(':')?;
        if h.len() != 2 || m.len() != 2 {
            return None;
        }
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        (h < 24 && m < 60).then_some(h * 3600 + m * 60)
    }
}

/// NTF-09 review before send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewPolicy {
    /// Rule ID (NTF-09).
    pub rule: String,
    /// Templates whose messages wait in `pending_review`.
    pub templates: Vec<String>,
    /// Role key (roles.toml) whose members approve; they also need `notification.approve`.
    pub approver_role: String,
}

/// Delivery worker numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryPolicy {
    /// Attempts per delivery before it is dead-lettered.
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt.
    pub backoff_base: PolicyDuration,
    /// Longest retry delay.
    pub backoff_cap: PolicyDuration,
    /// Random extra delay, percent of the computed backoff (spreads retries of a burst).
    pub jitter_percent: u32,
    /// How long a worker holds a claimed message before another may take it over.
    pub lease: PolicyDuration,
    /// Per recipient and channel: at most this many messages per `rate_window` …
    pub rate_limit: u32,
    /// … within this window; further messages are bundled into one digest sent when the window frees.
    pub rate_window: PolicyDuration,
    /// Template of the digest message.
    pub digest_template: String,
    /// Template of the alert raised when a message is dead-lettered.
    pub dead_letter_template: String,
    /// Role keys told about dead letters.
    pub dead_letter_roles: Vec<String>,
}

/// A delivery channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// SMS through the HTTP gateway.
    Sms,
    /// E-mail over SMTP.
    Email,
    /// Group chat webhook (WeCom, DingTalk, Feishu, Slack).
    Im,
}

impl Channel {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Email => "email",
            Channel::Im => "im",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Channel> {
        match s {
            "sms" => Some(Channel::Sms),
            "email" => Some(Channel::Email),
            "im" => Some(Channel::Im),
            _ => None,
        }
    }
}

/// One message template with its declared placeholders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateDef {
    /// Stable id, referenced by escalation.toml and stored messages.
    pub id: String,
    /// Rule ID the template implements.
    pub rule: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// Channels a message of this template goes out on by default.
    pub channels: Vec<Channel>,
    /// Every placeholder the texts may use.
    pub variables: Vec<String>,
    /// Placeholders that must have a non-empty value when rendered (NTF-08: never an empty hole).
    pub required: Vec<String>,
    /// E-mail subject, Chinese.
    pub subject_zh: String,
    /// E-mail subject, English.
    pub subject_en: String,
    /// Body, Chinese (minijinja syntax: `{{ system }}`).
    pub zh: String,
    /// Body, English.
    pub en: String,
}

impl NotifyPolicy {
    /// The template with id `id`.
    pub fn template(&self, id: &str) -> Option<&TemplateDef> {
        self.templates.iter().find(|t| t.id == id)
    }

    /// Whether messages of `template` must be reviewed before they are sent (NTF-09).
    pub fn needs_review(&self, template: &str) -> bool {
        self.review.templates.iter().any(|t| t == template)
    }

    /// The class called `key`.
    pub fn class(&self, key: &str) -> Option<&RecipientClass> {
        self.classes.iter().find(|c| c.key == key)
    }

    /// Role keys named by the file, with their paths, for the cross-file check against roles.toml.
    pub(crate) fn role_refs(&self) -> Vec<(String, &str)> {
        let mut v = vec![(
            "review.approver_role".to_string(),
            self.review.approver_role.as_str(),
        )];
        for (i, r) in self.delivery.dead_letter_roles.iter().enumerate() {
            v.push((format!("delivery.dead_letter_roles[{i}]"), r.as_str()));
        }
        v
    }

    pub(crate) fn validate(&self, issues: &mut Vec<Issue>) {
        let mut class_keys = HashSet::new();
        for (i, c) in self.classes.iter().enumerate() {
            if c.key.is_empty() || !c.key.chars().all(|ch| ch.is_ascii_uppercase()) {
                issues.push(Issue::new(
                    format!("class[{i}].key"),
                    format!("'{}' must be a capital letter class name such as A", c.key),
                ));
            }
            if !class_keys.insert(c.key.as_str()) {
                issues.push(Issue::new(
                    format!("class[{i}].key"),
                    format!("duplicate class '{}'", c.key),
                ));
            }
            check_key(&format!("class[{i}].list"), &c.list, issues);
            check_non_empty(&format!("class[{i}].name_zh"), &c.name_zh, issues);
            check_non_empty(&format!("class[{i}].name_en"), &c.name_en, issues);
        }
        let r = &self.routing;
        for (name, list) in [
            ("business", &r.business),
            ("system", &r.system),
            ("callcenter", &r.callcenter),
            ("complaint_classes", &r.complaint_classes),
        ] {
            if list.is_empty() {
                issues.push(Issue::new(
                    format!("routing.{name}"),
                    "list at least one class",
                ));
            }
            for (j, k) in list.iter().enumerate() {
                if !class_keys.contains(k.as_str()) {
                    issues.push(Issue::new(
                        format!("routing.{name}[{j}]"),
                        format!("'{k}' is not a class defined by [[class]]"),
                    ));
                }
            }
        }
        for (i, g) in self.regional.iter().enumerate() {
            check_rule_id(&format!("regional[{i}].rule"), &g.rule, issues);
            check_non_empty(&format!("regional[{i}].system"), &g.system, issues);
            check_key(&format!("regional[{i}].base_list"), &g.base_list, issues);
            let mut regions = HashSet::new();
            for (j, e) in g.extra.iter().enumerate() {
                check_key(&format!("regional[{i}].extra[{j}].list"), &e.list, issues);
                if !regions.insert(e.region.as_str()) {
                    issues.push(Issue::new(
                        format!("regional[{i}].extra[{j}].region"),
                        format!("region '{}' listed twice", e.region),
                    ));
                }
            }
        }
        let ids: HashSet<&str> = self.templates.iter().map(|t| t.id.as_str()).collect();
        let known = |path: String, id: &str, issues: &mut Vec<Issue>| {
            if !ids.contains(id) {
                issues.push(Issue::new(
                    path,
                    format!("'{id}' is not a template defined by [[template]]"),
                ));
            }
        };
        let f = &self.follow_up;
        check_rule_id("follow_up.rule", &f.rule, issues);
        if f.end_seconds().is_none() {
            issues.push(Issue::new(
                "follow_up.end_of_afternoon",
                format!("'{}' must be a time of day HH:MM", f.end_of_afternoon),
            ));
        }
        for (j, t) in f.after.iter().enumerate() {
            known(format!("follow_up.after[{j}]"), t, issues);
        }
        known("follow_up.template".into(), &f.template, issues);
        for (j, t) in f.stopped_by.iter().enumerate() {
            known(format!("follow_up.stopped_by[{j}]"), t, issues);
        }
        check_rule_id("review.rule", &self.review.rule, issues);
        for (j, t) in self.review.templates.iter().enumerate() {
            known(format!("review.templates[{j}]"), t, issues);
        }
        let d = &self.delivery;
        if d.max_attempts == 0 {
            issues.push(Issue::new("delivery.max_attempts", "must be at least 1"));
        }
        if d.backoff_base.seconds() <= 0 {
            issues.push(Issue::new("delivery.backoff_base", "must be positive"));
        }
        if d.backoff_cap < d.backoff_base {
            issues.push(Issue::new(
                "delivery.backoff_cap",
                "must not be shorter than backoff_base",
            ));
        }
        if d.jitter_percent > 100 {
            issues.push(Issue::new("delivery.jitter_percent", "must be 0..=100"));
        }
        if d.lease.seconds() <= 0 {
            issues.push(Issue::new("delivery.lease", "must be positive"));
        }
        if d.rate_limit == 0 {
            issues.push(Issue::new("delivery.rate_limit", "must be at least 1"));
        }
        if d.rate_window.seconds() <= 0 {
            issues.push(Issue::new("delivery.rate_window", "must be positive"));
        }
        known(
            "delivery.digest_template".into(),
            &d.digest_template,
            issues,
        );
        known(
            "delivery.dead_letter_template".into(),
            &d.dead_letter_template,
            issues,
        );
        if d.dead_letter_roles.is_empty() {
            issues.push(Issue::new(
                "delivery.dead_letter_roles",
                "list at least one role",
            ));
        }
        let mut seen = HashSet::new();
        for (i, t) in self.templates.iter().enumerate() {
            let at = |f: &str| format!("template[{i}].{f}");
            // Ids may be dotted by capability (`duty.report_missing`); each part is a key.
            for part in t.id.split('.') {
                check_key(&at("id"), part, issues);
            }
            if !seen.insert(t.id.as_str()) {
                issues.push(Issue::new(
                    at("id"),
                    format!("duplicate template '{}'", t.id),
                ));
            }
            check_rule_id(&at("rule"), &t.rule, issues);
            check_non_empty(&at("name_zh"), &t.name_zh, issues);
            check_non_empty(&at("name_en"), &t.name_en, issues);
            if t.channels.is_empty() {
                issues.push(Issue::new(at("channels"), "list at least one channel"));
            }
            for (j, v) in t.variables.iter().enumerate() {
                check_key(&format!("template[{i}].variables[{j}]"), v, issues);
            }
            for (j, v) in t.required.iter().enumerate() {
                if !t.variables.contains(v) {
                    issues.push(Issue::new(
                        format!("template[{i}].required[{j}]"),
                        format!("'{v}' is not one of the template's variables"),
                    ));
                }
            }
            for (field, text) in [
                ("zh", &t.zh),
                ("en", &t.en),
                ("subject_zh", &t.subject_zh),
                ("subject_en", &t.subject_en),
            ] {
                check_non_empty(&at(field), text, issues);
                if let Err(e) = crate::notify::check_text(text, &t.variables) {
                    issues.push(Issue::new(at(field), e.to_string()));
                }
            }
        }
    }
}
