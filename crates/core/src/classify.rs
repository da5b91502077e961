//! Fault-level classification of escalated-complaint faults (SEV-01..SEV-08). Pure: facts in, level out.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::policy::{ActualImpact, FaultLevelPolicy, HalfOpen, PolicyDuration};
use crate::severity::{ComplaintLevel, FaultLevel};

/// What is known about a fault; `None` means "not known", which meets no criterion.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultFacts {
    /// Customers whose normal communication is affected (SEV-02a, SEV-04a).
    pub affected_users: Option<u64>,
    /// Complaints/enquiries received; clones of a multi-dispatch are not counted (DUP-04).
    pub complaints: Option<u64>,
    /// Gold/diamond-card complaints about the same problem (SEV-02e, SEV-04e).
    pub gold_diamond_complaints: Option<u64>,
    /// Business handling/query outages (SEV-02b, SEV-04b).
    pub outages: Vec<BusinessOutage>,
    /// Customer-service complaint level, set by customer service, never computed (SEV-08).
    pub cs_level: Option<ComplaintLevel>,
    /// Keys of the potential-impact criteria a human ticked (SEV-03, SEV-05).
    pub potential: Vec<String>,
}

/// One business that could not be handled or queried, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusinessOutage {
    /// Whether the business is one of the SEV-01 hot kinds (see [`FaultLevelPolicy::is_hot`]).
    pub hot: bool,
    /// Outage length in minutes.
    pub minutes: u64,
}

/// One criterion met, cited by rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    /// Rule ID, e.g. `SEV-04`.
    pub rule: String,
    /// Which criterion: a fact name (`affected_users`) or a potential-criterion key.
    pub criterion: String,
    /// The level this criterion implies and why.
    pub detail: String,
    /// The level this criterion implies.
    pub level: FaultLevel,
}

/// The level of a fault and every criterion that contributed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Classification {
    /// Maximum over all criteria met; `General` when none is met (SEV-06, SEV-07).
    pub level: FaultLevel,
    /// The criteria met, in a stable order.
    pub reasons: Vec<Reason>,
}

/// Why facts could not be classified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClassifyError {
    /// A ticked potential criterion is not defined in fault_levels.toml.
    #[error("unknown potential-impact criterion '{0}'")]
    UnknownCriterion(String),
}

/// Classifies a fault per SEV-02..SEV-08: each criterion picks FL2 if it is in the FL2 band, else FL1 if it is in
/// the FL1 band (bands are half-open, so a boundary value goes to the more severe level, SEV-07); the fault's level
/// is the maximum over all criteria met.
pub fn classify_fault(
    facts: &FaultFacts,
    policy: &FaultLevelPolicy,
) -> Result<Classification, ClassifyError> {
    let mut reasons = Vec::new();
    let (fl1, fl2) = (&policy.fl1, &policy.fl2);
    let mut check = |criterion: &str, value: String, get: &dyn Fn(&ActualImpact) -> Option<Met>| {
        for (lvl, imp) in [(FaultLevel::FL2, fl2), (FaultLevel::FL1, fl1)] {
            if let Some(Met { rule, band }) = get(imp) {
                reasons.push(Reason {
                    rule: rule.to_string(),
                    criterion: criterion.to_string(),
                    detail: format!("{value} in {band} → {lvl}"),
                    level: lvl,
                });
                return;
            }
        }
    };
    if let Some(n) = facts.affected_users {
        check("affected_users", n.to_string(), &|a| met(a, &a.users, &n));
    }
    if let Some(n) = facts.complaints {
        check("complaints", n.to_string(), &|a| met(a, &a.complaints, &n));
    }
    if let Some(n) = facts.gold_diamond_complaints {
        check("gold_diamond_complaints", n.to_string(), &|a| {
            met(a, &a.gold_diamond_complaints, &n)
        });
    }
    for o in &facts.outages {
        let d = PolicyDuration::from_seconds(
            i64::try_from(o.minutes.saturating_mul(60)).unwrap_or(i64::MAX),
        );
        if o.hot {
            check("hot_outage", d.to_string(), &|a| met(a, &a.hot_outage, &d));
        } else {
            check("non_hot_outage", d.to_string(), &|a| {
                met(a, &a.non_hot_outage, &d)
            });
        }
    }
    if let Some(cs) = facts.cs_level {
        check("cs_complaint", cs.to_string(), &|a| {
            met(a, &a.cs_complaint, &cs)
        });
    }
    for key in &facts.potential {
        let c = policy
            .potential(key)
            .ok_or_else(|| ClassifyError::UnknownCriterion(key.clone()))?;
        let detail = match &c.threshold {
            Some(t) => format!("{} ({t}) → {}", c.text_zh, c.level),
            None => format!("{} → {}", c.text_zh, c.level),
        };
        reasons.push(Reason {
            rule: c.rule.clone(),
            criterion: c.key.clone(),
            detail,
            level: c.level,
        });
    }
    let level = reasons
        .iter()
        .map(|r| r.level)
        .max()
        .unwrap_or(FaultLevel::General);
    Ok(Classification { level, reasons })
}

/// A band that matched, with the rule it cites.
struct Met<'a> {
    rule: &'a str,
    band: String,
}

fn met<'a, T: PartialOrd + fmt::Display>(
    imp: &'a ActualImpact,
    band: &'a HalfOpen<T>,
    v: &T,
) -> Option<Met<'a>> {
    band.contains(v).then(|| Met {
        rule: imp.rule_of(band),
        band: match &band.max {
            Some(max) => format!("[{}, {max})", band.min),
            None => format!("[{}, ∞)", band.min),
        },
    })
}
