//! Alert intake requests that arrive together share a group commit: every caller gets its own outcomes, a
//! request the database refuses fails alone while the requests committed with it are stored, and a key sent
//! twice in the same batch is one alert (MON-04 dedup).

use std::collections::BTreeSet;

use tianshu_services::alerts::{self, EventInput};
use tianshu_store::alerts::AlertFilter;
use tianshu_store::on_conn;
use tianshu_testkit::backends;

use super::{monday_10, monitor, platform};

fn trigger(key: &str, summary: &str) -> EventInput {
    serde_json::from_value(serde_json::json!({
        "event_action": "trigger", "dedup_key": key,
        "payload": {"summary": summary, "source": "host-a", "severity": "warning"}
    }))
    .unwrap()
}

/// Makes the database itself refuse one alert (a trigger on its summary), as a full disk or a constraint would.
async fn poison(p: &tianshu_services::Platform) {
    p.store
        .write(|c| {
            Box::pin(async move {
                if c.is_postgres() {
                    on_conn!(c, c => sqlx::query(
                        "CREATE FUNCTION alerts_poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                         IF NEW.summary = 'poison' THEN RAISE EXCEPTION 'poisoned alert'; END IF; RETURN NEW; END $$")
                        .execute(&mut **c).await.map(|_| ()))?;
                    on_conn!(c, c => sqlx::query(
                        "CREATE TRIGGER alerts_poison BEFORE INSERT ON alerts FOR EACH ROW EXECUTE FUNCTION alerts_poison()")
                        .execute(&mut **c).await.map(|_| ()))?;
                } else {
                    on_conn!(c, c => sqlx::query(
                        "CREATE TRIGGER alerts_poison BEFORE INSERT ON alerts WHEN NEW.summary = 'poison' \
                         BEGIN SELECT RAISE(ABORT, 'poisoned alert'); END")
                        .execute(&mut **c).await.map(|_| ()))?;
                }
                Ok(())
            })
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn concurrent_requests_each_get_their_outcome_and_a_refused_one_fails_alone() {
    for db in backends().await {
        let (p, _clock) = platform(&db, monday_10()).await;
        poison(&p).await;
        let who = monitor();
        // Polled together, so they queue before the writer's next batch and share it: 40 new alerts, one key
        // sent twice, and one alert the database refuses.
        let mut events: Vec<EventInput> = (0..40)
            .map(|i| trigger(&format!("disk-{i}"), &format!("磁盘 {i}")))
            .collect();
        events.push(trigger("disk-7", "磁盘 7"));
        events.push(trigger("bad-one", "poison"));
        let results = futures::future::join_all(
            events
                .iter()
                .map(|e| alerts::ingest_event(&p, &who, e.clone())),
        )
        .await;
        let mut created = BTreeSet::new();
        let mut repeated = Vec::new();
        for (i, r) in results.iter().enumerate() {
            match (i, r) {
                (41, r) => assert!(
                    r.is_err(),
                    "{:?}: the refused alert was answered {r:?}",
                    db.backend
                ),
                (_, Ok(o)) if o.result == "created" => {
                    created.insert(o.dedup_key.clone());
                }
                (_, Ok(o)) if o.result == "repeated" => repeated.push(o.dedup_key.clone()),
                (i, r) => panic!("{:?}: request {i} answered {r:?}", db.backend),
            }
        }
        assert_eq!(created.len(), 40, "{:?}", db.backend);
        assert_eq!(repeated.len(), 1, "{:?}", db.backend);
        assert!(created.contains(&repeated[0]), "{:?}", db.backend);

        // Stored exactly once each; nothing of the refused one.
        let page = alerts::list(&p, &who, AlertFilter::default(), None, 200)
            .await
            .unwrap();
        assert_eq!(page.items.len(), 40, "{:?}", db.backend);
        let stored: BTreeSet<String> = page.items.iter().map(|a| a.summary.clone()).collect();
        assert_eq!(stored.len(), 40, "{:?}", db.backend);
        assert!(!stored.contains("poison"), "{:?}", db.backend);

        // Later requests are not held up by the failed drain.
        let again = alerts::ingest_event(&p, &who, trigger("disk-99", "磁盘 99"))
            .await
            .unwrap();
        assert_eq!(again.result, "created");
        p.store.close().await;
    }
}
