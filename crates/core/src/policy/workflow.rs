//! incident_workflow.toml: the incident lifecycle as data (INC-01..INC-05) plus the DUP-01/DUP-04 settings.
//! States, actions and permissions stay strings in the raw file so every bad entry is reported with its index.

use std::collections::{BTreeSet, HashSet, VecDeque};

use serde::{Deserialize, Serialize};

use super::error::Issue;
use super::roles::Permission;
use super::units::{check_rule_id, PolicyDuration};
use crate::incident::{Action, IncidentState};

/// The validated workflow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IncidentWorkflow {
    /// The state every incident starts in.
    pub initial: IncidentState,
    /// Allowed moves, in file order (the order [`crate::incident::allowed_actions`] lists them).
    pub transitions: Vec<Transition>,
    /// DUP-01 duplicate suggestion settings.
    pub duplicates: DuplicatePolicy,
    /// DUP-04 multi-dispatch settings.
    pub multi_dispatch: MultiDispatchPolicy,
}

/// One allowed move: from any of `from`, `action` leads to `to` for a user holding `permission`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transition {
    /// States the move starts from.
    pub from: Vec<IncidentState>,
    /// The action asked for.
    pub action: Action,
    /// The resulting state; `None` keeps the current state (e.g. classify, lower_severity).
    pub to: Option<IncidentState>,
    /// Permission the actor must hold.
    pub permission: Permission,
    /// The actor must differ from the ticket's handler (INC-05 review by a different person).
    pub four_eyes: bool,
    /// A non-empty reason must accompany the move.
    pub reason_required: bool,
    /// Rule IDs the move implements.
    pub rules: Vec<String>,
}

/// DUP-01 Proposed default: suggest reports of the same system and symptom category within `window`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DuplicatePolicy {
    /// Rule ID (DUP-01).
    pub rule: String,
    /// Two reports are candidates when their receipt times are at most this far apart.
    pub window: PolicyDuration,
    /// DUP-01: every merged (non-representative) report is dispatched to the branch of its home city for
    /// verification, as a branch hand-off of that report.
    pub route_reports_to_branch: bool,
}

/// DUP-04 Proposed default: a parent with N child tasks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultiDispatchPolicy {
    /// Rule ID (DUP-04).
    pub rule: String,
    /// The parent may close only when every child is closed or cancelled.
    pub close_parent_requires_children_done: bool,
}

impl IncidentWorkflow {
    /// The transition for `action` from `state`, if the pack defines one.
    pub fn find(&self, state: IncidentState, action: Action) -> Option<&Transition> {
        self.transitions
            .iter()
            .find(|t| t.action == action && t.from.contains(&state))
    }
}

/// incident_workflow.toml as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WorkflowFile {
    pub initial: String,
    #[serde(default)]
    pub transition: Vec<RawTransition>,
    pub duplicates: DuplicatePolicy,
    pub multi_dispatch: MultiDispatchPolicy,
}

/// One `[[transition]]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTransition {
    pub from: Vec<String>,
    pub action: String,
    #[serde(default)]
    pub to: Option<String>,
    pub permission: String,
    #[serde(default)]
    pub four_eyes: bool,
    #[serde(default)]
    pub reason_required: bool,
    #[serde(default)]
    pub rules: Vec<String>,
}

/// Actions whose rules demand a reason: cancel and reopen (issue "Incident lifecycle"), lowering (SEV-07).
const NEEDS_REASON: [Action; 3] = [Action::Cancel, Action::Reopen, Action::LowerSeverity];
/// Audit decisions must be taken by someone other than the handler (INC-05).
const NEEDS_FOUR_EYES: [Action; 2] = [Action::Approve, Action::ReturnForRework];

impl WorkflowFile {
    /// Checks every entry; returns the workflow only when the whole file is valid.
    pub(crate) fn validate(&self, issues: &mut Vec<Issue>) -> Option<IncidentWorkflow> {
        let before = issues.len();
        let state =
            |path: String, s: &str, issues: &mut Vec<Issue>| match s.parse::<IncidentState>() {
                Ok(v) => Some(v),
                Err(e) => {
                    issues.push(Issue::new(path, e.to_string()));
                    None
                }
            };
        let initial = state("initial".into(), &self.initial, issues);
        let mut transitions = Vec::new();
        let mut seen: HashSet<(IncidentState, Action)> = HashSet::new();
        if self.transition.is_empty() {
            issues.push(Issue::new(
                "transition",
                "at least one [[transition]] is required",
            ));
        }
        for (i, t) in self.transition.iter().enumerate() {
            let at = |f: &str| format!("transition[{i}].{f}");
            let action = match t.action.parse::<Action>() {
                Ok(a) => Some(a),
                Err(e) => {
                    issues.push(Issue::new(at("action"), e.to_string()));
                    None
                }
            };
            if t.from.is_empty() {
                issues.push(Issue::new(at("from"), "list at least one state"));
            }
            let mut from = Vec::new();
            for (j, f) in t.from.iter().enumerate() {
                if let Some(s) = state(format!("transition[{i}].from[{j}]"), f, issues) {
                    if let Some(a) = action {
                        if !seen.insert((s, a)) {
                            issues.push(Issue::new(
                                format!("transition[{i}].from[{j}]"),
                                format!(
                                    "'{a}' from '{s}' is already defined by an earlier transition"
                                ),
                            ));
                        }
                    }
                    from.push(s);
                }
            }
            let to = match &t.to {
                Some(s) => state(at("to"), s, issues).map(Some),
                None => Some(None),
            };
            let permission = match t.permission.parse::<Permission>() {
                Ok(p) => Some(p),
                Err(e) => {
                    issues.push(Issue::new(at("permission"), e.to_string()));
                    None
                }
            };
            for (j, r) in t.rules.iter().enumerate() {
                check_rule_id(&format!("transition[{i}].rules[{j}]"), r, issues);
            }
            if let Some(a) = action {
                if NEEDS_REASON.contains(&a) && !t.reason_required {
                    issues.push(Issue::new(
                        at("reason_required"),
                        format!("'{a}' must require a reason (set reason_required = true)"),
                    ));
                }
                if NEEDS_FOUR_EYES.contains(&a) && !t.four_eyes {
                    issues.push(Issue::new(
                        at("four_eyes"),
                        format!("'{a}' is an audit decision and must be taken by someone other than the handler (INC-05); set four_eyes = true"),
                    ));
                }
            }
            if let (Some(action), Some(to), Some(permission)) = (action, to, permission) {
                transitions.push(Transition {
                    from,
                    action,
                    to,
                    permission,
                    four_eyes: t.four_eyes,
                    reason_required: t.reason_required,
                    rules: t.rules.clone(),
                });
            }
        }
        check_rule_id("duplicates.rule", &self.duplicates.rule, issues);
        if self.duplicates.window.seconds() <= 0 {
            issues.push(Issue::new("duplicates.window", "must be longer than zero"));
        }
        check_rule_id("multi_dispatch.rule", &self.multi_dispatch.rule, issues);
        let initial = initial?;
        if issues.len() != before {
            return None;
        }
        // Every state must be reachable, or a typo in `to` silently strands part of the lifecycle.
        let mut reached = BTreeSet::from([initial]);
        let mut queue = VecDeque::from([initial]);
        while let Some(s) = queue.pop_front() {
            for t in transitions.iter().filter(|t| t.from.contains(&s)) {
                if let Some(to) = t.to {
                    if reached.insert(to) {
                        queue.push_back(to);
                    }
                }
            }
        }
        for s in IncidentState::ALL.iter().filter(|s| !reached.contains(s)) {
            issues.push(Issue::new(
                "transition",
                format!("state '{s}' cannot be reached from '{initial}'"),
            ));
        }
        (issues.len() == before).then(|| IncidentWorkflow {
            initial,
            transitions,
            duplicates: self.duplicates.clone(),
            multi_dispatch: self.multi_dispatch.clone(),
        })
    }
}
