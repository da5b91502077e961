//! The KPI engine against the real kpi.toml: worked examples 28 (KPI-04/08) and 29 (KPI-06/02/03), KPI-05,
//! KPI-07, KPI-09, KPI-13, KPI-14 conversion, KPI-15 ranking, the drill-down to records, the load-time
//! validation of kpi.toml (unknown measure → file:line:field) and property tests of the formulas.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use tianshu_core::kpi::{
    check_assessment, deduction_units, linear_steps_score, per_unit_score, rank, score_set,
    AssessmentError, KpiError, OverrunRecord, Percent, PercentRounding, Points, RecordRef,
    Scorecard, UnitMeasures,
};
use tianshu_core::policy::{PolicyPack, UnitRounding};
use tianshu_core::sla::Tier;

use super::policy_pack::{default_files, errors, line_of, load_with, pack};

const SET: &str = "group_customer_support";

fn r(kind: &str, id: usize) -> RecordRef {
    RecordRef {
        kind: kind.into(),
        id: format!("{kind}-{id}"),
    }
}

fn records(kind: &str, range: std::ops::Range<usize>) -> BTreeSet<RecordRef> {
    range.map(|i| r(kind, i)).collect()
}

/// `on_time` of `total` records counted for a ratio.
fn rate_input(num: &str, den: &str, on_time: usize, total: usize) -> UnitMeasures {
    UnitMeasures {
        unit: "branch-a".into(),
        counts: BTreeMap::from([
            (num.to_string(), records("order", 0..on_time)),
            (den.to_string(), records("order", 0..total)),
        ]),
        ..UnitMeasures::default()
    }
}

fn card(p: &PolicyPack, set: &str, input: &UnitMeasures) -> Scorecard {
    score_set(&p.kpi, p.kpi.set(set).unwrap(), input, p.sla.day_seconds).unwrap()
}

fn score(c: &Scorecard, key: &str) -> Option<Points> {
    c.indicators.iter().find(|i| i.key == key).unwrap().score
}

fn pts(s: &str) -> Option<Points> {
    Some(Points::from_decimal(s.parse().unwrap()).unwrap())
}

#[test]
fn kpi_04_kpi_08_worked_example_28_on_time_rate_scores() {
    let p = pack();
    for (ind, num, den) in [
        (
            "provisioning_on_time",
            "provisioning_orders_on_time",
            "provisioning_orders",
        ),
        ("complaint_timeliness", "complaints_on_time", "complaints"),
    ] {
        let at = |on_time, total| score(&card(&p, SET, &rate_input(num, den, on_time, total)), ind);
        assert_eq!(at(995, 1000), pts("9"), "{ind} 99.5 % → 6 + 15 × 0.2");
        assert_eq!(at(990, 1000), pts("8"), "{ind} 99.0 % → 6 + 10 × 0.2");
        assert_eq!(at(980, 1000), pts("6"), "{ind} 98.0 %");
        assert_eq!(at(979, 1000), pts("0"), "{ind} 97.9 %");
        assert_eq!(at(1000, 1000), pts("10"), "{ind} 100 %");
        assert_eq!(
            at(999, 1000),
            pts("9.8"),
            "{ind} 99.9 %: capped below the challenge"
        );
    }
}

#[test]
fn kpi_11_rate_to_two_decimals_then_completed_steps_only() {
    let p = pack();
    let at = |on_time, total| {
        score(
            &card(
                &p,
                SET,
                &rate_input(
                    "provisioning_orders_on_time",
                    "provisioning_orders",
                    on_time,
                    total,
                ),
            ),
            "provisioning_on_time",
        )
    };
    // 98.19 %: one completed 0.1 step → 6.2.
    assert_eq!(at(9819, 10000), pts("6.2"));
    // 98.195 % rounds to 98.20 % first → two steps → 6.4.
    assert_eq!(
        Percent::ratio(19639, 20000),
        Some(Percent::from_hundredths(9820))
    );
    assert_eq!(at(19639, 20000), pts("6.4"));
    // 99.996 % is 100.00 % to two decimals → full marks.
    assert_eq!(at(24999, 25000), pts("10"));
}

#[test]
fn kpi_05_acceptance_pass_rate() {
    let p = pack();
    let at = |passed, total| {
        score(
            &card(
                &p,
                SET,
                &rate_input("acceptances_passed", "acceptances", passed, total),
            ),
            "acceptance_pass",
        )
    };
    assert_eq!(at(900, 1000), pts("10"));
    assert_eq!(at(949, 1000), pts("14.9"));
    assert_eq!(at(950, 1000), pts("15"));
    assert_eq!(at(1000, 1000), pts("15"));
    assert_eq!(at(899, 1000), pts("0"));
}

fn overrun_input(measure: &str, items: Vec<(Tier, i64)>) -> UnitMeasures {
    UnitMeasures {
        unit: "branch-a".into(),
        overruns: BTreeMap::from([(
            measure.to_string(),
            items
                .into_iter()
                .enumerate()
                .map(|(i, (tier, s))| OverrunRecord {
                    record: r("survey", i),
                    tier,
                    overrun_seconds: s,
                })
                .collect(),
        )]),
        ..UnitMeasures::default()
    }
}

#[test]
fn kpi_06_kpi_02_kpi_03_worked_example_29_per_unit_deductions() {
    let p = pack();
    // KPI-06: diamond data configuration started 50 min after notice; limit 30 min → overrun 20 min = 2 units
    // of 10 min → 5 − 0.4 = 4.6.
    let limit = 30 * 60;
    let c = card(
        &p,
        SET,
        &overrun_input(
            "data_configuration_overrun",
            vec![(Tier::Diamond, 50 * 60 - limit)],
        ),
    );
    assert_eq!(score(&c, "data_configuration"), pts("4.6"));
    // KPI-02: existing-network survey with no tier → bronze 2.5 WD (SLA-04), 2 h late (working time) → 2 units
    // of 60 min → 9.6.
    let lim = p.sla.limit("existing_network_survey", None, 1).unwrap();
    let elapsed = lim.seconds(p.sla.day_seconds) + 2 * 3600;
    let c = card(
        &p,
        SET,
        &overrun_input(
            "existing_network_survey_overrun",
            vec![(Tier::Bronze, elapsed - lim.seconds(p.sla.day_seconds))],
        ),
    );
    assert_eq!(score(&c, "existing_network_survey"), pts("9.6"));
    // KPI-03: construction survey, key-assurance, 1 WD late → 4 units of 0.25 WD → 10 − 0.8 = 9.2. (The KA
    // construction-survey limit itself is an empty SLA-04 cell; the overrun is given.)
    let c = card(
        &p,
        SET,
        &overrun_input(
            "construction_survey_overrun",
            vec![(Tier::KeyAssurance, p.sla.day_seconds)],
        ),
    );
    assert_eq!(score(&c, "construction_survey"), pts("9.2"));
}

#[test]
fn kpi_10_started_units_count_and_the_floor_holds() {
    let p = pack();
    // 61 min over for bronze KPI-02 → 2 started units → 9.6; 60 min → 1 unit → 9.8; on time → 10.
    let one = |s| {
        score(
            &card(
                &p,
                SET,
                &overrun_input("existing_network_survey_overrun", vec![(Tier::Bronze, s)]),
            ),
            "existing_network_survey",
        )
    };
    assert_eq!(one(61 * 60), pts("9.6"));
    assert_eq!(one(60 * 60), pts("9.8"));
    assert_eq!(one(0), pts("10"));
    assert_eq!(one(-300), pts("10"));
    // 60 records each 1 unit late: 12 points of deduction on 10 → 0, never negative.
    let many = overrun_input(
        "existing_network_survey_overrun",
        vec![(Tier::Bronze, 3600); 60],
    );
    assert_eq!(
        score(&card(&p, SET, &many), "existing_network_survey"),
        pts("0")
    );
    assert_eq!(deduction_units(61, 60, UnitRounding::Completed), 1);
    assert_eq!(deduction_units(61, 60, UnitRounding::Started), 2);
}

#[test]
fn kpi_07_fault_handling_two_points_per_started_unit() {
    let p = pack();
    // Diamond limit 2 h, fault handled in 2 h 30 → 30 min over = 2 started units of 25 min → 10 − 4 = 6.
    let c = card(
        &p,
        SET,
        &overrun_input("fault_handling_overrun", vec![(Tier::Diamond, 30 * 60)]),
    );
    assert_eq!(score(&c, "fault_handling"), pts("6"));
    // Key-assurance 1 min over → one unit → 8; plus a bronze 3 h over → 3 units → 8 − 6 = 2.
    let c = card(
        &p,
        SET,
        &overrun_input(
            "fault_handling_overrun",
            vec![(Tier::KeyAssurance, 60), (Tier::Bronze, 3 * 3600)],
        ),
    );
    assert_eq!(score(&c, "fault_handling"), pts("2"));
    let ind = c
        .indicators
        .iter()
        .find(|i| i.key == "fault_handling")
        .unwrap();
    // Drill-down: each record with the points it cost.
    assert_eq!(ind.losses.len(), 2);
    assert_eq!(ind.losses[0].record, r("survey", 0));
    assert_eq!(ind.losses[0].points, pts("2"));
    assert_eq!(ind.losses[1].points, pts("6"));
    assert!(ind.losses[1].reason.starts_with("KPI-07"));
}

#[test]
fn kpi_09_network_quality_any_flag_zeroes_it_annually() {
    let p = pack();
    let ind = p
        .kpi
        .set(SET)
        .unwrap()
        .indicators
        .iter()
        .find(|i| i.key == "network_quality")
        .unwrap();
    assert!(ind.annual);
    let flagged = UnitMeasures {
        unit: "branch-a".into(),
        flags: BTreeMap::from([(
            "annual_interruption_exceeded".to_string(),
            records("leased_line", 0..1),
        )]),
        ..UnitMeasures::default()
    };
    let c = card(&p, SET, &flagged);
    assert_eq!(score(&c, "network_quality"), pts("0"));
    let i = c
        .indicators
        .iter()
        .find(|i| i.key == "network_quality")
        .unwrap();
    assert_eq!(i.losses[0].record, r("leased_line", 0));
    assert_eq!(
        score(&card(&p, SET, &UnitMeasures::default()), "network_quality"),
        pts("10")
    );
    // The "及" reading as a setting: with `all`, one flag is not enough.
    let all = load_with("kpi.toml", |t| {
        t.replace("combine = \"any\"", "combine = \"all\"")
    })
    .unwrap();
    assert_eq!(
        score(&card(&all, SET, &flagged), "network_quality"),
        pts("10")
    );
}

#[test]
fn kpi_01_structure_80_scored_of_100_with_the_missing_blocks_reported() {
    let p = pack();
    let c = card(&p, SET, &UnitMeasures::default());
    assert_eq!(c.max, Points::whole(80));
    assert_eq!(
        c.total,
        Points::whole(80),
        "no records: nothing late, rates empty → full marks"
    );
    assert_eq!(c.percent, Some(Points::whole(100)));
    let missing: i64 = c.not_scored.iter().map(|(_, p, _)| p.hundredths()).sum();
    assert_eq!(missing, 2000);
    assert!(c
        .not_scored
        .iter()
        .any(|(k, _, why)| k == "information_notification" && why.starts_with("KPI-01")));
    // Drill-down of a rate: the late orders are listed.
    let c = card(
        &p,
        SET,
        &rate_input(
            "provisioning_orders_on_time",
            "provisioning_orders",
            97,
            100,
        ),
    );
    let i = c
        .indicators
        .iter()
        .find(|i| i.key == "provisioning_on_time")
        .unwrap();
    assert_eq!(i.score, pts("0"));
    assert_eq!(i.losses.len(), 3);
    assert_eq!(i.value, "97 % (97/100)");
    assert_eq!(c.total, Points::whole(70));
}

#[test]
fn kpi_13_assessed_parts_within_their_points() {
    let p = pack();
    let set = p.kpi.set("agent_portal_branch").unwrap();
    assert_eq!(set.nominal_total, Points::whole(8));
    let mut input = UnitMeasures {
        unit: "branch-b".into(),
        assessed: BTreeMap::from([
            (
                "release_delivery_peak_assurance".to_string(),
                Points::whole(1),
            ),
            ("post_release_verification".to_string(), pts("0.5").unwrap()),
            ("branch_assurance_team".to_string(), pts("3.5").unwrap()),
            ("central_duty_team".to_string(), Points::whole(2)),
        ]),
        ..UnitMeasures::default()
    };
    let c = score_set(&p.kpi, set, &input, p.sla.day_seconds).unwrap();
    assert_eq!(c.total, Points::whole(7));
    assert_eq!(c.max, Points::whole(8));
    input
        .assessed
        .insert("central_duty_team".into(), Points::whole(3));
    let e = score_set(&p.kpi, set, &input, p.sla.day_seconds).unwrap_err();
    assert!(matches!(e, KpiError::AssessedOutOfRange { .. }));
    assert!(e.to_string().starts_with("KPI-13"));
}

#[test]
fn kpi_13_an_assessment_is_checked_against_its_indicator_before_it_is_stored() {
    let p = pack();
    let set = p.kpi.set("agent_portal_branch").unwrap();
    let ind = check_assessment(
        set,
        "branch_assurance_team",
        pts("3.5").unwrap(),
        "季度走查",
    )
    .unwrap();
    assert_eq!(ind.max, Points::whole(4));
    // The bounds are inclusive: 0 and the full marks are valid points.
    assert!(check_assessment(set, "central_duty_team", Points::ZERO, "未值守").is_ok());
    assert!(check_assessment(set, "central_duty_team", Points::whole(2), "全勤").is_ok());
    let e = check_assessment(set, "central_duty_team", pts("2.01").unwrap(), "x").unwrap_err();
    assert_eq!(e.field(), "points");
    assert!(e.to_string().starts_with("KPI-13"), "{e}");
    let e = check_assessment(set, "central_duty_team", pts("-0.5").unwrap(), "x").unwrap_err();
    assert_eq!(e.field(), "points");
    let e = check_assessment(set, "central_duty_team", Points::whole(1), "  ").unwrap_err();
    assert_eq!(e, AssessmentError::NoReason);
    assert_eq!(e.field(), "reason");
    let e = check_assessment(set, "nope", Points::whole(1), "x").unwrap_err();
    assert_eq!(e.field(), "indicator");
    // KPI-08 is computed from complaint records, never assessed.
    let g = p.kpi.set(SET).unwrap();
    let e = check_assessment(g, "complaint_timeliness", Points::whole(10), "x").unwrap_err();
    assert!(matches!(e, AssessmentError::NotAssessed { .. }));
    assert_eq!(e.field(), "indicator");
    assert!(e.to_string().starts_with("KPI-08"), "{e}");
}

#[test]
fn kpi_14_conversion_to_the_100_point_scale() {
    let s = Points::from_hundredths(858);
    let out_of = Points::from_hundredths(1050);
    assert_eq!(
        s.on_percent_scale(out_of, PercentRounding::HalfUpOneDecimal),
        pts("81.7")
    );
    assert_eq!(
        s.on_percent_scale(out_of, PercentRounding::TruncateOneDecimal),
        pts("81.7")
    );
    assert_eq!(
        s.on_percent_scale(out_of, PercentRounding::TruncateInteger),
        pts("81")
    );
    assert_eq!(
        pack().kpi.conversion.rounding,
        PercentRounding::HalfUpOneDecimal
    );
    assert_eq!(
        s.on_percent_scale(Points::ZERO, PercentRounding::HalfUpOneDecimal),
        None
    );
}

#[test]
fn kpi_15_ranking_with_ties_and_the_three_laggards() {
    let p = pack();
    let unit = |name: &str, late: usize| {
        let mut m = rate_input(
            "provisioning_orders_on_time",
            "provisioning_orders",
            100 - late,
            100,
        );
        m.unit = name.into();
        card(&p, SET, &m)
    };
    let cards = vec![
        unit("a", 0),
        unit("b", 3),
        unit("c", 1),
        unit("d", 1),
        unit("e", 0),
        unit("f", 2),
    ];
    let rows = rank(&cards, p.kpi.ranking.laggards);
    let got: Vec<(String, u32, bool)> = rows
        .iter()
        .map(|r| (r.unit.clone(), r.rank, r.laggard))
        .collect();
    assert_eq!(
        got,
        vec![
            ("a".into(), 1, false),
            ("e".into(), 1, false),
            ("c".into(), 3, true),
            ("d".into(), 3, true),
            ("f".into(), 5, true),
            ("b".into(), 6, true),
        ]
    );
    // c and d tie on the third-lowest place: both are laggards, so four units are named for three places.
    assert_eq!(rows.iter().filter(|r| r.laggard).count(), 4);
    let rows = rank(&cards, 2);
    let lag: Vec<&str> = rows
        .iter()
        .filter(|r| r.laggard)
        .map(|r| r.unit.as_str())
        .collect();
    assert_eq!(lag, ["f", "b"]);
}

#[test]
fn numerator_records_must_be_counted_in_the_denominator() {
    let p = pack();
    let mut m = rate_input("provisioning_orders_on_time", "provisioning_orders", 5, 5);
    m.counts
        .get_mut("provisioning_orders_on_time")
        .unwrap()
        .insert(r("order", 99));
    let e = score_set(&p.kpi, p.kpi.set(SET).unwrap(), &m, p.sla.day_seconds).unwrap_err();
    assert!(matches!(e, KpiError::NumeratorNotInDenominator { .. }));
}

// ---------------------------------------------------------------- kpi.toml validation

fn kpi_text() -> String {
    default_files()
        .into_iter()
        .find(|(n, _)| n == "kpi.toml")
        .unwrap()
        .1
}

#[test]
fn unknown_measure_is_refused_with_file_line_and_field() {
    let text = kpi_text();
    let errs = errors(load_with("kpi.toml", |t| {
        t.replace(
            "measure = \"fault_handling_overrun\"",
            "measure = \"fault_handling_overun\"",
        )
    }));
    let line = line_of(&text, "key = \"fault_handling\"", "measure =");
    assert!(
        errs.iter().any(|e| e.starts_with(&format!("kpi.toml:{line}:set[0].indicator[5].measure: 'fault_handling_overun' is not a known measure"))),
        "{errs:?}"
    );
    // A ratio over an unknown count, and a rate indicator reading an overrun measure.
    let errs = errors(load_with("kpi.toml", |t| {
        t.replace(
            "numerator = \"acceptances_passed\"",
            "numerator = \"acceptances_ok\"",
        )
    }));
    assert!(
        errs.iter()
            .any(|e| e.contains("ratio[1].numerator") && e.contains("acceptances_ok")),
        "{errs:?}"
    );
    let errs = errors(load_with("kpi.toml", |t| {
        t.replace(
            "measure = \"acceptance_pass_rate\"",
            "measure = \"construction_survey_overrun\"",
        )
    }));
    assert!(
        errs.iter()
            .any(|e| e.contains("set[0].indicator[3].measure")),
        "{errs:?}"
    );
    let errs = errors(load_with("kpi.toml", |t| {
        t.replace(
            "flags = [\"leased_line_repeat_faults_exceeded\"",
            "flags = [\"repeat_faults\"",
        )
    }));
    assert!(
        errs.iter().any(|e| e.contains("indicator[7].flags[0]")),
        "{errs:?}"
    );
}

#[test]
fn inconsistent_points_and_formulas_are_refused() {
    // Group points no longer match the maxima.
    let errs = errors(load_with("kpi.toml", |t| {
        t.replacen("max = 15", "max = 14", 1)
    }));
    assert!(
        errs.iter()
            .any(|e| e.contains("set[0].group[1].points") && e.contains("add up to 29")),
        "{errs:?}"
    );
    // Baseline above the challenge.
    let errs = errors(load_with("kpi.toml", |t| {
        t.replacen("baseline = 90.0", "baseline = 96.0", 1)
    }));
    assert!(
        errs.iter().any(|e| e.contains("indicator[3].challenge")),
        "{errs:?}"
    );
    // A missing parameter, a stray parameter, an unknown SLA stage (cross-file), a missing tier unit.
    let errs = errors(load_with("kpi.toml", |t| {
        t.replacen("points_per_step = 0.1\n", "", 1)
    }));
    assert!(
        errs.iter()
            .any(|e| e.contains("indicator[3].points_per_step")),
        "{errs:?}"
    );
    let errs = errors(load_with("kpi.toml", |t| {
        t.replacen(
            "kind = \"assessed\"",
            "kind = \"assessed\"\nbaseline = 1",
            1,
        )
    }));
    assert!(
        errs.iter().any(|e| e.contains("baseline does not apply")),
        "{errs:?}"
    );
    let errs = errors(load_with("kpi.toml", |t| {
        t.replace(
            "sla_stage = \"construction_survey\"",
            "sla_stage = \"survey\"",
        )
    }));
    assert!(
        errs.iter()
            .any(|e| e.contains("limit.sla_stage") && e.contains("sla.toml")),
        "{errs:?}"
    );
    let errs = errors(load_with("kpi.toml", |t| {
        t.replacen("key_assurance = \"5m\", ", "", 1)
    }));
    assert!(
        errs.iter()
            .any(|e| e.contains("indicator[4].unit") && e.contains("key_assurance")),
        "{errs:?}"
    );
    let errs = errors(load_with("kpi.toml", |t| {
        t.replacen("points_per_unit = 0.2", "points_per_unit = 0.205", 1)
    }));
    assert!(
        errs.iter()
            .any(|e| e.contains("points_per_unit") && e.contains("exact to 0.01")),
        "{errs:?}"
    );
}

// ---------------------------------------------------------------- properties

/// Loaded once: a pack load per generated case would dominate the run.
static PACK: std::sync::LazyLock<PolicyPack> = std::sync::LazyLock::new(pack);

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    /// KPI-04/05/08: within [0, max] and never lower for a higher rate, for any sane parameters.
    #[test]
    fn linear_steps_within_bounds_and_monotonic(
        baseline in 0i64..9_900, width in 1i64..2_000, base in 0i64..2_000, step in 1i64..100,
        per_step in 1i64..200, extra in 0i64..3_000, a in 0i64..=10_000, b in 0i64..=10_000,
    ) {
        let challenge = (baseline + width).min(10_000);
        prop_assume!(challenge > baseline);
        let max = Points::from_hundredths(base + extra);
        let f = |r: i64| linear_steps_score(
            Percent::from_hundredths(r), Percent::from_hundredths(baseline), Percent::from_hundredths(challenge),
            Points::from_hundredths(base), Percent::from_hundredths(step), Points::from_hundredths(per_step), max,
        );
        let (lo, hi) = (a.min(b), a.max(b));
        prop_assert!(f(lo) >= Points::ZERO && f(lo) <= max);
        prop_assert!(f(hi) >= Points::ZERO && f(hi) <= max);
        prop_assert!(f(lo) <= f(hi), "rate {lo} → {}, {hi} → {}", f(lo), f(hi));
        prop_assert_eq!(f(challenge), max);
    }

    /// KPI-02/03/06/07: within [floor, max] and never higher for a longer overrun.
    #[test]
    fn per_unit_deduction_within_bounds_and_monotonic(
        max in 1i64..5_000, per_unit in 1i64..500, unit in 1i64..100_000,
        a in -10_000i64..10_000_000, b in -10_000i64..10_000_000, started in any::<bool>(),
    ) {
        let rounding = if started { UnitRounding::Started } else { UnitRounding::Completed };
        let max = Points::from_hundredths(max);
        let f = |o: i64| per_unit_score(max, Points::from_hundredths(per_unit), deduction_units(o, unit, rounding), Points::ZERO);
        let (lo, hi) = (a.min(b), a.max(b));
        prop_assert!(f(hi) >= Points::ZERO && f(lo) <= max);
        prop_assert!(f(lo) >= f(hi));
    }

    /// A whole scorecard from the real pack stays within [0, max] and is monotonic in the on-time rate.
    #[test]
    fn scorecard_within_bounds_and_monotonic_in_the_rate(
        total in 1usize..400, a in 0usize..400, b in 0usize..400,
        overruns in proptest::collection::vec((0usize..5, -3_600i64..200_000), 0..20),
    ) {
        let p = &*PACK;
        let tiers = [Tier::KeyAssurance, Tier::Diamond, Tier::Gold, Tier::Silver, Tier::Bronze];
        let build = |on_time: usize| {
            let mut m = rate_input("provisioning_orders_on_time", "provisioning_orders", on_time.min(total), total);
            m.overruns.insert(
                "fault_handling_overrun".into(),
                overruns.iter().enumerate().map(|(i, (t, s))| OverrunRecord { record: r("fault", i), tier: tiers[*t], overrun_seconds: *s }).collect(),
            );
            card(p, SET, &m)
        };
        let (lo, hi) = (build(a.min(b)), build(a.max(b)));
        for c in [&lo, &hi] {
            prop_assert!(c.total >= Points::ZERO && c.total <= c.max);
            for i in &c.indicators {
                let s = i.score.unwrap();
                prop_assert!(s >= Points::ZERO && s <= i.max, "{} = {s}", i.key);
            }
        }
        prop_assert!(lo.total <= hi.total);
    }
}

/// KPI-01 with records missing: an indicator reading a measure the records layer marks unavailable is not
/// scored, says which measure and why, and counts in neither the total nor the maximum; the others score.
#[test]
fn kpi_01_unavailable_measures_are_not_scored_and_say_why() {
    let p = pack();
    // KPI-07 diamond fault 50 minutes over (2 started 25-minute units → −4); everything else without records.
    let mut input = overrun_input("fault_handling_overrun", vec![(Tier::Diamond, 50 * 60)]);
    input.unavailable = BTreeMap::from([
        (
            "provisioning_orders".to_string(),
            "no provisioning orders stored".to_string(),
        ),
        ("complaints".to_string(), "no complaints stored".to_string()),
        (
            "annual_interruption_exceeded".to_string(),
            "no interruption records".to_string(),
        ),
    ]);
    let c = card(&p, SET, &input);
    let ind = |k: &str| c.indicators.iter().find(|i| i.key == k).unwrap();
    assert_eq!(ind("fault_handling").score, pts("6"));
    assert_eq!(ind("fault_handling").unavailable, None);
    // KPI-04 reads a ratio whose denominator is unavailable.
    assert_eq!(ind("provisioning_on_time").score, None);
    assert_eq!(
        ind("provisioning_on_time").unavailable.as_deref(),
        Some("provisioning_orders: no provisioning orders stored")
    );
    // KPI-08 through the complaints ratio; KPI-09 through one of its two flags (combine = any).
    assert!(ind("complaint_timeliness").unavailable.is_some());
    assert_eq!(ind("network_quality").score, None);
    assert!(ind("network_quality")
        .unavailable
        .as_deref()
        .unwrap()
        .starts_with("annual_interruption_exceeded"));
    // Measures not marked still score as before (KPI-05 with no acceptances: full marks by when_empty).
    assert_eq!(ind("acceptance_pass").score, pts("15"));
    // Total and maximum leave the three unavailable indicators out: 10+10+15+5+6 of 10+10+15+5+10.
    assert_eq!(c.total, pts("46").unwrap());
    assert_eq!(c.max, pts("50").unwrap());
}
