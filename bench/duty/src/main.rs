//! On-duty lookup benchmark: 5,000 people, one year of rosters, "who is on duty at T" in-process.
//!
//! The roster: the DUTY-02/04 central rotation (16 people) from the default pack, plus 4,984 people in 249
//! region-scoped branch assurance teams (DUTY-07: each team staffs 09:00–22:00 every day; here one person per
//! team per shift, rotating through the team), for 365 days: about 183,000 assignments. Lookups ask at random
//! instants of the year, a third unfiltered, a third for one region (and a system), a third for the central slot.
//!
//! Two paths are timed per lookup: the index alone (`DutyIndex::on_duty_at`), and the same as the service does it
//! on a warm cache (`services::duty::on_duty_at`: read the snapshot `Arc` under an `RwLock`, look up, convert
//! each person to owned strings).

use std::sync::{Arc, RwLock};
use std::time::Instant;

use chrono::{Duration, NaiveDate, TimeZone};
use tianshu_core::duty::{generate, Assignment, DutyIndex, OnDutyQuery, Team};
use tianshu_core::policy::{SlotDef, SlotScope};
use tianshu_core::PolicyPack;

const PEOPLE: usize = 5_000;
const TEAM_SIZE: usize = 20;
const LOOKUPS: usize = 1_000_000;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn pct(sorted: &[u64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

fn main() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../policies/default");
    let pack = PolicyPack::load_dir(dir).unwrap_or_else(|e| panic!("default pack:\n{e}"));
    let mut pol = pack.duty.clone();
    // DUTY-07 branch assurance teams: region-scoped, both shifts.
    pol.slots.push(SlotDef {
        key: "branch_assurance".into(),
        rule: "DUTY-07".into(),
        name_zh: "分部保障".into(),
        name_en: "Branch assurance".into(),
        shifts: vec!["day".into(), "evening".into()],
        required: false,
        people: 1,
        scope: SlotScope::Region,
        systems: vec![],
        report: false,
        comp_time: false,
    });
    let from = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    let to = NaiveDate::from_ymd_opt(2026, 12, 31).unwrap();

    // The central team: 7 branches × 2 + 2 HQ.
    let mut team = Team::default();
    for b in &pol.rotation.branches {
        team.branches.insert(
            b.branch.clone(),
            vec![format!("{}-1", b.branch), format!("{}-2", b.branch)],
        );
    }
    team.hq = vec!["hq-1".into(), "hq-2".into()];
    let t0 = Instant::now();
    let mut roster: Vec<Assignment> = generate(&pol, &team, from, to).unwrap();
    let others = PEOPLE - team.size();
    let teams = others / TEAM_SIZE;
    let mut person = 0usize;
    let members: Vec<Vec<String>> = (0..teams)
        .map(|t| {
            let n = if t == teams - 1 {
                others - TEAM_SIZE * (teams - 1)
            } else {
                TEAM_SIZE
            };
            (0..n)
                .map(|_| {
                    person += 1;
                    format!("p{person:05}")
                })
                .collect()
        })
        .collect();
    for (di, date) in from.iter_days().take(365).enumerate() {
        for (t, m) in members.iter().enumerate() {
            for (si, shift) in ["day", "evening"].iter().enumerate() {
                roster.push(Assignment {
                    date,
                    slot: "branch_assurance".into(),
                    shift: (*shift).into(),
                    person: m[(di * 2 + si) % m.len()].clone(),
                    region: Some(format!("region-{t:03}")),
                });
            }
        }
    }
    let gen_ms = t0.elapsed().as_secs_f64() * 1e3;
    let distinct = {
        let mut v: Vec<&str> = roster.iter().map(|a| a.person.as_str()).collect();
        v.sort_unstable();
        v.dedup();
        v.len()
    };

    let t1 = Instant::now();
    let index = DutyIndex::build(&pol, &roster);
    let build_ms = t1.elapsed().as_secs_f64() * 1e3;
    assert_eq!(index.len(), roster.len());

    let tz = chrono_tz::Asia::Shanghai;
    let start = tz
        .from_local_datetime(&from.and_hms_opt(0, 0, 0).unwrap())
        .unwrap()
        .timestamp_micros();
    let span = Duration::days(365).num_microseconds().unwrap() as u64;
    let regions: Vec<String> = (0..teams).map(|t| format!("region-{t:03}")).collect();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let queries: Vec<(i64, usize)> = (0..LOOKUPS)
        .map(|_| {
            (
                start + (rng.next() % span) as i64,
                (rng.next() % 3) as usize,
            )
        })
        .collect();
    let q_of = |kind: usize, r: &'static str| match kind {
        0 => OnDutyQuery::default(),
        1 => OnDutyQuery {
            region: Some(r),
            system: Some("crm"),
            slot: None,
        },
        _ => OnDutyQuery {
            slot: Some("central"),
            ..Default::default()
        },
    };
    let region_refs: Vec<&'static str> = regions
        .iter()
        .map(|s| &*Box::leak(s.clone().into_boxed_str()))
        .collect();

    // Warm-up.
    let mut found = 0usize;
    for (at, k) in queries.iter().take(10_000) {
        found += index
            .on_duty_at(*at, &q_of(*k, region_refs[(*at as usize) % teams]))
            .len();
    }

    // Path 1: the index alone.
    let mut lat = Vec::with_capacity(LOOKUPS);
    let mut hits = 0usize;
    let t2 = Instant::now();
    for (at, k) in &queries {
        let q = q_of(*k, region_refs[(*at as usize) % teams]);
        let s = Instant::now();
        let r = index.on_duty_at(*at, &q);
        lat.push(s.elapsed().as_nanos() as u64);
        hits += r.len();
    }
    let total1 = t2.elapsed().as_secs_f64();
    lat.sort_unstable();
    let p1 = (
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        pct(&lat, 0.999),
        *lat.last().unwrap() as f64 / 1000.0,
    );

    // Path 2: as the service does it on a warm cache.
    let cache: RwLock<Option<Arc<DutyIndex>>> = RwLock::new(Some(Arc::new(index)));
    let mut lat2 = Vec::with_capacity(LOOKUPS);
    let mut hits2 = 0usize;
    let t3 = Instant::now();
    for (at, k) in &queries {
        let q = q_of(*k, region_refs[(*at as usize) % teams]);
        let s = Instant::now();
        let snap = cache.read().unwrap().clone().unwrap();
        let owned: Vec<(String, String, String, Option<String>)> = snap
            .on_duty_at(*at, &q)
            .into_iter()
            .map(|o| {
                (
                    o.person.to_string(),
                    o.slot.to_string(),
                    o.shift.to_string(),
                    o.region.map(|r| r.to_string()),
                )
            })
            .collect();
        lat2.push(s.elapsed().as_nanos() as u64);
        hits2 += owned.len();
    }
    let total2 = t3.elapsed().as_secs_f64();
    lat2.sort_unstable();
    let p2 = (
        pct(&lat2, 0.5),
        pct(&lat2, 0.99),
        pct(&lat2, 0.999),
        *lat2.last().unwrap() as f64 / 1000.0,
    );

    println!("duty on-duty lookup benchmark");
    println!(
        "  people: {distinct} (central team {}, {} region teams)",
        team.size(),
        teams
    );
    println!(
        "  roster: {} assignments, {} .. {} (generated in {gen_ms:.0} ms)",
        roster.len(),
        from,
        to
    );
    println!("  index build: {build_ms:.1} ms");
    println!("  lookups: {LOOKUPS} at random instants of the year (1/3 all, 1/3 region+system, 1/3 central slot); warm-up found {found}");
    println!("  index only:        p50 {:.2} µs  p99 {:.2} µs  p99.9 {:.2} µs  max {:.1} µs  ({:.0} lookups/s, {hits} people returned)",
        p1.0, p1.1, p1.2, p1.3, LOOKUPS as f64 / total1);
    println!("  service-like path: p50 {:.2} µs  p99 {:.2} µs  p99.9 {:.2} µs  max {:.1} µs  ({:.0} lookups/s, {hits2} people returned)",
        p2.0, p2.1, p2.2, p2.3, LOOKUPS as f64 / total2);
    println!(
        "  target p99 < 1000 µs: {}",
        if p1.1 < 1000.0 && p2.1 < 1000.0 {
            "met"
        } else {
            "NOT met"
        }
    );
}
