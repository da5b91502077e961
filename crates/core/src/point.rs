//! SQL business-monitoring points (MON-02): how a query's result compares with the point's threshold, and when
//! a point alarms. Pure: the query runs in services.

use std::fmt;
use std::str::FromStr;

use crate::probe::Alarm;

/// The breach condition of a point: the value is below / above the threshold, or a timestamp result is older
/// than the allowed age ("no refresh within M minutes").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// Breached when value < threshold (e.g. success rate < 99.9 %).
    Lt,
    /// Breached when value ≤ threshold.
    Le,
    /// Breached when value > threshold (e.g. backlog > N).
    Gt,
    /// Breached when value ≥ threshold.
    Ge,
    /// Breached when the timestamp result is older than `stale_after` seconds (or there is none).
    Stale,
}

impl Comparison {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Comparison::Lt => "lt",
            Comparison::Le => "le",
            Comparison::Gt => "gt",
            Comparison::Ge => "ge",
            Comparison::Stale => "stale",
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            Comparison::Lt => "<",
            Comparison::Le => "≤",
            Comparison::Gt => ">",
            Comparison::Ge => "≥",
            Comparison::Stale => "older than",
        }
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Comparison {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "lt" | "<" => Comparison::Lt,
            "le" | "<=" => Comparison::Le,
            "gt" | ">" => Comparison::Gt,
            "ge" | ">=" => Comparison::Ge,
            "stale" => Comparison::Stale,
            _ => return Err(format!("'{s}' is not one of lt, le, gt, ge, stale")),
        })
    }
}

/// What the query returned (first column of the first row).
#[derive(Debug, Clone, PartialEq)]
pub enum Observed {
    /// A number.
    Number(f64),
    /// A point in time, Unix microseconds UTC.
    Time(i64),
    /// No row, or NULL.
    Nothing,
    /// Something that is neither (text that is not a number, a blob …), described.
    Other(String),
}

/// A point's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointState {
    /// Within the threshold.
    Ok,
    /// The breach condition holds.
    Breached,
    /// The database could not be read or the result cannot be compared.
    Unknown,
}

impl PointState {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            PointState::Ok => "ok",
            PointState::Breached => "breached",
            PointState::Unknown => "unknown",
        }
    }
}

/// A point's rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Threshold {
    pub comparison: Comparison,
    /// For lt / le / gt / ge.
    pub value: f64,
    /// For stale: the allowed age in seconds.
    pub stale_after_s: i64,
}

/// The state of a point for what its query returned at `now` (µs), with the reason in words.
pub fn evaluate(t: &Threshold, observed: &Observed, now: i64) -> (PointState, String) {
    match (t.comparison, observed) {
        (Comparison::Stale, Observed::Time(at)) => {
            let age = (now - at) / 1_000_000;
            if age > t.stale_after_s {
                (
                    PointState::Breached,
                    format!("last refresh {age} s ago, allowed {} s", t.stale_after_s),
                )
            } else {
                (PointState::Ok, format!("last refresh {age} s ago"))
            }
        }
        (Comparison::Stale, Observed::Nothing) => {
            (PointState::Breached, "no refresh recorded at all".into())
        }
        (Comparison::Stale, Observed::Number(n)) => (
            PointState::Unknown,
            format!("the query returned the number {n}, not a timestamp"),
        ),
        (c, Observed::Number(n)) => {
            let breached = match c {
                Comparison::Lt => *n < t.value,
                Comparison::Le => *n <= t.value,
                Comparison::Gt => *n > t.value,
                Comparison::Ge => *n >= t.value,
                Comparison::Stale => false,
            };
            let state = if breached {
                PointState::Breached
            } else {
                PointState::Ok
            };
            let not = if breached { "" } else { "not " };
            (state, format!("{n} is {not}{} {}", c.symbol(), t.value))
        }
        (_, Observed::Nothing) => (PointState::Unknown, "the query returned no value".into()),
        (_, Observed::Time(_)) => (
            PointState::Unknown,
            "the query returned a timestamp; use comparison = stale".into(),
        ),
        (_, Observed::Other(d)) => (PointState::Unknown, format!("not comparable: {d}")),
    }
}

/// What a point's state does to its alert: a breach raises it at once; `unknown` raises it only after
/// `grace_us` of being unknown; `ok` resolves it.
pub fn alarm(
    state: PointState,
    unknown_since: Option<i64>,
    now: i64,
    grace_us: i64,
    alerting: bool,
) -> Alarm {
    match state {
        PointState::Breached if !alerting => Alarm::Raise,
        PointState::Ok if alerting => Alarm::Resolve,
        PointState::Unknown if !alerting => match unknown_since {
            Some(since) if now - since >= grace_us => Alarm::Raise,
            _ => Alarm::Quiet,
        },
        _ => Alarm::Quiet,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000;

    fn t(c: Comparison, v: f64) -> Threshold {
        Threshold {
            comparison: c,
            value: v,
            stale_after_s: 600,
        }
    }

    #[test]
    fn rec11_success_rate_below_target_is_breached() {
        // SEED-RULES §21 example 18: 99.85 % < 99.9 % → breached; 99.92 % → ok.
        let th = t(Comparison::Lt, 99.9);
        assert_eq!(
            evaluate(&th, &Observed::Number(99.85), 0).0,
            PointState::Breached
        );
        assert_eq!(evaluate(&th, &Observed::Number(99.92), 0).0, PointState::Ok);
        assert_eq!(evaluate(&th, &Observed::Number(99.9), 0).0, PointState::Ok);
        assert_eq!(
            evaluate(&t(Comparison::Le, 99.9), &Observed::Number(99.9), 0).0,
            PointState::Breached
        );
    }

    #[test]
    fn backlog_over_n_and_stale_refresh() {
        let th = t(Comparison::Gt, 100.0);
        assert_eq!(
            evaluate(&th, &Observed::Number(101.0), 0).0,
            PointState::Breached
        );
        assert_eq!(evaluate(&th, &Observed::Number(100.0), 0).0, PointState::Ok);
        let st = t(Comparison::Stale, 0.0);
        let now = 10_000 * S;
        assert_eq!(
            evaluate(&st, &Observed::Time(now - 600 * S), now).0,
            PointState::Ok
        );
        assert_eq!(
            evaluate(&st, &Observed::Time(now - 601 * S), now).0,
            PointState::Breached
        );
        assert_eq!(
            evaluate(&st, &Observed::Nothing, now).0,
            PointState::Breached
        );
        assert_eq!(
            evaluate(&th, &Observed::Nothing, now).0,
            PointState::Unknown
        );
        assert_eq!(
            evaluate(&th, &Observed::Other("text 'abc'".into()), now).0,
            PointState::Unknown
        );
    }

    #[test]
    fn unknown_alarms_only_after_the_grace() {
        let g = 600 * S;
        assert_eq!(
            alarm(PointState::Unknown, Some(0), 599 * S, g, false),
            Alarm::Quiet
        );
        assert_eq!(
            alarm(PointState::Unknown, Some(0), 600 * S, g, false),
            Alarm::Raise
        );
        assert_eq!(
            alarm(PointState::Unknown, Some(0), 900 * S, g, true),
            Alarm::Quiet
        );
        assert_eq!(alarm(PointState::Breached, None, 0, g, false), Alarm::Raise);
        assert_eq!(alarm(PointState::Breached, None, 0, g, true), Alarm::Quiet);
        assert_eq!(alarm(PointState::Ok, None, 0, g, true), Alarm::Resolve);
        assert_eq!(alarm(PointState::Ok, None, 0, g, false), Alarm::Quiet);
    }
}
