//! Working-day amounts (to 0.01 WD), stage limits and the SLA-05 access-point scaling.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use tianshu_workcal::DeadlineBasis;

use crate::policy::PolicyDuration;

/// An amount of working days, exact to 0.01 WD (limits such as 2.5 WD and units such as 0.25 WD, KPI-03).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct WorkingDays {
    hundredths: u64,
}

impl WorkingDays {
    /// `hundredths` hundredths of a working day.
    pub fn from_hundredths(hundredths: u64) -> Self {
        Self { hundredths }
    }

    /// The amount in hundredths of a working day.
    pub fn hundredths(self) -> u64 {
        self.hundredths
    }

    /// Working seconds of this amount when one working day is `day_seconds` long (e.g. 9 h of the office
    /// calendar); rounded up to the second so a deadline is never early.
    pub fn working_seconds(self, day_seconds: i64) -> i64 {
        let day = u64::try_from(day_seconds.max(0)).unwrap_or(0);
        let s = (self.hundredths * day).div_ceil(100);
        i64::try_from(s).unwrap_or(i64::MAX)
    }
}

impl fmt::Display for WorkingDays {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (w, r) = (self.hundredths / 100, self.hundredths % 100);
        match r {
            0 => write!(f, "{w}wd"),
            r if r % 10 == 0 => write!(f, "{w}.{}wd", r / 10),
            r => write!(f, "{w}.{r:02}wd"),
        }
    }
}

/// Why a working-day amount was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a working-day amount such as 2.5wd or 0.25wd (at most 2 decimals)")]
pub struct WorkingDaysParseError(pub String);

impl FromStr for WorkingDays {
    type Err = WorkingDaysParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || WorkingDaysParseError(s.to_string());
        let num = s.trim().strip_suffix("wd").ok_or_else(err)?;
        let (whole, frac) = num.split_once('.').unwrap_or((num, ""));
        let digits = |x: &str| x.bytes().all(|c| c.is_ascii_digit());
        if whole.is_empty() || whole.len() > 6 || !digits(whole) || frac.len() > 2 || !digits(frac)
        {
            return Err(err());
        }
        let whole: u64 = whole.parse().map_err(|_| err())?;
        let frac: u64 = if frac.is_empty() {
            0
        } else {
            format!("{frac:0<2}").parse().map_err(|_| err())?
        };
        Ok(Self::from_hundredths(whole * 100 + frac))
    }
}

/// One cell of a stage limit table (SLA-04): working days on the SLA calendar, or wall-clock time (the
/// fault-handling limits of KPI-07 are hours, 24×7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StageLimit {
    /// `2.5wd`: working days, counted in working time on the SLA calendar.
    WorkingDays(WorkingDays),
    /// `1.5h`, `30m`: wall-clock time.
    WallClock(PolicyDuration),
}

impl StageLimit {
    /// Length in seconds: working seconds for working days (one day = `day_seconds`), else wall-clock seconds.
    pub fn seconds(self, day_seconds: i64) -> i64 {
        match self {
            StageLimit::WorkingDays(w) => w.working_seconds(day_seconds),
            StageLimit::WallClock(d) => d.seconds(),
        }
    }
}

impl fmt::Display for StageLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StageLimit::WorkingDays(w) => w.fmt(f),
            StageLimit::WallClock(d) => d.fmt(f),
        }
    }
}

impl FromStr for StageLimit {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim().ends_with("wd") {
            return s
                .parse::<WorkingDays>()
                .map(StageLimit::WorkingDays)
                .map_err(|e| e.to_string());
        }
        match s.parse::<DeadlineBasis>() {
            Ok(DeadlineBasis::WallClock { seconds }) if seconds > 0 => Ok(StageLimit::WallClock(
                PolicyDuration::from_seconds(seconds),
            )),
            _ => Err(format!(
                "'{s}' is neither working days (2.5wd) nor a positive wall-clock duration (1.5h, 30m)"
            )),
        }
    }
}

impl Serialize for StageLimit {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for StageLimit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// How SLA-05 rounds a scaled limit; a pack setting because the seed's two examples contradict its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScalingMode {
    /// Proposed default: base × N / group, rounded up to the next half working day (6.4 → 6.5, 12.6 → 13).
    HalfDayCeiling,
    /// base × N / group, rounded up to the next whole working day (6.4 → 7, 12.6 → 13).
    WholeDayCeiling,
    /// The literal text: ceil(N / group) × base (8 points, 4 WD → 8 WD; 7 points, 9 WD → 18 WD).
    LiteralMultipleOfGroup,
}

/// SLA-05: the limit for `points` access points when `base` applies to up to `group` points; `None` when
/// `points` is 0 or `group` is 0 (nothing to scale).
pub fn scale_for_access_points(
    base: WorkingDays,
    points: u32,
    group: u32,
    mode: ScalingMode,
) -> Option<WorkingDays> {
    if points == 0 || group == 0 {
        return None;
    }
    if points <= group {
        return Some(base);
    }
    let (b, n, g) = (base.hundredths(), u64::from(points), u64::from(group));
    // Exact rational arithmetic: b × n / g hundredths, rounded up to a multiple of `step` hundredths.
    let ceil_to = |step: u64| (b * n).div_ceil(g * step) * step;
    Some(WorkingDays::from_hundredths(match mode {
        ScalingMode::HalfDayCeiling => ceil_to(50),
        ScalingMode::WholeDayCeiling => ceil_to(100),
        ScalingMode::LiteralMultipleOfGroup => n.div_ceil(g) * b,
    }))
}
