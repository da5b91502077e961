//! fault_levels.toml: the SEV-01..SEV-08 thresholds and criteria for escalated-complaint faults (001 §2.2.3.1).

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::error::Issue;
use super::units::{check_key, check_non_empty, check_rule_id, HalfOpen, PolicyDuration};
use crate::severity::{ComplaintLevel, FaultLevel};

/// The whole fault-level policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultLevelPolicy {
    /// Hot-business kinds (SEV-01); every other business is non-hot.
    pub hot_business: Vec<HotBusiness>,
    /// FL1 actual-impact bands (SEV-02, SEV-07).
    pub fl1: ActualImpact,
    /// FL2 actual-impact bands (SEV-04, SEV-07); upper bounds are absent because FL2 is the top level.
    pub fl2: ActualImpact,
    /// Potential-impact criteria a human ticks (SEV-03, SEV-05).
    pub potential: Vec<PotentialCriterion>,
}

/// One hot-business kind (SEV-01).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HotBusiness {
    /// Stable key.
    pub key: String,
    /// Rule ID (SEV-01).
    pub rule: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    #[serde(default)]
    pub name_en: String,
}

/// The actual-impact bands of one level; each band is half-open `[min, max)` (SEV-07).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActualImpact {
    /// Rule ID of the level's criteria (SEV-02 for FL1, SEV-04 for FL2).
    pub rule: String,
    /// Customers whose normal communication is affected.
    pub users: HalfOpen<u64>,
    /// Complaints/enquiries received.
    pub complaints: HalfOpen<u64>,
    /// Outage of a hot business (SEV-01).
    pub hot_outage: HalfOpen<PolicyDuration>,
    /// Outage of any other business.
    pub non_hot_outage: HalfOpen<PolicyDuration>,
    /// Gold/diamond-card complaints about the same problem.
    pub gold_diamond_complaints: HalfOpen<u64>,
    /// Customer-service complaint level (SEV-08: CS1 → FL1, CS2+ → FL2).
    pub cs_complaint: HalfOpen<ComplaintLevel>,
}

impl ActualImpact {
    /// The rule that `band` cites: its own, else the level's.
    pub fn rule_of<'a, T>(&'a self, band: &'a HalfOpen<T>) -> &'a str {
        band.rule.as_deref().unwrap_or(&self.rule)
    }
}

/// A potential-impact criterion: a judgement a human ticks, with the seed's number where it has one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PotentialCriterion {
    /// Stable key, used in [`crate::FaultFacts::potential`].
    pub key: String,
    /// Rule ID (SEV-03 or SEV-05).
    pub rule: String,
    /// The level the criterion implies (FL1 or FL2).
    pub level: FaultLevel,
    /// The criterion as shown to the operator.
    pub text_zh: String,
    /// The seed's number, shown next to the text; informative only because a human decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<Threshold>,
}

/// A number attached to a potential criterion, e.g. "> 30 min" or "> 5000 users".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    /// How the observed value compares with the number (C-1: 超过 excludes, 不超过 includes).
    pub compare: Compare,
    /// A duration threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<PolicyDuration>,
    /// A count threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// What is counted (e.g. users, service halls).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub unit: String,
}

/// Comparison of an observed value with a threshold (C-1 boundary conventions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compare {
    /// 超过 / 大于: strictly greater.
    MoreThan,
    /// 不超过 / 以内: less than or equal.
    AtMost,
    /// 以上: greater than or equal.
    AtLeast,
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.compare {
            Compare::MoreThan => ">",
            Compare::AtMost => "≤",
            Compare::AtLeast => "≥",
        };
        match (self.duration, self.count) {
            (Some(d), _) => write!(f, "{op} {d}"),
            (None, Some(c)) => write!(f, "{op} {c} {}", self.unit),
            (None, None) => f.write_str(op),
        }
    }
}

impl FaultLevelPolicy {
    /// Whether `key` is a hot business (SEV-01).
    pub fn is_hot(&self, key: &str) -> bool {
        self.hot_business.iter().any(|h| h.key == key)
    }

    /// The potential criterion called `key`.
    pub fn potential(&self, key: &str) -> Option<&PotentialCriterion> {
        self.potential.iter().find(|p| p.key == key)
    }

    pub(crate) fn validate(&self, issues: &mut Vec<Issue>) {
        let mut keys = HashSet::new();
        if self.hot_business.is_empty() {
            issues.push(Issue::new(
                "hot_business",
                "at least one hot business is required (SEV-01)",
            ));
        }
        for (i, h) in self.hot_business.iter().enumerate() {
            let at = |f: &str| format!("hot_business[{i}].{f}");
            check_key(&at("key"), &h.key, issues);
            if !keys.insert(h.key.as_str()) {
                issues.push(Issue::new(
                    at("key"),
                    format!("duplicate hot business '{}'", h.key),
                ));
            }
            check_rule_id(&at("rule"), &h.rule, issues);
            check_non_empty(&at("name_zh"), &h.name_zh, issues);
        }
        check_rule_id("fl1.rule", &self.fl1.rule, issues);
        check_rule_id("fl2.rule", &self.fl2.rule, issues);
        bands(issues, "users", &self.fl1, &self.fl2, |a| &a.users);
        bands(issues, "complaints", &self.fl1, &self.fl2, |a| {
            &a.complaints
        });
        bands(issues, "hot_outage", &self.fl1, &self.fl2, |a| {
            &a.hot_outage
        });
        bands(issues, "non_hot_outage", &self.fl1, &self.fl2, |a| {
            &a.non_hot_outage
        });
        bands(
            issues,
            "gold_diamond_complaints",
            &self.fl1,
            &self.fl2,
            |a| &a.gold_diamond_complaints,
        );
        bands(issues, "cs_complaint", &self.fl1, &self.fl2, |a| {
            &a.cs_complaint
        });

        let mut keys = HashSet::new();
        for (i, p) in self.potential.iter().enumerate() {
            let at = |f: &str| format!("potential[{i}].{f}");
            check_key(&at("key"), &p.key, issues);
            if !keys.insert(p.key.as_str()) {
                issues.push(Issue::new(
                    at("key"),
                    format!("duplicate criterion '{}'", p.key),
                ));
            }
            check_rule_id(&at("rule"), &p.rule, issues);
            check_non_empty(&at("text_zh"), &p.text_zh, issues);
            if p.level == FaultLevel::General {
                issues.push(Issue::new(
                    at("level"),
                    "a criterion must imply FL1 or FL2 (SEV-06: general means none met)",
                ));
            }
            if let Some(t) = &p.threshold {
                if t.duration.is_some() == t.count.is_some() {
                    issues.push(Issue::new(
                        at("threshold"),
                        "give exactly one of duration or count",
                    ));
                }
            }
        }
    }
}

/// Checks one criterion's FL1 and FL2 bands: ordered, FL1 bounded, FL2 open-ended, and touching (SEV-07).
fn bands<T, F>(issues: &mut Vec<Issue>, name: &str, fl1: &ActualImpact, fl2: &ActualImpact, get: F)
where
    T: PartialOrd + fmt::Display,
    F: Fn(&ActualImpact) -> &HalfOpen<T>,
{
    let (b1, b2) = (get(fl1), get(fl2));
    for (lvl, b) in [("fl1", b1), ("fl2", b2)] {
        if let Some(rule) = &b.rule {
            check_rule_id(&format!("{lvl}.{name}.rule"), rule, issues);
        }
        if let Some(max) = &b.max {
            if b.min >= *max {
                issues.push(Issue::new(
                    format!("{lvl}.{name}.min"),
                    format!("must be less than {lvl}.{name}.max ({max})"),
                ));
            }
        }
    }
    match &b1.max {
        None => issues.push(Issue::new(
            format!("fl1.{name}.max"),
            "FL1 needs an upper bound: it ends where FL2 begins (SEV-07)",
        )),
        Some(max) if *max != b2.min => issues.push(Issue::new(
            format!("fl1.{name}.max"),
            format!(
                "must equal fl2.{name}.min ({}) so a boundary value goes to the more severe level (SEV-07)",
                b2.min
            ),
        )),
        Some(_) => {}
    }
    if let Some(max) = &b2.max {
        issues.push(Issue::new(
            format!("fl2.{name}.max"),
            format!("FL2 is the most severe level and takes no upper bound (found {max})"),
        ));
    }
}
