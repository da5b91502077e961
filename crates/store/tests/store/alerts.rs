// Alert storage on SQLite and PostgreSQL: the same dedup key twice is one alert (also when two writes race),
// saves are version-checked, history lists in order with its state changes, silences and maintenance windows
// are in force only within their times and until ended.

use serde_json::json;
use tianshu_store::alerts::{self as st, AlertFilter, MuteKind, NewAlert, NewAlertEvent, NewMute};
use tianshu_store::StoreError;
use tianshu_testkit::backends;

fn new_alert(key: &str, now: i64) -> NewAlert {
    NewAlert {
        dedup_key: key.into(),
        source: "alertmanager".into(),
        state: "firing".into(),
        system: "crm".into(),
        region: "guangzhou".into(),
        severity: "critical".into(),
        alertname: "CrmOrderFailures".into(),
        summary: "下单失败率升高".into(),
        labels: r#"{"alertname":"CrmOrderFailures","system":"crm"}"#.into(),
        annotations: r#"{"summary":"下单失败率升高"}"#.into(),
        group_key: "system=crm".into(),
        starts_at: now,
        ends_at: None,
        now,
        decision: Default::default(),
    }
}

#[tokio::test]
async fn same_dedup_key_is_one_alert_with_history_and_version_checked_saves() {
    for db in backends().await {
        let store = db.store().await;
        // Ten concurrent claims of one key: one creates, nine find it.
        let mut handles = Vec::new();
        for i in 0..10i64 {
            let s = store.clone();
            handles.push(tokio::spawn(async move {
                s.write(move |c| {
                    Box::pin(async move {
                        let (row, created) =
                            st::claim_alert(c, &new_alert("am:abc", 100 + i)).await?;
                        st::insert_alert_event(
                            c,
                            NewAlertEvent {
                                alert_id: row.id,
                                at: 100 + i,
                                kind: if created { "fired" } else { "repeat" }.into(),
                                actor: "alertmanager".into(),
                                state_change: created,
                                data: tianshu_store::audit::canonical_json(&json!({"i": i})),
                            },
                        )
                        .await?;
                        Ok(created)
                    })
                })
                .await
                .unwrap()
            }));
        }
        let mut created = 0;
        for h in handles {
            if h.await.unwrap() {
                created += 1;
            }
        }
        assert_eq!(created, 1, "{:?}", db.backend);
        let page = store
            .alerts_page(i64::MAX, 10, &AlertFilter::default())
            .await
            .unwrap();
        assert_eq!(page.len(), 1, "{:?}", db.backend);
        let a = page[0].clone();
        assert_eq!(store.alert_events(a.id).await.unwrap().len(), 10);

        // A save with the current version wins; the same save again is stale.
        let mut changed = a.clone();
        changed.state = "acknowledged".into();
        changed.acknowledged_by = Some("duty1".into());
        changed.event_count = 10;
        let saved = store
            .write({
                let changed = changed.clone();
                move |c| Box::pin(async move { st::save_alert(c, &changed, 200).await })
            })
            .await
            .unwrap();
        assert_eq!((saved.version, saved.state.as_str()), (2, "acknowledged"));
        let err = store
            .write(move |c| Box::pin(async move { st::save_alert(c, &changed, 201).await }))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Stale(_)), "{err:?}");

        // Filters.
        let f = |state: &str| AlertFilter {
            state: Some(state.into()),
            system: Some("crm".into()),
            ..Default::default()
        };
        assert_eq!(
            store
                .alerts_page(i64::MAX, 10, &f("acknowledged"))
                .await
                .unwrap()
                .len(),
            1
        );
        assert!(store
            .alerts_page(i64::MAX, 10, &f("firing"))
            .await
            .unwrap()
            .is_empty());

        // Flapping input and grouping lookups.
        let id = a.id;
        let (changes, grouped) = store
            .write(move |c| {
                Box::pin(async move {
                    let t = st::state_change_times(c, id, 0).await?;
                    let g = st::group_notified_since(c, "system=crm", 0, id).await?;
                    Ok((t, g))
                })
            })
            .await
            .unwrap();
        assert_eq!(changes.len(), 1);
        assert!(!grouped);
        assert!(store.alert_by_key("am:abc").await.unwrap().is_some());
        store.close().await;
    }
}

#[tokio::test]
async fn silences_and_maintenance_windows_hold_within_their_times_until_ended() {
    for db in backends().await {
        let store = db.store().await;
        for kind in [MuteKind::Silence, MuteKind::Maintenance] {
            let m = NewMute {
                name: "割接窗口".into(),
                matchers: vec!["system=crm".into(), "severity=~critical|warning".into()],
                starts_at: 1_000,
                ends_at: 2_000,
                author: "duty1".into(),
                reason: "计划内割接".into(),
                now: 900,
            };
            let row = store
                .write(move |c| Box::pin(async move { st::insert_mute(c, kind, &m).await }))
                .await
                .unwrap();
            let in_force = |now: i64| {
                let s = store.clone();
                async move {
                    s.write(move |c| {
                        Box::pin(async move { st::mutes_in_force(c, kind, now).await })
                    })
                    .await
                    .unwrap()
                    .len()
                }
            };
            assert_eq!(
                (
                    in_force(999).await,
                    in_force(1_000).await,
                    in_force(2_000).await
                ),
                (0, 1, 0)
            );
            let (id, v) = (row.id, row.version);
            let ended = store
                .write(move |c| {
                    Box::pin(async move { st::end_mute(c, kind, id, v, "duty2", 1_500).await })
                })
                .await
                .unwrap();
            assert_eq!(ended.ended_by.as_deref(), Some("duty2"));
            assert_eq!(in_force(1_600).await, 0, "{:?} {kind:?}", db.backend);
            // Ending twice is stale.
            let again = store
                .write(move |c| {
                    Box::pin(async move { st::end_mute(c, kind, id, v + 1, "duty2", 1_700).await })
                })
                .await;
            assert!(matches!(again, Err(StoreError::Stale(_))), "{again:?}");
            assert_eq!(store.mutes(kind, None).await.unwrap().len(), 1);
            assert!(store.mutes(kind, Some(2_000)).await.unwrap().is_empty());
        }
        store.close().await;
    }
}

#[tokio::test]
async fn a_created_alert_row_is_what_is_stored_with_its_decision() {
    for db in backends().await {
        let store = db.store().await;
        let made = store
            .write(|c| {
                Box::pin(async move {
                    // The routing decision is made before the insert and stored with it.
                    let mut new = new_alert("am:row", 500);
                    new.decision = st::AlertDecision {
                        flapping: 1,
                        suppressed: Some("grouped".into()),
                        routes: "[\"general\"]".into(),
                        notified_at: Some(500),
                    };
                    let (row, created) = st::claim_alert(c, &new).await?;
                    assert!(created);
                    // A second claim of the key finds the row; its (different) decision is not applied.
                    let (again, created) = st::claim_alert(c, &new_alert("am:row", 600)).await?;
                    assert!(!created);
                    assert_eq!(again, row);
                    Ok(row)
                })
            })
            .await
            .unwrap();
        let page = store
            .alerts_page(i64::MAX, 10, &AlertFilter::default())
            .await
            .unwrap();
        let stored = page
            .iter()
            .find(|a| a.dedup_key == "am:row")
            .cloned()
            .unwrap();
        // What the claim returned without reading back (SQLite's writer) is exactly what was stored.
        assert_eq!(made, stored, "{:?}", db.backend);
        assert_eq!(stored.suppressed.as_deref(), Some("grouped"));
        assert_eq!(stored.routes, "[\"general\"]");
        assert_eq!((stored.notified_at, stored.flapping), (Some(500), 1));
        assert_eq!(stored.version, 1);
    }
}

async fn claim(s: &tianshu_store::Store, key: &'static str) -> (i64, bool) {
    s.write(move |c| {
        Box::pin(async move {
            let (row, created) = st::claim_alert(c, &new_alert(key, 1)).await?;
            Ok((row.id, created))
        })
    })
    .await
    .unwrap()
}

/// Two writers on one database — on SQLite a CLI command beside the server, each with its own in-memory key
/// directory; on PostgreSQL two instances: an alert one created is found by the other, never created twice, also
/// after a rolled-back write created and lost one, and after reopening.
#[tokio::test]
async fn an_alert_another_writer_created_is_found_and_a_rolled_back_one_is_not() {
    for db in backends().await {
        let a = db.store().await;
        let b = db.store().await;
        let (x, created) = claim(&a, "am:x").await;
        assert!(created);
        let (y, created) = claim(&b, "am:y").await;
        assert!(created);
        assert_eq!(claim(&a, "am:y").await, (y, false), "{:?}", db.backend);
        assert_eq!(claim(&b, "am:x").await, (x, false), "{:?}", db.backend);
        // Created, then the write fails: rolled back, so the key does not exist.
        let failed = a
            .write(|c| {
                Box::pin(async move {
                    st::claim_alert(c, &new_alert("am:z", 1)).await?;
                    Err::<(), _>(StoreError::NotFound("the test fails this write".into()))
                })
            })
            .await;
        assert!(failed.is_err());
        // The other writer creates one more (it would get the rolled-back row's id, were ids ever reused).
        let (w, created) = claim(&b, "am:w").await;
        assert!(created);
        assert_eq!(claim(&a, "am:w").await, (w, false), "{:?}", db.backend);
        let (z, created) = claim(&a, "am:z").await;
        assert!(
            created,
            "{:?}: a rolled-back alert must not be found",
            db.backend
        );
        assert!(z != w && z != x && z != y);
        assert_eq!(claim(&b, "am:z").await, (z, false), "{:?}", db.backend);
        a.close().await;
        b.close().await;
        let c = db.store().await;
        for (key, id) in [("am:x", x), ("am:y", y), ("am:w", w), ("am:z", z)] {
            assert_eq!(claim(&c, key).await, (id, false), "{:?} {key}", db.backend);
        }
        let (v, created) = claim(&c, "am:v").await;
        assert!(created && v > z.max(w));
    }
}
