//! KPI-09 network quality of leased lines (SLA-03, SLA-04, SLA-12): each line's faults of the year are counted
//! and their interruption summed, then judged against the standard of the line's service assurance level.
//! The seed's standard table is missing, so the numbers only ever come from `[network_quality]` of sla.toml.

use std::collections::BTreeMap;

use serde::Serialize;

use super::AssuranceLevel;
use crate::policy::{LineStandard, NetworkQuality, RepeatCount};

/// One fault on a leased line, as the records give it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineFault<R> {
    /// The line: the customer and its circuit id, so two customers' lines never collide.
    pub line: (String, String),
    /// The line's level for this fault (customer tier × service type, SLA-03).
    pub level: AssuranceLevel,
    /// Whether the fault was reported inside the year (a fault carried over from last year adds interruption
    /// but is not this year's occurrence).
    pub reported_in_year: bool,
    /// Interruption inside the year, in seconds (clipped to the year and to now; never negative).
    pub interruption_seconds: i64,
    /// The record behind it.
    pub record: R,
}

/// The verdict on one line over the year to date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineVerdict<R> {
    /// Customer key.
    pub customer: String,
    /// Circuit id.
    pub line: String,
    /// The level judged by: the highest among the line's faults (its strictest standard).
    pub level: AssuranceLevel,
    /// Faults reported in the year.
    pub faults: u32,
    /// Of those, repeats (per `[network_quality] repeat_count`).
    pub repeats: u32,
    /// Interruption in the year, seconds.
    pub interruption_seconds: i64,
    /// The standard applied.
    pub max_repeat_faults: u32,
    /// The standard applied, seconds.
    pub max_interruption_seconds: i64,
    /// More repeats than the standard allows.
    pub repeat_exceeded: bool,
    /// More interruption than the standard allows.
    pub interruption_exceeded: bool,
    /// The records of the line's faults.
    pub records: Vec<R>,
}

/// Judges every line of `faults` against `standard`. "Exceeds" is strict: a line exactly at the standard meets it.
pub fn judge_lines<R: Clone>(
    standard: &NetworkQuality,
    faults: &[LineFault<R>],
) -> Vec<LineVerdict<R>> {
    let mut lines: BTreeMap<&(String, String), Vec<&LineFault<R>>> = BTreeMap::new();
    for f in faults {
        lines.entry(&f.line).or_default().push(f);
    }
    lines
        .into_iter()
        .filter_map(|((customer, line), fs)| {
            let level = fs.iter().map(|f| f.level).max()?;
            // Validation guarantees every level has a standard; a pack without one is never judged.
            let LineStandard {
                max_repeat_faults,
                max_interruption,
            } = *standard.levels.get(&level)?;
            let faults =
                u32::try_from(fs.iter().filter(|f| f.reported_in_year).count()).unwrap_or(u32::MAX);
            let repeats = match standard.repeat_count {
                RepeatCount::AfterFirst => faults.saturating_sub(1),
                RepeatCount::EveryFault => faults,
            };
            let interruption_seconds: i64 = fs.iter().map(|f| f.interruption_seconds.max(0)).sum();
            Some(LineVerdict {
                customer: customer.clone(),
                line: line.clone(),
                level,
                faults,
                repeats,
                interruption_seconds,
                max_repeat_faults,
                max_interruption_seconds: max_interruption.seconds(),
                repeat_exceeded: repeats > max_repeat_faults,
                interruption_exceeded: interruption_seconds > max_interruption.seconds(),
                records: fs.iter().map(|f| f.record.clone()).collect(),
            })
        })
        .collect()
}
