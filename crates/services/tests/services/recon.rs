//! Reconciliation on the server, SQLite and PostgreSQL: a run stores its inputs' fingerprints, counts and a
//! sample; a difference batch opens a work item whose reply and fix deadlines are 2 and 10 working days on the
//! clocks (REC-07, worked example 17); the scheduled job runs once when its files are in the inbox, also with two
//! instances ticking at once; a missing file raises one REC-08 alert at the deadline, resolved when it arrives
//! late; incremental runs compare only the keys changed since the previous run.

use chrono::{TimeZone, Utc};
use tianshu_services::authz::Principal;
use tianshu_services::recon::{self, schedule, ItemAction, RunNowInput};
use tianshu_services::{scheduler, Platform, ServiceError};
use tianshu_testkit::backends;

use super::platform;

fn write(p: &Platform, rel: &str, text: &str) {
    let path = p.recon.inbox().join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

const LEFT: &str = "customer_id,name,status\nC1,甲,A\nC2,乙,A\nC3,丙,A\nC4,丁,A\n";
const RIGHT: &str = "customer_id,name,status\nC1,甲,A\nC2,乙,B\nC3,丙,A\nC5,戊,A\n";

fn local_date(p: &Platform, us: i64) -> String {
    tianshu_store::time::from_micros(us)
        .with_timezone(&p.time_zone())
        .format("%Y-%m-%d %a")
        .to_string()
}

#[tokio::test]
async fn a_run_stores_counts_sample_and_opens_a_work_item_with_rec07_deadlines() {
    for db in backends().await {
        // Monday 2026-11-23 10:00 Asia/Shanghai.
        let (p, clock) = platform(&db, super::monday_10()).await;
        let admin = Principal::cli_admin();
        write(&p, "a/left.csv", LEFT);
        write(&p, "a/right.csv", RIGHT);
        let input = RunNowInput {
            left: Some("a/left.csv".into()),
            right: Some("a/right.csv".into()),
            key: Some(vec!["customer_id".into()]),
            ..Default::default()
        };
        let run = recon::run_now(&p, &admin, input.clone()).await.unwrap();
        assert_eq!(run.status, "succeeded", "{:?}", run.error);
        assert_eq!(
            (run.only_left, run.only_right, run.changed, run.identical),
            (Some(1), Some(1), Some(1), Some(2))
        );
        assert_eq!(run.consistency, Some(0.4));
        assert_eq!(run.left_size, LEFT.len() as i64);
        assert_eq!(run.left_sha256.len(), 64);
        assert_ne!(run.left_sha256, run.right_sha256);
        let v = recon::run(&p, &admin, run.id).await.unwrap();
        assert_eq!(v.per_column.get("status"), Some(&1));
        assert_eq!(v.per_column.get("name"), Some(&0));
        assert_eq!(v.meets_target, Some(false));
        let page = recon::sample(&p, &admin, run.id, None, 0, 10)
            .await
            .unwrap();
        assert_eq!(page.total, 3);
        let changed = page.items.iter().find(|d| d.kind == "changed").unwrap();
        assert_eq!(
            (
                changed.key.as_str(),
                changed.column.as_deref(),
                changed.left.as_deref(),
                changed.right.as_deref()
            ),
            ("C2", Some("status"), Some("A"), Some("B"))
        );
        let (name, csv) = recon::details(&p, &admin, run.id, recon::DetailsFormat::Csv)
            .await
            .unwrap();
        assert_eq!(name, format!("recon-run-{}.csv", run.id));
        let rows = recon::parse_details_csv(&csv);
        assert_eq!(rows.len(), 3, "{}", String::from_utf8_lossy(&csv));
        let (_, xlsx) = recon::details(&p, &admin, run.id, recon::DetailsFormat::Xlsx)
            .await
            .unwrap();
        assert!(xlsx.starts_with(b"PK"), "an XLSX is a zip");

        // REC-07: Monday's batch → reply by Wednesday, fix by Monday two weeks later (office calendar).
        let item = v.item.expect("a work item for the difference batch");
        assert_eq!(item.differences, 3);
        assert_eq!(local_date(&p, item.reply_due), "2026-11-25 Wed");
        assert_eq!(local_date(&p, item.fix_due), "2026-12-07 Mon");

        // Close before the fix is refused with what is allowed; a stale version is refused.
        let e = recon::act(&p, &admin, item.id, ItemAction::Close { version: 1 })
            .await
            .unwrap_err();
        assert!(
            matches!(&e, ServiceError::Transition { allowed, .. } if allowed == &["reply", "fix"]),
            "{e:?}"
        );
        let e = recon::act(
            &p,
            &admin,
            item.id,
            ItemAction::Reply {
                version: 1,
                text: "  ".into(),
            },
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&e, ServiceError::Invalid { field, .. } if field == "text"),
            "{e:?}"
        );
        clock.advance(chrono::Duration::days(1));
        let r = recon::act(
            &p,
            &admin,
            item.id,
            ItemAction::Reply {
                version: 1,
                text: "省端状态同步延迟".into(),
            },
        )
        .await
        .unwrap();
        assert_eq!((r.item.state.as_str(), r.reply_overdue), ("replied", false));
        let e = recon::act(
            &p,
            &admin,
            item.id,
            ItemAction::Fix {
                version: 1,
                text: "已修正".into(),
            },
        )
        .await
        .unwrap_err();
        assert!(matches!(e, ServiceError::Stale(_)), "{e:?}");
        // Fixed after the deadline: recorded as overdue, the clock breached.
        clock.set(Utc.with_ymd_and_hms(2026, 12, 8, 2, 0, 0).unwrap());
        // The scheduler tells the pack's roles once of the passed fix deadline; the reply was on time,
        // so its clock (stopped) sends nothing.
        scheduler::tick(&p, "t", 50).await.unwrap();
        scheduler::tick(&p, "t", 50).await.unwrap();
        let out = p
            .store
            .outbox_of(recon::ITEM_KIND, &run.id.to_string())
            .await
            .unwrap();
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].template, "rec_item_overdue");
        assert!(out[0].cause.starts_with("REC-07"), "{}", out[0].cause);
        assert!(
            out[0].context.contains("\"stage_en\":\"fix\"")
                && out[0].context.contains(&format!("/recon/runs/{}", run.id)),
            "{}",
            out[0].context
        );
        assert!(
            out[0].recipients.contains("\"dba\"") && out[0].recipients.contains("\"room_manager\""),
            "{}",
            out[0].recipients
        );
        let pol = p.policy.current();
        let t = pol.pack.notifications.template("rec_item_overdue").unwrap();
        let ctx: serde_json::Value = serde_json::from_str(&out[0].context).unwrap();
        let text = tianshu_core::notify::render(&t.zh, &ctx, &t.required).unwrap();
        assert!(text.contains("3条差异已超过处理时限(REC-07"), "{text}");
        let f = recon::act(
            &p,
            &admin,
            item.id,
            ItemAction::Fix {
                version: 2,
                text: "已修正".into(),
            },
        )
        .await
        .unwrap();
        assert_eq!((f.item.state.as_str(), f.fix_overdue), ("fixed", true));
        let c = recon::act(&p, &admin, item.id, ItemAction::Close { version: 3 })
            .await
            .unwrap();
        assert_eq!(c.item.state, "closed");
        let clocks = p
            .store
            .clocks_of(recon::ITEM_KIND, &run.id.to_string())
            .await
            .unwrap();
        let state = |k: &str| {
            clocks
                .iter()
                .find(|c| c.clock_key == k)
                .map(|c| c.state.clone())
        };
        assert_eq!(state(recon::REPLY_KEY).as_deref(), Some("met"));
        assert_eq!(state(recon::FIX_KEY).as_deref(), Some("breached"));

        // Equal files: no work item.
        let same = RunNowInput {
            right: Some("a/left.csv".into()),
            ..input.clone()
        };
        let r = recon::run_now(&p, &admin, same).await.unwrap();
        assert_eq!((r.differences, r.consistency), (0, Some(1.0)));
        assert!(p.store.recon_item_of_run(r.id).await.unwrap().is_none());
    }
}

#[tokio::test]
async fn bad_requests_are_refused_with_the_field_and_bad_input_fails_the_run_with_file_and_line() {
    for db in backends().await {
        let (p, _clock) = platform(&db, super::monday_10()).await;
        let admin = Principal::cli_admin();
        write(&p, "b/left.csv", LEFT);
        write(&p, "b/ragged.csv", "customer_id,name,status\nC1,甲\n");
        let base = RunNowInput {
            left: Some("b/left.csv".into()),
            right: Some("b/left.csv".into()),
            key: Some(vec!["customer_id".into()]),
            ..Default::default()
        };
        for (input, field) in [
            (
                RunNowInput {
                    left: Some("../etc/passwd".into()),
                    ..base.clone()
                },
                "left",
            ),
            (
                RunNowInput {
                    right: Some("/etc/passwd".into()),
                    ..base.clone()
                },
                "right",
            ),
            (
                RunNowInput {
                    right: Some("b/none.csv".into()),
                    ..base.clone()
                },
                "right",
            ),
            (
                RunNowInput {
                    key: Some(vec![]),
                    ..base.clone()
                },
                "key",
            ),
            (
                RunNowInput {
                    delimiter: Some("||".into()),
                    ..base.clone()
                },
                "delimiter",
            ),
            (
                RunNowInput {
                    encoding: Some("latin1".into()),
                    ..base.clone()
                },
                "encoding",
            ),
            (
                RunNowInput {
                    date: Some("21/11/2026".into()),
                    ..base.clone()
                },
                "date",
            ),
        ] {
            let e = recon::run_now(&p, &admin, input).await.unwrap_err();
            assert_eq!(e.field(), Some(field), "{e:?}");
        }
        let e = recon::run_now(
            &p,
            &admin,
            RunNowInput {
                job: Some("nope".into()),
                ..base.clone()
            },
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&e, ServiceError::UnknownReference { field, .. } if field == "job"),
            "{e:?}"
        );
        assert!(
            p.store
                .recon_runs(None, i64::MAX, 10)
                .await
                .unwrap()
                .is_empty(),
            "nothing stored"
        );

        let r = recon::run_now(
            &p,
            &admin,
            RunNowInput {
                right: Some("b/ragged.csv".into()),
                ..base
            },
        )
        .await
        .unwrap();
        assert_eq!(r.status, "failed");
        let err = r.error.unwrap();
        assert!(err.contains("ragged.csv:2"), "{err}");
        assert!(r.details_path.is_none());

        let mut viewer = Principal::cli_admin();
        viewer
            .permissions
            .remove(&tianshu_core::Permission::ReconRun);
        let e = recon::upload(&p, &viewer, "x.csv", b"a\n1\n")
            .await
            .unwrap_err();
        assert!(matches!(e, ServiceError::Forbidden(_)), "{e:?}");
        let e = recon::upload(&p, &admin, "../x.csv", b"a\n1\n")
            .await
            .unwrap_err();
        assert_eq!(e.field(), Some("name"));
        let path = recon::upload(&p, &admin, "上传.csv", LEFT.as_bytes())
            .await
            .unwrap();
        assert!(
            path.starts_with("uploads/") && path.ends_with("/上传.csv"),
            "{path}"
        );
        assert_eq!(
            std::fs::read_to_string(p.recon.inbox().join(&path)).unwrap(),
            LEFT
        );
    }
}

#[tokio::test]
async fn scheduled_job_alerts_at_the_upload_deadline_and_runs_once_when_the_files_arrive() {
    for db in backends().await {
        // Saturday 2026-11-21 08:30 Asia/Shanghai: REC-01, REC-02 and REC-04 are due (worked example 15).
        let (p, clock) = platform(&db, Utc.with_ymd_and_hms(2026, 11, 21, 0, 30, 0).unwrap()).await;
        let out = schedule::tick(&p).await.unwrap();
        assert_eq!(
            out,
            schedule::TickOutcome::default(),
            "before 09:00: nothing to do"
        );
        let day = p
            .store
            .recon_day("switchboard_customers_full", "2026-11-21")
            .await
            .unwrap()
            .unwrap();
        assert_eq!((day.state.as_str(), day.alerted), ("waiting", 0));
        assert!(
            p.store
                .recon_day("cdma_user_status_full", "2026-11-21")
                .await
                .unwrap()
                .is_none(),
            "not due on 21"
        );

        // 09:00: no file → one alert per due job, once.
        clock.set(Utc.with_ymd_and_hms(2026, 11, 21, 1, 0, 0).unwrap());
        let out = schedule::tick(&p).await.unwrap();
        assert_eq!(
            out.alerted,
            vec![
                "switchboard_customers_full".to_string(),
                "group_crm_hq_billing_full".into(),
                "two_level_customers_incremental".into()
            ]
        );
        let key = schedule::alert_key("switchboard_customers_full", "2026-11-21");
        let alert = p
            .store
            .alert_by_key(&key)
            .await
            .unwrap()
            .expect("REC-08 alert");
        assert_eq!(alert.state, "firing");
        assert!(alert.summary.contains("REC-08"), "{}", alert.summary);
        assert!(
            schedule::tick(&p).await.unwrap().alerted.is_empty(),
            "alerted once"
        );

        // 09:05: the files arrive (worked example 16: late); two instances tick at once, one runs it.
        clock.set(Utc.with_ymd_and_hms(2026, 11, 21, 1, 5, 0).unwrap());
        write(
            &p,
            "group/switchboard_customers_20261121.csv",
            "customer_id,status\nC1,A\nC2,A\n",
        );
        write(
            &p,
            "province/switchboard_customers_20261121.csv",
            "customer_id,status\nC1,A\nC2,B\n",
        );
        let other = Platform::new(p.store.clone(), p.policy.clone(), p.clock.clone());
        other
            .recon
            .set_base(p.recon.inbox().parent().unwrap().to_path_buf());
        let (a, b) = tokio::join!(schedule::tick(&p), schedule::tick(&other));
        let mut runs = a.unwrap().runs;
        runs.extend(b.unwrap().runs);
        assert_eq!(
            runs.len(),
            1,
            "one run for the day across instances: {runs:?}"
        );
        let run = p.store.recon_run(runs[0]).await.unwrap().unwrap();
        assert_eq!(
            (
                run.job_key.as_str(),
                run.trigger.as_str(),
                run.as_of.as_deref(),
                run.changed
            ),
            (
                "switchboard_customers_full",
                "schedule",
                Some("2026-11-21"),
                Some(1)
            )
        );
        let day = p
            .store
            .recon_day("switchboard_customers_full", "2026-11-21")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (day.state.as_str(), day.upload.as_deref(), day.run_id),
            ("done", Some("late"), Some(run.id))
        );
        assert_eq!(
            p.store.alert_by_key(&key).await.unwrap().unwrap().state,
            "resolved"
        );
        assert!(p.store.recon_item_of_run(run.id).await.unwrap().is_some());
        assert!(
            schedule::tick(&p).await.unwrap().runs.is_empty(),
            "never twice a day"
        );
        let jobs = recon::jobs(&p, &Principal::cli_admin()).await.unwrap();
        let j = jobs
            .iter()
            .find(|j| j.key == "switchboard_customers_full")
            .unwrap();
        assert!(j.due_today);
        assert_eq!(j.today_upload.as_deref(), Some("late"));
        assert_eq!(j.latest_run.as_ref().map(|r| r.id), Some(run.id));
    }
}

#[tokio::test]
async fn incremental_runs_compare_only_keys_changed_since_the_previous_run() {
    for db in backends().await {
        // Sunday 2026-11-22 10:00 Asia/Shanghai: only the daily REC-04 job is due.
        let (p, clock) = platform(&db, Utc.with_ymd_and_hms(2026, 11, 22, 2, 0, 0).unwrap()).await;
        let admin = Principal::cli_admin();
        let job = "two_level_customers_incremental";
        let header = "customer_id,status,updated_at\n";
        // First run (no previous run): every row counts; C3 differs.
        write(&p, "group/customers_20261122.csv", &format!("{header}C1,A,2026-11-20 10:00:00\nC2,A,2026-11-20 10:00:00\nC3,A,2026-11-20 10:00:00\n"));
        write(&p, "province/customers_20261122.csv", &format!("{header}C1,A,2026-11-20 10:00:00\nC2,A,2026-11-20 10:00:00\nC3,B,2026-11-20 10:00:00\n"));
        let first = schedule::tick(&p).await.unwrap().runs;
        assert_eq!(first.len(), 1);
        let r1 = p.store.recon_run(first[0]).await.unwrap().unwrap();
        assert_eq!(
            (
                r1.mode.as_str(),
                r1.incremental_keys,
                r1.changed,
                r1.identical
            ),
            ("incremental", Some(3), Some(1), Some(2))
        );

        // Next day: C2 changed on the right after the cut-off (00:00 of 2026-11-22), C3 still differs but is old,
        // C4 is new on the left. Only C2 and C4 are compared.
        clock.set(Utc.with_ymd_and_hms(2026, 11, 23, 0, 30, 0).unwrap());
        write(&p, "group/customers_20261123.csv", &format!("{header}C1,A,2026-11-20 10:00:00\nC2,A,2026-11-20 10:00:00\nC3,A,2026-11-20 10:00:00\nC4,A,20261122083000\n"));
        write(&p, "province/customers_20261123.csv", &format!("{header}C1,A,2026-11-20 10:00:00\nC2,C,2026-11-22 08:00:00\nC3,B,2026-11-20 10:00:00\n"));
        let second = schedule::tick(&p).await.unwrap().runs;
        let r2 = p.store.recon_run(second[0]).await.unwrap().unwrap();
        assert_eq!(r2.status, "succeeded", "{:?}", r2.error);
        assert_eq!(
            (
                r2.incremental_keys,
                r2.changed,
                r2.only_left,
                r2.only_right,
                r2.identical
            ),
            (Some(2), Some(1), Some(1), Some(0), Some(0))
        );
        let sample = recon::sample(&p, &admin, r2.id, None, 0, 10).await.unwrap();
        let keys: Vec<&str> = sample.items.iter().map(|d| d.key.as_str()).collect();
        assert!(
            keys.contains(&"C2") && keys.contains(&"C4") && !keys.contains(&"C3"),
            "{keys:?}"
        );

        // A delta file instead: only the listed keys.
        write(&p, "delta.csv", "customer_id\nC3\n");
        let r3 = recon::run_now(
            &p,
            &admin,
            RunNowInput {
                job: Some(job.into()),
                date: Some("2026-11-23".into()),
                delta: Some("delta.csv".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(
            (
                r3.mode.as_str(),
                r3.incremental_keys,
                r3.changed,
                r3.identical
            ),
            ("incremental", Some(1), Some(1), Some(0))
        );
        let trend = recon::trend(&p, &admin, job, 10).await.unwrap();
        assert_eq!(trend.points.len(), 3);
        assert_eq!(trend.target_percent, 99.9);
    }
}
