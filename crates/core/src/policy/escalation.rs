//! escalation.toml: escalation and reporting clocks (ESC-02..ESC-05, ESC-08, ESC-09, ESC-12, INC-06), the ESC-01
//! and ESC-07 immediate-report criteria, the ESC-02/ESC-08 re-reports, the INC-09 emergency trigger and the
//! BUG-03 room-manager threshold.

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use tianshu_workcal::DeadlineBasis;

use super::error::Issue;
use super::units::{check_key, check_rule_id, PolicyDuration};
use crate::incident::{HandoffKind, IncidentState};
use crate::severity::{ComplaintLevel, FaultLevel};

/// The whole escalation policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationPolicy {
    /// One clock rule per `[[clock]]`.
    #[serde(rename = "clock")]
    pub clocks: Vec<ClockRule>,
    /// ESC-01 criteria for the immediate report to the room manager.
    pub immediate_report: ImmediateReportPolicy,
    /// INC-09 emergency-procedure trigger.
    pub emergency: EmergencyPolicy,
    /// BUG-03 room-manager threshold for BUG tickets.
    pub bug_room_manager: BugRoomManagerPolicy,
    /// ESC-07 criteria for the room manager's phone report to the centre manager.
    pub centre_manager_report: CentreManagerPolicy,
    /// ESC-02 / ESC-08 immediate re-reports when impact widens or a new symptom appears.
    pub re_report: ReReportPolicy,
}

/// A clock the planner starts when its trigger happens and stops on its stop conditions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockRule {
    /// Stable clock key, unique in the file (per hand-off clocks append `/<hand-off id>`).
    pub key: String,
    /// Rule ID the clock implements.
    pub rule: String,
    /// When the clock starts.
    pub trigger: Trigger,
    /// Due time counted from the start.
    pub basis: DeadlineBasis,
    /// For cadences: the next due is this much after the previous due.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat: Option<DeadlineBasis>,
    /// ESC-04 upgrade rule: the due is never later than the due of this other clock (both wall-clock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub never_later_than: Option<String>,
    /// Conditions that end the clock.
    pub stop: Vec<ClockCondition>,
    /// Conditions that end the clock and start it afresh from that moment.
    #[serde(default)]
    pub restart_on: Vec<ClockCondition>,
    /// Incident states during which the clock is paused.
    #[serde(default)]
    pub pause_in: Vec<IncidentState>,
    /// Role keys of roles.toml, or `handler` for the ticket's handler.
    pub recipients: Vec<String>,
    /// Message template id.
    pub template: String,
}

/// What starts a clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    /// The event.
    pub on: TriggerEvent,
    /// For `level_reached`: the fault level reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<FaultLevel>,
    /// For `cs_level_at_least`: the complaint level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cs: Option<ComplaintLevel>,
    /// For `handoff_started`: the hand-off kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handoff: Option<HandoffKind>,
    /// For `handoff_started`, `reported_to_room_manager` and `reported_to_centre_manager`: fault categories it
    /// applies to (empty = all).
    #[serde(default)]
    pub categories: Vec<FaultCategory>,
    /// System keys the clock applies to (empty = every system), e.g. ESC-09 for the CRM only.
    #[serde(default)]
    pub systems: Vec<String>,
    /// For `resolved`: the lowest fault level the ticket had to reach.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_level: Option<FaultLevel>,
}

/// Events that can start a clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerEvent {
    /// The ticket is received (INC-06).
    Received,
    /// The ticket reaches a fault level (C-5, ESC-04).
    LevelReached,
    /// The customer-service complaint level reaches a level (ESC-05).
    CsLevelAtLeast,
    /// A hand-off starts (ESC-02).
    HandoffStarted,
    /// The fault is reported to the room manager (ESC-03).
    ReportedToRoomManager,
    /// The fault is reported to the centre manager (ESC-07, starts ESC-08).
    ReportedToCentreManager,
    /// The fault is resolved (ESC-09 post-incident analysis).
    Resolved,
}

/// Events that stop or restart a clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockCondition {
    /// The fault is resolved (ticket answered, closed or cancelled).
    Resolved,
    /// A progress entry is written on the ticket (INC-06).
    ProgressRecorded,
    /// The hand-off's receiver reports substantive progress (ESC-02).
    HandoffProgress,
    /// The hand-off is answered (INC-03).
    HandoffReplied,
    /// The fault was reported to the group (ESC-09).
    ReportedToGroup,
    /// The fault-analysis report was submitted (ESC-09).
    AnalysisSubmitted,
    /// The fault bulletin was published (ESC-12).
    BulletinPublished,
}

impl ClockCondition {
    /// Every condition, for listing.
    pub const ALL: &'static [ClockCondition] = &[
        ClockCondition::Resolved,
        ClockCondition::ProgressRecorded,
        ClockCondition::HandoffProgress,
        ClockCondition::HandoffReplied,
        ClockCondition::ReportedToGroup,
        ClockCondition::AnalysisSubmitted,
        ClockCondition::BulletinPublished,
    ];
}

/// Which escalation timers apply: escalated complaint, or a general fault by its SEV-06 sub-type (ESC-02, ESC-03).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultCategory {
    /// FL1/FL2, or a ticket put into the escalated-complaint flow (INC-04).
    Escalated,
    /// General fault affecting customers' communication / business handling / query (SEV-06).
    GeneralAffecting,
    /// General fault not affecting them (SEV-06).
    GeneralNotAffecting,
}

impl FaultCategory {
    /// The category of a ticket: escalated when FL1/FL2 or in the escalated flow (INC-04), else by SEV-06 sub-type.
    pub fn of(level: FaultLevel, escalated_flow: bool, affects_customers: bool) -> Self {
        if level >= FaultLevel::FL1 || escalated_flow {
            FaultCategory::Escalated
        } else if affects_customers {
            FaultCategory::GeneralAffecting
        } else {
            FaultCategory::GeneralNotAffecting
        }
    }
}

impl fmt::Display for FaultCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FaultCategory::Escalated => "escalated",
            FaultCategory::GeneralAffecting => "general_affecting",
            FaultCategory::GeneralNotAffecting => "general_not_affecting",
        })
    }
}

/// ESC-01: criteria for the immediate phone report to the room manager (C-1 boundaries as in the seed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImmediateReportPolicy {
    /// Rule ID (ESC-01).
    pub rule: String,
    /// (1) fault levels that require the report.
    pub levels: Vec<FaultLevel>,
    /// (2), (5) possibly affected customers, strictly more than (过百).
    pub possibly_affected_users_more_than: u64,
    /// (3) similar complaints received, at least (十单以上).
    pub similar_complaints_at_least: u64,
    /// (4) customers confirmed affected, at least (三十个以上).
    pub confirmed_users_at_least: u64,
    /// (6) system-level fault lasting or expected to last more than.
    pub system_outage_more_than: PolicyDuration,
    /// (7) functions unusable or expected to be more than.
    pub function_outage_more_than: PolicyDuration,
    /// (8) possible complaints, at least (20单以上).
    pub possible_complaints_at_least: u64,
    /// Role keys told.
    pub recipients: Vec<String>,
    /// Message template id.
    pub template: String,
}

/// INC-09: the emergency procedure starts when the same fault hits at least this many customers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmergencyPolicy {
    /// Rule ID (INC-09).
    pub rule: String,
    /// Proposed default 11 ("超过10个以上", 超过 exclusive).
    pub customers_at_least: u64,
    /// Role keys told.
    pub recipients: Vec<String>,
    /// Message template id.
    pub template: String,
}

/// BUG-03: a BUG must be reported to the room manager above these impacts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BugRoomManagerPolicy {
    /// Rule ID (BUG-03).
    pub rule: String,
    /// Affected customers, strictly more than (超过200).
    pub customers_more_than: u64,
    /// A complaint of this level or higher already raised (二级以上).
    pub cs_at_least: ComplaintLevel,
    /// Role keys told.
    pub recipients: Vec<String>,
    /// Message template id.
    pub template: String,
}

/// ESC-07: when the room manager must phone the centre manager. C-1 boundaries: 超过 excludes, 以上 includes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CentreManagerPolicy {
    /// Rule ID (ESC-07).
    pub rule: String,
    /// (1) customers complaining they cannot communicate although HLR re-provisioning was tried, more than.
    pub comm_failure_complaints_more_than: u64,
    /// (2) customers possibly unable to communicate, more than.
    pub possibly_comm_failure_users_more_than: u64,
    /// (3) customers complaining of wrongful suspension, more than.
    pub wrong_suspension_complaints_more_than: u64,
    /// (4) customers possibly wrongly suspended, more than.
    pub possibly_wrong_suspension_users_more_than: u64,
    /// (5) complaints of abnormal balance, charging, bank deduction or re-activation, more than.
    pub billing_anomaly_complaints_more_than: u64,
    /// (6) customers possibly hit by such billing anomalies, more than.
    pub possibly_billing_anomaly_users_more_than: u64,
    /// (7) self-service channels cannot query/print call details for more than.
    pub self_service_detail_outage_more_than: PolicyDuration,
    /// (8) BOSS, CC or IBOSS login impossible for more than.
    pub core_login_outage_more_than: PolicyDuration,
    /// (9) important data lost with no confirmed fix for more than.
    pub data_loss_unfixed_more_than: PolicyDuration,
    /// (10) red-list customers wrongly suspended or disturbed, at least.
    pub red_list_customers_at_least: u64,
    /// (11) other complaints, at least (250单以上) …
    pub other_complaints_at_least: u64,
    /// (11) … or customers possibly affected, more than.
    pub possibly_affected_users_more_than: u64,
    /// (12) system-login instability recurring in one calendar month, more than.
    pub login_instability_per_month_more_than: u64,
    /// (13) self-service-channel login failures recurring in one calendar month, more than.
    pub self_service_login_failures_per_month_more_than: u64,
    /// (14) BOSS/IBOSS interfaces with CC, HLR, bank active payment or SMP fully down for more than.
    pub core_interface_outage_more_than: PolicyDuration,
    /// (15) progress of complaints of this customer-service level or higher.
    pub cs_progress_at_least: ComplaintLevel,
    /// Role keys told (the room manager, who phones, and the centre manager).
    pub recipients: Vec<String>,
    /// Message template id.
    pub template: String,
}

/// ESC-02 / ESC-08: who is told again, at once, when impact may widen or a new symptom appears.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReReportPolicy {
    /// Once the room manager has been told (ESC-02).
    pub room_manager: ReReport,
    /// Once the centre manager has been told (ESC-08).
    pub centre_manager: ReReport,
}

/// One re-report target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReReport {
    /// Rule ID.
    pub rule: String,
    /// Role keys told.
    pub recipients: Vec<String>,
    /// Message template id.
    pub template: String,
}

/// The recipient key that means "the ticket's handler" rather than a role.
pub const HANDLER_RECIPIENT: &str = "handler";

impl EscalationPolicy {
    /// The clock rule called `key`.
    pub fn clock(&self, key: &str) -> Option<&ClockRule> {
        self.clocks.iter().find(|c| c.key == key)
    }

    /// Every recipient list with its path, for the cross-file check against roles.toml.
    pub(crate) fn recipient_lists(&self) -> Vec<(String, &[String])> {
        let mut v: Vec<(String, &[String])> = self
            .clocks
            .iter()
            .enumerate()
            .map(|(i, c)| (format!("clock[{i}].recipients"), c.recipients.as_slice()))
            .collect();
        v.push((
            "immediate_report.recipients".into(),
            &self.immediate_report.recipients,
        ));
        v.push(("emergency.recipients".into(), &self.emergency.recipients));
        v.push((
            "bug_room_manager.recipients".into(),
            &self.bug_room_manager.recipients,
        ));
        v.push((
            "centre_manager_report.recipients".into(),
            &self.centre_manager_report.recipients,
        ));
        v.push((
            "re_report.room_manager.recipients".into(),
            &self.re_report.room_manager.recipients,
        ));
        v.push((
            "re_report.centre_manager.recipients".into(),
            &self.re_report.centre_manager.recipients,
        ));
        v
    }

    /// Every message template id with its path, for the cross-file check against notifications.toml.
    pub(crate) fn templates(&self) -> Vec<(String, &str)> {
        let mut v: Vec<(String, &str)> = self
            .clocks
            .iter()
            .enumerate()
            .map(|(i, c)| (format!("clock[{i}].template"), c.template.as_str()))
            .collect();
        v.push((
            "immediate_report.template".into(),
            &self.immediate_report.template,
        ));
        v.push(("emergency.template".into(), &self.emergency.template));
        v.push((
            "bug_room_manager.template".into(),
            &self.bug_room_manager.template,
        ));
        v.push((
            "centre_manager_report.template".into(),
            &self.centre_manager_report.template,
        ));
        v.push((
            "re_report.room_manager.template".into(),
            &self.re_report.room_manager.template,
        ));
        v.push((
            "re_report.centre_manager.template".into(),
            &self.re_report.centre_manager.template,
        ));
        v
    }

    pub(crate) fn validate(&self, issues: &mut Vec<Issue>) {
        let mut keys = HashSet::new();
        for (i, c) in self.clocks.iter().enumerate() {
            let at = |f: &str| format!("clock[{i}].{f}");
            check_key(&at("key"), &c.key, issues);
            if !keys.insert(c.key.as_str()) {
                issues.push(Issue::new(
                    at("key"),
                    format!("duplicate clock key '{}'", c.key),
                ));
            }
            check_rule_id(&at("rule"), &c.rule, issues);
            check_key(&at("template"), &c.template, issues);
            for (name, b) in [("basis", Some(&c.basis)), ("repeat", c.repeat.as_ref())] {
                if let Some(b) = b {
                    if matches!(
                        b,
                        DeadlineBasis::WorkingDaysBefore { .. }
                            | DeadlineBasis::CalendarDaysBefore { .. }
                    ) {
                        issues.push(Issue::new(
                            at(name),
                            format!(
                                "'{b}' counts backwards from a date; a clock needs a forward basis"
                            ),
                        ));
                    }
                }
            }
            if c.stop.is_empty() {
                issues.push(Issue::new(at("stop"), "list at least one stop condition"));
            }
            let t = &c.trigger;
            let needs = |field: &str, present: bool, wanted: bool, issues: &mut Vec<Issue>| {
                if present != wanted {
                    let msg = if wanted {
                        format!("trigger '{}' needs {field}", on_name(t.on))
                    } else {
                        format!("trigger '{}' takes no {field}", on_name(t.on))
                    };
                    issues.push(Issue::new(format!("clock[{i}].trigger.{field}"), msg));
                }
            };
            needs(
                "level",
                t.level.is_some(),
                t.on == TriggerEvent::LevelReached,
                issues,
            );
            needs(
                "cs",
                t.cs.is_some(),
                t.on == TriggerEvent::CsLevelAtLeast,
                issues,
            );
            needs(
                "handoff",
                t.handoff.is_some(),
                t.on == TriggerEvent::HandoffStarted,
                issues,
            );
            needs(
                "min_level",
                t.min_level.is_some(),
                t.on == TriggerEvent::Resolved,
                issues,
            );
            for (j, sys) in t.systems.iter().enumerate() {
                // System keys are data (the systems table) and may contain '-', e.g. agent-portal.
                let ok = !sys.is_empty()
                    && sys.chars().all(|ch| {
                        ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-' || ch == '_'
                    });
                if !ok {
                    issues.push(Issue::new(
                        format!("clock[{i}].trigger.systems[{j}]"),
                        format!("'{sys}' is not a system key (a-z, 0-9, '-', '_')"),
                    ));
                }
            }
            if !t.categories.is_empty()
                && !matches!(
                    t.on,
                    TriggerEvent::HandoffStarted
                        | TriggerEvent::ReportedToRoomManager
                        | TriggerEvent::ReportedToCentreManager
                )
            {
                issues.push(Issue::new(
                    format!("clock[{i}].trigger.categories"),
                    format!("trigger '{}' takes no categories", on_name(t.on)),
                ));
            }
            if t.level == Some(FaultLevel::General) {
                issues.push(Issue::new(
                    format!("clock[{i}].trigger.level"),
                    "level_reached needs FL1 or FL2",
                ));
            }
            if let Some(other) = &c.never_later_than {
                match self.clock(other) {
                    None => issues.push(Issue::new(
                        at("never_later_than"),
                        format!("no clock with key '{other}'"),
                    )),
                    Some(o) => {
                        let wall = |b: &DeadlineBasis| matches!(b, DeadlineBasis::WallClock { .. });
                        if !wall(&c.basis) || !wall(&o.basis) {
                            issues.push(Issue::new(
                                at("never_later_than"),
                                "both clocks need wall-clock bases (e.g. 24h and 48h)",
                            ));
                        }
                        if o.trigger.on != TriggerEvent::LevelReached
                            || t.on != TriggerEvent::LevelReached
                        {
                            issues.push(Issue::new(
                                at("never_later_than"),
                                "only level_reached clocks can cap each other (ESC-04 upgrade rule)",
                            ));
                        }
                    }
                }
            }
        }
        let ir = &self.immediate_report;
        check_rule_id("immediate_report.rule", &ir.rule, issues);
        check_key("immediate_report.template", &ir.template, issues);
        check_rule_id("emergency.rule", &self.emergency.rule, issues);
        check_key("emergency.template", &self.emergency.template, issues);
        check_rule_id("bug_room_manager.rule", &self.bug_room_manager.rule, issues);
        let cm = &self.centre_manager_report;
        check_rule_id("centre_manager_report.rule", &cm.rule, issues);
        check_key("centre_manager_report.template", &cm.template, issues);
        for (name, r) in [
            ("room_manager", &self.re_report.room_manager),
            ("centre_manager", &self.re_report.centre_manager),
        ] {
            check_rule_id(&format!("re_report.{name}.rule"), &r.rule, issues);
            check_key(&format!("re_report.{name}.template"), &r.template, issues);
        }
        check_key(
            "bug_room_manager.template",
            &self.bug_room_manager.template,
            issues,
        );
        for (path, list) in self.recipient_lists() {
            if list.is_empty() {
                issues.push(Issue::new(path, "list at least one recipient"));
            }
        }
    }
}

fn on_name(e: TriggerEvent) -> &'static str {
    match e {
        TriggerEvent::Received => "received",
        TriggerEvent::LevelReached => "level_reached",
        TriggerEvent::CsLevelAtLeast => "cs_level_at_least",
        TriggerEvent::HandoffStarted => "handoff_started",
        TriggerEvent::ReportedToRoomManager => "reported_to_room_manager",
        TriggerEvent::ReportedToCentreManager => "reported_to_centre_manager",
        TriggerEvent::Resolved => "resolved",
    }
}
