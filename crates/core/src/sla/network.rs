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
    /// The standard applied (none: the pack has no standard; the line is counted, not judged).
    pub max_repeat_faults: Option<u32>,
    /// The standard applied, seconds.
    pub max_interruption_seconds: Option<i64>,
    /// More repeats than the standard allows.
    pub repeat_exceeded: bool,
    /// More interruption than the standard allows.
    pub interruption_exceeded: bool,
    /// The records of the line's faults.
    pub records: Vec<R>,
}

/// Counts every line of `faults` and judges it against `standard` when there is one. "Exceeds" is strict: a line
/// exactly at the standard meets it. Without a standard repeats are counted the default way and nothing exceeds.
pub fn judge_lines<R: Clone>(
    standard: Option<&NetworkQuality>,
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
            // Validation guarantees every level of a standard is present.
            let limit: Option<LineStandard> = standard.and_then(|s| s.levels.get(&level).copied());
            let faults =
                u32::try_from(fs.iter().filter(|f| f.reported_in_year).count()).unwrap_or(u32::MAX);
            let repeats = match standard.map(|s| s.repeat_count).unwrap_or_default() {
                RepeatCount::AfterFirst => faults.saturating_sub(1),
                RepeatCount::EveryFault => faults,
            };
            let interruption_seconds: i64 = fs.iter().map(|f| f.interruption_seconds.max(0)).sum();
            let max_repeat_faults = limit.map(|l| l.max_repeat_faults);
            let max_interruption_seconds = limit.map(|l| l.max_interruption.seconds());
            Some(LineVerdict {
                customer: customer.clone(),
                line: line.clone(),
                level,
                faults,
                repeats,
                interruption_seconds,
                max_repeat_faults,
                max_interruption_seconds,
                repeat_exceeded: max_repeat_faults.is_some_and(|m| repeats > m),
                interruption_exceeded: max_interruption_seconds
                    .is_some_and(|m| interruption_seconds > m),
                records: fs.iter().map(|f| f.record.clone()).collect(),
            })
        })
        .collect()
}
