//! KPI-09 network quality from the leased-line faults of the year to date (SLA-03/SLA-04/SLA-12): the two flags
//! of the indicator, per unit, with the tickets of every line that exceeded its standard. Without a
//! `[network_quality]` standard in sla.toml (the seed's table is missing) both flags are unavailable and say so.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;
use tianshu_core::kpi::RecordRef;
use tianshu_core::policy::PolicyPack;
use tianshu_core::sla::{judge_lines, AssuranceLevel, LineFault, LineVerdict, Tier};
use tianshu_core::Permission;
use tianshu_store::identity::Org;
use tianshu_store::leased_lines::LineFaultRow;
use tianshu_store::time::from_micros;

use super::{fault_units, incident_record, parse_month, Period, RecordLink, UnitKind};
use crate::authz::{Principal, Scope};
use crate::{Platform, ServiceError, ServiceResult};

/// A leased line's repeat faults exceeded its standard in the year.
pub const REPEAT_FAULTS: &str = "leased_line_repeat_faults_exceeded";

/// A leased line's interruption in the year exceeded its standard.
pub const INTERRUPTION: &str = "annual_interruption_exceeded";

/// Unit → flag → the tickets behind it (only flags that fired have an entry).
pub(super) type UnitFlags = HashMap<i64, BTreeMap<String, BTreeSet<RecordRef>>>;

/// One stored fault as the judge reads it: the line's SLA-03 level (the service type's for the customer's tier, the
/// tier's default without a still-known type) and its interruption clipped to `[year_from, end)`.
fn line_fault<R>(
    pack: &PolicyPack,
    r: &LineFaultRow,
    year_from: i64,
    end: i64,
    record: R,
) -> Option<LineFault<R>> {
    let tier = r.tier.parse::<Tier>().ok()?;
    let level = r
        .service_type
        .as_deref()
        .and_then(|t| pack.sla.assurance_level(tier, t).ok())
        .or_else(|| pack.sla.assurance.default.get(&tier).copied())
        .unwrap_or(AssuranceLevel::Normal);
    let stop = r.resolved_at.unwrap_or(end).min(end);
    Some(LineFault {
        line: (r.customer.clone(), r.leased_line.clone()),
        level,
        reported_in_year: r.created_at >= year_from,
        interruption_seconds: (stop - r.created_at.max(year_from)).max(0) / 1_000_000,
        record,
    })
}

/// A customer's leased lines over this year to date (the customer page), judged when sla.toml has a standard.
#[derive(Debug, Clone, Serialize)]
pub struct CustomerLines {
    /// The local year counted.
    pub year: String,
    /// Why the lines are counted but not judged (no standard in sla.toml), if so.
    pub unjudged: Option<String>,
    /// Each line; a ticket the reader may not see is `None` (counted, not named).
    pub lines: Vec<LineVerdict<Option<RecordLink>>>,
}

/// The leased lines of group customer `key` this year, with their faults, interruption and verdict.
pub async fn customer_lines(
    p: &Platform,
    actor: &Principal,
    key: &str,
) -> ServiceResult<CustomerLines> {
    actor.require(Permission::OrgRead)?;
    let customer = p
        .store
        .group_customer(key)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("group customer {key}")))?;
    let pack = p.policy.current().pack.clone();
    let tz = p.time_zone();
    let now = p.now_us();
    let year = from_micros(now).with_timezone(&tz).format("%Y").to_string();
    let year_from = parse_month("period", &format!("{year}-01"), tz)?.from;
    let rows = p
        .store
        .leased_line_faults(year_from, now + 1, Some(&customer.key))
        .await?;
    let reads = actor.can(Permission::IncidentRead);
    let faults: Vec<LineFault<Option<RecordLink>>> = rows
        .iter()
        .filter_map(|r| {
            let visible = reads
                && match actor.scope {
                    Scope::Province => true,
                    Scope::Region(g) => r.region_id == Some(g),
                    Scope::Vendor(_) => false,
                };
            let link = visible.then(|| RecordLink {
                kind: "incident".into(),
                id: r.number.clone(),
                label: format!("{} {}", r.number, r.title),
                href: format!("/incidents/{}", r.id),
            });
            line_fault(&pack, r, year_from, now, link)
        })
        .collect();
    Ok(CustomerLines {
        year,
        unjudged: pack.sla.network_quality.is_none().then(|| {
            "SLA-03/SLA-04: sla.toml has no network-quality standard (the seed's table is missing); lines are counted, not judged"
                .to_string()
        }),
        lines: judge_lines(pack.sla.network_quality.as_ref(), &faults),
    })
}

/// The KPI-09 flags of every unit for the year of `period` up to its end (or now, if earlier).
pub(super) async fn flags(
    p: &Platform,
    pack: &PolicyPack,
    by: UnitKind,
    period: &Period,
    org_by_id: &HashMap<i64, &Org>,
    links: &mut BTreeMap<String, RecordLink>,
    unavailable: &mut BTreeMap<String, String>,
) -> ServiceResult<UnitFlags> {
    let Some(standard) = &pack.sla.network_quality else {
        for k in [REPEAT_FAULTS, INTERRUPTION] {
            unavailable.insert(
                k.into(),
                "SLA-03/SLA-04: the network-quality standard of leased lines is missing from the seed; add \
                 [network_quality] to sla.toml to score KPI-09"
                    .into(),
            );
        }
        return Ok(UnitFlags::new());
    };
    let year = period.key.get(..4).unwrap_or_default();
    let year_from = parse_month("period", &format!("{year}-01"), p.time_zone())?.from;
    let end = period.to.min(p.now_us());
    let rows = p
        .store
        .leased_line_faults(year_from, period.to, None)
        .await?;
    let mut vendors_of: HashMap<i64, Vec<i64>> = HashMap::new();
    if by == UnitKind::Vendor {
        for (inc, v) in p.store.vendor_dispatches_of_leased_line_faults().await? {
            vendors_of.entry(inc).or_default().push(v);
        }
    }
    let mut per_unit: HashMap<i64, Vec<LineFault<RecordRef>>> = HashMap::new();
    let mut labels: HashMap<String, String> = HashMap::new();
    for r in &rows {
        let record = incident_record(links, r.id, &r.number, &r.title, &r.customer);
        let Some(fault) = line_fault(pack, r, year_from, end, record) else {
            continue;
        };
        labels.insert(r.number.clone(), format!("{} {}", r.number, r.title));
        for u in fault_units(
            by,
            org_by_id,
            r.region_id,
            r.org_id,
            vendors_of.get(&r.id).map(Vec::as_slice),
        ) {
            per_unit.entry(u).or_default().push(fault.clone());
        }
    }
    let mut out = UnitFlags::new();
    for (unit, faults) in per_unit {
        for v in judge_lines(Some(standard), &faults) {
            let why = format!(
                "专线 {}（{}，{}级）：本年故障 {} 次、重复 {} 次（标准 ≤ {}），中断 {:.1} 小时（标准 ≤ {:.1} 小时）",
                v.line,
                v.customer,
                v.level,
                v.faults,
                v.repeats,
                v.max_repeat_faults.unwrap_or_default(),
                v.interruption_seconds as f64 / 3600.0,
                v.max_interruption_seconds.unwrap_or_default() as f64 / 3600.0,
            );
            let mut fired = Vec::new();
            if v.repeat_exceeded {
                fired.push(REPEAT_FAULTS);
            }
            if v.interruption_exceeded {
                fired.push(INTERRUPTION);
            }
            for flag in &fired {
                out.entry(unit)
                    .or_default()
                    .entry((*flag).to_string())
                    .or_default()
                    .extend(v.records.iter().cloned());
            }
            if !fired.is_empty() {
                // The drill-down shows each ticket of an exceeding line with the line's numbers.
                for r in &v.records {
                    if let (Some(l), Some(base)) = (
                        links.get_mut(&format!("incident:{}", r.id)),
                        labels.get(&r.id),
                    ) {
                        l.label = format!("{base} — {why}");
                    }
                }
            }
        }
    }
    Ok(out)
}
