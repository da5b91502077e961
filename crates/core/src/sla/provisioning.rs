//! The provisioning clock (SLA-06) and delay requests (SLA-07).
//!
//! SLA-06: the clock runs from the provisioning ticket to completion feedback and excludes customer-caused
//! delays and, where resources did not exist, project approval and construction (Proposed default: a pausable
//! clock with those two pause reasons). SLA-07: only customer-caused delays may be requested, and only before
//! the deadline; a late request is refused and counts as one overdue, cumulatively.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tianshu_workcal::{add_wall_clock, CalendarError, Pause, WorkCalendar};

use super::StageLimit;

/// Why the provisioning clock is stopped (SLA-06).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PauseReason {
    /// A delay caused by the customer, granted through an SLA-07 delay request.
    CustomerCaused,
    /// Resources did not exist: project approval and construction time.
    ResourceConstruction,
}

/// One stretch during which the clock is stopped; `to = None` while it lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisioningPause {
    /// Why.
    pub reason: PauseReason,
    /// From.
    pub from: DateTime<Utc>,
    /// Until (exclusive); `None` while the clock is still stopped.
    pub to: Option<DateTime<Utc>>,
}

/// The cause a delay request gives (SLA-07).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DelayReason {
    /// The customer caused the delay: the only cause that may be requested.
    CustomerCaused,
    /// Anything else (our side, a vendor, resources): never a delay, always an overdue.
    NotCustomerCaused,
}

/// Why a delay request was refused (SLA-07).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
pub enum DelayRefusal {
    /// Filed at or after the deadline: refused, and it counts as one overdue.
    #[error("{rule}: a delay request must be filed before the provisioning deadline {deadline}; filed {filed_at}, so it counts as an overdue")]
    AfterDeadline {
        /// SLA-07.
        rule: String,
        /// The deadline in force when it was filed.
        deadline: DateTime<Utc>,
        /// When it was filed.
        filed_at: DateTime<Utc>,
    },
    /// Not caused by the customer: such delays are always overdue.
    #[error(
        "{rule}: only customer-caused delays may be requested; other delays are counted as overdue"
    )]
    NotCustomerCaused {
        /// SLA-07.
        rule: String,
    },
}

impl DelayRefusal {
    /// Whether the refusal itself counts as one overdue (SLA-07: each late request, cumulatively).
    pub fn counts_as_overdue(&self) -> bool {
        matches!(self, DelayRefusal::AfterDeadline { .. })
    }
}

/// The decision on a delay request.
pub type DelayDecision = Result<(), DelayRefusal>;

/// A provisioning order's clock: its start, its (already scaled, SLA-05) limit and its pauses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisioningClock {
    /// The provisioning ticket's time.
    pub started_at: DateTime<Utc>,
    /// The limit for the customer's tier and access points.
    pub limit: StageLimit,
    /// Length of one working day on the SLA calendar, in seconds.
    pub day_seconds: i64,
    /// Pauses so far, in any order.
    pub pauses: Vec<ProvisioningPause>,
}

impl ProvisioningClock {
    /// Whether a pause is open at `now`.
    pub fn is_paused(&self) -> bool {
        self.pauses.iter().any(|p| p.to.is_none())
    }

    /// The deadline as it stands at `now`: pauses extend it; an open pause counts as lasting until `now`.
    pub fn deadline(
        &self,
        cal: &WorkCalendar,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, CalendarError> {
        let pauses: Vec<Pause> = self
            .pauses
            .iter()
            .map(|p| Pause {
                from: p.from,
                to: p.to.unwrap_or(now).max(p.from),
            })
            .collect();
        let seconds = self.limit.seconds(self.day_seconds);
        match self.limit {
            StageLimit::WorkingDays(_) => cal.add_working_time(self.started_at, seconds, &pauses),
            StageLimit::WallClock(_) => add_wall_clock(self.started_at, seconds, &pauses),
        }
    }

    /// SLA-07: decides a delay request filed at `filed_at` against the deadline in force then.
    pub fn decide_delay(
        &self,
        cal: &WorkCalendar,
        filed_at: DateTime<Utc>,
        reason: DelayReason,
    ) -> Result<DelayDecision, CalendarError> {
        if reason != DelayReason::CustomerCaused {
            return Ok(Err(DelayRefusal::NotCustomerCaused {
                rule: "SLA-07".to_string(),
            }));
        }
        let deadline = self.deadline(cal, filed_at)?;
        if filed_at >= deadline {
            return Ok(Err(DelayRefusal::AfterDeadline {
                rule: "SLA-07".to_string(),
                deadline,
                filed_at,
            }));
        }
        Ok(Ok(()))
    }
}

/// SLA-07 overdue count of one order: each late delay request is one overdue, cumulatively; a late completion
/// is one overdue too, but not on top of a late request, which already stands for that lateness.
pub fn overdue_count(late_requests: u32, completed_late: bool) -> u32 {
    late_requests.max(u32::from(completed_late))
}
