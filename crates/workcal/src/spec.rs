//! Declarative calendar data as it appears in the policy pack and the database.
//!
//! These types are the serde shapes; the arithmetic lives in [`crate::WorkCalendar`].

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// Which days a business-hour calendar is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DayRule {
    /// Every calendar day, weekends and holidays included (e.g. DUTY-01 08:30–22:00).
    EveryDay,
    /// Working days only: Mon–Fri minus public holidays plus 调休 make-up days (C-2).
    WorkingDays,
}

/// A named business-hour calendar, e.g. `office` = 09:00–18:00 on working days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarSpec {
    /// Stable key referenced by deadline rules (`working_hours@office`).
    pub name: String,
    /// Human title (zh-CN).
    #[serde(default)]
    pub title: String,
    /// IANA time zone; the pack default is Asia/Shanghai.
    #[serde(default = "default_tz")]
    pub time_zone: String,
    pub days: DayRule,
    /// Open intervals within a day as "HH:MM-HH:MM" (end may be "24:00"); empty means the whole day.
    #[serde(default)]
    pub hours: Vec<String>,
}

fn default_tz() -> String {
    "Asia/Shanghai".to_string()
}

/// One year of officially published public holidays and make-up working days (调休).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HolidayYear {
    pub year: i32,
    /// Where the data comes from (e.g. the State Council notice of that year).
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub holidays: Vec<HolidayRange>,
    /// Weekend days that are working days because of 调休.
    #[serde(default)]
    pub workdays: Vec<MakeupDay>,
}

/// A run of days off, inclusive on both ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HolidayRange {
    pub name: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
}

/// A weekend day that is worked (调休 上班).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MakeupDay {
    pub date: NaiveDate,
    /// The holiday this make-up day belongs to.
    #[serde(default)]
    pub name: String,
}
