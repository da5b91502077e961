//! calendars.toml (business-hour calendars) and the holidays/ folder (C-2 working days).

use std::collections::HashSet;

use chrono::{Datelike, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};
use tianshu_workcal::{CalendarSpec, HolidayYear};

use super::error::Issue;
use super::pack::check_time_zone;
use super::units::{check_key, check_non_empty};

/// calendars.toml as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarsPolicy {
    /// Calendar used when a rule names none (C-2: deadlines count office working days by default).
    pub default_calendar: String,
    /// The named calendars.
    #[serde(rename = "calendar", default)]
    pub calendars: Vec<CalendarSpec>,
}

impl CalendarsPolicy {
    /// The calendar called `name`.
    pub fn get(&self, name: &str) -> Option<&CalendarSpec> {
        self.calendars.iter().find(|c| c.name == name)
    }

    pub(crate) fn validate(&self, issues: &mut Vec<Issue>) {
        let mut names = HashSet::new();
        for (i, c) in self.calendars.iter().enumerate() {
            let at = |f: &str| format!("calendar[{i}].{f}");
            check_key(&at("name"), &c.name, issues);
            if !names.insert(c.name.as_str()) {
                issues.push(Issue::new(
                    at("name"),
                    format!("duplicate calendar name '{}'", c.name),
                ));
            }
            check_time_zone(&at("time_zone"), &c.time_zone, issues);
            let mut spans = Vec::new();
            for (j, h) in c.hours.iter().enumerate() {
                let path = format!("calendar[{i}].hours[{j}]");
                match parse_hours(h) {
                    Ok(span) => {
                        if let Some(other) =
                            spans.iter().position(|&(s, e)| span.0 < e && s < span.1)
                        {
                            issues.push(Issue::new(
                                path,
                                format!("'{h}' overlaps hours[{other}] '{}'", c.hours[other]),
                            ));
                        }
                        spans.push(span);
                    }
                    Err(msg) => issues.push(Issue::new(path, msg)),
                }
            }
        }
        if !names.contains(self.default_calendar.as_str()) {
            issues.push(Issue::new(
                "default_calendar",
                format!(
                    "'{}' is not a calendar defined in this file",
                    self.default_calendar
                ),
            ));
        }
    }
}

/// Seconds a calendar is open on one of its days (all its hours; a calendar without hours is open all day).
/// This is the length of one working day when limits are written in working days (SLA-04).
pub(crate) fn day_seconds(spec: &tianshu_workcal::CalendarSpec) -> i64 {
    if spec.hours.is_empty() {
        return 86_400;
    }
    spec.hours
        .iter()
        .filter_map(|h| parse_hours(h).ok())
        .map(|(a, b)| i64::from(b.saturating_sub(a)) * 60)
        .sum()
}

/// Parses `HH:MM-HH:MM` into minutes of the day; the end may be `24:00`, and must be after the start.
pub(crate) fn parse_hours(s: &str) -> Result<(u32, u32), String> {
    let bad = || format!("'{s}' is not HH:MM-HH:MM (e.g. 09:00-18:00)");
    let (a, b) = s.split_once('-').ok_or_else(bad)?;
    let minute = |t: &str| -> Option<u32> {
        let (h, m) = t.split_once(':')?;
        if h.len() != 2 || m.len() != 2 {
            return None;
        }
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
    };
    let (start, end) = (minute(a).ok_or_else(bad)?, minute(b).ok_or_else(bad)?);
    if start >= end {
        return Err(format!("'{s}': start must be before end"));
    }
    Ok((start, end))
}

/// Checks one holidays/*.toml file on its own; duplicate years across files are checked by the loader.
pub(crate) fn validate_holiday_year(y: &HolidayYear, issues: &mut Vec<Issue>) {
    let in_year = |d: NaiveDate| d.year() == y.year;
    if !(1949..=2200).contains(&y.year) {
        issues.push(Issue::new(
            "year",
            format!("{} is not a plausible year", y.year),
        ));
        return;
    }
    let mut ranges: Vec<(NaiveDate, NaiveDate)> = Vec::new();
    for (i, h) in y.holidays.iter().enumerate() {
        let at = |f: &str| format!("holidays[{i}].{f}");
        check_non_empty(&at("name"), &h.name, issues);
        if h.from > h.to {
            issues.push(Issue::new(
                at("to"),
                format!("{} is before from ({})", h.to, h.from),
            ));
            continue;
        }
        // A range may start in the previous year (元旦 runs such as Dec 30 – Jan 1) but must touch this year.
        if !in_year(h.from) && !in_year(h.to) {
            issues.push(Issue::new(
                at("from"),
                format!("{} – {} lies outside {}", h.from, h.to, y.year),
            ));
        }
        if let Some(k) = ranges.iter().position(|&(f, t)| h.from <= t && f <= h.to) {
            issues.push(Issue::new(at("from"), format!("overlaps holidays[{k}]")));
        }
        ranges.push((h.from, h.to));
    }
    let mut days = HashSet::new();
    for (i, w) in y.workdays.iter().enumerate() {
        let path = format!("workdays[{i}].date");
        if !matches!(w.date.weekday(), Weekday::Sat | Weekday::Sun) {
            issues.push(Issue::new(
                path.clone(),
                format!(
                    "{} is a {:?}; a make-up working day (调休) must be a Saturday or Sunday",
                    w.date,
                    w.date.weekday()
                ),
            ));
        }
        if !in_year(w.date) {
            issues.push(Issue::new(
                path.clone(),
                format!("{} is not in {}", w.date, y.year),
            ));
        }
        if ranges.iter().any(|&(f, t)| f <= w.date && w.date <= t) {
            issues.push(Issue::new(
                path.clone(),
                format!("{} is also inside a holiday range", w.date),
            ));
        }
        if !days.insert(w.date) {
            issues.push(Issue::new(path, format!("{} listed twice", w.date)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_parse_and_reject() {
        assert_eq!(parse_hours("09:00-18:00"), Ok((540, 1080)));
        assert_eq!(parse_hours("08:30-24:00"), Ok((510, 1440)));
        for bad in [
            "9:00-18:00",
            "18:00-09:00",
            "09:00-09:00",
            "09:60-10:00",
            "24:30-25:00",
            "0900-1800",
            "",
        ] {
            assert!(parse_hours(bad).is_err(), "{bad}");
        }
    }
}
