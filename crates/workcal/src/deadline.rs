//! How a deadline rule counts time. Every deadline rule in the policy pack names its basis.
//!
//! Grammar (one token, no spaces):
//! - `30m`, `24h`, `4.5h`, `90s`          wall-clock duration from the event (C-4, 24×7)
//! - `8h@office`, `30m@daily_0830_2200`   working time on a named business-hour calendar
//! - `3d`                                 end (23:59:59) of the N-th calendar day after the event's day (C-4)
//! - `2wd`                                end of the N-th working day after the event's day (C-4)
//! - `-3wd`                               end of the working day N working days before a date (C-3)
//! - `-2d`                                end of the calendar day N days before a date
//! - `next@12:00`                         that local time of day on the day after the event's day (INC-06)

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The basis and size of one deadline rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeadlineBasis {
    /// Elapsed wall-clock seconds.
    WallClock { seconds: i64 },
    /// Elapsed working seconds on the named calendar.
    WorkingTime { seconds: i64, calendar: String },
    /// End of the N-th calendar day after the event's local day.
    CalendarDaysEnd { days: u32 },
    /// End of the N-th working day after the event's local day.
    WorkingDaysEnd { days: u32 },
    /// End of the working day reached by stepping back N working days from a date.
    WorkingDaysBefore { days: u32 },
    /// End of the calendar day N days before a date.
    CalendarDaysBefore { days: u32 },
    /// A local time of day (seconds after midnight, < 24 h) on the calendar day after the event's local day.
    NextDayAt { seconds: u32 },
}

/// Why a basis string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid deadline '{input}': {reason} (expected e.g. 30m, 24h, 8h@office, 3d, 2wd, -3wd, next@12:00)"
)]
pub struct DeadlineParseError {
    pub input: String,
    pub reason: &'static str,
}

impl FromStr for DeadlineBasis {
    type Err = DeadlineParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| DeadlineParseError {
            input: s.to_string(),
            reason,
        };
        let t = s.trim();
        if t.is_empty() {
            return Err(err("empty"));
        }
        // Checked before the `@calendar` split: `next@HH:MM` names a time of day, not a calendar.
        if let Some(hhmm) = t.strip_prefix("next@") {
            return parse_time_of_day(hhmm)
                .map(|seconds| DeadlineBasis::NextDayAt { seconds })
                .ok_or_else(|| err("time of day must be HH:MM between 00:00 and 23:59"));
        }
        let (before, body) = match t.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, t),
        };
        let (body, calendar) = match body.split_once('@') {
            Some((b, c)) if !c.is_empty() => (b, Some(c.to_string())),
            Some(_) => return Err(err("calendar name after '@' is empty")),
            None => (body, None),
        };
        let split = body
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| err("missing unit"))?;
        let (num, unit) = body.split_at(split);
        if num.is_empty() {
            return Err(err("missing number"));
        }
        let value: f64 = num.parse().map_err(|_| err("not a number"))?;
        if !value.is_finite() || !(0.0..=1.0e7).contains(&value) {
            return Err(err("number out of range"));
        }
        let whole = |v: f64| -> Result<u32, DeadlineParseError> {
            if v.fract() != 0.0 || v > u32::MAX as f64 {
                Err(err("day counts must be whole numbers"))
            } else {
                Ok(v as u32)
            }
        };
        match unit {
            "s" | "m" | "h" => {
                if before {
                    return Err(err("durations cannot count backwards"));
                }
                let factor = match unit {
                    "s" => 1.0,
                    "m" => 60.0,
                    _ => 3600.0,
                };
                let secs = value * factor;
                if secs.fract() != 0.0 {
                    return Err(err("duration must be a whole number of seconds"));
                }
                let seconds = secs as i64;
                Ok(match calendar {
                    Some(calendar) => DeadlineBasis::WorkingTime { seconds, calendar },
                    None => DeadlineBasis::WallClock { seconds },
                })
            }
            "d" | "wd" => {
                if calendar.is_some() {
                    return Err(err("day counts take no calendar"));
                }
                let days = whole(value)?;
                Ok(match (unit, before) {
                    ("d", false) => DeadlineBasis::CalendarDaysEnd { days },
                    ("d", true) => DeadlineBasis::CalendarDaysBefore { days },
                    (_, false) => DeadlineBasis::WorkingDaysEnd { days },
                    (_, true) => DeadlineBasis::WorkingDaysBefore { days },
                })
            }
            _ => Err(err("unknown unit (use s, m, h, d or wd)")),
        }
    }
}

impl fmt::Display for DeadlineBasis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn dur(f: &mut fmt::Formatter<'_>, s: i64) -> fmt::Result {
            if s % 3600 == 0 {
                write!(f, "{}h", s / 3600)
            } else if s % 60 == 0 {
                write!(f, "{}m", s / 60)
            } else {
                write!(f, "{s}s")
            }
        }
        match self {
            DeadlineBasis::WallClock { seconds } => dur(f, *seconds),
            DeadlineBasis::WorkingTime { seconds, calendar } => {
                dur(f, *seconds)?;
                write!(f, "@{calendar}")
            }
            DeadlineBasis::CalendarDaysEnd { days } => write!(f, "{days}d"),
            DeadlineBasis::WorkingDaysEnd { days } => write!(f, "{days}wd"),
            DeadlineBasis::WorkingDaysBefore { days } => write!(f, "-{days}wd"),
            DeadlineBasis::CalendarDaysBefore { days } => write!(f, "-{days}d"),
            DeadlineBasis::NextDayAt { seconds } => {
                write!(f, "next@{:02}:{:02}", seconds / 3600, seconds % 3600 / 60)
            }
        }
    }
}

/// `HH:MM` (two-digit minutes) to seconds after midnight; 24:00 is rejected because it is the next day's 00:00.
fn parse_time_of_day(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    let digits = |x: &str| (1..=2).contains(&x.len()) && x.bytes().all(|c| c.is_ascii_digit());
    if !digits(h) || m.len() != 2 || !digits(m) {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 3600 + m * 60)
}

impl Serialize for DeadlineBasis {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DeadlineBasis {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_day_time_of_day_parses_inc_06() {
        assert_eq!(
            "next@12:00".parse::<DeadlineBasis>().unwrap(),
            DeadlineBasis::NextDayAt { seconds: 12 * 3600 }
        );
        assert_eq!(
            "next@9:05".parse::<DeadlineBasis>().unwrap().to_string(),
            "next@09:05"
        );
    }

    #[test]
    fn parses_every_form_and_round_trips() {
        for s in [
            "30m",
            "24h",
            "90s",
            "8h@office",
            "3d",
            "2wd",
            "-3wd",
            "-2d",
            "next@12:00",
            "next@08:30",
        ] {
            let b: DeadlineBasis = s.parse().unwrap();
            assert_eq!(b.to_string(), s);
        }
        assert_eq!(
            "4.5h".parse::<DeadlineBasis>().unwrap(),
            DeadlineBasis::WallClock { seconds: 16200 }
        );
    }

    #[test]
    fn rejects_nonsense() {
        for s in [
            "",
            "h",
            "3",
            "3x",
            "-3h",
            "1.5wd",
            "2wd@office",
            "3h@",
            "nanh",
            "-",
            "next@24:00",
            "next@12",
            "next@12:5",
            "next@",
            "-next@12:00",
        ] {
            assert!(s.parse::<DeadlineBasis>().is_err(), "{s} should fail");
        }
    }
}
