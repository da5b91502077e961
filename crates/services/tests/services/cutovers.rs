// Cut-over requests in the service layer (issue 7 item 3): lead times refused with the rule (CHG-16, CHG-11),
// the downtime window (CHG-10), approver ≠ requester (CHG-14), approval silences the affected systems for the
// window and queues the customer notices by tier (CNT-01..03), the on-site start before any step (CHG-17),
// two-person execution log (CHG-18).

use chrono::{TimeZone, Utc};
use serde_json::Value;
use tianshu_services::authz::{AuthVia, Principal};
use tianshu_services::cutovers::{self, CutoverInput, LogInput, StartInput};
use tianshu_services::{demo, session, Platform, ServiceError};
use tianshu_store::alerts::MuteKind;
use tianshu_testkit::backends;

use super::platform;

fn local(day: u32, h: u32) -> chrono::DateTime<Utc> {
    chrono_tz::Asia::Shanghai
        .with_ymd_and_hms(2026, 12, day, h, 0, 0)
        .unwrap()
        .with_timezone(&Utc)
}

async fn principal(p: &Platform, username: &str) -> Principal {
    let u = p.store.user_by_username(username).await.unwrap().unwrap();
    session::principal_of_user(p, u.id, AuthVia::Cli)
        .await
        .unwrap()
}

fn input(start_day: u32) -> CutoverInput {
    CutoverInput {
        title: "CRM 数据库主机扩容".into(),
        kind: "hardware".into(),
        systems: vec!["crm".into()],
        major: false,
        emergency: false,
        starts_at: local(start_day, 0).to_rfc3339(),
        ends_at: local(start_day, 6).to_rfc3339(),
        downtime_from: Some(local(start_day, 2).to_rfc3339()),
        downtime_to: Some(local(start_day, 5).to_rfc3339()),
        plan: "停应用→扩容→启动".into(),
        rollback_plan: "回切旧主机".into(),
        checklist: "存储、网络、应用".into(),
        test_list: "开户、缴费、查询拨测".into(),
        people: "主办：演示工程师甲；配合：演示厂商乙".into(),
        impact: "凌晨 02:00–05:00 CRM 受理暂停".into(),
        circuits: vec!["GZ-MSTP-0001".into(), "GZ-MSTP-0002".into()],
        customer_tiers: vec!["diamond".into(), "silver".into(), "bronze".into()],
        data_case: None,
    }
}

fn invalid(e: ServiceError) -> (String, String) {
    match e {
        ServiceError::Invalid { field, message, .. } => (field, message),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn cutover_lead_time_approval_silence_notices_start_and_two_person_log_chg_10_chg_14_chg_16_chg_17_chg_18_cnt_01(
) {
    for db in backends().await {
        // Tuesday 2026-12-01 10:00.
        let (p, clock) = platform(&db, local(1, 10)).await;
        demo::load(&p).await.unwrap();
        let dba = principal(&p, "dba").await;
        // A cut-over on Thursday 12-03 applied on Tuesday: only Tuesday and Wednesday count, 3 WD are needed.
        let (field, msg) = invalid(cutovers::apply(&p, &dba, input(3)).await.unwrap_err());
        assert_eq!(field, "date");
        assert_eq!(msg, "CHG-16: applied 2 working days ahead, 3 required");
        // CHG-10: an outage 05:00–07:00 is outside 00:00–06:00.
        let mut late = input(10);
        late.ends_at = local(10, 8).to_rfc3339();
        late.downtime_from = Some(local(10, 5).to_rfc3339());
        late.downtime_to = Some(local(10, 7).to_rfc3339());
        assert!(invalid(cutovers::apply(&p, &dba, late).await.unwrap_err())
            .1
            .starts_with("CHG-10"));
        // CHG-16: a missing rollback plan is named.
        let mut no_rb = input(10);
        no_rb.rollback_plan = " ".into();
        assert_eq!(
            invalid(cutovers::apply(&p, &dba, no_rb).await.unwrap_err()).0,
            "rollback_plan"
        );

        // Thursday 12-10 00:00: well ahead.
        let c = cutovers::apply(&p, &dba, input(10)).await.unwrap();
        assert_eq!(c.state, "submitted");
        // CHG-14: the requester cannot approve their own application.
        let admin = principal(&p, "admin").await;
        let own = cutovers::apply(&p, &admin, input(10)).await.unwrap();
        let (field, msg) = invalid(
            cutovers::approve(&p, &admin, own.id, own.version)
                .await
                .unwrap_err(),
        );
        assert_eq!(field, "approver");
        assert!(msg.starts_with("CHG-14"), "{msg}");

        let mgr = principal(&p, "room-mgr").await;
        let a = cutovers::approve(&p, &mgr, c.id, c.version).await.unwrap();
        assert_eq!(a.state, "approved");
        // The affected system is silenced for exactly the window.
        let w = p
            .store
            .mute(MuteKind::Maintenance, a.maintenance_id.unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(w.matchers, "[\"system=crm\"]");
        assert_eq!((w.starts_at, w.ends_at), (c.starts_at, c.ends_at));
        // Notices by tier: diamond by Thursday 12-03 (5 WD), silver by Monday 12-07 (3 WD), bronze (account
        // manager) by Tuesday 12-08 (2 WD) — cutover day Thursday 12-10.
        let notices = a.notices.as_array().unwrap();
        let due = |tier: &str| {
            let n = notices.iter().find(|n| n["tier"] == tier).unwrap();
            let us = n["due_at"].as_i64().unwrap();
            chrono::DateTime::<Utc>::from_timestamp_micros(us)
                .unwrap()
                .with_timezone(&chrono_tz::Asia::Shanghai)
                .format("%m-%d")
                .to_string()
        };
        assert_eq!(due("diamond"), "12-03");
        assert_eq!(due("silver"), "12-07");
        assert_eq!(due("bronze"), "12-08");
        assert!(notices.iter().all(|n| n["late"] == Value::Bool(false)));
        let queued = p.store.write(move |c| Box::pin(async move {
            Ok(tianshu_store::on_conn!(c, c => sqlx::query_scalar::<_, String>(
                "SELECT context FROM outbox WHERE subject_kind = 'cutover' AND template = 'chg_customer_notice' ORDER BY id")
                .fetch_all(&mut **c).await)?)
        })).await.unwrap();
        assert_eq!(queued.len(), 3);
        assert!(queued[0].contains("GZ-MSTP-0001"), "{}", queued[0]);

        // CHG-18: an important step needs a second person.
        let step = |op: &str, sup: &str| LogInput {
            step: "切换存储".into(),
            important: true,
            operator: op.into(),
            supervisor: sup.into(),
            result: "正常".into(),
        };
        // CHG-17: no step before the on-site start.
        let (field, msg) = invalid(
            cutovers::log_step(&p, &dba, c.id, step("dba", "datafix"))
                .await
                .unwrap_err(),
        );
        assert_eq!(field, "state");
        assert!(msg.starts_with("CHG-17"), "{msg}");
        // The night of the cut-over (start Thursday 12-10 00:00): the lead arrived 23:50, ten minutes early.
        clock.set(local(10, 0) - chrono::Duration::minutes(5));
        let conditions = StartInput {
            kickoff_at: Some((local(9, 22)).to_rfc3339()),
            lead: "dba".into(),
            lead_qualified: true,
            arrived_at: Some((local(10, 0) - chrono::Duration::minutes(10)).to_rfc3339()),
            equipment_checked: true,
            host_present: true,
            departments_present: true,
            contractor_present: true,
            note: "三方到齐".into(),
        };
        let (field, msg) = invalid(
            cutovers::start(&p, &dba, c.id, conditions.clone())
                .await
                .unwrap_err(),
        );
        assert_eq!(field, "arrived_at");
        assert_eq!(
            msg,
            "CHG-17: the on-site lead arrived 10 minutes before the planned start, at least 15 required"
        );
        let mut no_contractor = conditions.clone();
        no_contractor.arrived_at =
            Some((local(10, 0) - chrono::Duration::minutes(20)).to_rfc3339());
        no_contractor.contractor_present = false;
        let (field, msg) = invalid(
            cutovers::start(&p, &dba, c.id, no_contractor.clone())
                .await
                .unwrap_err(),
        );
        assert_eq!(field, "contractor_present");
        assert!(msg.starts_with("CHG-17"), "{msg}");
        // An unknown lead is an unknown reference.
        let mut ghost = no_contractor.clone();
        ghost.contractor_present = true;
        ghost.lead = "nobody".into();
        assert!(matches!(
            cutovers::start(&p, &dba, c.id, ghost).await.unwrap_err(),
            ServiceError::UnknownReference { .. }
        ));
        let mut ok = no_contractor;
        ok.contractor_present = true;
        let s = cutovers::start(&p, &dba, c.id, ok.clone()).await.unwrap();
        assert_eq!(s.state, "started");
        let rec = s.start.as_ref().unwrap();
        assert_eq!((rec.lead.as_str(), rec.ordered_by.as_str()), ("dba", "dba"));
        assert_eq!(
            rec.arrived_at,
            (local(10, 0) - chrono::Duration::minutes(20)).timestamp_micros()
        );
        assert_eq!(cutovers::get(&p, &dba, c.id).await.unwrap().start, s.start);
        // Started once: a second order is refused.
        assert_eq!(
            invalid(cutovers::start(&p, &dba, c.id, ok).await.unwrap_err()).0,
            "state"
        );
        let (field, msg) = invalid(
            cutovers::log_step(&p, &dba, c.id, step("dba", "dba"))
                .await
                .unwrap_err(),
        );
        assert_eq!(field, "supervisor");
        assert!(msg.starts_with("CHG-18"));
        let l = cutovers::log_step(&p, &dba, c.id, step("dba", "datafix"))
            .await
            .unwrap();
        assert_eq!(l.state, "in_progress");
        assert_eq!(l.log.len(), 1);
        let done = cutovers::complete(&p, &dba, c.id).await.unwrap();
        assert_eq!(done.state, "completed");
    }
}

fn release(kind: &str, date: &str) -> tianshu_services::releases::ReleaseInput {
    tianshu_services::releases::ReleaseInput {
        title: format!("CRM {date} 版本"),
        kind: kind.into(),
        system_family: "crm".into(),
        date: date.into(),
        start: None,
        downtime_from: None,
        downtime_to: None,
        override_reason: None,
    }
}

#[tokio::test]
async fn release_calendar_gates_quota_and_window_worked_examples_19_20_chg_02_chg_03_chg_08_chg_10()
{
    use tianshu_services::releases;
    for db in backends().await {
        // Tuesday 2026-12-01 10:00.
        let (p, _clock) = platform(&db, local(1, 10)).await;
        demo::load(&p).await.unwrap();
        let dba = principal(&p, "dba").await;
        // Worked example 19: Thursday 12-10 → tests and review by Monday 12-07, notice by Tuesday 12-08, 23:00 start.
        let r = releases::plan(&p, &dba, release("routine", "2026-12-10"))
            .await
            .unwrap();
        let day = |us: i64| {
            chrono::DateTime::<Utc>::from_timestamp_micros(us)
                .unwrap()
                .with_timezone(&chrono_tz::Asia::Shanghai)
                .format("%m-%d %H:%M")
                .to_string()
        };
        let gate = |k: &str| {
            day(r
                .gates
                .as_array()
                .unwrap()
                .iter()
                .find(|g| g["key"] == k)
                .unwrap()["due_at"]
                .as_i64()
                .unwrap())
        };
        assert_eq!(gate("tests_done"), "12-07 23:59");
        assert_eq!(gate("readiness_review"), "12-07 23:59");
        assert_eq!(gate("pre_release_notice"), "12-08 23:59");
        assert_eq!(day(r.starts_at), "12-10 23:00");
        // A gate date in the past: an upgrade on Thursday 12-03 needed its tests done by Monday 11-30.
        let (field, msg) = invalid(
            releases::plan(&p, &dba, release("routine", "2026-12-03"))
                .await
                .unwrap_err(),
        );
        assert_eq!(field, "date");
        assert!(
            msg.starts_with("CHG-03") && msg.contains("already past"),
            "{msg}"
        );
        // CHG-09: a 21:00 start is refused.
        let mut early = release("routine", "2026-12-17");
        early.start = Some("21:00".into());
        assert!(invalid(releases::plan(&p, &dba, early).await.unwrap_err())
            .1
            .starts_with("CHG-09"));
        // Worked example 20: downtime 02:00–05:00 allowed, 05:00–07:00 refused.
        let mut ok = release("routine", "2026-12-17");
        ok.downtime_from = Some(local(18, 2).to_rfc3339());
        ok.downtime_to = Some(local(18, 5).to_rfc3339());
        releases::plan(&p, &dba, ok).await.unwrap();
        let mut bad = release("emergency", "2026-12-21");
        bad.downtime_from = Some(local(22, 5).to_rfc3339());
        bad.downtime_to = Some(local(22, 7).to_rfc3339());
        assert!(invalid(releases::plan(&p, &dba, bad).await.unwrap_err())
            .1
            .starts_with("CHG-10"));
        // CHG-01: a third routine release in December is refused.
        assert!(invalid(
            releases::plan(&p, &dba, release("routine", "2026-12-24"))
                .await
                .unwrap_err()
        )
        .1
        .starts_with("CHG-01"));
        // CHG-02: two emergency releases, the third blocked unless the department manager overrides with a reason.
        releases::plan(&p, &dba, release("emergency", "2026-12-14"))
            .await
            .unwrap();
        releases::plan(&p, &dba, release("emergency", "2026-12-15"))
            .await
            .unwrap();
        let (field, msg) = invalid(
            releases::plan(&p, &dba, release("emergency", "2026-12-16"))
                .await
                .unwrap_err(),
        );
        assert_eq!(field, "kind");
        assert!(msg.starts_with("CHG-02"), "{msg}");
        let mut own = release("emergency", "2026-12-16");
        own.override_reason = Some("计费差错必须本月修复".into());
        assert!(
            invalid(releases::plan(&p, &dba, own.clone()).await.unwrap_err())
                .1
                .starts_with("CHG-02")
        );
        let mgr = principal(&p, "dept-mgr").await;
        let third = releases::plan(&p, &mgr, own).await.unwrap();
        assert_eq!(third.override_by.as_deref(), Some("dept-mgr"));
        assert_eq!(
            third.override_reason.as_deref(),
            Some("计费差错必须本月修复")
        );
        let listed = releases::month(&p, &dba, "2026-12").await.unwrap();
        assert!(listed.len() >= 4);
    }
}

#[tokio::test]
async fn requirement_deadline_release_link_and_deemed_acceptance_req_01_chg_06() {
    use tianshu_services::releases;
    use tianshu_services::requirements::{self, RequirementAction, RequirementInput};
    let db = tianshu_testkit::TestDb::sqlite();
    // Tuesday 2026-12-01 10:00.
    let (p, clock) = platform(&db, local(1, 10)).await;
    demo::load(&p).await.unwrap();
    let dba = principal(&p, "dba").await;
    let r = requirements::register(
        &p,
        &dba,
        RequirementInput {
            title: "代理商门户新增宽带套餐".into(),
            requester: "prb-coord".into(),
            system: "agent_portal".into(),
        },
    )
    .await
    .unwrap();
    // REQ-01: 7 working days from Tuesday 12-01 → end of Thursday 12-10.
    let due = chrono::DateTime::<Utc>::from_timestamp_micros(r.analysis_due)
        .unwrap()
        .with_timezone(&chrono_tz::Asia::Shanghai);
    assert_eq!(due.format("%m-%d %H:%M").to_string(), "12-10 23:59");
    let act = |action: &str, version: i64, release_id: Option<i64>| RequirementAction {
        action: action.into(),
        version,
        release_id,
        note: None,
    };
    // Solution approved on Friday 12-04: Tue, Wed, Thu = 3 working days.
    clock.set(local(4, 10));
    let r = requirements::act(&p, &dba, r.id, act("solution_approved", r.version, None))
        .await
        .unwrap();
    assert_eq!(r.analysis_wd, Some(3));
    let rel = releases::plan(&p, &dba, release("routine", "2026-12-17"))
        .await
        .unwrap();
    let r = requirements::act(&p, &dba, r.id, act("link_release", r.version, Some(rel.id)))
        .await
        .unwrap();
    // Only the requester signs acceptance.
    let e = requirements::act(&p, &dba, r.id, act("accept", r.version, None))
        .await
        .unwrap_err();
    assert!(invalid(e).1.starts_with("CHG-06"));
    // Deemed acceptance is refused before the upgrade starts…
    let mgr = principal(&p, "room-mgr").await;
    let e = requirements::act(&p, &mgr, r.id, act("deem_accepted", r.version, None))
        .await
        .unwrap_err();
    assert!(invalid(e).1.starts_with("CHG-06"));
    // …and recorded explicitly once it has, when the requester did not take part.
    clock.set(local(18, 9));
    let r = requirements::act(&p, &mgr, r.id, act("deem_accepted", r.version, None))
        .await
        .unwrap();
    assert_eq!(r.acceptance.as_deref(), Some("deemed_accepted"));
    assert_eq!(r.accepted_by.as_deref(), Some("room-mgr"));
    assert!(
        r.acceptance_note.contains("prb-coord did not take part"),
        "{}",
        r.acceptance_note
    );
    let w = requirements::week(&p, &dba, "2026-12-02").await.unwrap();
    assert_eq!(w.week_of, "2026-11-30");
    assert_eq!(w.analysis_wd, vec![3]);
    assert!(!w.breach);
}

/// CHG-20 on SQLite and PostgreSQL: each data case of the pack gives its responsible party on the record —
/// requirement without development → branch, with development → provincial centre, fault instance-data repair →
/// branch, province-wide fault → central operations team, which must attach its rectification report before the
/// cut-over is completed. A data cut-over without a case, an unknown case and a case on another kind are refused.
#[tokio::test]
async fn data_cutover_ownership_by_case_and_the_rectification_report_chg_20() {
    for db in backends().await {
        let (p, clock) = platform(&db, local(1, 10)).await;
        demo::load(&p).await.unwrap();
        let dba = principal(&p, "dba").await;
        let data = |case: Option<&str>| {
            let mut i = input(10);
            i.kind = "data".into();
            i.title = format!("数据割接 {}", case.unwrap_or("-"));
            i.customer_tiers = Vec::new();
            i.data_case = case.map(str::to_string);
            i
        };
        for (case, responsible) in [
            ("requirement", "branch"),
            ("requirement_development", "provincial_centre"),
            ("fault_instance", "branch"),
            ("fault_province_wide", "central_ops"),
        ] {
            let c = cutovers::apply(&p, &dba, data(Some(case))).await.unwrap();
            assert_eq!(c.data_case.as_deref(), Some(case), "CHG-20 {case}");
            assert_eq!(c.responsible.as_deref(), Some(responsible), "CHG-20 {case}");
            let again = cutovers::get(&p, &dba, c.id).await.unwrap();
            assert_eq!(again.responsible.as_deref(), Some(responsible));
        }
        for (bad, want) in [
            (data(None), "a data cut-over names its case"),
            (
                data(Some("weekend_fix")),
                "'weekend_fix' is not a data case",
            ),
            (
                {
                    let mut i = input(10);
                    i.data_case = Some("requirement".into());
                    i
                },
                "only a data cut-over names a data case",
            ),
        ] {
            let (field, msg) = invalid(cutovers::apply(&p, &dba, bad).await.unwrap_err());
            assert_eq!(field, "data_case");
            assert!(msg.starts_with("CHG-20: ") && msg.contains(want), "{msg}");
        }

        let hw = cutovers::apply(&p, &dba, input(10)).await.unwrap();
        assert!(hw.data_case.is_none() && hw.responsible.is_none());
        // The province-wide fault: completed only with the central operations team's rectification report.
        let c = cutovers::apply(&p, &dba, data(Some("fault_province_wide")))
            .await
            .unwrap();
        let mgr = principal(&p, "room-mgr").await;
        cutovers::approve(&p, &mgr, c.id, c.version).await.unwrap();
        clock.set(local(10, 0) - chrono::Duration::minutes(5));
        cutovers::start(
            &p,
            &dba,
            c.id,
            StartInput {
                kickoff_at: Some(local(9, 22).to_rfc3339()),
                lead: "dba".into(),
                lead_qualified: true,
                arrived_at: Some((local(10, 0) - chrono::Duration::minutes(20)).to_rfc3339()),
                equipment_checked: true,
                host_present: true,
                departments_present: true,
                contractor_present: true,
                note: String::new(),
            },
        )
        .await
        .unwrap();
        cutovers::log_step(
            &p,
            &dba,
            c.id,
            LogInput {
                step: "批量修复实例数据".into(),
                important: true,
                operator: "dba".into(),
                supervisor: "datafix".into(),
                result: "正常".into(),
            },
        )
        .await
        .unwrap();
        let (field, msg) = invalid(cutovers::complete(&p, &dba, c.id).await.unwrap_err());
        assert_eq!(field, "rectification_report");
        assert!(
            msg.starts_with("CHG-20: ") && msg.contains("central operations team"),
            "{msg}"
        );
        assert_eq!(
            invalid(cutovers::rectify(&p, &dba, c.id, " ").await.unwrap_err()).0,
            "report"
        );
        let r = cutovers::rectify(
            &p,
            &dba,
            c.id,
            "原因：全省计费实例数据错配；应急：冻结出账；组织各分部批量修复。",
        )
        .await
        .unwrap();
        assert_eq!(r.rectification_by.as_deref(), Some("dba"));
        let done = cutovers::complete(&p, &dba, c.id).await.unwrap();
        assert_eq!(done.state, "completed");
        assert!(done.rectification_report.unwrap().contains("批量修复"));
        // Fixed once completed; a hardware cut-over has no report.
        assert_eq!(
            invalid(cutovers::rectify(&p, &dba, c.id, "补充").await.unwrap_err()).0,
            "state"
        );
        assert_eq!(
            invalid(
                cutovers::rectify(&p, &dba, hw.id, "报告")
                    .await
                    .unwrap_err()
            )
            .0,
            "data_case"
        );
        let audit = p.store.audit_recent(None, 200).await.unwrap();
        assert!(audit.iter().any(|e| e.action == "cutover.rectification"));
    }
}
