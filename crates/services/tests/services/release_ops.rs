// Release operations (issue 7 item 2, second increment): the go / no-go decision (CHG-04) silences the system
// family in the alert pipeline over the upgrade (CHG-09/10), queues the release announcement through the outbox
// (CHG-08) and creates the CHG-07 production verification checklist, the scenarios spread over the next branches
// of a durable rotation; verification is tracked to completion. Requirements cannot be linked to a frozen release
// (CHG-02). On SQLite and PostgreSQL.

use chrono::{TimeZone, Utc};
use tianshu_services::authz::{AuthVia, Principal};
use tianshu_services::releases::{
    self, DecisionInput, PrerequisiteInput, ReleaseInput, VerifyInput,
};
use tianshu_services::requirements::{self, RequirementAction, RequirementInput};
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

fn release(kind: &str, date: &str, family: &str) -> ReleaseInput {
    ReleaseInput {
        title: format!("{family} {date} 版本"),
        kind: kind.into(),
        system_family: family.into(),
        date: date.into(),
        start: None,
        downtime_from: None,
        downtime_to: None,
        override_reason: None,
    }
}

fn invalid(e: ServiceError) -> (String, String) {
    match e {
        ServiceError::Invalid { field, message, .. } => (field, message),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn go(version: i64) -> DecisionInput {
    DecisionInput {
        decision: "go".into(),
        version,
        note: String::new(),
    }
}

fn prerequisite(key: &str, held_at: Option<chrono::DateTime<Utc>>) -> PrerequisiteInput {
    PrerequisiteInput {
        key: key.into(),
        reference: format!("{key}：供应商交付编号 V-2026-12"),
        held_at: held_at.map(|t| t.to_rfc3339()),
        note: String::new(),
    }
}

/// Records what the default pack requires before a go decision: the two CHG-05 deliverables and the CHG-12
/// training, held at 09:00 on 12-01 (before every upgrade here, and before the tests' clock).
async fn deliver(p: &Platform, who: &Principal, id: i64) {
    for (key, held) in [
        ("change_description", None),
        ("factory_test_report", None),
        ("vendor_training", Some(local(1, 9))),
    ] {
        releases::record_prerequisite(p, who, id, prerequisite(key, held))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn go_is_refused_until_the_vendor_deliverables_and_training_are_recorded_chg_05_chg_12() {
    for db in backends().await {
        let (p, _clock) = platform(&db, local(1, 10)).await;
        demo::load(&p).await.unwrap();
        let dba = principal(&p, "dba").await;
        let mgr = principal(&p, "room-mgr").await;
        let r = releases::plan(&p, &dba, release("routine", "2026-12-10", "crm"))
            .await
            .unwrap();
        let d = releases::get(&p, &dba, r.id).await.unwrap();
        let keys: Vec<&str> = d.prerequisites.iter().map(|q| q.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "change_description",
                "factory_test_report",
                "vendor_training"
            ]
        );
        assert!(d.prerequisites.iter().all(|q| q.recorded.is_none()));
        assert!(d.allowed.iter().any(|a| a == "record_prerequisite"));
        // CHG-05: no go without the system change description, then without the factory test report.
        let (field, msg) = invalid(
            releases::decide(&p, &mgr, r.id, go(r.version))
                .await
                .unwrap_err(),
        );
        assert_eq!(field, "decision");
        assert!(
            msg.starts_with("CHG-05") && msg.contains("System change description"),
            "{msg}"
        );
        // Bad records are refused naming the field; nothing is recorded.
        let mut bad = prerequisite("change_description", None);
        bad.reference = "  ".into();
        let (field, msg) = invalid(
            releases::record_prerequisite(&p, &dba, r.id, bad)
                .await
                .unwrap_err(),
        );
        assert_eq!(field, "reference");
        assert!(msg.starts_with("CHG-05"), "{msg}");
        let (field, _) = invalid(
            releases::record_prerequisite(&p, &dba, r.id, prerequisite("acceptance_memo", None))
                .await
                .unwrap_err(),
        );
        assert_eq!(field, "key");
        releases::record_prerequisite(&p, &dba, r.id, prerequisite("change_description", None))
            .await
            .unwrap();
        let (_, msg) = invalid(
            releases::decide(&p, &mgr, r.id, go(r.version))
                .await
                .unwrap_err(),
        );
        assert!(
            msg.starts_with("CHG-05") && msg.contains("Factory test report"),
            "{msg}"
        );
        releases::record_prerequisite(&p, &dba, r.id, prerequisite("factory_test_report", None))
            .await
            .unwrap();
        // CHG-12: no go-live without the training; a training is recorded once held, and before the upgrade.
        let (field, msg) = invalid(
            releases::decide(&p, &mgr, r.id, go(r.version))
                .await
                .unwrap_err(),
        );
        assert_eq!(field, "decision");
        assert!(msg.starts_with("CHG-12"), "{msg}");
        for held in [None, Some(local(2, 10)), Some(local(10, 23))] {
            let (field, msg) = invalid(
                releases::record_prerequisite(
                    &p,
                    &dba,
                    r.id,
                    prerequisite("vendor_training", held),
                )
                .await
                .unwrap_err(),
            );
            assert_eq!(field, "held_at");
            assert!(msg.starts_with("CHG-12"), "{held:?}: {msg}");
        }
        let d = releases::record_prerequisite(
            &p,
            &dba,
            r.id,
            prerequisite("vendor_training", Some(local(1, 9))),
        )
        .await
        .unwrap();
        assert!(d.prerequisites.iter().all(|q| q.recorded.is_some()));
        let t = d.prerequisites[2].recorded.as_ref().unwrap();
        assert_eq!(
            (t.held_at, t.recorded_by.as_str()),
            (Some(local(1, 9).timestamp_micros()), "dba")
        );
        // Recording a key again replaces it (one record per key).
        let d =
            releases::record_prerequisite(&p, &dba, r.id, prerequisite("change_description", None))
                .await
                .unwrap();
        assert_eq!(p.store.release_prerequisites(r.id).await.unwrap().len(), 3);
        assert!(d.prerequisites[0].recorded.is_some());
        let d = releases::decide(&p, &mgr, r.id, go(r.version))
            .await
            .unwrap();
        assert_eq!(d.release.state, "go");
        // After the decision the records are closed.
        let (field, msg) = invalid(
            releases::record_prerequisite(&p, &dba, r.id, prerequisite("change_description", None))
                .await
                .unwrap_err(),
        );
        assert_eq!(field, "key");
        assert!(msg.starts_with("CHG-05"), "{msg}");
        let trail = p
            .store
            .audit_page(0, 1000, Some(("release", &r.id.to_string())))
            .await
            .unwrap();
        assert_eq!(
            trail
                .iter()
                .filter(|e| e.action == "release.prerequisite")
                .count(),
            4
        );
    }
}

#[tokio::test]
async fn go_decision_silences_announces_and_assigns_verification_in_rotation_chg_04_chg_07_chg_08()
{
    for db in backends().await {
        // Tuesday 2026-12-01 10:00.
        let (p, clock) = platform(&db, local(1, 10)).await;
        demo::load(&p).await.unwrap();
        let dba = principal(&p, "dba").await;
        let mgr = principal(&p, "room-mgr").await;
        let mut input = release("routine", "2026-12-10", "crm");
        input.downtime_from = Some(local(11, 1).to_rfc3339());
        input.downtime_to = Some(local(11, 4).to_rfc3339());
        let r = releases::plan(&p, &dba, input).await.unwrap();
        // Only an approver decides; the requester role cannot.
        assert!(matches!(
            releases::decide(&p, &dba, r.id, go(r.version)).await,
            Err(ServiceError::Forbidden(_))
        ));
        // CHG-04: a no-go states its reason.
        let (field, msg) = invalid(
            releases::decide(
                &p,
                &mgr,
                r.id,
                DecisionInput {
                    decision: "no_go".into(),
                    version: r.version,
                    note: " ".into(),
                },
            )
            .await
            .unwrap_err(),
        );
        assert_eq!(field, "note");
        assert!(msg.starts_with("CHG-04"), "{msg}");
        // A stale version is refused.
        assert!(matches!(
            releases::decide(&p, &mgr, r.id, go(r.version + 5)).await,
            Err(ServiceError::Stale(_))
        ));
        deliver(&p, &dba, r.id).await;
        let d = releases::decide(&p, &mgr, r.id, go(r.version))
            .await
            .unwrap();
        assert_eq!(d.release.state, "go");
        assert_eq!(d.release.decision_by.as_deref(), Some("room-mgr"));
        // CHG-09/10: system=crm silenced from the 23:00 start until the declared outage ends (04:00).
        let mid = d.release.maintenance_id.expect("maintenance window");
        let w = p
            .store
            .mute(MuteKind::Maintenance, mid)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(w.matchers, "[\"system=crm\"]");
        assert_eq!(w.starts_at, r.starts_at);
        assert_eq!(w.ends_at, local(11, 4).timestamp_micros());
        // CHG-08: one announcement queued to the pack's roles, due by the pre-release notice gate.
        let queued = p.store.write(move |c| Box::pin(async move {
            Ok(tianshu_store::on_conn!(c, c => sqlx::query_as::<_, (String, String)>(
                "SELECT context, recipients FROM outbox WHERE subject_kind = 'release' AND template = 'chg_release_notice' ORDER BY id")
                .fetch_all(&mut **c).await)?)
        })).await.unwrap();
        assert_eq!(queued.len(), 1);
        assert!(queued[0].0.contains("2026-12-08 23:59"), "{}", queued[0].0);
        assert!(queued[0].0.contains("2026-12-10 23:00"), "{}", queued[0].0);
        assert!(queued[0].1.contains("duty_officer"), "{}", queued[0].1);
        // CHG-07: 16 scenarios, 48.5 % of the 33-scenario catalogue, over the first two branches of the rotation.
        assert_eq!(d.verifications.len(), 16);
        assert!((d.coverage_pct - 48.5).abs() < 0.01, "{}", d.coverage_pct);
        let branches = |d: &releases::ReleaseDetail| {
            let mut b: Vec<String> = d.verifications.iter().map(|v| v.branch.clone()).collect();
            b.sort();
            b.dedup();
            b
        };
        assert_eq!(branches(&d), ["guangzhou", "shenzhen"]);
        assert_eq!(
            d.verifications
                .iter()
                .filter(|v| v.branch == "shenzhen")
                .count(),
            8
        );
        // The report is due one working day after the upgrade start (Friday 12-11, end of day).
        let due = chrono::DateTime::<Utc>::from_timestamp_micros(d.verifications[0].due_at)
            .unwrap()
            .with_timezone(&chrono_tz::Asia::Shanghai);
        assert_eq!(due.format("%m-%d").to_string(), "12-11");
        // The decision is taken once.
        let (field, msg) = invalid(
            releases::decide(&p, &mgr, r.id, go(d.release.version))
                .await
                .unwrap_err(),
        );
        assert_eq!(field, "decision");
        assert!(msg.starts_with("CHG-04"), "{msg}");
        // The next release takes the next two branches: the rotation is kept in the database.
        let r2 = releases::plan(&p, &dba, release("routine", "2026-12-17", "agent_portal"))
            .await
            .unwrap();
        deliver(&p, &dba, r2.id).await;
        let d2 = releases::decide(&p, &mgr, r2.id, go(r2.version))
            .await
            .unwrap();
        assert_eq!(branches(&d2), ["dongguan", "foshan"]);
        // No silence for agent_portal beyond start + 7 h when no outage is declared.
        let w2 = p
            .store
            .mute(MuteKind::Maintenance, d2.release.maintenance_id.unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(w2.ends_at - w2.starts_at, 7 * 3_600_000_000);

        // CHG-07: verification only after the upgrade has started.
        let verify = |s: &str, res: &str, note: &str| VerifyInput {
            scenario: s.into(),
            result: res.into(),
            note: note.into(),
        };
        let (field, msg) = invalid(
            releases::verify(&p, &dba, r.id, verify("prepaid_open", "passed", ""))
                .await
                .unwrap_err(),
        );
        assert_eq!(field, "scenario");
        assert!(msg.starts_with("CHG-07"), "{msg}");
        clock.set(local(11, 9));
        // A failure says what failed; an unknown scenario is named.
        let (field, msg) = invalid(
            releases::verify(&p, &dba, r.id, verify("prepaid_open", "failed", ""))
                .await
                .unwrap_err(),
        );
        assert_eq!((field.as_str(), msg.starts_with("CHG-07")), ("note", true));
        let (field, _) = invalid(
            releases::verify(&p, &dba, r.id, verify("no_such", "passed", ""))
                .await
                .unwrap_err(),
        );
        assert_eq!(field, "scenario");
        let keys: Vec<String> = d.verifications.iter().map(|v| v.scenario.clone()).collect();
        for k in &keys[..15] {
            let x = releases::verify(&p, &dba, r.id, verify(k, "passed", ""))
                .await
                .unwrap();
            assert_eq!(
                x.release.state, "go",
                "tracked until every scenario has a result"
            );
        }
        // Recording one twice is refused.
        assert!(
            releases::verify(&p, &dba, r.id, verify(&keys[0], "passed", ""))
                .await
                .is_err()
        );
        let last = releases::verify(&p, &dba, r.id, verify(&keys[15], "passed", ""))
            .await
            .unwrap();
        assert_eq!(last.release.state, "verified");
        assert!(last
            .verifications
            .iter()
            .all(|v| v.result.as_deref() == Some("passed")));
        // One failure → verification_failed once complete.
        clock.set(local(18, 9));
        for (i, k) in keys.iter().enumerate() {
            let (res, note) = if i == 3 {
                ("failed", "撤单后仍生成费用")
            } else {
                ("passed", "")
            };
            releases::verify(&p, &dba, r2.id, verify(k, res, note))
                .await
                .unwrap();
        }
        let d2 = releases::get(&p, &dba, r2.id).await.unwrap();
        assert_eq!(d2.release.state, "verification_failed");
    }
}

#[tokio::test]
async fn no_go_frees_the_quota_and_a_frozen_release_takes_no_new_requirement_chg_01_chg_02() {
    for db in backends().await {
        let (p, clock) = platform(&db, local(1, 10)).await;
        demo::load(&p).await.unwrap();
        let dba = principal(&p, "dba").await;
        let mgr = principal(&p, "room-mgr").await;
        let a = releases::plan(&p, &dba, release("routine", "2026-12-10", "crm"))
            .await
            .unwrap();
        releases::plan(&p, &dba, release("routine", "2026-12-17", "crm"))
            .await
            .unwrap();
        // CHG-01: the month is full…
        assert!(invalid(
            releases::plan(&p, &dba, release("routine", "2026-12-24", "crm"))
                .await
                .unwrap_err()
        )
        .1
        .starts_with("CHG-01"));
        // …until a no-go decision frees a place.
        let d = releases::decide(
            &p,
            &mgr,
            a.id,
            DecisionInput {
                decision: "no_go".into(),
                version: a.version,
                note: "功能测试未完成".into(),
            },
        )
        .await
        .unwrap();
        assert_eq!(d.release.state, "no_go");
        assert_eq!(d.release.decision_note, "功能测试未完成");
        assert!(d.verifications.is_empty() && d.release.maintenance_id.is_none());
        let c = releases::plan(&p, &dba, release("routine", "2026-12-24", "crm"))
            .await
            .unwrap();
        // CHG-02: items are swapped only before the code freeze (the tests_done gate, Monday 12-21 for 12-24).
        let q = requirements::register(
            &p,
            &dba,
            RequirementInput {
                title: "积分兑换页面调整".into(),
                requester: "prb-coord".into(),
                system: "crm".into(),
            },
        )
        .await
        .unwrap();
        clock.set(local(22, 9));
        let (field, msg) = invalid(
            requirements::act(
                &p,
                &dba,
                q.id,
                RequirementAction {
                    action: "link_release".into(),
                    version: q.version,
                    release_id: Some(c.id),
                    note: None,
                },
            )
            .await
            .unwrap_err(),
        );
        assert_eq!(field, "release_id");
        assert!(msg.starts_with("CHG-02") && msg.contains("frozen"), "{msg}");
    }
}
