//! Working-day calendars and working-time arithmetic for every SLA in Tianshu.
//!
//! Pure: no IO. Instants are `DateTime<Utc>`; calendars interpret them in their own time zone.

mod deadline;
mod spec;

pub use deadline::{DeadlineBasis, DeadlineParseError};
pub use spec::{CalendarSpec, DayRule, HolidayRange, HolidayYear, MakeupDay};
