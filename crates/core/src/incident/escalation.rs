//! The escalation planner (ESC-01..ESC-09, ESC-12, INC-06, INC-09, C-5): from one incident event and the incident as it
//! is after that event, the clock commands the shared clock service must carry out. Pure: the durable timers,
//! the outbox and the message rendering live elsewhere.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tianshu_workcal::{add_wall_clock, DeadlineBasis};

use super::centre::centre_manager_criteria;
use super::model::{HandoffKind, IncidentState};
use super::severity::{
    emergency_trigger, immediate_report_criteria, FiredCriterion, IncidentFacts,
};
use crate::policy::{ClockCondition, ClockRule, EscalationPolicy, FaultCategory, TriggerEvent};
use crate::severity::{ComplaintLevel, FaultLevel};

/// The subject kind of every incident clock.
pub const INCIDENT_SUBJECT: &str = "incident";

/// Identifies one clock: subject kind + subject id + clock key (unique among the subject's live clocks).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ClockKey {
    /// Always [`INCIDENT_SUBJECT`] here.
    pub subject_kind: String,
    /// The incident id.
    pub subject_id: String,
    /// The rule's key, plus `/<hand-off id>` for per-hand-off clocks.
    pub clock_key: String,
}

/// Something that happened to an incident, as the planner needs to know it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum IncidentEvent {
    /// The ticket was received (INC-06).
    Received {
        /// When.
        at: DateTime<Utc>,
    },
    /// The fault level changed: first classification, automatic raise or manual lowering (SEV-07, C-5).
    LevelChanged {
        /// Previous level, `None` at the first classification.
        from: Option<FaultLevel>,
        /// New level.
        to: FaultLevel,
        /// When.
        at: DateTime<Utc>,
    },
    /// Customer service set or changed the complaint level (SEV-08, ESC-05).
    CsLevelChanged {
        /// Previous level.
        from: Option<ComplaintLevel>,
        /// New level.
        to: ComplaintLevel,
        /// When.
        at: DateTime<Utc>,
    },
    /// Other facts changed (counts, possible impact); only immediate reports can follow (ESC-01, INC-09).
    FactsChanged {
        /// When.
        at: DateTime<Utc>,
    },
    /// A hand-off started (INC-03, ESC-02).
    HandoffStarted {
        /// The hand-off's id.
        handoff_id: String,
        /// To whom.
        kind: HandoffKind,
        /// When.
        at: DateTime<Utc>,
    },
    /// The hand-off's receiver reported substantive progress (ESC-02).
    HandoffProgress {
        /// The hand-off's id.
        handoff_id: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// The hand-off was answered (INC-03).
    HandoffReplied {
        /// The hand-off's id.
        handoff_id: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// The handler reported the fault to the room manager (ESC-01, starts ESC-03).
    ReportedToRoomManager {
        /// When.
        at: DateTime<Utc>,
    },
    /// A progress entry was written (INC-06).
    ProgressRecorded {
        /// When.
        at: DateTime<Utc>,
    },
    /// The room manager reported the fault to the centre manager (ESC-07, starts ESC-08).
    ReportedToCentreManager {
        /// When.
        at: DateTime<Utc>,
    },
    /// The impact may widen: a count or size of impact grew (ESC-02, ESC-08 re-report).
    ImpactWidened {
        /// When.
        at: DateTime<Utc>,
    },
    /// A new symptom appeared (ESC-02, ESC-08 re-report).
    NewSymptom {
        /// When.
        at: DateTime<Utc>,
    },
    /// The fault was reported to the group (ESC-09).
    ReportedToGroup {
        /// When.
        at: DateTime<Utc>,
    },
    /// The fault-analysis report was submitted (ESC-09).
    AnalysisSubmitted {
        /// When.
        at: DateTime<Utc>,
    },
    /// The fault bulletin was published (ESC-12).
    BulletinPublished {
        /// When.
        at: DateTime<Utc>,
    },
    /// The workflow state changed (pauses, resolution, reopening).
    StateChanged {
        /// Previous state.
        from: IncidentState,
        /// New state.
        to: IncidentState,
        /// When.
        at: DateTime<Utc>,
    },
}

impl IncidentEvent {
    /// When the event happened.
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            IncidentEvent::Received { at }
            | IncidentEvent::LevelChanged { at, .. }
            | IncidentEvent::CsLevelChanged { at, .. }
            | IncidentEvent::FactsChanged { at }
            | IncidentEvent::HandoffStarted { at, .. }
            | IncidentEvent::HandoffProgress { at, .. }
            | IncidentEvent::HandoffReplied { at, .. }
            | IncidentEvent::ReportedToRoomManager { at }
            | IncidentEvent::ProgressRecorded { at }
            | IncidentEvent::ReportedToCentreManager { at }
            | IncidentEvent::ImpactWidened { at }
            | IncidentEvent::NewSymptom { at }
            | IncidentEvent::ReportedToGroup { at }
            | IncidentEvent::AnalysisSubmitted { at }
            | IncidentEvent::BulletinPublished { at }
            | IncidentEvent::StateChanged { at, .. } => *at,
        }
    }
}

/// The incident as it is after the event was applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentSnapshot {
    /// Incident id (the clocks' subject id).
    pub id: String,
    /// Workflow state.
    pub state: IncidentState,
    /// Current fault level.
    pub level: FaultLevel,
    /// When the ticket was (last) classified FL1; the ESC-04 upgrade rule caps the FL2 due from it.
    pub fl1_classified_at: Option<DateTime<Utc>>,
    /// The pre-processor judged an escalated-complaint tendency (INC-04): the escalated timers apply.
    pub escalated_flow: bool,
    /// Current facts (aggregated over merged reports).
    pub facts: IncidentFacts,
    /// Vendor hand-offs still awaiting their reply, by id (ESC-02).
    pub open_vendor_handoffs: Vec<String>,
    /// Whether the fault has been reported to the room manager (ESC-03 runs after that).
    pub reported_to_room_manager: bool,
    /// Whether the fault has been reported to the centre manager (ESC-08 runs after that).
    pub reported_to_centre_manager: bool,
    /// The affected system's key; clocks may be limited to systems (ESC-09 CRM, ESC-12 agent portal). ESC-06:
    /// which room or department owns the fault plays no part — the obligations follow the affected system.
    pub system: Option<String>,
    /// Tickets of the same recurring fault kind in this ticket's calendar month, this one included (ESC-07 (12),
    /// (13)).
    pub recurrences_this_month: u64,
    /// Keys of immediate-report criteria already sent (`ESC-01:similar_complaints`, `INC-09:…`), so each is sent once.
    pub notified: Vec<String>,
}

impl IncidentSnapshot {
    /// ESC-02/ESC-03 category of the ticket now.
    pub fn category(&self) -> FaultCategory {
        FaultCategory::of(
            self.level,
            self.escalated_flow,
            self.facts.affects_customers,
        )
    }
}

/// Why a clock is stopped; the clock service decides met or breached from the time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// One of the rule's stop conditions happened.
    Condition(ClockCondition),
    /// Ended to start afresh (restart_on).
    Restarted(ClockCondition),
    /// Replaced by a clock of a higher level or another category (C-5, ESC-04 upgrade).
    Superseded,
    /// The level was lowered manually (SEV-07).
    Lowered,
}

/// One thing the clock service must do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum ClockCommand {
    /// Start a clock (a live clock with the same key is left alone by the clock service).
    Start {
        /// Which clock.
        key: ClockKey,
        /// Rule ID.
        rule: String,
        /// Due basis counted from `start_at`.
        basis: DeadlineBasis,
        /// Start instant (may precede the event: ESC-04 upgrade cap).
        start_at: DateTime<Utc>,
        /// Cadence.
        repeat: Option<DeadlineBasis>,
        /// Role keys, or `handler`.
        recipients: Vec<String>,
        /// Message template id.
        template: String,
    },
    /// Stop a clock if it is live.
    Stop {
        /// Which clock.
        key: ClockKey,
        /// Why.
        outcome: StopReason,
        /// When.
        at: DateTime<Utc>,
    },
    /// Pause a clock.
    Pause {
        /// Which clock.
        key: ClockKey,
        /// When.
        at: DateTime<Utc>,
    },
    /// Resume a paused clock.
    Resume {
        /// Which clock.
        key: ClockKey,
        /// When.
        at: DateTime<Utc>,
    },
    /// Send a message now (ESC-01, INC-09); not a timer.
    Notify {
        /// Rule ID.
        rule: String,
        /// Role keys.
        recipients: Vec<String>,
        /// Message template id.
        template: String,
        /// The criteria that fired, with text for the message.
        criteria: Vec<FiredCriterion>,
    },
}

/// Plans the clock commands for `event` on the incident `snap` (as it is after the event).
pub fn plan_on(
    event: &IncidentEvent,
    snap: &IncidentSnapshot,
    policy: &EscalationPolicy,
) -> Vec<ClockCommand> {
    let mut p = Planner {
        snap,
        policy,
        out: Vec::new(),
    };
    let at = event.at();
    match event {
        IncidentEvent::Received { .. } => {
            p.start_where(at, |r| r.trigger.on == TriggerEvent::Received)
        }
        IncidentEvent::LevelChanged { from, to, .. } => {
            p.level_changed(*from, *to, at);
            p.immediate();
        }
        IncidentEvent::CsLevelChanged { from, to, .. } => {
            p.start_where(at, |r| {
                r.trigger.on == TriggerEvent::CsLevelAtLeast
                    && r.trigger
                        .cs
                        .is_some_and(|cs| *to >= cs && from.is_none_or(|f| f < cs))
            });
            p.immediate();
        }
        IncidentEvent::FactsChanged { .. } => {
            p.recategorise(at);
            p.immediate();
        }
        IncidentEvent::HandoffStarted {
            handoff_id, kind, ..
        } => {
            let cat = snap.category();
            for r in &policy.clocks {
                let t = &r.trigger;
                if t.on == TriggerEvent::HandoffStarted
                    && t.handoff == Some(*kind)
                    && (t.categories.is_empty() || t.categories.contains(&cat))
                {
                    p.start(r, Some(handoff_id), at);
                }
            }
        }
        IncidentEvent::HandoffProgress { handoff_id, .. } => {
            p.condition(ClockCondition::HandoffProgress, Some(handoff_id), at)
        }
        IncidentEvent::HandoffReplied { handoff_id, .. } => {
            p.condition(ClockCondition::HandoffReplied, Some(handoff_id), at)
        }
        IncidentEvent::ReportedToRoomManager { .. } => {
            let cat = snap.category();
            p.start_where(at, |r| {
                r.trigger.on == TriggerEvent::ReportedToRoomManager
                    && (r.trigger.categories.is_empty() || r.trigger.categories.contains(&cat))
            });
        }
        IncidentEvent::ReportedToCentreManager { .. } => {
            let cat = snap.category();
            p.start_where(at, |r| {
                r.trigger.on == TriggerEvent::ReportedToCentreManager
                    && (r.trigger.categories.is_empty() || r.trigger.categories.contains(&cat))
            });
        }
        IncidentEvent::ImpactWidened { .. } => p.re_report("impact_widened", at),
        IncidentEvent::NewSymptom { .. } => p.re_report("new_symptom", at),
        IncidentEvent::ReportedToGroup { .. } => {
            p.condition(ClockCondition::ReportedToGroup, None, at)
        }
        IncidentEvent::AnalysisSubmitted { .. } => {
            p.condition(ClockCondition::AnalysisSubmitted, None, at)
        }
        IncidentEvent::BulletinPublished { .. } => {
            p.condition(ClockCondition::BulletinPublished, None, at)
        }
        IncidentEvent::ProgressRecorded { .. } => {
            p.condition(ClockCondition::ProgressRecorded, None, at)
        }
        IncidentEvent::StateChanged { from, to, .. } => p.state_changed(*from, *to, at),
    }
    p.out
}

struct Planner<'a> {
    snap: &'a IncidentSnapshot,
    policy: &'a EscalationPolicy,
    out: Vec<ClockCommand>,
}

impl Planner<'_> {
    fn key(&self, rule: &ClockRule, handoff: Option<&String>) -> ClockKey {
        ClockKey {
            subject_kind: INCIDENT_SUBJECT.to_string(),
            subject_id: self.snap.id.clone(),
            clock_key: match handoff {
                Some(h) => format!("{}/{h}", rule.key),
                None => rule.key.clone(),
            },
        }
    }

    /// Keys a rule can have live on this incident: one per open vendor hand-off for hand-off rules.
    fn live_keys(&self, rule: &ClockRule) -> Vec<ClockKey> {
        if rule.trigger.on == TriggerEvent::HandoffStarted {
            self.snap
                .open_vendor_handoffs
                .iter()
                .map(|h| self.key(rule, Some(h)))
                .collect()
        } else {
            vec![self.key(rule, None)]
        }
    }

    /// Whether the rule's system filter admits this ticket (ESC-09, ESC-12).
    fn for_this_system(&self, rule: &ClockRule) -> bool {
        let systems = &rule.trigger.systems;
        systems.is_empty()
            || self
                .snap
                .system
                .as_ref()
                .is_some_and(|s| systems.contains(s))
    }

    fn start(&mut self, rule: &ClockRule, handoff: Option<&String>, start_at: DateTime<Utc>) {
        if !self.for_this_system(rule) {
            return;
        }
        self.out.push(ClockCommand::Start {
            key: self.key(rule, handoff),
            rule: rule.rule.clone(),
            basis: rule.basis.clone(),
            start_at,
            repeat: rule.repeat.clone(),
            recipients: rule.recipients.clone(),
            template: rule.template.clone(),
        });
    }

    fn start_where(&mut self, at: DateTime<Utc>, pred: impl Fn(&ClockRule) -> bool) {
        for r in self.policy.clocks.iter().filter(|r| pred(r)) {
            self.start(r, None, at);
        }
    }

    fn stop(&mut self, key: ClockKey, outcome: StopReason, at: DateTime<Utc>) {
        self.out.push(ClockCommand::Stop { key, outcome, at });
    }

    /// C-5, ESC-04: the clock of the level reached starts now; clocks of other levels end.
    fn level_changed(&mut self, from: Option<FaultLevel>, to: FaultLevel, at: DateTime<Utc>) {
        let lowered = from.is_some_and(|f| to < f);
        for r in &self.policy.clocks {
            let Some(level) = r
                .trigger
                .level
                .filter(|_| r.trigger.on == TriggerEvent::LevelReached)
            else {
                continue;
            };
            if level == to {
                let start_at = self.capped_start(r, at);
                self.start(r, None, start_at);
            } else if from == Some(level) {
                let why = if lowered {
                    StopReason::Lowered
                } else {
                    StopReason::Superseded
                };
                self.stop(self.key(r, None), why, at);
            }
        }
        self.recategorise(at);
    }

    /// ESC-04 upgrade rule (Proposed default): a capped clock starts at `at` but is due no later than the capping
    /// clock would have been, i.e. it starts at min(at, cap_due − basis). Both bases are wall-clock (validated).
    fn capped_start(&self, r: &ClockRule, at: DateTime<Utc>) -> DateTime<Utc> {
        let Some(cap_rule) = r
            .never_later_than
            .as_deref()
            .and_then(|k| self.policy.clock(k))
        else {
            return at;
        };
        let (
            Some(since),
            DeadlineBasis::WallClock { seconds: cap },
            DeadlineBasis::WallClock { seconds: own },
        ) = (
            self.snap
                .fl1_classified_at
                .filter(|_| cap_rule.trigger.level == Some(FaultLevel::FL1)),
            &cap_rule.basis,
            &r.basis,
        )
        else {
            return at;
        };
        match add_wall_clock(since, cap - own, &[]) {
            Ok(latest) if latest < at => latest.max(since),
            _ => at,
        }
    }

    /// A category change (level raised or lowered, INC-04 flag, SEV-06 sub-type) swaps the category-bound clocks:
    /// the old category's clock ends and the new one starts now (C-5).
    fn recategorise(&mut self, at: DateTime<Utc>) {
        let cat = self.snap.category();
        let mut starts = Vec::new();
        let mut stops = Vec::new();
        for r in &self.policy.clocks {
            let t = &r.trigger;
            if t.categories.is_empty() {
                continue;
            }
            let applies = t.categories.contains(&cat);
            let handoffs: Vec<Option<&String>> = match t.on {
                TriggerEvent::HandoffStarted => {
                    if t.handoff != Some(HandoffKind::Vendor) {
                        continue;
                    }
                    self.snap.open_vendor_handoffs.iter().map(Some).collect()
                }
                TriggerEvent::ReportedToRoomManager if self.snap.reported_to_room_manager => {
                    vec![None]
                }
                TriggerEvent::ReportedToCentreManager if self.snap.reported_to_centre_manager => {
                    vec![None]
                }
                _ => continue,
            };
            for h in handoffs {
                if applies {
                    starts.push((r, h));
                } else {
                    stops.push(self.key(r, h));
                }
            }
        }
        // Stop before start, so the clock service never has two clocks of one rule family live at once.
        for k in stops {
            self.stop(k, StopReason::Superseded, at);
        }
        for (r, h) in starts {
            self.start(r, h, at);
        }
    }

    /// Stop or restart every clock listing `cond` (for hand-off conditions, only that hand-off's clocks).
    fn condition(&mut self, cond: ClockCondition, handoff: Option<&String>, at: DateTime<Utc>) {
        let cat = self.snap.category();
        for r in &self.policy.clocks {
            let keys = match handoff {
                Some(h) if r.trigger.on == TriggerEvent::HandoffStarted => {
                    vec![self.key(r, Some(h))]
                }
                Some(_) => continue,
                None => self.live_keys(r),
            };
            if r.stop.contains(&cond) {
                for k in keys {
                    self.stop(k, StopReason::Condition(cond), at);
                }
            } else if r.restart_on.contains(&cond) {
                // A restart only makes sense for a clock that applies now (e.g. the current category).
                if (!r.trigger.categories.is_empty() && !r.trigger.categories.contains(&cat))
                    || !self.for_this_system(r)
                {
                    continue;
                }
                for k in keys {
                    self.stop(k.clone(), StopReason::Restarted(cond), at);
                    self.out.push(ClockCommand::Start {
                        key: k,
                        rule: r.rule.clone(),
                        basis: r.basis.clone(),
                        start_at: at,
                        repeat: r.repeat.clone(),
                        recipients: r.recipients.clone(),
                        template: r.template.clone(),
                    });
                }
            }
        }
    }

    fn state_changed(&mut self, from: IncidentState, to: IncidentState, at: DateTime<Utc>) {
        if from.is_open() && !to.is_open() {
            self.condition(ClockCondition::Resolved, None, at);
            // ESC-09: obligations that start when handling ends (the fault-analysis report).
            if to != IncidentState::Cancelled {
                let level = self.snap.level;
                self.start_where(at, |r| {
                    r.trigger.on == TriggerEvent::Resolved
                        && r.trigger.min_level.is_none_or(|m| level >= m)
                });
            }
            return;
        }
        if !from.is_open() && to.is_open() {
            // Reopened: the obligations of an open ticket start again from the reopening (C-5).
            self.start_where(at, |r| r.trigger.on == TriggerEvent::Received);
            self.level_changed(None, self.snap.level, at);
            if let Some(cs) = self.snap.facts.cs_level {
                self.start_where(at, |r| {
                    r.trigger.on == TriggerEvent::CsLevelAtLeast
                        && r.trigger.cs.is_some_and(|t| cs >= t)
                });
            }
            return;
        }
        for r in &self.policy.clocks {
            let (was, is) = (r.pause_in.contains(&from), r.pause_in.contains(&to));
            for k in self.live_keys(r) {
                match (was, is) {
                    (false, true) => self.out.push(ClockCommand::Pause { key: k, at }),
                    (true, false) => self.out.push(ClockCommand::Resume { key: k, at }),
                    _ => {}
                }
            }
        }
    }

    /// ESC-01 and INC-09: one immediate message per rule for criteria not yet notified.
    fn immediate(&mut self) {
        let ir = &self.policy.immediate_report;
        let fresh = |c: &FiredCriterion| !self.snap.notified.contains(&notified_key(c));
        let esc01: Vec<FiredCriterion> =
            immediate_report_criteria(self.snap.level, &self.snap.facts, ir)
                .into_iter()
                .filter(fresh)
                .collect();
        if !esc01.is_empty() {
            self.out.push(ClockCommand::Notify {
                rule: ir.rule.clone(),
                recipients: ir.recipients.clone(),
                template: ir.template.clone(),
                criteria: esc01,
            });
        }
        let cm = &self.policy.centre_manager_report;
        let esc07: Vec<FiredCriterion> =
            centre_manager_criteria(&self.snap.facts, self.snap.recurrences_this_month, cm)
                .into_iter()
                .filter(fresh)
                .collect();
        if !esc07.is_empty() {
            self.out.push(ClockCommand::Notify {
                rule: cm.rule.clone(),
                recipients: cm.recipients.clone(),
                template: cm.template.clone(),
                criteria: esc07,
            });
        }
        let em = &self.policy.emergency;
        if let Some(c) = emergency_trigger(&self.snap.facts, em).filter(fresh) {
            self.out.push(ClockCommand::Notify {
                rule: em.rule.clone(),
                recipients: em.recipients.clone(),
                template: em.template.clone(),
                criteria: vec![c],
            });
        }
    }
}

impl Planner<'_> {
    /// ESC-02 / ESC-08: impact may widen or a new symptom appeared — whoever has been told is told again at once.
    /// Each occurrence is its own message, so its key carries the instant.
    fn re_report(&mut self, what: &str, at: DateTime<Utc>) {
        let rr = &self.policy.re_report;
        let targets = [
            (self.snap.reported_to_room_manager, &rr.room_manager),
            (self.snap.reported_to_centre_manager, &rr.centre_manager),
        ];
        for (told, r) in targets {
            if !told {
                continue;
            }
            let (zh, en) = match what {
                "new_symptom" => (
                    "出现新的故障现象,立即再次上报",
                    "a new symptom appeared: re-report at once",
                ),
                _ => (
                    "影响范围可能扩大,立即再次上报",
                    "impact may widen: re-report at once",
                ),
            };
            self.out.push(ClockCommand::Notify {
                rule: r.rule.clone(),
                recipients: r.recipients.clone(),
                template: r.template.clone(),
                criteria: vec![FiredCriterion {
                    rule: r.rule.clone(),
                    item: 0,
                    key: format!("{what}@{}", at.timestamp_micros()),
                    text_zh: format!("{zh} ({})", r.rule),
                    text_en: format!("{en} ({})", r.rule),
                }],
            });
        }
    }
}

/// The key recorded in [`IncidentSnapshot::notified`] once a criterion has been sent: `RULE:key`.
pub fn notified_key(c: &FiredCriterion) -> String {
    format!("{}:{}", c.rule, c.key)
}
