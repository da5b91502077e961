//! SLA tiers and time limits against the real default pack: SLA-02 quotas (worked example 27), SLA-03 assurance
//! matrix, SLA-04 stage tables (empty cells refused), SLA-05 access-point scaling (worked example 26, every
//! rounding mode), the SLA-06 provisioning clock and SLA-07 delay requests, and sla.toml's load errors.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use tianshu_core::policy::{PolicyPack, RepeatCount};
use tianshu_core::sla::{
    check_assignment, judge_lines, overdue_count, quota_report, scale_for_access_points,
    AssuranceLevel, DelayReason, DelayRefusal, LineFault, PauseReason, ProvisioningClock,
    ProvisioningPause, ScalingMode, SlaError, StageLimit, Tier, WorkingDays,
};
use tianshu_workcal::{Holidays, WorkCalendar};

use super::policy_pack::{default_files, errors, line_of, load_with, pack};

fn wd(s: &str) -> StageLimit {
    StageLimit::WorkingDays(s.parse::<WorkingDays>().unwrap())
}

fn office(p: &PolicyPack) -> WorkCalendar {
    WorkCalendar::new(p.calendars.get(&p.sla.calendar).unwrap(), Holidays::none()).unwrap()
}

/// Local Asia/Shanghai time; 2024-03-04 is a Monday (§21 calendar: Mon–Fri, no holidays).
fn sh(d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    chrono_tz::Asia::Shanghai
        .with_ymd_and_hms(2024, 3, d, h, mi, 0)
        .unwrap()
        .with_timezone(&Utc)
}

fn with_rounding(mode: &str) -> PolicyPack {
    load_with("sla.toml", |t| {
        t.replace(
            "rounding = \"half_day_ceiling\"",
            &format!("rounding = \"{mode}\""),
        )
    })
    .unwrap()
}

#[test]
fn sla_05_worked_example_26_half_day_ceiling_fits_both_examples() {
    let p = pack();
    assert_eq!(p.sla.access_points.rounding, ScalingMode::HalfDayCeiling);
    // (a) construction resource survey, 8 access points, bronze base 4 WD: 8/5 × 4 = 6.4 → 6.5 WD.
    assert_eq!(
        p.sla.limit("construction_survey", Some(Tier::Bronze), 8),
        Ok(wd("6.5wd"))
    );
    // (b) provisioning, 7 access points, silver base 9 WD: 7/5 × 9 = 12.6 → 13 WD.
    assert_eq!(
        p.sla.limit("provisioning", Some(Tier::Silver), 7),
        Ok(wd("13wd"))
    );
    // Up to 5 points the base applies unchanged.
    assert_eq!(
        p.sla.limit("provisioning", Some(Tier::Silver), 5),
        Ok(wd("9wd"))
    );
    assert_eq!(
        p.sla.limit("provisioning", Some(Tier::Silver), 1),
        Ok(wd("9wd"))
    );
    assert_eq!(
        p.sla.limit("provisioning", Some(Tier::Silver), 0),
        Err(SlaError::NoAccessPoints)
    );
}

#[test]
fn sla_05_whole_day_and_literal_modes_are_settings() {
    // whole_day_ceiling: 6.4 → 7 (contradicts example a), 12.6 → 13.
    let p = with_rounding("whole_day_ceiling");
    assert_eq!(
        p.sla.limit("construction_survey", Some(Tier::Bronze), 8),
        Ok(wd("7wd"))
    );
    assert_eq!(
        p.sla.limit("provisioning", Some(Tier::Silver), 7),
        Ok(wd("13wd"))
    );
    // The literal text ceil(N/5) × base: 8 and 18 WD, which SEED-RULES rejects as contradicting both examples.
    let p = with_rounding("literal_multiple_of_group");
    assert_eq!(
        p.sla.limit("construction_survey", Some(Tier::Bronze), 8),
        Ok(wd("8wd"))
    );
    assert_eq!(
        p.sla.limit("provisioning", Some(Tier::Silver), 7),
        Ok(wd("18wd"))
    );
    assert_eq!(
        p.sla.limit("provisioning", Some(Tier::Silver), 11),
        Ok(wd("27wd"))
    );
    let errs = errors(load_with("sla.toml", |t| {
        t.replace("rounding = \"half_day_ceiling\"", "rounding = \"nearest\"")
    }));
    assert!(
        errs.iter()
            .any(|e| e.contains("sla.toml:") && e.contains("access_points.rounding")),
        "{errs:?}"
    );
}

#[test]
fn sla_05_scaling_arithmetic_is_exact() {
    let b = |s: &str| s.parse::<WorkingDays>().unwrap();
    let half = ScalingMode::HalfDayCeiling;
    // 2.5 WD × 6/5 = 3.0 exactly: no rounding up past an exact half day.
    assert_eq!(
        scale_for_access_points(b("2.5wd"), 6, 5, half),
        Some(b("3wd"))
    );
    // 2.5 × 7/5 = 3.5 exactly.
    assert_eq!(
        scale_for_access_points(b("2.5wd"), 7, 5, half),
        Some(b("3.5wd"))
    );
    // 4 × 6/5 = 4.8 → 5.
    assert_eq!(
        scale_for_access_points(b("4wd"), 6, 5, half),
        Some(b("5wd"))
    );
    assert_eq!(b("0.25wd").to_string(), "0.25wd");
    assert_eq!(b("6.5wd").to_string(), "6.5wd");
    assert!("6.555wd".parse::<WorkingDays>().is_err());
    assert!("wd".parse::<WorkingDays>().is_err());
}

#[test]
fn sla_04_empty_cells_are_refused_not_invented() {
    let p = pack();
    let err = p
        .sla
        .limit("provisioning", Some(Tier::Gold), 3)
        .unwrap_err();
    assert_eq!(
        err,
        SlaError::TableIncomplete {
            stage: "provisioning".into(),
            tier: Tier::Gold
        }
    );
    assert!(err.to_string().contains("SLA-04"));
    assert!(err.to_string().contains("SLA table incomplete"));
    assert!(p
        .sla
        .limit("acceptance_handover", Some(Tier::Diamond), 1)
        .is_err());
    assert_eq!(
        p.sla.limit("no_such_stage", None, 1),
        Err(SlaError::UnknownStage("no_such_stage".into()))
    );
    // Existing-network survey with no tier requested → bronze 2.5 WD (SLA-04, KPI-02).
    assert_eq!(
        p.sla.limit("existing_network_survey", None, 3),
        Ok(wd("2.5wd"))
    );
    // Service recovery defaults to the KPI-07 fault-handling limits (wall clock, not scaled).
    assert_eq!(
        p.sla
            .limit("service_recovery", Some(Tier::KeyAssurance), 9)
            .unwrap()
            .seconds(p.sla.day_seconds),
        5400
    );
    // One working day is the office calendar's 9 hours (C-2).
    assert_eq!(p.sla.day_seconds, 9 * 3600);
}

#[test]
fn sla_02_worked_example_27_quota_of_1570_customers() {
    let p = pack();
    let counts = BTreeMap::from([
        (Tier::Diamond, 157),
        (Tier::Silver, 314),
        (Tier::Bronze, 1099),
    ]);
    let r = quota_report(&counts, &p.sla.quotas);
    assert_eq!(r.total, 1570);
    let line = |t: Tier| r.lines.iter().find(|l| l.tier == t).unwrap().clone();
    assert_eq!(line(Tier::Diamond).max, Some(157));
    assert_eq!(line(Tier::Silver).max, Some(314));
    assert_eq!(line(Tier::Gold).max, None, "gold has no quota (SLA-02 PD)");
    assert_eq!(r.remainder, 1099);
    assert!(r.exceeded.is_empty());

    // One more diamond among the same 1570 → over the quota, refused by SLA-02.
    let over = BTreeMap::from([
        (Tier::Diamond, 158),
        (Tier::Silver, 314),
        (Tier::Bronze, 1098),
    ]);
    let r = quota_report(&over, &p.sla.quotas);
    assert_eq!(r.exceeded.len(), 1);
    assert_eq!(r.exceeded[0].tier, Tier::Diamond);
    assert_eq!(r.exceeded[0].rule, "SLA-02");

    // Assignments: moving a bronze customer to diamond when 157 of 1570 are diamond is refused …
    let e =
        check_assignment(&counts, Some(Tier::Bronze), Tier::Diamond, &p.sla.quotas).unwrap_err();
    assert_eq!((e.count, e.max, e.total), (158, 157, 1570));
    assert!(e.to_string().starts_with("SLA-02: tier quota exceeded"));
    // … a new customer as diamond too (1571 → max still 157) …
    assert!(check_assignment(&counts, None, Tier::Diamond, &p.sla.quotas).is_err());
    // … but gold, bronze and key-assurance are not limited, and staying in the same tier is fine.
    for t in [Tier::Gold, Tier::Bronze, Tier::KeyAssurance] {
        assert!(check_assignment(&counts, Some(Tier::Bronze), t, &p.sla.quotas).is_ok());
    }
    assert!(check_assignment(&counts, Some(Tier::Diamond), Tier::Diamond, &p.sla.quotas).is_ok());
    // With 1580 customers the diamond quota is 158.
    let mut more = counts.clone();
    more.insert(Tier::Bronze, 1109);
    assert!(check_assignment(&more, Some(Tier::Bronze), Tier::Diamond, &p.sla.quotas).is_ok());
}

#[test]
fn sla_03_assurance_levels_default_by_tier_and_override_per_service() {
    let p = pack();
    let lvl = |t| p.sla.assurance_level(t, "data_leased_line").unwrap();
    assert_eq!(lvl(Tier::KeyAssurance), AssuranceLevel::AAA);
    assert_eq!(lvl(Tier::Diamond), AssuranceLevel::AAA);
    assert_eq!(lvl(Tier::Gold), AssuranceLevel::AA);
    assert_eq!(lvl(Tier::Silver), AssuranceLevel::A);
    assert_eq!(lvl(Tier::Bronze), AssuranceLevel::Normal);
    assert_eq!(
        p.sla.assurance_level(Tier::Gold, "telepathy"),
        Err(SlaError::UnknownServiceType("telepathy".into()))
    );
    // A customer's services may have different levels (SLA-03): an override cell for one service type.
    let p = load_with("sla.toml", |t| {
        format!("{t}\n[[assurance.override]]\nservice_type = \"messaging_platform\"\ntier = \"gold\"\nlevel = \"A\"\n")
    })
    .unwrap();
    assert_eq!(
        p.sla.assurance_level(Tier::Gold, "messaging_platform"),
        Ok(AssuranceLevel::A)
    );
    assert_eq!(
        p.sla.assurance_level(Tier::Gold, "data_leased_line"),
        Ok(AssuranceLevel::AA)
    );
}

#[test]
fn sla_06_provisioning_clock_pauses_for_customer_and_construction() {
    let p = pack();
    let cal = office(&p);
    let mut clock = ProvisioningClock {
        started_at: sh(4, 9, 0),
        limit: p.sla.limit("provisioning", Some(Tier::Silver), 3).unwrap(),
        day_seconds: p.sla.day_seconds,
        pauses: Vec::new(),
    };
    // 9 office days from Monday 4 March 09:00 → Thursday 14 March 18:00.
    assert_eq!(clock.deadline(&cal, sh(4, 9, 0)).unwrap(), sh(14, 18, 0));
    // The customer holds it up one whole working day (Tuesday 5th): the deadline moves to Friday 15th.
    clock.pauses.push(ProvisioningPause {
        reason: PauseReason::CustomerCaused,
        from: sh(5, 9, 0),
        to: Some(sh(6, 9, 0)),
    });
    assert_eq!(clock.deadline(&cal, sh(6, 9, 0)).unwrap(), sh(15, 18, 0));
    // Resources missing: construction from Monday 11th 09:00, still open on Tuesday 12th at 13:30 (1.5 days).
    clock.pauses.push(ProvisioningPause {
        reason: PauseReason::ResourceConstruction,
        from: sh(11, 9, 0),
        to: None,
    });
    assert!(clock.is_paused());
    // While open, the pause counts up to now: 9 h + 4.5 h more → Monday 18th 13:30 + …
    assert_eq!(
        clock.deadline(&cal, sh(12, 13, 30)).unwrap(),
        sh(19, 13, 30)
    );
}

#[test]
fn sla_07_delay_requests_only_customer_caused_and_only_before_the_deadline() {
    let p = pack();
    let cal = office(&p);
    let clock = ProvisioningClock {
        started_at: sh(4, 9, 0),
        limit: p.sla.limit("provisioning", Some(Tier::Silver), 2).unwrap(),
        day_seconds: p.sla.day_seconds,
        pauses: Vec::new(),
    };
    assert_eq!(
        clock.decide_delay(&cal, sh(14, 17, 59), DelayReason::CustomerCaused),
        Ok(Ok(()))
    );
    let late = clock
        .decide_delay(&cal, sh(14, 18, 0), DelayReason::CustomerCaused)
        .unwrap()
        .unwrap_err();
    assert!(matches!(late, DelayRefusal::AfterDeadline { .. }));
    assert!(late.counts_as_overdue());
    assert!(late.to_string().starts_with("SLA-07"));
    let ours = clock
        .decide_delay(&cal, sh(5, 10, 0), DelayReason::NotCustomerCaused)
        .unwrap()
        .unwrap_err();
    assert!(matches!(ours, DelayRefusal::NotCustomerCaused { .. }));
    assert!(ours.to_string().starts_with("SLA-07"));
    // Each late request is one overdue, cumulatively; a late completion alone is one.
    assert_eq!(overdue_count(0, false), 0);
    assert_eq!(overdue_count(0, true), 1);
    assert_eq!(overdue_count(2, true), 2);
    assert_eq!(overdue_count(3, false), 3);
}

#[test]
fn sla_toml_errors_name_file_line_and_field() {
    let text = default_files()
        .into_iter()
        .find(|(n, _)| n == "sla.toml")
        .unwrap()
        .1;
    // A wall-clock cell in a stage that SLA-05 scales.
    let errs = errors(load_with("sla.toml", |t| {
        t.replace(
            "limits = { silver = \"9wd\" }",
            "limits = { silver = \"9h\" }",
        )
    }));
    let line = line_of(&text, "key = \"provisioning\"", "limits =");
    assert!(
        errs.iter()
            .any(|e| e.starts_with(&format!("sla.toml:{line}:stage[2].limits.silver"))),
        "{errs:?}"
    );
    // Quotas over 100 %, an unknown tier, a calendar that does not exist.
    let errs = errors(load_with("sla.toml", |t| {
        t.replace("max_percent = 20", "max_percent = 95")
    }));
    assert!(
        errs.iter().any(|e| e.contains("quotas add up to 105 %")),
        "{errs:?}"
    );
    let errs = errors(load_with("sla.toml", |t| {
        t.replace("tier = \"silver\"", "tier = \"platinum\"")
    }));
    assert!(
        errs.iter()
            .any(|e| e.contains("quota[1].tier") || e.contains("platinum")),
        "{errs:?}"
    );
    let errs = errors(load_with("sla.toml", |t| {
        t.replace("calendar = \"office\"", "calendar = \"moon\"")
    }));
    assert!(
        errs.iter()
            .any(|e| e.starts_with("sla.toml:6:calendar: 'moon' is not a calendar")),
        "{errs:?}"
    );
    // SLA-03 needs a level for every tier.
    let errs = errors(load_with("sla.toml", |t| {
        t.replace("bronze = \"normal\" }", "}")
            .replace("silver = \"A\", }", "silver = \"A\" }")
    }));
    assert!(
        errs.iter()
            .any(|e| e.contains("assurance.default") && e.contains("bronze")),
        "{errs:?}"
    );
}

/// sla.toml `[breach]` (issue 8, order deadline clocks): the template must exist in notifications.toml and the
/// roles in roles.toml, at least one role; each error names file, line and field.
#[test]
fn sla_breach_notice_is_checked_against_templates_and_roles() {
    let p = pack();
    assert_eq!(p.sla.breach.template, "sla_order_deadline_breached");
    assert_eq!(p.sla.breach.roles, ["room_manager", "account_manager"]);
    let t = p
        .notifications
        .template("sla_order_deadline_breached")
        .unwrap();
    assert_eq!(t.rule, "SLA-06");
    let text = default_files()
        .into_iter()
        .find(|(n, _)| n == "sla.toml")
        .unwrap()
        .1;
    let errs = errors(load_with("sla.toml", |t| {
        t.replace(
            "template = \"sla_order_deadline_breached\"",
            "template = \"sla_nope\"",
        )
    }));
    let line = line_of(&text, "[breach]", "template =");
    assert!(
        errs.iter().any(
            |e| e.starts_with(&format!("sla.toml:{line}:breach.template"))
                && e.contains("sla_nope")
        ),
        "{errs:?}"
    );
    let errs = errors(load_with("sla.toml", |t| {
        t.replace(
            "roles = [\"room_manager\", \"account_manager\"]",
            "roles = [\"room_manager\", \"night_owl\"]",
        )
    }));
    assert!(
        errs.iter()
            .any(|e| e.contains("breach.roles[1]") && e.contains("night_owl")),
        "{errs:?}"
    );
    let errs = errors(load_with("sla.toml", |t| {
        t.replace(
            "roles = [\"room_manager\", \"account_manager\"]",
            "roles = []",
        )
    }));
    assert!(errs.iter().any(|e| e.contains("breach.roles")), "{errs:?}");
}

#[test]
fn sla_09_acceptance_phases_in_order_with_rectification_after_a_failed_initial_acceptance() {
    use tianshu_core::sla::{
        acceptance_state, check_acceptance, first_initial_acceptance, AcceptanceOutcome as O,
        AcceptancePhase as P, AcceptanceRefusal, AcceptanceState as S, AcceptanceStep,
    };
    let step = |phase, outcome, h| AcceptanceStep {
        phase,
        outcome,
        held_at: sh(4, h, 0),
    };
    let mut h: Vec<AcceptanceStep> = Vec::new();
    assert_eq!(acceptance_state(&h), S::NotStarted);
    // Nothing but the accompanying inspection comes first.
    for p in [P::InitialAcceptance, P::TrialRun, P::FinalAcceptance] {
        let e = check_acceptance(&h, p, sh(4, 9, 0)).unwrap_err();
        assert_eq!(e.field(), "phase");
        assert!(e.to_string().starts_with("SLA-09"), "{e}");
    }
    h.push(step(P::AccompanyingInspection, O::Passed, 9));
    assert_eq!(acceptance_state(&h), S::Inspection);
    // In time order only.
    let e = check_acceptance(&h, P::InitialAcceptance, sh(4, 8, 0)).unwrap_err();
    assert!(matches!(e, AcceptanceRefusal::BeforePrevious { .. }));
    assert_eq!(e.field(), "held_at");
    // A failed initial acceptance: rectification, then held again; the first one stays the one KPI-05 reads.
    h.push(step(P::InitialAcceptance, O::Failed, 10));
    assert_eq!(acceptance_state(&h), S::Rectification);
    assert!(check_acceptance(&h, P::TrialRun, sh(4, 11, 0)).is_err());
    assert!(check_acceptance(&h, P::InitialAcceptance, sh(4, 11, 0)).is_ok());
    h.push(step(P::InitialAcceptance, O::Passed, 11));
    assert_eq!(acceptance_state(&h), S::HandedOver);
    assert_eq!(
        first_initial_acceptance(&h).map(|s| s.outcome),
        Some(O::Failed)
    );
    // Handed over: no more inspection or initial acceptance; no final before a passed trial run.
    for p in [P::AccompanyingInspection, P::InitialAcceptance] {
        assert!(matches!(
            check_acceptance(&h, p, sh(4, 12, 0)),
            Err(AcceptanceRefusal::PhaseOver { .. })
        ));
    }
    assert_eq!(
        check_acceptance(&h, P::FinalAcceptance, sh(4, 12, 0)),
        Err(AcceptanceRefusal::OutOfOrder {
            phase: P::FinalAcceptance,
            needs: P::TrialRun
        })
    );
    h.push(step(P::TrialRun, O::Failed, 12));
    assert_eq!(acceptance_state(&h), S::TrialRun);
    assert!(check_acceptance(&h, P::FinalAcceptance, sh(4, 13, 0)).is_err());
    h.push(step(P::TrialRun, O::Passed, 13));
    assert!(check_acceptance(&h, P::FinalAcceptance, sh(4, 14, 0)).is_ok());
    h.push(step(P::FinalAcceptance, O::Passed, 14));
    assert_eq!(acceptance_state(&h), S::Accepted);
    for p in P::ALL {
        assert!(check_acceptance(&h, p, sh(4, 15, 0)).is_err(), "{p}");
    }
}

#[test]
fn kpi_06_configuration_wait_from_notice_to_start() {
    use tianshu_core::sla::configuration_wait;
    // Worked example 29: started 50 min after the notice (the 30-min limit is kpi.toml's, not this function's).
    assert_eq!(configuration_wait(sh(4, 9, 0), sh(4, 9, 50)), Ok(3000));
    assert_eq!(configuration_wait(sh(4, 9, 0), sh(4, 9, 0)), Ok(0));
    let e = configuration_wait(sh(4, 9, 10), sh(4, 9, 5)).unwrap_err();
    assert!(e.to_string().starts_with("KPI-06"), "{e}");
}

/// A network-quality standard for tests (the seed has none; these values are placeholders).
const NETWORK_QUALITY: &str = r#"
[network_quality]
rule = "SLA-04"
[network_quality.levels.AAA]
max_repeat_faults = 1
max_interruption = "4h"
[network_quality.levels.AA]
max_repeat_faults = 2
max_interruption = "8h"
[network_quality.levels.A]
max_repeat_faults = 3
max_interruption = "12h"
[network_quality.levels.normal]
max_repeat_faults = 4
max_interruption = "24h"
"#;

fn with_network_quality(
    edit: impl Fn(String) -> String,
) -> Result<PolicyPack, tianshu_core::policy::PolicyErrors> {
    load_with("sla.toml", |t| {
        format!("{t}{}", edit(NETWORK_QUALITY.to_string()))
    })
}

fn line_fault(line: &str, level: AssuranceLevel, hours: i64, n: u32) -> LineFault<u32> {
    LineFault {
        line: ("cust".into(), line.into()),
        level,
        reported_in_year: true,
        interruption_seconds: hours * 3600,
        record: n,
    }
}

/// KPI-09 / SLA-04: the default pack has no network-quality standard (the seed's table is missing), so none is
/// judged; a standard, when a centre adds one, must cover all four SLA-03 levels.
#[test]
fn kpi_09_network_quality_standard_is_absent_by_default_and_complete_when_given() {
    assert_eq!(pack().sla.network_quality, None);
    let p = with_network_quality(|s| s).unwrap();
    let n = p.sla.network_quality.unwrap();
    assert_eq!(n.levels.len(), 4);
    assert_eq!(n.repeat_count, RepeatCount::AfterFirst);
    // A level left out is refused with file:line:field, not silently unjudged.
    let text = default_files()
        .into_iter()
        .find(|(n, _)| n == "sla.toml")
        .unwrap()
        .1;
    let errs = errors(with_network_quality(|s| {
        s.replace(
            "[network_quality.levels.normal]\nmax_repeat_faults = 4\nmax_interruption = \"24h\"\n",
            "",
        )
    }));
    // Named at the first `[network_quality.levels.…]` table: two lines below `[network_quality]`.
    let line = text.lines().count() + 4;
    assert!(
        errs.iter().any(
            |e| e.starts_with(&format!("sla.toml:{line}:network_quality.levels:"))
                && e.contains("normal")
        ),
        "{errs:?}"
    );
    // A working-time interruption, an unknown level and a zero limit are refused.
    let errs = errors(with_network_quality(|s| s.replace("\"4h\"", "\"2wd\"")));
    assert!(
        errs.iter()
            .any(|e| e.contains("max_interruption") || e.contains("wall-clock")),
        "{errs:?}"
    );
    let errs = errors(with_network_quality(|s| {
        s.replace("levels.AAA]", "levels.AAAA]")
    }));
    assert!(errs.iter().any(|e| e.contains("AAAA")), "{errs:?}");
    let errs = errors(with_network_quality(|s| s.replace("\"4h\"", "\"0m\"")));
    assert!(
        errs.iter()
            .any(|e| e.contains("network_quality.levels.AAA.max_interruption")),
        "{errs:?}"
    );
}

/// KPI-09: a line fails its standard with more repeats or more interruption than its level allows; "exceeds" is
/// strict, the first fault of the year is not a repeat by default, and a line is judged by its highest level.
#[test]
fn kpi_09_lines_are_judged_against_the_standard_of_their_level() {
    let p = with_network_quality(|s| s).unwrap();
    let std = p.sla.network_quality.clone().unwrap();
    use AssuranceLevel::*;
    let faults = vec![
        // L1 (AA: ≤ 2 repeats, ≤ 8 h): 3 faults = 2 repeats, 8 h in all → meets both (at the standard).
        line_fault("L1", AA, 3, 1),
        line_fault("L1", AA, 3, 2),
        line_fault("L1", AA, 2, 3),
        // L2 (AAA: ≤ 1 repeat, ≤ 4 h): 3 faults = 2 repeats > 1; 1 h → interruption fine.
        line_fault("L2", AAA, 0, 4),
        line_fault("L2", AAA, 1, 5),
        line_fault("L2", AAA, 0, 6),
        // L3: one fault of 5 h, once recorded at A and once at AAA → judged at AAA (≤ 4 h) → exceeded.
        line_fault("L3", A, 5, 7),
    ];
    let mut faults = faults;
    faults.push(LineFault {
        // Carried over from last year: adds interruption, is not this year's occurrence.
        reported_in_year: false,
        ..line_fault("L3", AAA, 0, 8)
    });
    let v = judge_lines(Some(&std), &faults);
    let get = |l: &str| v.iter().find(|x| x.line == l).unwrap();
    let l1 = get("L1");
    assert_eq!(
        (l1.faults, l1.repeats, l1.interruption_seconds),
        (3, 2, 8 * 3600)
    );
    assert!(!l1.repeat_exceeded && !l1.interruption_exceeded, "{l1:?}");
    let l2 = get("L2");
    assert_eq!(
        (l2.repeats, l2.repeat_exceeded, l2.interruption_exceeded),
        (2, true, false)
    );
    assert_eq!(l2.records, vec![4, 5, 6]);
    let l3 = get("L3");
    assert_eq!((l3.level, l3.faults, l3.repeats), (AAA, 1, 0));
    assert!(l3.interruption_exceeded && !l3.repeat_exceeded, "{l3:?}");
    // Same line ids of different customers are different lines.
    let mut other = line_fault("L2", AAA, 0, 9);
    other.line.0 = "other".into();
    let v = judge_lines(Some(&std), &[other]);
    assert_eq!(v.len(), 1);
    assert!(!v[0].repeat_exceeded);
    // `every_fault`: L1's three faults are three repeats (> 2).
    let p = with_network_quality(|s| {
        s.replace(
            "rule = \"SLA-04\"",
            "rule = \"SLA-04\"\nrepeat_count = \"every_fault\"",
        )
    })
    .unwrap();
    let v = judge_lines(p.sla.network_quality.as_ref(), &faults);
    let l1 = v.iter().find(|x| x.line == "L1").unwrap();
    assert_eq!((l1.repeats, l1.repeat_exceeded), (3, true));
    // No standard (the default pack): counted, never judged.
    let v = judge_lines(None, &faults);
    let l2 = v.iter().find(|x| x.line == "L2").unwrap();
    assert_eq!((l2.faults, l2.repeats, l2.max_repeat_faults), (3, 2, None));
    assert!(v
        .iter()
        .all(|x| !x.repeat_exceeded && !x.interruption_exceeded));
}
