//! Pure workflow evaluation over the pack's transition table (INC-01..INC-05, DUP-04): which actions a user may
//! take now, and what one action does.

use serde::Serialize;

use super::model::{Action, IncidentState};
use crate::policy::{IncidentWorkflow, Permission};

/// Who asks: the acting user and the permissions they hold on this incident.
#[derive(Debug, Clone, Copy)]
pub struct ActorCtx<'a> {
    /// Stable user id, compared with the handler for four-eyes.
    pub user_id: &'a str,
    /// Permissions the user holds (already narrowed to the incident's scope by the caller).
    pub permissions: &'a [Permission],
}

/// What the guards need to know about the incident beyond its state.
#[derive(Debug, Clone, Copy, Default)]
pub struct IncidentCtx<'a> {
    /// The user who pre-processed (accepted) the ticket; the auditor must differ (INC-05).
    pub handler_id: Option<&'a str>,
    /// Dispatch children not yet closed or cancelled (DUP-04).
    pub open_children: usize,
    /// Hand-offs still awaiting their reply (INC-03).
    pub open_handoffs: usize,
}

/// Why a move was refused. Stable codes come from [`TransitionError::code`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum TransitionError {
    /// The action does not apply in this state for this user; `allowed` lists what does.
    #[error(
        "'{action}' is not allowed in state '{state}'; allowed: {}",
        list(allowed)
    )]
    NotAllowed {
        /// Current state.
        state: IncidentState,
        /// The refused action.
        action: Action,
        /// What the user may do instead.
        allowed: Vec<Action>,
    },
    /// The actor is the ticket's handler, and the move needs a different person (INC-05).
    #[error(
        "'{action}' must be done by someone other than the handler '{user_id}' (four-eyes, INC-05)"
    )]
    FourEyes {
        /// The refused action.
        action: Action,
        /// The actor, who is also the handler.
        user_id: String,
    },
    /// The move needs a non-empty reason.
    #[error("'{action}' requires a reason")]
    ReasonRequired {
        /// The refused action.
        action: Action,
    },
    /// The parent cannot close while dispatch children are open (DUP-04).
    #[error("{open} dispatch child task(s) are still open; close or cancel them first (DUP-04)")]
    ChildrenOpen {
        /// How many children are open.
        open: usize,
    },
    /// A reply was recorded but no hand-off is open (INC-03).
    #[error("no hand-off is awaiting a reply")]
    NoOpenHandoff,
}

impl TransitionError {
    /// Stable machine-readable code for problem+json.
    pub fn code(&self) -> &'static str {
        match self {
            TransitionError::NotAllowed { .. } => "transition_not_allowed",
            TransitionError::FourEyes { .. } => "four_eyes_violation",
            TransitionError::ReasonRequired { .. } => "reason_required",
            TransitionError::ChildrenOpen { .. } => "children_open",
            TransitionError::NoOpenHandoff => "no_open_handoff",
        }
    }
}

fn list(actions: &[Action]) -> String {
    if actions.is_empty() {
        return "(none)".to_string();
    }
    actions
        .iter()
        .map(|a| a.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every action `actor` may take on an incident in `state`, in pack order, with every guard applied, so the API
/// can list exactly what would succeed (a reason-requiring action is listed; the reason is asked for on submit).
pub fn allowed_actions(
    wf: &IncidentWorkflow,
    state: IncidentState,
    actor: &ActorCtx<'_>,
    incident: &IncidentCtx<'_>,
) -> Vec<Action> {
    let mut out = Vec::new();
    for t in wf.transitions.iter().filter(|t| t.from.contains(&state)) {
        if !out.contains(&t.action) && check(wf, t, actor, incident).is_ok() {
            out.push(t.action);
        }
    }
    out
}

/// Applies `action`: the resulting state, or why it is refused. `reason` is checked only where the pack
/// requires one.
pub fn transition(
    wf: &IncidentWorkflow,
    state: IncidentState,
    action: Action,
    actor: &ActorCtx<'_>,
    incident: &IncidentCtx<'_>,
    reason: Option<&str>,
) -> Result<IncidentState, TransitionError> {
    let not_allowed = || TransitionError::NotAllowed {
        state,
        action,
        allowed: allowed_actions(wf, state, actor, incident),
    };
    let t = wf.find(state, action).ok_or_else(not_allowed)?;
    if !actor.permissions.contains(&t.permission) {
        return Err(not_allowed());
    }
    check(wf, t, actor, incident)?;
    if t.reason_required && reason.is_none_or(|r| r.trim().is_empty()) {
        return Err(TransitionError::ReasonRequired { action });
    }
    let to = t.to.unwrap_or(state);
    // INC-03: each hand-off is tracked separately, so the ticket leaves handed_off only with its last reply.
    if action == Action::ReceiveReply && incident.open_handoffs > 1 {
        return Ok(IncidentState::HandedOff);
    }
    Ok(to)
}

/// Permission, four-eyes and guard checks shared by listing and applying.
fn check(
    wf: &IncidentWorkflow,
    t: &crate::policy::Transition,
    actor: &ActorCtx<'_>,
    incident: &IncidentCtx<'_>,
) -> Result<(), TransitionError> {
    if !actor.permissions.contains(&t.permission) {
        return Err(TransitionError::NotAllowed {
            state: t.from.first().copied().unwrap_or(wf.initial),
            action: t.action,
            allowed: Vec::new(),
        });
    }
    if t.four_eyes && incident.handler_id == Some(actor.user_id) {
        return Err(TransitionError::FourEyes {
            action: t.action,
            user_id: actor.user_id.to_string(),
        });
    }
    if t.action == Action::Close
        && wf.multi_dispatch.close_parent_requires_children_done
        && incident.open_children > 0
    {
        return Err(TransitionError::ChildrenOpen {
            open: incident.open_children,
        });
    }
    if t.action == Action::ReceiveReply && incident.open_handoffs == 0 {
        return Err(TransitionError::NoOpenHandoff);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::test_support::default_pack;

    const PRE: &[Permission] = &[
        Permission::IncidentRead,
        Permission::IncidentCreate,
        Permission::IncidentTriage,
        Permission::IncidentDispatch,
    ];
    const REVIEWER: &[Permission] = &[
        Permission::IncidentRead,
        Permission::IncidentTriage,
        Permission::IncidentDispatch,
        Permission::IncidentAudit,
        Permission::IncidentClose,
    ];

    fn actor<'a>(user_id: &'a str, permissions: &'a [Permission]) -> ActorCtx<'a> {
        ActorCtx {
            user_id,
            permissions,
        }
    }

    fn handled_by(handler: &str) -> IncidentCtx<'_> {
        IncidentCtx {
            handler_id: Some(handler),
            ..IncidentCtx::default()
        }
    }

    #[test]
    fn inc_01_to_05_happy_path_pre_processing_hand_off_audit_reply_close() {
        let p = default_pack();
        let wf = &p.incident_workflow;
        let alice = actor("alice", PRE);
        let bob = actor("bob", REVIEWER);
        let mut ctx = handled_by("alice");
        let mut s = wf.initial;
        let step = |s: &mut IncidentState, a: Action, who: &ActorCtx<'_>, ctx: &IncidentCtx<'_>| {
            *s = transition(wf, *s, a, who, ctx, None).unwrap_or_else(|e| panic!("{a}: {e}"));
        };
        step(&mut s, Action::Accept, &alice, &ctx);
        assert_eq!(s, IncidentState::PreProcessing);
        step(&mut s, Action::Classify, &alice, &ctx);
        assert_eq!(s, IncidentState::PreProcessing);
        step(&mut s, Action::HandOff, &alice, &ctx);
        assert_eq!(s, IncidentState::HandedOff);
        ctx.open_handoffs = 1;
        step(&mut s, Action::ReceiveReply, &alice, &ctx);
        assert_eq!(s, IncidentState::PreProcessing);
        ctx.open_handoffs = 0;
        step(&mut s, Action::SubmitForAudit, &alice, &ctx);
        step(&mut s, Action::Approve, &bob, &ctx);
        step(&mut s, Action::Reply, &bob, &ctx);
        step(&mut s, Action::Close, &bob, &ctx);
        assert_eq!(s, IncidentState::Closed);
    }

    #[test]
    fn inc_05_auditor_equal_to_handler_is_refused_as_four_eyes() {
        let p = default_pack();
        let wf = &p.incident_workflow;
        let bob = actor("bob", REVIEWER);
        let err = transition(
            wf,
            IncidentState::InReview,
            Action::Approve,
            &bob,
            &handled_by("bob"),
            None,
        )
        .unwrap_err();
        assert_eq!(
            err,
            TransitionError::FourEyes {
                action: Action::Approve,
                user_id: "bob".into()
            }
        );
        assert_eq!(err.code(), "four_eyes_violation");
        // …and neither audit decision is offered to the handler.
        let allowed = allowed_actions(wf, IncidentState::InReview, &bob, &handled_by("bob"));
        assert!(!allowed.contains(&Action::Approve));
        assert!(!allowed.contains(&Action::ReturnForRework));
        let other = allowed_actions(wf, IncidentState::InReview, &bob, &handled_by("alice"));
        assert!(other.contains(&Action::Approve) && other.contains(&Action::ReturnForRework));
    }

    #[test]
    fn disallowed_action_error_lists_the_allowed_ones() {
        let p = default_pack();
        let wf = &p.incident_workflow;
        let alice = actor("alice", PRE);
        let err = transition(
            wf,
            IncidentState::PreProcessing,
            Action::Approve,
            &alice,
            &handled_by("alice"),
            None,
        )
        .unwrap_err();
        let TransitionError::NotAllowed { allowed, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(
            allowed,
            &vec![
                Action::Classify,
                Action::HandOff,
                Action::AwaitCustomer,
                Action::SubmitForAudit,
                Action::Cancel
            ]
        );
        assert!(
            err.to_string().contains("allowed: classify, hand_off"),
            "{err}"
        );
    }

    #[test]
    fn permission_decides_the_list_a_pre_processor_cannot_audit() {
        let p = default_pack();
        let wf = &p.incident_workflow;
        let alice = actor("alice", PRE);
        assert_eq!(
            allowed_actions(wf, IncidentState::InReview, &alice, &handled_by("carol")),
            vec![Action::HandOff, Action::Cancel]
        );
        let nobody = actor("dave", &[Permission::IncidentRead]);
        assert!(
            allowed_actions(wf, IncidentState::New, &nobody, &IncidentCtx::default()).is_empty()
        );
    }

    #[test]
    fn dup_04_parent_cannot_close_while_children_are_open() {
        let p = default_pack();
        let wf = &p.incident_workflow;
        let bob = actor("bob", REVIEWER);
        let ctx = IncidentCtx {
            handler_id: Some("alice"),
            open_children: 2,
            open_handoffs: 0,
        };
        assert_eq!(
            transition(wf, IncidentState::Replied, Action::Close, &bob, &ctx, None),
            Err(TransitionError::ChildrenOpen { open: 2 })
        );
        assert!(!allowed_actions(wf, IncidentState::Replied, &bob, &ctx).contains(&Action::Close));
    }

    #[test]
    fn cancel_reopen_and_lowering_need_a_reason() {
        let p = default_pack();
        let wf = &p.incident_workflow;
        let bob = actor("bob", REVIEWER);
        let ctx = handled_by("alice");
        for (s, a) in [
            (IncidentState::PreProcessing, Action::Cancel),
            (IncidentState::Closed, Action::Reopen),
            (IncidentState::InReview, Action::LowerSeverity),
        ] {
            for r in [None, Some(""), Some("  ")] {
                assert_eq!(
                    transition(wf, s, a, &bob, &ctx, r),
                    Err(TransitionError::ReasonRequired { action: a })
                );
            }
            assert!(transition(wf, s, a, &bob, &ctx, Some("客户撤诉")).is_ok());
        }
        assert_eq!(
            transition(
                wf,
                IncidentState::InReview,
                Action::LowerSeverity,
                &bob,
                &ctx,
                Some("x")
            ),
            Ok(IncidentState::InReview)
        );
    }

    #[test]
    fn inc_03_ticket_stays_handed_off_until_the_last_reply() {
        let p = default_pack();
        let wf = &p.incident_workflow;
        let alice = actor("alice", PRE);
        let mut ctx = handled_by("alice");
        ctx.open_handoffs = 2;
        assert_eq!(
            transition(
                wf,
                IncidentState::HandedOff,
                Action::ReceiveReply,
                &alice,
                &ctx,
                None
            ),
            Ok(IncidentState::HandedOff)
        );
        ctx.open_handoffs = 0;
        assert_eq!(
            transition(
                wf,
                IncidentState::HandedOff,
                Action::ReceiveReply,
                &alice,
                &ctx,
                None
            ),
            Err(TransitionError::NoOpenHandoff)
        );
    }
}
