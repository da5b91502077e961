//! BUG tickets raised from incidents (BUG-02, BUG-03, BUG-05): the CMCP collaboration payload and the
//! room-manager threshold. Urgency is its own scale (C-6) and is never derived from a fault or complaint level.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::model::UnknownCode;
use crate::policy::BugRoomManagerPolicy;
use crate::severity::ComplaintLevel;

/// BUG/collaboration urgency 特级 / 紧急 / 一般 (BUG-05, C-6); ordered normal < urgent < special.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BugUrgency {
    /// 一般.
    Normal,
    /// 紧急.
    Urgent,
    /// 特级.
    Special,
}

impl BugUrgency {
    /// Stable code.
    pub fn as_str(self) -> &'static str {
        match self {
            BugUrgency::Normal => "normal",
            BugUrgency::Urgent => "urgent",
            BugUrgency::Special => "special",
        }
    }

    /// Chinese label.
    pub fn label_zh(self) -> &'static str {
        match self {
            BugUrgency::Normal => "一般",
            BugUrgency::Urgent => "紧急",
            BugUrgency::Special => "特级",
        }
    }
}

impl fmt::Display for BugUrgency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BugUrgency {
    type Err = UnknownCode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [BugUrgency::Normal, BugUrgency::Urgent, BugUrgency::Special]
            .into_iter()
            .find(|u| u.as_str() == s)
            .ok_or_else(|| UnknownCode {
                kind: "BUG urgency",
                input: s.to_string(),
                expected: "special, urgent, normal".into(),
            })
    }
}

/// BUG-05: the CMCP collaboration ticket raised with a BUG (BUG-02 step 2), as sent to the support room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollaborationTicket {
    /// The incident converted.
    pub incident_id: String,
    /// Problem description; must contain the complaining number.
    pub description: String,
    /// The complaining number, which the description must include (BUG-05).
    pub complaining_number: String,
    /// Vendor reply, with the BUG number if any.
    pub vendor_reply: String,
    /// BUG number in AMS, if the vendor gave one.
    pub bug_number: Option<String>,
    /// What assistance is requested.
    pub assistance_requested: String,
    /// Impact: complaint count.
    pub complaints: Option<u64>,
    /// Impact: outage minutes.
    pub outage_minutes: Option<u64>,
    /// 特级 / 紧急 / 一般, chosen by a person (C-6: no mapping from other scales).
    pub urgency: BugUrgency,
    /// Expected resolution time, free text as agreed.
    pub expected_resolution: String,
    /// The consequence if it is missed.
    pub consequence_if_missed: String,
}

/// One missing or wrong field of a collaboration ticket.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct PayloadIssue {
    /// Field name.
    pub field: &'static str,
    /// What is wrong.
    pub message: &'static str,
}

impl CollaborationTicket {
    /// BUG-05: every problem with the payload, empty when it may be sent.
    pub fn check(&self) -> Vec<PayloadIssue> {
        let mut v = Vec::new();
        let mut need = |field, ok: bool, message| {
            if !ok {
                v.push(PayloadIssue { field, message });
            }
        };
        need(
            "description",
            !self.description.trim().is_empty(),
            "must not be empty",
        );
        need(
            "complaining_number",
            !self.complaining_number.trim().is_empty(),
            "must not be empty",
        );
        need(
            "description",
            self.complaining_number.trim().is_empty()
                || self.description.contains(self.complaining_number.trim()),
            "must include the complaining number (BUG-05)",
        );
        need(
            "assistance_requested",
            !self.assistance_requested.trim().is_empty(),
            "must not be empty",
        );
        need(
            "complaints",
            self.complaints.is_some() || self.outage_minutes.is_some(),
            "give the impact as a complaint count or an outage duration (BUG-05)",
        );
        need(
            "expected_resolution",
            !self.expected_resolution.trim().is_empty(),
            "must not be empty",
        );
        need(
            "consequence_if_missed",
            !self.consequence_if_missed.trim().is_empty(),
            "must not be empty (BUG-05: with the consequence if missed)",
        );
        v
    }
}

/// BUG-03: why a BUG must be reported to the room manager, or `None`: more than the threshold of customers
/// affected, or a complaint of the threshold level or higher already raised.
pub fn bug_needs_room_manager(
    affected_customers: Option<u64>,
    cs_level: Option<ComplaintLevel>,
    p: &BugRoomManagerPolicy,
) -> Option<String> {
    let mut why = Vec::new();
    if let Some(n) = affected_customers.filter(|n| *n > p.customers_more_than) {
        why.push(format!("{n} customers > {}", p.customers_more_than));
    }
    if let Some(cs) = cs_level.filter(|cs| *cs >= p.cs_at_least) {
        why.push(format!("{cs} complaint ≥ {}", p.cs_at_least));
    }
    (!why.is_empty()).then(|| format!("{} ({})", why.join("; "), p.rule))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::test_support::default_pack;

    #[test]
    fn bug_03_room_manager_above_200_customers_or_cs2() {
        let p = default_pack();
        let b = &p.escalation.bug_room_manager;
        assert_eq!(bug_needs_room_manager(Some(200), None, b), None);
        assert!(bug_needs_room_manager(Some(201), None, b).is_some());
        assert_eq!(
            bug_needs_room_manager(None, ComplaintLevel::new(1), b),
            None
        );
        assert_eq!(
            bug_needs_room_manager(None, ComplaintLevel::new(2), b).as_deref(),
            Some("CS2 complaint ≥ CS2 (BUG-03)")
        );
    }

    #[test]
    fn bug_05_payload_needs_the_complaining_number_and_impact_urgency_is_its_own_scale() {
        let mut t = CollaborationTicket {
            incident_id: "1".into(),
            description: "用户 13800000000 缴费后未开机".into(),
            complaining_number: "13800000000".into(),
            vendor_reply: "BUG-123 已确认".into(),
            bug_number: Some("BUG-123".into()),
            assistance_requested: "紧急上线修复".into(),
            complaints: Some(12),
            outage_minutes: None,
            urgency: "special".parse().unwrap(),
            expected_resolution: "今日 18:00 前".into(),
            consequence_if_missed: "引发二级投诉".into(),
        };
        assert!(t.check().is_empty(), "{:?}", t.check());
        assert_eq!(t.urgency.label_zh(), "特级");
        assert!(
            BugUrgency::Special > BugUrgency::Urgent && BugUrgency::Urgent > BugUrgency::Normal
        );
        t.description = "缴费后未开机".into();
        t.complaints = None;
        let fields: Vec<&str> = t.check().iter().map(|i| i.field).collect();
        assert_eq!(fields, ["description", "complaints"]);
        assert!("FL2".parse::<BugUrgency>().is_err());
    }
}
