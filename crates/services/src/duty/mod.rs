//! Duty rosters (DUTY-02..DUTY-06, DUTY-09): generate and publish the rotation, overrides, swaps, the daily
//! duty report with its reminder and escalation, hand-over notes, comp-time statements, ICS feeds, XLSX
//! import/export, and "who is on duty now" from an in-memory index.

mod index;
pub mod xlsx;

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tianshu_core::duty::{
    self as domain, check_coverage, shift_bounds, Assignment, CompStatement, CoverageProblem,
    IcsEvent, Team,
};
use tianshu_core::policy::{DutyPolicy, FieldKind};
use tianshu_core::Permission;
use tianshu_store::audit::{append, NewAuditEntry};
use tianshu_store::duty::{
    self as st, AssignmentRow, HandoverRow, NewAssignment, NewRoster, OverrideRow, ReportRow,
    Roster, SwapRow,
};
use tianshu_store::{Conn, StoreResult};
use tianshu_workcal::DeadlineBasis;

use crate::authz::Principal;
use crate::clocks::{self, ClockSpec, Notify, Recipients};
use crate::policy::ActivePolicy;
use crate::{Platform, ServiceError, ServiceResult};

pub use index::{DutyCache, OnDutyPerson};
pub use tianshu_core::duty::OnDutyQuery;

/// Subject kind of duty clocks, timers and events (`duty` + `<day>/<slot>/<shift>/<person>`).
pub const KIND: &str = "duty";
/// Clock key of the DUTY-06 reminder.
pub const REMIND_KEY: &str = "duty06.reminder";
/// Clock key of the DUTY-06 escalation.
pub const ESCALATE_KEY: &str = "duty06.escalation";

/// An assignment as the API shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AssignmentView {
    pub id: i64,
    pub date: String,
    pub slot: String,
    pub shift: String,
    pub person: String,
    pub region: Option<String>,
    /// Start and end instants (RFC 3339, UTC).
    pub start: String,
    pub end: String,
    /// `rotation`, `import`, `override` or `swap`.
    pub source: String,
    pub version: i64,
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn view(pol: &DutyPolicy, r: &AssignmentRow) -> AssignmentView {
    let bounds = parse_day(&r.day).and_then(|d| shift_bounds(pol, d, &r.shift));
    let (start, end) = bounds.map_or((String::new(), String::new()), |(a, b)| {
        (rfc3339(a), rfc3339(b))
    });
    AssignmentView {
        id: r.id,
        date: r.day.clone(),
        slot: r.slot.clone(),
        shift: r.shift.clone(),
        person: r.username.clone(),
        region: r.region.clone(),
        start,
        end,
        source: r.source.clone(),
        version: r.version,
    }
}

fn parse_day(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

/// Parses a `YYYY-MM-DD` request value, naming `field` when it is not one.
pub fn date_field(field: &str, s: &str) -> ServiceResult<NaiveDate> {
    parse_day(s).ok_or_else(|| {
        ServiceError::invalid_zh(
            field,
            format!("'{s}' is not a date YYYY-MM-DD"),
            format!("'{s}' 不是日期(YYYY-MM-DD)"),
        )
    })
}

fn day(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

fn to_domain(r: &AssignmentRow) -> Option<Assignment> {
    Some(Assignment {
        date: parse_day(&r.day)?,
        slot: r.slot.clone(),
        shift: r.shift.clone(),
        person: r.username.clone(),
        region: r.region.clone(),
    })
}

/// The local date today in the duty time zone.
pub fn today(p: &Platform) -> NaiveDate {
    let pol = p.policy.current();
    p.clock
        .now()
        .with_timezone(&domain::time_zone(&pol.pack.duty))
        .date_naive()
}

/// Monday..Sunday of the week holding `d`.
pub fn week_of(d: NaiveDate) -> (NaiveDate, NaiveDate) {
    let monday = d - Duration::days(d.weekday().num_days_from_monday() as i64);
    (monday, monday + Duration::days(6))
}

fn is_working_day(pol: &ActivePolicy) -> ServiceResult<impl Fn(NaiveDate) -> bool + '_> {
    let cal = pol.calendars.get(&pol.pack.duty.calendar)?;
    Ok(move |d| cal.is_working_day(d))
}

#[allow(clippy::too_many_arguments)]
async fn audit(
    c: &mut Conn<'_>,
    actor: &str,
    action: &str,
    object_type: &str,
    object_id: String,
    before: Option<Value>,
    after: Option<Value>,
    now: i64,
) -> StoreResult<()> {
    append(
        c,
        NewAuditEntry {
            actor: actor.into(),
            action: action.into(),
            object_type: object_type.into(),
            object_id,
            before,
            after,
            request_id: None,
            at: now,
        },
    )
    .await
    .map(|_| ())
}

// ---------------------------------------------------------------- setup

/// The duty part of the active pack: shifts, slots, rotation, comp time, report form.
pub fn setup(p: &Platform, actor: &Principal) -> ServiceResult<DutyPolicy> {
    actor.require(Permission::DutyRead)?;
    Ok(p.policy.current().pack.duty.clone())
}

// ---------------------------------------------------------------- roster

/// Generate (and optionally publish) the DUTY-04 rotation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerateRequest {
    /// First day, `YYYY-MM-DD`.
    pub from: String,
    /// Last day, inclusive.
    pub to: String,
    /// The central team: two people per rotation branch, the HQ pair.
    pub team: Team,
    /// Store it (replacing the range's rotation slots); otherwise only a preview.
    #[serde(default)]
    pub publish: bool,
}

/// A generated or imported roster: its rows, the coverage problems found and, once published, the publication.
#[derive(Debug, Clone, Serialize)]
pub struct RosterResult {
    pub from: String,
    pub to: String,
    pub assignments: Vec<Assignment>,
    pub problems: Vec<CoverageProblem>,
    pub roster: Option<Roster>,
}

async fn check_people(p: &Platform, people: &[(String, String)]) -> ServiceResult<()> {
    for (field, u) in people {
        match p.store.user_by_username(u).await? {
            Some(user) if user.active => {}
            _ => {
                return Err(ServiceError::unknown_ref(
                    field.clone(),
                    format!("no active user '{u}'"),
                    format!("没有在用的用户 '{u}'"),
                ))
            }
        }
    }
    Ok(())
}

async fn check_org(p: &Platform, field: &str, key: &str) -> ServiceResult<()> {
    if p.store.org_by_key(key).await?.is_none() {
        return Err(ServiceError::unknown_ref(
            field,
            format!("no organisation '{key}'"),
            format!("没有组织 '{key}'"),
        ));
    }
    Ok(())
}

fn range(from: &str, to: &str) -> ServiceResult<(NaiveDate, NaiveDate)> {
    let (f, t) = (date_field("from", from)?, date_field("to", to)?);
    if t < f {
        return Err(ServiceError::invalid_zh(
            "to",
            format!("{t} is before from {f}"),
            "结束日期早于开始日期",
        ));
    }
    if (t - f).num_days() >= domain::MAX_RANGE_DAYS {
        return Err(ServiceError::invalid_zh(
            "to",
            format!("at most {} days", domain::MAX_RANGE_DAYS),
            format!("最多 {} 天", domain::MAX_RANGE_DAYS),
        ));
    }
    Ok((f, t))
}

/// DUTY-04: builds the rotation for a range, checks its coverage and publishes it when asked and clean.
pub async fn generate(
    p: &Platform,
    actor: &Principal,
    req: GenerateRequest,
) -> ServiceResult<RosterResult> {
    actor.require(if req.publish {
        Permission::DutyManage
    } else {
        Permission::DutyRead
    })?;
    let (from, to) = range(&req.from, &req.to)?;
    let pol = p.policy.current();
    let duty = &pol.pack.duty;
    let mut people = Vec::new();
    for (b, list) in &req.team.branches {
        check_org(p, &format!("team.branches.{b}"), b).await?;
        for (i, u) in list.iter().enumerate() {
            people.push((format!("team.branches.{b}[{i}]"), u.clone()));
        }
    }
    for (i, u) in req.team.hq.iter().enumerate() {
        people.push((format!("team.hq[{i}]"), u.clone()));
    }
    let assignments = domain::generate(duty, &req.team, from, to)
        .map_err(|e| ServiceError::invalid(e.field(), e.to_string()))?;
    check_people(p, &people).await?;
    let slots = vec![
        duty.rotation.branch_slot.clone(),
        duty.rotation.hq_slot.clone(),
    ];
    publish_or_preview(
        p,
        actor,
        from,
        to,
        "rotation",
        slots,
        assignments,
        req.publish,
    )
    .await
}

/// Checks the coverage of `assignments` together with the other slots' rows already stored, and publishes.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn publish_or_preview(
    p: &Platform,
    actor: &Principal,
    from: NaiveDate,
    to: NaiveDate,
    source: &str,
    slots: Vec<String>,
    assignments: Vec<Assignment>,
    publish: bool,
) -> ServiceResult<RosterResult> {
    let pol = p.policy.current();
    let duty = &pol.pack.duty;
    // Coverage is judged on what the range will hold: the new rows plus stored rows of slots not replaced.
    let kept: Vec<Assignment> = p
        .store
        .duty_assignments(&day(from), &day(to))
        .await?
        .iter()
        .filter(|r| !slots.contains(&r.slot))
        .filter_map(to_domain)
        .collect();
    let mut all = kept;
    all.extend(assignments.iter().cloned());
    let problems = check_coverage(duty, &all, from, to);
    let mut out = RosterResult {
        from: day(from),
        to: day(to),
        assignments,
        problems,
        roster: None,
    };
    if !publish {
        return Ok(out);
    }
    if !out.problems.is_empty() {
        let shown: Vec<String> = out.problems.iter().take(5).map(|x| x.to_string()).collect();
        let more = out.problems.len().saturating_sub(5);
        let tail = if more > 0 {
            format!(" (and {more} more)")
        } else {
            String::new()
        };
        return Err(ServiceError::invalid_zh(
            "assignments",
            format!(
                "the roster has coverage problems: {}{tail}",
                shown.join("; ")
            ),
            format!("排班存在覆盖问题:{}{tail}", shown.join(";")),
        ));
    }
    let rows: Vec<NewAssignment> = out
        .assignments
        .iter()
        .map(|a| NewAssignment {
            day: day(a.date),
            slot: a.slot.clone(),
            shift: a.shift.clone(),
            username: a.person.clone(),
            region: a.region.clone(),
        })
        .collect();
    let now = p.now_us();
    let actor_s = actor.actor();
    let new_roster = NewRoster {
        from: day(from),
        to: day(to),
        source: source.into(),
        slots: slots.clone(),
        by: actor_s.clone(),
        now,
    };
    let pol2 = pol.clone();
    let roster = p
        .store
        .write(move |c| {
            Box::pin(async move {
                let before = st::assignments_in_tx(c, &new_roster.from, &new_roster.to).await?;
                let roster = st::publish(c, &new_roster, &rows).await?;
                // Report clocks follow the people: removed duties stop theirs, new ones start theirs.
                let key = |d: &str, s: &str, sh: &str, u: &str| format!("{d}/{s}/{sh}/{u}");
                let old: HashSet<String> = before
                    .iter()
                    .filter(|r| new_roster.slots.contains(&r.slot))
                    .map(|r| key(&r.day, &r.slot, &r.shift, &r.username))
                    .collect();
                let new: HashSet<String> = rows
                    .iter()
                    .map(|r| key(&r.day, &r.slot, &r.shift, &r.username))
                    .collect();
                for k in old.difference(&new) {
                    stop_report_clocks(c, k, now, "roster replaced").await?;
                }
                for r in rows.iter().filter(|r| !old.contains(&key(&r.day, &r.slot, &r.shift, &r.username))) {
                    start_report_clocks(c, &pol2, &r.day, &r.slot, &r.shift, &r.username, now).await?;
                }
                audit(
                    c,
                    &actor_s,
                    "duty.roster.publish",
                    "duty_roster",
                    roster.id.to_string(),
                    None,
                    Some(json!({"from": roster.from_day, "to": roster.to_day, "source": roster.source,
                        "slots": new_roster.slots, "assignments": roster.assignments})),
                    now,
                )
                .await?;
                Ok(roster)
            })
        })
        .await?;
    p.duty.invalidate();
    out.roster = Some(roster);
    Ok(out)
}

/// The stored roster of `from..=to`.
pub async fn roster(
    p: &Platform,
    actor: &Principal,
    from: NaiveDate,
    to: NaiveDate,
) -> ServiceResult<Vec<AssignmentView>> {
    actor.require(Permission::DutyRead)?;
    if to < from || (to - from).num_days() >= domain::MAX_RANGE_DAYS {
        return Err(ServiceError::invalid("to", "a range of 1 to 400 days"));
    }
    let pol = p.policy.current();
    Ok(p.store
        .duty_assignments(&day(from), &day(to))
        .await?
        .iter()
        .map(|r| view(&pol.pack.duty, r))
        .collect())
}

/// One stored duty assignment.
pub async fn assignment(p: &Platform, actor: &Principal, id: i64) -> ServiceResult<AssignmentView> {
    actor.require(Permission::DutyRead)?;
    let pol = p.policy.current();
    let r = p
        .store
        .duty_assignment(id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("duty assignment {id}")))?;
    Ok(view(&pol.pack.duty, &r))
}

/// Coverage problems of the stored roster of `from..=to`.
pub async fn coverage(
    p: &Platform,
    actor: &Principal,
    from: NaiveDate,
    to: NaiveDate,
) -> ServiceResult<Vec<CoverageProblem>> {
    actor.require(Permission::DutyRead)?;
    let pol = p.policy.current();
    let rows = p.store.duty_assignments(&day(from), &day(to)).await?;
    let a: Vec<Assignment> = rows.iter().filter_map(to_domain).collect();
    Ok(check_coverage(&pol.pack.duty, &a, from, to))
}

// ---------------------------------------------------------------- report clocks (DUTY-06)

fn subject(d: &str, slot: &str, shift: &str, user: &str) -> String {
    format!("{d}/{slot}/{shift}/{user}")
}

/// Starts the DUTY-06 reminder and escalation clocks of one duty, counted from its shift's end; duties of slots
/// without a report, and duties that ended before `now`, get none (no reminders about the past on publish).
async fn start_report_clocks(
    c: &mut Conn<'_>,
    pol: &ActivePolicy,
    d: &str,
    slot: &str,
    shift: &str,
    user: &str,
    now: i64,
) -> StoreResult<()> {
    let duty = &pol.pack.duty;
    if !duty.slot(slot).is_some_and(|s| s.report) {
        return Ok(());
    }
    let Some(date) = parse_day(d) else {
        return Ok(());
    };
    let Some((_, end)) = shift_bounds(duty, date, shift) else {
        return Ok(());
    };
    let end_us = end.timestamp_micros();
    if end_us < now {
        return Ok(());
    }
    let r = &duty.report;
    let tz = domain::time_zone(duty);
    let report_due = (end + r.due_after.to_chrono())
        .with_timezone(&tz)
        .format("%Y-%m-%d %H:%M")
        .to_string();
    let slot_name = duty.slot(slot).map_or(slot, |s| s.name_zh.as_str());
    let shift_name = duty.shift(shift).map_or(shift, |s| s.name_zh.as_str());
    let context = json!({"person": user, "date": d, "slot": slot_name, "shift": shift_name, "report_due": report_due});
    let sid = subject(d, slot, shift, user);
    for (key, after, template, recipients) in [
        (
            REMIND_KEY,
            r.remind_after,
            &r.reminder_template,
            Recipients {
                users: vec![user.to_string()],
                ..Default::default()
            },
        ),
        (
            ESCALATE_KEY,
            r.escalate_after,
            &r.escalation_template,
            Recipients {
                roles: r.escalate_to_roles.clone(),
                ..Default::default()
            },
        ),
    ] {
        clocks::start(
            c,
            pol,
            ClockSpec {
                subject_kind: KIND.into(),
                subject_id: sid.clone(),
                clock_key: key.into(),
                rule: r.rule.clone(),
                basis: DeadlineBasis::WallClock {
                    seconds: after.seconds(),
                },
                calendar: None,
                start_at: end_us,
                repeat: None,
                notify: Notify {
                    template: template.clone(),
                    recipients,
                    context: context.clone(),
                    review: false,
                },
            },
        )
        .await?;
    }
    Ok(())
}

async fn stop_report_clocks(c: &mut Conn<'_>, sid: &str, now: i64, why: &str) -> StoreResult<()> {
    for key in [REMIND_KEY, ESCALATE_KEY] {
        clocks::stop(c, KIND, sid, key, now, why).await?;
    }
    Ok(())
}

/// Refuses putting `person` on (`day`, `shift`) when they already hold a duty overlapping it (other than the
/// assignments in `except`), so overrides and swaps never create the overlaps the coverage check reports.
async fn check_free(
    p: &Platform,
    field: &str,
    person: &str,
    day_s: &str,
    shift: &str,
    except: &[i64],
) -> ServiceResult<()> {
    let pol = p.policy.current();
    let Some(want) = pol.pack.duty.shift(shift) else {
        return Ok(());
    };
    for r in p.store.duty_assignments_of(person, day_s, day_s).await? {
        if except.contains(&r.id) {
            continue;
        }
        if let Some(s) = pol.pack.duty.shift(&r.shift) {
            if s.start_time() < want.end_time() && want.start_time() < s.end_time() {
                return Err(ServiceError::Conflict {
                    field: field.into(),
                    message: format!("{person} is already on {} ({}) on {day_s}", r.slot, r.shift),
                });
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- overrides and swaps

/// Put another person on one assignment.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverrideRequest {
    /// Username of the person who takes the duty.
    pub person: String,
    pub reason: String,
    /// The assignment's version as read.
    pub version: i64,
}

/// A one-off override of an assignment's person (duty.manage).
pub async fn override_assignment(
    p: &Platform,
    actor: &Principal,
    id: i64,
    req: OverrideRequest,
) -> ServiceResult<AssignmentView> {
    actor.require(Permission::DutyManage)?;
    crate::validate::text("reason", &req.reason, 500, true)?;
    check_people(p, &[("person".into(), req.person.clone())]).await?;
    let row = p
        .store
        .duty_assignment(id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("duty assignment {id}")))?;
    if row.username == req.person {
        return Err(ServiceError::invalid_zh(
            "person",
            format!("{} is already on this duty", req.person),
            "此人已在该班次值班",
        ));
    }
    check_free(p, "person", &req.person, &row.day, &row.shift, &[id]).await?;
    let pol = p.policy.current();
    let now = p.now_us();
    let actor_s = actor.actor();
    let moved = p
        .store
        .write(move |c| {
            Box::pin(async move {
                let before = row.clone();
                let m = st::reassign(c, id, &req.person, req.version, "override", now).await?;
                st::insert_override(c, &m, &before.username, &req.reason, &actor_s, now).await?;
                move_clocks(c, &pol, &before, &m.username, now).await?;
                audit(
                    c,
                    &actor_s,
                    "duty.override",
                    "duty_assignment",
                    id.to_string(),
                    Some(json!({"person": before.username})),
                    Some(json!({"person": m.username, "reason": req.reason})),
                    now,
                )
                .await?;
                Ok(m)
            })
        })
        .await?;
    p.duty.invalidate();
    Ok(view(&p.policy.current().pack.duty, &moved))
}

async fn move_clocks(
    c: &mut Conn<'_>,
    pol: &ActivePolicy,
    before: &AssignmentRow,
    to_user: &str,
    now: i64,
) -> StoreResult<()> {
    let old = subject(&before.day, &before.slot, &before.shift, &before.username);
    stop_report_clocks(c, &old, now, "reassigned").await?;
    start_report_clocks(
        c,
        pol,
        &before.day,
        &before.slot,
        &before.shift,
        to_user,
        now,
    )
    .await
}

/// Ask to give away a duty (optionally taking one of the counterpart's in exchange).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwapRequest {
    /// The requester's assignment.
    pub assignment_id: i64,
    /// Username of the person who would take it.
    pub counterpart: String,
    /// The counterpart's assignment the requester takes in exchange, if any.
    #[serde(default)]
    pub counter_assignment_id: Option<i64>,
    pub reason: String,
}

/// Files a swap request: the requester is the person on the assignment (or a duty manager for them).
pub async fn request_swap(
    p: &Platform,
    actor: &Principal,
    req: SwapRequest,
) -> ServiceResult<SwapRow> {
    actor.require(Permission::DutyRead)?;
    crate::validate::text("reason", &req.reason, 500, true)?;
    let a = p
        .store
        .duty_assignment(req.assignment_id)
        .await?
        .ok_or_else(|| {
            ServiceError::unknown_ref(
                "assignment_id",
                format!("no duty assignment {}", req.assignment_id),
                format!("没有排班 {}", req.assignment_id),
            )
        })?;
    if a.username != actor.username {
        actor.require(Permission::DutyManage)?;
    }
    check_people(p, &[("counterpart".into(), req.counterpart.clone())]).await?;
    if req.counterpart == a.username {
        return Err(ServiceError::invalid_zh(
            "counterpart",
            "a swap needs another person",
            "换班对象不能是本人",
        ));
    }
    if let Some(cid) = req.counter_assignment_id {
        let b = p.store.duty_assignment(cid).await?.ok_or_else(|| {
            ServiceError::unknown_ref(
                "counter_assignment_id",
                format!("no duty assignment {cid}"),
                format!("没有排班 {cid}"),
            )
        })?;
        if b.username != req.counterpart {
            return Err(ServiceError::invalid_zh(
                "counter_assignment_id",
                format!("assignment {cid} is not {}'s", req.counterpart),
                "该排班不属于换班对象",
            ));
        }
        check_free(
            p,
            "counter_assignment_id",
            &a.username,
            &b.day,
            &b.shift,
            &[a.id, b.id],
        )
        .await?;
    }
    let except: Vec<i64> = [Some(a.id), req.counter_assignment_id]
        .into_iter()
        .flatten()
        .collect();
    check_free(
        p,
        "counterpart",
        &req.counterpart,
        &a.day,
        &a.shift,
        &except,
    )
    .await?;
    let now = p.now_us();
    let actor_s = actor.actor();
    let requester = a.username.clone();
    Ok(p.store
        .write(move |c| {
            Box::pin(async move {
                let s = st::insert_swap(
                    c,
                    req.assignment_id,
                    req.counter_assignment_id,
                    &requester,
                    &req.counterpart,
                    &req.reason,
                    now,
                )
                .await?;
                audit(c, &actor_s, "duty.swap.request", "duty_swap", s.id.to_string(), None,
                    Some(json!({"assignment": s.assignment_id, "counter_assignment": s.counter_assignment_id,
                        "requester": s.requester, "counterpart": s.counterpart, "reason": s.reason})), now).await?;
                Ok(s)
            })
        })
        .await?)
}

/// Approve or reject a swap.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwapDecision {
    #[serde(default)]
    pub note: Option<String>,
    /// The swap's version as read.
    pub version: i64,
}

/// Decides a requested swap (duty.manage; never by the requester). Approval moves the people.
pub async fn decide_swap(
    p: &Platform,
    actor: &Principal,
    id: i64,
    approve: bool,
    d: SwapDecision,
) -> ServiceResult<SwapRow> {
    actor.require(Permission::DutyManage)?;
    if let Some(n) = &d.note {
        crate::validate::text("note", n, 500, true)?;
    }
    let s = p
        .store
        .duty_swap(id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("duty swap {id}")))?;
    if s.requester == actor.username {
        return Err(ServiceError::Conflict {
            field: "approver".into(),
            message: "the requester of a swap cannot decide it".into(),
        });
    }
    if s.state != "requested" {
        return Err(ServiceError::Conflict {
            field: "state".into(),
            message: format!("the swap is already {}", s.state),
        });
    }
    let pol = p.policy.current();
    let now = p.now_us();
    let actor_s = actor.actor();
    let by = actor.username.clone();
    let decided = p
        .store
        .write(move |c| {
            Box::pin(async move {
                let state = if approve { "approved" } else { "rejected" };
                let done =
                    st::decide_swap(c, id, state, &by, d.note.as_deref(), d.version, now).await?;
                if approve {
                    let a = st::assignment_in_tx(c, done.assignment_id)
                        .await?
                        .ok_or_else(|| tianshu_store::StoreError::Conflict {
                            field: "assignment_id".into(),
                            message: "the assignment no longer exists".into(),
                        })?;
                    if a.username != done.requester {
                        return Err(tianshu_store::StoreError::Conflict {
                            field: "assignment_id".into(),
                            message: format!("the duty is no longer {}'s", done.requester),
                        });
                    }
                    st::reassign(c, a.id, &done.counterpart, a.version, "swap", now).await?;
                    move_clocks(c, &pol, &a, &done.counterpart, now).await?;
                    if let Some(cid) = done.counter_assignment_id {
                        let b = st::assignment_in_tx(c, cid).await?.ok_or_else(|| {
                            tianshu_store::StoreError::Conflict {
                                field: "counter_assignment_id".into(),
                                message: "the assignment no longer exists".into(),
                            }
                        })?;
                        if b.username != done.counterpart {
                            return Err(tianshu_store::StoreError::Conflict {
                                field: "counter_assignment_id".into(),
                                message: format!("the duty is no longer {}'s", done.counterpart),
                            });
                        }
                        st::reassign(c, b.id, &done.requester, b.version, "swap", now).await?;
                        move_clocks(c, &pol, &b, &done.requester, now).await?;
                    }
                }
                audit(
                    c,
                    &actor_s,
                    if approve {
                        "duty.swap.approve"
                    } else {
                        "duty.swap.reject"
                    },
                    "duty_swap",
                    id.to_string(),
                    Some(json!({"state": "requested"})),
                    Some(json!({"state": state, "note": done.note})),
                    now,
                )
                .await?;
                Ok(done)
            })
        })
        .await?;
    p.duty.invalidate();
    Ok(decided)
}

/// Swaps, newest first (optionally only one state).
pub async fn swaps(
    p: &Platform,
    actor: &Principal,
    state: Option<&str>,
) -> ServiceResult<Vec<SwapRow>> {
    actor.require(Permission::DutyRead)?;
    if let Some(s) = state {
        if !matches!(s, "requested" | "approved" | "rejected") {
            return Err(ServiceError::invalid(
                "state",
                "requested, approved or rejected",
            ));
        }
    }
    Ok(p.store.duty_swaps(state).await?)
}

/// Overrides of a range.
pub async fn overrides(
    p: &Platform,
    actor: &Principal,
    from: NaiveDate,
    to: NaiveDate,
) -> ServiceResult<Vec<OverrideRow>> {
    actor.require(Permission::DutyRead)?;
    Ok(p.store.duty_overrides(&day(from), &day(to)).await?)
}

// ---------------------------------------------------------------- daily report and hand-over

/// File the daily duty report of one's duty (DUTY-06).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportRequest {
    pub assignment_id: i64,
    /// The form: field key → value (text, boolean or whole number per duty.toml).
    pub fields: BTreeMap<String, Value>,
}

fn check_fields(pol: &DutyPolicy, fields: &BTreeMap<String, Value>) -> ServiceResult<()> {
    for k in fields.keys() {
        if !pol.report.fields.iter().any(|f| &f.key == k) {
            return Err(ServiceError::invalid_zh(
                format!("fields.{k}"),
                "not a field of the duty report (duty.toml report.field)",
                "值班日报没有此字段",
            ));
        }
    }
    for f in &pol.report.fields {
        let path = format!("fields.{}", f.key);
        let v = fields.get(&f.key);
        let empty = match v {
            None | Some(Value::Null) => true,
            Some(Value::String(s)) => s.trim().is_empty(),
            _ => false,
        };
        if empty {
            if f.required {
                return Err(ServiceError::invalid_zh(path, "is required", "必填"));
            }
            continue;
        }
        let ok = match (f.kind, v) {
            (FieldKind::Text, Some(Value::String(s))) => {
                crate::validate::text(&path, s, 4000, true)?;
                true
            }
            (FieldKind::Bool, Some(Value::Bool(_))) => true,
            (FieldKind::Number, Some(Value::Number(n))) => {
                n.as_u64().is_some_and(|n| n <= 1_000_000)
            }
            _ => false,
        };
        if !ok {
            let want = match f.kind {
                FieldKind::Text => "text",
                FieldKind::Bool => "true or false",
                FieldKind::Number => "a whole number from 0 to 1000000",
            };
            return Err(ServiceError::invalid(path, format!("expected {want}")));
        }
    }
    Ok(())
}

/// Files the report and stops the duty's reminder and escalation clocks.
pub async fn file_report(
    p: &Platform,
    actor: &Principal,
    req: ReportRequest,
) -> ServiceResult<ReportRow> {
    actor.require(Permission::DutyRead)?;
    let pol = p.policy.current();
    let a = p
        .store
        .duty_assignment(req.assignment_id)
        .await?
        .ok_or_else(|| {
            ServiceError::unknown_ref(
                "assignment_id",
                format!("no duty assignment {}", req.assignment_id),
                format!("没有排班 {}", req.assignment_id),
            )
        })?;
    if a.username != actor.username {
        actor.require(Permission::DutyManage)?;
    }
    if !pol.pack.duty.slot(&a.slot).is_some_and(|s| s.report) {
        return Err(ServiceError::invalid_zh(
            "assignment_id",
            format!("slot '{}' has no daily report", a.slot),
            "该值班无需填写日报",
        ));
    }
    // The report covers a duty that has begun; filing ahead would silence its reminder in advance.
    let started = parse_day(&a.day)
        .and_then(|d| shift_bounds(&pol.pack.duty, d, &a.shift))
        .is_some_and(|(start, _)| start <= p.clock.now());
    if !started {
        return Err(ServiceError::invalid_zh(
            "assignment_id",
            format!("the duty of {} {} has not started yet", a.day, a.shift),
            "该班次尚未开始,不能提交日报",
        ));
    }
    check_fields(&pol.pack.duty, &req.fields)?;
    let fields = serde_json::to_string(&req.fields).unwrap_or_else(|_| "{}".into());
    let now = p.now_us();
    let actor_s = actor.actor();
    Ok(p.store
        .write(move |c| {
            Box::pin(async move {
                let r = st::insert_report(c, &a.day, &a.slot, &a.shift, &a.username, &fields, now).await?;
                stop_report_clocks(c, &subject(&a.day, &a.slot, &a.shift, &a.username), now, "report filed").await?;
                audit(c, &actor_s, "duty.report.file", "duty_report", r.id.to_string(), None,
                    Some(json!({"day": r.day, "slot": r.slot, "shift": r.shift, "person": r.username})), now).await?;
                Ok(r)
            })
        })
        .await?)
}

/// Days before today whose duties still show a missing daily report on the officer's own page.
pub const REPORT_LOOKBACK_DAYS: i64 = 7;

/// One of a person's duties that files a daily report (DUTY-06), with the report once filed.
#[derive(Debug, Clone, Serialize)]
pub struct ReportDuty {
    pub assignment: AssignmentView,
    /// The shift has begun (a report may be filed).
    pub started: bool,
    /// The shift is over.
    pub ended: bool,
    pub report: Option<ReportRow>,
}

/// The actor's own duties of slots with a report: today's (filed or not), and those of the last
/// [`REPORT_LOOKBACK_DAYS`] days whose report is still missing or was filed today; by day and shift.
pub async fn my_report_duties(p: &Platform, actor: &Principal) -> ServiceResult<Vec<ReportDuty>> {
    actor.require(Permission::DutyRead)?;
    let pol = p.policy.current();
    let duty = &pol.pack.duty;
    let t = today(p);
    let (from, to) = (day(t - Duration::days(REPORT_LOOKBACK_DAYS)), day(t));
    let rows = p
        .store
        .duty_assignments_of(&actor.username, &from, &to)
        .await?;
    let reports = p.store.duty_reports(&from, &to).await?;
    let now = p.clock.now();
    let tz = domain::time_zone(duty);
    Ok(rows
        .iter()
        .filter(|r| duty.slot(&r.slot).is_some_and(|s| s.report))
        .filter_map(|r| {
            let (start, end) = parse_day(&r.day).and_then(|d| shift_bounds(duty, d, &r.shift))?;
            let report = reports
                .iter()
                .find(|x| {
                    x.day == r.day
                        && x.slot == r.slot
                        && x.shift == r.shift
                        && x.username == r.username
                })
                .cloned();
            // Earlier days: while the report is missing, and on the day it is filed (shown as filed).
            let filed_before_today = report.as_ref().is_some_and(|x| {
                tianshu_store::time::from_micros(x.submitted_at)
                    .with_timezone(&tz)
                    .date_naive()
                    < t
            });
            if r.day != to && filed_before_today {
                return None;
            }
            Some(ReportDuty {
                assignment: view(duty, r),
                started: start <= now,
                ended: end <= now,
                report,
            })
        })
        .collect())
}

/// The actor's own duties of `from..=to`, every slot.
pub async fn my_duties(
    p: &Platform,
    actor: &Principal,
    from: NaiveDate,
    to: NaiveDate,
) -> ServiceResult<Vec<AssignmentView>> {
    actor.require(Permission::DutyRead)?;
    let pol = p.policy.current();
    Ok(p.store
        .duty_assignments_of(&actor.username, &day(from), &day(to))
        .await?
        .iter()
        .map(|r| view(&pol.pack.duty, r))
        .collect())
}

/// Reports of a range.
pub async fn reports(
    p: &Platform,
    actor: &Principal,
    from: NaiveDate,
    to: NaiveDate,
) -> ServiceResult<Vec<ReportRow>> {
    actor.require(Permission::DutyRead)?;
    Ok(p.store.duty_reports(&day(from), &day(to)).await?)
}

/// A hand-over note for the next shift.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandoverRequest {
    pub date: String,
    pub slot: String,
    pub shift: String,
    pub note: String,
}

/// Adds a hand-over note (by someone on that duty, or a duty manager).
pub async fn add_handover(
    p: &Platform,
    actor: &Principal,
    req: HandoverRequest,
) -> ServiceResult<HandoverRow> {
    actor.require(Permission::DutyRead)?;
    let d = date_field("date", &req.date)?;
    let pol = p.policy.current();
    if pol.pack.duty.slot(&req.slot).is_none() {
        return Err(ServiceError::invalid(
            "slot",
            format!("no slot '{}'", req.slot),
        ));
    }
    if pol.pack.duty.shift(&req.shift).is_none() {
        return Err(ServiceError::invalid(
            "shift",
            format!("no shift '{}'", req.shift),
        ));
    }
    crate::validate::text("note", &req.note, 4000, true)?;
    let on_it = p
        .store
        .duty_assignments(&day(d), &day(d))
        .await?
        .iter()
        .any(|r| r.slot == req.slot && r.shift == req.shift && r.username == actor.username);
    if !on_it {
        actor.require(Permission::DutyManage)?;
    }
    let now = p.now_us();
    let actor_s = actor.actor();
    let author = actor.username.clone();
    Ok(p.store
        .write(move |c| {
            Box::pin(async move {
                let h =
                    st::insert_handover(c, &day(d), &req.slot, &req.shift, &author, &req.note, now)
                        .await?;
                audit(
                    c,
                    &actor_s,
                    "duty.handover.add",
                    "duty_handover",
                    h.id.to_string(),
                    None,
                    Some(json!({"day": h.day, "slot": h.slot, "shift": h.shift})),
                    now,
                )
                .await?;
                Ok(h)
            })
        })
        .await?)
}

/// Hand-over notes of a range.
pub async fn handovers(
    p: &Platform,
    actor: &Principal,
    from: NaiveDate,
    to: NaiveDate,
) -> ServiceResult<Vec<HandoverRow>> {
    actor.require(Permission::DutyRead)?;
    Ok(p.store.duty_handovers(&day(from), &day(to)).await?)
}

// ---------------------------------------------------------------- comp time and ICS

/// Parses `YYYY-MM`.
pub fn month_field(s: &str) -> ServiceResult<(i32, u32)> {
    let bad = || {
        ServiceError::invalid_zh(
            "month",
            format!("'{s}' is not a month YYYY-MM"),
            format!("'{s}' 不是月份(YYYY-MM)"),
        )
    };
    let (y, m) = s.split_once('-').ok_or_else(bad)?;
    let (y, m): (i32, u32) = (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if y.to_string().len() != 4 || !(1..=12).contains(&m) || s.len() != 7 {
        return Err(bad());
    }
    Ok((y, m))
}

fn month_bounds(y: i32, m: u32) -> (NaiveDate, NaiveDate) {
    let first = NaiveDate::from_ymd_opt(y, m, 1).unwrap_or(NaiveDate::MIN);
    let next = if m == 12 {
        NaiveDate::from_ymd_opt(y + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(y, m + 1, 1)
    }
    .unwrap_or(NaiveDate::MAX);
    (first, next - Duration::days(1))
}

/// DUTY-05: one person's comp-time statement for a month.
pub async fn comp_time(
    p: &Platform,
    actor: &Principal,
    person: &str,
    month: &str,
) -> ServiceResult<CompStatement> {
    actor.require(Permission::DutyRead)?;
    let (y, m) = month_field(month)?;
    check_people(p, &[("person".into(), person.to_string())]).await?;
    let (first, last) = month_bounds(y, m);
    let rows = p
        .store
        .duty_assignments_of(person, &day(first), &day(last))
        .await?;
    let a: Vec<Assignment> = rows.iter().filter_map(to_domain).collect();
    let pol = p.policy.current();
    let working = is_working_day(&pol)?;
    Ok(domain::statement(&pol.pack.duty, person, y, m, &a, working))
}

/// Everyone's statements of a month (people with at least one duty), by username.
pub async fn comp_time_all(
    p: &Platform,
    actor: &Principal,
    month: &str,
) -> ServiceResult<Vec<CompStatement>> {
    actor.require(Permission::DutyRead)?;
    let (y, m) = month_field(month)?;
    let (first, last) = month_bounds(y, m);
    let rows = p.store.duty_assignments(&day(first), &day(last)).await?;
    let a: Vec<Assignment> = rows.iter().filter_map(to_domain).collect();
    let mut people: Vec<&str> = a.iter().map(|x| x.person.as_str()).collect();
    people.sort();
    people.dedup();
    let pol = p.policy.current();
    let working = is_working_day(&pol)?;
    Ok(people
        .into_iter()
        .map(|u| domain::statement(&pol.pack.duty, u, y, m, &a, &working))
        .collect())
}

/// Days of the ICS feed around today: the past month and the next half year.
const ICS_PAST_DAYS: i64 = 31;
const ICS_FUTURE_DAYS: i64 = 183;

/// One person's duties as an RFC 5545 calendar.
pub async fn ics(p: &Platform, actor: &Principal, person: &str) -> ServiceResult<String> {
    actor.require(Permission::DutyRead)?;
    check_people(p, &[("person".into(), person.to_string())]).await?;
    let t = today(p);
    let rows = p
        .store
        .duty_assignments_of(
            person,
            &day(t - Duration::days(ICS_PAST_DAYS)),
            &day(t + Duration::days(ICS_FUTURE_DAYS)),
        )
        .await?;
    let a: Vec<Assignment> = rows.iter().filter_map(to_domain).collect();
    let pol = p.policy.current();
    let duty = &pol.pack.duty;
    let events: Vec<IcsEvent<'_>> = a
        .iter()
        .map(|x| IcsEvent {
            assignment: x,
            summary: format!(
                "{} · {}",
                duty.slot(&x.slot)
                    .map_or(x.slot.as_str(), |s| s.name_zh.as_str()),
                duty.shift(&x.shift)
                    .map_or(x.shift.as_str(), |s| s.name_zh.as_str())
            ),
        })
        .collect();
    Ok(domain::render_ics(duty, &events, p.clock.now()))
}

// ---------------------------------------------------------------- on duty

/// Who is on duty at `at` for `q` (duty.read); see [`on_duty_at`].
pub async fn on_duty(
    p: &Platform,
    actor: &Principal,
    at: DateTime<Utc>,
    q: &OnDutyQuery<'_>,
) -> ServiceResult<Vec<OnDutyPerson>> {
    actor.require(Permission::DutyRead)?;
    on_duty_at(p, at, q).await
}

/// "Who is on duty at instant `at`" from the in-memory index; the database is read only when the index is
/// missing, stale (older than `lookup.max_staleness`, or the roster changed on this instance) or `at` lies
/// outside the indexed window.
pub async fn on_duty_at(
    p: &Platform,
    at: DateTime<Utc>,
    q: &OnDutyQuery<'_>,
) -> ServiceResult<Vec<OnDutyPerson>> {
    let snap = p.duty.snapshot(p, at).await?;
    Ok(snap.lookup(at.timestamp_micros(), q))
}
