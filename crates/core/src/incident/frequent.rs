//! RPT-01/02/03 frequent-fault lists for the weekly and monthly reports. Pure: occurrences in, listed faults
//! with the triggers that fired out.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::policy::{Combine, FrequentFaultPolicy, Period, ReportKind};

/// One occurrence of a fault; several on the same day are separate occurrences (DUP-06).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Occurrence {
    /// Identifies "the same fault" across occurrences (e.g. a problem or fault-kind key).
    pub fault_key: String,
    /// Fault category key, matched against triggers that name categories (RPT-02 monthly list).
    pub category: Option<String>,
    /// Local date of the occurrence.
    pub date: NaiveDate,
    /// Complaints attributed to this occurrence.
    pub complaints: u64,
}

/// The report being compiled: its kind and its dates `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportWindow {
    /// Weekly or monthly.
    pub kind: ReportKind,
    /// First day.
    pub start: NaiveDate,
    /// Day after the last day.
    pub end: NaiveDate,
}

/// One trigger that fired for a fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FiredTrigger {
    /// Set key (`a`, `b`).
    pub set: String,
    /// Rule ID (RPT-01, RPT-02).
    pub rule: String,
    /// What was counted, e.g. `2 occurrences ≥ 2 or 25 complaints > 20 (week)`.
    pub detail: String,
}

/// A fault that belongs in the report, and why (RPT-03: record which rule(s) fired).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrequentFault {
    /// The fault.
    pub fault_key: String,
    /// Occurrences inside the report window.
    pub occurrences: u32,
    /// Complaints inside the report window.
    pub complaints: u64,
    /// Every trigger of a selected set that fired.
    pub fired: Vec<FiredTrigger>,
}

/// RPT-01/02 with the RPT-03 selection: every fault that at least one selected set puts into `report`, sorted by
/// fault key. A `month` trigger counts the calendar month up to the report's end.
pub fn frequent_faults(
    occurrences: &[Occurrence],
    report: ReportWindow,
    policy: &FrequentFaultPolicy,
) -> Vec<FrequentFault> {
    let last = report.end.pred_opt().unwrap_or(report.end);
    let month_start = last.with_day(1).unwrap_or(last);
    let count = |key: &str, from: NaiveDate, cats: &[String]| -> (u32, u64) {
        occurrences
            .iter()
            .filter(|o| o.fault_key == key && o.date >= from && o.date < report.end)
            .filter(|o| cats.is_empty() || o.category.as_ref().is_some_and(|c| cats.contains(c)))
            .fold((0u32, 0u64), |(n, c), o| {
                (n.saturating_add(1), c.saturating_add(o.complaints))
            })
    };
    let mut keys: BTreeMap<&str, ()> = BTreeMap::new();
    for o in occurrences {
        keys.insert(&o.fault_key, ());
    }
    let mut out = Vec::new();
    for key in keys.keys() {
        let mut fired = Vec::new();
        for set in policy.selected_sets() {
            for t in set
                .triggers
                .iter()
                .filter(|t| t.reports.contains(&report.kind))
            {
                let (from, label) = match t.period {
                    Period::Week => (report.start, "week"),
                    Period::Month => (month_start, "month"),
                };
                let (n, c) = count(key, from, &t.categories);
                let occ = t
                    .min_occurrences
                    .map(|m| (n >= m, format!("{n} occurrences ≥ {m}")));
                let com = t
                    .complaints_more_than
                    .map(|m| (c > m, format!("{c} complaints > {m}")));
                let parts: Vec<(bool, String)> = occ.into_iter().chain(com).collect();
                let hit = match t.combine {
                    Combine::Any => parts.iter().any(|(h, _)| *h),
                    Combine::All => !parts.is_empty() && parts.iter().all(|(h, _)| *h),
                };
                if hit {
                    let joiner = if t.combine == Combine::Any {
                        " or "
                    } else {
                        " and "
                    };
                    let text: Vec<&str> = parts.iter().map(|(_, s)| s.as_str()).collect();
                    fired.push(FiredTrigger {
                        set: set.key.clone(),
                        rule: set.rule.clone(),
                        detail: format!("{} ({label})", text.join(joiner)),
                    });
                }
            }
        }
        if !fired.is_empty() {
            let (occurrences, complaints) = count(key, report.start, &[]);
            out.push(FrequentFault {
                fault_key: key.to_string(),
                occurrences,
                complaints,
                fired,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::test_support::default_pack;

    fn d(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, 3, day).unwrap()
    }

    fn occ(key: &str, day: u32, complaints: u64) -> Occurrence {
        Occurrence {
            fault_key: key.into(),
            category: None,
            date: d(day),
            complaints,
        }
    }

    #[test]
    fn dup_06_recurrences_on_one_day_count_separately() {
        let p = default_pack();
        let week = ReportWindow {
            kind: ReportKind::Weekly,
            start: d(4),
            end: d(11),
        };
        let got = frequent_faults(&[occ("f", 5, 0), occ("f", 5, 0)], week, &p.frequent_faults);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].occurrences, 2);
        assert_eq!(got[0].fired[0].rule, "RPT-01");
    }

    #[test]
    fn rpt_02_monthly_named_categories_three_times() {
        let p = default_pack();
        let month = ReportWindow {
            kind: ReportKind::Monthly,
            start: d(1),
            end: NaiveDate::from_ymd_opt(2024, 4, 1).unwrap(),
        };
        let mut o: Vec<Occurrence> = (1..=3).map(|day| occ("topup", day * 5, 1)).collect();
        for x in &mut o {
            x.category = Some("top_up_not_credited".into());
        }
        let got = frequent_faults(&o, month, &p.frequent_faults);
        assert_eq!(got.len(), 1);
        let rules: Vec<&str> = got[0].fired.iter().map(|f| f.rule.as_str()).collect();
        assert_eq!(
            rules,
            ["RPT-02"],
            "3 times is below RPT-01's 4 and 3 complaints below 70"
        );
    }
}
