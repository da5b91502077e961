// Provisioning orders on SQLite and PostgreSQL (migration 0018): an order round-trips with its customer's key,
// clock saves are version-checked, only granted delays count as pauses, refused-late ones are kept for the
// SLA-07 count, and the KPI-04 query takes completions of one stage in a half-open window.

use tianshu_store::kpi::{insert_customer, NewGroupCustomer};
use tianshu_store::provisioning::{
    self as st, NewProvisioningDelay, NewProvisioningOrder, ProvisioningOrderRow,
};
use tianshu_store::{Store, StoreError};
use tianshu_testkit::backends;

fn order(customer_id: i64, stage: &str, at: i64) -> NewProvisioningOrder {
    NewProvisioningOrder {
        customer_id,
        stage: stage.into(),
        tier: "silver".into(),
        access_points: 7,
        city: "临江市".into(),
        note: "虚构测试工单".into(),
        limit_text: "13wd".into(),
        started_at: at,
        deadline_at: at + 1_000,
        created_by: "user:admin".into(),
        now: at,
    }
}

fn delay(order_id: i64, outcome: &str, at: i64, deadline_after: i64) -> NewProvisioningDelay {
    NewProvisioningDelay {
        order_id,
        from_at: at,
        until_at: at + 100,
        note: "客户机房未就绪".into(),
        outcome: outcome.into(),
        deadline_before: 1_000,
        deadline_after,
        filed_by: "user:admin".into(),
        filed_at: at,
        requested_by: "admin".into(),
    }
}

async fn save(
    store: &Store,
    o: &ProvisioningOrderRow,
    version: i64,
    deadline: i64,
    state: &'static str,
    completed: Option<i64>,
) -> Result<ProvisioningOrderRow, StoreError> {
    let (id, late) = (o.id, o.late_requests);
    store
        .write(move |c| {
            Box::pin(async move {
                st::save_order_clock(c, id, version, deadline, state, completed, late, 5).await
            })
        })
        .await
}

#[tokio::test]
async fn provisioning_orders_round_trip_with_versions_delays_and_the_kpi_window() {
    for db in backends().await {
        let store = db.store().await;
        let (a, b) = store
            .write(|c| {
                Box::pin(async move {
                    let g = insert_customer(
                        c,
                        &NewGroupCustomer {
                            key: "cs-1".into(),
                            name: "临江物流集团（虚构）".into(),
                            tier: "silver".into(),
                            org_id: None,
                            created_by: "user:admin".into(),
                            now: 1,
                        },
                    )
                    .await?;
                    let a = st::insert_order(c, &order(g.id, "provisioning", 0)).await?;
                    let b = st::insert_order(c, &order(g.id, "construction_survey", 10)).await?;
                    Ok((a, b))
                })
            })
            .await
            .unwrap();
        assert_eq!(
            (
                a.customer_key.as_str(),
                a.state.as_str(),
                a.version,
                a.late_requests
            ),
            ("cs-1", "open", 1, 0),
            "{:?}",
            db.backend
        );
        assert_eq!(
            (a.limit_text.as_str(), a.access_points, a.deadline_at),
            ("13wd", 7, 1_000)
        );
        assert_eq!(a.completed_at, None);
        let of = store.provisioning_orders_of(a.customer_id).await.unwrap();
        assert_eq!(
            of.iter().map(|o| o.id).collect::<Vec<_>>(),
            vec![b.id, a.id],
            "newest first"
        );
        assert_eq!(
            store.provisioning_order(a.id).await.unwrap(),
            Some(a.clone())
        );

        // Delays: one granted, one refused for being late; only the granted one is a pause.
        let id = a.id;
        let granted = store
            .write(move |c| {
                Box::pin(async move {
                    st::insert_delay(c, &delay(id, "granted", 100, 1_100)).await?;
                    st::insert_delay(c, &delay(id, "refused_late", 2_000, 1_100)).await?;
                    st::granted_delays_in_tx(c, id).await
                })
            })
            .await
            .unwrap();
        assert_eq!(granted.len(), 1);
        assert_eq!(
            (
                granted[0].reason.as_str(),
                granted[0].deadline_after,
                granted[0].until_at
            ),
            ("customer_caused", 1_100, 200)
        );
        let all = store.provisioning_delays(id).await.unwrap();
        assert_eq!(
            all.iter().map(|d| d.outcome.as_str()).collect::<Vec<_>>(),
            vec!["granted", "refused_late"]
        );
        // An outcome outside the two is refused by the schema.
        let bad = store
            .write(move |c| {
                Box::pin(async move { st::insert_delay(c, &delay(id, "maybe", 1, 1)).await })
            })
            .await;
        assert!(bad.is_err(), "{bad:?}");

        // A clock save with the current version wins; the same save again is stale and changes nothing.
        let moved = save(&store, &a, 1, 1_100, "open", None).await.unwrap();
        assert_eq!((moved.deadline_at, moved.version), (1_100, 2));
        let stale = save(&store, &a, 1, 9_999, "open", None).await;
        assert!(matches!(stale, Err(StoreError::Stale(_))), "{stale:?}");
        assert_eq!(
            store
                .provisioning_order(id)
                .await
                .unwrap()
                .unwrap()
                .deadline_at,
            1_100
        );
        let done = save(&store, &moved, 2, 1_100, "completed", Some(1_500))
            .await
            .unwrap();
        assert_eq!(
            (done.state.as_str(), done.completed_at),
            ("completed", Some(1_500))
        );
        let bad_state = save(&store, &done, 3, 1_100, "paused", None).await;
        assert!(bad_state.is_err(), "state outside open/completed");

        // KPI-04 window: completions of the stage in [from, to), with the customer's branch (none here).
        let _ = save(&store, &b, 1, 1_010, "completed", Some(2_000))
            .await
            .unwrap();
        let hits = store
            .provisioning_completed_between("provisioning", 1_500, 2_000)
            .await
            .unwrap();
        assert_eq!(hits.len(), 1);
        assert_eq!((hits[0].0.id, hits[0].1), (id, None));
        assert!(store
            .provisioning_completed_between("provisioning", 1_501, 3_000)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(
            store
                .provisioning_completed_between("construction_survey", 0, 2_001)
                .await
                .unwrap()
                .len(),
            1
        );
    }
}

/// Migration 0025 (SLA-07 approval step): a request is stored `requested` with its requester, decided once
/// (`granted` with the deadline it moved to, or `rejected` with the reason); a second decision is a conflict and
/// changes nothing; an order has at most one request awaiting a decision (unique index).
#[tokio::test]
async fn delay_requests_are_decided_once_and_one_waits_per_order() {
    for db in backends().await {
        let store = db.store().await;
        let a = store
            .write(|c| {
                Box::pin(async move {
                    let g = insert_customer(
                        c,
                        &NewGroupCustomer {
                            key: "cs-9".into(),
                            name: "临江港务集团（虚构）".into(),
                            tier: "silver".into(),
                            org_id: None,
                            created_by: "user:admin".into(),
                            now: 1,
                        },
                    )
                    .await?;
                    st::insert_order(c, &order(g.id, "provisioning", 0)).await
                })
            })
            .await
            .unwrap();
        let id = a.id;
        let r = store
            .write(move |c| {
                Box::pin(
                    async move { st::insert_delay(c, &delay(id, "requested", 100, 1_000)).await },
                )
            })
            .await
            .unwrap();
        assert_eq!(
            (
                r.outcome.as_str(),
                r.requested_by.as_str(),
                r.decided_by.clone()
            ),
            ("requested", "admin", None),
            "{:?}",
            db.backend
        );
        // A second waiting request of the same order is refused by the schema.
        let twice = store
            .write(move |c| {
                Box::pin(
                    async move { st::insert_delay(c, &delay(id, "requested", 150, 1_000)).await },
                )
            })
            .await;
        assert!(twice.is_err(), "{twice:?}");
        let rid = r.id;
        let (pending, decided) = store
            .write(move |c| {
                Box::pin(async move {
                    let pending = st::requested_delay_in_tx(c, id).await?;
                    let d = st::decide_delay(c, rid, "granted", 1_100, "user:room-mgr", 300, "")
                        .await?;
                    Ok((pending, d))
                })
            })
            .await
            .unwrap();
        assert_eq!(pending.map(|p| p.id), Some(rid));
        assert_eq!(
            (
                decided.outcome.as_str(),
                decided.deadline_after,
                decided.decided_by.as_deref(),
                decided.decided_at
            ),
            ("granted", 1_100, Some("user:room-mgr"), Some(300))
        );
        let again = store
            .write(move |c| {
                Box::pin(async move {
                    st::decide_delay(c, rid, "rejected", 1_000, "user:dept-mgr", 400, "不同意")
                        .await
                })
            })
            .await;
        assert!(
            matches!(&again, Err(StoreError::Conflict { field, .. }) if field == "state"),
            "{again:?}"
        );
        let all = store.provisioning_delays(id).await.unwrap();
        assert_eq!(
            (all[0].outcome.as_str(), all[0].decision_note.as_str()),
            ("granted", "")
        );
        // Once decided, a new request may wait again; a rejection keeps its reason.
        let r2 = store
            .write(move |c| {
                Box::pin(async move {
                    let r2 = st::insert_delay(c, &delay(id, "requested", 500, 1_100)).await?;
                    let none = st::delay_in_tx(c, id + 1, r2.id).await?;
                    assert!(
                        none.is_none(),
                        "a request is found under its own order only"
                    );
                    st::decide_delay(
                        c,
                        r2.id,
                        "rejected",
                        1_100,
                        "user:room-mgr",
                        600,
                        "客户未提供书面说明",
                    )
                    .await
                })
            })
            .await
            .unwrap();
        assert_eq!(
            (r2.outcome.as_str(), r2.decision_note.as_str()),
            ("rejected", "客户未提供书面说明")
        );
    }
}
