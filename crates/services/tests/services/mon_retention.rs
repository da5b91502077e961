//! Retention of monitoring history (monitoring.toml `[retention]`): the durable job prunes probe runs, point
//! evaluations and the history of resolved alerts older than the pack says, keeps everything newer and every
//! firing alert's history, runs once per slot (a restarted runner does not repeat it) and again after `every`.

use chrono::Duration;
use tianshu_services::alerts::{self, EventInput};
use tianshu_services::monitoring::{retention, Runner};
use tianshu_store::monitoring::{self as st, DatabaseDef, NewProbeRun, PointDef, ProbeDef};
use tianshu_testkit::backends;

use super::{monday_10, monitor, platform};

fn event(action: &str, key: &str) -> EventInput {
    serde_json::from_value(serde_json::json!({
        "event_action": action, "dedup_key": key,
        "payload": {"summary": format!("{key} 告警"), "source": "host-a", "severity": "warning"}
    }))
    .unwrap()
}

async fn tick(r: &Runner, p: &tianshu_services::Platform) {
    for t in r.tick(p).await {
        t.await.unwrap();
    }
}

#[tokio::test]
async fn retention_job_prunes_old_history_once_per_slot() {
    for db in backends().await {
        // Two years and more back: alerts whose history is older than alert_history_days (731).
        let start = monday_10() - Duration::days(800);
        let (p, clock) = platform(&db, start).await;
        let who = monitor();
        let old = alerts::ingest_event(&p, &who, event("trigger", "old-disk"))
            .await
            .unwrap();
        alerts::ingest_event(&p, &who, event("resolve", "old-disk"))
            .await
            .unwrap();
        let live = alerts::ingest_event(&p, &who, event("trigger", "live-disk"))
            .await
            .unwrap();
        clock.advance(Duration::days(800));
        let now = p.now_us();
        let day = 86_400_000_000i64;

        // A probe with runs 100 and 10 days old; a point with evaluations 120 and 1 days old.
        let probe = p
            .store
            .write(move |c| {
                Box::pin(async move {
                    let def = ProbeDef {
                        name: "门户".into(),
                        system: String::new(),
                        region: String::new(),
                        severity: "warning".into(),
                        scenario: r#"{"steps":[]}"#.into(),
                        secrets: "{}".into(),
                        enabled: false,
                    };
                    let pr = st::insert_probe(c, &def, "t", now, now).await?;
                    for age in [100, 10] {
                        let run = NewProbeRun {
                            probe_id: pr.id,
                            started_at: now - age * day,
                            ok: true,
                            total_ms: 12,
                            failed_step: None,
                            error: None,
                            steps: "[]".into(),
                        };
                        st::record_probe_run(c, &run, 0, false).await?;
                    }
                    let d = st::insert_database(
                        c,
                        &DatabaseDef {
                            name: "库".into(),
                            kind: "postgres".into(),
                            host: "127.0.0.1".into(),
                            port: 1,
                            database: "x".into(),
                            username: "ro".into(),
                            password: None,
                        },
                        "t",
                        now,
                    )
                    .await?;
                    let pt = st::insert_point(
                        c,
                        &PointDef {
                            name: "积压".into(),
                            owner: "运维".into(),
                            runbook_url: String::new(),
                            database_id: d.id,
                            query: "SELECT 1".into(),
                            comparison: "gt".into(),
                            threshold: 5.0,
                            stale_after_s: 0,
                            interval_s: 300,
                            system: String::new(),
                            region: String::new(),
                            severity: "warning".into(),
                            enabled: false,
                        },
                        "t",
                        now,
                        now,
                    )
                    .await?;
                    for age in [120, 1] {
                        st::record_point_run(
                            c,
                            pt.id,
                            now - age * day,
                            "ok",
                            Some("1"),
                            "",
                            3,
                            None,
                            false,
                        )
                        .await?;
                    }
                    Ok((pr.id, pt.id))
                })
            })
            .await
            .unwrap();
        let (probe_id, point_id) = probe;
        let old_id = old.alert_id.unwrap();
        let live_id = live.alert_id.unwrap();
        assert!(!p.store.alert_events(old_id).await.unwrap().is_empty());
        let live_events = p.store.alert_events(live_id).await.unwrap().len();

        let runner = Runner::new(&p);
        tick(&runner, &p).await;
        let runs = p.store.probe_runs(probe_id, 10).await.unwrap();
        assert_eq!(runs.len(), 1, "the 100-day-old run is gone (90 days kept)");
        assert_eq!(runs[0].started_at, now - 10 * day);
        let pts = p.store.mon_point_runs(point_id, 10).await.unwrap();
        assert_eq!(pts.len(), 1, "the 120-day-old evaluation is gone");
        assert!(
            p.store.alert_events(old_id).await.unwrap().is_empty(),
            "a resolved alert's history older than 731 days is pruned"
        );
        assert_eq!(
            p.store.alert_events(live_id).await.unwrap().len(),
            live_events,
            "a firing alert's history is kept however old"
        );
        let job = p.store.mon_job(retention::JOB).await.unwrap().unwrap();
        assert_eq!(job.next_run_at, now + 3_600_000_000, "every = 1h");
        let result: serde_json::Value =
            serde_json::from_str(job.last_result.as_deref().unwrap()).unwrap();
        assert_eq!(result["probe_runs"], 1, "{result}");
        assert_eq!(result["point_runs"], 1, "{result}");
        assert!(result["alert_events"].as_u64().unwrap() >= 2, "{result}");

        // A new old run; a restarted runner within the slot does not run the job again.
        let add_old = |at: i64| {
            let run = NewProbeRun {
                probe_id,
                started_at: at,
                ok: false,
                total_ms: 0,
                failed_step: Some(0),
                error: Some("x".into()),
                steps: "[]".into(),
            };
            p.store.write(move |c| {
                Box::pin(async move { st::record_probe_run(c, &run, 1, false).await })
            })
        };
        add_old(now - 200 * day).await.unwrap();
        let restarted = Runner::new(&p);
        tick(&restarted, &p).await;
        assert!(
            retention::run_if_due(&p).await.unwrap().is_none(),
            "not due"
        );
        assert_eq!(p.store.probe_runs(probe_id, 10).await.unwrap().len(), 2);
        // After `every`, the next slot prunes it.
        clock.advance(Duration::hours(1));
        tick(&restarted, &p).await;
        assert_eq!(p.store.probe_runs(probe_id, 10).await.unwrap().len(), 1);

        // Batches: with a batch of 1, every old row still goes (one transaction each).
        for k in 0..3 {
            add_old(p.now_us() - (95 + k) * day).await.unwrap();
        }
        let mut rt = p.policy.current().pack.monitoring.retention.clone();
        rt.batch = 1;
        let pruned = retention::prune(&p, &rt, p.now_us()).await.unwrap();
        assert_eq!(pruned.probe_runs, 3);
        assert!(!pruned.more);
        assert_eq!(p.store.probe_runs(probe_id, 10).await.unwrap().len(), 1);
    }
}
