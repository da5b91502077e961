//! Business-hour calendars and the deadline arithmetic built on them (C-2, C-3, C-4).
//!
//! Decisions the rules leave open, fixed here so every SLA agrees:
//! - Instants are UTC; a calendar reads them in its own time zone. A local time that occurs
//!   twice (DST fold) maps to its first occurrence, one that never occurs (DST gap) to the first
//!   instant after the gap, so the mapping never panics and never runs backwards.
//! - `add_working_time(start, 0, _)` is `start` itself: it is the earliest instant by which the
//!   requested working time has elapsed, which keeps `working_time_between(start, add(start, d)) == d`.
//!   For d > 0 the clock starts at the next opening, and a run that ends exactly at a closing
//!   time returns that closing time (18:00), not the next opening.
//! - Searching for open time gives up with [`CalendarError::NeverOpen`] after [`SEARCH_YEARS`]
//!   years without any open interval, so a calendar closed "forever" cannot hang a caller.
//! - Pauses extend duration bases (`30m`, `8h@office`); day-count bases are pinned to a day's
//!   end by C-3/C-4 and ignore pauses, because no rule says how a pause would move them.
//! - End of day is local 23:59:59, as C-3/C-4 say, not 24:00.

use chrono::{
    DateTime, Days, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, TimeZone, Utc,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::deadline::DeadlineBasis;
use crate::holidays::Holidays;
use crate::spec::{CalendarSpec, DayRule};

/// How long to look for the next open interval before giving up with [`CalendarError::NeverOpen`].
pub const SEARCH_YEARS: u32 = 20;
const SEARCH_DAYS: i64 = SEARCH_YEARS as i64 * 366;
const DAY_SECS: u32 = 86_400;
/// The rules put end-of-day at 23:59:59 local, not 24:00 (C-3, C-4).
const END_OF_DAY_SECS: u32 = DAY_SECS - 1;

type Span = (DateTime<Utc>, DateTime<Utc>);

/// A half-open interval `[from, to)` during which an SLA clock is stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pause {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// Why a calendar could not be built or a deadline could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// A field of the calendar spec is invalid; `field` is its path, e.g. `hours[1]`.
    #[error("{field}: {message}")]
    InvalidSpec { field: String, message: String },
    /// A working-time basis names a different calendar than the one asked to evaluate it.
    #[error("basis needs calendar '{expected}' but was evaluated on calendar '{actual}'")]
    WrongCalendar { expected: String, actual: String },
    /// The calendar has no open time within [`SEARCH_YEARS`] years of the given instant.
    #[error("calendar '{calendar}' has no open time within {SEARCH_YEARS} years after {after}")]
    NeverOpen {
        calendar: String,
        after: DateTime<Utc>,
    },
    /// A backward basis was given to `deadline`, or a forward one to `deadline_before`.
    #[error("basis '{basis}' must be evaluated with {use_instead}")]
    WrongDirection {
        basis: String,
        use_instead: &'static str,
    },
    /// Durations count forward only.
    #[error("negative duration {0} s")]
    NegativeDuration(i64),
    /// The result would fall outside the dates chrono can represent.
    #[error("date arithmetic out of range")]
    OutOfRange,
}

/// A named business-hour calendar with its holidays, evaluated in its own time zone.
#[derive(Debug, Clone)]
pub struct WorkCalendar {
    name: String,
    title: String,
    tz: Tz,
    days: DayRule,
    /// Sorted, non-overlapping `[start, end)` seconds after local midnight; end may be 86 400.
    hours: Vec<(u32, u32)>,
    holidays: Holidays,
}

impl WorkCalendar {
    /// Builds a calendar; errors name the offending field (`time_zone`, `hours[i]`).
    pub fn new(spec: &CalendarSpec, holidays: Holidays) -> Result<Self, CalendarError> {
        let tz: Tz = spec
            .time_zone
            .trim()
            .parse()
            .map_err(|_| CalendarError::InvalidSpec {
                field: "time_zone".into(),
                message: format!("unknown IANA time zone '{}'", spec.time_zone),
            })?;
        let mut hours: Vec<(u32, u32)> = Vec::with_capacity(spec.hours.len().max(1));
        for (i, h) in spec.hours.iter().enumerate() {
            let bad = |message: String| CalendarError::InvalidSpec {
                field: format!("hours[{i}]"),
                message,
            };
            let (s, e) = parse_interval(h)
                .ok_or_else(|| bad(format!("'{h}' is not HH:MM-HH:MM (00:00..24:00)")))?;
            if s >= e {
                return Err(bad(format!("'{h}' ends before it starts")));
            }
            if let Some(&(_, prev_end)) = hours.last() {
                if s < prev_end {
                    return Err(bad(format!(
                        "'{h}' overlaps or precedes hours[{}]; list intervals in order",
                        i - 1
                    )));
                }
            }
            hours.push((s, e));
        }
        if hours.is_empty() {
            hours.push((0, DAY_SECS));
        }
        Ok(Self {
            name: spec.name.clone(),
            title: spec.title.clone(),
            tz,
            days: spec.days,
            hours,
            holidays,
        })
    }

    /// Stable key referenced by `…@name` deadline bases.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Human title (zh-CN).
    pub fn title(&self) -> &str {
        &self.title
    }

    /// Time zone in which days and hours are read.
    pub fn time_zone(&self) -> Tz {
        self.tz
    }

    /// Holiday data behind the working-day definition.
    pub fn holidays(&self) -> &Holidays {
        &self.holidays
    }

    /// C-2 working day, independent of this calendar's own opening days (DUTY-01 does not change WD).
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        self.holidays.is_working_day(date)
    }

    /// Local calendar date of an instant in this calendar's time zone.
    pub fn local_date(&self, t: DateTime<Utc>) -> NaiveDate {
        t.with_timezone(&self.tz).date_naive()
    }

    /// Whether the calendar's hours apply on `date` at all.
    pub fn is_open_day(&self, date: NaiveDate) -> bool {
        match self.days {
            DayRule::EveryDay => true,
            DayRule::WorkingDays => self.holidays.is_working_day(date),
        }
    }

    /// Whether `t` lies inside an open interval.
    pub fn is_open(&self, t: DateTime<Utc>) -> bool {
        // Intervals of earlier local days end no later than this day's midnight, which is <= t.
        let d = self.local_date(t);
        self.is_open_day(d)
            && self.hours.iter().any(|&(s, e)| {
                matches!(
                    (self.local_to_utc(d, s), self.local_to_utc(d, e)),
                    (Some(us), Some(ue)) if us <= t && t < ue
                )
            })
    }

    /// First open instant at or after `t`; `NeverOpen` after [`SEARCH_YEARS`] years without one.
    pub fn next_open(&self, t: DateTime<Utc>) -> Result<DateTime<Utc>, CalendarError> {
        let mut spans = self.spans(t);
        match spans.next() {
            Some((s, _)) => Ok(s),
            None => Err(spans.failure(self, t)),
        }
    }

    /// Earliest instant by which `seconds` of open, unpaused time have elapsed since `start` (0 → `start`).
    pub fn add_working_time(
        &self,
        start: DateTime<Utc>,
        seconds: i64,
        pauses: &[Pause],
    ) -> Result<DateTime<Utc>, CalendarError> {
        let amount = checked_duration(seconds)?;
        if amount.is_zero() {
            return Ok(start);
        }
        let mut spans = self.spans(start);
        match advance(spans.by_ref(), amount, &normalize(pauses)) {
            Some(t) => Ok(t),
            None => Err(spans.failure(self, start)),
        }
    }

    /// Whole seconds of open, unpaused time in `[a, b)`; 0 when `b <= a`.
    pub fn working_time_between(
        &self,
        a: DateTime<Utc>,
        b: DateTime<Utc>,
        pauses: &[Pause],
    ) -> i64 {
        if b <= a {
            return 0;
        }
        measure(self.spans(a), b, &normalize(pauses)).num_seconds()
    }

    /// C-4: end (local 23:59:59) of the N-th working day after the event's local day; N = 0 is that day.
    pub fn end_of_nth_working_day_after(
        &self,
        event: DateTime<Utc>,
        n: u32,
    ) -> Result<DateTime<Utc>, CalendarError> {
        let mut d = self.local_date(event);
        let mut left = n;
        while left > 0 {
            d = d.succ_opt().ok_or(CalendarError::OutOfRange)?;
            if self.holidays.is_working_day(d) {
                left -= 1;
            }
        }
        self.end_of_local_day(d)
    }

    /// C-4: end (local 23:59:59) of the N-th calendar day after the event's local day.
    pub fn end_of_nth_calendar_day_after(
        &self,
        event: DateTime<Utc>,
        n: u32,
    ) -> Result<DateTime<Utc>, CalendarError> {
        let d = self
            .local_date(event)
            .checked_add_days(Days::new(u64::from(n)))
            .ok_or(CalendarError::OutOfRange)?;
        self.end_of_local_day(d)
    }

    /// C-3: end of the working day reached by stepping back N working days from `date` (not counted).
    pub fn end_of_working_day_before(
        &self,
        date: NaiveDate,
        n: u32,
    ) -> Result<DateTime<Utc>, CalendarError> {
        let mut d = date;
        let mut left = n;
        while left > 0 {
            d = d.pred_opt().ok_or(CalendarError::OutOfRange)?;
            if self.holidays.is_working_day(d) {
                left -= 1;
            }
        }
        self.end_of_local_day(d)
    }

    /// End (local 23:59:59) of the calendar day N days before `date`.
    pub fn end_of_calendar_day_before(
        &self,
        date: NaiveDate,
        n: u32,
    ) -> Result<DateTime<Utc>, CalendarError> {
        let d = date
            .checked_sub_days(Days::new(u64::from(n)))
            .ok_or(CalendarError::OutOfRange)?;
        self.end_of_local_day(d)
    }

    /// Due instant of a forward basis from `event` (C-4, ESC-03/04, REC-07); pauses extend duration bases only.
    pub fn deadline(
        &self,
        basis: &DeadlineBasis,
        event: DateTime<Utc>,
        pauses: &[Pause],
    ) -> Result<DateTime<Utc>, CalendarError> {
        match basis {
            DeadlineBasis::WallClock { seconds } => add_wall_clock(event, *seconds, pauses),
            DeadlineBasis::WorkingTime { seconds, calendar } => {
                if *calendar != self.name {
                    return Err(CalendarError::WrongCalendar {
                        expected: calendar.clone(),
                        actual: self.name.clone(),
                    });
                }
                self.add_working_time(event, *seconds, pauses)
            }
            DeadlineBasis::CalendarDaysEnd { days } => {
                self.end_of_nth_calendar_day_after(event, *days)
            }
            DeadlineBasis::WorkingDaysEnd { days } => {
                self.end_of_nth_working_day_after(event, *days)
            }
            DeadlineBasis::NextDayAt { seconds } => self.next_day_at(event, *seconds),
            DeadlineBasis::WorkingDaysBefore { .. } | DeadlineBasis::CalendarDaysBefore { .. } => {
                Err(CalendarError::WrongDirection {
                    basis: basis.to_string(),
                    use_instead: "deadline_before",
                })
            }
        }
    }

    /// Due instant of a backward basis (`-3wd`, `-2d`) before a target date (C-3, CHG-03/08, CNT-01..03).
    pub fn deadline_before(
        &self,
        basis: &DeadlineBasis,
        date: NaiveDate,
    ) -> Result<DateTime<Utc>, CalendarError> {
        match basis {
            DeadlineBasis::WorkingDaysBefore { days } => {
                self.end_of_working_day_before(date, *days)
            }
            DeadlineBasis::CalendarDaysBefore { days } => {
                self.end_of_calendar_day_before(date, *days)
            }
            _ => Err(CalendarError::WrongDirection {
                basis: basis.to_string(),
                use_instead: "deadline",
            }),
        }
    }

    /// INC-06: local time of day `seconds` on the calendar day after the event's local day (e.g. 12:00 next day).
    /// Like the other day-anchored bases it ignores pauses, and it counts calendar days, not working days,
    /// because INC-06 says "the next day" and "every day".
    pub fn next_day_at(
        &self,
        event: DateTime<Utc>,
        seconds: u32,
    ) -> Result<DateTime<Utc>, CalendarError> {
        let d = self
            .local_date(event)
            .succ_opt()
            .ok_or(CalendarError::OutOfRange)?;
        self.local_to_utc(d, seconds.min(END_OF_DAY_SECS))
            .ok_or(CalendarError::OutOfRange)
    }

    fn end_of_local_day(&self, d: NaiveDate) -> Result<DateTime<Utc>, CalendarError> {
        self.local_to_utc(d, END_OF_DAY_SECS)
            .ok_or(CalendarError::OutOfRange)
    }

    fn local_to_utc(&self, date: NaiveDate, secs: u32) -> Option<DateTime<Utc>> {
        let (date, secs) = if secs >= DAY_SECS {
            (date.succ_opt()?, secs - DAY_SECS)
        } else {
            (date, secs)
        };
        let time = NaiveTime::from_num_seconds_from_midnight_opt(secs, 0)?;
        resolve_local(self.tz, date.and_time(time))
    }

    fn spans(&self, from: DateTime<Utc>) -> Spans<'_> {
        let date = self.local_date(from);
        Spans {
            cal: self,
            from,
            date,
            idx: 0,
            last_open: date,
            state: SpanState::Running,
        }
    }
}

/// Adds wall-clock seconds (C-4 "within N hours", ESC-04), extended by pauses that overlap the run.
pub fn add_wall_clock(
    start: DateTime<Utc>,
    seconds: i64,
    pauses: &[Pause],
) -> Result<DateTime<Utc>, CalendarError> {
    let amount = checked_duration(seconds)?;
    if amount.is_zero() {
        return Ok(start);
    }
    advance(
        std::iter::once((start, DateTime::<Utc>::MAX_UTC)),
        amount,
        &normalize(pauses),
    )
    .ok_or(CalendarError::OutOfRange)
}

fn checked_duration(seconds: i64) -> Result<TimeDelta, CalendarError> {
    if seconds < 0 {
        return Err(CalendarError::NegativeDuration(seconds));
    }
    TimeDelta::try_seconds(seconds).ok_or(CalendarError::OutOfRange)
}

/// Parses "HH:MM-HH:MM" into seconds after midnight; the end may be "24:00".
fn parse_interval(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.trim().split_once('-')?;
    let start = parse_hhmm(a.trim())?;
    let end = parse_hhmm(b.trim())?;
    (start < DAY_SECS).then_some((start, end))
}

fn parse_hhmm(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    let digits = |x: &str| (1..=2).contains(&x.len()) && x.bytes().all(|c| c.is_ascii_digit());
    if !digits(h) || m.len() != 2 || !digits(m) {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    if m >= 60 || h > 24 || (h == 24 && m != 0) {
        return None;
    }
    Some(h * 3600 + m * 60)
}

/// Earliest instant whose local wall-clock reading is >= `ndt`, so DST gaps and folds never panic.
fn resolve_local(tz: Tz, ndt: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&ndt) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(a, b) => Some(a.min(b).with_timezone(&Utc)),
        LocalResult::None => {
            let reaches = |ts: i64| {
                DateTime::from_timestamp(ts, 0)
                    .map(|u| u.with_timezone(&tz).naive_local() >= ndt)
                    .unwrap_or(true)
            };
            // Real UTC offsets stay within ±26 h, so the crossing lies inside ±36 h.
            let guess = ndt.and_utc().timestamp();
            let (mut lo, mut hi) = (guess - 36 * 3600, guess + 36 * 3600);
            if reaches(lo) || !reaches(hi) {
                return Some(ndt.and_utc());
            }
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if reaches(mid) {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
            DateTime::from_timestamp(hi, 0)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SpanState {
    Running,
    Exhausted,
    OutOfRange,
}

/// Open intervals from an instant onwards, stepping day by day so long spans stay cheap.
struct Spans<'a> {
    cal: &'a WorkCalendar,
    from: DateTime<Utc>,
    date: NaiveDate,
    idx: usize,
    last_open: NaiveDate,
    state: SpanState,
}

impl Spans<'_> {
    fn failure(&self, cal: &WorkCalendar, after: DateTime<Utc>) -> CalendarError {
        match self.state {
            SpanState::Exhausted => CalendarError::NeverOpen {
                calendar: cal.name.clone(),
                after,
            },
            _ => CalendarError::OutOfRange,
        }
    }
}

impl Iterator for Spans<'_> {
    type Item = Span;

    fn next(&mut self) -> Option<Span> {
        while self.state == SpanState::Running {
            if (self.date - self.last_open).num_days() > SEARCH_DAYS {
                self.state = SpanState::Exhausted;
                break;
            }
            if self.idx < self.cal.hours.len() && self.cal.is_open_day(self.date) {
                let (s, e) = self.cal.hours[self.idx];
                self.idx += 1;
                let (Some(us), Some(ue)) = (
                    self.cal.local_to_utc(self.date, s),
                    self.cal.local_to_utc(self.date, e),
                ) else {
                    self.state = SpanState::OutOfRange;
                    break;
                };
                let us = us.max(self.from);
                if us < ue {
                    self.last_open = self.date;
                    return Some((us, ue));
                }
                continue;
            }
            self.idx = 0;
            match self.date.succ_opt() {
                Some(d) => self.date = d,
                None => self.state = SpanState::OutOfRange,
            }
        }
        None
    }
}

/// Sorted, merged, non-empty pause intervals, so callers may pass overlapping or unsorted ones.
fn normalize(pauses: &[Pause]) -> Vec<Span> {
    let mut v: Vec<Span> = pauses
        .iter()
        .filter(|p| p.from < p.to)
        .map(|p| (p.from, p.to))
        .collect();
    v.sort_unstable();
    let mut out: Vec<Span> = Vec::with_capacity(v.len());
    for (s, e) in v {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

/// Pieces of `[s, e)` not covered by pauses; `idx` only moves forward because spans ascend.
fn unpaused(
    idx: &mut usize,
    pauses: &[Span],
    s: DateTime<Utc>,
    e: DateTime<Utc>,
    out: &mut Vec<Span>,
) {
    out.clear();
    while *idx < pauses.len() && pauses[*idx].1 <= s {
        *idx += 1;
    }
    let mut cur = s;
    for &(ps, pe) in pauses[*idx..].iter().take_while(|p| p.0 < e) {
        if ps > cur {
            out.push((cur, ps));
        }
        cur = cur.max(pe);
    }
    if cur < e {
        out.push((cur, e));
    }
}

fn advance(
    spans: impl Iterator<Item = Span>,
    amount: TimeDelta,
    pauses: &[Span],
) -> Option<DateTime<Utc>> {
    let mut remaining = amount;
    let mut idx = 0;
    let mut pieces = Vec::new();
    for (s, e) in spans {
        unpaused(&mut idx, pauses, s, e, &mut pieces);
        for &(ps, pe) in &pieces {
            let len = pe - ps;
            if len >= remaining {
                return ps.checked_add_signed(remaining);
            }
            remaining -= len;
        }
    }
    None
}

fn measure(spans: impl Iterator<Item = Span>, end: DateTime<Utc>, pauses: &[Span]) -> TimeDelta {
    let mut total = TimeDelta::zero();
    let mut idx = 0;
    let mut pieces = Vec::new();
    for (s, e) in spans {
        if s >= end {
            break;
        }
        unpaused(&mut idx, pauses, s, e.min(end), &mut pieces);
        for &(ps, pe) in &pieces {
            total += pe - ps;
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, days: DayRule, hours: &[&str], tz: &str) -> CalendarSpec {
        CalendarSpec {
            name: name.into(),
            title: String::new(),
            time_zone: tz.into(),
            days,
            hours: hours.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn office() -> WorkCalendar {
        WorkCalendar::new(
            &spec(
                "office",
                DayRule::WorkingDays,
                &["09:00-18:00"],
                "Asia/Shanghai",
            ),
            Holidays::none(),
        )
        .unwrap()
    }

    /// Local Asia/Shanghai wall time as UTC.
    fn sh(y: i32, m: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        chrono_tz::Asia::Shanghai
            .with_ymd_and_hms(y, m, d, h, mi, s)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn next_day_noon_inc_06() {
        let cal = office();
        let noon = "next@12:00".parse::<DeadlineBasis>().unwrap();
        // Received Friday 2024-03-08 in the morning or just before midnight: due Saturday 12:00 (calendar day).
        for received in [sh(2024, 3, 8, 9, 0, 0), sh(2024, 3, 8, 23, 59, 0)] {
            assert_eq!(
                cal.deadline(&noon, received, &[]).unwrap(),
                sh(2024, 3, 9, 12, 0, 0)
            );
        }
        // As a cadence from the previous due time it moves one day at a time, and pauses do not move it.
        let pause = [Pause {
            from: sh(2024, 3, 9, 12, 0, 0),
            to: sh(2024, 3, 9, 20, 0, 0),
        }];
        assert_eq!(
            cal.deadline(&noon, sh(2024, 3, 9, 12, 0, 0), &pause)
                .unwrap(),
            sh(2024, 3, 10, 12, 0, 0)
        );
    }

    #[test]
    fn spec_errors_name_the_field() {
        let err = |s: CalendarSpec| match WorkCalendar::new(&s, Holidays::none()) {
            Err(CalendarError::InvalidSpec { field, .. }) => field,
            other => panic!("expected InvalidSpec, got {other:?}"),
        };
        assert_eq!(
            err(spec("x", DayRule::EveryDay, &[], "Mars/Base")),
            "time_zone"
        );
        assert_eq!(
            err(spec("x", DayRule::EveryDay, &["9-18"], "UTC")),
            "hours[0]"
        );
        assert_eq!(
            err(spec(
                "x",
                DayRule::EveryDay,
                &["09:00-12:00", "25:00-26:00"],
                "UTC"
            )),
            "hours[1]"
        );
        assert_eq!(
            err(spec("x", DayRule::EveryDay, &["18:00-09:00"], "UTC")),
            "hours[0]"
        );
        assert_eq!(
            err(spec(
                "x",
                DayRule::EveryDay,
                &["09:00-12:00", "11:00-13:00"],
                "UTC"
            )),
            "hours[1]"
        );
        assert_eq!(
            err(spec(
                "x",
                DayRule::EveryDay,
                &["13:00-14:00", "09:00-12:00"],
                "UTC"
            )),
            "hours[1]"
        );
        assert!(WorkCalendar::new(
            &spec(
                "x",
                DayRule::EveryDay,
                &["00:00-12:00", "12:00-24:00"],
                "UTC"
            ),
            Holidays::none()
        )
        .is_ok());
    }

    #[test]
    fn office_hours_basics() {
        let cal = office();
        // 2024-01-01 is a Monday; no holidays loaded.
        assert!(!cal.is_open(sh(2024, 1, 1, 8, 59, 59)));
        assert!(cal.is_open(sh(2024, 1, 1, 9, 0, 0)));
        assert!(!cal.is_open(sh(2024, 1, 1, 18, 0, 0)));
        assert!(!cal.is_open(sh(2024, 1, 6, 10, 0, 0)));
        assert_eq!(
            cal.next_open(sh(2024, 1, 5, 18, 30, 0)).unwrap(),
            sh(2024, 1, 8, 9, 0, 0)
        );
        assert_eq!(
            cal.next_open(sh(2024, 1, 5, 10, 0, 0)).unwrap(),
            sh(2024, 1, 5, 10, 0, 0)
        );
        // A full day ends at the close, not at the next opening.
        assert_eq!(
            cal.add_working_time(sh(2024, 1, 1, 9, 0, 0), 9 * 3600, &[])
                .unwrap(),
            sh(2024, 1, 1, 18, 0, 0)
        );
        // Outside hours the clock starts at the next opening.
        assert_eq!(
            cal.add_working_time(sh(2024, 1, 5, 20, 0, 0), 3600, &[])
                .unwrap(),
            sh(2024, 1, 8, 10, 0, 0)
        );
        assert_eq!(
            cal.add_working_time(sh(2024, 1, 5, 20, 0, 0), 0, &[])
                .unwrap(),
            sh(2024, 1, 5, 20, 0, 0)
        );
        assert_eq!(
            cal.working_time_between(sh(2024, 1, 1, 0, 0, 0), sh(2024, 1, 8, 0, 0, 0), &[]),
            45 * 3600
        );
        assert_eq!(
            cal.working_time_between(sh(2024, 1, 8, 0, 0, 0), sh(2024, 1, 1, 0, 0, 0), &[]),
            0
        );
        assert!(matches!(
            cal.add_working_time(sh(2024, 1, 1, 9, 0, 0), -1, &[]),
            Err(CalendarError::NegativeDuration(-1))
        ));
    }

    #[test]
    fn pauses_extend_and_may_overlap() {
        let cal = office();
        let p = |a, b| Pause { from: a, to: b };
        let pauses = [
            p(sh(2024, 1, 1, 11, 0, 0), sh(2024, 1, 1, 12, 0, 0)),
            p(sh(2024, 1, 1, 10, 30, 0), sh(2024, 1, 1, 11, 30, 0)),
            p(sh(2024, 1, 1, 20, 0, 0), sh(2024, 1, 1, 21, 0, 0)), // outside hours: no effect
            p(sh(2024, 1, 1, 15, 0, 0), sh(2024, 1, 1, 14, 0, 0)), // inverted: ignored
        ];
        // 09:00 + 4h with 10:30–12:00 paused → 14:30.
        let end = cal
            .add_working_time(sh(2024, 1, 1, 9, 0, 0), 4 * 3600, &pauses)
            .unwrap();
        assert_eq!(end, sh(2024, 1, 1, 14, 30, 0));
        assert_eq!(
            cal.working_time_between(sh(2024, 1, 1, 9, 0, 0), end, &pauses),
            4 * 3600
        );
        // Wall clock: 30m from 10:00 with a 10-minute pause → 10:40.
        let wall = add_wall_clock(
            sh(2024, 1, 1, 10, 0, 0),
            1800,
            &[p(sh(2024, 1, 1, 10, 10, 0), sh(2024, 1, 1, 10, 20, 0))],
        )
        .unwrap();
        assert_eq!(wall, sh(2024, 1, 1, 10, 40, 0));
    }

    #[test]
    fn split_hours_and_every_day() {
        let cal = WorkCalendar::new(
            &spec(
                "lunch",
                DayRule::EveryDay,
                &["08:30-12:00", "13:30-22:00"],
                "Asia/Shanghai",
            ),
            Holidays::none(),
        )
        .unwrap();
        // Saturday counts on an every-day calendar.
        assert_eq!(
            cal.add_working_time(sh(2024, 1, 6, 11, 0, 0), 2 * 3600, &[])
                .unwrap(),
            sh(2024, 1, 6, 14, 30, 0)
        );
        assert!(!cal.is_open(sh(2024, 1, 6, 12, 30, 0)));
        // 22:00 → next morning 08:30 + 1h.
        assert_eq!(
            cal.add_working_time(sh(2024, 1, 6, 21, 0, 0), 2 * 3600, &[])
                .unwrap(),
            sh(2024, 1, 7, 9, 30, 0)
        );
    }

    #[test]
    fn never_open_terminates() {
        let mut years = Vec::new();
        // Holidays that close every weekday for 25 years.
        for y in 2030..2055 {
            let mut hs = Vec::new();
            let mut from = date(y, 1, 1);
            while chrono::Datelike::year(&from) == y {
                let to = from
                    .checked_add_days(Days::new(29))
                    .unwrap()
                    .min(date(y, 12, 31));
                hs.push(crate::spec::HolidayRange {
                    name: "封".into(),
                    from,
                    to,
                });
                from = to.succ_opt().unwrap();
            }
            years.push(crate::spec::HolidayYear {
                year: y,
                source: String::new(),
                holidays: hs,
                workdays: vec![],
            });
        }
        let cal = WorkCalendar::new(
            &spec(
                "office",
                DayRule::WorkingDays,
                &["09:00-18:00"],
                "Asia/Shanghai",
            ),
            Holidays::new(&years),
        )
        .unwrap();
        let t = sh(2030, 1, 1, 0, 0, 0);
        assert!(matches!(
            cal.next_open(t),
            Err(CalendarError::NeverOpen { .. })
        ));
        assert!(matches!(
            cal.add_working_time(t, 3600, &[]),
            Err(CalendarError::NeverOpen { .. })
        ));
        assert_eq!(cal.working_time_between(t, sh(2040, 1, 1, 0, 0, 0), &[]), 0);
    }

    #[test]
    fn dst_zone_never_panics_and_stays_consistent() {
        // Europe/Berlin: 2024-03-31 02:00→03:00 (gap), 2024-10-27 03:00→02:00 (fold).
        let cal = WorkCalendar::new(
            &spec(
                "eu",
                DayRule::EveryDay,
                &["01:00-02:30", "02:30-04:00"],
                "Europe/Berlin",
            ),
            Holidays::none(),
        )
        .unwrap();
        let utc = |y, m, d, h, mi| Utc.with_ymd_and_hms(y, m, d, h, mi, 0).unwrap();
        // Gap day: 01:00 CET = 00:00Z; 02:30 falls in the gap → 01:00Z; 04:00 CEST = 02:00Z.
        assert_eq!(
            cal.working_time_between(utc(2024, 3, 30, 22, 0), utc(2024, 3, 31, 22, 0), &[]),
            2 * 3600
        );
        // Fold day: 01:00 CEST = 23:00Z; 04:00 CET = 03:00Z → 4 h of wall time.
        assert_eq!(
            cal.working_time_between(utc(2024, 10, 26, 20, 0), utc(2024, 10, 27, 20, 0), &[]),
            4 * 3600
        );
        let t = cal
            .add_working_time(utc(2024, 3, 30, 12, 0), 3 * 3600, &[])
            .unwrap();
        assert_eq!(
            cal.working_time_between(utc(2024, 3, 30, 12, 0), t, &[]),
            3 * 3600
        );
        // End of a local day is 23:59:59 in the local offset of that day.
        assert_eq!(
            cal.end_of_calendar_day_before(date(2024, 7, 2), 1).unwrap(),
            utc(2024, 7, 1, 21, 59) + TimeDelta::seconds(59)
        );
    }

    #[test]
    fn day_counts_c3_c4() {
        let cal = office();
        let thu = date(2024, 1, 11);
        assert_eq!(
            cal.end_of_working_day_before(thu, 3).unwrap(),
            sh(2024, 1, 8, 23, 59, 59)
        );
        assert_eq!(
            cal.end_of_working_day_before(thu, 2).unwrap(),
            sh(2024, 1, 9, 23, 59, 59)
        );
        assert_eq!(
            cal.end_of_working_day_before(thu, 0).unwrap(),
            sh(2024, 1, 11, 23, 59, 59)
        );
        let mon = sh(2024, 1, 8, 10, 0, 0);
        assert_eq!(
            cal.end_of_nth_working_day_after(mon, 0).unwrap(),
            sh(2024, 1, 8, 23, 59, 59)
        );
        assert_eq!(
            cal.end_of_nth_working_day_after(mon, 5).unwrap(),
            sh(2024, 1, 15, 23, 59, 59)
        );
        // From a Saturday the first working day is Monday.
        let sat = sh(2024, 1, 13, 10, 0, 0);
        assert_eq!(
            cal.end_of_nth_working_day_after(sat, 1).unwrap(),
            sh(2024, 1, 15, 23, 59, 59)
        );
        assert_eq!(
            cal.end_of_nth_calendar_day_after(sat, 1).unwrap(),
            sh(2024, 1, 14, 23, 59, 59)
        );
        // The local day decides: 2024-01-07 23:30 Shanghai is Sunday even though it is 15:30Z.
        assert_eq!(
            cal.end_of_nth_calendar_day_after(sh(2024, 1, 7, 23, 30, 0), 0)
                .unwrap(),
            sh(2024, 1, 7, 23, 59, 59)
        );
    }

    #[test]
    fn deadline_dispatch_checks_calendar_and_direction() {
        let cal = office();
        let t = sh(2024, 1, 8, 9, 0, 0);
        let b = |s: &str| s.parse::<DeadlineBasis>().unwrap();
        assert_eq!(
            cal.deadline(&b("8h@office"), t, &[]).unwrap(),
            sh(2024, 1, 8, 17, 0, 0)
        );
        assert!(matches!(
            cal.deadline(&b("8h@daily_0830_2200"), t, &[]),
            Err(CalendarError::WrongCalendar { expected, .. }) if expected == "daily_0830_2200"
        ));
        assert!(matches!(
            cal.deadline(&b("-3wd"), t, &[]),
            Err(CalendarError::WrongDirection { .. })
        ));
        assert!(matches!(
            cal.deadline_before(&b("3d"), date(2024, 1, 8)),
            Err(CalendarError::WrongDirection { .. })
        ));
        assert_eq!(
            cal.deadline_before(&b("-2d"), date(2024, 1, 8)).unwrap(),
            sh(2024, 1, 6, 23, 59, 59)
        );
    }

    #[test]
    fn long_spans_are_cheap_and_extreme_inputs_do_not_panic() {
        let cal = office();
        let t = sh(2024, 1, 1, 9, 0, 0);
        let end = cal.add_working_time(t, 10_000 * 3600, &[]).unwrap();
        assert_eq!(cal.working_time_between(t, end, &[]), 10_000 * 3600);
        assert!(cal.add_working_time(t, i64::MAX, &[]).is_err());
        assert!(cal.end_of_nth_calendar_day_after(t, u32::MAX).is_err());
        assert!(cal.end_of_working_day_before(NaiveDate::MIN, 1).is_err());
        assert!(add_wall_clock(DateTime::<Utc>::MAX_UTC, 1, &[]).is_err());
    }
}
