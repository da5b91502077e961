// Monitoring storage on SQLite and PostgreSQL (issue 5): due probes are claimed once however many runners ask
// at the same time (MON-05 schedule), runs keep the streak, databases never hand out their password in a
// listing, a database in use cannot be removed, points record their state, the sign-in happens once a day.

use tianshu_store::monitoring::{self as st, DatabaseDef, NewProbeRun, PointDef, ProbeDef};
use tianshu_store::StoreError;
use tianshu_testkit::backends;

fn probe(name: &str) -> ProbeDef {
    ProbeDef {
        name: name.into(),
        system: "agent-portal".into(),
        region: String::new(),
        severity: "warning".into(),
        scenario: r#"{"steps":[]}"#.into(),
        secrets: r#"{"password":"pw-1"}"#.into(),
        enabled: true,
    }
}

#[tokio::test]
async fn due_probes_are_claimed_once_and_runs_keep_the_streak() {
    for db in backends().await {
        let store = db.store().await;
        for (i, name) in ["甲", "乙", "丙"].iter().enumerate() {
            let d = probe(name);
            store
                .write(move |c| {
                    Box::pin(
                        async move { st::insert_probe(c, &d, "admin", 100 + i as i64, 1).await },
                    )
                })
                .await
                .unwrap();
        }
        let dup = probe("甲");
        let e = store
            .write(move |c| Box::pin(async move { st::insert_probe(c, &dup, "admin", 1, 1).await }))
            .await
            .unwrap_err();
        assert!(
            matches!(e, StoreError::Conflict { ref field, .. } if field == "name"),
            "{e:?}"
        );
        // Four runners ask at once at t=200 for up to 3 probes each: every probe goes to exactly one of them.
        let mut handles = Vec::new();
        for _ in 0..4 {
            let s = store.clone();
            handles.push(tokio::spawn(async move {
                s.write(|c| {
                    Box::pin(async move {
                        st::claim_due_probes(c, 200, &[180_000_000, 240_000_000, 300_000_000]).await
                    })
                })
                .await
                .unwrap()
            }));
        }
        let mut claimed = Vec::new();
        for h in handles {
            claimed.extend(h.await.unwrap());
        }
        let mut names: Vec<String> = claimed.iter().map(|p| p.name.clone()).collect();
        names.sort();
        assert_eq!(names, ["丙", "乙", "甲"], "each due probe claimed once");
        for p in &claimed {
            assert!((200 + 180_000_000..=200 + 300_000_000).contains(&p.next_run_at));
        }
        let none = store
            .write(|c| Box::pin(async move { st::claim_due_probes(c, 201, &[1, 1, 1]).await }))
            .await
            .unwrap();
        assert!(none.is_empty());
        let id = claimed[0].id;
        for (i, ok) in [false, false, true].into_iter().enumerate() {
            let run = NewProbeRun {
                probe_id: id,
                started_at: 1000 + i as i64,
                ok,
                total_ms: 12,
                failed_step: (!ok).then_some(0),
                error: (!ok).then(|| "status 503 (expected 2xx)".to_string()),
                steps: "[]".into(),
            };
            let streak = if ok { 0 } else { i as i64 + 1 };
            store
                .write(move |c| {
                    Box::pin(async move { st::record_probe_run(c, &run, streak, false).await })
                })
                .await
                .unwrap();
        }
        let runs = store.probe_runs(id, 10).await.unwrap();
        assert_eq!(
            runs.iter().map(|r| r.ok).collect::<Vec<_>>(),
            [1, 0, 0],
            "newest first"
        );
        let stats = store.probe_stats(id, 0).await.unwrap();
        assert_eq!((stats.runs, stats.ok_runs, stats.max_ms), (3, 1, Some(12)));
        let p = store.probe(id).await.unwrap().unwrap();
        assert_eq!((p.consecutive_failures, p.last_ok), (0, Some(1)));
        assert!(store.probe_secret_json(id).await.unwrap().contains("pw-1"));
    }
}

#[tokio::test]
async fn databases_points_and_the_daily_signin() {
    for db in backends().await {
        let store = db.store().await;
        let def = DatabaseDef {
            name: "CRM库".into(),
            kind: "postgres".into(),
            host: "10.0.0.8".into(),
            port: 5432,
            database: "crm".into(),
            username: "monitor".into(),
            password: Some("pw-secret".into()),
        };
        assert!(!format!("{def:?}").contains("pw-secret"));
        let d = store
            .write(move |c| Box::pin(async move { st::insert_database(c, &def, "admin", 1).await }))
            .await
            .unwrap();
        assert!(d.has_password);
        let listed = format!("{:?}", store.mon_databases().await.unwrap());
        assert!(!listed.contains("pw-secret"), "{listed}");
        assert_eq!(store.database_password(d.id).await.unwrap(), "pw-secret");
        // An edit without a password keeps the stored one.
        let edit = DatabaseDef {
            name: "CRM库".into(),
            kind: "postgres".into(),
            host: "10.0.0.9".into(),
            port: 5432,
            database: "crm".into(),
            username: "monitor".into(),
            password: None,
        };
        let did = d.id;
        store
            .write(move |c| Box::pin(async move { st::update_database(c, did, 1, &edit, 2).await }))
            .await
            .unwrap();
        assert_eq!(store.database_password(d.id).await.unwrap(), "pw-secret");
        let point = PointDef {
            name: "订单积压".into(),
            owner: "订单组".into(),
            runbook_url: String::new(),
            database_id: d.id,
            query: "SELECT count(*) FROM orders".into(),
            comparison: "gt".into(),
            threshold: 100.0,
            stale_after_s: 0,
            interval_s: 300,
            system: "crm".into(),
            region: String::new(),
            severity: "warning".into(),
            enabled: true,
        };
        let p = store
            .write(move |c| {
                Box::pin(async move { st::insert_point(c, &point, "admin", 10, 5).await })
            })
            .await
            .unwrap();
        assert_eq!((p.state.as_str(), p.unknown_since), ("unknown", Some(5)));
        let e = store
            .write(move |c| Box::pin(async move { st::delete_database(c, did, 2).await }))
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::Conflict { .. }), "{e:?}");
        let claimed = store
            .write(|c| Box::pin(async move { st::claim_due_points(c, 10, 8).await }))
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);
        assert_eq!(claimed[0].next_run_at, 10 + 300_000_000);
        let pid = p.id;
        store
            .write(move |c| {
                Box::pin(async move {
                    st::record_point_run(
                        c,
                        pid,
                        20,
                        "breached",
                        Some("120"),
                        "120 is > 100",
                        3,
                        None,
                        true,
                    )
                    .await
                })
            })
            .await
            .unwrap();
        let p = store.mon_point(pid).await.unwrap().unwrap();
        assert_eq!(
            (p.state.as_str(), p.last_value.as_deref(), p.alerting),
            ("breached", Some("120"), 1)
        );
        assert_eq!(store.mon_point_runs(pid, 5).await.unwrap().len(), 1);

        // MON-09: the day opens once; the sign-in happens once.
        for expect in [true, false] {
            let opened = store
                .write(|c| Box::pin(async move { st::open_signin_day(c, "2026-11-23", 1).await }))
                .await
                .unwrap();
            assert_eq!(opened, expect);
        }
        for expect in [true, false] {
            let r = store
                .write(|c| {
                    Box::pin(async move { st::sign_in(c, "2026-11-23", "duty", "ok", 0, 2).await })
                })
                .await
                .unwrap();
            assert_eq!(r.is_some(), expect);
        }
        let s = store.signin("2026-11-23").await.unwrap().unwrap();
        assert_eq!(
            (s.signed_by.as_deref(), s.clocks_started_at),
            (Some("duty"), Some(1))
        );
    }
}
