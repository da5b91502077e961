//! RPT-06 / SLA-13: the monthly report pack is e-mailed through the outbox by a durable timer — once per month
//! (idempotency key), rescheduled for the next month, never twice pending — on both backends.

use chrono::{TimeZone, Utc};
use tianshu_services::report_pack::{self, ensure_scheduled};
use tianshu_services::scheduler;
use tianshu_testkit::backends;

use super::{monday_10, platform};

#[tokio::test]
async fn rpt_06_monthly_pack_mailed_on_the_first_at_nine_once_and_rescheduled() {
    for db in backends().await {
        let (p, clock) = platform(&db, monday_10()).await;
        // kpi.toml [monthly_pack]: day 1 at 09:00 Asia/Shanghai → 2026-12-01 01:00 UTC for November.
        let id = ensure_scheduled(&p).await.unwrap();
        assert!(id.is_some());
        assert_eq!(
            ensure_scheduled(&p).await.unwrap(),
            None,
            "one pending timer"
        );
        let timers = p.store.timers_of("report_pack", "monthly").await.unwrap();
        assert_eq!(timers.len(), 1);
        let dec_1 = Utc.with_ymd_and_hms(2026, 12, 1, 1, 0, 0).unwrap();
        assert_eq!(timers[0].due_at, dec_1.timestamp_micros());

        // A second before: nothing.
        clock.set(dec_1 - chrono::Duration::seconds(1));
        scheduler::tick(&p, "t", 50).await.unwrap();
        assert!(p
            .store
            .outbox_of("report_pack", "2026-11")
            .await
            .unwrap()
            .is_empty());
        // At 09:00: one e-mail linking November's pack to class C.
        clock.set(dec_1);
        scheduler::tick(&p, "t", 50).await.unwrap();
        scheduler::tick(&p, "t", 50).await.unwrap();
        let out = p.store.outbox_of("report_pack", "2026-11").await.unwrap();
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].template, "rpt_monthly_pack");
        assert_eq!(out[0].idempotency_key, "report:monthly_pack:2026-11");
        assert!(
            out[0]
                .context
                .contains("/reports/pack?kind=monthly&period=2026-11"),
            "{}",
            out[0].context
        );
        assert!(out[0].recipients.contains("\"C\""), "{}", out[0].recipients);
        assert!(out[0].cause.starts_with("RPT-06"));
        // The next one is pending for 2027-01-01 09:00 local.
        let timers = p.store.timers_of("report_pack", "monthly").await.unwrap();
        let pending: Vec<_> = timers.iter().filter(|t| t.state == "pending").collect();
        assert_eq!(pending.len(), 1, "{timers:?}");
        assert_eq!(
            pending[0].due_at,
            Utc.with_ymd_and_hms(2027, 1, 1, 1, 0, 0)
                .unwrap()
                .timestamp_micros()
        );
        assert_eq!(ensure_scheduled(&p).await.unwrap(), None);
    }
}

#[test]
fn periods_parse_months_and_iso_weeks_and_refuse_the_rest() {
    use report_pack::{period_days, PackKind};
    let (k, a, b) = period_days(PackKind::Monthly, "2026-11").unwrap();
    assert_eq!(
        (k.as_str(), a.to_string(), b.to_string()),
        ("2026-11", "2026-11-01".into(), "2026-12-01".into())
    );
    let (k, a, b) = period_days(PackKind::Weekly, "2026-W48").unwrap();
    assert_eq!(
        (k.as_str(), a.to_string(), b.to_string()),
        ("2026-W48", "2026-11-23".into(), "2026-11-30".into())
    );
    for bad in ["2026-13", "2026-1", "abc"] {
        assert!(period_days(PackKind::Monthly, bad).is_err(), "{bad}");
    }
    for bad in ["2026-W54", "2026-48", "W48"] {
        assert!(period_days(PackKind::Weekly, bad).is_err(), "{bad}");
    }
}
