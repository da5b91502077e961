//! Service-level tests on SQLite and (when configured) PostgreSQL: clocks, timers, outbox.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use tianshu_core::{Clock, ManualClock};
use tianshu_services::clocks::{self, ClockSpec, Notify, Recipients};
use tianshu_services::policy::{PackSource, PolicyHandle};
use tianshu_services::{scheduler, Platform};
use tianshu_testkit::{backends, TestDb};

async fn platform(db: &TestDb, start: chrono::DateTime<Utc>) -> (Platform, Arc<ManualClock>) {
    let store = db.store().await;
    let clock = Arc::new(ManualClock::new(start));
    let policy = PolicyHandle::bootstrap(
        &store,
        &PackSource::Embedded,
        clock.now().timestamp_micros(),
        "test",
    )
    .await
    .unwrap();
    (Platform::new(store, Arc::new(policy), clock.clone()), clock)
}

/// The alert sender of the monitoring tests (an Alertmanager bridge's token, province scope).
fn monitor() -> tianshu_services::authz::Principal {
    use tianshu_services::authz::{AuthVia, Principal, Scope};
    Principal {
        user_id: 0,
        username: "am-bridge".into(),
        org_id: 0,
        locale: "zh-CN".into(),
        permissions: std::collections::BTreeSet::from([
            tianshu_core::Permission::AlertManage,
            tianshu_core::Permission::AlertRead,
        ]),
        roles: Vec::new(),
        scope: Scope::Province,
        via: AuthVia::Cli,
    }
}

fn us(t: chrono::DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// Monday 2026-11-23 10:00 Asia/Shanghai.
fn monday_10() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap()
}

fn spec(
    id: &str,
    key: &str,
    rule: &str,
    basis: &str,
    start: i64,
    repeat: Option<&str>,
) -> ClockSpec {
    ClockSpec {
        subject_kind: "incident".into(),
        subject_id: id.into(),
        clock_key: key.into(),
        rule: rule.into(),
        basis: basis.parse().unwrap(),
        calendar: Some("24x7".into()),
        start_at: start,
        repeat: repeat.map(|r| r.parse().unwrap()),
        notify: Notify {
            template: format!("{}_notice", rule.to_lowercase().replace('-', "")),
            recipients: Recipients {
                roles: vec!["room_manager".into()],
                ..Default::default()
            },
            context: serde_json::json!({"incident": id}),
            review: false,
        },
    }
}

async fn start(p: &Platform, s: ClockSpec) {
    let pol = p.policy.current();
    p.store
        .write(move |c| Box::pin(async move { clocks::start(c, &pol, s).await.map(|_| ()) }))
        .await
        .unwrap();
}

#[tokio::test]
async fn esc_03_cadence_reports_due_every_30_minutes_exactly_once_each() {
    for db in backends().await {
        let (p, clock) = platform(&db, monday_10()).await;
        start(
            &p,
            spec(
                "1",
                "esc03.progress",
                "ESC-03",
                "30m",
                us(monday_10()),
                Some("30m"),
            ),
        )
        .await;
        let owner = scheduler::instance_id();
        // Nothing is due before 10:30.
        clock.set(monday_10() + chrono::Duration::minutes(29));
        assert_eq!(scheduler::tick(&p, &owner, 100).await.unwrap(), 0);
        // The message gives the deadline in the centre's time (Monday 10:30 in Shanghai is 02:30 UTC).
        for (minutes, expected_due) in [
            (30, "\"2026-11-23 10:30\""),
            (60, "\"2026-11-23 11:00\""),
            (90, "\"2026-11-23 11:30\""),
        ] {
            clock.set(
                monday_10() + chrono::Duration::minutes(minutes) + chrono::Duration::seconds(1),
            );
            assert_eq!(
                scheduler::tick(&p, &owner, 100).await.unwrap(),
                1,
                "{:?} at +{minutes}m",
                db.backend
            );
            assert_eq!(
                scheduler::tick(&p, &owner, 100).await.unwrap(),
                0,
                "fires once"
            );
            let out = p.store.outbox_of("incident", "1").await.unwrap();
            let last = out.last().unwrap();
            assert!(last.context.contains(expected_due), "{}", last.context);
            assert_eq!(last.state, "queued");
        }
        let events = p.store.events_of("incident", "1").await.unwrap();
        assert_eq!(
            events.iter().filter(|e| e.kind == "clock.reminder").count(),
            3
        );
        // Stopping the cadence (fault fixed) ends it: no more reminders, outcome met.
        let now = us(clock.now());
        p.store
            .write(move |c| {
                Box::pin(async move {
                    clocks::stop(c, "incident", "1", "esc03.progress", now, "resolved")
                        .await
                        .map(|_| ())
                })
            })
            .await
            .unwrap();
        clock.set(monday_10() + chrono::Duration::hours(5));
        assert_eq!(scheduler::tick(&p, &owner, 100).await.unwrap(), 0);
        let clocks = p.store.clocks_of("incident", "1").await.unwrap();
        assert_eq!(clocks[0].state, "met");
        p.store.close().await;
    }
}

#[tokio::test]
async fn esc_04_deadline_breaches_once_and_stays_breached_when_stopped_late() {
    for db in backends().await {
        let (p, clock) = platform(&db, monday_10()).await;
        start(
            &p,
            spec("7", "esc04.dept", "ESC-04", "24h", us(monday_10()), None),
        )
        .await;
        start(
            &p,
            spec("8", "esc04.dept", "ESC-04", "24h", us(monday_10()), None),
        )
        .await;
        let owner = scheduler::instance_id();
        // Incident 8 is resolved in time: met, and its timer never fires.
        let t = us(monday_10() + chrono::Duration::hours(3));
        p.store
            .write(move |c| {
                Box::pin(async move {
                    clocks::stop(c, "incident", "8", "esc04.dept", t, "resolved")
                        .await
                        .map(|_| ())
                })
            })
            .await
            .unwrap();
        clock.set(monday_10() + chrono::Duration::hours(24) + chrono::Duration::seconds(1));
        assert_eq!(scheduler::tick(&p, &owner, 100).await.unwrap(), 1);
        let out = p.store.outbox_of("incident", "7").await.unwrap();
        assert_eq!(out.len(), 1);
        assert!(out[0].recipients.contains("room_manager"));
        assert_eq!(
            out[0].idempotency_key,
            format!(
                "timer:{}",
                p.store.timers_of("incident", "7").await.unwrap()[0].id
            )
        );
        assert!(p.store.outbox_of("incident", "8").await.unwrap().is_empty());
        let t = us(clock.now());
        p.store
            .write(move |c| {
                Box::pin(async move {
                    clocks::stop(c, "incident", "7", "esc04.dept", t, "resolved")
                        .await
                        .map(|_| ())
                })
            })
            .await
            .unwrap();
        assert_eq!(
            p.store.clocks_of("incident", "7").await.unwrap()[0].state,
            "breached"
        );
        assert_eq!(
            p.store.clocks_of("incident", "8").await.unwrap()[0].state,
            "met"
        );
        p.store.close().await;
    }
}

#[tokio::test]
async fn paused_working_time_clock_moves_its_due_time() {
    for db in backends().await {
        let (p, clock) = platform(&db, monday_10()).await;
        // 8 working hours on the office calendar (09:00–18:00) from Monday 10:00 → Monday 18:00.
        let mut s = spec(
            "3",
            "resolution",
            "SLA-TEST",
            "8h@office",
            us(monday_10()),
            None,
        );
        s.calendar = None;
        start(&p, s).await;
        let c0 = p.store.clocks_of("incident", "3").await.unwrap()[0].clone();
        assert_eq!(
            tianshu_store::time::canonical(c0.due_at),
            "2026-11-23T10:00:00.000000Z"
        );
        // Waiting for the customer for 2 working hours (Mon 11:00–13:00 local) → Tuesday 11:00.
        let (a, b) = (
            us(monday_10() + chrono::Duration::hours(1)),
            us(monday_10() + chrono::Duration::hours(3)),
        );
        p.store
            .write(move |c| {
                Box::pin(async move {
                    clocks::pause(c, "incident", "3", "resolution", a, "waiting_for_customer")
                        .await
                        .map(|_| ())
                })
            })
            .await
            .unwrap();
        let pol = p.policy.current();
        p.store
            .write(move |c| {
                Box::pin(async move {
                    clocks::resume(c, &pol, "incident", "3", "resolution", b)
                        .await
                        .map(|_| ())
                })
            })
            .await
            .unwrap();
        let c1 = p.store.clocks_of("incident", "3").await.unwrap()[0].clone();
        assert_eq!(
            tianshu_store::time::canonical(c1.due_at),
            "2026-11-24T03:00:00.000000Z"
        );
        // Only the resumed timer is pending.
        let timers = p.store.timers_of("incident", "3").await.unwrap();
        assert_eq!(timers.iter().filter(|t| t.state == "pending").count(), 1);
        clock.set(tianshu_store::time::from_micros(c1.due_at + 1));
        assert_eq!(
            scheduler::tick(&p, &scheduler::instance_id(), 100)
                .await
                .unwrap(),
            1
        );
        p.store.close().await;
    }
}

#[tokio::test]
async fn a_crashed_instances_lease_expires_and_the_timer_fires_once() {
    for db in backends().await {
        let (p, clock) = platform(&db, monday_10()).await;
        start(
            &p,
            spec("5", "esc05", "ESC-05", "1h", us(monday_10()), None),
        )
        .await;
        clock.set(monday_10() + chrono::Duration::hours(2));
        // Instance A leases the timer and dies before firing it.
        let claimed = p
            .store
            .claim_due_timers("dead-instance", us(clock.now()), scheduler::LEASE_US, 10)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);
        assert_eq!(
            scheduler::tick(&p, "b", 10).await.unwrap(),
            0,
            "still leased"
        );
        clock.advance(chrono::Duration::microseconds(scheduler::LEASE_US + 1));
        assert_eq!(scheduler::tick(&p, "b", 10).await.unwrap(), 1);
        assert_eq!(scheduler::tick(&p, "b", 10).await.unwrap(), 0);
        let t = &p.store.timers_of("incident", "5").await.unwrap()[0];
        assert_eq!(
            (t.state.as_str(), t.fired_by.as_deref()),
            ("fired", Some("b"))
        );
        assert_eq!(p.store.outbox_of("incident", "5").await.unwrap().len(), 1);
        p.store.close().await;
    }
}

#[tokio::test]
async fn two_schedulers_on_postgres_fire_each_timer_exactly_once() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let (a, clock) = platform(&db, monday_10()).await;
    // A second platform (as a second instance would have) on the same schema.
    let store_b = db.store().await;
    let policy_b =
        PolicyHandle::bootstrap(&store_b, &PackSource::Embedded, us(monday_10()), "test")
            .await
            .unwrap();
    let b = Platform::new(store_b, Arc::new(policy_b), clock.clone());
    let n = 300;
    for i in 0..n {
        start(
            &a,
            spec(
                &i.to_string(),
                "esc04.dept",
                "ESC-04",
                "1h",
                us(monday_10()) + i64::from(i) * 1000,
                None,
            ),
        )
        .await;
    }
    clock.set(monday_10() + chrono::Duration::hours(2));
    let (ta, tb) = tokio::join!(
        async {
            let mut total = 0;
            loop {
                let f = scheduler::tick(&a, "instance-a", 7).await.unwrap();
                if f == 0 {
                    break total;
                }
                total += f;
            }
        },
        async {
            let mut total = 0;
            loop {
                let f = scheduler::tick(&b, "instance-b", 7).await.unwrap();
                if f == 0 {
                    break total;
                }
                total += f;
            }
        }
    );
    assert_eq!(ta + tb, n as usize, "a fired {ta}, b fired {tb}");
    assert!(ta > 0 && tb > 0, "both instances took part: a {ta}, b {tb}");
    let out = a.store.outbox_page(0, 1000, None).await.unwrap();
    assert_eq!(out.len(), n as usize);
    a.store.close().await;
    b.store.close().await;
}

#[path = "services/alert_intake.rs"]
mod alert_intake;
#[path = "services/assurance.rs"]
mod assurance;
#[path = "services/cutovers.rs"]
mod cutovers;
#[path = "services/dataops.rs"]
mod dataops;
#[path = "services/duty.rs"]
mod duty;

#[path = "services/mon_retention.rs"]
mod mon_retention;
#[path = "services/notify_scope.rs"]
mod notify_scope;
#[path = "services/problems.rs"]
mod problems;
#[path = "services/recon.rs"]
mod recon;
#[path = "services/recon_db.rs"]
mod recon_db;
#[path = "services/release_ops.rs"]
mod release_ops;
#[path = "services/report_pack.rs"]
mod report_pack;

#[path = "services/directory.rs"]
mod directory;
#[path = "services/problem_clocks.rs"]
mod problem_clocks;
#[path = "services/provisioning_clocks.rs"]
mod provisioning_clocks;
