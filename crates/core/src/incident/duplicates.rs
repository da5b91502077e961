//! DUP-01 duplicate suggestion: reports of the same system and symptom category within the pack's window are
//! suggested for merge; a person confirms. Pure; merge history is kept by storage.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::policy::DuplicatePolicy;

/// What duplicate suggestion compares about a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportSummary {
    /// Incident id.
    pub id: String,
    /// The affected system (e.g. `crm`, `billing`).
    pub system: String,
    /// Symptom category key.
    pub symptom: String,
    /// When the report was received.
    pub received_at: DateTime<Utc>,
    /// Clones (DUP-02/03) and dispatch children are never duplicates (DUP-04).
    pub is_clone_or_child: bool,
    /// Already merged into another ticket.
    pub merged: bool,
}

/// DUP-01 Proposed default: the existing reports to suggest for merge with `new`, earliest first: same system,
/// same symptom category, receipt times at most `window` apart (either side), not clones, children or merged.
pub fn duplicate_candidates<'a>(
    new: &ReportSummary,
    existing: &'a [ReportSummary],
    policy: &DuplicatePolicy,
) -> Vec<&'a ReportSummary> {
    let window = policy.window.to_chrono();
    let mut v: Vec<&ReportSummary> = existing
        .iter()
        .filter(|r| {
            r.id != new.id
                && !r.is_clone_or_child
                && !r.merged
                && r.system == new.system
                && r.symptom == new.symptom
                && (r.received_at - new.received_at).abs() <= window
        })
        .collect();
    v.sort_by(|a, b| a.received_at.cmp(&b.received_at).then(a.id.cmp(&b.id)));
    v
}

/// DUP-01 Proposed default: the representative of a group is the earliest report unless the operator chose one
/// of the group; `None` for an empty group or a choice outside it.
pub fn representative<'a>(
    group: &[&'a ReportSummary],
    chosen: Option<&str>,
) -> Option<&'a ReportSummary> {
    match chosen {
        Some(id) => group.iter().copied().find(|r| r.id == id),
        None => group
            .iter()
            .copied()
            .min_by(|a, b| a.received_at.cmp(&b.received_at).then(a.id.cmp(&b.id))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::test_support::{default_pack, sh};

    fn r(id: &str, system: &str, symptom: &str, h: u32, m: u32) -> ReportSummary {
        ReportSummary {
            id: id.into(),
            system: system.into(),
            symptom: symptom.into(),
            received_at: sh(2024, 3, 4, h, m),
            is_clone_or_child: false,
            merged: false,
        }
    }

    #[test]
    fn dup_01_same_system_and_symptom_within_60_minutes_earliest_is_representative() {
        let p = default_pack();
        let new = r("n", "crm", "login_failure", 10, 0);
        let mut clone = r("c", "crm", "login_failure", 9, 55);
        clone.is_clone_or_child = true;
        let existing = vec![
            r("late", "crm", "login_failure", 10, 50),
            r("early", "crm", "login_failure", 9, 0),
            r("edge", "crm", "login_failure", 11, 0),
            r("too_late", "crm", "login_failure", 11, 1),
            r("other_sys", "billing", "login_failure", 10, 5),
            r("other_symptom", "crm", "query_failure", 10, 5),
            clone,
        ];
        let c = duplicate_candidates(&new, &existing, &p.incident_workflow.duplicates);
        let ids: Vec<&str> = c.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["early", "late", "edge"]);
        assert_eq!(
            representative(&c, None).map(|r| r.id.as_str()),
            Some("early")
        );
        assert_eq!(
            representative(&c, Some("late")).map(|r| r.id.as_str()),
            Some("late")
        );
        assert_eq!(representative(&c, Some("n")), None);
    }
}
