//! The separate severity scales of C-6. They are distinct types on purpose: the seeds define no mapping between
//! them, so none may be inferred by comparing values across scales.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Fault level of an escalated-complaint fault (001, SEV-02..SEV-07); FL2 is more severe than FL1.
#[allow(clippy::upper_case_acronyms)] // the variant names are the seed's level codes
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultLevel {
    /// 一般故障: meets no FL1/FL2 criterion (SEV-06).
    General,
    /// 一级故障 (SEV-02, SEV-03).
    FL1,
    /// 二级故障, the most severe level (SEV-04, SEV-05).
    FL2,
}

impl FaultLevel {
    /// The stable code used in the policy pack and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            FaultLevel::General => "general",
            FaultLevel::FL1 => "FL1",
            FaultLevel::FL2 => "FL2",
        }
    }

    /// The Chinese name shown to users.
    pub fn name_zh(self) -> &'static str {
        match self {
            FaultLevel::General => "一般故障",
            FaultLevel::FL1 => "一级故障",
            FaultLevel::FL2 => "二级故障",
        }
    }
}

impl fmt::Display for FaultLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a severity code was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {scale} '{input}' (expected {expected})")]
pub struct LevelParseError {
    /// Which scale was being parsed.
    pub scale: &'static str,
    /// The rejected text.
    pub input: String,
    /// The accepted forms.
    pub expected: &'static str,
}

impl FromStr for FaultLevel {
    type Err = LevelParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "general" => Ok(FaultLevel::General),
            "FL1" => Ok(FaultLevel::FL1),
            "FL2" => Ok(FaultLevel::FL2),
            _ => Err(LevelParseError {
                scale: "fault level",
                input: s.to_string(),
                expected: "general, FL1 or FL2",
            }),
        }
    }
}

/// Customer-service complaint level CS1, CS2, … set by customer service (SEV-08); higher is more severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ComplaintLevel(u8);

impl ComplaintLevel {
    /// CS`n`; `None` for 0 because the scale starts at CS1.
    pub fn new(n: u8) -> Option<Self> {
        (n >= 1).then_some(Self(n))
    }

    /// The number `n` of CS`n`.
    pub fn get(self) -> u8 {
        self.0
    }
}

impl fmt::Display for ComplaintLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CS{}", self.0)
    }
}

impl FromStr for ComplaintLevel {
    type Err = LevelParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.strip_prefix("CS")
            .and_then(|n| n.parse::<u8>().ok())
            .and_then(ComplaintLevel::new)
            .ok_or_else(|| LevelParseError {
                scale: "complaint level",
                input: s.to_string(),
                expected: "CS1, CS2, …",
            })
    }
}

/// Problem level of the billing problem process (004, PRB-01); P1 is the most severe.
///
/// `Ord` follows severity like [`FaultLevel`]: `P1 > P5`, so `max()` picks the most severe problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProblemLevel {
    /// Critical business stopped, large-scale user impact.
    P1,
    /// Critical business affected, some users impacted.
    P2,
    /// Non-critical business affected, no user impact.
    P3,
    /// Potential problem found by monitoring or analysis.
    P4,
    /// No impact, no alarm; may occur mid/long-term.
    P5,
}

impl ProblemLevel {
    /// All levels, most severe first.
    pub const ALL: [ProblemLevel; 5] = [
        ProblemLevel::P1,
        ProblemLevel::P2,
        ProblemLevel::P3,
        ProblemLevel::P4,
        ProblemLevel::P5,
    ];

    /// The number 1..=5 of the level.
    pub fn number(self) -> u8 {
        match self {
            ProblemLevel::P1 => 1,
            ProblemLevel::P2 => 2,
            ProblemLevel::P3 => 3,
            ProblemLevel::P4 => 4,
            ProblemLevel::P5 => 5,
        }
    }

    /// The stable code (`P1`…`P5`).
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemLevel::P1 => "P1",
            ProblemLevel::P2 => "P2",
            ProblemLevel::P3 => "P3",
            ProblemLevel::P4 => "P4",
            ProblemLevel::P5 => "P5",
        }
    }
}

impl PartialOrd for ProblemLevel {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ProblemLevel {
    fn cmp(&self, other: &Self) -> Ordering {
        // A lower number is more severe (PRB-01).
        other.number().cmp(&self.number())
    }
}

impl fmt::Display for ProblemLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ProblemLevel {
    type Err = LevelParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ProblemLevel::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| LevelParseError {
                scale: "problem level",
                input: s.to_string(),
                expected: "P1, P2, P3, P4 or P5",
            })
    }
}

/// Implements string serde through `Display`/`FromStr`, so the pack and the API use the same codes.
macro_rules! serde_via_str {
    ($($t:ty),*) => {$(
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    )*};
}

serde_via_str!(FaultLevel, ComplaintLevel, ProblemLevel);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fl2_is_more_severe_than_fl1_c_6() {
        assert!(FaultLevel::FL2 > FaultLevel::FL1);
        assert!(FaultLevel::FL1 > FaultLevel::General);
        assert_eq!(
            [FaultLevel::FL1, FaultLevel::FL2, FaultLevel::General]
                .iter()
                .max(),
            Some(&FaultLevel::FL2)
        );
    }

    #[test]
    fn p1_is_most_severe_prb_01() {
        assert!(ProblemLevel::P1 > ProblemLevel::P2);
        assert_eq!(ProblemLevel::ALL.iter().max(), Some(&ProblemLevel::P1));
        assert_eq!(ProblemLevel::ALL.iter().min(), Some(&ProblemLevel::P5));
    }

    #[test]
    fn complaint_levels_parse_and_order_sev_08() {
        let cs1: ComplaintLevel = "CS1".parse().unwrap();
        let cs4: ComplaintLevel = "CS4".parse().unwrap();
        assert!(cs4 > cs1);
        assert_eq!(cs4.to_string(), "CS4");
        assert!("CS0".parse::<ComplaintLevel>().is_err());
        assert!("3".parse::<ComplaintLevel>().is_err());
        assert!(ComplaintLevel::new(0).is_none());
    }

    #[test]
    fn codes_round_trip() {
        for l in [FaultLevel::General, FaultLevel::FL1, FaultLevel::FL2] {
            assert_eq!(l.as_str().parse::<FaultLevel>().unwrap(), l);
        }
        for p in ProblemLevel::ALL {
            assert_eq!(p.to_string().parse::<ProblemLevel>().unwrap(), p);
        }
    }
}
