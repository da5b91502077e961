//! Alert handling rules (issue 5, MON-04, MON-06): dedup keys from labels, grouping, flapping, silences and
//! maintenance windows (Alertmanager-style label matchers) and the routing decision. Pure: times are Unix
//! microseconds passed in by the caller.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use regex_lite::Regex;
use sha2::{Digest, Sha256};

use crate::policy::{AlertRoute, FlappingPolicy, GroupingPolicy, MonitoringPolicy};

/// An alert's labels, sorted by name.
pub type Labels = BTreeMap<String, String>;

/// A matcher operator, as Alertmanager writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchOp {
    /// `=`: equal.
    Eq,
    /// `!=`: not equal.
    Ne,
    /// `=~`: the whole value matches the regex.
    Re,
    /// `!~`: the whole value does not match the regex.
    NotRe,
}

impl MatchOp {
    /// The operator's text.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Eq => "=",
            MatchOp::Ne => "!=",
            MatchOp::Re => "=~",
            MatchOp::NotRe => "!~",
        }
    }
}

/// One label matcher (`severity=~"critical|severe"`). A missing label matches as the empty string.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// Label name.
    pub name: String,
    /// Operator.
    pub op: MatchOp,
    /// Value or regex source.
    pub value: String,
    regex: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, o: &Self) -> bool {
        self.name == o.name && self.op == o.op && self.value == o.value
    }
}

impl Matcher {
    /// Builds a matcher; a regex that does not compile is an error naming it.
    pub fn new(name: &str, op: MatchOp, value: &str) -> Result<Matcher, String> {
        if name.is_empty()
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            || name.starts_with(|c: char| c.is_ascii_digit())
        {
            return Err(format!(
                "'{name}' is not a label name (letters, digits and _, not starting with a digit)"
            ));
        }
        let regex = match op {
            MatchOp::Re | MatchOp::NotRe => Some(
                Regex::new(&format!("^(?:{value})$"))
                    .map_err(|e| format!("'{value}' is not a valid regex: {e}"))?,
            ),
            MatchOp::Eq | MatchOp::Ne => None,
        };
        Ok(Matcher {
            name: name.to_string(),
            op,
            value: value.to_string(),
            regex,
        })
    }

    /// Whether `labels` satisfy this matcher.
    pub fn matches(&self, labels: &Labels) -> bool {
        let v = labels.get(&self.name).map_or("", String::as_str);
        match (self.op, &self.regex) {
            (MatchOp::Eq, _) => v == self.value,
            (MatchOp::Ne, _) => v != self.value,
            (MatchOp::Re, Some(r)) => r.is_match(v),
            (MatchOp::NotRe, Some(r)) => !r.is_match(v),
            (MatchOp::Re | MatchOp::NotRe, None) => false,
        }
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.op.as_str(), self.value)
    }
}

impl FromStr for Matcher {
    type Err = String;

    /// Parses `name=value`, `name!=value`, `name=~regex` or `name!~regex`; the value may be double-quoted.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let Some(pos) = s.find(['=', '!']) else {
            return Err(format!(
                "'{s}' is not a matcher (expected name=value, name!=value, name=~regex or name!~regex)"
            ));
        };
        let (name, rest) = s.split_at(pos);
        let (op, value) = if let Some(v) = rest.strip_prefix("=~") {
            (MatchOp::Re, v)
        } else if let Some(v) = rest.strip_prefix("!~") {
            (MatchOp::NotRe, v)
        } else if let Some(v) = rest.strip_prefix("!=") {
            (MatchOp::Ne, v)
        } else if let Some(v) = rest.strip_prefix('=') {
            (MatchOp::Eq, v)
        } else {
            return Err(format!("'{s}' has no operator (=, !=, =~, !~)"));
        };
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        Matcher::new(name.trim(), op, value)
    }
}

/// Whether every matcher holds (an empty list matches everything).
pub fn all_match(matchers: &[Matcher], labels: &Labels) -> bool {
    matchers.iter().all(|m| m.matches(labels))
}

/// A stable fingerprint of a label set: SHA-256 over `name NUL value NUL` in name order, first 8 bytes in hex.
pub fn fingerprint(labels: &Labels) -> String {
    let mut h = Sha256::new();
    for (k, v) in labels {
        h.update(k.as_bytes());
        h.update([0]);
        h.update(v.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..8])
}

/// Dedup key of an Alertmanager alert: its labels' fingerprint (the same labels are the same alert).
pub fn alertmanager_dedup_key(labels: &Labels) -> String {
    format!("am:{}", fingerprint(labels))
}

/// Dedup key of a generic event: the sender's `dedup_key` (PagerDuty Events v2), namespaced.
pub fn event_dedup_key(dedup_key: &str) -> String {
    format!("ev:{dedup_key}")
}

/// Group key: the values of the grouping labels (missing = empty), in policy order.
pub fn group_key(policy: &GroupingPolicy, labels: &Labels) -> String {
    let parts: Vec<String> = policy
        .group_by
        .iter()
        .map(|l| format!("{l}={}", labels.get(l).map_or("", String::as_str)))
        .collect();
    parts.join(",")
}

/// Whether an alert first seen at `now` joins a group whose first alert came at `group_started`.
pub fn joins_group(policy: &GroupingPolicy, group_started: i64, now: i64) -> bool {
    now >= group_started && now - group_started < policy.window.seconds() * 1_000_000
}

/// Whether the state changes at `changes` (Unix µs, any order) make the alert flap at `now`: at least
/// `state_changes` of them within `within` before `now`.
pub fn is_flapping(policy: &FlappingPolicy, changes: &[i64], now: i64) -> bool {
    let from = now - policy.within.seconds() * 1_000_000;
    let n = changes.iter().filter(|t| **t > from && **t <= now).count();
    n >= policy.state_changes as usize
}

/// A time-boxed mute by label matchers: a silence or a maintenance window.
#[derive(Debug, Clone, PartialEq)]
pub struct Mute {
    /// Stored id.
    pub id: i64,
    /// All must hold.
    pub matchers: Vec<Matcher>,
    /// Start (inclusive), Unix µs.
    pub starts_at: i64,
    /// End (exclusive), Unix µs.
    pub ends_at: i64,
}

impl Mute {
    /// Whether the mute is in force at `now` for `labels`.
    pub fn mutes(&self, labels: &Labels, now: i64) -> bool {
        now >= self.starts_at && now < self.ends_at && all_match(&self.matchers, labels)
    }
}

/// Why a firing alert is not notified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Suppression {
    /// A silence (its id) holds.
    Silenced(i64),
    /// A maintenance window (its id) holds.
    Maintenance(i64),
    /// The alert flaps (N state changes within M minutes).
    Flapping,
    /// The alert joined an already-notified group.
    Grouped,
}

impl Suppression {
    /// Stored name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Suppression::Silenced(_) => "silenced",
            Suppression::Maintenance(_) => "maintenance",
            Suppression::Flapping => "flapping",
            Suppression::Grouped => "grouped",
        }
    }
}

/// The facts the decision needs about one alert event.
#[derive(Debug, Clone)]
pub struct AlertSituation<'a> {
    /// The alert's labels.
    pub labels: &'a Labels,
    /// When the decision is made.
    pub now: i64,
    /// Firing ↔ resolved changes so far, including this one.
    pub state_changes: &'a [i64],
    /// The alert joined a group that already notified.
    pub grouped: bool,
    /// Silences in force or not (filtered here).
    pub silences: &'a [Mute],
    /// Maintenance windows.
    pub maintenance: &'a [Mute],
}

/// The first reason not to notify, if any: maintenance, silence, flapping, grouping (in that order, so the
/// strongest, operator-made reason is recorded).
pub fn suppression(policy: &MonitoringPolicy, s: &AlertSituation<'_>) -> Option<Suppression> {
    if let Some(m) = s.maintenance.iter().find(|m| m.mutes(s.labels, s.now)) {
        return Some(Suppression::Maintenance(m.id));
    }
    if let Some(m) = s.silences.iter().find(|m| m.mutes(s.labels, s.now)) {
        return Some(Suppression::Silenced(m.id));
    }
    if is_flapping(&policy.flapping, s.state_changes, s.now) {
        return Some(Suppression::Flapping);
    }
    s.grouped.then_some(Suppression::Grouped)
}

/// MON-06: the routes an alert takes, in file order: the first matching route, plus later matching ones while
/// a matched route says `continue`; the fallback route when none matches.
pub fn routes_for<'a>(policy: &'a MonitoringPolicy, labels: &Labels) -> Vec<&'a AlertRoute> {
    let mut out = Vec::new();
    for r in &policy.routes {
        if all_match(&r.parsed_matchers(), labels) {
            out.push(r);
            if !r.continue_matching {
                break;
            }
        }
    }
    if out.is_empty() {
        out.extend(policy.route(&policy.fallback));
    }
    out
}

#[cfg(test)]
mod tests;
