//! Release, cut-over and notice timing against the default pack (issue 7): worked examples 19, 20 and 21 of
//! SEED-RULES §21 and the CHG-11/CHG-16 lead times. Calendar: Mon–Fri, no holidays in the period (the examples'
//! convention), so the office calendar is built without holiday data.

use chrono::{NaiveDate, TimeZone, Utc};
use tianshu_core::change::{
    check_cutover_lead, check_downtime, check_gates_ahead, check_quota, check_start, gates,
    notice_due, upgrade_start, ReleaseKind,
};
use tianshu_core::PolicyPack;
use tianshu_workcal::{Holidays, WorkCalendar};

use super::policy_pack::default_files;

fn pack() -> PolicyPack {
    PolicyPack::load_files(&default_files()).unwrap()
}

fn office(p: &PolicyPack) -> WorkCalendar {
    let spec = p
        .calendars
        .calendars
        .iter()
        .find(|c| c.name == p.change.calendar)
        .unwrap();
    WorkCalendar::new(spec, Holidays::new(&[])).unwrap()
}

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

fn local_day(cal: &WorkCalendar, t: chrono::DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&cal.time_zone()).date_naive()
}

#[test]
fn worked_example_19_gates_counted_back_from_a_thursday_upgrade_chg_03_chg_04_chg_08_chg_09() {
    let p = pack();
    let cal = office(&p);
    // Thursday 2026-12-10.
    let thu = d(2026, 12, 10);
    let g = gates(&p.change, &cal, thu);
    let by = |k: &str| local_day(&cal, g.iter().find(|x| x.key == k).unwrap().due);
    assert_eq!(by("tests_done"), d(2026, 12, 7), "CHG-03: Monday");
    assert_eq!(by("readiness_review"), d(2026, 12, 7), "CHG-04: Monday");
    assert_eq!(by("pre_release_notice"), d(2026, 12, 8), "CHG-08: Tuesday");
    let start = upgrade_start(&p.change, &cal, thu).unwrap();
    assert_eq!(
        start,
        chrono_tz::Asia::Shanghai
            .with_ymd_and_hms(2026, 12, 10, 23, 0, 0)
            .unwrap()
            .with_timezone(&Utc)
    );
    assert!(check_start(
        &p.change,
        chrono::NaiveTime::from_hms_opt(23, 0, 0).unwrap()
    )
    .is_ok());
    let e = check_start(
        &p.change,
        chrono::NaiveTime::from_hms_opt(21, 0, 0).unwrap(),
    )
    .unwrap_err();
    assert!(e.message.starts_with("CHG-09"), "{e}");
    // A gate date in the past is refused with the gate's rule: on Tuesday the Monday gates are gone.
    let tue_noon = chrono_tz::Asia::Shanghai
        .with_ymd_and_hms(2026, 12, 8, 12, 0, 0)
        .unwrap()
        .with_timezone(&Utc);
    let e = check_gates_ahead(&p.change, &cal, thu, tue_noon).unwrap_err();
    assert!(
        e.message.starts_with("CHG-03") && e.message.contains("already past"),
        "{e}"
    );
    let fri = chrono_tz::Asia::Shanghai
        .with_ymd_and_hms(2026, 12, 4, 12, 0, 0)
        .unwrap()
        .with_timezone(&Utc);
    assert_eq!(
        check_gates_ahead(&p.change, &cal, thu, fri).unwrap().len(),
        3
    );
}

#[test]
fn worked_example_20_emergency_quota_and_downtime_window_chg_02_chg_10() {
    let p = pack();
    assert!(check_quota(&p.change, ReleaseKind::Emergency, 1, None).is_ok());
    let e = check_quota(&p.change, ReleaseKind::Emergency, 2, None).unwrap_err();
    assert!(
        e.message.starts_with("CHG-02") && e.message.contains("number 3"),
        "{e}"
    );
    assert!(check_quota(
        &p.change,
        ReleaseKind::Emergency,
        2,
        Some("营业厅系统故障必须当月修复")
    )
    .is_ok());
    // CHG-01: a third routine release in a month has no override.
    assert!(check_quota(&p.change, ReleaseKind::Routine, 2, Some("x"))
        .unwrap_err()
        .message
        .starts_with("CHG-01"));
    let t = |h: u32| d(2026, 12, 11).and_hms_opt(h, 0, 0).unwrap();
    assert!(check_downtime(&p.change, t(2), t(5)).is_ok());
    let e = check_downtime(&p.change, t(5), t(7)).unwrap_err();
    assert!(
        e.message.starts_with("CHG-10") && e.message.contains("05:00–07:00"),
        "{e}"
    );
}

#[test]
fn worked_example_21_customer_notices_by_tier_cnt_01_cnt_02_cnt_03_cnt_04_cnt_05() {
    let p = pack();
    let cal = office(&p);
    // Network adjustment on Monday 2026-12-14, 01:00 local.
    let start = chrono_tz::Asia::Shanghai
        .with_ymd_and_hms(2026, 12, 14, 1, 0, 0)
        .unwrap()
        .with_timezone(&Utc);
    let due = |tier: &str| notice_due(&p.change, &cal, tier, start, false).unwrap();
    assert_eq!(
        local_day(&cal, due("diamond").due),
        d(2026, 12, 7),
        "CNT-01: previous Monday"
    );
    assert_eq!(local_day(&cal, due("gold").due), d(2026, 12, 7));
    assert_eq!(due("gold").rule, "CNT-01");
    assert_eq!(
        local_day(&cal, due("silver").due),
        d(2026, 12, 9),
        "CNT-02: previous Wednesday"
    );
    let bronze = due("bronze");
    assert_eq!(
        local_day(&cal, bronze.due),
        d(2026, 12, 10),
        "CNT-03: previous Thursday"
    );
    assert_eq!(bronze.notify, "account_manager");
    assert_eq!(
        local_day(&cal, due("key_assurance").due),
        d(2026, 12, 7),
        "CNT-05 (PD)"
    );
    let em = notice_due(&p.change, &cal, "silver", start, true).unwrap();
    assert_eq!(em.rule, "CNT-04");
    assert_eq!(em.due, start - chrono::Duration::hours(24));
}

#[test]
fn cutover_applied_too_late_is_refused_chg_16_chg_11() {
    let p = pack();
    let cal = office(&p);
    let thu = d(2026, 12, 10);
    let at = |day: u32, h: u32| {
        chrono_tz::Asia::Shanghai
            .with_ymd_and_hms(2026, 12, day, h, 0, 0)
            .unwrap()
            .with_timezone(&Utc)
    };
    // Applied Monday: 3 working days ahead, fine for a minor cut-over.
    assert!(check_cutover_lead(&p.change, &cal, thu, false, at(7, 10)).is_ok());
    let e = check_cutover_lead(&p.change, &cal, thu, false, at(8, 10)).unwrap_err();
    assert_eq!(
        e.message,
        "CHG-16: applied 2 working days ahead, 3 required"
    );
    // A major-version cut-over is reported a week ahead (CHG-11): Monday is 3 WD but only 3 days ahead.
    let e = check_cutover_lead(&p.change, &cal, thu, true, at(7, 10)).unwrap_err();
    assert!(e.message.starts_with("CHG-11"), "{e}");
    assert!(check_cutover_lead(&p.change, &cal, thu, true, at(3, 10)).is_ok());
}

#[test]
fn worked_example_22_batch_boundaries_and_separation_data_02_data_10() {
    use tianshu_core::dataop::{classify, separation_required, OpFacts, OpKind};
    let p = pack();
    let c = |rows: u64, amount: Option<f64>| {
        classify(
            &p.data_ops,
            &OpFacts {
                declared_rows: rows,
                amount_diff_yuan: amount,
                ..Default::default()
            },
        )
    };
    assert!(c(1500, None).batch);
    assert!(c(1000, None).batch, "C-1: 1000条以上 includes 1000");
    assert!(!c(999, None).batch);
    assert!(!separation_required(OpKind::Modification, &c(999, None)));
    assert!(c(10, Some(120_000.0)).batch);
    assert!(!c(10, Some(100_000.0)).batch, "超过10万元 excludes 100,000");
    assert!(separation_required(OpKind::Extraction, &c(10, None)));
}

#[test]
fn peak_windows_are_half_open_data_17() {
    use chrono::NaiveTime;
    use tianshu_core::dataop::check_peak;
    let p = pack();
    let t = |h: u32, m: u32| NaiveTime::from_hms_opt(h, m, 0).unwrap();
    assert!(check_peak(&p.data_ops, t(8, 59), 60_000, None, false).is_ok());
    assert!(check_peak(&p.data_ops, t(9, 0), 60_000, None, false).is_err());
    assert!(check_peak(&p.data_ops, t(12, 0), 60_000, None, false).is_ok());
    assert!(
        check_peak(&p.data_ops, t(17, 59), 50_000, None, false).is_ok(),
        "50,000 is not more than 50,000"
    );
    assert!(
        check_peak(&p.data_ops, t(15, 0), 10, Some(16 * 60), false).is_err(),
        "> 15 min"
    );
    assert!(
        check_peak(&p.data_ops, t(15, 0), 60_000, None, true).is_ok(),
        "exception approved"
    );
}

#[test]
fn worked_example_30_weekly_analysis_average_breaches_at_7_33_req_01() {
    use tianshu_core::change::analysis_average;
    let p = pack();
    let (avg, breach) = analysis_average(&p.change, &[5, 8, 9]).unwrap();
    assert!((avg - 22.0 / 3.0).abs() < 1e-9);
    assert!(breach, "7.33 > 7");
    assert!(
        !analysis_average(&p.change, &[7, 7, 7]).unwrap().1,
        "exactly 7 is within"
    );
    assert!(analysis_average(&p.change, &[]).is_none());
}

#[test]
fn post_release_verification_16_scenarios_48_percent_branches_in_rotation_chg_07() {
    use tianshu_core::change::{verification_assignment, verification_coverage};
    let p = pack();
    // CHG-07: 16 no-charge scenarios, 48 % of the catalogue.
    assert_eq!(p.change.verification.scenarios.len(), 16);
    assert_eq!(verification_coverage(&p.change), 48.5);
    // Two branches per release, taking turns: the cursor at 0, then 2, then 4, then wrapping to 0.
    let (b0, items) = verification_assignment(&p.change, 0);
    assert_eq!(b0, ["shenzhen", "guangzhou"]);
    assert_eq!(items.len(), 16);
    assert_eq!(items.iter().filter(|(_, b)| b == "shenzhen").count(), 8);
    assert_eq!(
        items[0],
        ("prepaid_open".to_string(), "shenzhen".to_string())
    );
    assert_eq!(items[1].1, "guangzhou");
    assert_eq!(
        verification_assignment(&p.change, 2).0,
        ["dongguan", "foshan"]
    );
    assert_eq!(
        verification_assignment(&p.change, 4).0,
        ["zhongshan", "huizhou"]
    );
    assert_eq!(
        verification_assignment(&p.change, 5).0,
        ["huizhou", "shenzhen"]
    );
}

#[test]
fn verification_freeze_and_announcement_settings_are_checked_at_load_chg_02_chg_07_chg_08() {
    use super::policy_pack::{errors, load_with};
    let errs = errors(load_with("change.toml", |t| {
        t.replace(
            "freeze_gate = \"tests_done\"",
            "freeze_gate = \"code_freeze\"",
        )
        .replace("branches_per_release = 2", "branches_per_release = 9")
        .replace("catalogue_size = 33", "catalogue_size = 10")
        .replace(
            "template = \"chg_release_notice\"",
            "template = \"no_such_notice\"",
        )
    }));
    for want in [
        "change.toml:",
        ":releases.freeze_gate: 'code_freeze' is not the key of a [[releases.gate]]",
        ":verification.branches_per_release:",
        ":verification.catalogue_size:",
        ":announcement.template: no [[template]] with id 'no_such_notice'",
    ] {
        assert!(errs.iter().any(|e| e.contains(want)), "{want}: {errs:?}");
    }
}

#[test]
fn go_needs_the_vendor_deliverables_and_a_training_held_before_the_upgrade_chg_05_chg_12() {
    use tianshu_core::change::{check_prerequisites, check_training_time};
    let p = pack();
    let start = Utc.with_ymd_and_hms(2026, 12, 10, 15, 0, 0).unwrap();
    let before = start - chrono::Duration::days(2);
    let doc = |k: &str| (k.to_string(), None);
    // Nothing recorded: the first missing item refuses, naming CHG-05 and the decision.
    let e = check_prerequisites(&p.change, &[], start).unwrap_err();
    assert_eq!((e.rule.as_str(), e.field.as_str()), ("CHG-05", "decision"));
    assert!(
        e.message.contains("System change description"),
        "{}",
        e.message
    );
    let e = check_prerequisites(&p.change, &[doc("change_description")], start).unwrap_err();
    assert!(e.message.contains("Factory test report"), "{}", e.message);
    // Both documents but no training: CHG-12.
    let docs = vec![doc("change_description"), doc("factory_test_report")];
    let e = check_prerequisites(&p.change, &docs, start).unwrap_err();
    assert_eq!(e.rule, "CHG-12");
    assert!(
        e.zh.starts_with("CHG-12：") && e.zh.contains("培训"),
        "{}",
        e.zh
    );
    // A training held at the upgrade start is too late; one held before it completes the list.
    let mut all = docs.clone();
    all.push(("vendor_training".into(), Some(start)));
    assert_eq!(
        check_prerequisites(&p.change, &all, start)
            .unwrap_err()
            .rule,
        "CHG-12"
    );
    all[2].1 = Some(before);
    assert!(check_prerequisites(&p.change, &all, start).is_ok());
    // Which items apply is the pack's: without [[releases.prerequisite]] nothing is required.
    let mut none = p.change.clone();
    none.releases.prerequisites.clear();
    assert!(check_prerequisites(&none, &[], start).is_ok());
    // Recording a training: held already, and before the upgrade.
    let t = p
        .change
        .releases
        .prerequisites
        .iter()
        .find(|d| d.kind == "training")
        .unwrap();
    let now = before + chrono::Duration::hours(1);
    assert!(check_training_time(t, before, now, start).is_ok());
    let e = check_training_time(t, now + chrono::Duration::hours(1), now, start).unwrap_err();
    assert_eq!((e.rule.as_str(), e.field.as_str()), ("CHG-12", "held_at"));
    let e = check_training_time(t, start, start + chrono::Duration::hours(1), start).unwrap_err();
    assert!(
        e.message.contains("before the upgrade starts"),
        "{}",
        e.message
    );
}

#[test]
fn release_prerequisites_are_checked_at_load_chg_05_chg_12() {
    use super::policy_pack::{errors, load_with};
    let errs = errors(load_with("change.toml", |t| {
        t.replace("kind = \"training\"", "kind = \"webinar\"")
            .replace(
                "key = \"factory_test_report\"",
                "key = \"change_description\"",
            )
    }));
    for want in [
        "change.toml:",
        ":releases.prerequisite[2].kind: 'webinar': expected document or training",
        ":releases.prerequisite[1].key: 'change_description' is defined twice",
    ] {
        assert!(errs.iter().any(|e| e.contains(want)), "{want}: {errs:?}");
    }
}

#[test]
fn cutover_start_conditions_from_the_pack_and_a_bad_arrival_lead_refused_at_load_chg_17() {
    use super::policy_pack::{errors, load_with};
    use tianshu_core::change::{check_start_conditions, StartConditions};
    let p = pack();
    assert_eq!(p.change.cutover.start_rule, "CHG-17");
    assert_eq!(p.change.cutover.arrive_before_minutes, 15);
    // CHG-17 (Proposed default): the order is given at most 30 minutes before the approved window.
    assert_eq!(p.change.cutover.start_early_minutes, 30);
    let start = Utc.with_ymd_and_hms(2026, 12, 9, 16, 0, 0).unwrap();
    let mut c = StartConditions {
        kickoff_at: Some(start - chrono::Duration::hours(3)),
        lead: "netops".into(),
        lead_qualified: true,
        arrived_at: Some(start - chrono::Duration::minutes(14)),
        equipment_checked: true,
        host_present: true,
        departments_present: true,
        contractor_present: true,
    };
    let e = check_start_conditions(&p.change.cutover, &c, start, start).unwrap_err();
    assert_eq!(
        (e.rule.as_str(), e.field.as_str()),
        ("CHG-17", "arrived_at")
    );
    assert!(
        e.zh.starts_with("CHG-17：") && e.zh.contains("15"),
        "{}",
        e.zh
    );
    c.arrived_at = Some(start - chrono::Duration::minutes(15));
    assert!(check_start_conditions(&p.change.cutover, &c, start, start).is_ok());

    let errs = errors(load_with("change.toml", |t| {
        t.replace("arrive_before_minutes = 15", "arrive_before_minutes = 0")
            .replace("start_rule = \"CHG-17\"", "start_rule = \"chg17\"")
            .replace("start_early_minutes = 30", "start_early_minutes = 721")
    }));
    for want in [
        ":cutover.arrive_before_minutes: between 1 and 240 minutes",
        ":cutover.start_early_minutes: between 0 and 720 minutes",
        ":cutover.start_rule:",
    ] {
        assert!(errs.iter().any(|e| e.contains(want)), "{want}: {errs:?}");
    }
}

/// CHG-20 against the default pack, one case each: requirement data cut-over without development → branch; with
/// development → provincial centre; fault instance-data repair → branch; province-wide fault → central operations
/// team, whose rectification report is required before completion (and only there).
#[test]
fn data_cutover_ownership_per_case_from_the_pack_chg_20() {
    use tianshu_core::change::{check_rectification, data_case};
    let p = pack();
    let cp = &p.change;
    for (case, responsible, report) in [
        ("requirement", "branch", false),
        ("requirement_development", "provincial_centre", false),
        ("fault_instance", "branch", false),
        ("fault_province_wide", "central_ops", true),
    ] {
        let d = data_case(cp, "data", Some(case)).unwrap().unwrap();
        assert_eq!(
            (d.rule.as_str(), d.responsible.as_str()),
            ("CHG-20", responsible),
            "{case}"
        );
        assert_eq!(d.rectification_report, report, "{case}");
        let r = check_rectification(d, None);
        assert_eq!(r.is_err(), report, "{case}");
        if let Err(e) = r {
            assert_eq!(
                (e.rule.as_str(), e.field.as_str()),
                ("CHG-20", "rectification_report")
            );
            assert!(e.zh.contains("集中运营团队"), "{}", e.zh);
        }
        assert!(check_rectification(d, Some("报告")).is_ok());
    }
    let e = data_case(cp, "data", None).unwrap_err();
    assert_eq!((e.rule.as_str(), e.field.as_str()), ("CHG-20", "data_case"));
    assert_eq!(
        data_case(cp, "data", Some("nope")).unwrap_err().field,
        "data_case"
    );
    assert_eq!(
        data_case(cp, "hardware", Some("requirement"))
            .unwrap_err()
            .field,
        "data_case"
    );
    assert!(data_case(cp, "software", None).unwrap().is_none());
}

/// CNT-06 against the default pack: the plan's required parts named, the pack's period bound, activation before
/// the end only, archiving after it only, and the scope match (system or region, inside the period).
#[test]
fn assurance_plan_parts_states_and_scope_cnt_06() {
    use tianshu_core::change::{
        assurance_covers, check_assurance_activate, check_assurance_archive, check_assurance_plan,
        AssurancePlan, WeakSection,
    };
    let p = pack();
    let cp = &p.change;
    assert_eq!(cp.assurance.rule, "CNT-06");
    assert_eq!(cp.assurance.roles, ["network_dept"]);
    assert!(p.role("network_dept").is_some());
    assert!(p.notifications.template(&cp.assurance.template).is_some());
    let s = Utc.with_ymd_and_hms(2026, 12, 30, 16, 0, 0).unwrap();
    let e = s + chrono::Duration::days(3);
    let systems = vec!["billing".to_string()];
    let regions = vec!["guangzhou".to_string()];
    let weak = vec![WeakSection {
        section: "广州—深圳".into(),
        contingency: "备用电路".into(),
        improvement: "第二路由".into(),
    }];
    let ok = AssurancePlan {
        name: "元旦",
        starts_at: s,
        ends_at: e,
        scope_systems: &systems,
        scope_regions: &regions,
        measures: "m",
        contingency: "c",
        escalation: "x",
        contacts: "t",
        weak_sections: &weak,
    };
    assert!(check_assurance_plan(cp, &ok).is_ok());
    let mut long = ok.clone();
    long.ends_at = s + chrono::Duration::days(32);
    let r = check_assurance_plan(cp, &long).unwrap_err();
    assert_eq!((r.rule.as_str(), r.field.as_str()), ("CNT-06", "ends_at"));
    let mut none = ok.clone();
    none.escalation = "";
    assert_eq!(
        check_assurance_plan(cp, &none).unwrap_err().field,
        "escalation"
    );
    let bad = vec![WeakSection {
        section: "s".into(),
        contingency: String::new(),
        improvement: "i".into(),
    }];
    let mut w = ok.clone();
    w.weak_sections = &bad;
    assert_eq!(
        check_assurance_plan(cp, &w).unwrap_err().field,
        "weak_sections[0].contingency"
    );
    assert!(check_assurance_activate(cp, "draft", e, s).is_ok());
    assert_eq!(
        check_assurance_activate(cp, "draft", e, e)
            .unwrap_err()
            .field,
        "ends_at"
    );
    assert_eq!(
        check_assurance_activate(cp, "active", e, s)
            .unwrap_err()
            .field,
        "state"
    );
    assert_eq!(
        check_assurance_archive(cp, "active", e, e - chrono::Duration::seconds(1))
            .unwrap_err()
            .field,
        "ends_at"
    );
    assert!(check_assurance_archive(cp, "active", e, e).is_ok());
    assert_eq!(
        check_assurance_archive(cp, "draft", e, e)
            .unwrap_err()
            .field,
        "state"
    );
    let covers = |sys, reg, at| assurance_covers(&systems, &regions, s, e, sys, reg, at);
    assert!(covers(Some("billing"), None, s));
    assert!(covers(Some("crm"), Some("guangzhou"), s));
    assert!(!covers(Some("crm"), Some("shenzhen"), s));
    assert!(!covers(Some("billing"), None, e));
    assert!(!covers(
        Some("billing"),
        None,
        s - chrono::Duration::seconds(1)
    ));
}
