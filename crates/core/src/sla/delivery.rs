//! Delivery steps of a provisioning order: the SLA-09 acceptance phases and the KPI-06 data configuration.
//!
//! SLA-09: accompanying inspection → initial acceptance (hand-over to maintenance) → trial run → final
//! acceptance; a failed initial acceptance returns the order to engineering for rectification, after which the
//! initial acceptance is held again. KPI-05 counts the *first* initial acceptance of an order: passed there, or
//! not passed at all. KPI-06: data configuration starts within a limit of the notice; the limit and the units
//! come from kpi.toml, this module only orders the two instants.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An acceptance phase of SLA-09, in the order they are held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AcceptancePhase {
    /// 随工验收: point-by-point inspection while engineering builds.
    AccompanyingInspection,
    /// 初验: hand-over to maintenance; the phase KPI-05 counts.
    InitialAcceptance,
    /// 试运行.
    TrialRun,
    /// 终验.
    FinalAcceptance,
}

impl AcceptancePhase {
    /// All phases, in SLA-09 order.
    pub const ALL: [AcceptancePhase; 4] = [
        AcceptancePhase::AccompanyingInspection,
        AcceptancePhase::InitialAcceptance,
        AcceptancePhase::TrialRun,
        AcceptancePhase::FinalAcceptance,
    ];

    /// The stable code used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            AcceptancePhase::AccompanyingInspection => "accompanying_inspection",
            AcceptancePhase::InitialAcceptance => "initial_acceptance",
            AcceptancePhase::TrialRun => "trial_run",
            AcceptancePhase::FinalAcceptance => "final_acceptance",
        }
    }

    /// Chinese name.
    pub fn name_zh(self) -> &'static str {
        match self {
            AcceptancePhase::AccompanyingInspection => "随工验收",
            AcceptancePhase::InitialAcceptance => "初验",
            AcceptancePhase::TrialRun => "试运行",
            AcceptancePhase::FinalAcceptance => "终验",
        }
    }
}

impl fmt::Display for AcceptancePhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A phase code that is not one of the four.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not an acceptance phase (expected accompanying_inspection, initial_acceptance, trial_run or final_acceptance)")]
pub struct PhaseParseError(pub String);

impl FromStr for AcceptancePhase {
    type Err = PhaseParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AcceptancePhase::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| PhaseParseError(s.to_string()))
    }
}

/// How an acceptance went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AcceptanceOutcome {
    /// Passed.
    Passed,
    /// Failed: engineering rectifies and the phase is held again.
    Failed,
}

impl AcceptanceOutcome {
    /// The stable code.
    pub fn as_str(self) -> &'static str {
        match self {
            AcceptanceOutcome::Passed => "passed",
            AcceptanceOutcome::Failed => "failed",
        }
    }
}

/// An outcome code that is not `passed` or `failed`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not an acceptance outcome (expected passed or failed)")]
pub struct OutcomeParseError(pub String);

impl FromStr for AcceptanceOutcome {
    type Err = OutcomeParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "passed" => Ok(AcceptanceOutcome::Passed),
            "failed" => Ok(AcceptanceOutcome::Failed),
            other => Err(OutcomeParseError(other.to_string())),
        }
    }
}

/// One acceptance as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptanceStep {
    /// Phase.
    pub phase: AcceptancePhase,
    /// Outcome.
    pub outcome: AcceptanceOutcome,
    /// When it was held.
    pub held_at: DateTime<Utc>,
}

/// Where an order stands in SLA-09, from its acceptances so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AcceptanceState {
    /// No acceptance recorded.
    NotStarted,
    /// Accompanying inspections held, no initial acceptance passed yet.
    Inspection,
    /// The last initial acceptance failed: back with engineering for rectification.
    Rectification,
    /// Initial acceptance passed: handed over to maintenance, trial run pending.
    HandedOver,
    /// In trial run (or a final acceptance failed after it).
    TrialRun,
    /// Final acceptance passed.
    Accepted,
}

impl AcceptanceState {
    /// The stable code.
    pub fn as_str(self) -> &'static str {
        match self {
            AcceptanceState::NotStarted => "not_started",
            AcceptanceState::Inspection => "inspection",
            AcceptanceState::Rectification => "rectification",
            AcceptanceState::HandedOver => "handed_over",
            AcceptanceState::TrialRun => "trial_run",
            AcceptanceState::Accepted => "accepted",
        }
    }
}

/// Why an acceptance cannot be recorded now (SLA-09); `field()` names the input it refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AcceptanceRefusal {
    /// The phase comes later in SLA-09 than the order has reached: `needs` must pass first.
    #[error("SLA-09: {phase} cannot be held yet: a passed {needs} must come first")]
    OutOfOrder {
        /// The phase asked for.
        phase: AcceptancePhase,
        /// The phase that must pass first.
        needs: AcceptancePhase,
    },
    /// The phase belongs to an earlier stretch than the order has passed: `after` has passed.
    #[error("SLA-09: {phase} is over for this order: the {after} has passed")]
    PhaseOver {
        /// The phase asked for.
        phase: AcceptancePhase,
        /// The phase whose pass closed it.
        after: AcceptancePhase,
    },
    /// Held before the acceptance recorded last: phases are held in order.
    #[error("SLA-09: held {held_at}, before the last recorded acceptance ({previous})")]
    BeforePrevious {
        /// Given.
        held_at: DateTime<Utc>,
        /// The last recorded acceptance.
        previous: DateTime<Utc>,
    },
}

impl AcceptanceRefusal {
    /// The input the refusal names.
    pub fn field(&self) -> &'static str {
        match self {
            AcceptanceRefusal::OutOfOrder { .. } | AcceptanceRefusal::PhaseOver { .. } => "phase",
            AcceptanceRefusal::BeforePrevious { .. } => "held_at",
        }
    }
}

fn passed(history: &[AcceptanceStep], phase: AcceptancePhase) -> bool {
    history
        .iter()
        .any(|s| s.phase == phase && s.outcome == AcceptanceOutcome::Passed)
}

fn last_of(history: &[AcceptanceStep], phase: AcceptancePhase) -> Option<&AcceptanceStep> {
    history.iter().rev().find(|s| s.phase == phase)
}

/// SLA-09: whether `phase` may be recorded as held at `held_at` after `history` (in recorded order). Our reading
/// (Proposed default): an initial acceptance needs a passed accompanying inspection and is held until it passes
/// once (each failure is a rectification); a trial run needs a passed initial acceptance; a final acceptance needs
/// the latest trial run passed; nothing follows a passed final acceptance; phases are recorded in time order.
pub fn check_next(
    history: &[AcceptanceStep],
    phase: AcceptancePhase,
    held_at: DateTime<Utc>,
) -> Result<(), AcceptanceRefusal> {
    use AcceptancePhase::*;
    if passed(history, FinalAcceptance) {
        return Err(AcceptanceRefusal::PhaseOver {
            phase,
            after: FinalAcceptance,
        });
    }
    let initial_passed = passed(history, InitialAcceptance);
    match phase {
        AccompanyingInspection | InitialAcceptance if initial_passed => {
            return Err(AcceptanceRefusal::PhaseOver {
                phase,
                after: InitialAcceptance,
            })
        }
        AccompanyingInspection => {}
        InitialAcceptance if !passed(history, AccompanyingInspection) => {
            return Err(AcceptanceRefusal::OutOfOrder {
                phase,
                needs: AccompanyingInspection,
            })
        }
        InitialAcceptance => {}
        TrialRun | FinalAcceptance if !initial_passed => {
            return Err(AcceptanceRefusal::OutOfOrder {
                phase,
                needs: InitialAcceptance,
            })
        }
        TrialRun => {}
        FinalAcceptance => {
            if last_of(history, TrialRun).map(|s| s.outcome) != Some(AcceptanceOutcome::Passed) {
                return Err(AcceptanceRefusal::OutOfOrder {
                    phase,
                    needs: TrialRun,
                });
            }
        }
    }
    if let Some(prev) = history.iter().map(|s| s.held_at).max() {
        if held_at < prev {
            return Err(AcceptanceRefusal::BeforePrevious {
                held_at,
                previous: prev,
            });
        }
    }
    Ok(())
}

/// Where an order stands after `history` (in recorded order).
pub fn acceptance_state(history: &[AcceptanceStep]) -> AcceptanceState {
    use AcceptancePhase::*;
    if passed(history, FinalAcceptance) {
        AcceptanceState::Accepted
    } else if last_of(history, TrialRun).is_some() || last_of(history, FinalAcceptance).is_some() {
        AcceptanceState::TrialRun
    } else if passed(history, InitialAcceptance) {
        AcceptanceState::HandedOver
    } else if last_of(history, InitialAcceptance).is_some() {
        AcceptanceState::Rectification
    } else if history.is_empty() {
        AcceptanceState::NotStarted
    } else {
        AcceptanceState::Inspection
    }
}

/// KPI-05: the first initial acceptance of an order, which alone decides whether it counts as passed.
pub fn first_initial_acceptance(history: &[AcceptanceStep]) -> Option<&AcceptanceStep> {
    history
        .iter()
        .find(|s| s.phase == AcceptancePhase::InitialAcceptance)
}

/// Why a data configuration's start cannot be recorded (KPI-06).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("KPI-06: configuration cannot start ({started_at}) before its notice ({notified_at})")]
pub struct StartBeforeNotice {
    /// The notice.
    pub notified_at: DateTime<Utc>,
    /// The start given.
    pub started_at: DateTime<Utc>,
}

/// KPI-06: seconds from the configuration notice to its start, refused when the start precedes the notice.
pub fn configuration_wait(
    notified_at: DateTime<Utc>,
    started_at: DateTime<Utc>,
) -> Result<i64, StartBeforeNotice> {
    if started_at < notified_at {
        return Err(StartBeforeNotice {
            notified_at,
            started_at,
        });
    }
    Ok((started_at - notified_at).num_seconds())
}
