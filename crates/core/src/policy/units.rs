//! Small value types shared by the pack files.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use tianshu_workcal::DeadlineBasis;

use super::error::Issue;

/// A wall-clock duration written like a deadline (`15m`, `8h`); working-time and day forms are rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PolicyDuration {
    seconds: i64,
}

impl PolicyDuration {
    /// A duration of `seconds` seconds.
    pub fn from_seconds(seconds: i64) -> Self {
        Self { seconds }
    }

    /// Length in seconds.
    pub fn seconds(self) -> i64 {
        self.seconds
    }

    /// As a chrono duration.
    pub fn to_chrono(self) -> chrono::Duration {
        chrono::Duration::seconds(self.seconds)
    }
}

impl fmt::Display for PolicyDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        DeadlineBasis::WallClock {
            seconds: self.seconds,
        }
        .fmt(f)
    }
}

impl Serialize for PolicyDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PolicyDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.parse::<DeadlineBasis>() {
            Ok(DeadlineBasis::WallClock { seconds }) => Ok(Self { seconds }),
            Ok(_) => Err(serde::de::Error::custom(format!(
                "'{s}' must be a plain wall-clock duration such as 30m or 8h (no @calendar, no day counts)"
            ))),
            Err(e) => Err(serde::de::Error::custom(e)),
        }
    }
}

/// A half-open threshold band `[min, max)`; no `max` means "min or more" (SEV-07 boundary convention).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HalfOpen<T> {
    /// Rule ID of this criterion when it differs from its section's rule (e.g. SEV-08 for complaint levels).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Inclusive lower bound.
    pub min: T,
    /// Exclusive upper bound.
    // No `default` attribute: serde already treats a missing Option as None, and `default` would demand T: Default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<T>,
}

impl<T: PartialOrd> HalfOpen<T> {
    /// Whether `v` lies in `[min, max)`.
    pub fn contains(&self, v: &T) -> bool {
        *v >= self.min && self.max.as_ref().is_none_or(|m| v < m)
    }
}

/// Checks that a rule ID looks like `SEV-02` (letters, a dash, two or more digits) so citations stay greppable.
pub(crate) fn check_rule_id(path: &str, rule: &str, issues: &mut Vec<Issue>) {
    let ok = rule.split_once('-').is_some_and(|(p, n)| {
        !p.is_empty()
            && p.chars().all(|c| c.is_ascii_uppercase())
            && n.len() >= 2
            && n.chars().all(|c| c.is_ascii_digit())
    });
    if !ok {
        issues.push(Issue::new(
            path,
            format!("'{rule}' is not a rule ID from SEED-RULES.md (expected e.g. SEV-02)"),
        ));
    }
}

/// Reports an empty required text.
pub(crate) fn check_non_empty(path: &str, value: &str, issues: &mut Vec<Issue>) {
    if value.trim().is_empty() {
        issues.push(Issue::new(path, "must not be empty"));
    }
}

/// Reports a key that is not lower_snake_case, because keys are stored and referenced by code.
pub(crate) fn check_key(path: &str, key: &str, issues: &mut Vec<Issue>) {
    let ok = !key.is_empty()
        && key.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !ok {
        issues.push(Issue::new(
            path,
            format!("'{key}' must be lower_snake_case (a-z, 0-9, _)"),
        ));
    }
}
