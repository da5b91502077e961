//! KPI scorecards from the real records of a period (issue 8, KPI-01..KPI-15): the measures of kpi.toml are
//! computed per branch, province or vendor from stored records and scored by `core::kpi`. A measure the
//! records cannot provide yet is marked unavailable and its indicators say so — no number is invented.
//!
//! Measures computed today:
//! - `fault_handling_overrun` (KPI-07, SLA-11 clock): top-level, unmerged incidents whose `customer` is a
//!   group customer's key, resolved in the period; handling time = resolution − report (wall clock), overrun
//!   beyond the limit of the customer's tier. A fault counts for the ticket's branch, the branch's province,
//!   and every vendor it was dispatched to.
//!
//! - `provisioning_orders` / `provisioning_orders_on_time` (KPI-04, SLA-06/07): orders of the `provisioning`
//!   stage completed in the period, counted for the branch serving the customer and its province; on time =
//!   completed by the deadline with no SLA-07 overdue (no late delay request). Orders are not dispatched to
//!   vendors, so vendor cards do not score KPI-04.
//!
//! - `existing_network_survey_overrun` / `construction_survey_overrun` (KPI-02/03): survey orders of the stage
//!   the indicator's limit names, completed in the period; overrun = working time on the SLA calendar from the
//!   deadline to completion, granted delays excluded (KPI-10); same units as KPI-04.
//!
//! - `acceptances` / `acceptances_passed` (KPI-05, SLA-09): provisioning orders whose first initial acceptance
//!   was held in the period, and of those the ones that passed it at that first attempt (a pass after
//!   rectification does not count); same units as KPI-04.
//!
//! - `data_configuration_overrun` (KPI-06): data configurations started in the period; overrun = (start −
//!   notice) − the indicator's limit (wall clock), unit by the customer's tier when the notice was recorded;
//!   same units as KPI-04.
//!
//! - `complaints` / `complaints_on_time` (KPI-08): group-customer complaints closed in the period, counted for the
//!   branch serving the customer and its province; on time = closed by the deadline customer service set with
//!   the complaint (the seed gives no complaint-handling limit). Not dispatched to vendors: vendor cards do not
//!   score KPI-08.
//!
//! - `assessed` indicators (KPI-12/KPI-13): scored from the unit's current evaluator assessment of the period;
//!   a unit without one is not scored and says so.
//!
//! - `leased_line_repeat_faults_exceeded` / `annual_interruption_exceeded` (KPI-09, annual): group-customer
//!   faults that carry a leased line, over the year to date, each line judged against the `[network_quality]`
//!   standard of its SLA-03 level (`network`). The seed's standard table is missing: without one in sla.toml
//!   both flags are unavailable and say so — no number is invented.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{Datelike, NaiveDate, TimeZone, Utc};
use serde::Serialize;
use tianshu_core::kpi::{
    complaint, rank, score_set, OverrunRecord, RankRow, RecordRef, Scorecard, UnitMeasures,
    MEASURES,
};
use tianshu_core::policy::{FormulaKind, IndicatorSet, KpiPolicy, LimitSource, PolicyPack};
use tianshu_core::sla::{overdue_count, StageLimit, Tier};
use tianshu_core::Permission;
use tianshu_store::assessments::AssessmentRow;
use tianshu_store::identity::Org;
use tianshu_store::kpi::CustomerFaultRow;
use tianshu_store::provisioning::ProvisioningOrderRow;
use tianshu_store::time::from_micros;
use tianshu_workcal::Pause;

use crate::authz::{Principal, Scope};
use crate::{Platform, ServiceError, ServiceResult};

mod network;

pub use network::{customer_lines, CustomerLines};

/// The measure of customer fault handling (KPI-07).
pub const FAULT_HANDLING: &str = "fault_handling_overrun";

/// Provisioning orders completed in the period (KPI-04 denominator).
pub const PROVISIONING_ORDERS: &str = "provisioning_orders";

/// Of those, on time (KPI-04 numerator).
pub const PROVISIONING_ON_TIME: &str = "provisioning_orders_on_time";

/// The sla.toml stage whose orders KPI-04 counts (业务开通); the survey stages feed KPI-02/03 instead.
pub const PROVISIONING_STAGE: &str = "provisioning";

/// Survey overruns (KPI-02, KPI-03) from survey orders; the stage of each is the `limit.sla_stage` of the
/// indicator reading it in kpi.toml.
pub const SURVEY_OVERRUNS: &[&str] = &[
    "existing_network_survey_overrun",
    "construction_survey_overrun",
];

/// Orders whose first initial acceptance was held in the period (KPI-05 denominator, SLA-09).
pub const ACCEPTANCES: &str = "acceptances";

/// Of those, passed at that first attempt (KPI-05 numerator).
pub const ACCEPTANCES_PASSED: &str = "acceptances_passed";

/// Data configurations started in the period, overrun of the notice-to-start limit (KPI-06).
pub const DATA_CONFIGURATION: &str = "data_configuration_overrun";

/// Complaints closed in the period (KPI-08 denominator).
pub const COMPLAINTS: &str = "complaints";

/// Of those, closed by their deadline (KPI-08 numerator).
pub const COMPLAINTS_ON_TIME: &str = "complaints_on_time";

/// Base measures computed from stored records today.
pub const PROVIDED: &[&str] = &[
    FAULT_HANDLING,
    PROVISIONING_ORDERS,
    PROVISIONING_ON_TIME,
    COMPLAINTS,
    COMPLAINTS_ON_TIME,
    "existing_network_survey_overrun",
    "construction_survey_overrun",
    ACCEPTANCES,
    ACCEPTANCES_PASSED,
    DATA_CONFIGURATION,
    network::REPEAT_FAULTS,
    network::INTERRUPTION,
];

/// The sla.toml stage an overrun measure is counted against: the `limit` of the first indicator reading it.
fn stage_of_measure(pack: &PolicyPack, measure: &str) -> Option<String> {
    pack.kpi
        .sets
        .iter()
        .flat_map(|s| s.indicators.iter())
        .filter(|i| i.measure.as_deref() == Some(measure))
        .find_map(|i| match i.limit.as_ref()? {
            LimitSource::Stage { sla_stage } => Some(sla_stage.clone()),
            _ => None,
        })
}

/// Whose scorecards: branches, provinces or vendors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitKind {
    Branch,
    Province,
    Vendor,
}

impl UnitKind {
    /// Parses `branch`, `province` or `vendor`.
    pub fn parse(s: &str) -> ServiceResult<Self> {
        match s.trim() {
            "branch" => Ok(UnitKind::Branch),
            "province" => Ok(UnitKind::Province),
            "vendor" => Ok(UnitKind::Vendor),
            other => Err(ServiceError::invalid(
                "by",
                format!("'{other}' is not one of branch, province, vendor"),
            )),
        }
    }

    /// The organisation kind of the unit.
    pub fn as_str(self) -> &'static str {
        match self {
            UnitKind::Branch => "branch",
            UnitKind::Province => "province",
            UnitKind::Vendor => "vendor",
        }
    }
}

/// A period: a local calendar month of the centre.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Period {
    /// `YYYY-MM`.
    pub key: String,
    /// First instant (Unix microseconds UTC).
    pub from: i64,
    /// First instant after the period.
    pub to: i64,
}

/// `YYYY-MM` in the centre's time zone; refused naming `field`.
pub fn parse_month(field: &str, month: &str, tz: chrono_tz::Tz) -> ServiceResult<Period> {
    let bad = || ServiceError::invalid(field, format!("'{month}' is not a month such as 2026-11"));
    let m = month.trim();
    if m.len() != 7 {
        return Err(bad());
    }
    let first = NaiveDate::parse_from_str(&format!("{m}-01"), "%Y-%m-%d").map_err(|_| bad())?;
    if !(2000..=2100).contains(&first.year()) {
        return Err(bad());
    }
    let next = first
        .checked_add_months(chrono::Months::new(1))
        .ok_or_else(bad)?;
    let start = |d: NaiveDate| {
        d.and_hms_opt(0, 0, 0)
            .and_then(|n| tz.from_local_datetime(&n).earliest())
            .map(|t| t.with_timezone(&Utc).timestamp_micros())
            .ok_or_else(bad)
    };
    Ok(Period {
        key: first.format("%Y-%m").to_string(),
        from: start(first)?,
        to: start(next)?,
    })
}

/// The current local month of the centre, `YYYY-MM`.
pub fn current_month(p: &Platform) -> String {
    let tz = p.time_zone();
    p.clock.now().with_timezone(&tz).format("%Y-%m").to_string()
}

/// A record behind a lost point, with where to read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordLink {
    pub kind: String,
    pub id: String,
    /// What a person recognises (ticket number and title).
    pub label: String,
    /// Console page of the record.
    pub href: String,
}

/// One unit's scorecard with the records its losses name.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnitCard {
    pub unit: String,
    pub unit_name: String,
    pub card: Scorecard,
    /// `kind:id` → the record.
    pub records: BTreeMap<String, RecordLink>,
    /// Indicator key → the current assessment it was scored from (KPI-12/KPI-13).
    pub assessments: BTreeMap<String, AssessmentRow>,
}

/// The scorecards of one set for one period and unit kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scorecards {
    pub period: Period,
    pub set: String,
    pub set_name_zh: String,
    pub set_rule: String,
    pub by: UnitKind,
    /// KPI-14 conversion rule.
    pub conversion_rule: String,
    /// KPI-15 ranking rule and how many laggards.
    pub ranking_rule: String,
    pub laggards: u32,
    pub cards: Vec<UnitCard>,
    /// Competition ranking over the units shown.
    pub ranking: Vec<RankRow>,
    /// Measures the records cannot provide yet: measure → why.
    pub unavailable: BTreeMap<String, String>,
}

/// Why each base measure (and each assessment) cannot be computed from the records yet.
pub fn unavailable_measures(kpi: &KpiPolicy) -> BTreeMap<String, String> {
    let mut m: BTreeMap<String, String> = MEASURES
        .iter()
        .filter(|d| !PROVIDED.contains(&d.key))
        .map(|d| {
            (
                d.key.to_string(),
                format!(
                    "no such records are stored in Tianshu yet ({})",
                    d.description
                ),
            )
        })
        .collect();
    for set in &kpi.sets {
        for ind in set
            .indicators
            .iter()
            .filter(|i| i.kind == FormulaKind::Assessed)
        {
            m.insert(
                format!("assessed:{}", ind.key),
                format!(
                    "{}: no evaluator assessment is recorded for the period yet",
                    ind.rule
                ),
            );
        }
    }
    m
}

/// The KPI-07 limit of `tier`: from the first indicator reading `measure` (per tier or fixed, wall clock).
fn tier_limit(pack: &PolicyPack, measure: &str, tier: Tier) -> Option<i64> {
    let ind = pack
        .kpi
        .sets
        .iter()
        .flat_map(|s| s.indicators.iter())
        .find(|i| i.measure.as_deref() == Some(measure))?;
    let limit = match ind.limit.as_ref()? {
        LimitSource::Fixed(l) => *l,
        LimitSource::PerTier(m) => *m.get(&tier)?,
        LimitSource::Stage { sla_stage } => pack.sla.limit(sla_stage, Some(tier), 1).ok()?,
    };
    match limit {
        StageLimit::WallClock(_) => Some(limit.seconds(pack.sla.day_seconds)),
        // A working-day limit needs the working time between report and resolution, not measured here.
        StageLimit::WorkingDays(_) => None,
    }
}

/// KPI-06: the wall-clock limit from notice to start for `tier`, from the indicator reading the measure.
pub(crate) fn data_configuration_limit(pack: &PolicyPack, tier: Tier) -> Option<i64> {
    tier_limit(pack, DATA_CONFIGURATION, tier)
}

/// The record of customer fault `number` (ticket `id`), its drill-down link registered in `links`.
fn incident_record(
    links: &mut BTreeMap<String, RecordLink>,
    id: i64,
    number: &str,
    title: &str,
    customer: &str,
) -> RecordRef {
    links.insert(
        format!("incident:{number}"),
        RecordLink {
            kind: "incident".into(),
            id: number.to_string(),
            label: format!("{number} {title}（{customer}）"),
            href: format!("/incidents/{id}"),
        },
    );
    RecordRef {
        kind: "incident".into(),
        id: number.to_string(),
    }
}

/// The units a customer fault counts for: its ticket's branch, that branch's province, or the vendors it was
/// dispatched to.
fn fault_units(
    by: UnitKind,
    orgs: &HashMap<i64, &Org>,
    region_id: Option<i64>,
    org_id: i64,
    vendors: Option<&[i64]>,
) -> Vec<i64> {
    match by {
        UnitKind::Branch => ancestor_of_kind(orgs, region_id, "branch")
            .into_iter()
            .collect(),
        UnitKind::Province => ancestor_of_kind(orgs, region_id.or(Some(org_id)), "province")
            .into_iter()
            .collect(),
        UnitKind::Vendor => vendors.map(<[i64]>::to_vec).unwrap_or_default(),
    }
}

fn ancestor_of_kind(orgs: &HashMap<i64, &Org>, start: Option<i64>, kind: &str) -> Option<i64> {
    let mut cur = start;
    for _ in 0..16 {
        let o = orgs.get(&cur?)?;
        if o.kind == kind {
            return Some(o.id);
        }
        cur = o.parent_id;
    }
    None
}

/// The scorecards of `set` (default: the first set of kpi.toml) for the local month `period` (default: this
/// month) per `by` unit (default branch); `unit` keeps one unit (the drill-down).
pub async fn scorecards(
    p: &Platform,
    actor: &Principal,
    period: Option<&str>,
    set: Option<&str>,
    by: Option<&str>,
    unit: Option<&str>,
) -> ServiceResult<Scorecards> {
    actor.require(Permission::KpiRead)?;
    let pol = p.policy.current();
    let pack = &pol.pack;
    let tz = p.time_zone();
    let period = match period.map(str::trim).filter(|s| !s.is_empty()) {
        Some(m) => parse_month("period", m, tz)?,
        None => parse_month("period", &current_month(p), tz)?,
    };
    let set_def = match set.map(str::trim).filter(|s| !s.is_empty()) {
        Some(k) => pack.kpi.set(k).ok_or_else(|| {
            let known: Vec<&str> = pack.kpi.sets.iter().map(|s| s.key.as_str()).collect();
            ServiceError::invalid(
                "set",
                format!(
                    "'{k}' is not an indicator set of kpi.toml ({})",
                    known.join(", ")
                ),
            )
        })?,
        None => pack
            .kpi
            .sets
            .first()
            .ok_or_else(|| ServiceError::Internal("kpi.toml has no indicator set".into()))?,
    };
    let by = match by.map(str::trim).filter(|s| !s.is_empty()) {
        Some(b) => UnitKind::parse(b)?,
        None => UnitKind::Branch,
    };
    let orgs = p.store.orgs().await?;
    let org_by_id: HashMap<i64, &Org> = orgs.iter().map(|o| (o.id, o)).collect();
    // Units the caller may see: the whole province, their own branch, or their own vendor.
    let mut units: Vec<&Org> = orgs
        .iter()
        .filter(|o| o.kind == by.as_str())
        .filter(|o| match actor.scope {
            Scope::Province => true,
            Scope::Region(r) => by == UnitKind::Branch && o.id == r,
            Scope::Vendor(v) => by == UnitKind::Vendor && o.id == v,
        })
        .collect();
    if let Some(u) = unit.map(str::trim).filter(|s| !s.is_empty()) {
        if !orgs.iter().any(|o| o.key == u && o.kind == by.as_str()) {
            return Err(ServiceError::unknown_ref(
                "unit",
                format!("no {} '{u}'", by.as_str()),
                format!("没有{}“{u}”", by.as_str()),
            ));
        }
        units.retain(|o| o.key == u);
        if units.is_empty() {
            return Err(ServiceError::OutOfScope);
        }
    }

    let unavailable = unavailable_measures(&pack.kpi);
    let faults = p
        .store
        .customer_faults_resolved(period.from, period.to)
        .await?;
    let vendors = p
        .store
        .vendor_dispatches_of_resolved(period.from, period.to)
        .await?;
    let mut vendors_of: HashMap<i64, Vec<i64>> = HashMap::new();
    for (inc, v) in vendors {
        vendors_of.entry(inc).or_default().push(v);
    }
    let unit_of = |f: &CustomerFaultRow| -> Vec<i64> {
        fault_units(
            by,
            &org_by_id,
            f.region_id,
            f.org_id,
            vendors_of.get(&f.id).map(Vec::as_slice),
        )
    };
    let mut per_unit: HashMap<i64, Vec<OverrunRecord>> = HashMap::new();
    let mut links: BTreeMap<String, RecordLink> = BTreeMap::new();
    let mut no_limit: Vec<String> = Vec::new();
    for f in &faults {
        let Ok(tier) = f.tier.parse::<Tier>() else {
            continue;
        };
        let Some(limit) = tier_limit(pack, FAULT_HANDLING, tier) else {
            no_limit.push(tier.as_str().to_string());
            continue;
        };
        let handled = (f.resolved_at - f.created_at).div_euclid(1_000_000);
        let record = incident_record(&mut links, f.id, &f.number, &f.title, &f.customer);
        for u in unit_of(f) {
            per_unit.entry(u).or_default().push(OverrunRecord {
                record: record.clone(),
                tier,
                overrun_seconds: handled - limit,
            });
        }
    }
    let mut unavailable = unavailable;
    if !no_limit.is_empty() {
        no_limit.sort();
        no_limit.dedup();
        unavailable.insert(
            FAULT_HANDLING.into(),
            format!(
                "SLA-04: no wall-clock fault-handling limit for tier {} in kpi.toml",
                no_limit.join(", ")
            ),
        );
    }

    // KPI-04: provisioning orders completed in the period, for the branch serving the customer.
    let mut provisioned: HashMap<i64, (BTreeSet<RecordRef>, BTreeSet<RecordRef>)> = HashMap::new();
    if by == UnitKind::Vendor {
        for k in [PROVISIONING_ORDERS, PROVISIONING_ON_TIME] {
            unavailable.insert(
                k.into(),
                "provisioning orders are placed for customers served by branches, not dispatched to vendors"
                    .into(),
            );
        }
    } else {
        let orders = p
            .store
            .provisioning_completed_between(PROVISIONING_STAGE, period.from, period.to)
            .await?;
        for (o, org) in orders {
            let kind = if by == UnitKind::Branch {
                "branch"
            } else {
                "province"
            };
            let Some(u) = ancestor_of_kind(&org_by_id, org, kind) else {
                continue;
            };
            let record = RecordRef {
                kind: "provisioning_order".into(),
                id: o.id.to_string(),
            };
            links.insert(
                format!("provisioning_order:{}", o.id),
                RecordLink {
                    kind: "provisioning_order".into(),
                    id: o.id.to_string(),
                    label: format!("开通工单 #{}（{}，{}）", o.id, o.customer_key, o.city),
                    href: format!("/customers/{}#order-{}", o.customer_key, o.id),
                },
            );
            let late = o.completed_at.is_some_and(|c| c > o.deadline_at);
            let overdue = overdue_count(u32::try_from(o.late_requests).unwrap_or(u32::MAX), late);
            let e = provisioned.entry(u).or_default();
            e.0.insert(record.clone());
            if overdue == 0 {
                e.1.insert(record);
            }
        }
    }

    // KPI-02/03: survey orders completed in the period, overrun in working time past the deadline (KPI-10).
    let mut surveys: HashMap<(&str, i64), Vec<OverrunRecord>> = HashMap::new();
    if by == UnitKind::Vendor {
        for k in SURVEY_OVERRUNS {
            unavailable.insert(
                (*k).into(),
                "survey orders are placed for customers served by branches, not dispatched to vendors".into(),
            );
        }
    } else {
        let cal = pol.calendars.get(&pack.sla.calendar)?;
        for &measure in SURVEY_OVERRUNS {
            let Some(stage) = stage_of_measure(pack, measure) else {
                continue;
            };
            let orders = p
                .store
                .provisioning_completed_between(&stage, period.from, period.to)
                .await?;
            for (o, org) in orders {
                let kind = if by == UnitKind::Branch {
                    "branch"
                } else {
                    "province"
                };
                let (Some(u), Ok(tier), Some(done)) = (
                    ancestor_of_kind(&org_by_id, org, kind),
                    o.tier.parse::<Tier>(),
                    o.completed_at,
                ) else {
                    continue;
                };
                let pauses: Vec<Pause> = p
                    .store
                    .provisioning_delays(o.id)
                    .await?
                    .into_iter()
                    .filter(|d| d.outcome == "granted")
                    .map(|d| Pause {
                        from: from_micros(d.from_at),
                        to: from_micros(d.until_at),
                    })
                    .collect();
                let over = cal.working_time_between(
                    from_micros(o.deadline_at),
                    from_micros(done),
                    &pauses,
                );
                let id = o.id.to_string();
                links.insert(
                    format!("provisioning_order:{id}"),
                    RecordLink {
                        kind: "provisioning_order".into(),
                        id: id.clone(),
                        label: format!("勘查工单 #{id}（{}，{}）", o.customer_key, o.city),
                        href: format!("/customers/{}#order-{id}", o.customer_key),
                    },
                );
                surveys
                    .entry((measure, u))
                    .or_default()
                    .push(OverrunRecord {
                        record: RecordRef {
                            kind: "provisioning_order".into(),
                            id,
                        },
                        tier,
                        overrun_seconds: over,
                    });
            }
        }
    }

    let mut delivered = delivery_measures(p, pack, by, &period, &org_by_id, &mut links).await?;
    unavailable.extend(delivered.unavailable.clone());

    let mut complaints =
        complaint_counts(p, by, &org_by_id, &period, &mut unavailable, &mut links).await?;
    let assessed = current_assessments(p, &set_def.key, &period.key).await?;
    let mut line_flags = network::flags(
        p,
        pack,
        by,
        &period,
        &org_by_id,
        &mut links,
        &mut unavailable,
    )
    .await?;

    let mut cards = Vec::new();
    for o in &units {
        let mut m = UnitMeasures {
            unit: o.key.clone(),
            unavailable: unavailable.clone(),
            ..UnitMeasures::default()
        };
        let mut used = BTreeMap::new();
        if by != UnitKind::Vendor {
            let (all, on_time) = provisioned.remove(&o.id).unwrap_or_default();
            for r in &all {
                let k = format!("{}:{}", r.kind, r.id);
                if let Some(l) = links.get(&k) {
                    used.insert(k, l.clone());
                }
            }
            m.counts.insert(PROVISIONING_ORDERS.into(), all);
            m.counts.insert(PROVISIONING_ON_TIME.into(), on_time);
            for &measure in SURVEY_OVERRUNS {
                let records = surveys.remove(&(measure, o.id)).unwrap_or_default();
                for r in &records {
                    let k = format!("{}:{}", r.record.kind, r.record.id);
                    if let Some(l) = links.get(&k) {
                        used.insert(k, l.clone());
                    }
                }
                m.overruns.insert(measure.into(), records);
            }
        }
        delivered.fill(o.id, &mut m, &links, &mut used);
        let records = per_unit.remove(&o.id).unwrap_or_default();
        for r in &records {
            let k = format!("{}:{}", r.record.kind, r.record.id);
            if let Some(l) = links.get(&k) {
                used.insert(k, l.clone());
            }
        }
        m.overruns.insert(FAULT_HANDLING.into(), records);
        if let Some((all, on_time)) = complaints.remove(&o.id) {
            for r in &all {
                let k = format!("{}:{}", r.kind, r.id);
                if let Some(l) = links.get(&k) {
                    used.insert(k, l.clone());
                }
            }
            m.counts.insert(COMPLAINTS.into(), all);
            m.counts.insert(COMPLAINTS_ON_TIME.into(), on_time);
        }
        if let Some(flags) = line_flags.remove(&o.id) {
            for r in flags.values().flatten() {
                let k = format!("{}:{}", r.kind, r.id);
                if let Some(l) = links.get(&k) {
                    used.insert(k, l.clone());
                }
            }
            m.flags = flags;
        }
        let assessments = apply_assessments(set_def, o.id, &assessed, &mut m);
        let card = score_set(&pack.kpi, set_def, &m, pack.sla.day_seconds)
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        cards.push(UnitCard {
            unit: o.key.clone(),
            unit_name: o.name.clone(),
            card,
            records: used,
            assessments,
        });
    }
    settle_assessed_unavailable(set_def, &cards, &mut unavailable);
    let scorecards: Vec<Scorecard> = cards.iter().map(|c| c.card.clone()).collect();
    let ranking = rank(&scorecards, pack.kpi.ranking.laggards);
    Ok(Scorecards {
        period,
        set: set_def.key.clone(),
        set_name_zh: set_def.name_zh.clone(),
        set_rule: set_def.rule.clone(),
        by,
        conversion_rule: pack.kpi.conversion.rule.clone(),
        ranking_rule: pack.kpi.ranking.rule.clone(),
        laggards: pack.kpi.ranking.laggards,
        cards,
        ranking,
        unavailable,
    })
}

/// KPI-05 and KPI-06 per unit, from the delivery records of provisioning orders (`crate::delivery`).
#[derive(Default)]
struct DeliveryMeasures {
    /// Unit → (orders whose first initial acceptance fell in the period, those that passed it).
    accepted: HashMap<i64, (BTreeSet<RecordRef>, BTreeSet<RecordRef>)>,
    /// Unit → data-configuration overruns.
    configured: HashMap<i64, Vec<OverrunRecord>>,
    unavailable: BTreeMap<String, String>,
}

impl DeliveryMeasures {
    /// Moves unit `unit`'s records into its measures and the links they use.
    fn fill(
        &mut self,
        unit: i64,
        m: &mut UnitMeasures,
        links: &BTreeMap<String, RecordLink>,
        used: &mut BTreeMap<String, RecordLink>,
    ) {
        let (all, passed) = self.accepted.remove(&unit).unwrap_or_default();
        let configured = self.configured.remove(&unit).unwrap_or_default();
        for r in all.iter().chain(configured.iter().map(|c| &c.record)) {
            let k = format!("{}:{}", r.kind, r.id);
            if let Some(l) = links.get(&k) {
                used.insert(k, l.clone());
            }
        }
        m.counts.insert(ACCEPTANCES.into(), all);
        m.counts.insert(ACCEPTANCES_PASSED.into(), passed);
        m.overruns.insert(DATA_CONFIGURATION.into(), configured);
    }
}

/// KPI-05 (first initial acceptances held in the period, SLA-09) and KPI-06 (data configurations started in the
/// period) for the branch serving the customer or its province; vendors get neither: orders are not
/// dispatched to them.
async fn delivery_measures(
    p: &Platform,
    pack: &PolicyPack,
    by: UnitKind,
    period: &Period,
    org_by_id: &HashMap<i64, &Org>,
    links: &mut BTreeMap<String, RecordLink>,
) -> ServiceResult<DeliveryMeasures> {
    let mut out = DeliveryMeasures::default();
    if by == UnitKind::Vendor {
        for k in [ACCEPTANCES, ACCEPTANCES_PASSED, DATA_CONFIGURATION] {
            out.unavailable.insert(
                k.into(),
                "acceptances and data configurations belong to provisioning orders of customers served by branches, not dispatched to vendors"
                    .into(),
            );
        }
        return Ok(out);
    }
    let kind = by.as_str();
    let mut link = |o: &ProvisioningOrderRow| {
        let id = o.id.to_string();
        links.insert(
            format!("provisioning_order:{id}"),
            RecordLink {
                kind: "provisioning_order".into(),
                id: id.clone(),
                label: format!("开通工单 #{id}（{}，{}）", o.customer_key, o.city),
                href: format!("/customers/{}#order-{id}", o.customer_key),
            },
        );
        RecordRef {
            kind: "provisioning_order".into(),
            id,
        }
    };
    for a in p
        .store
        .first_initial_acceptances_between(period.from, period.to)
        .await?
    {
        let Some(u) = ancestor_of_kind(org_by_id, a.customer_org_id, kind) else {
            continue;
        };
        let record = link(&a.order);
        let e = out.accepted.entry(u).or_default();
        e.0.insert(record.clone());
        if a.first_outcome == "passed" {
            e.1.insert(record);
        }
    }
    let mut no_limit = BTreeSet::new();
    for d in p
        .store
        .data_configs_started_between(period.from, period.to)
        .await?
    {
        let (Some(u), Ok(tier)) = (
            ancestor_of_kind(org_by_id, d.customer_org_id, kind),
            d.cfg_tier.parse::<Tier>(),
        ) else {
            continue;
        };
        let Some(limit) = data_configuration_limit(pack, tier) else {
            no_limit.insert(tier.as_str());
            continue;
        };
        let waited = (d.cfg_started_at - d.cfg_notified_at).div_euclid(1_000_000);
        out.configured.entry(u).or_default().push(OverrunRecord {
            record: link(&d.order),
            tier,
            overrun_seconds: waited - limit,
        });
    }
    if !no_limit.is_empty() {
        let tiers: Vec<&str> = no_limit.into_iter().collect();
        out.unavailable.insert(
            DATA_CONFIGURATION.into(),
            format!(
                "KPI-06: no wall-clock data-configuration limit for tier {} in kpi.toml",
                tiers.join(", ")
            ),
        );
    }
    Ok(out)
}

/// KPI-08: complaints closed in the period per branch (or province) serving the customer, with those closed by
/// their deadline. Vendor cards: both measures unavailable, with the reason.
async fn complaint_counts(
    p: &Platform,
    by: UnitKind,
    org_by_id: &HashMap<i64, &Org>,
    period: &Period,
    unavailable: &mut BTreeMap<String, String>,
    links: &mut BTreeMap<String, RecordLink>,
) -> ServiceResult<HashMap<i64, (BTreeSet<RecordRef>, BTreeSet<RecordRef>)>> {
    let mut out: HashMap<i64, (BTreeSet<RecordRef>, BTreeSet<RecordRef>)> = HashMap::new();
    if by == UnitKind::Vendor {
        for k in [COMPLAINTS, COMPLAINTS_ON_TIME] {
            unavailable.insert(
                k.into(),
                "complaints are recorded for customers served by branches, not dispatched to vendors".into(),
            );
        }
        return Ok(out);
    }
    let kind = by.as_str();
    for c in p
        .store
        .complaints_closed_between(period.from, period.to)
        .await?
    {
        let (Some(u), Some(closed)) = (
            ancestor_of_kind(org_by_id, c.customer_org_id, kind),
            c.closed_at,
        ) else {
            continue;
        };
        let id = c.id.to_string();
        links.insert(
            format!("complaint:{id}"),
            RecordLink {
                kind: "complaint".into(),
                id: id.clone(),
                label: format!("投诉 #{id}（{}）", c.customer_key),
                href: format!("/customers/{}#complaint-{id}", c.customer_key),
            },
        );
        let record = RecordRef {
            kind: "complaint".into(),
            id,
        };
        let e = out.entry(u).or_default();
        e.0.insert(record.clone());
        if complaint::on_time(closed, c.due_at) {
            e.1.insert(record);
        }
    }
    Ok(out)
}

/// KPI-12/KPI-13: the current assessments of `set` for the month `period`, by (unit, indicator).
async fn current_assessments(
    p: &Platform,
    set: &str,
    period: &str,
) -> ServiceResult<HashMap<(i64, String), AssessmentRow>> {
    Ok(p.store
        .current_assessments(set, period)
        .await?
        .into_iter()
        .map(|a| ((a.org_id, a.indicator_key.clone()), a))
        .collect())
}

/// Gives unit `org_id` the points of its current assessments of `set`'s `assessed` indicators; returns the
/// assessments used. An assessment above the indicator's current full marks (the pack lowered them since) is not
/// used: the indicator says why instead of failing the whole scorecard.
fn apply_assessments(
    set: &IndicatorSet,
    org_id: i64,
    assessed: &HashMap<(i64, String), AssessmentRow>,
    m: &mut UnitMeasures,
) -> BTreeMap<String, AssessmentRow> {
    let mut used = BTreeMap::new();
    for ind in set
        .indicators
        .iter()
        .filter(|i| i.kind == FormulaKind::Assessed)
    {
        let Some(a) = assessed.get(&(org_id, ind.key.clone())) else {
            continue;
        };
        let key = format!("assessed:{}", ind.key);
        let points = tianshu_core::kpi::Points::from_hundredths(a.points);
        if points > ind.max {
            m.unavailable.insert(
                key,
                format!(
                    "{}: the assessment #{} gives {points} points, above the indicator's {} full marks in the current pack; re-assess",
                    ind.rule, a.id, ind.max
                ),
            );
            continue;
        }
        m.unavailable.remove(&key);
        m.assessed.insert(ind.key.clone(), points);
        used.insert(ind.key.clone(), a.clone());
    }
    used
}

/// Keeps `assessed:<indicator>` of `set` among the scorecards' unavailable measures only while some unit shown
/// still has no usable assessment.
fn settle_assessed_unavailable(
    set: &IndicatorSet,
    cards: &[UnitCard],
    unavailable: &mut BTreeMap<String, String>,
) {
    for ind in set
        .indicators
        .iter()
        .filter(|i| i.kind == FormulaKind::Assessed)
    {
        let missing = cards.iter().any(|c| {
            c.card
                .indicators
                .iter()
                .any(|i| i.key == ind.key && i.unavailable.is_some())
        });
        if !missing && !cards.is_empty() {
            unavailable.remove(&format!("assessed:{}", ind.key));
        }
    }
}

fn xlsx_err(e: rust_xlsxwriter::XlsxError) -> ServiceError {
    ServiceError::Internal(format!("writing XLSX: {e}"))
}

/// The scorecards as a workbook: 评分表 (one row per unit, one column per indicator, total, KPI-14 percent,
/// KPI-15 rank), 扣分明细 (every record behind lost points) and 未计分 (measures without records).
pub fn scorecards_xlsx(s: &Scorecards) -> ServiceResult<Vec<u8>> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold();
    let ws = wb.add_worksheet();
    ws.set_name("评分表").map_err(xlsx_err)?;
    let mut head: Vec<String> = vec!["考核对象".into()];
    if let Some(c) = s.cards.first() {
        head.extend(
            c.card
                .indicators
                .iter()
                .map(|i| format!("{} {}（{}）", i.rule, i.name_zh, i.max)),
        );
    }
    head.extend(
        [
            "得分",
            "满分",
            &format!("百分制（{}）", s.conversion_rule),
            &format!("排名（{}）", s.ranking_rule),
            "排名靠后",
        ]
        .map(String::from),
    );
    for (c, h) in head.iter().enumerate() {
        let c = u16::try_from(c).unwrap_or(u16::MAX);
        ws.write_string_with_format(0, c, h, &bold)
            .map_err(xlsx_err)?;
        ws.set_column_width(c, 16).map_err(xlsx_err)?;
    }
    for (r, u) in s.cards.iter().enumerate() {
        let row = u32::try_from(r + 1).unwrap_or(u32::MAX);
        ws.write_string(row, 0, &u.unit_name).map_err(xlsx_err)?;
        let mut col: u16 = 1;
        for i in &u.card.indicators {
            match i.score {
                Some(v) => ws.write_number(row, col, v.as_f64()),
                None => ws.write_string(row, col, "—"),
            }
            .map_err(xlsx_err)?;
            col += 1;
        }
        ws.write_number(row, col, u.card.total.as_f64())
            .map_err(xlsx_err)?;
        ws.write_number(row, col + 1, u.card.max.as_f64())
            .map_err(xlsx_err)?;
        match u.card.percent {
            Some(p) => ws.write_number(row, col + 2, p.as_f64()),
            None => ws.write_string(row, col + 2, "—"),
        }
        .map_err(xlsx_err)?;
        if let Some(rk) = s.ranking.iter().find(|x| x.unit == u.unit) {
            ws.write_number(row, col + 3, f64::from(rk.rank))
                .map_err(xlsx_err)?;
            ws.write_string(row, col + 4, if rk.laggard { "是" } else { "否" })
                .map_err(xlsx_err)?;
        }
    }
    let ws = wb.add_worksheet();
    ws.set_name("扣分明细").map_err(xlsx_err)?;
    for (c, h) in ["考核对象", "规则", "指标", "记录", "扣分", "原因"]
        .iter()
        .enumerate()
    {
        ws.write_string_with_format(0, c as u16, *h, &bold)
            .map_err(xlsx_err)?;
        ws.set_column_width(c as u16, 18).map_err(xlsx_err)?;
    }
    let mut row = 1u32;
    for u in &s.cards {
        for i in &u.card.indicators {
            for l in &i.losses {
                let label = u
                    .records
                    .get(&format!("{}:{}", l.record.kind, l.record.id))
                    .map_or_else(|| l.record.id.clone(), |r| r.label.clone());
                ws.write_string(row, 0, &u.unit_name).map_err(xlsx_err)?;
                ws.write_string(row, 1, &i.rule).map_err(xlsx_err)?;
                ws.write_string(row, 2, &i.name_zh).map_err(xlsx_err)?;
                ws.write_string(row, 3, &label).map_err(xlsx_err)?;
                if let Some(p) = l.points {
                    ws.write_number(row, 4, p.as_f64()).map_err(xlsx_err)?;
                }
                ws.write_string(row, 5, &l.reason).map_err(xlsx_err)?;
                row += 1;
            }
        }
    }
    let ws = wb.add_worksheet();
    ws.set_name("未计分").map_err(xlsx_err)?;
    ws.write_string_with_format(0, 0, "测量项", &bold)
        .map_err(xlsx_err)?;
    ws.write_string_with_format(0, 1, "原因", &bold)
        .map_err(xlsx_err)?;
    ws.set_column_width(0, 36).map_err(xlsx_err)?;
    ws.set_column_width(1, 80).map_err(xlsx_err)?;
    for (i, (m, why)) in s.unavailable.iter().enumerate() {
        let row = u32::try_from(i + 1).unwrap_or(u32::MAX);
        ws.write_string(row, 0, m).map_err(xlsx_err)?;
        ws.write_string(row, 1, why).map_err(xlsx_err)?;
    }
    wb.save_to_buffer().map_err(xlsx_err)
}
