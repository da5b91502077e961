//! The on-duty index: "who is on duty at instant T for system / region / slot" without touching the database.
//!
//! Built once from a roster (one entry per assignment, its instants precomputed) and keyed by local date, so a
//! lookup is one hash probe plus a scan of that day's few entries; strings are shared `Arc<str>`s, so answering
//! allocates only the result vector.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

use super::{shift_bounds, time_zone, Assignment};
use crate::policy::{DutyPolicy, SlotScope};

/// What to ask the index.
#[derive(Debug, Clone, Copy, Default)]
pub struct OnDutyQuery<'a> {
    /// Only slots covering this system (a slot without systems covers all).
    pub system: Option<&'a str>,
    /// Only duties answering for this region (province-scoped slots answer for every region).
    pub region: Option<&'a str>,
    /// Only this slot.
    pub slot: Option<&'a str>,
}

/// One person on duty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnDuty {
    /// Username.
    pub person: Arc<str>,
    /// Slot key.
    pub slot: Arc<str>,
    /// Shift key.
    pub shift: Arc<str>,
    /// The assignment's organisation.
    pub region: Option<Arc<str>>,
    /// Start, Unix microseconds.
    pub start_us: i64,
    /// End (exclusive), Unix microseconds.
    pub end_us: i64,
}

#[derive(Debug)]
struct SlotInfo {
    key: Arc<str>,
    province: bool,
    systems: Vec<String>,
}

#[derive(Debug)]
struct Entry {
    start_us: i64,
    end_us: i64,
    slot: u16,
    shift: Arc<str>,
    person: Arc<str>,
    region: Option<Arc<str>>,
}

/// An immutable index over a roster; rebuild it when the roster changes.
#[derive(Debug)]
pub struct DutyIndex {
    tz: Tz,
    slots: Vec<SlotInfo>,
    days: HashMap<NaiveDate, Vec<Entry>>,
    len: usize,
}

impl DutyIndex {
    /// Indexes `assignments`; those naming an unknown slot or shift are left out (the coverage check reports them).
    pub fn build<'a>(
        p: &DutyPolicy,
        assignments: impl IntoIterator<Item = &'a Assignment>,
    ) -> Self {
        let slots: Vec<SlotInfo> = p
            .slots
            .iter()
            .map(|s| SlotInfo {
                key: Arc::from(s.key.as_str()),
                province: s.scope == SlotScope::Province,
                systems: s.systems.clone(),
            })
            .collect();
        let shifts: Vec<Arc<str>> = p.shifts.iter().map(|s| Arc::from(s.key.as_str())).collect();
        let mut interned: HashMap<String, Arc<str>> = HashMap::new();
        let mut intern = |s: &str| -> Arc<str> {
            if let Some(a) = interned.get(s) {
                return a.clone();
            }
            let a: Arc<str> = Arc::from(s);
            interned.insert(s.to_string(), a.clone());
            a
        };
        let mut days: HashMap<NaiveDate, Vec<Entry>> = HashMap::new();
        let mut len = 0;
        for a in assignments {
            let Some(slot) = slots.iter().position(|s| &*s.key == a.slot.as_str()) else {
                continue;
            };
            let Some(shift) = shifts.iter().find(|s| &***s == a.shift.as_str()) else {
                continue;
            };
            let Some((start, end)) = shift_bounds(p, a.date, &a.shift) else {
                continue;
            };
            days.entry(a.date).or_default().push(Entry {
                start_us: start.timestamp_micros(),
                end_us: end.timestamp_micros(),
                slot: slot as u16,
                shift: shift.clone(),
                person: intern(&a.person),
                region: a.region.as_deref().map(&mut intern),
            });
            len += 1;
        }
        for v in days.values_mut() {
            v.sort_by_key(|e| (e.start_us, e.slot));
        }
        DutyIndex {
            tz: time_zone(p),
            slots,
            days,
            len,
        }
    }

    /// Number of indexed assignments.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Everyone on duty at `at_us` (Unix microseconds) matching `q`, in shift-start then slot order.
    pub fn on_duty_at(&self, at_us: i64, q: &OnDutyQuery<'_>) -> Vec<OnDuty> {
        let mut out = Vec::new();
        self.for_each_on_duty(at_us, q, |e, slot| {
            out.push(OnDuty {
                person: e.person.clone(),
                slot: slot.key.clone(),
                shift: e.shift.clone(),
                region: e.region.clone(),
                start_us: e.start_us,
                end_us: e.end_us,
            })
        });
        out
    }

    /// How many people are on duty at `at_us` for `q`, without building a result.
    pub fn count_on_duty_at(&self, at_us: i64, q: &OnDutyQuery<'_>) -> usize {
        let mut n = 0;
        self.for_each_on_duty(at_us, q, |_, _| n += 1);
        n
    }

    fn for_each_on_duty(
        &self,
        at_us: i64,
        q: &OnDutyQuery<'_>,
        mut f: impl FnMut(&Entry, &SlotInfo),
    ) {
        let Some(t) = Utc.timestamp_micros(at_us).single() else {
            return;
        };
        // Shifts lie within one local day (validated), so only that day's entries can cover the instant.
        let date = t.with_timezone(&self.tz).date_naive();
        let Some(entries) = self.days.get(&date) else {
            return;
        };
        for e in entries {
            if e.start_us > at_us {
                break; // sorted by start: nothing later can cover the instant
            }
            if at_us >= e.end_us {
                continue;
            }
            let slot = &self.slots[e.slot as usize];
            if q.slot.is_some_and(|s| s != &*slot.key) {
                continue;
            }
            if let Some(sys) = q.system {
                if !slot.systems.is_empty() && !slot.systems.iter().any(|x| x == sys) {
                    continue;
                }
            }
            if let Some(r) = q.region {
                if !slot.province && e.region.as_deref() != Some(r) {
                    continue;
                }
            }
            f(e, slot);
        }
    }
}
