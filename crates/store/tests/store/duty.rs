// Duty roster storage on SQLite and PostgreSQL: publishing replaces a range's slots, reassignment is
// version-checked, swaps move requested → approved/rejected once (never decided by the requester), a duty's
// report is filed once, hand-over notes list by day.

use tianshu_store::duty::{self as st, NewAssignment, NewRoster};
use tianshu_store::StoreError;
use tianshu_testkit::backends;

fn row(day: &str, slot: &str, shift: &str, user: &str) -> NewAssignment {
    NewAssignment {
        day: day.into(),
        slot: slot.into(),
        shift: shift.into(),
        username: user.into(),
        region: Some("foshan".into()),
    }
}

fn roster(from: &str, to: &str, by: &str, now: i64) -> NewRoster {
    NewRoster {
        from: from.into(),
        to: to.into(),
        source: "rotation".into(),
        slots: vec!["central".into()],
        by: by.into(),
        now,
    }
}

#[tokio::test]
async fn publish_reassign_swap_report_and_handover_on_both_backends() {
    for db in backends().await {
        let store = db.store().await;
        // 450 rows: more than one multi-row INSERT chunk.
        let mut rows = Vec::new();
        for d in 1..=30 {
            for i in 0..15 {
                rows.push(row(
                    &format!("2026-03-{d:02}"),
                    "central",
                    "day",
                    &format!("p{i}"),
                ));
            }
        }
        let r = store
            .write(move |c| {
                Box::pin(async move {
                    st::publish(c, &roster("2026-03-01", "2026-03-31", "admin", 1), &rows).await
                })
            })
            .await
            .unwrap();
        assert_eq!(r.assignments, 450, "{:?}", db.backend);
        assert_eq!(
            store
                .duty_assignments("2026-03-01", "2026-03-31")
                .await
                .unwrap()
                .len(),
            450
        );

        // Re-publishing a smaller range replaces only that range's rows of the slot.
        let r2 = store
            .write(|c| {
                Box::pin(async move {
                    st::publish(
                        c,
                        &roster("2026-03-02", "2026-03-02", "admin", 2),
                        &[row("2026-03-02", "central", "evening", "fs-2")],
                    )
                    .await
                })
            })
            .await
            .unwrap();
        assert_eq!(r2.assignments, 1);
        let day2 = store
            .duty_assignments("2026-03-02", "2026-03-02")
            .await
            .unwrap();
        assert_eq!(day2.len(), 1);
        assert_eq!(day2[0].username, "fs-2");
        assert_eq!(
            store
                .duty_assignments("2026-03-01", "2026-03-31")
                .await
                .unwrap()
                .len(),
            436
        );
        assert_eq!(store.duty_rosters(10).await.unwrap().len(), 2);

        // Rows outside the range are refused and nothing changes.
        let bad = store
            .write(|c| {
                Box::pin(async move {
                    st::publish(
                        c,
                        &roster("2026-04-01", "2026-04-01", "admin", 3),
                        &[row("2026-05-01", "central", "day", "x")],
                    )
                    .await
                })
            })
            .await;
        assert!(matches!(bad, Err(StoreError::Conflict { .. })), "{bad:?}");
        assert_eq!(store.duty_rosters(10).await.unwrap().len(), 2);

        // Override: version-checked; a stale version changes nothing.
        let a = day2[0].clone();
        let moved = store
            .write(move |c| {
                Box::pin(async move {
                    let m = st::reassign(c, a.id, "fs-1", a.version, "override", 4).await?;
                    st::insert_override(c, &m, &a.username, "sick", "admin", 4).await?;
                    Ok(m)
                })
            })
            .await
            .unwrap();
        assert_eq!(
            (
                moved.username.as_str(),
                moved.version,
                moved.source.as_str()
            ),
            ("fs-1", 2, "override")
        );
        let id = moved.id;
        let stale = store
            .write(move |c| {
                Box::pin(async move { st::reassign(c, id, "x", 1, "override", 5).await })
            })
            .await;
        assert!(matches!(stale, Err(StoreError::Stale(_))), "{stale:?}");
        let ovr = store
            .duty_overrides("2026-03-01", "2026-03-31")
            .await
            .unwrap();
        assert_eq!(
            (
                ovr.len(),
                ovr[0].from_user.as_str(),
                ovr[0].to_user.as_str()
            ),
            (1, "fs-2", "fs-1")
        );

        // Swap: requested → approved once; a second decision is stale; the requester cannot approve.
        let s = store
            .write(move |c| {
                Box::pin(
                    async move { st::insert_swap(c, id, None, "fs-1", "fs-2", "family", 6).await },
                )
            })
            .await
            .unwrap();
        assert_eq!(s.state, "requested");
        let sid = s.id;
        let own = store
            .write(move |c| {
                Box::pin(
                    async move { st::decide_swap(c, sid, "approved", "fs-1", None, 1, 7).await },
                )
            })
            .await;
        assert!(own.is_err(), "requester approving must fail: {own:?}");
        let ok = store
            .write(move |c| {
                Box::pin(async move {
                    st::decide_swap(c, sid, "approved", "admin", Some("ok"), 1, 7).await
                })
            })
            .await
            .unwrap();
        assert_eq!(
            (ok.state.as_str(), ok.decided_by.as_deref()),
            ("approved", Some("admin"))
        );
        let again = store
            .write(move |c| {
                Box::pin(
                    async move { st::decide_swap(c, sid, "rejected", "admin", None, 2, 8).await },
                )
            })
            .await;
        assert!(matches!(again, Err(StoreError::Stale(_))), "{again:?}");
        assert_eq!(store.duty_swaps(Some("approved")).await.unwrap().len(), 1);
        assert_eq!(store.duty_swaps(Some("requested")).await.unwrap().len(), 0);
        assert_eq!(store.duty_swaps(None).await.unwrap().len(), 1);

        // A duty's report is filed once.
        let rep = store
            .write(|c| {
                Box::pin(async move {
                    st::insert_report(
                        c,
                        "2026-03-02",
                        "central",
                        "evening",
                        "fs-1",
                        r#"{"anomalies":"无"}"#,
                        9,
                    )
                    .await
                })
            })
            .await
            .unwrap();
        assert_eq!(rep.username, "fs-1");
        let dup = store
            .write(|c| {
                Box::pin(async move {
                    st::insert_report(c, "2026-03-02", "central", "evening", "fs-1", "{}", 10).await
                })
            })
            .await;
        assert!(
            matches!(dup, Err(StoreError::Conflict { ref field, .. }) if field == "report"),
            "{dup:?}"
        );
        assert_eq!(
            store
                .duty_reports("2026-03-01", "2026-03-31")
                .await
                .unwrap()
                .len(),
            1
        );

        store
            .write(|c| {
                Box::pin(async move {
                    st::insert_handover(
                        c,
                        "2026-03-02",
                        "central",
                        "day",
                        "fs-2",
                        "监控告警已处理，无遗留",
                        11,
                    )
                    .await
                })
            })
            .await
            .unwrap();
        let h = store
            .duty_handovers("2026-03-02", "2026-03-02")
            .await
            .unwrap();
        assert_eq!(h[0].note, "监控告警已处理，无遗留");
        assert_eq!(
            store
                .duty_assignments_of("fs-1", "2026-03-01", "2026-03-31")
                .await
                .unwrap()
                .len(),
            1
        );
        store.close().await;
    }
}
