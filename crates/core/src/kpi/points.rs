//! Exact fixed-point numbers for scores and rates: KPI formulas step in 0.1 % and 0.2 points, which binary
//! floating point cannot hold exactly (0.1 × 3 ≠ 0.3), so a rate on a step boundary would lose a step.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! fixed2 {
    ($name:ident, $what:literal, $suffix:literal) => {
        #[doc = concat!("A ", $what, " exact to 0.01, stored in hundredths.")]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(i64);

        impl $name {
            /// Zero.
            pub const ZERO: $name = $name(0);

            /// From hundredths.
            pub const fn from_hundredths(h: i64) -> Self {
                Self(h)
            }

            /// In hundredths.
            pub const fn hundredths(self) -> i64 {
                self.0
            }

            /// From a whole number.
            pub const fn whole(n: i64) -> Self {
                Self(n * 100)
            }

            /// From a decimal written in a file; `None` unless it is finite and exact to 0.01.
            pub fn from_decimal(v: f64) -> Option<Self> {
                let h = v * 100.0;
                let r = h.round();
                ((h - r).abs() < 1e-6 && r.abs() < 1e15).then_some(Self(r as i64))
            }

            /// As a float, for display and JSON.
            pub fn as_f64(self) -> f64 {
                self.0 as f64 / 100.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let sign = if self.0 < 0 { "-" } else { "" };
                let a = self.0.unsigned_abs();
                let (w, r) = (a / 100, a % 100);
                match r {
                    0 => write!(f, "{sign}{w}{}", $suffix),
                    r if r % 10 == 0 => write!(f, "{sign}{w}.{}{}", r / 10, $suffix),
                    r => write!(f, "{sign}{w}.{r:02}{}", $suffix),
                }
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_f64(self.as_f64())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let v = f64::deserialize(d)?;
                Self::from_decimal(v).ok_or_else(|| {
                    serde::de::Error::custom(format!("{v} is not a {} exact to 0.01", $what))
                })
            }
        }
    };
}

fixed2!(Points, "score in points", "");
fixed2!(Percent, "rate in percent", " %");

impl Percent {
    /// `num / den` in percent, rounded half up to 0.01 % (KPI-11); `None` when `den` is 0.
    pub fn ratio(num: u64, den: u64) -> Option<Percent> {
        if den == 0 {
            return None;
        }
        let (num, den) = (u128::from(num.min(den)), u128::from(den));
        let h = (num * 20_000 + den) / (2 * den);
        Some(Percent(h as i64))
    }
}

impl Points {
    /// `self × weight`, rounded half up to 0.01.
    pub fn weighted(self, weight: Points) -> Points {
        let p = i128::from(self.0) * i128::from(weight.0);
        let r = if p >= 0 {
            (p + 50) / 100
        } else {
            (p - 50) / 100
        };
        Points(r as i64)
    }

    /// KPI-14: `self / out_of` on a 100-point scale, to one decimal by `rounding`; `None` when `out_of` is 0.
    pub fn on_percent_scale(self, out_of: Points, rounding: PercentRounding) -> Option<Points> {
        if out_of.0 <= 0 {
            return None;
        }
        let (s, o) = (i128::from(self.0.max(0)), i128::from(out_of.0));
        // Tenths of a percentage point: s / o × 1000.
        let tenths = match rounding {
            PercentRounding::HalfUpOneDecimal => (s * 2000 + o) / (2 * o),
            PercentRounding::TruncateOneDecimal => s * 1000 / o,
            PercentRounding::TruncateInteger => s * 100 / o * 10,
        };
        Some(Points(tenths as i64 * 10))
    }
}

/// How KPI-14 brings a score to the 100-point scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PercentRounding {
    /// Proposed default: half up to one decimal (8.58 / 10.5 → 81.7).
    HalfUpOneDecimal,
    /// Cut after one decimal (81.7).
    TruncateOneDecimal,
    /// Cut to a whole number, as the seed reports it (81).
    TruncateInteger,
}
