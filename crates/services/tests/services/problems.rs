//! Problem use cases on SQLite and PostgreSQL: a P1 report queues the PRB-06 manager message in the same write,
//! the life cycle dispatch → resolve → analysis → review with actions → archive is enforced (PRB-09/PRB-10),
//! deadlines follow the calendar (worked example 25), PRB-11 letters, links, stale versions refused.

use chrono::{Duration, TimeZone, Utc};
use tianshu_core::Clock;
use tianshu_services::authz::Principal;
use tianshu_services::problems::{self as prb, ActionInput, ProblemAction, ReportInput};
use tianshu_services::ServiceError;
use tianshu_store::problems::ProblemFilter;
use tianshu_testkit::backends;

use super::platform;

/// Monday 2024-03-04 09:00 Asia/Shanghai.
fn monday_9() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 4, 1, 0, 0).unwrap()
}

fn input(level: Option<&str>) -> ReportInput {
    ReportInput {
        title: "计费话单入库延迟".into(),
        level: level.map(str::to_string),
        category: "database".into(),
        source: "值班发现".into(),
        discovered_at: "2024-03-04T08:40:00+08:00".into(),
        reported_at: None,
        symptom: "话单入库延迟约20分钟".into(),
        impact: "部分用户账单延迟".into(),
        on_site_data: String::new(),
        cause_analysis: String::new(),
        org_key: None,
    }
}

#[tokio::test]
async fn problem_life_cycle_with_immediate_report_deadlines_and_archive() {
    for db in backends().await {
        let (p, clock) = platform(&db, monday_9()).await;
        let admin = Principal::cli_admin();

        // PRB-12: the level is mandatory; PRB-04: the category must be one of nine.
        let e = prb::report(&p, &admin, input(None)).await.unwrap_err();
        assert!(
            matches!(&e, ServiceError::Invalid { field, .. } if field == "level"),
            "{e}"
        );
        let mut bad = input(Some("P3"));
        bad.category = "plumbing".into();
        let e = prb::report(&p, &admin, bad).await.unwrap_err();
        assert!(e.to_string().contains("PRB-04"), "{e}");
        assert!(p
            .store
            .problems_page(i64::MAX, 10, &ProblemFilter::default())
            .await
            .unwrap()
            .is_empty());

        // A P1: managers told at once through the outbox, in the same write (PRB-06).
        let v = prb::report(&p, &admin, input(Some("P1"))).await.unwrap();
        let id = v.problem.id;
        assert!(v.problem.managers_told_at.is_some(), "{:?}", db.backend);
        let out = p.store.outbox_of("problem", &id.to_string()).await.unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].template, "prb_major_problem");
        let due =
            |v: &prb::ProblemView, k: &str| v.deadlines.iter().find(|d| d.kind == k).map(|d| d.due);
        // PRB-01 P1: response 09:10, resolution 11:00; PRB-02 dispatch 12:00.
        assert_eq!(
            due(&v, "response"),
            Some((monday_9() + Duration::minutes(10)).timestamp_micros())
        );
        assert_eq!(
            due(&v, "resolution"),
            Some((monday_9() + Duration::hours(2)).timestamp_micros())
        );
        assert_eq!(
            due(&v, "dispatch"),
            Some((monday_9() + Duration::hours(3)).timestamp_micros())
        );

        // A P3 tells nobody.
        let v3 = prb::report(&p, &admin, input(Some("P3"))).await.unwrap();
        assert!(v3.problem.managers_told_at.is_none());
        assert!(p
            .store
            .outbox_of("problem", &v3.problem.id.to_string())
            .await
            .unwrap()
            .is_empty());

        clock.advance(Duration::minutes(5));
        let v = prb::act(
            &p,
            &admin,
            id,
            v.problem.version,
            ProblemAction::Dispatch {
                handler: "dba1".into(),
                vendor: None,
                needs_change: None,
            },
        )
        .await
        .unwrap();
        assert_eq!(v.problem.state, "dispatched");
        // A stale version is refused.
        let e = prb::act(&p, &admin, id, 1, ProblemAction::Respond)
            .await
            .unwrap_err();
        assert!(matches!(e, ServiceError::Stale(_)), "{e}");
        // PRB-09 steps before resolution are refused.
        let e = prb::act(
            &p,
            &admin,
            id,
            v.problem.version,
            ProblemAction::Analysis { report: "x".into() },
        )
        .await
        .unwrap_err();
        assert!(matches!(e, ServiceError::Conflict { .. }), "{e}");

        clock.advance(Duration::minutes(95));
        let v = prb::act(
            &p,
            &admin,
            id,
            v.problem.version,
            ProblemAction::Resolve {
                result: "已恢复".into(),
                method: "重建索引".into(),
                improvement: "加监控".into(),
                needs_change: None,
            },
        )
        .await
        .unwrap();
        assert_eq!(v.problem.state, "resolved");
        // Worked example 25: resolved Monday → analysis by Thursday 23:59:59, review by next Monday 23:59:59.
        let end_of = |d: u32| {
            chrono_tz::Asia::Shanghai
                .with_ymd_and_hms(2024, 3, d, 23, 59, 59)
                .unwrap()
                .with_timezone(&Utc)
                .timestamp_micros()
        };
        assert_eq!(due(&v, "analysis_report"), Some(end_of(7)));
        assert_eq!(due(&v, "review_meeting"), Some(end_of(11)));
        assert!(v.deadlines.iter().all(|d| !d.overdue), "{:?}", v.deadlines);

        // Archive refused until the PRB-09 report, the meeting, its actions and the PRB-11 reply are done.
        let e = prb::act(&p, &admin, id, v.problem.version, ProblemAction::Archive)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("PRB-09"), "{e}");
        let v = prb::act(
            &p,
            &admin,
            id,
            v.problem.version,
            ProblemAction::Analysis {
                report: "索引失效".into(),
            },
        )
        .await
        .unwrap();
        let v = prb::act(
            &p,
            &admin,
            id,
            v.problem.version,
            ProblemAction::Review {
                minutes: "根因:统计信息过期".into(),
                actions: vec![ActionInput {
                    text: "每周更新统计信息".into(),
                    owner: "dba1".into(),
                    due_at: "2024-03-15T18:00:00+08:00".into(),
                }],
            },
        )
        .await
        .unwrap();
        assert_eq!(v.actions.len(), 1);
        let v = prb::act(
            &p,
            &admin,
            id,
            v.problem.version,
            ProblemAction::Letter {
                department: "网络部".into(),
                reply_due: None,
            },
        )
        .await
        .unwrap();
        assert!(v
            .deadlines
            .iter()
            .any(|d| d.kind == "department_reply" && d.rule == "PRB-11"));
        let v = prb::act(
            &p,
            &admin,
            id,
            v.problem.version,
            ProblemAction::Link {
                kind: "incident".into(),
                target: "42".into(),
            },
        )
        .await
        .unwrap();
        assert_eq!(v.links.len(), 1);
        let e = prb::act(&p, &admin, id, v.problem.version, ProblemAction::Archive)
            .await
            .unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("action(s) still open") && msg.contains("PRB-11"),
            "{msg}"
        );
        let a = v.actions[0].clone();
        let v = prb::act(
            &p,
            &admin,
            id,
            v.problem.version,
            ProblemAction::CloseAction {
                action_id: a.id,
                action_version: a.version,
                outcome: "已落实".into(),
            },
        )
        .await
        .unwrap();
        let v = prb::act(
            &p,
            &admin,
            id,
            v.problem.version,
            ProblemAction::Reply {
                reply: "已确认解决".into(),
            },
        )
        .await
        .unwrap();
        assert!(v.close_blockers.is_empty(), "{:?}", v.close_blockers);
        let v = prb::act(&p, &admin, id, v.problem.version, ProblemAction::Archive)
            .await
            .unwrap();
        assert_eq!(v.problem.state, "closed");
        assert!(v.problem.retain_until.unwrap() > clock.now().timestamp_micros());
        let kinds: Vec<&str> = v.events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "reported",
                "managers_told",
                "dispatched",
                "resolved",
                "analysis",
                "review_meeting",
                "letter",
                "linked",
                "action_closed",
                "reply",
                "archived"
            ]
        );
        let items = prb::list(
            &p,
            &admin,
            ProblemFilter {
                state: Some("closed".into()),
                ..ProblemFilter::default()
            },
            None,
            50,
        )
        .await
        .unwrap();
        assert_eq!(items.len(), 1);
    }
}
