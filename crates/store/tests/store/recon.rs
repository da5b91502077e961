// Reconciliation storage on SQLite and PostgreSQL (migration 0010): a run keeps its inputs' fingerprints and
// counts, only a running run finishes or fails (once), the sample pages in order and by kind, the trend lists the
// succeeded runs of a job oldest first, a job's day is claimed by one caller only (and again after its lease),
// the REC-08 alert is marked once, and work items save version-checked.

use tianshu_store::recon::{self as st, NewReconRun, ReconCounts, ReconDiffRow};
use tianshu_store::StoreError;
use tianshu_testkit::backends;

fn new_run(job: &str, at: i64) -> NewReconRun {
    NewReconRun {
        job_key: job.into(),
        mode: "full".into(),
        trigger: "api".into(),
        started_by: "user:recon1".into(),
        as_of: Some("2026-11-21".into()),
        key_columns: r#"["customer_id"]"#.into(),
        left_path: "/inbox/group.csv".into(),
        left_size: 120,
        left_sha256: "ab".repeat(32),
        right_path: "/inbox/省.csv".into(),
        right_size: 118,
        right_sha256: "cd".repeat(32),
        started_at: at,
    }
}

fn counts(identical: i64, changed: i64) -> ReconCounts {
    ReconCounts {
        rows_left: identical + changed + 1,
        rows_right: identical + changed,
        only_left: 1,
        only_right: 0,
        changed,
        identical,
        duplicate_keys_left: 0,
        duplicate_keys_right: 0,
        rejected_left: 0,
        rejected_right: 0,
        per_column: r#"{"status":2}"#.into(),
        consistency: identical as f64 / (identical + changed + 1) as f64,
        incremental_keys: None,
        details_path: Some("/runs/run-1.csv".into()),
    }
}

fn diff(seq: i64, kind: &str) -> ReconDiffRow {
    ReconDiffRow {
        seq,
        kind: kind.into(),
        key: format!("C{seq:03}"),
        column: (kind == "changed").then(|| "status".to_string()),
        left: Some("A".into()),
        right: (kind == "changed").then(|| "停机".to_string()),
    }
}

#[tokio::test]
async fn runs_round_trip_finish_once_and_page_their_sample() {
    for db in backends().await {
        let store = db.store().await;
        let run = store
            .write(|c| Box::pin(async move { st::insert_run(c, &new_run("rec01", 1_000)).await }))
            .await
            .unwrap();
        assert_eq!((run.status.as_str(), run.consistency), ("running", None));
        assert_eq!(run.right_path, "/inbox/省.csv");
        let id = run.id;
        let done = store
            .write(move |c| {
                Box::pin(async move {
                    let d = st::finish_run(c, id, &counts(97, 2), 2_000).await?;
                    let sample: Vec<ReconDiffRow> = (0..5)
                        .map(|i| diff(i, if i < 2 { "changed" } else { "only_left" }))
                        .collect();
                    st::insert_sample(c, id, &sample).await?;
                    Ok(d)
                })
            })
            .await
            .unwrap();
        assert_eq!(done.status, "succeeded");
        assert_eq!(done.differences, 3, "1 only-left + 2 changed");
        assert_eq!(done.finished_at, Some(2_000));
        assert_eq!(store.recon_run(id).await.unwrap().unwrap(), done);
        // Finishing or failing again is refused: the run is no longer running.
        let again = store
            .write(move |c| Box::pin(async move { st::fail_run(c, id, "late", 3_000).await }))
            .await;
        assert!(matches!(again, Err(StoreError::Stale(_))), "{again:?}");

        let (page, total) = store.recon_sample(id, None, 1, 2).await.unwrap();
        assert_eq!(total, 5);
        assert_eq!(page.iter().map(|d| d.seq).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(page[0].right.as_deref(), Some("停机"));
        let (page, total) = store
            .recon_sample(id, Some("only_left"), 0, 10)
            .await
            .unwrap();
        assert_eq!((page.len(), total), (3, 3));
        assert!(page.iter().all(|d| d.column.is_none() && d.right.is_none()));

        // A failed run keeps its error and no counts; it is not in the trend.
        let failed = store
            .write(|c| {
                Box::pin(async move {
                    let r = st::insert_run(c, &new_run("rec01", 4_000)).await?;
                    st::fail_run(c, r.id, "left.csv:7: expected 5 fields, found 4", 5_000).await
                })
            })
            .await
            .unwrap();
        assert_eq!(failed.status, "failed");
        assert_eq!(failed.only_left, None);
        let second = store
            .write(|c| {
                Box::pin(async move {
                    let r = st::insert_run(c, &new_run("rec01", 6_000)).await?;
                    st::finish_run(c, r.id, &counts(99, 0), 7_000).await
                })
            })
            .await
            .unwrap();
        let trend = store.recon_trend("rec01", 10).await.unwrap();
        assert_eq!(
            trend.iter().map(|t| t.run_id).collect::<Vec<_>>(),
            vec![id, second.id]
        );
        assert_eq!(trend[1].as_of.as_deref(), Some("2026-11-21"));
        assert!((trend[1].consistency - 0.99).abs() < 1e-12);
        let latest = store.recon_latest_per_job().await.unwrap();
        assert_eq!(latest.len(), 1);
        assert_eq!(latest[0].id, second.id);
        assert_eq!(
            store
                .recon_previous_run("rec01", second.id)
                .await
                .unwrap()
                .map(|r| r.id),
            Some(id)
        );
        let runs = store.recon_runs(Some("rec01"), i64::MAX, 2).await.unwrap();
        assert_eq!(
            runs.iter().map(|r| r.id).collect::<Vec<_>>(),
            vec![second.id, failed.id]
        );
        assert!(store
            .recon_runs(Some("other"), i64::MAX, 10)
            .await
            .unwrap()
            .is_empty());
    }
}

#[tokio::test]
async fn a_day_is_claimed_once_until_its_lease_expires_and_alerted_once() {
    for db in backends().await {
        let store = db.store().await;
        let first = store
            .write(|c| Box::pin(async move { st::open_day(c, "rec01", "2026-11-21", 10).await }))
            .await
            .unwrap();
        let second = store
            .write(|c| Box::pin(async move { st::open_day(c, "rec01", "2026-11-21", 11).await }))
            .await
            .unwrap();
        assert!(first && !second);
        let claim = |now: i64| {
            let store = store.clone();
            async move {
                store
                    .write(move |c| {
                        Box::pin(
                            async move { st::claim_day(c, "rec01", "2026-11-21", now, 100).await },
                        )
                    })
                    .await
                    .unwrap()
            }
        };
        let a = claim(20).await;
        assert_eq!(a.as_ref().map(|d| d.state.as_str()), Some("running"));
        assert!(claim(50).await.is_none(), "held by the first claim");
        assert!(claim(121).await.is_some(), "the lease expired: taken over");
        let alerted = |now: i64| {
            let store = store.clone();
            async move {
                store
                    .write(move |c| {
                        Box::pin(async move {
                            st::mark_day_alerted(c, "rec01", "2026-11-21", now).await
                        })
                    })
                    .await
                    .unwrap()
            }
        };
        assert!(alerted(130).await);
        assert!(!alerted(131).await);
        store
            .write(|c| {
                Box::pin(async move {
                    st::set_day(c, "rec01", "2026-11-21", "done", Some("late"), Some(7), 140).await
                })
            })
            .await
            .unwrap();
        let d = store
            .recon_day("rec01", "2026-11-21")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (d.state.as_str(), d.upload.as_deref(), d.run_id, d.alerted),
            ("done", Some("late"), Some(7), 1)
        );
        assert!(
            claim(10_000).await.is_none(),
            "a done day is never claimed again"
        );
    }
}

#[tokio::test]
async fn work_items_save_version_checked() {
    for db in backends().await {
        let store = db.store().await;
        let item = store
            .write(|c| {
                Box::pin(async move {
                    let r = st::insert_run(c, &new_run("rec07", 1_000)).await?;
                    let r = st::finish_run(c, r.id, &counts(10, 1), 2_000).await?;
                    st::insert_item(c, r.id, "rec07", r.differences, 5_000, 9_000, 2_000).await
                })
            })
            .await
            .unwrap();
        assert_eq!(
            (item.state.as_str(), item.version, item.differences),
            ("open", 1, 2)
        );
        let mut replied = item.clone();
        replied.state = "replied".into();
        replied.replied_by = Some("user:recon1".into());
        replied.replied_at = Some(3_000);
        replied.reply = Some("省端数据延迟".into());
        let r2 = replied.clone();
        let saved = store
            .write(move |c| Box::pin(async move { st::save_item(c, &r2, 3_000).await }))
            .await
            .unwrap();
        assert_eq!((saved.state.as_str(), saved.version), ("replied", 2));
        let stale = store
            .write(move |c| Box::pin(async move { st::save_item(c, &replied, 3_100).await }))
            .await;
        assert!(matches!(stale, Err(StoreError::Stale(_))), "{stale:?}");
        assert_eq!(
            store.recon_items(Some("replied"), 10).await.unwrap().len(),
            1
        );
        assert!(store
            .recon_items(Some("open"), 10)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(
            store
                .recon_item_of_run(item.run_id)
                .await
                .unwrap()
                .map(|i| i.id),
            Some(item.id)
        );
    }
}
