// Delivery records of provisioning orders on SQLite and PostgreSQL (migration 0026): acceptances round-trip in
// recorded order, the KPI-05 query takes an order's FIRST initial acceptance only and in a half-open window, a data
// configuration's start is recorded once and never precedes its notice (CHECK), and the KPI-06 query takes starts
// in a half-open window; the order's version moves with `touch_order`.

use tianshu_store::delivery::{self as dl, DataConfigRow, NewAcceptance};
use tianshu_store::kpi::{insert_customer, NewGroupCustomer};
use tianshu_store::provisioning::{self as st, NewProvisioningOrder};
use tianshu_store::StoreError;
use tianshu_testkit::backends;

fn acceptance(order_id: i64, phase: &str, outcome: &str, at: i64) -> NewAcceptance {
    NewAcceptance {
        order_id,
        phase: phase.into(),
        outcome: outcome.into(),
        held_at: at,
        note: String::new(),
        recorded_by: "user:admin".into(),
        recorded_at: at,
    }
}

fn config(order_id: i64, notified_at: i64, started_at: Option<i64>) -> DataConfigRow {
    DataConfigRow {
        order_id,
        notified_at,
        started_at,
        tier: "diamond".into(),
        note: String::new(),
        notified_by: "user:admin".into(),
        started_by: started_at.map(|_| "user:admin".into()),
        created_at: notified_at,
        updated_at: notified_at,
    }
}

#[tokio::test]
async fn acceptances_and_data_configurations_round_trip_with_the_kpi_windows() {
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
                    let order = |at: i64| NewProvisioningOrder {
                        customer_id: g.id,
                        stage: "provisioning".into(),
                        tier: "silver".into(),
                        access_points: 1,
                        city: "临江市".into(),
                        note: String::new(),
                        limit_text: "9wd".into(),
                        started_at: at,
                        deadline_at: at + 1_000,
                        created_by: "user:admin".into(),
                        now: at,
                    };
                    let a = st::insert_order(c, &order(0)).await?;
                    let b = st::insert_order(c, &order(0)).await?;
                    // a: first initial acceptance failed at 100, passed at 300; b: passed at 200.
                    for n in [
                        acceptance(a.id, "accompanying_inspection", "passed", 50),
                        acceptance(a.id, "initial_acceptance", "failed", 100),
                        acceptance(b.id, "accompanying_inspection", "passed", 60),
                        acceptance(b.id, "initial_acceptance", "passed", 200),
                        acceptance(a.id, "initial_acceptance", "passed", 300),
                    ] {
                        dl::insert_acceptance(c, &n).await?;
                    }
                    Ok((a, b))
                })
            })
            .await
            .unwrap();
        let of_a = store.acceptances(a.id).await.unwrap();
        assert_eq!(
            of_a.iter()
                .map(|r| (r.phase.as_str(), r.outcome.as_str(), r.held_at))
                .collect::<Vec<_>>(),
            [
                ("accompanying_inspection", "passed", 50),
                ("initial_acceptance", "failed", 100),
                ("initial_acceptance", "passed", 300)
            ],
            "{:?}",
            db.backend
        );
        let first = store
            .first_initial_acceptances_between(0, 1_000)
            .await
            .unwrap();
        assert_eq!(
            first
                .iter()
                .map(|r| (r.order.id, r.first_outcome.as_str(), r.first_held_at))
                .collect::<Vec<_>>(),
            [(a.id, "failed", 100), (b.id, "passed", 200)]
        );
        // The second attempt of a (at 300) is no first initial acceptance; the window is half-open.
        assert!(store
            .first_initial_acceptances_between(250, 1_000)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(
            store
                .first_initial_acceptances_between(100, 200)
                .await
                .unwrap()
                .len(),
            1
        );

        // Data configuration: notice, then the start once; a start before the notice is refused by the table.
        let (aid, bid) = (a.id, b.id);
        let row = store
            .write(move |c| {
                Box::pin(async move {
                    dl::insert_data_config(c, &config(aid, 1_000, None)).await?;
                    dl::start_data_config(c, aid, 4_000, "user:admin", "开始配置", 4_000).await
                })
            })
            .await
            .unwrap();
        assert_eq!(
            (row.started_at, row.tier.as_str(), row.note.as_str()),
            (Some(4_000), "diamond", "开始配置")
        );
        let again = store
            .write(move |c| {
                Box::pin(async move {
                    dl::start_data_config(c, aid, 5_000, "user:admin", "", 5_000).await
                })
            })
            .await;
        assert!(
            matches!(again, Err(StoreError::Conflict { ref field, .. }) if field == "started_at"),
            "{again:?}"
        );
        let early = store
            .write(move |c| {
                Box::pin(async move {
                    dl::insert_data_config(c, &config(bid, 2_000, Some(1_500))).await
                })
            })
            .await;
        assert!(early.is_err(), "CHECK started_at >= notified_at");
        assert_eq!(store.data_config(bid).await.unwrap(), None);
        let started = store
            .data_configs_started_between(4_000, 4_001)
            .await
            .unwrap();
        assert_eq!(
            started
                .iter()
                .map(|r| (
                    r.order.id,
                    r.cfg_notified_at,
                    r.cfg_started_at,
                    r.cfg_tier.as_str()
                ))
                .collect::<Vec<_>>(),
            [(a.id, 1_000, 4_000, "diamond")]
        );
        assert!(store
            .data_configs_started_between(0, 4_000)
            .await
            .unwrap()
            .is_empty());

        // touch_order moves the version once; a stale one is refused.
        let touched = store
            .write(move |c| Box::pin(async move { st::touch_order(c, aid, 1, 9_000).await }))
            .await
            .unwrap();
        assert_eq!((touched.version, touched.updated_at), (2, 9_000));
        let stale = store
            .write(move |c| Box::pin(async move { st::touch_order(c, aid, 1, 9_001).await }))
            .await;
        assert!(matches!(stale, Err(StoreError::Stale(_))), "{stale:?}");
    }
}
