// Notification storage on SQLite and PostgreSQL: lists de-duplicate per person, deliveries are inserted once per
// key, leased, recorded only by their lease holder, rate-counted (digests once) and re-queued after a dead letter.

use serde_json::json;
use tianshu_store::notify::{self as st, NewDelivery, Outcome};
use tianshu_store::timers::{insert_outbox, NewOutbox};
use tianshu_testkit::backends;

#[tokio::test]
async fn lists_deliveries_leases_and_digests_on_both_backends() {
    for db in backends().await {
        let store = db.store().await;
        let (list, msg) = store
            .write(|c| {
                Box::pin(async move {
                    let a =
                        st::insert_contact(c, "甲", Some("13800000001"), None, "zh-CN", 1).await?;
                    let b =
                        st::insert_contact(c, "乙", None, Some("yi@example.com"), "en", 1).await?;
                    let l = st::insert_list(c, "class_c", "C类", 1).await?;
                    assert!(st::insert_list(c, "class_c", "again", 1).await.is_err());
                    let members = vec![format!("contact:{}", a.id), format!("contact:{}", b.id)];
                    let l = st::set_list_members(c, &l, "C类", &members, 1, 2).await?;
                    let id = insert_outbox(
                        c,
                        NewOutbox {
                            idempotency_key: "k1".into(),
                            subject_kind: "incident".into(),
                            subject_id: "1".into(),
                            template: "t1_fault_notice".into(),
                            recipients: json!({"lists": ["class_c"]}),
                            context: json!({}),
                            cause: "test".into(),
                            state: "queued".into(),
                            created_at: 3,
                        },
                    )
                    .await?
                    .unwrap();
                    Ok((l, id))
                })
            })
            .await
            .unwrap();
        assert_eq!(list.version, 2);
        let people = store.list_people("class_c").await.unwrap();
        assert_eq!(people.len(), 2, "{:?}", db.backend);
        assert_eq!(people[0].mobile.as_deref(), Some("13800000001"));

        // Claimed once; a second claim inside the lease gets nothing.
        assert_eq!(
            store
                .claim_queued_messages("w1", 10, 1_000, 10)
                .await
                .unwrap()
                .len(),
            1
        );
        assert!(store
            .claim_queued_messages("w2", 20, 1_000, 10)
            .await
            .unwrap()
            .is_empty());

        let d = move |key: &str, addr: &str| NewDelivery {
            outbox_id: msg,
            delivery_key: key.into(),
            recipient: "contact:1".into(),
            recipient_name: "甲".into(),
            channel: "sms".into(),
            address: addr.into(),
            state: "pending".into(),
            last_error: None,
            subject: "s".into(),
            body: format!("body {key}"),
            now: 100,
        };
        let (first, again) = store
            .write(move |c| {
                Box::pin(async move {
                    let first = st::insert_delivery(c, d("m:1:sms", "13800000001")).await?;
                    let again = st::insert_delivery(c, d("m:1:sms", "13800000001")).await?;
                    st::insert_delivery(c, d("m:2:sms", "13800000001")).await?;
                    st::insert_delivery(c, d("m:3:sms", "13800000001")).await?;
                    Ok((first, again))
                })
            })
            .await
            .unwrap();
        assert!(first && !again, "a delivery key is inserted once");
        let claimed = store
            .claim_due_deliveries("w1", 200, 1_000, 10)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 3);
        assert!(store
            .claim_due_deliveries("w2", 300, 1_000, 10)
            .await
            .unwrap()
            .is_empty());
        let (a, b, c3) = (claimed[0].id, claimed[1].id, claimed[2].id);
        let recorded = store
            .write(move |c| {
                Box::pin(async move {
                    // Only the lease holder may record.
                    let stolen =
                        st::record_delivery(c, a, "w2", &Outcome::Sent { digest_key: None }, 400)
                            .await?;
                    let ok =
                        st::record_delivery(c, a, "w1", &Outcome::Sent { digest_key: None }, 400)
                            .await?;
                    st::record_delivery(c, b, "w1", &Outcome::Held { until: 5_000 }, 400).await?;
                    st::record_delivery(c, c3, "w1", &Outcome::Held { until: 5_000 }, 400).await?;
                    Ok((stolen, ok))
                })
            })
            .await
            .unwrap();
        assert_eq!(recorded, (false, true));
        assert_eq!(
            store.sent_to_since("sms", "13800000001", 0).await.unwrap(),
            (1, Some(400))
        );
        let held = store.held_for("sms", "13800000001").await.unwrap();
        assert_eq!(held.len(), 2);
        let ids: Vec<i64> = held.iter().map(|h| h.id).collect();
        let n = store
            .write(move |c| {
                Box::pin(async move { st::mark_digested(c, &ids, "w1", "digest:x", 600).await })
            })
            .await
            .unwrap();
        assert_eq!(n, 2);
        // The digest counts once toward the rate limit.
        assert_eq!(
            store
                .sent_to_since("sms", "13800000001", 0)
                .await
                .unwrap()
                .0,
            2
        );
        // The batch form agrees, per channel and address, and leaves out addresses with nothing sent.
        let many = store
            .sent_to_since_many(
                &[
                    ("sms".into(), "13800000001".into()),
                    ("sms".into(), "13900000000".into()),
                ],
                0,
            )
            .await
            .unwrap();
        assert_eq!(
            many.get(&("sms".to_string(), "13800000001".to_string())),
            Some(&(2, Some(400)))
        );
        assert_eq!(many.len(), 1);
        let states = store
            .write(move |c| Box::pin(async move { st::delivery_states(c, msg).await }))
            .await
            .unwrap();
        assert_eq!(
            states,
            vec![("digested".to_string(), 2), ("sent".to_string(), 1)]
        );
        store.close().await;
    }
}
