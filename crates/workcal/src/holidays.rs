//! The working-day definition (C-2): Mon–Fri, minus public holidays, plus 调休 make-up days.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{Datelike, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

use crate::spec::HolidayYear;

/// Holiday ranges longer than this are almost certainly a typo in the data file.
const MAX_RANGE_DAYS: i64 = 31;

/// One problem found in holiday data, located by a field path such as `holidays[2].to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarIssue {
    pub path: String,
    pub message: String,
}

impl fmt::Display for CalendarIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Public holidays and make-up days of the covered years, answering "is this a working day?" (C-2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holidays {
    off: BTreeMap<NaiveDate, String>,
    makeup: BTreeMap<NaiveDate, String>,
    years: BTreeSet<i32>,
}

impl Holidays {
    /// No holidays at all: working days are exactly Mon–Fri.
    pub fn none() -> Self {
        Self::default()
    }

    /// Builds from published years without validating; run [`Holidays::validate`] first for untrusted data.
    pub fn new(years: &[HolidayYear]) -> Self {
        let mut h = Self::default();
        for y in years {
            h.years.insert(y.year);
            for r in &y.holidays {
                // Bounded so that an inverted or absurd range in unvalidated data cannot hang or exhaust memory.
                for d in r.from.iter_days().take(366).take_while(|d| *d <= r.to) {
                    h.off.insert(d, r.name.clone());
                }
            }
            for m in &y.workdays {
                h.makeup.insert(m.date, m.name.clone());
            }
        }
        h
    }

    /// Builds from published years, refusing data with any validation issue.
    pub fn validated(years: &[HolidayYear]) -> Result<Self, Vec<CalendarIssue>> {
        let issues = Self::validate(years);
        if issues.is_empty() {
            Ok(Self::new(years))
        } else {
            Err(issues)
        }
    }

    /// C-2: Mon–Fri minus public holidays plus make-up days; the make-up list wins on conflict.
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        if self.makeup.contains_key(&date) {
            return true;
        }
        if self.off.contains_key(&date) {
            return false;
        }
        !matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
    }

    /// Name of the public holiday covering `date`, if any.
    pub fn holiday_name(&self, date: NaiveDate) -> Option<&str> {
        self.off.get(&date).map(String::as_str)
    }

    /// Name of the holiday a make-up working day belongs to, if `date` is one.
    pub fn makeup_name(&self, date: NaiveDate) -> Option<&str> {
        self.makeup.get(&date).map(String::as_str)
    }

    /// Years for which official data was loaded; other years fall back to plain Mon–Fri.
    pub fn years(&self) -> BTreeSet<i32> {
        self.years.clone()
    }

    /// Checks several years together; paths are prefixed `years[i].`.
    pub fn validate(years: &[HolidayYear]) -> Vec<CalendarIssue> {
        let mut issues = Vec::new();
        let mut seen: BTreeMap<i32, usize> = BTreeMap::new();
        for (i, y) in years.iter().enumerate() {
            if let Some(first) = seen.get(&y.year) {
                issues.push(CalendarIssue {
                    path: format!("years[{i}].year"),
                    message: format!("duplicate year {} (also years[{first}])", y.year),
                });
            } else {
                seen.insert(y.year, i);
            }
            issues.extend(Self::validate_year(y).into_iter().map(|is| CalendarIssue {
                path: format!("years[{i}].{}", is.path),
                message: is.message,
            }));
        }
        issues
    }

    /// Checks one year's file; paths are relative to it (e.g. `holidays[2].to`).
    pub fn validate_year(y: &HolidayYear) -> Vec<CalendarIssue> {
        let mut issues = Vec::new();
        let mut push = |path: String, message: String| issues.push(CalendarIssue { path, message });
        if !(1900..=2200).contains(&y.year) {
            push("year".into(), format!("{} is outside 1900..=2200", y.year));
        }
        let mut off: BTreeMap<NaiveDate, usize> = BTreeMap::new();
        for (j, r) in y.holidays.iter().enumerate() {
            if r.name.trim().is_empty() {
                push(format!("holidays[{j}].name"), "is empty".into());
            }
            // A New Year break may start on 31 Dec of the previous year (as in the 2023 notice).
            let from_ok =
                r.from.year() == y.year || (r.from.year() == y.year - 1 && r.to.year() == y.year);
            if !from_ok {
                push(
                    format!("holidays[{j}].from"),
                    format!("{} is outside the declared year {}", r.from, y.year),
                );
            }
            if r.to.year() != y.year {
                push(
                    format!("holidays[{j}].to"),
                    format!("{} is outside the declared year {}", r.to, y.year),
                );
            }
            if r.to < r.from {
                push(
                    format!("holidays[{j}].to"),
                    format!("{} ends before from ({})", r.to, r.from),
                );
                continue;
            }
            if (r.to - r.from).num_days() >= MAX_RANGE_DAYS {
                push(
                    format!("holidays[{j}]"),
                    format!("range of more than {MAX_RANGE_DAYS} days, probably a typo"),
                );
                continue;
            }
            let mut overlap = None;
            for d in r.from.iter_days().take_while(|d| *d <= r.to) {
                if let Some(k) = off.insert(d, j) {
                    overlap.get_or_insert(k);
                }
            }
            if let Some(k) = overlap {
                push(format!("holidays[{j}]"), format!("overlaps holidays[{k}]"));
            }
        }
        let mut makeup: BTreeMap<NaiveDate, usize> = BTreeMap::new();
        for (j, m) in y.workdays.iter().enumerate() {
            let path = format!("workdays[{j}].date");
            if m.date.year() != y.year {
                push(
                    path.clone(),
                    format!("{} is outside the declared year {}", m.date, y.year),
                );
            }
            if !matches!(m.date.weekday(), Weekday::Sat | Weekday::Sun) {
                push(
                    path.clone(),
                    format!(
                        "{} is a {}; a make-up working day must be a Saturday or Sunday",
                        m.date,
                        m.date.weekday()
                    ),
                );
            }
            if let Some(k) = off.get(&m.date) {
                push(
                    path.clone(),
                    format!(
                        "{} is both a make-up day and a holiday (holidays[{k}])",
                        m.date
                    ),
                );
            }
            if let Some(k) = makeup.insert(m.date, j) {
                push(path, format!("{} repeats workdays[{k}]", m.date));
            }
        }
        issues
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{HolidayRange, MakeupDay};

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn year2025() -> HolidayYear {
        HolidayYear {
            year: 2025,
            source: String::new(),
            holidays: vec![HolidayRange {
                name: "国庆节、中秋节".into(),
                from: d(2025, 10, 1),
                to: d(2025, 10, 8),
            }],
            workdays: vec![
                MakeupDay {
                    date: d(2025, 9, 28),
                    name: "国庆节".into(),
                },
                MakeupDay {
                    date: d(2025, 10, 11),
                    name: "国庆节".into(),
                },
            ],
        }
    }

    #[test]
    fn weekdays_holidays_and_makeup_days() {
        let h = Holidays::new(&[year2025()]);
        assert!(h.is_working_day(d(2025, 9, 30))); // Tue
        assert!(!h.is_working_day(d(2025, 10, 1))); // Wed, holiday
        assert!(!h.is_working_day(d(2025, 10, 8))); // Wed, holiday
        assert!(h.is_working_day(d(2025, 10, 9)));
        assert!(h.is_working_day(d(2025, 9, 28))); // Sun, make-up
        assert!(h.is_working_day(d(2025, 10, 11))); // Sat, make-up
        assert!(!h.is_working_day(d(2025, 10, 12))); // plain Sunday
        assert_eq!(h.holiday_name(d(2025, 10, 3)), Some("国庆节、中秋节"));
        assert_eq!(h.makeup_name(d(2025, 9, 28)), Some("国庆节"));
        assert_eq!(h.years(), BTreeSet::from([2025]));
        assert!(Holidays::validate(&[year2025()]).is_empty());
    }

    #[test]
    fn validation_reports_paths() {
        let mut y = year2025();
        y.holidays.push(HolidayRange {
            name: "坏".into(),
            from: d(2025, 5, 5),
            to: d(2025, 5, 1),
        });
        y.holidays.push(HolidayRange {
            name: "外".into(),
            from: d(2026, 1, 1),
            to: d(2026, 1, 1),
        });
        y.workdays.push(MakeupDay {
            date: d(2025, 10, 10), // Friday
            name: String::new(),
        });
        y.workdays.push(MakeupDay {
            date: d(2025, 10, 4), // Saturday inside the holiday
            name: String::new(),
        });
        let issues = Holidays::validate(&[y.clone(), year2025()]);
        let paths: Vec<&str> = issues.iter().map(|i| i.path.as_str()).collect();
        assert!(paths.contains(&"years[0].holidays[1].to"), "{issues:?}");
        assert!(
            issues
                .iter()
                .any(|i| i.path == "years[0].holidays[1].to"
                    && i.message.contains("ends before from"))
        );
        assert!(paths.contains(&"years[0].holidays[2].from"));
        assert!(issues
            .iter()
            .any(|i| i.path == "years[0].workdays[2].date"
                && i.message.contains("Saturday or Sunday")));
        assert!(issues
            .iter()
            .any(|i| i.path == "years[0].workdays[3].date" && i.message.contains("holiday")));
        assert!(paths.contains(&"years[1].year"));
        assert!(Holidays::validated(&[y]).is_err());
    }

    #[test]
    fn cross_year_new_year_break_is_allowed() {
        let y = HolidayYear {
            year: 2023,
            source: String::new(),
            holidays: vec![HolidayRange {
                name: "元旦".into(),
                from: d(2022, 12, 31),
                to: d(2023, 1, 2),
            }],
            workdays: vec![],
        };
        assert!(Holidays::validate_year(&y).is_empty());
        assert!(!Holidays::new(&[y]).is_working_day(d(2023, 1, 2)));
    }

    #[test]
    fn inverted_range_does_not_hang_or_panic() {
        let y = HolidayYear {
            year: 2025,
            source: String::new(),
            holidays: vec![HolidayRange {
                name: "x".into(),
                from: NaiveDate::MAX,
                to: NaiveDate::MIN,
            }],
            workdays: vec![],
        };
        let h = Holidays::new(std::slice::from_ref(&y));
        assert!(h.is_working_day(d(2025, 1, 2)));
        assert!(!Holidays::validate_year(&y).is_empty());
    }
}
