//! Incidents: the pure domain logic of fault tickets — vocabulary (INC-01..INC-05), the workflow over the pack's
//! transition table, severity on tickets (SEV, DUP-04), escalation planning (ESC, INC-06, INC-09), duplicate
//! suggestion (DUP-01), frequent-fault lists (RPT-01..RPT-03) and BUG conversion (BUG-02, BUG-03, BUG-05).

mod bug;
mod centre;
mod duplicates;
mod escalation;
mod frequent;
mod model;
mod severity;
mod workflow;

pub use bug::{bug_needs_room_manager, BugUrgency, CollaborationTicket, PayloadIssue};
pub use centre::{centre_manager_criteria, CentreFacts, RecurrenceKind};
pub use duplicates::{duplicate_candidates, representative, ReportSummary};
pub use escalation::{
    notified_key, plan_on, ClockCommand, ClockKey, IncidentEvent, IncidentSnapshot, StopReason,
    INCIDENT_SUBJECT,
};
pub use frequent::{frequent_faults, FiredTrigger, FrequentFault, Occurrence, ReportWindow};
pub use model::{Action, CauseClass, HandoffKind, IncidentState, SourceChannel, UnknownCode};
pub use severity::{
    aggregate, emergency_trigger, immediate_report_criteria, impact_widened, lower_manually,
    reassess, Assessment, FiredCriterion, IncidentFacts, LevelChange, LevelReason, LowerError,
    ManualLowering,
};
pub use workflow::{allowed_actions, transition, ActorCtx, IncidentCtx, TransitionError};

#[cfg(test)]
pub(crate) mod test_support {
    use chrono::{DateTime, TimeZone, Utc};

    use crate::policy::PolicyPack;

    /// The default pack's top-level files (holidays are another engineer's data and not needed here).
    pub(crate) fn default_pack() -> PolicyPack {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies/default");
        let mut files = Vec::new();
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".toml") {
                files.push((name, std::fs::read_to_string(e.path()).unwrap()));
            }
        }
        PolicyPack::load_files(&files).unwrap_or_else(|e| panic!("default pack:\n{e}"))
    }

    /// Local Asia/Shanghai wall time as UTC.
    pub(crate) fn sh(y: i32, m: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        chrono_tz::Asia::Shanghai
            .with_ymd_and_hms(y, m, d, h, mi, 0)
            .unwrap()
            .with_timezone(&Utc)
    }
}
