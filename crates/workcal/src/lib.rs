//! Working-day calendars and working-time arithmetic for every SLA in Tianshu.
//!
//! Pure: no IO. Instants are `DateTime<Utc>`; calendars interpret them in their own time zone.

mod calendar;
mod deadline;
mod holidays;
mod spec;

pub use calendar::{add_wall_clock, CalendarError, Pause, WorkCalendar, SEARCH_YEARS};
pub use deadline::{DeadlineBasis, DeadlineParseError};
pub use holidays::{CalendarIssue, Holidays};
pub use spec::{CalendarSpec, DayRule, HolidayRange, HolidayYear, MakeupDay};
