//! DUTY-05 comp time (补休) and the per-person monthly statement.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use super::Assignment;
use crate::policy::DutyPolicy;

/// Minutes of comp time one assignment earns (DUTY-05): the pack's hours for its shift, by whether its date is a
/// working day of the calendar (make-up 调休 Saturdays count as working days, holidays as non-working days —
/// Proposed default). Slots without `comp_time` earn nothing.
pub fn comp_minutes(p: &DutyPolicy, a: &Assignment, working_day: bool) -> i64 {
    match p.slot(&a.slot) {
        Some(s) if s.comp_time => p.comp_time.minutes(&a.shift, working_day),
        _ => 0,
    }
}

/// One duty in a statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompLine {
    /// The day.
    pub date: NaiveDate,
    /// Slot key.
    pub slot: String,
    /// Shift key.
    pub shift: String,
    /// Whether the day was a working day of the calendar.
    pub working_day: bool,
    /// Comp time earned, minutes.
    pub minutes: i64,
}

/// A person's comp time for one month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompStatement {
    /// Username.
    pub person: String,
    /// `YYYY-MM`.
    pub month: String,
    /// Every duty of the month, by date and shift order.
    pub lines: Vec<CompLine>,
    /// Total minutes.
    pub total_minutes: i64,
    /// Total hours (minutes / 60).
    pub total_hours: f64,
}

/// The statement of `person` for `year`-`month` from `assignments` (others are ignored).
pub fn statement(
    p: &DutyPolicy,
    person: &str,
    year: i32,
    month: u32,
    assignments: &[Assignment],
    is_working_day: impl Fn(NaiveDate) -> bool,
) -> CompStatement {
    let order = |k: &str| {
        p.shifts
            .iter()
            .position(|s| s.key == k)
            .unwrap_or(usize::MAX)
    };
    let mut mine: Vec<&Assignment> = assignments
        .iter()
        .filter(|a| a.person == person && a.date.year() == year && a.date.month() == month)
        .collect();
    mine.sort_by(|a, b| {
        (a.date, order(&a.shift), &a.slot).cmp(&(b.date, order(&b.shift), &b.slot))
    });
    let lines: Vec<CompLine> = mine
        .into_iter()
        .map(|a| {
            let working_day = is_working_day(a.date);
            CompLine {
                date: a.date,
                slot: a.slot.clone(),
                shift: a.shift.clone(),
                working_day,
                minutes: comp_minutes(p, a, working_day),
            }
        })
        .collect();
    let total_minutes = lines.iter().map(|l| l.minutes).sum();
    CompStatement {
        person: person.to_string(),
        month: format!("{year:04}-{month:02}"),
        lines,
        total_minutes,
        total_hours: total_minutes as f64 / 60.0,
    }
}
