//! A problem's deadlines as durable clocks on SQLite and PostgreSQL (issue 8): started in the write of the step
//! that starts them (PRB-01/PRB-02 at the report, PRB-09/PRB-10 at the resolution, PRB-11 at the letter),
//! stopped by the step that satisfies them; a deadline passing unmet fires once — `clock.breached` on the
//! problem's history and the pack's `prb_deadline_breached` message to the coordinator — also after a restart.
//! And the PRB-09 monthly problem report e-mailed by a durable monthly timer.

use chrono::{Duration, TimeZone, Utc};
use tianshu_services::authz::Principal;
use tianshu_services::problems::{self as prb, clocks as pclocks, ProblemAction, ReportInput};
use tianshu_services::{scheduler, Platform};
use tianshu_testkit::backends;

use super::{monday_10, platform};

/// Monday 2024-03-04 09:00 Asia/Shanghai.
fn monday_9() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 4, 1, 0, 0).unwrap()
}

fn input(level: &str) -> ReportInput {
    ReportInput {
        title: "计费话单入库延迟".into(),
        level: Some(level.into()),
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

async fn act(p: &Platform, id: i64, a: ProblemAction) -> prb::ProblemView {
    let admin = Principal::cli_admin();
    let v = prb::get(p, &admin, id).await.unwrap();
    prb::act(p, &admin, id, v.problem.version, a).await.unwrap()
}

/// (key, state, breached) of every clock of the problem, oldest first.
async fn clocks(p: &Platform, id: i64) -> Vec<(String, String, bool)> {
    let v = prb::get(p, &Principal::cli_admin(), id).await.unwrap();
    v.clocks
        .iter()
        .map(|c| (c.key.clone(), c.state.clone(), c.breached_at.is_some()))
        .collect()
}

/// Templates and deadlines of the breach messages queued for the problem.
async fn breaches(p: &Platform, id: i64) -> Vec<String> {
    p.store
        .outbox_of("problem", &id.to_string())
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.template == "prb_deadline_breached")
        .map(|m| {
            let c: serde_json::Value = serde_json::from_str(&m.context).unwrap();
            c["deadline"].as_str().unwrap().to_string()
        })
        .collect()
}

fn c(key: &str, state: &str, breached: bool) -> (String, String, bool) {
    (key.into(), state.into(), breached)
}

#[tokio::test]
async fn prb_01_prb_02_report_clocks_breach_once_with_the_message_and_met_ones_never_fire() {
    for db in backends().await {
        let (p, clock) = platform(&db, monday_9()).await;
        let admin = Principal::cli_admin();
        let owner = scheduler::instance_id();
        // P1 at 09:00: response 09:10, resolution 11:00 (PRB-01), dispatch 12:00 (PRB-02); started with the report.
        let a = prb::report(&p, &admin, input("P1")).await.unwrap();
        let a_id = a.problem.id;
        let keys: Vec<&str> = a.clocks.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(
            keys,
            ["response", "dispatch", "resolution"],
            "{:?}",
            db.backend
        );
        for k in &a.clocks {
            let d = a.deadlines.iter().find(|d| d.kind == k.key).unwrap();
            assert_eq!(k.due_at, d.due, "clock and deadline agree: {}", k.key);
            assert_eq!(k.state, "running");
        }
        let pending = p
            .store
            .timers_of("problem", &a_id.to_string())
            .await
            .unwrap();
        assert_eq!(pending.iter().filter(|t| t.state == "pending").count(), 3);
        // P3 at 09:00, responded at 09:05: its response clock is met and never fires (due 09:30).
        let b = prb::report(&p, &admin, input("P3")).await.unwrap();
        let b_id = b.problem.id;
        clock.set(monday_9() + Duration::minutes(5));
        act(&p, b_id, ProblemAction::Respond).await;
        assert_eq!(clocks(&p, b_id).await[0], c("response", "met", false));

        // 09:10:01: A's response breaches, once.
        clock.set(monday_9() + Duration::minutes(10) + Duration::seconds(1));
        assert_eq!(scheduler::tick(&p, &owner, 50).await.unwrap(), 1);
        assert_eq!(
            scheduler::tick(&p, &owner, 50).await.unwrap(),
            0,
            "fires once"
        );
        assert_eq!(breaches(&p, a_id).await, ["response"]);
        let out = p
            .store
            .outbox_of("problem", &a_id.to_string())
            .await
            .unwrap();
        let m = out
            .iter()
            .find(|m| m.template == "prb_deadline_breached")
            .unwrap();
        assert!(
            m.recipients.contains("problem_coordinator"),
            "{}",
            m.recipients
        );
        assert_eq!(m.cause, "PRB-01:response");
        assert_eq!(m.state, "queued");
        assert!(m.context.contains("\"level\":\"P1\""), "{}", m.context);
        let v = prb::get(&p, &admin, a_id).await.unwrap();
        let e = v
            .events
            .iter()
            .find(|e| e.kind == "clock.breached")
            .unwrap();
        assert!(e.data.contains("\"deadline\":\"response\""), "{}", e.data);
        assert_eq!(e.actor, "system:scheduler");

        // 09:30:01: B's response was met, nothing fires.
        clock.set(monday_9() + Duration::minutes(30) + Duration::seconds(1));
        assert_eq!(scheduler::tick(&p, &owner, 50).await.unwrap(), 0);
        assert!(breaches(&p, b_id).await.is_empty());

        // 11:00:01: A's resolution breaches. 11:30 A is dispatched (in time for PRB-02; the response clock,
        // already breached, stops as breached).
        clock.set(monday_9() + Duration::hours(2) + Duration::seconds(1));
        assert_eq!(scheduler::tick(&p, &owner, 50).await.unwrap(), 1);
        clock.set(monday_9() + Duration::minutes(150));
        act(
            &p,
            a_id,
            ProblemAction::Dispatch {
                handler: "dba1".into(),
                vendor: None,
                needs_change: None,
            },
        )
        .await;
        // 12:00:01: B, never dispatched, breaches PRB-02; A's dispatch was met.
        clock.set(monday_9() + Duration::hours(3) + Duration::seconds(1));
        assert_eq!(scheduler::tick(&p, &owner, 50).await.unwrap(), 1);
        assert_eq!(breaches(&p, a_id).await, ["response", "resolution"]);
        assert_eq!(breaches(&p, b_id).await, ["dispatch"]);

        // Resolved at 12:30: the late resolution stops as breached; PRB-09/PRB-10 clocks start from it.
        clock.set(monday_9() + Duration::minutes(210));
        let v = act(
            &p,
            a_id,
            ProblemAction::Resolve {
                result: "已恢复".into(),
                method: "重建索引".into(),
                improvement: String::new(),
                needs_change: None,
            },
        )
        .await;
        assert_eq!(
            clocks(&p, a_id).await,
            [
                c("response", "breached", true),
                c("dispatch", "met", false),
                c("resolution", "breached", true),
                c("analysis_report", "running", false),
                c("review_meeting", "running", false),
                c("archive", "running", false),
            ]
        );
        for k in &v.clocks {
            let d = v.deadlines.iter().find(|d| d.kind == k.key).unwrap();
            assert_eq!(k.due_at, d.due, "clock and deadline agree: {}", k.key);
        }
        p.store.close().await;
    }
}

#[tokio::test]
async fn prb_09_prb_10_clocks_from_the_resolution_worked_example_25_met_ones_stay_silent() {
    for db in backends().await {
        let (p, clock) = platform(&db, monday_9()).await;
        let admin = Principal::cli_admin();
        let owner = scheduler::instance_id();
        let id = prb::report(&p, &admin, input("P2"))
            .await
            .unwrap()
            .problem
            .id;
        clock.set(monday_9() + Duration::minutes(5));
        // The coordinator resolves it directly at 09:05 (PRB-06): response, dispatch and resolution all met.
        let v = act(
            &p,
            id,
            ProblemAction::Resolve {
                result: "已恢复".into(),
                method: "切换备机".into(),
                improvement: String::new(),
                needs_change: None,
            },
        )
        .await;
        let end_of = |d: u32| {
            chrono_tz::Asia::Shanghai
                .with_ymd_and_hms(2024, 3, d, 23, 59, 59)
                .unwrap()
                .with_timezone(&Utc)
        };
        let due = |k: &str| v.clocks.iter().find(|c| c.key == k).unwrap().due_at;
        // Worked example 25: resolved Monday → analysis by Thursday, review meeting by the next Monday.
        assert_eq!(due("analysis_report"), end_of(7).timestamp_micros());
        assert_eq!(due("review_meeting"), end_of(11).timestamp_micros());
        assert_eq!(due("archive"), end_of(11).timestamp_micros());
        assert_eq!(
            clocks(&p, id).await[..3],
            [
                c("response", "met", false),
                c("dispatch", "met", false),
                c("resolution", "met", false)
            ]
        );
        // The analysis report on Wednesday: met, so Thursday passes silently.
        clock.set(end_of(6));
        act(
            &p,
            id,
            ProblemAction::Analysis {
                report: "主库IO抖动".into(),
            },
        )
        .await;
        clock.set(end_of(7) + Duration::seconds(1));
        assert_eq!(scheduler::tick(&p, &owner, 50).await.unwrap(), 0);
        assert!(breaches(&p, id).await.is_empty());
        // No review meeting and no hand-over by the next Monday: both breach, once each.
        clock.set(end_of(11) + Duration::seconds(1));
        assert_eq!(scheduler::tick(&p, &owner, 50).await.unwrap(), 2);
        assert_eq!(scheduler::tick(&p, &owner, 50).await.unwrap(), 0);
        let mut b = breaches(&p, id).await;
        b.sort();
        assert_eq!(b, ["archive", "review_meeting"]);
        let v = prb::get(&p, &admin, id).await.unwrap();
        let causes: Vec<String> = p
            .store
            .outbox_of("problem", &id.to_string())
            .await
            .unwrap()
            .into_iter()
            .filter(|m| m.template == "prb_deadline_breached")
            .map(|m| m.cause)
            .collect();
        assert!(
            causes.contains(&"PRB-09:review_meeting".to_string()),
            "{causes:?}"
        );
        assert!(causes.contains(&"PRB-10:archive".to_string()), "{causes:?}");
        assert_eq!(
            v.events
                .iter()
                .filter(|e| e.kind == "clock.breached")
                .count(),
            2
        );
        // The meeting held late: its clock stops as breached, not met.
        act(
            &p,
            id,
            ProblemAction::Review {
                minutes: "根因:磁盘老化".into(),
                actions: Vec::new(),
            },
        )
        .await;
        let all = clocks(&p, id).await;
        assert!(all.contains(&c("analysis_report", "met", false)), "{all:?}");
        assert!(
            all.contains(&c("review_meeting", "breached", true)),
            "{all:?}"
        );
        p.store.close().await;
    }
}

#[tokio::test]
async fn prb_11_reply_clock_runs_from_the_letter_a_new_letter_replaces_it_and_a_reply_stops_it() {
    for db in backends().await {
        let (p, clock) = platform(&db, monday_9()).await;
        let admin = Principal::cli_admin();
        let owner = scheduler::instance_id();
        let id = prb::report(&p, &admin, input("P4"))
            .await
            .unwrap()
            .problem
            .id;
        act(&p, id, ProblemAction::Respond).await;
        act(
            &p,
            id,
            ProblemAction::Dispatch {
                handler: "net1".into(),
                vendor: None,
                needs_change: None,
            },
        )
        .await;
        // A letter stating its own deadline: the clock falls due exactly then.
        let v = act(
            &p,
            id,
            ProblemAction::Letter {
                department: "网络部".into(),
                reply_due: Some("2024-03-05T18:00:00+08:00".into()),
            },
        )
        .await;
        let reply = v
            .clocks
            .iter()
            .find(|c| c.key == "department_reply")
            .unwrap();
        assert_eq!(reply.due_at, v.problem.reply_due.unwrap());
        assert_eq!(reply.rule, "PRB-11");
        // A second letter with the pack's default (5 working days): the first clock is withdrawn.
        clock.set(monday_9() + Duration::hours(1));
        let v = act(
            &p,
            id,
            ProblemAction::Letter {
                department: "网络部".into(),
                reply_due: None,
            },
        )
        .await;
        let replies: Vec<_> = v
            .clocks
            .iter()
            .filter(|c| c.key == "department_reply")
            .collect();
        assert_eq!(replies.len(), 2);
        assert_eq!(replies[0].state, "cancelled");
        assert_eq!(replies[1].state, "running");
        assert_eq!(replies[1].basis, "5wd");
        assert_eq!(replies[1].due_at, v.problem.reply_due.unwrap());
        // The first letter's deadline passes: nothing fires for it.
        clock.set(Utc.with_ymd_and_hms(2024, 3, 5, 10, 0, 1).unwrap());
        scheduler::tick(&p, &owner, 50).await.unwrap();
        assert!(!breaches(&p, id)
            .await
            .contains(&"department_reply".to_string()));
        // The second passes unanswered: one breach; the late reply stops it as breached.
        clock.set(
            chrono::DateTime::from_timestamp_micros(replies[1].due_at).unwrap()
                + Duration::seconds(1),
        );
        scheduler::tick(&p, &owner, 50).await.unwrap();
        assert_eq!(
            breaches(&p, id)
                .await
                .iter()
                .filter(|d| *d == "department_reply")
                .count(),
            1
        );
        act(
            &p,
            id,
            ProblemAction::Reply {
                reply: "已处理".into(),
            },
        )
        .await;
        let all = clocks(&p, id).await;
        assert_eq!(
            all.last().unwrap(),
            &c("department_reply", "breached", true)
        );
        p.store.close().await;
    }
}

#[tokio::test]
async fn prb_01_clocks_survive_a_crash_the_timer_rows_stay_pending_and_a_new_instance_fires_them() {
    for db in backends().await {
        let (p, _clock) = platform(&db, monday_9()).await;
        let id = prb::report(&p, &Principal::cli_admin(), input("P2"))
            .await
            .unwrap()
            .problem
            .id;
        // An instance leases the due response timer and dies before firing it (kill -9).
        let due = monday_9() + Duration::minutes(10) + Duration::seconds(1);
        let leased = p
            .store
            .claim_due_timers(
                "dead-instance",
                due.timestamp_micros(),
                scheduler::LEASE_US,
                10,
            )
            .await
            .unwrap();
        assert_eq!(leased.len(), 1);
        p.store.close().await;
        drop(p);

        // The restarted service (another platform on the same database) sees the rows still pending.
        let later = due + Duration::microseconds(scheduler::LEASE_US) + Duration::seconds(1);
        let (p, _clock) = platform(&db, later).await;
        let timers = p.store.timers_of("problem", &id.to_string()).await.unwrap();
        assert_eq!(
            timers.iter().filter(|t| t.state == "pending").count(),
            3,
            "{timers:?}"
        );
        let owner = scheduler::instance_id();
        assert_eq!(
            scheduler::tick(&p, &owner, 50).await.unwrap(),
            1,
            "the lease expired"
        );
        assert_eq!(scheduler::tick(&p, &owner, 50).await.unwrap(), 0);
        assert_eq!(breaches(&p, id).await, ["response"]);
        let timers = p.store.timers_of("problem", &id.to_string()).await.unwrap();
        let fired: Vec<_> = timers.iter().filter(|t| t.state == "fired").collect();
        assert_eq!(fired.len(), 1);
        assert_eq!(fired[0].fired_by.as_deref(), Some(owner.as_str()));
        p.store.close().await;
    }
}

#[tokio::test]
async fn prb_09_monthly_problem_report_mailed_by_a_durable_timer_once_and_rescheduled() {
    for db in backends().await {
        let (p, clock) = platform(&db, monday_10()).await;
        let admin = Principal::cli_admin();
        let mut form = input("P1");
        form.discovered_at = "2026-11-23T09:40:00+08:00".into();
        prb::report(&p, &admin, form.clone()).await.unwrap();
        form.level = Some("P3".into());
        form.category = "host".into();
        prb::report(&p, &admin, form).await.unwrap();
        // problem_levels.toml [monthly_report]: day 1 at 09:00 Asia/Shanghai → 2026-12-01 01:00 UTC.
        assert!(pclocks::ensure_scheduled(&p).await.unwrap().is_some());
        assert_eq!(
            pclocks::ensure_scheduled(&p).await.unwrap(),
            None,
            "one pending timer"
        );
        let dec_1 = Utc.with_ymd_and_hms(2026, 12, 1, 1, 0, 0).unwrap();
        let timers = p
            .store
            .timers_of("problem_report", "monthly")
            .await
            .unwrap();
        assert_eq!(timers.len(), 1);
        assert_eq!(timers[0].due_at, dec_1.timestamp_micros());

        let owner = scheduler::instance_id();
        clock.set(dec_1 - Duration::seconds(1));
        scheduler::tick(&p, &owner, 50).await.unwrap();
        assert!(p
            .store
            .outbox_of("problem_report", "2026-11")
            .await
            .unwrap()
            .is_empty());
        clock.set(dec_1);
        scheduler::tick(&p, &owner, 50).await.unwrap();
        scheduler::tick(&p, &owner, 50).await.unwrap();
        let out = p
            .store
            .outbox_of("problem_report", "2026-11")
            .await
            .unwrap();
        assert_eq!(out.len(), 1, "{out:?}");
        let m = &out[0];
        assert_eq!(m.template, "prb_monthly_report");
        assert_eq!(m.idempotency_key, "problem:monthly_report:2026-11");
        assert!(m.cause.starts_with("PRB-09"));
        assert!(
            m.recipients.contains("problem_coordinator")
                && m.recipients.contains("department_manager"),
            "{}",
            m.recipients
        );
        let ctx: serde_json::Value = serde_json::from_str(&m.context).unwrap();
        assert_eq!(ctx["total"], 2);
        assert_eq!(ctx["by_level"], "P1 1, P3 1");
        assert_eq!(ctx["by_category"], "database 1, host 1");
        // Neither was resolved by December: both are past a deadline.
        assert_eq!(ctx["overdue"], 2);
        assert_eq!(ctx["link"], "/api/v1/problems/monthly?month=2026-11");
        // The firing is recorded once, and next month's timer is pending.
        let ev = p
            .store
            .events_of("problem_report", "monthly")
            .await
            .unwrap();
        assert_eq!(ev.len(), 1);
        assert!(ev[0].timer_id.is_some());
        let timers = p
            .store
            .timers_of("problem_report", "monthly")
            .await
            .unwrap();
        let pending: Vec<_> = timers.iter().filter(|t| t.state == "pending").collect();
        assert_eq!(pending.len(), 1, "{timers:?}");
        assert_eq!(
            pending[0].due_at,
            Utc.with_ymd_and_hms(2027, 1, 1, 1, 0, 0)
                .unwrap()
                .timestamp_micros()
        );
        assert_eq!(pclocks::ensure_scheduled(&p).await.unwrap(), None);
        p.store.close().await;
    }
}

/// Meeting actions' reminder messages queued for meeting `mid`: (action id, cause).
async fn reminders(p: &Platform, mid: i64) -> Vec<(String, String)> {
    p.store
        .outbox_of(prb::meetings::KIND, &mid.to_string())
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.template == "prb_meeting_action_overdue")
        .map(|m| {
            let c: serde_json::Value = serde_json::from_str(&m.context).unwrap();
            assert!(
                m.recipients.contains("problem_coordinator"),
                "{}",
                m.recipients
            );
            (c["action_id"].as_str().unwrap().to_string(), m.cause)
        })
        .collect()
}

/// PRB-13 on both backends: an action of the monthly problem meeting still open at its due date is reminded
/// once through the outbox (the pack's `[meeting_reminder]` template to its roles) by a durable clock; an action
/// closed before its due date is never reminded; a restarted instance fires what is due and never repeats a
/// reminder already sent.
#[tokio::test]
async fn prb_13_open_meeting_action_past_due_is_reminded_once_closed_in_time_never_also_after_restart(
) {
    use tianshu_services::problems::meetings::{self, MeetingInput};
    for db in backends().await {
        let (p, clock) = platform(&db, monday_9()).await;
        let admin = Principal::cli_admin();
        let owner = scheduler::instance_id();
        let action = |text: &str, due: &str| prb::ActionInput {
            text: text.into(),
            owner: "张工".into(),
            due_at: due.into(),
        };
        // Held Monday 08:00; two actions due Monday 12:00, one due Tuesday 12:00.
        let m = meetings::record(
            &p,
            &admin,
            MeetingInput {
                held_at: "2024-03-04T08:00:00+08:00".into(),
                attendees: vec!["协调人".into(), "主机主管".into()],
                minutes: "讨论本月问题,提出改进措施".into(),
                actions: vec![
                    action("增加话单积压监控", "2024-03-04T12:00:00+08:00"),
                    action("修订入库作业手册", "2024-03-04T12:00:00+08:00"),
                    action("数据库巡检脚本", "2024-03-05T12:00:00+08:00"),
                ],
            },
        )
        .await
        .unwrap();
        let mid = m.id;
        let (a, b, late) = (&m.actions[0], &m.actions[1], &m.actions[2]);
        let pending = p
            .store
            .timers_of(meetings::KIND, &mid.to_string())
            .await
            .unwrap();
        assert_eq!(
            pending.iter().filter(|t| t.state == "pending").count(),
            3,
            "one reminder clock per action, {:?}",
            db.backend
        );

        // 10:00: B closed before its due date — its reminder is withdrawn.
        clock.set(monday_9() + Duration::hours(1));
        meetings::close_action(&p, &admin, mid, b.id, b.version, "已修订")
            .await
            .unwrap();

        // 12:00:01: A, still open, is reminded once; B never.
        clock.set(monday_9() + Duration::hours(3) + Duration::seconds(1));
        assert_eq!(scheduler::tick(&p, &owner, 50).await.unwrap(), 1);
        assert_eq!(scheduler::tick(&p, &owner, 50).await.unwrap(), 0, "once");
        assert_eq!(
            reminders(&p, mid).await,
            [(a.id.to_string(), format!("PRB-13:action:{}", a.id))]
        );
        let events = p
            .store
            .events_of(meetings::KIND, &mid.to_string())
            .await
            .unwrap();
        assert_eq!(
            events.iter().filter(|e| e.kind == "clock.breached").count(),
            1,
            "recorded once on the meeting's timeline"
        );
        let clocks = p
            .store
            .clocks_of(meetings::KIND, &mid.to_string())
            .await
            .unwrap();
        let state = |id: i64| {
            let k = clocks
                .iter()
                .find(|c| c.clock_key == meetings::reminder_key(id))
                .unwrap();
            (k.state.clone(), k.breached_at.is_some())
        };
        assert_eq!(state(b.id), ("met".to_string(), false));
        assert_eq!(state(a.id), ("running".to_string(), true));
        // A closed late afterwards: no second reminder.
        meetings::close_action(&p, &admin, mid, a.id, a.version, "监控已上线")
            .await
            .unwrap();
        p.store.close().await;
        drop(p);

        // Restarted on Wednesday: the Tuesday action is reminded, A is not reminded again.
        let (p, _clock) = platform(&db, monday_9() + Duration::days(2)).await;
        assert_eq!(scheduler::tick(&p, &owner, 50).await.unwrap(), 1);
        assert_eq!(scheduler::tick(&p, &owner, 50).await.unwrap(), 0);
        let got = reminders(&p, mid).await;
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(
            got.iter().filter(|(id, _)| *id == a.id.to_string()).count(),
            1
        );
        assert!(got.iter().any(|(id, _)| *id == late.id.to_string()));
        p.store.close().await;
    }
}
