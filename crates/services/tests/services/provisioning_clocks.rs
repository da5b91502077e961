//! Provisioning orders' deadlines as durable clocks on SQLite and PostgreSQL (issue 8; SLA-04, SLA-06, SLA-07):
//! started when the order is placed (due = the order's deadline), moved by a granted delay request — also one
//! approved after the deadline it was filed before, which makes the clock live again — and stopped by the
//! completion feedback. A deadline passing unmet fires once: `clock.breached` on the order's timeline and
//! sla.toml `[breach]` (`sla_order_deadline_breached`) to the room manager and the account manager.
//!
//! Bronze existing-network survey, 1 access point: 2.5 WD = 22.5 working hours on the office calendar
//! (09:00–18:00). Placed Monday 2026-11-23 09:00 Asia/Shanghai → Wednesday 11-25 13:30.

use chrono::{DateTime, TimeZone, Utc};
use tianshu_services::authz::Principal;
use tianshu_services::customers::{self, NewCustomerInput};
use tianshu_services::provisioning::{
    self as prov, DelayDecisionInput, DelayInput, NewOrderInput, OrderView, KIND,
};
use tianshu_services::{scheduler, Platform};
use tianshu_testkit::backends;

use super::platform;

/// Local (Asia/Shanghai) time on 2026-11-`d` as UTC.
fn local(d: u32, h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, d, h, m, s).unwrap() - chrono::Duration::hours(8)
}

fn us(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn approver() -> Principal {
    let mut p = Principal::cli_admin();
    p.username = "room-mgr".into();
    p
}

async fn place(p: &Platform) -> OrderView {
    prov::create(
        p,
        &Principal::cli_admin(),
        "cb-1",
        NewOrderInput {
            stage: "existing_network_survey".into(),
            access_points: 1,
            city: "临江市".into(),
            note: None,
        },
    )
    .await
    .unwrap()
}

async fn request(
    p: &Platform,
    v: &OrderView,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> OrderView {
    prov::file_delay(
        p,
        &Principal::cli_admin(),
        v.order.id,
        DelayInput {
            version: v.order.version,
            reason: "customer_caused".into(),
            from: Some(from.to_rfc3339()),
            until: until.to_rfc3339(),
            note: Some("客户机房未就绪（虚构）".into()),
        },
    )
    .await
    .unwrap()
}

async fn approve(p: &Platform, v: &OrderView) -> OrderView {
    let d = v.delays.iter().find(|d| d.outcome == "requested").unwrap();
    prov::decide_delay(
        p,
        &approver(),
        v.order.id,
        d.id,
        v.order.version,
        DelayDecisionInput::Approve,
    )
    .await
    .unwrap()
}

async fn get(p: &Platform, id: i64) -> OrderView {
    prov::get(p, &Principal::cli_admin(), id).await.unwrap()
}

async fn complete(p: &Platform, id: i64) -> OrderView {
    let v = get(p, id).await;
    prov::complete(p, &Principal::cli_admin(), id, v.order.version)
        .await
        .unwrap()
}

/// (clock state, breached, due = deadline) of an order.
async fn clock(p: &Platform, id: i64) -> (String, bool, bool) {
    let v = get(p, id).await;
    let c = v.clock.expect("every order has its deadline clock");
    (
        c.state,
        c.breached_at.is_some(),
        c.due_at == v.order.deadline_at,
    )
}

fn k(state: &str, breached: bool) -> (String, bool, bool) {
    (state.into(), breached, true)
}

/// The breach messages queued for an order.
async fn breaches(p: &Platform, id: i64) -> Vec<tianshu_store::timers::OutboxRow> {
    p.store
        .outbox_of(KIND, &id.to_string())
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.template == "sla_order_deadline_breached")
        .collect()
}

async fn breach_events(p: &Platform, id: i64) -> usize {
    p.store
        .events_of(KIND, &id.to_string())
        .await
        .unwrap()
        .iter()
        .filter(|e| e.kind == "clock.breached")
        .count()
}

#[tokio::test]
async fn sla_06_order_deadline_clocks_breach_once_move_with_granted_delays_and_stop_on_completion()
{
    for db in backends().await {
        let (p, clk) = platform(&db, local(23, 9, 0, 0)).await;
        let admin = Principal::cli_admin();
        let owner = scheduler::instance_id();
        customers::create(
            &p,
            &admin,
            NewCustomerInput {
                key: "cb-1".into(),
                name: "临江港务集团（虚构）".into(),
                tier: "bronze".into(),
                org_key: None,
            },
        )
        .await
        .unwrap();
        let a = place(&p).await;
        let b = place(&p).await;
        let c = place(&p).await;
        let d = place(&p).await;
        let wed_1330 = us(local(25, 13, 30, 0));
        assert_eq!(a.order.deadline_at, wed_1330, "{:?}", db.backend);
        let ka = a.clock.clone().unwrap();
        assert_eq!(
            (
                ka.state.as_str(),
                ka.due_at,
                ka.rule.as_str(),
                ka.basis.as_str(),
                ka.calendar.as_str()
            ),
            ("running", wed_1330, "SLA-04", "1350m@office", "office"),
            "the clock counts the order's working time on the SLA calendar"
        );
        let timers = p
            .store
            .timers_of(KIND, &a.order.id.to_string())
            .await
            .unwrap();
        assert_eq!(
            timers
                .iter()
                .filter(|t| t.state == "pending")
                .map(|t| t.due_at)
                .collect::<Vec<_>>(),
            vec![wed_1330]
        );

        // B: a delay Monday 09:00 → Tuesday 09:00 (9 working hours) granted at once by the room manager: the
        // deadline and the clock move to Thursday 13:30; the old timer is replaced.
        let b = request(&p, &b, local(23, 9, 0, 0), local(24, 9, 0, 0)).await;
        assert_eq!(
            clock(&p, b.order.id).await,
            k("running", false),
            "nothing moves on filing"
        );
        assert_eq!(b.clock.as_ref().unwrap().due_at, wed_1330);
        let b = approve(&p, &b).await;
        let thu_1330 = us(local(26, 13, 30, 0));
        assert_eq!(b.order.deadline_at, thu_1330);
        assert_eq!(clock(&p, b.order.id).await, k("running", false));
        let timers = p
            .store
            .timers_of(KIND, &b.order.id.to_string())
            .await
            .unwrap();
        assert_eq!(
            timers
                .iter()
                .filter(|t| t.state == "pending")
                .map(|t| t.due_at)
                .collect::<Vec<_>>(),
            vec![thu_1330],
            "one pending timer, at the moved deadline"
        );

        // D: a request for Monday 10:00–12:00 filed in time, left undecided past the deadline.
        clk.set(local(23, 10, 0, 0));
        let d = request(&p, &d, local(23, 10, 0, 0), local(23, 12, 0, 0)).await;

        // C is completed on Tuesday: met, never fires.
        clk.set(local(24, 10, 0, 0));
        complete(&p, c.order.id).await;
        assert_eq!(clock(&p, c.order.id).await, k("met", false));

        // Wednesday 13:30:01: A and D fall due unmet — once each.
        clk.set(local(25, 13, 30, 1));
        assert_eq!(scheduler::tick(&p, &owner, 50).await.unwrap(), 2);
        assert_eq!(
            scheduler::tick(&p, &owner, 50).await.unwrap(),
            0,
            "fires once"
        );
        assert_eq!(
            clock(&p, a.order.id).await,
            k("running", true),
            "live until completed"
        );
        let m = breaches(&p, a.order.id).await;
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].cause, "SLA-04:deadline");
        assert_eq!(m[0].state, "queued");
        assert!(m[0].idempotency_key.starts_with("timer:"));
        assert!(
            m[0].recipients.contains("room_manager") && m[0].recipients.contains("account_manager"),
            "{}",
            m[0].recipients
        );
        assert!(
            m[0].context.contains("临江港务集团（虚构）")
                && m[0]
                    .context
                    .contains(&format!("/customers/cb-1#order-{}", a.order.id))
                && m[0].context.contains("\"rule\":\"SLA-04\""),
            "{}",
            m[0].context
        );
        assert_eq!(breach_events(&p, a.order.id).await, 1);

        // Wednesday 14:00: D's request, filed before the deadline (SLA-07: the filing time decides), is approved:
        // the deadline moves by the 2 working hours to 15:30, still ahead, so the clock is live again.
        clk.set(local(25, 14, 0, 0));
        let d = approve(&p, &get(&p, d.order.id).await).await;
        assert_eq!(d.order.deadline_at, us(local(25, 15, 30, 0)));
        assert!(
            !d.overdue_now && d.order.late_requests == 0,
            "{:?}",
            d.order
        );
        assert_eq!(clock(&p, d.order.id).await, k("running", false));
        // Completed at 15:00, inside the moved deadline: met. Its one breach stays on its timeline.
        clk.set(local(25, 15, 0, 0));
        let done = complete(&p, d.order.id).await;
        assert!(!done.completed_late);
        assert_eq!(clock(&p, d.order.id).await, k("met", false));
        clk.set(local(25, 15, 30, 1));
        assert_eq!(scheduler::tick(&p, &owner, 50).await.unwrap(), 0);
        assert_eq!(
            (
                breaches(&p, d.order.id).await.len(),
                breach_events(&p, d.order.id).await
            ),
            (1, 1)
        );

        // A is completed late: its clock stops breached.
        clk.set(local(25, 16, 0, 0));
        let done = complete(&p, a.order.id).await;
        assert!(done.completed_late);
        assert_eq!(clock(&p, a.order.id).await, k("breached", true));

        // Thursday 13:30:01: B falls due at its moved deadline, once.
        clk.set(local(26, 13, 30, 1));
        assert_eq!(scheduler::tick(&p, &owner, 50).await.unwrap(), 1);
        assert_eq!(scheduler::tick(&p, &owner, 50).await.unwrap(), 0);
        let counts = [
            breaches(&p, a.order.id).await.len(),
            breaches(&p, b.order.id).await.len(),
            breaches(&p, c.order.id).await.len(),
            breaches(&p, d.order.id).await.len(),
        ];
        assert_eq!(counts, [1, 1, 0, 1]);
        let mb = &breaches(&p, b.order.id).await[0];
        assert!(
            mb.context.contains("2026-11-26"),
            "the moved deadline: {}",
            mb.context
        );
    }
}
