//! Each instance's cached on-duty index: built once from the stored roster, swapped atomically, invalidated by
//! this instance's roster writes and rebuilt when older than `lookup.max_staleness` (other instances' writes).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;
use tianshu_core::duty::{self as domain, Assignment, DutyIndex, OnDutyQuery};

use crate::{Platform, ServiceResult};

/// Days before the asked instant's date the index covers.
const WINDOW_PAST_DAYS: i64 = 31;
/// Days after it (a year of rosters and a little more).
const WINDOW_FUTURE_DAYS: i64 = 400;

/// A person on duty, as the API and the recipient resolution use it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct OnDutyPerson {
    /// Username.
    pub person: String,
    /// Display name.
    pub name: String,
    pub slot: String,
    pub shift: String,
    pub region: Option<String>,
    /// Start and end of the shift (RFC 3339, UTC).
    pub start: String,
    pub end: String,
}

/// One built index with what it was built from.
#[derive(Debug)]
pub struct Snapshot {
    index: DutyIndex,
    names: HashMap<String, String>,
    from: NaiveDate,
    to: NaiveDate,
    built_at_us: i64,
    policy_id: i64,
    generation: u64,
}

impl Snapshot {
    /// The index itself (benchmarks and tests).
    pub fn index(&self) -> &DutyIndex {
        &self.index
    }

    /// Everyone on duty at `at_us` for `q`, with display names.
    pub fn lookup(&self, at_us: i64, q: &OnDutyQuery<'_>) -> Vec<OnDutyPerson> {
        let t = |us: i64| {
            DateTime::<Utc>::from_timestamp_micros(us)
                .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_default()
        };
        self.index
            .on_duty_at(at_us, q)
            .into_iter()
            .map(|o| OnDutyPerson {
                name: self
                    .names
                    .get(&*o.person)
                    .cloned()
                    .unwrap_or_else(|| o.person.to_string()),
                person: o.person.to_string(),
                slot: o.slot.to_string(),
                shift: o.shift.to_string(),
                region: o.region.map(|r| r.to_string()),
                start: t(o.start_us),
                end: t(o.end_us),
            })
            .collect()
    }
}

/// The per-instance cache (lives in [`Platform`]).
#[derive(Debug, Default)]
pub struct DutyCache {
    current: RwLock<Option<Arc<Snapshot>>>,
    /// Bumped by every roster write on this instance; a snapshot of an older generation is stale.
    generation: AtomicU64,
    rebuilding: tokio::sync::Mutex<()>,
}

impl DutyCache {
    /// Marks the cached index stale (called after every roster write).
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    fn fresh(&self, p: &Platform, date: NaiveDate) -> Option<Arc<Snapshot>> {
        let snap = match self.current.read() {
            Ok(g) => g.clone(),
            Err(e) => e.into_inner().clone(),
        }?;
        let pol = p.policy.current();
        let max_age = pol.pack.duty.lookup.max_staleness.seconds() * 1_000_000;
        let ok = snap.generation == self.generation.load(Ordering::SeqCst)
            && snap.policy_id == pol.id
            && p.now_us() - snap.built_at_us <= max_age
            && (snap.from..=snap.to).contains(&date);
        ok.then_some(snap)
    }

    /// A fresh snapshot covering `at`'s local date: the cached one, or one rebuilt from the database.
    pub async fn snapshot(&self, p: &Platform, at: DateTime<Utc>) -> ServiceResult<Arc<Snapshot>> {
        let pol = p.policy.current();
        let date = at
            .with_timezone(&domain::time_zone(&pol.pack.duty))
            .date_naive();
        if let Some(s) = self.fresh(p, date) {
            return Ok(s);
        }
        // One rebuild at a time; whoever waited finds the new snapshot.
        let _guard = self.rebuilding.lock().await;
        if let Some(s) = self.fresh(p, date) {
            return Ok(s);
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let built_at_us = p.now_us();
        let (from, to) = (
            date - Duration::days(WINDOW_PAST_DAYS),
            date + Duration::days(WINDOW_FUTURE_DAYS),
        );
        let (f, t) = (
            from.format("%Y-%m-%d").to_string(),
            to.format("%Y-%m-%d").to_string(),
        );
        let rows = p.store.duty_assignments(&f, &t).await?;
        let assignments: Vec<Assignment> = rows.iter().filter_map(super::to_domain).collect();
        let names = p
            .store
            .duty_display_names(&f, &t)
            .await?
            .into_iter()
            .collect();
        let snap = Arc::new(Snapshot {
            index: DutyIndex::build(&pol.pack.duty, &assignments),
            names,
            from,
            to,
            built_at_us,
            policy_id: pol.id,
            generation,
        });
        match self.current.write() {
            Ok(mut g) => *g = Some(snap.clone()),
            Err(e) => *e.into_inner() = Some(snap.clone()),
        }
        Ok(snap)
    }
}
