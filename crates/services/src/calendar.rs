//! The named working-day calendars of the active policy, with the operator-edited holidays.

use std::collections::BTreeMap;

use serde::Serialize;
use tianshu_core::PolicyPack;
use tianshu_workcal::{CalendarIssue, HolidayYear, Holidays, WorkCalendar};

use crate::error::{ServiceError, ServiceResult};

/// Every calendar of the pack, built over the effective holiday years.
#[derive(Debug, Clone)]
pub struct CalendarSet {
    calendars: BTreeMap<String, WorkCalendar>,
    years: Vec<HolidayYear>,
}

/// A calendar as listed by the API.
#[derive(Debug, Clone, Serialize)]
pub struct CalendarInfo {
    pub name: String,
    pub title: String,
    pub time_zone: String,
}

impl CalendarSet {
    /// Builds the set; `years` are the effective holiday years (database edits over pack seeds).
    pub fn build(pack: &PolicyPack, years: Vec<HolidayYear>) -> ServiceResult<CalendarSet> {
        let holidays = Holidays::new(&years);
        let mut calendars = BTreeMap::new();
        for spec in &pack.calendars.calendars {
            let cal = WorkCalendar::new(spec, holidays.clone()).map_err(|e| {
                ServiceError::Internal(format!("calendar '{}' in a validated pack: {e}", spec.name))
            })?;
            calendars.insert(spec.name.clone(), cal);
        }
        Ok(CalendarSet { calendars, years })
    }

    /// A calendar by name.
    pub fn get(&self, name: &str) -> ServiceResult<&WorkCalendar> {
        self.calendars
            .get(name)
            .ok_or_else(|| ServiceError::NotFound(format!("calendar '{name}'")))
    }

    /// All calendars.
    pub fn list(&self) -> Vec<CalendarInfo> {
        self.calendars
            .values()
            .map(|c| CalendarInfo {
                name: c.name().to_string(),
                title: c.title().to_string(),
                time_zone: c.time_zone().name().to_string(),
            })
            .collect()
    }

    /// The effective holiday data of one year.
    pub fn year(&self, year: i32) -> Option<&HolidayYear> {
        self.years.iter().find(|y| y.year == year)
    }

    /// Years with holiday data.
    pub fn years(&self) -> Vec<i32> {
        self.years.iter().map(|y| y.year).collect()
    }
}

/// Validation problems of an edited holiday year, as `(field, message)`.
pub fn check_year(y: &HolidayYear) -> Vec<CalendarIssue> {
    Holidays::validate_year(y)
}
