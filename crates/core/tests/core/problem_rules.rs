//! Problem management against the real problem_levels.toml: PRB-04 categories, the PRB-12 form (level
//! mandatory), PRB-06 immediate report, worked example 25 (PRB-09 deadlines after resolution), PRB-10 archive,
//! PRB-11 reply deadline and what blocks closing.

use chrono::{DateTime, TimeZone, Utc};
use tianshu_core::policy::PolicyPack;
use tianshu_core::problem::{
    close_blockers, deadlines, immediate_report_roles, retention_until, validate_report,
    DeadlineKind, ProblemTimeline, ReportForm,
};
use tianshu_core::ProblemLevel;
use tianshu_workcal::{Holidays, WorkCalendar};

use super::policy_pack::{errors, load_with, pack};

fn office(p: &PolicyPack) -> WorkCalendar {
    WorkCalendar::new(p.calendars.get("office").unwrap(), Holidays::none()).unwrap()
}

/// Local Asia/Shanghai time; 2024-03-04 is a Monday.
fn sh(d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    chrono_tz::Asia::Shanghai
        .with_ymd_and_hms(2024, 3, d, h, mi, 0)
        .unwrap()
        .with_timezone(&Utc)
}

fn timeline(level: ProblemLevel) -> ProblemTimeline {
    ProblemTimeline {
        level,
        reported_at: sh(4, 9, 0),
        responded_at: None,
        dispatched_at: None,
        resolved_at: None,
        analysis_at: None,
        meeting_at: None,
        archived_at: None,
        letter: None,
        replied_at: None,
    }
}

#[test]
fn prb_04_exactly_nine_categories() {
    let p = pack();
    let keys: Vec<&str> = p
        .problem_levels
        .categories
        .iter()
        .map(|c| c.key.as_str())
        .collect();
    assert_eq!(
        keys,
        [
            "host",
            "database",
            "network_device",
            "storage_device",
            "system_software",
            "application_software",
            "transmission_line",
            "production_environment",
            "system_security"
        ]
    );
    assert_eq!(
        p.problem_levels.category("database").unwrap().name_zh,
        "数据库"
    );
}

#[test]
fn prb_12_report_form_level_is_mandatory_and_fields_are_named() {
    let p = pack();
    let now = sh(4, 10, 0);
    let empty = validate_report(&ReportForm::default(), &p.problem_levels, now);
    let fields: Vec<&str> = empty.iter().map(|e| e.field.as_str()).collect();
    for f in [
        "title",
        "source",
        "reporter",
        "symptom",
        "impact",
        "level",
        "category",
        "discovered_at",
    ] {
        assert!(fields.contains(&f), "{f} missing from {fields:?}");
    }
    let level = empty.iter().find(|e| e.field == "level").unwrap();
    assert!(level.message.starts_with("PRB-12"));
    let form = ReportForm {
        title: "计费话单入库延迟".into(),
        level: Some(ProblemLevel::P3),
        category: "database".into(),
        source: "值班发现".into(),
        discovered_at: Some(sh(4, 8, 40)),
        reported_at: Some(sh(4, 9, 0)),
        reporter: "duty01".into(),
        symptom: "话单入库延迟约20分钟".into(),
        impact: "无用户影响".into(),
        ..ReportForm::default()
    };
    assert_eq!(validate_report(&form, &p.problem_levels, now), vec![]);
    let bad = ReportForm {
        category: "plumbing".into(),
        discovered_at: Some(sh(4, 9, 30)),
        ..form
    };
    let errs = validate_report(&bad, &p.problem_levels, now);
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(errs[0].message.starts_with("PRB-04"));
    assert_eq!(errs[1].field, "discovered_at");
}

#[test]
fn prb_06_p1_and_p2_reported_to_the_department_manager_at_once() {
    let p = pack();
    for l in [ProblemLevel::P1, ProblemLevel::P2] {
        assert_eq!(
            immediate_report_roles(l, &p.problem_levels),
            ["department_manager"]
        );
    }
    for l in [ProblemLevel::P3, ProblemLevel::P4, ProblemLevel::P5] {
        assert!(immediate_report_roles(l, &p.problem_levels).is_empty());
    }
    let errs = errors(load_with("problem_levels.toml", |t| {
        t.replace(
            "roles = [\"department_manager\"]",
            "roles = [\"billing_boss\"]",
        )
    }));
    assert!(
        errs.iter()
            .any(|e| e.contains("immediate_report.roles[0]") && e.contains("billing_boss")),
        "{errs:?}"
    );
}

#[test]
fn worked_example_24_deadlines_on_the_calendar_prb_01_prb_02() {
    let p = pack();
    let cal = office(&p);
    let d = deadlines(&timeline(ProblemLevel::P3), &p.problem_levels, &cal).unwrap();
    let due = |k| d.iter().find(|x| x.kind == k).unwrap().due;
    assert_eq!(due(DeadlineKind::Response), sh(4, 9, 30));
    assert_eq!(due(DeadlineKind::Dispatch), sh(4, 12, 0));
    assert_eq!(due(DeadlineKind::Resolution), sh(4, 19, 0));
    assert_eq!(d.len(), 3, "nothing after resolution yet");
}

#[test]
fn worked_example_25_prb_09_analysis_by_thursday_review_by_next_monday() {
    let p = pack();
    let cal = office(&p);
    let mut t = timeline(ProblemLevel::P1);
    t.responded_at = Some(sh(4, 9, 5));
    t.dispatched_at = Some(sh(4, 9, 20));
    t.resolved_at = Some(sh(4, 10, 40));
    let d = deadlines(&t, &p.problem_levels, &cal).unwrap();
    let get = |k| d.iter().find(|x| x.kind == k).unwrap().clone();
    // Resolved Monday 4th → analysis report by Thursday 7th (3 days), review meeting by Monday 11th (a week).
    assert_eq!(
        get(DeadlineKind::AnalysisReport).due,
        sh(7, 23, 59) + chrono::Duration::seconds(59)
    );
    assert_eq!(get(DeadlineKind::AnalysisReport).rule, "PRB-09");
    assert_eq!(
        get(DeadlineKind::ReviewMeeting).due,
        sh(11, 23, 59) + chrono::Duration::seconds(59)
    );
    // PRB-10 Proposed default: hand-over within one week too.
    assert_eq!(
        get(DeadlineKind::Archive).due,
        sh(11, 23, 59) + chrono::Duration::seconds(59)
    );
    assert!(
        !get(DeadlineKind::Resolution).overdue(sh(20, 0, 0)),
        "resolved within 2 h"
    );
    assert!(get(DeadlineKind::AnalysisReport).overdue(sh(8, 0, 0)));
    // A P3 needs no review meeting.
    let mut t3 = t.clone();
    t3.level = ProblemLevel::P3;
    let d3 = deadlines(&t3, &p.problem_levels, &cal).unwrap();
    assert!(!d3.iter().any(|x| x.kind == DeadlineKind::ReviewMeeting));
}

#[test]
fn closing_needs_report_meeting_actions_and_the_other_departments_reply() {
    let p = pack();
    let mut t = timeline(ProblemLevel::P2);
    let b = close_blockers(&t, 0, &p.problem_levels);
    assert!(b.iter().any(|x| x.starts_with("PRB-08")));
    t.resolved_at = Some(sh(4, 11, 0));
    t.analysis_at = Some(sh(5, 11, 0));
    t.letter = Some((sh(4, 9, 30), sh(11, 18, 0)));
    let b = close_blockers(&t, 2, &p.problem_levels);
    assert_eq!(b.len(), 3, "{b:?}");
    assert!(b.iter().any(|x| x.contains("review meeting of a P2")));
    assert!(b.iter().any(|x| x.contains("2 review action(s)")));
    assert!(b.iter().any(|x| x.starts_with("PRB-11")));
    t.meeting_at = Some(sh(8, 15, 0));
    t.replied_at = Some(sh(8, 9, 0));
    assert!(close_blockers(&t, 0, &p.problem_levels).is_empty());
    // PRB-11 reply deadline is its own clock.
    let d = deadlines(&t, &p.problem_levels, &office(&p)).unwrap();
    let reply = d
        .iter()
        .find(|x| x.kind == DeadlineKind::DepartmentReply)
        .unwrap();
    assert_eq!(reply.rule, "PRB-11");
    assert!(!reply.overdue(sh(20, 0, 0)));
    // PRB-10: kept 3 years (Proposed default).
    assert_eq!(
        retention_until(sh(11, 10, 0), &p.problem_levels),
        chrono_tz::Asia::Shanghai
            .with_ymd_and_hms(2027, 3, 11, 10, 0, 0)
            .unwrap()
            .with_timezone(&Utc)
    );
}

#[test]
fn durable_clocks_start_the_deadlines_the_steps_start_prb_01_prb_02_prb_09_prb_10() {
    use tianshu_core::problem::{clocks_started_by, ClockStep};
    let p = pack();
    let cal = office(&p);
    let at_report = clocks_started_by(ClockStep::Report, ProblemLevel::P3, &p.problem_levels);
    let kinds: Vec<DeadlineKind> = at_report.iter().map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        [
            DeadlineKind::Response,
            DeadlineKind::Dispatch,
            DeadlineKind::Resolution
        ]
    );
    // The same bases as the deadlines shown (worked example 24).
    let shown = deadlines(&timeline(ProblemLevel::P3), &p.problem_levels, &cal).unwrap();
    for c in &at_report {
        let d = shown.iter().find(|d| d.kind == c.kind).unwrap();
        assert_eq!(cal.deadline(&c.basis, sh(4, 9, 0), &[]).unwrap(), d.due);
        assert_eq!(c.rule, d.rule);
    }
    let p1 = clocks_started_by(ClockStep::Resolution, ProblemLevel::P1, &p.problem_levels);
    let kinds: Vec<DeadlineKind> = p1.iter().map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        [
            DeadlineKind::AnalysisReport,
            DeadlineKind::ReviewMeeting,
            DeadlineKind::Archive
        ]
    );
    // PRB-09: the review meeting only for P1/P2.
    let p3 = clocks_started_by(ClockStep::Resolution, ProblemLevel::P3, &p.problem_levels);
    assert!(p3.iter().all(|c| c.kind != DeadlineKind::ReviewMeeting));
}

#[test]
fn breach_notice_and_monthly_report_are_checked_at_load_with_their_line() {
    let p = pack();
    assert_eq!(p.problem_levels.breach.template, "prb_deadline_breached");
    assert_eq!(p.problem_levels.breach.roles, ["problem_coordinator"]);
    let m = p.problem_levels.monthly_report.as_ref().unwrap();
    assert_eq!(
        (m.day, m.at.as_str(), m.rule.as_str()),
        (1, "09:00", "PRB-09")
    );

    let errs = errors(load_with("problem_levels.toml", |t| {
        t.replace(
            "template = \"prb_deadline_breached\"",
            "template = \"prb_nothing\"",
        )
        .replace(
            "roles = [\"problem_coordinator\"]",
            "roles = [\"chief_worrier\"]",
        )
        .replace("day = 1", "day = 31")
        .replace("at = \"09:00\"", "at = \"9 am\"")
    }));
    let has = |path: &str, msg: &str| {
        errs.iter()
            .any(|e| e.starts_with("problem_levels.toml:") && e.contains(path) && e.contains(msg))
    };
    assert!(has(":breach.template:", "prb_nothing"), "{errs:?}");
    assert!(has(":breach.roles[0]:", "chief_worrier"), "{errs:?}");
    assert!(has(":monthly_report.day:", "1..=28"), "{errs:?}");
    assert!(has(":monthly_report.at:", "HH:MM"), "{errs:?}");
    let errs = errors(load_with("problem_levels.toml", |t| {
        t.replace("roles = [\"problem_coordinator\"]", "roles = []")
    }));
    assert!(
        errs.iter().any(|e| e.contains(":breach.roles:")),
        "{errs:?}"
    );
}

#[test]
fn breach_and_monthly_messages_render_in_both_languages_prb_09() {
    use tianshu_core::notify::render;
    let p = pack();
    let t = p.notifications.template("prb_deadline_breached").unwrap();
    let ctx = serde_json::json!({"problem_id": "7", "level": "P1", "title": "话单入库延迟",
        "deadline": "analysis_report", "rule": "PRB-09", "due_at": "2024-03-07T15:59:59Z"});
    let zh = render(&t.zh, &ctx, &t.required).unwrap();
    assert!(
        zh.contains("P1问题7(话单入库延迟)的分析处理报告时限") && zh.contains("PRB-09"),
        "{zh}"
    );
    let en = render(&t.en, &ctx, &t.required).unwrap();
    assert!(
        en.contains("analysis report deadline of P1 problem 7"),
        "{en}"
    );
    let mut no_deadline = ctx.clone();
    no_deadline["deadline"] = serde_json::json!("");
    assert!(
        render(&t.zh, &no_deadline, &t.required).is_err(),
        "NTF-08: never an empty hole"
    );

    let t = p.notifications.template("prb_monthly_report").unwrap();
    let ctx = serde_json::json!({"month": "2026-11", "total": 2, "by_level": "P1 1, P3 1",
        "by_category": "database 2", "overdue": 1, "link": "/api/v1/problems/monthly?month=2026-11"});
    let zh = render(&t.zh, &ctx, &t.required).unwrap();
    assert!(zh.contains("2026-11问题管理月报:共报告问题2个"), "{zh}");
}

#[test]
fn prb_13_meeting_reminder_is_checked_at_load_and_renders_in_both_languages() {
    use tianshu_core::notify::render;
    let p = pack();
    let r = p.problem_levels.meeting_reminder.as_ref().unwrap();
    assert_eq!(
        (r.rule.as_str(), r.template.as_str()),
        ("PRB-13", "prb_meeting_action_overdue")
    );
    assert_eq!(r.roles, ["problem_coordinator"]);
    let errs = errors(load_with("problem_levels.toml", |t| {
        t.replace(
            "template = \"prb_meeting_action_overdue\"",
            "template = \"prb_meeting_nothing\"",
        )
        .replace("rule = \"PRB-13\"", "rule = \"prb13\"")
    }));
    let has = |path: &str, msg: &str| {
        errs.iter()
            .any(|e| e.starts_with("problem_levels.toml:") && e.contains(path) && e.contains(msg))
    };
    assert!(
        has(":meeting_reminder.template:", "prb_meeting_nothing"),
        "{errs:?}"
    );
    assert!(has(":meeting_reminder.rule:", ""), "{errs:?}");

    let t = p
        .notifications
        .template("prb_meeting_action_overdue")
        .unwrap();
    let ctx = serde_json::json!({"meeting_id": "3", "month": "2026-11", "action_id": "12",
        "text": "增加话单积压监控", "owner": "张工", "rule": "PRB-13", "due_at": "2026-11-30T04:00:00Z"});
    let zh = render(&t.zh, &ctx, &t.required).unwrap();
    assert!(
        zh.contains("2026-11月问题总结会确定的措施12") && zh.contains("PRB-13"),
        "{zh}"
    );
    let en = render(&t.en, &ctx, &t.required).unwrap();
    assert!(
        en.contains("Action 12 of the 2026-11 problem meeting"),
        "{en}"
    );
}
