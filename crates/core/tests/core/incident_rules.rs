//! Incident rules against the real default pack: the worked examples of SEED-RULES §21 that concern incidents,
//! severity, escalation and frequent faults (1–8, 30), and the loader's errors for the incident pack files.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use tianshu_core::incident::{
    aggregate, centre_manager_criteria, emergency_trigger, frequent_faults,
    immediate_report_criteria, plan_on, reassess, CentreFacts, ClockCommand, HandoffKind,
    IncidentEvent, IncidentFacts, IncidentSnapshot, IncidentState, Occurrence, ReportWindow,
    StopReason,
};
use tianshu_core::policy::{ClockCondition, PolicyPack, ReportKind};
use tianshu_core::{ComplaintLevel, FaultLevel};
use tianshu_workcal::{DeadlineBasis, Holidays, WorkCalendar};

use super::policy_pack::{default_dir, default_files, errors, line_of, load_with, pack};

/// §21 calendar: Mon–Fri working days, no holidays, Asia/Shanghai.
fn calendar(p: &PolicyPack) -> WorkCalendar {
    let spec = p.calendars.get(&p.calendars.default_calendar).unwrap();
    WorkCalendar::new(spec, Holidays::none()).unwrap()
}

/// Local Asia/Shanghai time; 2024-03-04 is a Monday.
fn sh(d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    chrono_tz::Asia::Shanghai
        .with_ymd_and_hms(2024, 3, d, h, mi, 0)
        .unwrap()
        .with_timezone(&Utc)
}

fn level(facts: &IncidentFacts) -> FaultLevel {
    reassess(None, facts, &pack().fault_levels).unwrap().level
}

fn snapshot(level: FaultLevel) -> IncidentSnapshot {
    IncidentSnapshot {
        id: "42".into(),
        state: IncidentState::PreProcessing,
        level,
        fl1_classified_at: None,
        escalated_flow: false,
        facts: IncidentFacts::default(),
        open_vendor_handoffs: Vec::new(),
        reported_to_room_manager: false,
        reported_to_centre_manager: false,
        system: None,
        recurrences_this_month: 0,
        notified: Vec::new(),
    }
}

/// The Start commands of a plan as (clock key, due instants): the first due and, for cadences, two more.
fn dues(p: &PolicyPack, cmds: &[ClockCommand]) -> Vec<(String, Vec<DateTime<Utc>>)> {
    let cal = calendar(p);
    cmds.iter()
        .filter_map(|c| match c {
            ClockCommand::Start {
                key,
                basis,
                start_at,
                repeat,
                ..
            } => {
                let mut d = vec![cal.deadline(basis, *start_at, &[]).unwrap()];
                if let Some(r) = repeat {
                    for _ in 0..2 {
                        let last = *d.last().unwrap();
                        d.push(cal.deadline(r, last, &[]).unwrap());
                    }
                }
                Some((key.clock_key.clone(), d))
            }
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------- worked examples 1–5 (SEV, ESC-01, INC-09)

#[test]
fn example_1_sev_02_sev_07_120_users_30_complaints_is_fl1() {
    let f = IncidentFacts {
        affected_users: Some(120),
        complaints: 30,
        ..IncidentFacts::default()
    };
    let a = reassess(None, &f, &pack().fault_levels).unwrap();
    assert_eq!(a.level, FaultLevel::FL1);
    let texts: Vec<&str> = a.reasons.iter().map(|r| r.text_en.as_str()).collect();
    assert_eq!(
        texts,
        [
            "FL1: 120 affected users ≥ 50 and < 500 (SEV-02)",
            "FL1: 30 complaints ≥ 20 and < 50 (SEV-02)"
        ]
    );
}

#[test]
fn example_2_sev_04_sev_07_boundary_500_users_goes_to_fl2() {
    let users = |n| IncidentFacts {
        affected_users: Some(n),
        ..IncidentFacts::default()
    };
    assert_eq!(level(&users(500)), FaultLevel::FL2);
    assert_eq!(level(&users(499)), FaultLevel::FL1);
    assert_eq!(level(&users(49)), FaultLevel::General);
}

#[test]
fn example_3_sev_01_02_04_hot_and_non_hot_outages() {
    let hot = |m| IncidentFacts {
        hot_outage_minutes: Some(m),
        ..IncidentFacts::default()
    };
    let non_hot = |m| IncidentFacts {
        non_hot_outage_minutes: Some(m),
        ..IncidentFacts::default()
    };
    assert_eq!(level(&hot(120)), FaultLevel::FL1);
    assert_eq!(level(&hot(190)), FaultLevel::FL2);
    assert_eq!(level(&non_hot(240)), FaultLevel::FL1);
    assert_eq!(level(&non_hot(330)), FaultLevel::FL2);
}

#[test]
fn example_4_sev_02_sev_04_gold_diamond_complaints_also_via_merged_reports() {
    let gd = |n| IncidentFacts {
        gold_diamond_complaints: n,
        ..IncidentFacts::default()
    };
    assert_eq!(level(&gd(2)), FaultLevel::FL1);
    assert_eq!(level(&gd(3)), FaultLevel::FL2);
    // The same three complaints arriving as one master and two merged duplicate reports (DUP-01, DUP-04).
    let merged = aggregate(&gd(1), &[gd(1), gd(1)]);
    assert_eq!(merged.gold_diamond_complaints, 3);
    assert_eq!(level(&merged), FaultLevel::FL2);
}

#[test]
fn example_5_sev_06_esc_01_inc_09_general_fault_but_immediate_report_and_emergency() {
    let p = pack();
    let f = IncidentFacts {
        affected_users: Some(15),
        complaints: 12,
        ..IncidentFacts::default()
    };
    assert_eq!(level(&f), FaultLevel::General);
    let esc01 = immediate_report_criteria(FaultLevel::General, &f, &p.escalation.immediate_report);
    let keys: Vec<&str> = esc01.iter().map(|c| c.key.as_str()).collect();
    assert_eq!(keys, ["similar_complaints"]);
    assert_eq!(esc01[0].text_en, "12 similar complaints ≥ 10 (ESC-01 (3))");
    let inc09 = emergency_trigger(&f, &p.escalation.emergency).expect("INC-09 fires at 15");
    assert!(
        inc09.text_en.contains("fault-notice SMS"),
        "{}",
        inc09.text_en
    );
    // Exactly 10 customers: no INC-09 (Proposed default ≥ 11).
    let ten = IncidentFacts {
        affected_users: Some(10),
        ..f.clone()
    };
    assert_eq!(emergency_trigger(&ten, &p.escalation.emergency), None);
    // Through the planner: one immediate message per rule, to the room manager, not a timer.
    let mut snap = snapshot(FaultLevel::General);
    snap.facts = f;
    let cmds = plan_on(
        &IncidentEvent::FactsChanged { at: sh(4, 9, 0) },
        &snap,
        &p.escalation,
    );
    let notified: Vec<(&str, &[String])> = cmds
        .iter()
        .filter_map(|c| match c {
            ClockCommand::Notify {
                rule, recipients, ..
            } => Some((rule.as_str(), recipients.as_slice())),
            _ => None,
        })
        .collect();
    assert_eq!(notified.len(), 2);
    assert_eq!(notified[0].0, "ESC-01");
    assert_eq!(notified[1].0, "INC-09");
    assert!(notified
        .iter()
        .all(|(_, r)| r == &["room_manager".to_string()]));
    // Already notified criteria are not sent again.
    snap.notified = vec![
        "ESC-01:similar_complaints".into(),
        "INC-09:same_fault_customers".into(),
    ];
    let again = plan_on(
        &IncidentEvent::FactsChanged { at: sh(4, 9, 5) },
        &snap,
        &p.escalation,
    );
    assert!(again.is_empty(), "{again:?}");
}

// ---------------------------------------------------------------- worked examples 6–8 (ESC-02..ESC-05)

#[test]
fn example_6_esc_03_escalated_every_30_minutes_general_by_thursday() {
    let p = pack();
    let mut snap = snapshot(FaultLevel::FL1);
    snap.reported_to_room_manager = true;
    let cmds = plan_on(
        &IncidentEvent::ReportedToRoomManager { at: sh(4, 10, 0) },
        &snap,
        &p.escalation,
    );
    assert_eq!(
        dues(&p, &cmds),
        [(
            "esc03_escalated".to_string(),
            vec![sh(4, 10, 30), sh(4, 11, 0), sh(4, 11, 30)]
        )]
    );
    let general = snapshot(FaultLevel::General);
    let cmds = plan_on(
        &IncidentEvent::ReportedToRoomManager { at: sh(4, 10, 0) },
        &general,
        &p.escalation,
    );
    let d = dues(&p, &cmds);
    assert_eq!(d[0].0, "esc03_general");
    // Monday → by Thursday (end of the 3rd calendar day, C-4), then every 3 days.
    assert_eq!(d[0].1[0], sh(7, 23, 59) + chrono::Duration::seconds(59));
    assert_eq!(d[0].1[1], sh(10, 23, 59) + chrono::Duration::seconds(59));
}

#[test]
fn example_7_esc_04_fl2_tuesday_fl1_wednesday_esc_05_cs3_one_hour() {
    let p = pack();
    let at = sh(4, 9, 0);
    let fl2 = plan_on(
        &IncidentEvent::LevelChanged {
            from: None,
            to: FaultLevel::FL2,
            at,
        },
        &snapshot(FaultLevel::FL2),
        &p.escalation,
    );
    assert_eq!(
        dues(&p, &fl2),
        [("esc04_fl2".to_string(), vec![sh(5, 9, 0)])]
    );
    // ESC-01 (1): an FL2 is also reported to the room manager at once.
    assert!(fl2
        .iter()
        .any(|c| matches!(c, ClockCommand::Notify { rule, .. } if rule == "ESC-01")));
    let fl1 = plan_on(
        &IncidentEvent::LevelChanged {
            from: None,
            to: FaultLevel::FL1,
            at,
        },
        &snapshot(FaultLevel::FL1),
        &p.escalation,
    );
    assert_eq!(
        dues(&p, &fl1),
        [("esc04_fl1".to_string(), vec![sh(6, 9, 0)])]
    );
    let mut cs = snapshot(FaultLevel::FL2);
    cs.facts.cs_level = ComplaintLevel::new(3);
    let cs3 = plan_on(
        &IncidentEvent::CsLevelChanged {
            from: None,
            to: ComplaintLevel::new(3).unwrap(),
            at: sh(4, 14, 0),
        },
        &cs,
        &p.escalation,
    );
    assert_eq!(
        dues(&p, &cs3),
        [("esc05_cs3".to_string(), vec![sh(4, 15, 0)])]
    );
    // CS2 starts no ESC-05 clock.
    let cs2 = plan_on(
        &IncidentEvent::CsLevelChanged {
            from: None,
            to: ComplaintLevel::new(2).unwrap(),
            at: sh(4, 14, 0),
        },
        &cs,
        &p.escalation,
    );
    assert!(dues(&p, &cs2).is_empty());
}

#[test]
fn esc_04_upgrade_fl1_to_fl2_starts_at_upgrade_but_never_later_than_the_48h_due() {
    let p = pack();
    let upgrade = |at| {
        let mut s = snapshot(FaultLevel::FL2);
        s.fl1_classified_at = Some(sh(4, 9, 0));
        plan_on(
            &IncidentEvent::LevelChanged {
                from: Some(FaultLevel::FL1),
                to: FaultLevel::FL2,
                at,
            },
            &s,
            &p.escalation,
        )
    };
    // Upgraded Monday 15:00 → due Tuesday 15:00 (24 h from the upgrade); the FL1 clock is superseded.
    let early = upgrade(sh(4, 15, 0));
    assert!(early.iter().any(|c| matches!(c,
        ClockCommand::Stop { key, outcome: StopReason::Superseded, .. } if key.clock_key == "esc04_fl1")));
    assert_eq!(
        dues(&p, &early),
        [("esc04_fl2".to_string(), vec![sh(5, 15, 0)])]
    );
    // Upgraded Tuesday 20:00 → 24 h would be Wednesday 20:00, later than the FL1 due Wednesday 09:00: capped.
    let late = upgrade(sh(5, 20, 0));
    assert_eq!(
        dues(&p, &late),
        [("esc04_fl2".to_string(), vec![sh(6, 9, 0)])]
    );
}

#[test]
fn example_8_esc_02_vendor_no_progress_1h_24h_72h() {
    let p = pack();
    let plan = |level, affects: bool| {
        let mut s = snapshot(level);
        s.facts.affects_customers = affects;
        s.open_vendor_handoffs = vec!["h1".into()];
        plan_on(
            &IncidentEvent::HandoffStarted {
                handoff_id: "h1".into(),
                kind: HandoffKind::Vendor,
                at: sh(4, 9, 0),
            },
            &s,
            &p.escalation,
        )
    };
    assert_eq!(
        dues(&p, &plan(FaultLevel::FL1, true)),
        [("esc02_vendor_escalated/h1".to_string(), vec![sh(4, 10, 0)])]
    );
    assert_eq!(
        dues(&p, &plan(FaultLevel::General, true)),
        [(
            "esc02_vendor_general_affecting/h1".to_string(),
            vec![sh(5, 9, 0)]
        )]
    );
    assert_eq!(
        dues(&p, &plan(FaultLevel::General, false)),
        [(
            "esc02_vendor_general_not_affecting/h1".to_string(),
            vec![sh(7, 9, 0)]
        )]
    );
    // Other hand-off kinds have no ESC-02 clock.
    let mut s = snapshot(FaultLevel::FL1);
    s.open_vendor_handoffs = vec![];
    let billing = plan_on(
        &IncidentEvent::HandoffStarted {
            handoff_id: "h2".into(),
            kind: HandoffKind::BillingCentre,
            at: sh(4, 9, 0),
        },
        &s,
        &p.escalation,
    );
    assert!(billing.is_empty());
}

#[test]
fn esc_02_vendor_progress_restarts_reply_stops_and_level_raise_swaps_category() {
    let p = pack();
    let mut s = snapshot(FaultLevel::General);
    s.facts.affects_customers = true;
    s.open_vendor_handoffs = vec!["h1".into()];
    let progress = plan_on(
        &IncidentEvent::HandoffProgress {
            handoff_id: "h1".into(),
            at: sh(4, 20, 0),
        },
        &s,
        &p.escalation,
    );
    assert!(
        matches!(&progress[0], ClockCommand::Stop { outcome: StopReason::Restarted(ClockCondition::HandoffProgress), key, .. } if key.clock_key == "esc02_vendor_general_affecting/h1")
    );
    assert_eq!(
        dues(&p, &progress),
        [(
            "esc02_vendor_general_affecting/h1".to_string(),
            vec![sh(5, 20, 0)]
        )]
    );
    // Raised to FL1 at 21:00 (C-5): the escalated 1 h clock replaces the general one.
    s.level = FaultLevel::FL1;
    let raised = plan_on(
        &IncidentEvent::LevelChanged {
            from: Some(FaultLevel::General),
            to: FaultLevel::FL1,
            at: sh(4, 21, 0),
        },
        &s,
        &p.escalation,
    );
    let d = dues(&p, &raised);
    assert!(
        d.contains(&("esc02_vendor_escalated/h1".to_string(), vec![sh(4, 22, 0)])),
        "{d:?}"
    );
    assert!(raised.iter().any(|c| matches!(c, ClockCommand::Stop { key, .. } if key.clock_key == "esc02_vendor_general_affecting/h1")));
    let replied = plan_on(
        &IncidentEvent::HandoffReplied {
            handoff_id: "h1".into(),
            at: sh(4, 21, 30),
        },
        &s,
        &p.escalation,
    );
    assert!(replied.iter().all(|c| matches!(c,
        ClockCommand::Stop { outcome: StopReason::Condition(ClockCondition::HandoffReplied), key, .. } if key.clock_key.ends_with("/h1"))));
    assert_eq!(replied.len(), 3);
}

#[test]
fn inc_06_progress_due_12_00_next_day_each_entry_restarts() {
    let p = pack();
    let s = snapshot(FaultLevel::General);
    let received = plan_on(
        &IncidentEvent::Received { at: sh(4, 16, 0) },
        &s,
        &p.escalation,
    );
    assert_eq!(
        dues(&p, &received),
        [("inc06_progress".to_string(), vec![sh(5, 12, 0)])]
    );
    let entry = plan_on(
        &IncidentEvent::ProgressRecorded { at: sh(5, 11, 0) },
        &s,
        &p.escalation,
    );
    assert_eq!(
        dues(&p, &entry),
        [("inc06_progress".to_string(), vec![sh(6, 12, 0)])]
    );
}

#[test]
fn resolving_stops_every_clock_and_reopening_restarts_them() {
    let p = pack();
    let mut s = snapshot(FaultLevel::FL2);
    s.open_vendor_handoffs = vec!["h1".into()];
    let resolved = plan_on(
        &IncidentEvent::StateChanged {
            from: IncidentState::Approved,
            to: IncidentState::Replied,
            at: sh(4, 12, 0),
        },
        &s,
        &p.escalation,
    );
    assert!(resolved.iter().all(|c| matches!(
        c,
        ClockCommand::Stop {
            outcome: StopReason::Condition(ClockCondition::Resolved),
            ..
        }
    )));
    let keys: Vec<&str> = resolved
        .iter()
        .filter_map(|c| match c {
            ClockCommand::Stop { key, .. } => Some(key.clock_key.as_str()),
            _ => None,
        })
        .collect();
    for k in [
        "inc06_progress",
        "esc02_vendor_escalated/h1",
        "esc03_escalated",
        "esc04_fl1",
        "esc04_fl2",
        "esc05_cs3",
    ] {
        assert!(keys.contains(&k), "{k} not stopped: {keys:?}");
    }
    s.state = IncidentState::PreProcessing;
    let reopened = plan_on(
        &IncidentEvent::StateChanged {
            from: IncidentState::Closed,
            to: IncidentState::PreProcessing,
            at: sh(6, 9, 0),
        },
        &s,
        &p.escalation,
    );
    let d = dues(&p, &reopened);
    assert!(
        d.contains(&("inc06_progress".to_string(), vec![sh(7, 12, 0)])),
        "{d:?}"
    );
    assert!(
        d.contains(&("esc04_fl2".to_string(), vec![sh(7, 9, 0)])),
        "{d:?}"
    );
}

#[test]
fn pause_in_states_pause_and_resume_the_clock() {
    let p = load_with("escalation.toml", |t| {
        t.replacen(
            "basis = \"48h\"\n",
            "basis = \"48h\"\npause_in = [\"awaiting_customer\"]\n",
            1,
        )
    })
    .unwrap();
    let s = snapshot(FaultLevel::FL1);
    let go = |from, to| {
        plan_on(
            &IncidentEvent::StateChanged {
                from,
                to,
                at: sh(4, 10, 0),
            },
            &s,
            &p.escalation,
        )
    };
    let paused = go(
        IncidentState::PreProcessing,
        IncidentState::AwaitingCustomer,
    );
    assert!(
        matches!(&paused[..], [ClockCommand::Pause { key, .. }] if key.clock_key == "esc04_fl1")
    );
    let resumed = go(
        IncidentState::AwaitingCustomer,
        IncidentState::PreProcessing,
    );
    assert!(
        matches!(&resumed[..], [ClockCommand::Resume { key, .. }] if key.clock_key == "esc04_fl1")
    );
}

// ---------------------------------------------------------------- worked example 30 (RPT-03)

#[test]
fn example_30_rpt_01_02_03_union_weekly_and_monthly() {
    let p = pack();
    let d = |day| NaiveDate::from_ymd_opt(2024, 3, day).unwrap();
    let occ = |day, complaints| Occurrence {
        fault_key: "crm_login".into(),
        category: None,
        date: d(day),
        complaints,
    };
    // 2 times in a week, 25 complaints → A: weekly, B: no → weekly report (union).
    let week = ReportWindow {
        kind: ReportKind::Weekly,
        start: d(4),
        end: d(11),
    };
    let w = frequent_faults(&[occ(5, 10), occ(7, 15)], week, &p.frequent_faults);
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].complaints, 25);
    let rules: Vec<&str> = w[0].fired.iter().map(|f| f.rule.as_str()).collect();
    assert_eq!(rules, ["RPT-01"]);
    // 4 times in a month, 100 complaints → A: monthly, B: no (needs ≥ 3 and > 500) → monthly report.
    let month = ReportWindow {
        kind: ReportKind::Monthly,
        start: d(1),
        end: NaiveDate::from_ymd_opt(2024, 4, 1).unwrap(),
    };
    let m = frequent_faults(
        &[occ(1, 25), occ(8, 25), occ(15, 25), occ(22, 25)],
        month,
        &p.frequent_faults,
    );
    assert_eq!(m.len(), 1);
    let rules: Vec<&str> = m[0].fired.iter().map(|f| f.rule.as_str()).collect();
    assert_eq!(rules, ["RPT-01"]);
    // Selecting only set B (RPT-03 selectable): neither example is listed.
    let only_b = load_with("frequent_faults.toml", |t| {
        t.replacen("selected = [\"a\", \"b\"]", "selected = [\"b\"]", 1)
    })
    .unwrap();
    assert!(frequent_faults(&[occ(5, 10), occ(7, 15)], week, &only_b.frequent_faults).is_empty());
}

// ---------------------------------------------------------------- loader

#[test]
fn incident_files_load_with_their_rules() {
    let p = pack();
    assert_eq!(p.incident_workflow.initial, IncidentState::New);
    assert_eq!(p.incident_workflow.duplicates.window.seconds(), 3600);
    let keys: Vec<&str> = p.escalation.clocks.iter().map(|c| c.key.as_str()).collect();
    assert_eq!(keys.len(), 13);
    assert_eq!(p.escalation.centre_manager_report.rule, "ESC-07");
    assert_eq!(
        p.escalation.clock("inc06_progress").unwrap().basis,
        "next@12:00".parse::<DeadlineBasis>().unwrap()
    );
    assert_eq!(p.frequent_faults.selected, ["a", "b"]);
}

#[test]
fn broken_transition_names_file_line_and_field() {
    let text = std::fs::read_to_string(default_dir().join("incident_workflow.toml")).unwrap();
    let errs = errors(load_with("incident_workflow.toml", |t| {
        t.replacen("action = \"approve\"", "action = \"aprove\"", 1)
    }));
    let line = line_of(&text, "action = \"approve\"", "action = \"approve\"");
    assert!(
        errs.iter().any(|e| e.starts_with(&format!(
            "incident_workflow.toml:{line}:transition[7].action: unknown action 'aprove'"
        ))),
        "{errs:?}"
    );
    let errs = errors(load_with("incident_workflow.toml", |t| {
        t.replacen("to = \"approved\"", "to = \"aproved\"", 1)
            .replacen(
                "permission = \"incident.close\"",
                "permission = \"incident.shut\"",
                1,
            )
    }));
    let to_line = line_of(&text, "action = \"approve\"", "to = \"approved\"");
    assert!(
        errs.iter().any(|e| e.starts_with(&format!(
            "incident_workflow.toml:{to_line}:transition[7].to: unknown incident state 'aproved'"
        ))),
        "{errs:?}"
    );
    assert!(
        errs.iter()
            .any(|e| e.contains(":transition[10].permission: unknown permission 'incident.shut'")),
        "{errs:?}"
    );
}

#[test]
fn unreachable_state_missing_reason_and_four_eyes_are_reported() {
    // Nothing leads to "approved" any more, so approved, replied and closed become unreachable.
    let errs = errors(load_with("incident_workflow.toml", |t| {
        t.replacen("to = \"approved\"", "to = \"in_review\"", 1)
            .replacen(
                "four_eyes = true\nrules = [\"INC-05\"]",
                "rules = [\"INC-05\"]",
                1,
            )
    }));
    assert!(
        errs.iter()
            .any(|e| e.contains("transition[7].four_eyes: 'approve' is an audit decision")),
        "{errs:?}"
    );
    let errs = errors(load_with("incident_workflow.toml", |t| {
        t.replacen("to = \"approved\"", "to = \"in_review\"", 1)
    }));
    assert!(
        errs.iter()
            .any(|e| e.contains("transition: state 'approved' cannot be reached from 'new'")),
        "{errs:?}"
    );
    let errs = errors(load_with("incident_workflow.toml", |t| {
        t.replacen("action = \"cancel\"\nto = \"cancelled\"\npermission = \"incident.triage\"\nreason_required = true", "action = \"cancel\"\nto = \"cancelled\"\npermission = \"incident.triage\"", 1)
    }));
    assert!(
        errs.iter()
            .any(|e| e.contains(":transition[12].reason_required: 'cancel' must require a reason")),
        "{errs:?}"
    );
}

#[test]
fn escalation_errors_name_the_field() {
    let text = std::fs::read_to_string(default_dir().join("escalation.toml")).unwrap();
    let errs = errors(load_with("escalation.toml", |t| {
        t.replacen(
            "recipients = [\"department_manager\"]",
            "recipients = [\"dept_boss\"]",
            1,
        )
        .replacen("level = \"FL1\" }", "level = \"FL3\" }", 1)
    }));
    let line = line_of(&text, "key = \"esc04_fl1\"", "level = \"FL1\"");
    assert!(
        errs.iter()
            .any(|e| e.starts_with(&format!("escalation.toml:{line}:clock[6].trigger.level"))),
        "{errs:?}"
    );
    let errs = errors(load_with("escalation.toml", |t| {
        t.replacen(
            "recipients = [\"department_manager\"]",
            "recipients = [\"dept_boss\"]",
            1,
        )
        .replacen("basis = \"next@12:00\"", "basis = \"next@25:00\"", 1)
    }));
    assert!(
        errs.iter()
            .any(|e| e.contains(":clock[0].basis: invalid deadline 'next@25:00'")),
        "{errs:?}"
    );
    let errs = errors(load_with("escalation.toml", |t| {
        t.replacen(
            "recipients = [\"department_manager\"]",
            "recipients = [\"dept_boss\"]",
            1,
        )
    }));
    let line = line_of(&text, "key = \"esc04_fl1\"", "recipients");
    assert!(
        errs.contains(&format!(
            "escalation.toml:{line}:clock[6].recipients[0]: 'dept_boss' is not a role defined in roles.toml (nor 'handler')"
        )),
        "{errs:?}"
    );
    let errs = errors(load_with("escalation.toml", |t| {
        t.replacen(
            "never_later_than = \"esc04_fl1\"",
            "never_later_than = \"esc04_fl0\"",
            1,
        )
        .replacen(
            "trigger = { on = \"cs_level_at_least\", cs = \"CS3\" }",
            "trigger = { on = \"cs_level_at_least\" }",
            1,
        )
    }));
    assert!(
        errs.iter()
            .any(|e| e.contains(":clock[7].never_later_than: no clock with key 'esc04_fl0'")),
        "{errs:?}"
    );
    assert!(
        errs.iter()
            .any(|e| e.contains(":clock[8].trigger.cs: trigger 'cs_level_at_least' needs cs")),
        "{errs:?}"
    );
}

#[test]
fn frequent_fault_selection_must_name_a_set() {
    let errs = errors(load_with("frequent_faults.toml", |t| {
        t.replacen("selected = [\"a\", \"b\"]", "selected = [\"a\", \"c\"]", 1)
    }));
    assert!(
        errs.contains(&"frequent_faults.toml:8:selected[1]: no [[set]] with key 'c'".to_string()),
        "{errs:?}"
    );
}

#[test]
fn missing_incident_file_is_named() {
    let files: Vec<_> = default_files()
        .into_iter()
        .filter(|(n, _)| n != "escalation.toml")
        .collect();
    let errs = errors(PolicyPack::load_files(&files));
    assert!(
        errs.contains(&"escalation.toml:(file): required file is missing".to_string()),
        "{errs:?}"
    );
}

// ---------------------------------------------------------------- ESC-06..ESC-09, ESC-12

fn notifies(cmds: &[ClockCommand]) -> Vec<(String, Vec<String>)> {
    cmds.iter()
        .filter_map(|c| match c {
            ClockCommand::Notify {
                rule, recipients, ..
            } => Some((rule.clone(), recipients.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn esc_07_wrongful_suspension_of_31_customers_tells_room_and_centre_manager_once() {
    let p = pack();
    let mut snap = snapshot(FaultLevel::General);
    snap.facts.centre = CentreFacts {
        wrong_suspension_complaints: 31,
        ..CentreFacts::default()
    };
    let cmds = plan_on(
        &IncidentEvent::FactsChanged { at: sh(4, 9, 0) },
        &snap,
        &p.escalation,
    );
    assert!(notifies(&cmds).contains(&(
        "ESC-07".to_string(),
        vec!["room_manager".to_string(), "centre_manager".to_string()]
    )));
    // Once sent, the same criterion is not sent again.
    snap.notified = centre_manager_criteria(&snap.facts, 0, &p.escalation.centre_manager_report)
        .iter()
        .map(tianshu_core::incident::notified_key)
        .collect();
    let again = plan_on(
        &IncidentEvent::FactsChanged { at: sh(4, 9, 5) },
        &snap,
        &p.escalation,
    );
    assert!(!notifies(&again).iter().any(|(r, _)| r == "ESC-07"));
}

#[test]
fn esc_08_general_affecting_fault_one_day_without_progress_re_reports_to_centre_manager() {
    let p = pack();
    let mut snap = snapshot(FaultLevel::General);
    snap.facts.affects_customers = true;
    snap.reported_to_centre_manager = true;
    let cmds = plan_on(
        &IncidentEvent::ReportedToCentreManager { at: sh(4, 9, 0) },
        &snap,
        &p.escalation,
    );
    assert_eq!(
        dues(&p, &cmds),
        [("esc08_centre_manager".to_string(), vec![sh(5, 9, 0)])]
    );
    // Progress from the province (a progress entry) restarts the day.
    let cmds = plan_on(
        &IncidentEvent::ProgressRecorded { at: sh(4, 15, 0) },
        &snap,
        &p.escalation,
    );
    assert!(dues(&p, &cmds).contains(&("esc08_centre_manager".to_string(), vec![sh(5, 15, 0)])));
    // An escalated fault does not run the ESC-08 day (ESC-03's cadence covers it).
    let mut escalated = snapshot(FaultLevel::FL1);
    escalated.reported_to_centre_manager = true;
    let cmds = plan_on(
        &IncidentEvent::ReportedToCentreManager { at: sh(4, 9, 0) },
        &escalated,
        &p.escalation,
    );
    assert!(dues(&p, &cmds).is_empty());
}

#[test]
fn esc_02_esc_08_impact_widening_and_new_symptom_re_report_to_whoever_was_told() {
    let p = pack();
    let mut snap = snapshot(FaultLevel::FL1);
    // Nobody told yet: nothing to re-report.
    let none = plan_on(
        &IncidentEvent::ImpactWidened { at: sh(4, 9, 0) },
        &snap,
        &p.escalation,
    );
    assert!(notifies(&none).is_empty());
    snap.reported_to_room_manager = true;
    let rm = plan_on(
        &IncidentEvent::NewSymptom { at: sh(4, 9, 0) },
        &snap,
        &p.escalation,
    );
    assert_eq!(
        notifies(&rm),
        [("ESC-02".to_string(), vec!["room_manager".to_string()])]
    );
    snap.reported_to_centre_manager = true;
    let both = plan_on(
        &IncidentEvent::ImpactWidened { at: sh(4, 10, 0) },
        &snap,
        &p.escalation,
    );
    let rules: Vec<String> = notifies(&both).into_iter().map(|(r, _)| r).collect();
    assert_eq!(rules, ["ESC-02", "ESC-08"]);
}

#[test]
fn esc_09_major_crm_fault_group_report_within_1_hour_analysis_within_2_days() {
    let p = pack();
    let mut snap = snapshot(FaultLevel::FL2);
    snap.system = Some("crm".into());
    let cmds = plan_on(
        &IncidentEvent::LevelChanged {
            from: None,
            to: FaultLevel::FL2,
            at: sh(4, 9, 0),
        },
        &snap,
        &p.escalation,
    );
    let d = dues(&p, &cmds);
    assert!(
        d.contains(&("esc09_group_report".to_string(), vec![sh(4, 10, 0)])),
        "{d:?}"
    );
    // Recording the group report stops it.
    let stop = plan_on(
        &IncidentEvent::ReportedToGroup { at: sh(4, 9, 40) },
        &snap,
        &p.escalation,
    );
    assert!(stop.iter().any(|c| matches!(c, ClockCommand::Stop { key, outcome: StopReason::Condition(ClockCondition::ReportedToGroup), .. } if key.clock_key == "esc09_group_report")));
    // Handling ends Monday 15:00 → analysis report by the end of Wednesday (C-4, 2 calendar days).
    snap.state = IncidentState::Replied;
    let end = plan_on(
        &IncidentEvent::StateChanged {
            from: IncidentState::InReview,
            to: IncidentState::Replied,
            at: sh(4, 15, 0),
        },
        &snap,
        &p.escalation,
    );
    assert_eq!(
        dues(&p, &end),
        [(
            "esc09_analysis".to_string(),
            vec![sh(6, 23, 59) + chrono::Duration::seconds(59)]
        )]
    );
    // Another system's FL2, or an FL1 CRM fault, has neither obligation.
    snap.system = Some("billing".into());
    let other = plan_on(
        &IncidentEvent::LevelChanged {
            from: None,
            to: FaultLevel::FL2,
            at: sh(4, 9, 0),
        },
        &snap,
        &p.escalation,
    );
    assert!(!dues(&p, &other).iter().any(|(k, _)| k.starts_with("esc09")));
    let mut fl1 = snapshot(FaultLevel::FL1);
    fl1.system = Some("crm".into());
    fl1.state = IncidentState::Closed;
    let end = plan_on(
        &IncidentEvent::StateChanged {
            from: IncidentState::Approved,
            to: IncidentState::Closed,
            at: sh(4, 15, 0),
        },
        &fl1,
        &p.escalation,
    );
    assert!(dues(&p, &end).is_empty());
}

#[test]
fn esc_12_agent_portal_major_fault_not_fixed_in_2_hours_needs_bulletins() {
    let p = pack();
    let mut snap = snapshot(FaultLevel::FL2);
    snap.system = Some("agent-portal".into());
    let cmds = plan_on(
        &IncidentEvent::LevelChanged {
            from: Some(FaultLevel::FL1),
            to: FaultLevel::FL2,
            at: sh(4, 9, 0),
        },
        &snap,
        &p.escalation,
    );
    let d = dues(&p, &cmds);
    assert!(
        d.contains(&("esc12_bulletin".to_string(), vec![sh(4, 11, 0)])),
        "{d:?}"
    );
    let published = plan_on(
        &IncidentEvent::BulletinPublished { at: sh(4, 10, 0) },
        &snap,
        &p.escalation,
    );
    assert!(published
        .iter()
        .any(|c| matches!(c, ClockCommand::Stop { key, .. } if key.clock_key == "esc12_bulletin")));
}

#[test]
fn esc_06_obligations_follow_the_affected_system_not_the_owning_department() {
    // The snapshot carries no owner at all: a fault owned by another room gets the same clocks and reports
    // as one of ours (ESC-01 (1) and ESC-04 for an FL1 here).
    let p = pack();
    let mut snap = snapshot(FaultLevel::FL1);
    snap.system = Some("billing".into());
    let cmds = plan_on(
        &IncidentEvent::LevelChanged {
            from: None,
            to: FaultLevel::FL1,
            at: sh(4, 9, 0),
        },
        &snap,
        &p.escalation,
    );
    assert!(dues(&p, &cmds).contains(&("esc04_fl1".to_string(), vec![sh(6, 9, 0)])));
    assert!(notifies(&cmds).iter().any(|(r, _)| r == "ESC-01"));
}

#[test]
fn escalation_pack_refuses_min_level_outside_resolved_and_bad_system_keys() {
    let errs = errors(load_with("escalation.toml", |c| {
        c.replace(
            r#"trigger = { on = "level_reached", level = "FL2", systems = ["crm"] }"#,
            r#"trigger = { on = "level_reached", level = "FL2", systems = ["CRM system"], min_level = "FL1" }"#,
        )
    }));
    assert!(
        errs.iter()
            .any(|e| e.contains("trigger.min_level") && e.contains("takes no")),
        "{errs:?}"
    );
    assert!(
        errs.iter().any(|e| e.contains("trigger.systems[0]")),
        "{errs:?}"
    );
    assert!(
        errs.iter().all(|e| e.starts_with("escalation.toml:")),
        "{errs:?}"
    );
}
