//! SLA-02 tier quotas: diamond ≤ 10 % and silver ≤ 20 % of all group customers (floor), the rest bronze; gold
//! has no quota in the seed and is reported only; key-assurance customers are outside the quota (Proposed
//! default) but count in the total, which is "all group customers" (集团客户总数).

use std::collections::BTreeMap;

use serde::Serialize;

use super::Tier;
use crate::policy::TierQuota;

/// One tier's line of a quota report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuotaLine {
    /// The tier.
    pub tier: Tier,
    /// Customers in it now.
    pub count: u64,
    /// Its quota, `floor(percent × total / 100)`; `None` for a tier without one.
    pub max: Option<u64>,
    /// The quota in percent of all group customers.
    pub max_percent: Option<u32>,
}

/// A tier over its quota (SLA-02), as a refusal or a report finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{rule}: tier quota exceeded: {count} {tier} customers of {total} exceed the {max_percent} % quota ({max})")]
pub struct QuotaExceeded {
    /// The rule refusing it (SLA-02).
    pub rule: String,
    /// The tier.
    pub tier: Tier,
    /// Customers it would hold.
    pub count: u64,
    /// All group customers.
    pub total: u64,
    /// Its quota.
    pub max: u64,
    /// The quota in percent.
    pub max_percent: u32,
}

/// The quota situation of a customer base.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuotaReport {
    /// All group customers.
    pub total: u64,
    /// One line per tier, highest first.
    pub lines: Vec<QuotaLine>,
    /// Customers left for the tiers without a quota once every quota is filled (SLA-02 worked example: 1099 bronze of 1570).
    pub remainder: u64,
    /// Tiers over quota.
    pub exceeded: Vec<QuotaExceeded>,
}

fn max_for(q: &TierQuota, total: u64) -> u64 {
    u64::from(q.max_percent) * total / 100
}

/// The quota report for `counts` (customers per tier; a missing tier has none).
pub fn quota_report(counts: &BTreeMap<Tier, u64>, quotas: &[TierQuota]) -> QuotaReport {
    let total: u64 = counts.values().sum();
    let mut lines = Vec::new();
    let mut exceeded = Vec::new();
    for tier in Tier::ALL {
        let count = counts.get(&tier).copied().unwrap_or(0);
        let q = quotas.iter().find(|q| q.tier == tier);
        let max = q.map(|q| max_for(q, total));
        if let (Some(q), Some(max)) = (q, max) {
            if count > max {
                exceeded.push(QuotaExceeded {
                    rule: q.rule.clone(),
                    tier,
                    count,
                    total,
                    max,
                    max_percent: q.max_percent,
                });
            }
        }
        lines.push(QuotaLine {
            tier,
            count,
            max,
            max_percent: q.map(|q| q.max_percent),
        });
    }
    let allotted: u64 = lines
        .iter()
        .filter(|l| l.tier != Tier::KeyAssurance)
        .filter_map(|l| l.max)
        .sum();
    let outside: u64 = counts.get(&Tier::KeyAssurance).copied().unwrap_or(0);
    QuotaReport {
        total,
        remainder: total.saturating_sub(allotted).saturating_sub(outside),
        lines,
        exceeded,
    }
}

/// Checks that moving one customer from `from` (`None` = a new customer) to `to` keeps `to` within its quota
/// (SLA-02). `counts` is the base before the change. Moving down never breaks a quota: a new customer grows
/// the total, so it only raises the other tiers' maxima.
pub fn check_assignment(
    counts: &BTreeMap<Tier, u64>,
    from: Option<Tier>,
    to: Tier,
    quotas: &[TierQuota],
) -> Result<(), QuotaExceeded> {
    if from == Some(to) {
        return Ok(());
    }
    let Some(q) = quotas.iter().find(|q| q.tier == to) else {
        return Ok(());
    };
    let mut total: u64 = counts.values().sum();
    if from.is_none() {
        total += 1;
    }
    let count = counts.get(&to).copied().unwrap_or(0) + 1;
    let max = max_for(q, total);
    if count > max {
        return Err(QuotaExceeded {
            rule: q.rule.clone(),
            tier: to,
            count,
            total,
            max,
            max_percent: q.max_percent,
        });
    }
    Ok(())
}
