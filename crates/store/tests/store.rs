//! Storage conformance: every test runs on SQLite and (when configured) PostgreSQL.

use serde_json::json;
use tianshu_store::audit::{append, NewAuditEntry};
use tianshu_store::identity::{insert_org, insert_user, NewOrg, NewUser};
use tianshu_store::{on_conn, Store, StoreError};
use tianshu_testkit::backends;

fn entry(action: &str, id: &str, at: i64) -> NewAuditEntry {
    NewAuditEntry {
        actor: "user:admin".into(),
        action: action.into(),
        object_type: "user".into(),
        object_id: id.into(),
        before: None,
        after: Some(json!({"b": 2, "a": [1, {"z": 1, "y": "好"}]})),
        request_id: Some("req-1".into()),
        at,
    }
}

async fn seed_chain(store: &Store, n: i64) {
    for i in 0..n {
        store
            .audit(entry(
                "user.update",
                &i.to_string(),
                1_763_000_000_123_456 + i,
            ))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn audit_chain_verifies_and_detects_edit_delete_and_truncation() {
    for db in backends().await {
        let store = db.store().await;
        seed_chain(&store, 5).await;
        let r = store.audit_verify().await.unwrap();
        assert!(r.ok(), "{:?}: {:?}", db.backend, r.problems);
        assert_eq!(r.entries, 5);

        // Edit one row's content directly in the database.
        store
            .write(|c| {
                Box::pin(async move {
                    on_conn!(c, c => sqlx::query("UPDATE audit_log SET actor = 'user:mallory' WHERE seq = 3")
                        .execute(&mut **c).await.map(|_| ()))?;
                    Ok(())
                })
            })
            .await
            .unwrap();
        let r = store.audit_verify().await.unwrap();
        assert!(
            r.problems.iter().any(|p| p.seq == 3 && p.kind == "altered"),
            "{:?}",
            r.problems
        );

        // Delete a row in the middle.
        store
            .write(|c| {
                Box::pin(async move {
                    on_conn!(c, c => sqlx::query("DELETE FROM audit_log WHERE seq = 2").execute(&mut **c).await.map(|_| ()))?;
                    Ok(())
                })
            })
            .await
            .unwrap();
        let r = store.audit_verify().await.unwrap();
        assert!(
            r.problems.iter().any(|p| p.kind == "missing"),
            "{:?}",
            r.problems
        );
        store.close().await;
    }
}

#[tokio::test]
async fn audit_detects_truncated_tail() {
    for db in backends().await {
        let store = db.store().await;
        seed_chain(&store, 3).await;
        store
            .write(|c| {
                Box::pin(async move {
                    on_conn!(c, c => sqlx::query("DELETE FROM audit_log WHERE seq = 3").execute(&mut **c).await.map(|_| ()))?;
                    Ok(())
                })
            })
            .await
            .unwrap();
        let r = store.audit_verify().await.unwrap();
        assert!(
            r.problems.iter().any(|p| p.kind == "head_mismatch"),
            "{:?}: {:?}",
            db.backend,
            r.problems
        );
        store.close().await;
    }
}

#[tokio::test]
async fn failed_write_leaves_nothing_behind_and_others_in_the_batch_commit() {
    for db in backends().await {
        let store = db.store().await;
        let mut handles = Vec::new();
        for i in 0..40i64 {
            let s = store.clone();
            handles.push(tokio::spawn(async move {
                s.write(move |c| {
                    Box::pin(async move {
                        append(
                            c,
                            entry("x.test", &i.to_string(), 1_700_000_000_000_000 + i),
                        )
                        .await?;
                        if i % 4 == 0 {
                            return Err(StoreError::Conflict {
                                field: "x".into(),
                                message: "refused".into(),
                            });
                        }
                        Ok(i)
                    })
                })
                .await
            }));
        }
        let mut ok = 0;
        for h in handles {
            if h.await.unwrap().is_ok() {
                ok += 1;
            }
        }
        assert_eq!(ok, 30);
        let r = store.audit_verify().await.unwrap();
        assert!(r.ok(), "{:?}", r.problems);
        assert_eq!(r.entries, 30, "{:?}", db.backend);
        store.close().await;
    }
}

#[tokio::test]
async fn org_tree_regions_and_unique_usernames() {
    for db in backends().await {
        let store = db.store().await;
        let (prov, branch, team, vendor) = store
            .write(|c| {
                Box::pin(async move {
                    let prov = insert_org(
                        c,
                        NewOrg {
                            key: "prov".into(),
                            name: "省中心".into(),
                            kind: "province".into(),
                            parent_id: None,
                        },
                        1,
                    )
                    .await?;
                    let branch = insert_org(
                        c,
                        NewOrg {
                            key: "gz".into(),
                            name: "广州分部".into(),
                            kind: "branch".into(),
                            parent_id: Some(prov.id),
                        },
                        1,
                    )
                    .await?;
                    let team = insert_org(
                        c,
                        NewOrg {
                            key: "gz-ops".into(),
                            name: "广州运维组".into(),
                            kind: "team".into(),
                            parent_id: Some(branch.id),
                        },
                        1,
                    )
                    .await?;
                    let vendor = insert_org(
                        c,
                        NewOrg {
                            key: "v1".into(),
                            name: "某厂商".into(),
                            kind: "vendor".into(),
                            parent_id: None,
                        },
                        1,
                    )
                    .await?;
                    Ok((prov, branch, team, vendor))
                })
            })
            .await
            .unwrap();
        assert_eq!(prov.region_id, None);
        assert_eq!(branch.region_id, Some(branch.id));
        assert_eq!(team.region_id, Some(branch.id));
        assert_eq!(vendor.region_id, None);
        let stored = store.org_by_key("gz-ops").await.unwrap().unwrap();
        assert_eq!(stored, team);

        let org_id = team.id;
        let mk = move || NewUser {
            username: "op1".into(),
            display_name: "值班员甲".into(),
            org_id,
            email: None,
            phone: None,
            locale: "zh-CN".into(),
            province_scope: false,
            password_hash: None,
        };
        let u = mk();
        store
            .write(move |c| Box::pin(async move { insert_user(c, u, 5).await }))
            .await
            .unwrap();
        let u = mk();
        let err = store
            .write(move |c| Box::pin(async move { insert_user(c, u, 5).await }))
            .await
            .unwrap_err();
        match err {
            StoreError::Conflict { field, .. } => assert_eq!(field, "username", "{:?}", db.backend),
            other => panic!("expected conflict, got {other:?}"),
        }
        let in_region = store
            .users_page(0, 10, Some(branch.id), None)
            .await
            .unwrap();
        assert_eq!(in_region.len(), 1);
        let elsewhere = store
            .users_page(0, 10, Some(vendor.id), None)
            .await
            .unwrap();
        assert!(elsewhere.is_empty());
        store.close().await;
    }
}

#[tokio::test]
async fn incidents_save_with_optimistic_concurrency_children_links_and_filters() {
    use tianshu_store::incidents::{self, Incident, IncidentFilter, Link};
    for db in backends().await {
        let store = db.store().await;
        let (parent, child) = store
            .write(|c| {
                Box::pin(async move {
                    let prov = insert_org(
                        c,
                        NewOrg {
                            key: "prov".into(),
                            name: "省".into(),
                            kind: "province".into(),
                            parent_id: None,
                        },
                        1,
                    )
                    .await?;
                    let n1 = incidents::next_in_sequence(c, "INC-20261123").await?;
                    let n2 = incidents::next_in_sequence(c, "INC-20261123").await?;
                    assert_eq!((n1, n2), (1, 2));
                    let base = Incident {
                        number: format!("INC-20261123-{n1:04}"),
                        title: "CRM 下单失败".into(),
                        symptom: "坐席无法提交订单".into(),
                        source_channel: "hotline".into(),
                        reporter: "坐席".into(),
                        org_id: prov.id,
                        state: "preprocessing".into(),
                        fault_level: "general".into(),
                        level_reasons: "[]".into(),
                        notified: "[]".into(),
                        facts: "{}".into(),
                        created_by: "user:preproc".into(),
                        created_at: 10,
                        updated_at: 10,
                        ..Default::default()
                    };
                    let parent = incidents::insert(c, &base).await?;
                    let child = incidents::insert(
                        c,
                        &Incident {
                            number: format!("INC-20261123-{n2:04}"),
                            parent_id: Some(parent.id),
                            child_kind: Some("vendor".into()),
                            ..base.clone()
                        },
                    )
                    .await?;
                    incidents::insert_link(
                        c,
                        &Link {
                            id: 0,
                            from_kind: "incident".into(),
                            from_id: parent.id.to_string(),
                            to_kind: "bug".into(),
                            to_id: "BUG-1".into(),
                            link_type: "converted_to".into(),
                            created_by: "t".into(),
                            created_at: 11,
                        },
                    )
                    .await?;
                    Ok((parent, child))
                })
            })
            .await
            .unwrap();
        assert_eq!(
            store.incident_children(parent.id).await.unwrap(),
            vec![child.clone()]
        );
        let mut changed = parent.clone();
        changed.fault_level = "FL2".into();
        let saved = store
            .write({
                let changed = changed.clone();
                move |c| Box::pin(async move { incidents::save(c, &changed, 20).await })
            })
            .await
            .unwrap();
        assert_eq!(
            (saved.version, saved.fault_level.as_str(), saved.updated_at),
            (2, "FL2", 20)
        );
        // Saving again with the old version is stale.
        let err = store
            .write(move |c| Box::pin(async move { incidents::save(c, &changed, 21).await }))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Stale(_)), "{err:?}");
        let top = store
            .incidents_page(
                i64::MAX,
                10,
                &IncidentFilter {
                    top_level: true,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(top.len(), 1);
        let fl2 = store
            .incidents_page(
                i64::MAX,
                10,
                &IncidentFilter {
                    fault_level: Some("FL2".into()),
                    q: Some("下单".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(fl2.len(), 1);
        assert_eq!(store.links_of("bug", "BUG-1").await.unwrap().len(), 1);
        store.close().await;
    }
}

#[path = "store/notify.rs"]
mod notify;

#[path = "store/duty.rs"]
mod duty;

#[path = "store/alerts.rs"]
mod alerts;

/// Events are queued on the connection and written when the closure has succeeded; a failing event write
/// (here a second firing of one timer) still fails the whole write and leaves nothing of it behind.
#[tokio::test]
async fn queued_events_are_written_in_order_and_their_failure_fails_the_write() {
    use tianshu_store::timers::{insert_event, NewEvent};
    fn ev(kind: &str, timer: Option<i64>) -> NewEvent {
        NewEvent {
            subject_kind: "incident".into(),
            subject_id: "7".into(),
            at: 1_700_000_000_000_000,
            kind: kind.into(),
            actor: "test".into(),
            data: serde_json::json!({"k": kind}),
            timer_id: timer,
        }
    }
    for db in backends().await {
        let store = db.store().await;
        store
            .write(|c| {
                Box::pin(async move {
                    for k in ["a", "b", "c"] {
                        insert_event(c, ev(k, None)).await?;
                    }
                    insert_event(c, ev("fired", Some(5))).await
                })
            })
            .await
            .unwrap();
        let again = store
            .write(|c| {
                Box::pin(async move {
                    append(c, entry("x.second", "7", 1_700_000_000_000_001)).await?;
                    insert_event(c, ev("fired-again", Some(5))).await
                })
            })
            .await;
        assert!(again.is_err(), "{:?}", db.backend);
        let kinds: Vec<String> = store
            .events_of("incident", "7")
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(kinds, ["a", "b", "c", "fired"], "{:?}", db.backend);
        let r = store.audit_verify().await.unwrap();
        assert_eq!(
            r.entries, 0,
            "the failed write's audit entry is gone ({:?})",
            db.backend
        );
        store.close().await;
    }
}

#[path = "store/monitoring.rs"]
mod monitoring;

#[path = "store/views.rs"]
mod views;

#[path = "store/problems.rs"]
mod problems;

#[path = "store/recon.rs"]
mod recon;

#[path = "store/kpi_records.rs"]
mod kpi_records;
#[path = "store/provisioning.rs"]
mod provisioning;

#[path = "store/delivery.rs"]
mod delivery;

/// A started clock's row as returned by the insert is the stored row; a second live clock of the same key is
/// not inserted; an outbox message with a used idempotency key is not inserted and returns no id.
#[tokio::test]
async fn inserted_clock_rows_and_outbox_ids_are_what_is_stored() {
    use tianshu_store::timers::{insert_clock, insert_outbox, NewClock, NewOutbox};
    for db in backends().await {
        let store = db.store().await;
        let clock = || NewClock {
            subject_kind: "incident".into(),
            subject_id: "77".into(),
            clock_key: "inc06_progress".into(),
            rule: "INC-06".into(),
            basis: "working_hours:24h".into(),
            calendar: "default".into(),
            started_at: 1_000,
            due_at: 9_000,
            repeat_basis: Some("3d".into()),
            notify: json!({"template": "t", "recipients": {"roles": ["room_manager"]}}),
        };
        let msg = || NewOutbox {
            idempotency_key: "incident:77:ESC-01".into(),
            subject_kind: "incident".into(),
            subject_id: "77".into(),
            template: "t".into(),
            recipients: json!({"roles": ["room_manager"]}),
            context: json!({"incident": "INC-77"}),
            cause: "ESC-01".into(),
            state: "queued".into(),
            created_at: 1_000,
        };
        let (first, second, id1, id2) = store
            .write(move |c| {
                Box::pin(async move {
                    let first = insert_clock(c, clock()).await?;
                    let second = insert_clock(c, clock()).await?;
                    let id1 = insert_outbox(c, msg()).await?;
                    let id2 = insert_outbox(c, msg()).await?;
                    Ok((first, second, id1, id2))
                })
            })
            .await
            .unwrap();
        let first = first.expect("the first clock is inserted");
        assert_eq!(second, None, "{:?}", db.backend);
        assert_eq!(
            store.clocks_of("incident", "77").await.unwrap(),
            vec![first],
            "{:?}",
            db.backend
        );
        let id1 = id1.expect("the first message is inserted");
        assert_eq!(id2, None, "{:?}", db.backend);
        let stored = store.message(id1).await.unwrap().expect("stored");
        assert_eq!(stored.idempotency_key, "incident:77:ESC-01");
        store.close().await;
    }
}

/// Many concurrent writes, so the SQLite writer forms group-commit batches: every caller is answered with its
/// own result; a failing job leaves nothing behind and does not take its batch neighbours with it; every
/// success is there after the store is closed and opened again.
#[tokio::test]
async fn concurrent_writes_are_each_answered_and_failures_stay_isolated() {
    for db in backends().await {
        let store = db.store().await;
        store
            .write(|c| {
                Box::pin(async move {
                    on_conn!(c, c => sqlx::query("CREATE TABLE writer_probe (k TEXT PRIMARY KEY)")
                        .execute(&mut **c).await.map(|_| ()))?;
                    Ok(())
                })
            })
            .await
            .unwrap();
        let mut tasks = Vec::new();
        for i in 0..300 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store
                    .write(move |c| {
                        Box::pin(async move {
                            let k = format!("k{i}");
                            on_conn!(c, c => sqlx::query("INSERT INTO writer_probe (k) VALUES ($1)")
                                .bind(k).execute(&mut **c).await.map(|_| ()))?;
                            if i % 7 == 0 {
                                return Err(StoreError::Database("deliberate failure".into()));
                            }
                            Ok(i)
                        })
                    })
                    .await
            }));
        }
        for (i, t) in tasks.into_iter().enumerate() {
            match t.await.unwrap() {
                Ok(v) => assert!(
                    v == i && i % 7 != 0,
                    "{:?}: job {i} answered {v}",
                    db.backend
                ),
                Err(e) => assert!(i % 7 == 0, "{:?}: job {i} failed: {e}", db.backend),
            }
        }
        store.close().await;
        let store = db.store().await;
        let keys: Vec<String> = store
            .write(|c| {
                Box::pin(async move {
                    Ok(
                        on_conn!(c, c => sqlx::query_scalar("SELECT k FROM writer_probe")
                        .fetch_all(&mut **c).await)?,
                    )
                })
            })
            .await
            .unwrap();
        let mut want: Vec<String> = (0..300)
            .filter(|i| i % 7 != 0)
            .map(|i| format!("k{i}"))
            .collect();
        let mut got = keys;
        want.sort();
        got.sort();
        assert_eq!(got, want, "{:?}", db.backend);
        store.close().await;
    }
}

/// Reads through the store's read pool (other connections than the writer).
async fn read_i64(store: &Store, sql: &str) -> i64 {
    match store.backend() {
        tianshu_store::PoolRef::Sqlite(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
        tianshu_store::PoolRef::Postgres(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
    }
}

#[tokio::test]
async fn large_transactions_and_group_commits_are_read_back_whole_by_other_connections_and_after_reopen(
) {
    // On SQLite the writer's COMMIT hands its WAL frames to the kernel through the `walbuf` VFS: a 12 MB
    // transaction outgrows the writer's 8 MiB page cache (pages spill to the WAL before COMMIT, straight
    // through, and are then rewritten in place) and its COMMIT writes several MiB through the VFS's 124 KiB
    // buffer; the small concurrent writes are group commits of a few frames each. Other connections, and the
    // store opened again, must see every byte.
    for db in backends().await {
        let store = db.store().await;
        store
            .write(|c| {
                Box::pin(async move {
                    on_conn!(c, c => sqlx::query("CREATE TABLE walbuf_probe (k BIGINT PRIMARY KEY, v TEXT NOT NULL)")
                        .execute(&mut **c).await.map(|_| ()))?;
                    Ok(())
                })
            })
            .await
            .unwrap();
        store
            .write(|c| {
                Box::pin(async move {
                    for k in 0..12_000i64 {
                        let v = format!("{k:08}-").repeat(110);
                        on_conn!(c, c => sqlx::query("INSERT INTO walbuf_probe (k, v) VALUES ($1, $2)")
                            .bind(k).bind(v).execute(&mut **c).await.map(|_| ()))?;
                    }
                    on_conn!(c, c => sqlx::query("UPDATE walbuf_probe SET v = v || 'x' WHERE k % 3 = 0")
                        .execute(&mut **c).await.map(|_| ()))?;
                    Ok(())
                })
            })
            .await
            .unwrap();
        let mut tasks = Vec::new();
        for k in 12_000..12_300i64 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store
                    .write(move |c| {
                        Box::pin(async move {
                            on_conn!(c, c => sqlx::query("INSERT INTO walbuf_probe (k, v) VALUES ($1, 'small')")
                                .bind(k).execute(&mut **c).await.map(|_| ()))?;
                            Ok(())
                        })
                    })
                    .await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        check_probe(&store, db.backend, "open").await;
        store.close().await;
        let store = db.store().await;
        check_probe(&store, db.backend, "reopened").await;
        store.close().await;
    }
}

async fn check_probe(store: &Store, backend: tianshu_testkit::Backend, when: &str) {
    let n = read_i64(store, "SELECT COUNT(*) FROM walbuf_probe").await;
    let len = read_i64(
        store,
        "SELECT CAST(SUM(LENGTH(v)) AS BIGINT) FROM walbuf_probe",
    )
    .await;
    assert_eq!(
        (n, len),
        (12_300, 12_000 * 990 + 4_000 + 300 * 5),
        "{backend:?} {when}"
    );
    if let tianshu_store::PoolRef::Sqlite(p) = store.backend() {
        let ok: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(p)
            .await
            .unwrap();
        assert_eq!(ok, "ok", "{when}");
    }
}

#[tokio::test]
async fn the_sqlite_writer_checkpoints_after_the_configured_number_of_wal_pages() {
    // The writer is the only connection that commits, so its setting is the one that decides how often the WAL
    // is copied into the database file (see `StoreConfig::sqlite_wal_autocheckpoint`).
    for db in backends().await {
        if db.backend != tianshu_testkit::Backend::Sqlite {
            continue;
        }
        let store = db.store().await;
        let pages: i64 = store
            .write(|c| {
                Box::pin(async move {
                    match c.db_mut() {
                        tianshu_store::Db::Sqlite(c) => {
                            Ok(sqlx::query_scalar("PRAGMA wal_autocheckpoint")
                                .fetch_one(&mut **c)
                                .await?)
                        }
                        tianshu_store::Db::Postgres(_) => unreachable!(),
                    }
                })
            })
            .await
            .unwrap();
        assert_eq!(
            pages,
            i64::from(tianshu_store::StoreConfig::new("sqlite::memory:").sqlite_wal_autocheckpoint)
        );
        assert_ne!(pages, 1000, "SQLite's own default");
        store.close().await;
    }
}
