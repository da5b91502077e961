//! Duty rosters (DUTY-02..DUTY-06, DUTY-09): the weekday rotation, coverage checks, comp time, monthly
//! statements, ICS rendering and the in-memory on-duty index. Pure: no SQL, no HTTP; the calendar comes in as
//! a function and time as a parameter.

mod comp;
mod ics;
mod index;

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::policy::DutyPolicy;

pub use comp::{comp_minutes, statement, CompLine, CompStatement};
pub use ics::{render_ics, IcsEvent};
pub use index::{DutyIndex, OnDuty, OnDutyQuery};

/// One person on one slot and shift of one day.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Assignment {
    /// Local date of the shift.
    pub date: NaiveDate,
    /// Slot key (duty.toml).
    pub slot: String,
    /// Shift key (duty.toml).
    pub shift: String,
    /// Username of the person on duty.
    pub person: String,
    /// Organisation key the person serves from (a branch, or HQ); region-scoped slots answer only for it.
    pub region: Option<String>,
}

/// The people of the DUTY-02 central team: two per rotation branch and the HQ pair.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Team {
    /// Branch org key → its people, in `rotation.branch_shifts` order (day person first).
    pub branches: BTreeMap<String, Vec<String>>,
    /// HQ people, in `rotation.hq` position order.
    pub hq: Vec<String>,
}

impl Team {
    /// Number of distinct people (DUTY-02: 7 × 2 + 2 = 16).
    pub fn size(&self) -> usize {
        let mut all: Vec<&String> = self.branches.values().flatten().chain(&self.hq).collect();
        all.sort();
        all.dedup();
        all.len()
    }
}

/// Why a rotation cannot be generated; each names the part of the team to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RosterError {
    /// The team names a branch the rotation does not know.
    #[error("branch '{0}' has no weekday in the rotation (duty.toml rotation.branch)")]
    UnknownBranch(String),
    /// A rotation branch is missing from the team or has too few people.
    #[error("branch '{branch}' needs {need} people (one per shift), the team has {have}")]
    BranchPeople {
        branch: String,
        need: usize,
        have: usize,
    },
    /// Too few HQ people for the HQ positions.
    #[error("the HQ slot needs {need} people, the team has {have}")]
    HqPeople { need: usize, have: usize },
    /// `to` is before `from`, or the range is longer than allowed.
    #[error("{0}")]
    Range(String),
}

impl RosterError {
    /// The request field to blame.
    pub fn field(&self) -> String {
        match self {
            RosterError::UnknownBranch(b) | RosterError::BranchPeople { branch: b, .. } => {
                format!("team.branches.{b}")
            }
            RosterError::HqPeople { .. } => "team.hq".into(),
            RosterError::Range(_) => "to".into(),
        }
    }
}

/// Longest range one generation covers (a year and a bit), so a typo cannot build millions of rows.
pub const MAX_RANGE_DAYS: i64 = 400;

/// DUTY-04: the weekday rotation from `from` to `to` inclusive, 7 days a week including holidays (the rotation
/// is not a working-day rule, C-2). The branch owning a weekday staffs `branch_shifts` with its people in order;
/// the HQ position covering the weekday staffs the HQ slot.
pub fn generate(
    p: &DutyPolicy,
    team: &Team,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<Assignment>, RosterError> {
    let days = (to - from).num_days();
    if days < 0 {
        return Err(RosterError::Range(format!("{to} is before {from}")));
    }
    if days >= MAX_RANGE_DAYS {
        return Err(RosterError::Range(format!(
            "{from}..{to} is longer than {MAX_RANGE_DAYS} days"
        )));
    }
    let r = &p.rotation;
    for b in team.branches.keys() {
        if !r.branches.iter().any(|x| &x.branch == b) {
            return Err(RosterError::UnknownBranch(b.clone()));
        }
    }
    for b in &r.branches {
        let have = team.branches.get(&b.branch).map_or(0, Vec::len);
        if have < r.branch_shifts.len() {
            return Err(RosterError::BranchPeople {
                branch: b.branch.clone(),
                need: r.branch_shifts.len(),
                have,
            });
        }
    }
    if team.hq.len() < r.hq.len() {
        return Err(RosterError::HqPeople {
            need: r.hq.len(),
            have: team.hq.len(),
        });
    }
    let mut out = Vec::new();
    for date in from.iter_days().take(days as usize + 1) {
        let w = date.weekday();
        if let Some(branch) = r.branch_for(w) {
            let people = &team.branches[branch];
            for (shift, person) in r.branch_shifts.iter().zip(people) {
                out.push(Assignment {
                    date,
                    slot: r.branch_slot.clone(),
                    shift: shift.clone(),
                    person: person.clone(),
                    region: Some(branch.to_string()),
                });
            }
        }
        if let Some(i) = r.hq_position_for(w) {
            out.push(Assignment {
                date,
                slot: r.hq_slot.clone(),
                shift: r.hq_shift.clone(),
                person: team.hq[i].clone(),
                region: Some(r.hq_org.clone()),
            });
        }
    }
    Ok(out)
}

/// What the coverage check found wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CoverageKind {
    /// A required slot has fewer people than it needs on a shift.
    Uncovered,
    /// One person is on two duties whose times overlap.
    Overlap,
    /// The assignment names a slot or shift the pack does not have, or a shift its slot is not staffed on.
    Unknown,
}

/// One coverage problem, naming the day and the shift.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoverageProblem {
    /// Which kind.
    pub kind: CoverageKind,
    /// The day.
    pub date: NaiveDate,
    /// The shift.
    pub shift: String,
    /// The slot.
    pub slot: String,
    /// The person, for overlaps.
    pub person: Option<String>,
    /// Readable explanation.
    pub message: String,
}

impl fmt::Display for CoverageProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} ({}): {}",
            self.date, self.shift, self.slot, self.message
        )
    }
}

/// Checks `assignments` over `from..=to`: every required slot staffed on each of its shifts every day, nobody on
/// two overlapping duties, and only known slots and shifts. Sorted by date, then shift order.
pub fn check_coverage(
    p: &DutyPolicy,
    assignments: &[Assignment],
    from: NaiveDate,
    to: NaiveDate,
) -> Vec<CoverageProblem> {
    let mut problems = Vec::new();
    let mut count: HashMap<(NaiveDate, &str, &str), u32> = HashMap::new();
    let mut by_person: HashMap<(NaiveDate, &str), Vec<&Assignment>> = HashMap::new();
    for a in assignments {
        let slot = p.slot(&a.slot);
        let shift = p.shift(&a.shift);
        match (slot, shift) {
            (Some(s), Some(_)) if s.shifts.contains(&a.shift) => {}
            _ => {
                problems.push(CoverageProblem {
                    kind: CoverageKind::Unknown,
                    date: a.date,
                    shift: a.shift.clone(),
                    slot: a.slot.clone(),
                    person: Some(a.person.clone()),
                    message: format!(
                        "slot '{}' on shift '{}' is not defined in duty.toml",
                        a.slot, a.shift
                    ),
                });
                continue;
            }
        }
        *count.entry((a.date, &a.slot, &a.shift)).or_default() += 1;
        by_person.entry((a.date, &a.person)).or_default().push(a);
    }
    if to >= from {
        for date in from.iter_days().take((to - from).num_days() as usize + 1) {
            for s in p.slots.iter().filter(|s| s.required) {
                for sh in &s.shifts {
                    let have = count
                        .get(&(date, s.key.as_str(), sh.as_str()))
                        .copied()
                        .unwrap_or(0);
                    if have < s.people {
                        problems.push(CoverageProblem {
                            kind: CoverageKind::Uncovered,
                            date,
                            shift: sh.clone(),
                            slot: s.key.clone(),
                            person: None,
                            message: format!(
                                "{have} of {} required people on duty ({})",
                                s.people, s.rule
                            ),
                        });
                    }
                }
            }
        }
    }
    for ((date, person), list) in &by_person {
        for (i, a) in list.iter().enumerate() {
            for b in &list[i + 1..] {
                let (sa, sb) = (p.shift(&a.shift), p.shift(&b.shift));
                let (Some(sa), Some(sb)) = (sa, sb) else {
                    continue;
                };
                if sa.start_time() < sb.end_time() && sb.start_time() < sa.end_time() {
                    problems.push(CoverageProblem {
                        kind: CoverageKind::Overlap,
                        date: *date,
                        shift: b.shift.clone(),
                        slot: b.slot.clone(),
                        person: Some(person.to_string()),
                        message: format!(
                            "{person} is also on {} ({}) at the same time",
                            a.slot, a.shift
                        ),
                    });
                }
            }
        }
    }
    let order = |k: &str| {
        p.shifts
            .iter()
            .position(|s| s.key == k)
            .unwrap_or(usize::MAX)
    };
    problems.sort_by(|a, b| {
        (a.date, order(&a.shift), &a.slot, &a.person).cmp(&(
            b.date,
            order(&b.shift),
            &b.slot,
            &b.person,
        ))
    });
    problems
}

/// The pack's time zone (validated at load; UTC only if an unvalidated policy slips through).
pub fn time_zone(p: &DutyPolicy) -> Tz {
    p.time_zone.parse().unwrap_or(Tz::UTC)
}

/// Start and end instants of `shift` on local `date`; `None` for an unknown shift.
pub fn shift_bounds(
    p: &DutyPolicy,
    date: NaiveDate,
    shift: &str,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let s = p.shift(shift)?;
    let tz = time_zone(p);
    let at = |t| {
        tz.from_local_datetime(&date.and_time(t))
            .earliest()
            .map(|d| d.with_timezone(&Utc))
    };
    Some((at(s.start_time())?, at(s.end_time())?))
}

#[cfg(test)]
mod tests;
