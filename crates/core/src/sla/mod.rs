//! Customer service tiers and their time limits (SLA-01..SLA-07): the tier and assurance scales, working-day
//! amounts, the SLA-05 access-point scaling, the SLA-02 quotas and the provisioning clock with SLA-07 delay
//! requests, and the delivery steps of an order (SLA-09 acceptance phases, KPI-06 data configuration). Pure:
//! the numbers come from `sla.toml`, time from the caller.

mod delivery;
mod network;
mod provisioning;
mod quota;
mod units;

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use delivery::{
    acceptance_state, check_next as check_acceptance, configuration_wait, first_initial_acceptance,
    AcceptanceOutcome, AcceptancePhase, AcceptanceRefusal, AcceptanceState, AcceptanceStep,
    OutcomeParseError, PhaseParseError, StartBeforeNotice,
};
pub use network::{judge_lines, LineFault, LineVerdict};
pub use provisioning::{
    overdue_count, DelayDecision, DelayReason, DelayRefusal, PauseReason, ProvisioningClock,
    ProvisioningPause,
};
pub use quota::{check_assignment, quota_report, QuotaExceeded, QuotaLine, QuotaReport};
pub use units::{scale_for_access_points, ScalingMode, StageLimit, WorkingDays};

/// Customer service tier (SLA-01); key-assurance ranks above diamond (C-6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// 重点保障级: customers using the network for production operations.
    KeyAssurance,
    /// 钻石级.
    Diamond,
    /// 金牌级.
    Gold,
    /// 银牌级.
    Silver,
    /// 铜牌级.
    Bronze,
}

impl Tier {
    /// All tiers, highest first.
    pub const ALL: [Tier; 5] = [
        Tier::KeyAssurance,
        Tier::Diamond,
        Tier::Gold,
        Tier::Silver,
        Tier::Bronze,
    ];

    /// The stable code used in the pack, the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::KeyAssurance => "key_assurance",
            Tier::Diamond => "diamond",
            Tier::Gold => "gold",
            Tier::Silver => "silver",
            Tier::Bronze => "bronze",
        }
    }

    /// Chinese name.
    pub fn name_zh(self) -> &'static str {
        match self {
            Tier::KeyAssurance => "重点保障级",
            Tier::Diamond => "钻石级",
            Tier::Gold => "金牌级",
            Tier::Silver => "银牌级",
            Tier::Bronze => "铜牌级",
        }
    }

    fn rank(self) -> u8 {
        match self {
            Tier::KeyAssurance => 5,
            Tier::Diamond => 4,
            Tier::Gold => 3,
            Tier::Silver => 2,
            Tier::Bronze => 1,
        }
    }
}

impl PartialOrd for Tier {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Tier {
    fn cmp(&self, other: &Self) -> Ordering {
        self.rank().cmp(&other.rank())
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A tier code that is not one of the five.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a service tier (expected key_assurance, diamond, gold, silver or bronze)")]
pub struct TierParseError(pub String);

impl FromStr for Tier {
    type Err = TierParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Tier::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| TierParseError(s.to_string()))
    }
}

/// Service assurance level of one service of a customer (SLA-03); AAA is the highest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum AssuranceLevel {
    /// 普通级.
    #[serde(rename = "normal")]
    Normal,
    /// A级.
    A,
    /// AA级.
    AA,
    /// AAA级.
    AAA,
}

impl AssuranceLevel {
    /// All levels, highest first.
    pub const ALL: [AssuranceLevel; 4] = [
        AssuranceLevel::AAA,
        AssuranceLevel::AA,
        AssuranceLevel::A,
        AssuranceLevel::Normal,
    ];

    /// The stable code.
    pub fn as_str(self) -> &'static str {
        match self {
            AssuranceLevel::Normal => "normal",
            AssuranceLevel::A => "A",
            AssuranceLevel::AA => "AA",
            AssuranceLevel::AAA => "AAA",
        }
    }
}

impl fmt::Display for AssuranceLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an SLA computation was refused; each names the rule that refuses it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlaError {
    /// SLA-04: the seed gives no value for this cell and the pack leaves it empty; nothing is invented.
    #[error("SLA-04: SLA table incomplete: no {stage} limit for tier {tier} in sla.toml")]
    TableIncomplete {
        /// The stage key.
        stage: String,
        /// The tier asked for.
        tier: Tier,
    },
    /// The stage is not defined in the pack.
    #[error("SLA-04: no stage '{0}' in sla.toml")]
    UnknownStage(String),
    /// The service type is not defined in the pack.
    #[error("SLA-03: no service type '{0}' in sla.toml")]
    UnknownServiceType(String),
    /// SLA-05: access points must be at least 1.
    #[error("SLA-05: access points must be at least 1")]
    NoAccessPoints,
}
