//! PRB-13 monthly problem meeting: the problem group meets once a month to propose system improvements and
//! preventive measures. A meeting is recorded with when it was held, who attended and the minutes; the
//! actions decided there (text, owner, due date) stay open until closed with a note, and an open action past
//! its due date is overdue. One meeting per month of the centre's calendar.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tianshu_core::Permission;
use tianshu_store::audit::{append, NewAuditEntry};
use tianshu_store::problems::{self as st, MeetingActionRow, MeetingRow};
use tianshu_store::{Conn, StoreError, StoreResult};
use tianshu_workcal::DeadlineBasis;

use super::{micros, text, time, ActionInput};
use crate::authz::Principal;
use crate::clocks::{self as shared, ClockSpec, Notify, Recipients};
use crate::policy::ActivePolicy;
use crate::{Platform, ServiceError, ServiceResult};

/// Subject kind of the meetings' reminder clocks, their timeline and messages (subject id: the meeting id).
pub const KIND: &str = "problem_meeting";

/// The clock key of an action's reminder.
pub fn reminder_key(action_id: i64) -> String {
    format!("action:{action_id}")
}

/// PRB-13: the durable reminder of one open action, due at the action's due date (in the same write as the
/// action). When it falls due with the action still open the scheduler records `clock.breached` on the
/// meeting's timeline and queues the pack's reminder once (idempotency key `timer:<id>`, also across restarts);
/// closing the action stops it, so an action closed in time is never reminded. No `[meeting_reminder]` in the
/// pack: no clock.
async fn start_reminder(
    c: &mut Conn<'_>,
    pol: &ActivePolicy,
    m: &MeetingRow,
    a: &MeetingActionRow,
    now: i64,
) -> StoreResult<()> {
    let Some(r) = pol.pack.problem_levels.meeting_reminder.clone() else {
        return Ok(());
    };
    // Wall-clock seconds to the due date, rounded up so the reminder never comes before it; an action already
    // due when recorded is reminded at the scheduler's next tick.
    let seconds = ((a.due_at - now).max(0) + 999_999) / 1_000_000;
    shared::start(
        c,
        pol,
        ClockSpec {
            subject_kind: KIND.into(),
            subject_id: m.id.to_string(),
            clock_key: reminder_key(a.id),
            rule: r.rule.clone(),
            basis: DeadlineBasis::WallClock { seconds },
            calendar: None,
            start_at: now,
            repeat: None,
            notify: Notify {
                template: r.template.clone(),
                recipients: Recipients {
                    roles: r.roles.clone(),
                    ..Default::default()
                },
                context: json!({
                    "meeting_id": m.id.to_string(),
                    "month": m.month,
                    "action_id": a.id.to_string(),
                    "text": a.text,
                    "owner": a.owner,
                }),
                review: false,
            },
        },
    )
    .await
    .map(|_| ())
}

/// The rule every refusal and record of this module names.
pub const RULE: &str = "PRB-13";

/// A meeting as received; times RFC 3339.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct MeetingInput {
    /// RFC 3339; not in the future (a meeting is recorded once held).
    pub held_at: String,
    pub attendees: Vec<String>,
    pub minutes: String,
    #[serde(default)]
    pub actions: Vec<ActionInput>,
}

/// One action of a meeting as shown.
#[derive(Debug, Clone, Serialize)]
pub struct MeetingActionView {
    pub id: i64,
    pub meeting_id: i64,
    pub text: String,
    pub owner: String,
    /// Unix microseconds.
    pub due_at: i64,
    /// `open` or `done`.
    pub state: String,
    /// Open and past its due date.
    pub overdue: bool,
    pub closed_by: Option<String>,
    pub closed_at: Option<i64>,
    pub note: Option<String>,
    pub created_at: i64,
    pub version: i64,
}

/// A meeting with its actions.
#[derive(Debug, Clone, Serialize)]
pub struct MeetingView {
    pub id: i64,
    /// `YYYY-MM` (centre time zone).
    pub month: String,
    pub held_at: i64,
    pub attendees: Vec<String>,
    pub minutes: String,
    pub created_by: String,
    pub created_at: i64,
    pub rule: String,
    pub actions: Vec<MeetingActionView>,
    pub open_actions: i64,
    pub overdue_actions: i64,
}

fn action_view(a: MeetingActionRow, now: i64) -> MeetingActionView {
    let open = a.closed_at.is_none();
    MeetingActionView {
        state: if open { "open" } else { "done" }.into(),
        overdue: open && a.due_at < now,
        id: a.id,
        meeting_id: a.meeting_id,
        text: a.text,
        owner: a.owner,
        due_at: a.due_at,
        closed_by: a.closed_by,
        closed_at: a.closed_at,
        note: a.note,
        created_at: a.created_at,
        version: a.version,
    }
}

fn view(m: MeetingRow, actions: Vec<MeetingActionRow>, now: i64) -> MeetingView {
    let actions: Vec<MeetingActionView> =
        actions.into_iter().map(|a| action_view(a, now)).collect();
    MeetingView {
        open_actions: actions.iter().filter(|a| a.state == "open").count() as i64,
        overdue_actions: actions.iter().filter(|a| a.overdue).count() as i64,
        // Stored by this module as a JSON array; anything else would be a corrupt row, shown as one name.
        attendees: serde_json::from_str(&m.attendees).unwrap_or_else(|_| vec![m.attendees.clone()]),
        id: m.id,
        month: m.month,
        held_at: m.held_at,
        minutes: m.minutes,
        created_by: m.created_by,
        created_at: m.created_at,
        rule: RULE.into(),
        actions,
    }
}

/// Records a month's meeting with its actions (`problem.manage`); a second meeting in the same month is refused
/// (409, PRB-13) naming the one already recorded.
pub async fn record(
    p: &Platform,
    actor: &Principal,
    input: MeetingInput,
) -> ServiceResult<MeetingView> {
    actor.require(Permission::ProblemManage)?;
    let now: DateTime<Utc> = p.clock.now();
    let held = time("held_at", &input.held_at)?;
    if held > now {
        return Err(ServiceError::invalid(
            "held_at",
            format!("{RULE}: a meeting is recorded once held; this time is in the future"),
        ));
    }
    let attendees: Vec<String> = input
        .attendees
        .iter()
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty())
        .collect();
    if attendees.is_empty() || attendees.len() > 100 {
        return Err(ServiceError::invalid(
            "attendees",
            format!("{RULE}: name 1 to 100 attendees"),
        ));
    }
    for a in &attendees {
        text("attendees", a, 100)?;
    }
    text("minutes", &input.minutes, 20_000)?;
    if input.actions.len() > 50 {
        return Err(ServiceError::invalid("actions", "at most 50 actions"));
    }
    let mut actions = Vec::new();
    for (i, a) in input.actions.iter().enumerate() {
        text(&format!("actions[{i}].text"), &a.text, 2000)?;
        text(&format!("actions[{i}].owner"), &a.owner, 100)?;
        let due = time(&format!("actions[{i}].due_at"), &a.due_at)?;
        if due <= held {
            return Err(ServiceError::invalid(
                format!("actions[{i}].due_at"),
                "the due date must be after the meeting",
            ));
        }
        actions.push((
            a.text.trim().to_string(),
            a.owner.trim().to_string(),
            micros(due),
        ));
    }
    let month = held
        .with_timezone(&p.time_zone())
        .format("%Y-%m")
        .to_string();
    let attendees_json =
        serde_json::to_string(&attendees).map_err(|e| ServiceError::Internal(e.to_string()))?;
    let minutes = input.minutes.trim().to_string();
    let who = actor.actor();
    let now_us = micros(now);
    let held_us = micros(held);
    let pol = p.policy.current();
    let id = p
        .store
        .write(move |c| {
            Box::pin(async move {
                if let Some(m) = st::meeting_of_month(c, &month).await? {
                    return Err(StoreError::Conflict {
                        field: "held_at".into(),
                        message: format!(
                            "{RULE}: the meeting of {month} is already recorded (#{}); one meeting per month",
                            m.id
                        ),
                    });
                }
                let m = st::insert_meeting(c, &month, held_us, &attendees_json, &minutes, &who, now_us)
                    .await?;
                for (t, o, due) in &actions {
                    let a = st::insert_meeting_action(c, m.id, t, o, *due, now_us).await?;
                    start_reminder(c, &pol, &m, &a, now_us).await?;
                }
                append(
                    c,
                    NewAuditEntry {
                        actor: who.clone(),
                        action: "problem.meeting".into(),
                        object_type: "problem_meeting".into(),
                        object_id: m.id.to_string(),
                        before: None,
                        after: Some(json!({"month": month, "held_at": held_us, "actions": actions.len()})),
                        request_id: None,
                        at: now_us,
                    },
                )
                .await?;
                Ok(m.id)
            })
        })
        .await?;
    get(p, actor, id).await
}

/// One meeting with its actions.
pub async fn get(p: &Platform, actor: &Principal, id: i64) -> ServiceResult<MeetingView> {
    actor.require(Permission::ProblemRead)?;
    let m = p
        .store
        .problem_meeting(id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("problem meeting {id}")))?;
    let actions = p.store.problem_meeting_actions(&[id]).await?;
    Ok(view(m, actions, micros(p.clock.now())))
}

/// The latest `limit` meetings (1..=120), latest month first, each with its actions.
pub async fn list(p: &Platform, actor: &Principal, limit: i64) -> ServiceResult<Vec<MeetingView>> {
    actor.require(Permission::ProblemRead)?;
    if !(1..=120).contains(&limit) {
        return Err(ServiceError::invalid("limit", "1 to 120"));
    }
    let rows = p.store.problem_meetings(limit).await?;
    let ids: Vec<i64> = rows.iter().map(|m| m.id).collect();
    let actions = p.store.problem_meeting_actions(&ids).await?;
    let now = micros(p.clock.now());
    Ok(rows
        .into_iter()
        .map(|m| {
            let mine = actions
                .iter()
                .filter(|a| a.meeting_id == m.id)
                .cloned()
                .collect();
            view(m, mine, now)
        })
        .collect())
}

/// Closes an open action (open → done) with a note, version-checked: a stale version is 412, an action
/// already done 409.
pub async fn close_action(
    p: &Platform,
    actor: &Principal,
    meeting_id: i64,
    action_id: i64,
    version: i64,
    note: &str,
) -> ServiceResult<MeetingView> {
    actor.require(Permission::ProblemManage)?;
    text("note", note, 4000)?;
    let note = note.trim().to_string();
    let who = actor.actor();
    let now_us = micros(p.clock.now());
    p.store
        .write(move |c| {
            Box::pin(async move {
                let Some(a) = st::meeting_action_for_update(c, meeting_id, action_id).await? else {
                    return Err(StoreError::NotFound(format!(
                        "action {action_id} of problem meeting {meeting_id}"
                    )));
                };
                if a.closed_at.is_some() {
                    return Err(StoreError::Conflict {
                        field: "state".into(),
                        message: format!("{RULE}: the action is already done"),
                    });
                }
                if a.version != version {
                    return Err(StoreError::Stale(format!("meeting action {action_id}")));
                }
                let a =
                    st::close_meeting_action(c, action_id, version, &note, &who, now_us).await?;
                // Closed before its due date the reminder is withdrawn (clock met); closed late it stays
                // breached, its one reminder already sent.
                shared::stop(
                    c,
                    KIND,
                    &meeting_id.to_string(),
                    &reminder_key(action_id),
                    now_us,
                    "action closed",
                )
                .await?;
                append(
                    c,
                    NewAuditEntry {
                        actor: who.clone(),
                        action: "problem.meeting_action_done".into(),
                        object_type: "problem_meeting".into(),
                        object_id: meeting_id.to_string(),
                        before: None,
                        after: Some(
                            json!({"action_id": a.id, "note": a.note, "late": a.due_at < now_us}),
                        ),
                        request_id: None,
                        at: now_us,
                    },
                )
                .await?;
                Ok(())
            })
        })
        .await?;
    get(p, actor, meeting_id).await
}
