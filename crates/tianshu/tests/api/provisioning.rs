//! Provisioning orders of group customers over HTTP on both backends (issue 8 item 2): SLA-04 limits by tier,
//! the SLA-05 worked examples (example 26) as deadlines on the office calendar, SLA-07 delay requests (granted
//! before the deadline and moving it; refused after it, counted as overdues cumulatively; other causes
//! refused), completion, versions, permissions, KPI-04 from the completed orders, and the console pages.
//!
//! The clock starts on Monday 2026-11-23 09:00 Asia/Shanghai (01:00 UTC); office hours 09:00–18:00 on
//! working days, no holidays in these weeks, so one working day is 9 working hours.

use chrono::{TimeZone, Utc};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use tianshu_testkit::backends;

use super::{problem, spawn, TestApp};

async fn customer(app: &TestApp, tok: &str, key: &str, tier: &str) {
    let r = app
        .post_json(
            tok,
            "/api/v1/customers",
            json!({"key": key, "name": format!("{key} 集团（虚构）"), "tier": tier, "org_key": "guangzhou"}),
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap_or_default()
    );
}

async fn place(app: &TestApp, tok: &str, key: &str, body: Value) -> reqwest::Response {
    app.post_json(tok, &format!("/api/v1/customers/{key}/orders"), body)
        .await
}

async fn placed(app: &TestApp, tok: &str, key: &str, stage: &str, points: u32) -> Value {
    let r = place(
        app,
        tok,
        key,
        json!({"stage": stage, "access_points": points, "city": "临江市"}),
    )
    .await;
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap_or_default()
    );
    r.json().await.unwrap()
}

async fn order(app: &TestApp, tok: &str, id: &Value) -> Value {
    let r = app
        .get_as(tok, &format!("/api/v1/provisioning-orders/{id}"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

async fn post(app: &TestApp, tok: &str, path: String, body: Value) -> reqwest::Response {
    app.post_json(tok, &path, body).await
}

fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

fn indicator<'a>(cards: &'a Value, unit: &str, rule: &str) -> &'a Value {
    cards["cards"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["unit"] == unit)
        .and_then(|c| {
            c["indicators"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["rule"] == rule)
        })
        .unwrap_or_else(|| panic!("no {rule} for {unit}: {cards}"))
}

async fn cards(app: &TestApp, tok: &str, q: &str) -> Value {
    let r = Client::new()
        .get(app.url(&format!("/api/v1/kpi/scorecards?{q}")))
        .bearer_auth(tok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

#[tokio::test]
async fn sla_05_to_07_provisioning_orders_deadlines_and_delay_requests_on_both_backends() {
    for db in backends().await {
        let app = spawn(db).await;
        let admin = app.bearer("admin").await;
        let pre = app.bearer("preproc").await;
        // SLA-02: silver ≤ floor(20 % × customers), so the bronze and gold customers come first.
        for (k, t) in [
            ("cb-1", "bronze"),
            ("cb-2", "bronze"),
            ("cb-3", "bronze"),
            ("cb-4", "bronze"),
            ("cg-1", "gold"),
            ("cs-1", "silver"),
        ] {
            customer(&app, &admin, k, t).await;
        }

        // Worked example 26 (SLA-05, half_day_ceiling): provisioning, 7 points, silver, base 9 WD →
        // 7/5 × 9 = 12.6 → 13 WD: 13 working days from Monday 09:00 end on Wednesday 2026-12-09 18:00 local.
        let a = placed(&app, &admin, "cs-1", "provisioning", 7).await;
        assert_eq!(a["limit"], "13wd", "{a}");
        assert_eq!(a["rules"], json!(["SLA-04", "SLA-05"]));
        assert_eq!(a["deadline"], "2026-12-09T10:00:00.000000Z");
        assert_eq!(
            (a["state"].as_str(), a["version"].as_i64()),
            (Some("open"), Some(1))
        );
        assert_eq!(a["tier"], "silver");
        // Construction survey, 8 points, bronze, base 4 WD → 6.4 → 6.5 WD: six days and 4.5 h → Tuesday
        // 2026-12-01 13:30 local.
        let b = placed(&app, &admin, "cb-1", "construction_survey", 8).await;
        assert_eq!(
            (b["limit"].as_str(), b["deadline"].as_str()),
            (Some("6.5wd"), Some("2026-12-01T05:30:00.000000Z")),
            "{b}"
        );
        // Up to 5 points the base applies: 9 WD → Thursday 2026-12-03 18:00 local; SLA-05 not cited.
        let c = placed(&app, &admin, "cs-1", "provisioning", 5).await;
        assert_eq!(
            (c["limit"].as_str(), c["deadline"].as_str()),
            (Some("9wd"), Some("2026-12-03T10:00:00.000000Z")),
            "{c}"
        );
        assert_eq!(c["rules"], json!(["SLA-04"]));
        let d = placed(&app, &admin, "cs-1", "provisioning", 3).await;

        // SLA-04: a cell the seed does not give is refused, nothing invented; other bad input names its field.
        for (key, body, field, needle) in [
            (
                "cg-1",
                json!({"stage": "provisioning", "access_points": 1, "city": "临江市"}),
                "stage",
                "SLA-04",
            ),
            (
                "cs-1",
                json!({"stage": "acceptance_handover", "access_points": 1, "city": "临江市"}),
                "stage",
                "SLA-04",
            ),
            (
                "cs-1",
                json!({"stage": "service_recovery", "access_points": 1, "city": "临江市"}),
                "stage",
                "wall-clock",
            ),
            (
                "cs-1",
                json!({"stage": "launch", "access_points": 1, "city": "临江市"}),
                "stage",
                "not a stage",
            ),
            (
                "cs-1",
                json!({"stage": "provisioning", "access_points": 0, "city": "临江市"}),
                "access_points",
                "SLA-05",
            ),
            (
                "cs-1",
                json!({"stage": "provisioning", "access_points": 2, "city": " "}),
                "city",
                "",
            ),
        ] {
            let (s, p) = problem(place(&app, &admin, key, body.clone()).await).await;
            assert_eq!(
                (s, p["field"].as_str()),
                (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
                "{body}: {p}"
            );
            assert!(p["detail"].as_str().unwrap().contains(needle), "{p}");
        }
        assert_eq!(
            place(
                &app,
                &admin,
                "nobody",
                json!({"stage": "provisioning", "access_points": 1, "city": "x"})
            )
            .await
            .status(),
            StatusCode::NOT_FOUND
        );
        // Permissions like the customers API: org.read reads, org.manage writes.
        assert_eq!(
            place(
                &app,
                &pre,
                "cs-1",
                json!({"stage": "provisioning", "access_points": 1, "city": "x"})
            )
            .await
            .status(),
            StatusCode::FORBIDDEN
        );
        let vendor = app.bearer("vendor-crm").await;
        let r = Client::new()
            .get(app.url("/api/v1/customers/cs-1/orders"))
            .bearer_auth(&vendor)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let list: Value = Client::new()
            .get(app.url("/api/v1/customers/cs-1/orders"))
            .bearer_auth(&pre)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let ids: Vec<&Value> = list["orders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| &o["id"])
            .collect();
        assert_eq!(ids, vec![&d["id"], &c["id"], &a["id"]], "newest first");
        let detail: Value = Client::new()
            .get(app.url("/api/v1/customers/cs-1"))
            .bearer_auth(&pre)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(detail["customer"]["tier"], "silver");
        assert_eq!(
            detail["default_level"], "A",
            "SLA-03 Proposed default: silver → A"
        );
        assert_eq!(detail["orders"].as_array().unwrap().len(), 3);

        // SLA-07 before the deadline, customer-caused: requested, then approved by someone else. The delay runs
        // from Monday 10:00 to Tuesday 10:00 local = 8 h + 1 h = one working day excluded, so the deadline moves
        // to Thursday 12-10 18:00.
        app.clock.set(at(2026, 11, 23, 2, 0));
        let delays = format!("/api/v1/provisioning-orders/{}/delays", a["id"]);
        let r = post(&app, &admin, delays.clone(),
            json!({"version": 1, "reason": "customer_caused", "until": "2026-11-24T10:00:00+08:00", "note": "客户机房未就绪"})).await;
        assert_eq!(
            r.status(),
            StatusCode::OK,
            "{}",
            r.text().await.unwrap_or_default()
        );
        let a1: Value = r.json().await.unwrap();
        assert_eq!(a1["delays"][0]["outcome"], "requested", "{a1}");
        assert_eq!(
            a1["deadline"], a["deadline"],
            "nothing moves before the decision"
        );
        assert!(
            a1["delays"][0]["deadline_after"].as_i64() > a["deadline_at"].as_i64(),
            "the deadline if approved, shown to the approver: {a1}"
        );
        let mgr = app.bearer("room-mgr").await;
        let r = post(
            &app,
            &mgr,
            format!("{delays}/{}/approve", a1["delays"][0]["id"]),
            json!({"version": 2}),
        )
        .await;
        assert_eq!(
            r.status(),
            StatusCode::OK,
            "{}",
            r.text().await.unwrap_or_default()
        );
        let a2: Value = r.json().await.unwrap();
        assert_eq!(a2["deadline"], "2026-12-10T10:00:00.000000Z", "{a2}");
        assert_eq!(a2["version"], 3);
        assert_eq!(a2["delays"][0]["outcome"], "granted");
        assert_eq!(a2["delays"][0]["deadline_before"], a["deadline_at"]);
        assert_eq!(a2["delays"][0]["deadline_after"], a2["deadline_at"]);
        assert_eq!(
            a2["delays"][0]["deadline_after"],
            a1["delays"][0]["deadline_after"]
        );
        assert_eq!(a2["overdue_count"], 0);

        // A cause other than the customer: refused naming the rule and the field; nothing changes.
        let (s, p) = problem(post(&app, &admin, delays.clone(),
            json!({"version": 3, "reason": "not_customer_caused", "until": "2026-11-25T10:00:00+08:00"})).await).await;
        assert_eq!(
            (s, p["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("reason")),
            "{p}"
        );
        assert!(p["detail"].as_str().unwrap().contains("SLA-07"), "{p}");
        let (s, p) = problem(post(&app, &admin, delays.clone(),
            json!({"version": 3, "reason": "customer_caused", "from": "2026-11-25T10:00:00+08:00", "until": "2026-11-25T09:00:00+08:00"})).await).await;
        assert_eq!(
            (s, p["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("until")),
            "{p}"
        );
        let (s, p) = problem(post(&app, &admin, delays.clone(),
            json!({"version": 3, "reason": "customer_caused", "from": "2026-11-20T10:00:00+08:00", "until": "2026-11-25T09:00:00+08:00"})).await).await;
        assert_eq!(
            (s, p["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("from")),
            "before the order: {p}"
        );
        // A stale version is refused whatever the request.
        let (s, _) = problem(post(&app, &admin, delays.clone(),
            json!({"version": 1, "reason": "customer_caused", "until": "2026-11-25T10:00:00+08:00"})).await).await;
        assert_eq!(s, StatusCode::PRECONDITION_FAILED);
        let now = order(&app, &pre, &a["id"]).await;
        assert_eq!(
            (
                now["version"].as_i64(),
                now["delays"].as_array().unwrap().len()
            ),
            (Some(3), 1)
        );
        assert_eq!(now["deadline"], "2026-12-10T10:00:00.000000Z");

        // Order d is completed on time on Tuesday (deadline 9 WD away).
        app.clock.set(at(2026, 11, 24, 1, 0));
        let r = post(
            &app,
            &admin,
            format!("/api/v1/provisioning-orders/{}/complete", d["id"]),
            json!({"version": 1}),
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK);
        let d2: Value = r.json().await.unwrap();
        assert_eq!(
            (
                d2["state"].as_str(),
                d2["completed_late"].as_bool(),
                d2["overdue_count"].as_i64()
            ),
            (Some("completed"), Some(false), Some(0)),
            "{d2}"
        );

        // After the deadline: refused naming SLA-07, recorded, and each late request is one more overdue.
        app.clock.set(at(2026, 12, 11, 2, 0));
        let now = order(&app, &pre, &a["id"]).await;
        assert_eq!(
            (now["overdue_now"].as_bool(), now["overdue_count"].as_i64()),
            (Some(true), Some(1)),
            "{now}"
        );
        for (version, count) in [(3, 1), (4, 2)] {
            let (s, p) = problem(post(&app, &admin, delays.clone(),
                json!({"version": version, "reason": "customer_caused", "until": "2026-12-14T10:00:00+08:00"})).await).await;
            assert_eq!(
                (s, p["field"].as_str()),
                (StatusCode::UNPROCESSABLE_ENTITY, Some("filed_at")),
                "{p}"
            );
            assert!(p["detail"].as_str().unwrap().contains("SLA-07"), "{p}");
            let now = order(&app, &pre, &a["id"]).await;
            assert_eq!(now["late_requests"], count, "{now}");
            assert_eq!(now["overdue_count"], count, "cumulative");
            assert_eq!(
                now["deadline"], "2026-12-10T10:00:00.000000Z",
                "a refused delay moves nothing"
            );
            assert_eq!(
                now["delays"].as_array().unwrap().last().unwrap()["outcome"],
                "refused_late"
            );
        }
        // The construction survey b is completed on Friday 12-11 10:00 local: from its deadline (Tuesday 12-01
        // 13:30) that is 4.5 h + 3 × 9 h + 4 × 9 h + 1 h = 68.5 working hours; bronze KPI-03 unit 2 WD = 18 h →
        // 4 started units → −0.8.
        let r = post(
            &app,
            &admin,
            format!("/api/v1/provisioning-orders/{}/complete", b["id"]),
            json!({"version": 1}),
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK);
        // Completion: late, but lateness does not count on top of the two late requests.
        let complete = format!("/api/v1/provisioning-orders/{}/complete", a["id"]);
        let (s, _) =
            problem(post(&app, &admin, complete.clone(), json!({"version": 4})).await).await;
        assert_eq!(s, StatusCode::PRECONDITION_FAILED);
        let r = post(&app, &admin, complete.clone(), json!({"version": 5})).await;
        assert_eq!(r.status(), StatusCode::OK);
        let done: Value = r.json().await.unwrap();
        assert_eq!(
            (
                done["completed_late"].as_bool(),
                done["overdue_count"].as_i64(),
                done["overdue_now"].as_bool()
            ),
            (Some(true), Some(2), Some(false)),
            "{done}"
        );
        let (s, _) = problem(post(&app, &admin, complete, json!({"version": 6})).await).await;
        assert_eq!(s, StatusCode::CONFLICT, "already completed");
        let (s, _) = problem(post(&app, &admin, delays,
            json!({"version": 6, "reason": "customer_caused", "until": "2026-12-14T10:00:00+08:00"})).await).await;
        assert_eq!(s, StatusCode::CONFLICT, "a stopped clock takes no delay");

        // KPI-04 from the completed provisioning orders of the customer's branch (guangzhou): November has d on
        // time (100 % → 10), December has a, which is overdue (0 % → 0) and is the record behind the loss.
        let nov = cards(&app, &admin, "period=2026-11").await;
        let k4 = indicator(&nov, "guangzhou", "KPI-04");
        assert_eq!(
            (k4["score"].as_f64(), k4["value"].as_str()),
            (Some(10.0), Some("100 % (1/1)")),
            "{k4}"
        );
        let dec = cards(&app, &admin, "period=2026-12").await;
        let k4 = indicator(&dec, "guangzhou", "KPI-04");
        assert_eq!(k4["score"].as_f64(), Some(0.0), "{k4}");
        assert_eq!(
            k4["losses"][0]["record"]["href"],
            format!("/customers/cs-1#order-{}", a["id"])
        );
        let k3 = indicator(&dec, "guangzhou", "KPI-03");
        assert_eq!(
            (k3["score"].as_f64(), k3["value"].as_str()),
            (Some(9.2), Some("4")),
            "{k3}"
        );
        assert_eq!(k3["losses"][0]["points"].as_f64(), Some(0.8));
        assert_eq!(
            k3["losses"][0]["record"]["href"],
            format!("/customers/cb-1#order-{}", b["id"])
        );
        assert_eq!(
            indicator(&nov, "guangzhou", "KPI-03")["score"].as_f64(),
            Some(10.0),
            "nothing completed"
        );
        let prov = cards(&app, &admin, "period=2026-12&by=province").await;
        assert_eq!(
            indicator(&prov, "prov", "KPI-04")["score"].as_f64(),
            Some(0.0)
        );
        let ven = cards(&app, &admin, "period=2026-12&by=vendor").await;
        let vk4 = &ven["cards"][0]["indicators"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["rule"] == "KPI-04")
            .unwrap()
            .clone();
        assert!(
            vk4["score"].is_null() && vk4["unavailable"].as_str().unwrap().contains("vendors"),
            "{vk4}"
        );

        // Console: the list with tier, level and quota; the customer page with the overdue order highlighted;
        // refusals next to the field.
        let csrf = app.login("admin").await;
        let html = app
            .client
            .get(app.url("/customers"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            html.contains(r#"id="customers-table""#) && html.contains(r#"data-customer="cs-1""#),
            "{html}"
        );
        assert!(html.contains(r#"id="cust-quota""#));
        assert!(html.contains(r#"href="/customers""#), "nav entry");
        let html = app
            .client
            .get(app.url("/customers/cs-1"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            html.contains(&format!(
                r#"<tr id="order-{}" data-order="{}" class="overdue">"#,
                a["id"], a["id"]
            )),
            "{html}"
        );
        assert!(
            html.contains(&format!(r#"id="delay-form-{}""#, c["id"])),
            "open orders take delay requests"
        );
        assert!(
            !html.contains(&format!(r#"id="delay-form-{}""#, a["id"])),
            "completed orders do not"
        );
        let r = app
            .client
            .post(app.url("/customers/cs-1/orders"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("stage", "provisioning"),
                ("access_points", "2"),
                ("city", ""),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.text().await.unwrap().contains(r#"id="o-city-err""#));
        let r = app
            .client
            .post(app.url(&format!("/customers/cs-1/orders/{}/delay", c["id"])))
            .form(&[
                ("csrf", csrf.as_str()),
                ("version", "1"),
                ("reason", "not_customer_caused"),
                ("until", "2026-12-20T10:00"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = r.text().await.unwrap();
        assert!(
            html.contains(&format!(r#"id="d-reason-{}-err""#, c["id"])) && html.contains("SLA-07"),
            "{html}"
        );
        // An order is acted on under its own customer's path only.
        let r = app
            .client
            .post(app.url(&format!("/customers/cb-1/orders/{}/complete", c["id"])))
            .form(&[("csrf", csrf.as_str()), ("version", "1")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert_eq!(order(&app, &pre, &c["id"]).await["state"], "open");
        let r = app
            .client
            .post(app.url("/customers/cs-1/orders"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("stage", "provisioning"),
                ("access_points", "6"),
                ("city", "临江市"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::OK,
            "redirected to the customer page"
        );
        assert!(
            r.text().await.unwrap().contains("11wd"),
            "6/5 × 9 = 10.8 → 11 WD"
        );
    }
}

/// `tianshu demo` (issue 8 item 2): invented group customers within the SLA-02 quotas and provisioning orders
/// on the seed's stage cells (SLA-04; SLA-05 worked example 26: 7 points, silver provisioning → 13 WD), shown on
/// `/customers`; loaded once. In-process test apps leave it off, so the quota tests above count from zero.
#[tokio::test]
async fn demo_loads_group_customers_and_orders_within_sla_02_quotas_on_both_backends() {
    use std::sync::Arc;
    use tianshu::{AppConfig, Application};
    use tianshu_core::ManualClock;
    for db in backends().await {
        let clock = Arc::new(ManualClock::new(
            Utc.with_ymd_and_hms(2026, 11, 23, 1, 0, 0).unwrap(),
        ));
        let mut cfg = AppConfig::new(db.config.clone());
        cfg.demo = true;
        cfg.demo_customers = true;
        cfg.clock = clock.clone();
        let a = Application::build(&cfg, "127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", a.addr);
        let platform = a.platform.clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(a.run_until(async move {
            let _ = rx.await;
        }));
        let app = TestApp {
            base,
            client: Client::builder().cookie_store(true).build().unwrap(),
            platform,
            clock,
            _db: db,
            _stop: tx,
        };
        let admin = app.bearer("admin").await;
        let list: Value = Client::new()
            .get(app.url("/api/v1/customers"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(list["total"], 5, "{list}");
        // SLA-02: every tier with a quota within it (silver at its floor(20 % × 5) = 1).
        for q in list["quotas"].as_array().unwrap() {
            if let Some(max) = q["max"].as_i64() {
                assert!(q["count"].as_i64().unwrap() <= max, "{q}");
            }
        }
        let names: Vec<&str> = list["customers"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c["name"].as_str())
            .collect();
        assert!(names.iter().all(|n| n.ends_with("（虚构）")), "{names:?}");
        let orders: Value = Client::new()
            .get(app.url("/api/v1/customers/demo-factory/orders"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let o = &orders["orders"][0];
        assert_eq!(
            (o["stage"].as_str(), o["tier"].as_str(), o["limit"].as_str()),
            (Some("provisioning"), Some("silver"), Some("13wd")),
            "{orders}"
        );
        // Loaded once.
        assert!(!tianshu_services::demo::load_customers(&app.platform)
            .await
            .unwrap());

        app.login("admin").await;
        let html = app
            .client
            .get(app.url("/customers"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(html.contains(r#"data-customer="demo-port""#), "{html}");
    }
}

/// SLA-07 with an approval step (migration 0025): a request filed before the deadline waits as `requested`; it is
/// decided by someone else holding `provisioning.approve` (four-eyes, refused on `approver`); a rejection needs
/// its reason; approved after the original deadline it still counts (the filing time decided lateness) and the
/// deadline and the durable clock move; every step audited; the console shows the buttons and the refusals.
#[tokio::test]
async fn sla_07_delay_requests_are_decided_by_a_second_person_on_both_backends() {
    for db in backends().await {
        let app = spawn(db).await;
        let admin = app.bearer("admin").await;
        let pre = app.bearer("preproc").await;
        let mgr = app.bearer("room-mgr").await;
        let dept = app.bearer("dept-mgr").await;
        // SLA-02: silver ≤ floor(20 % × 5) = 1.
        for (k, t) in [
            ("cb-1", "bronze"),
            ("cb-2", "bronze"),
            ("cb-3", "bronze"),
            ("cb-4", "bronze"),
            ("cs-1", "silver"),
        ] {
            customer(&app, &admin, k, t).await;
        }
        // Silver provisioning, 1 point: 9 WD from Monday 11-23 09:00 → Thursday 12-03 18:00 local.
        let o = placed(&app, &admin, "cs-1", "provisioning", 1).await;
        assert_eq!(o["deadline"], "2026-12-03T10:00:00.000000Z");
        assert_eq!(
            (o["clock"]["state"].as_str(), &o["clock"]["due_at"]),
            (Some("running"), &o["deadline_at"]),
            "the deadline is a durable clock: {o}"
        );
        let delays = format!("/api/v1/provisioning-orders/{}/delays", o["id"]);

        // Filed Monday 10:00 for Monday 10:00 → Tuesday 10:00 (one working day).
        app.clock.set(at(2026, 11, 23, 2, 0));
        let r = post(&app, &admin, delays.clone(),
            json!({"version": 1, "reason": "customer_caused", "until": "2026-11-24T10:00:00+08:00"})).await;
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.unwrap();
        let d1 = v["delays"][0]["id"].clone();
        assert_eq!(
            (
                v["delays"][0]["outcome"].as_str(),
                v["delays"][0]["requested_by"].as_str(),
                v["version"].as_i64()
            ),
            (Some("requested"), Some("admin"), Some(2)),
            "{v}"
        );
        // One request waits at a time.
        let (s, p) = problem(post(&app, &admin, delays.clone(),
            json!({"version": 2, "reason": "customer_caused", "until": "2026-11-25T10:00:00+08:00"})).await).await;
        assert_eq!(
            (s, p["field"].as_str()),
            (StatusCode::CONFLICT, Some("state")),
            "{p}"
        );
        // Without provisioning.approve: 403. The requester himself: refused naming the field and the rule.
        let approve1 = format!("{delays}/{d1}/approve");
        let reject1 = format!("{delays}/{d1}/reject");
        let s = post(&app, &pre, approve1.clone(), json!({"version": 2}))
            .await
            .status();
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, p) =
            problem(post(&app, &admin, approve1.clone(), json!({"version": 2})).await).await;
        assert_eq!(
            (s, p["field"].as_str()),
            (StatusCode::CONFLICT, Some("approver")),
            "{p}"
        );
        assert!(p["detail"].as_str().unwrap().contains("SLA-07"), "{p}");
        // A rejection needs its reason; a stale version is refused; then rejected with the reason.
        let (s, p) = problem(
            post(
                &app,
                &mgr,
                reject1.clone(),
                json!({"version": 2, "reason": "  "}),
            )
            .await,
        )
        .await;
        assert_eq!(
            (s, p["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("reason")),
            "{p}"
        );
        let (s, _) = problem(
            post(
                &app,
                &mgr,
                reject1.clone(),
                json!({"version": 1, "reason": "x"}),
            )
            .await,
        )
        .await;
        assert_eq!(s, StatusCode::PRECONDITION_FAILED);
        let r = post(
            &app,
            &mgr,
            reject1.clone(),
            json!({"version": 2, "reason": "客户未提供书面说明"}),
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.unwrap();
        assert_eq!(
            (
                v["delays"][0]["outcome"].as_str(),
                v["delays"][0]["decision_note"].as_str(),
                v["deadline"].as_str(),
                v["version"].as_i64()
            ),
            (
                Some("rejected"),
                Some("客户未提供书面说明"),
                Some("2026-12-03T10:00:00.000000Z"),
                Some(3)
            ),
            "{v}"
        );
        assert!(v["delays"][0]["decided_by"]
            .as_str()
            .unwrap()
            .starts_with("user:room-mgr"));
        let (s, p) = problem(post(&app, &mgr, approve1, json!({"version": 3})).await).await;
        assert_eq!(
            (s, p["field"].as_str()),
            (StatusCode::CONFLICT, Some("state")),
            "decided once: {p}"
        );

        // A second request filed Wednesday (before the deadline), decided only on Friday 12-04, after the
        // original deadline: SLA-07 looks at the filing time, so it is granted; the deadline moves by the
        // Wednesday 10:00 → Thursday 10:00 delay (one working day) to Friday 12-04 18:00, and so does the clock.
        app.clock.set(at(2026, 11, 25, 2, 0));
        let r = post(&app, &admin, delays.clone(),
            json!({"version": 3, "reason": "customer_caused", "until": "2026-11-26T10:00:00+08:00", "note": "客户割接窗口"})).await;
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.unwrap();
        let d2 = v["delays"][1]["id"].clone();
        app.clock.set(at(2026, 12, 4, 1, 0));
        let now = order(&app, &pre, &o["id"]).await;
        assert_eq!(
            now["overdue_now"], true,
            "undecided, the old deadline holds: {now}"
        );
        let r = post(
            &app,
            &dept,
            format!("{delays}/{d2}/approve"),
            json!({"version": 4}),
        )
        .await;
        assert_eq!(
            r.status(),
            StatusCode::OK,
            "{}",
            r.text().await.unwrap_or_default()
        );
        let v: Value = r.json().await.unwrap();
        assert_eq!(
            (
                v["deadline"].as_str(),
                v["overdue_now"].as_bool(),
                v["late_requests"].as_i64(),
                v["delays"][1]["outcome"].as_str()
            ),
            (
                Some("2026-12-04T10:00:00.000000Z"),
                Some(false),
                Some(0),
                Some("granted")
            ),
            "{v}"
        );
        assert_eq!(v["clock"]["due_at"], v["deadline_at"], "{v}");

        // Audited: requested ×2, rejected, granted.
        let audit = app.platform.store.audit_recent(None, 200).await.unwrap();
        let oid = o["id"].to_string();
        let mut actions: Vec<&str> = audit
            .iter()
            .filter(|e| e.object_type == "provisioning_order" && e.object_id == oid)
            .map(|e| e.action.as_str())
            .collect();
        actions.reverse();
        assert_eq!(
            actions,
            [
                "provisioning.create",
                "provisioning.delay_requested",
                "provisioning.delay_rejected",
                "provisioning.delay_requested",
                "provisioning.delay_granted"
            ]
        );

        // Console: a waiting request has approve / reject buttons for an approver; the requester's own approval
        // is refused next to them.
        let c = placed(&app, &admin, "cs-1", "provisioning", 2).await;
        let r = post(&app, &admin, format!("/api/v1/provisioning-orders/{}/delays", c["id"]),
            json!({"version": 1, "reason": "customer_caused", "until": "2026-12-08T10:00:00+08:00"})).await;
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.unwrap();
        let d3 = v["delays"][0]["id"].clone();
        let csrf = app.login("admin").await;
        let html = app
            .client
            .get(app.url("/customers/cs-1"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            html.contains(&format!(r#"id="approve-form-{d3}""#))
                && html.contains(&format!(r#"id="reject-form-{d3}""#)),
            "{html}"
        );
        let r = app
            .client
            .post(app.url(&format!(
                "/customers/cs-1/orders/{}/delays/{d3}/approve",
                c["id"]
            )))
            .form(&[
                ("csrf", csrf.as_str()),
                ("version", "2"),
                ("form", "decision"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CONFLICT);
        let html = r.text().await.unwrap();
        assert!(
            html.contains(&format!(r#"id="decision-error-{}""#, c["id"]))
                && html.contains("SLA-07"),
            "{html}"
        );
        // The room manager rejects it from the page with the reason.
        let csrf = app.login("room-mgr").await;
        let r = app
            .client
            .post(app.url(&format!(
                "/customers/cs-1/orders/{}/delays/{d3}/reject",
                c["id"]
            )))
            .form(&[
                ("csrf", csrf.as_str()),
                ("version", "2"),
                ("form", "decision"),
                ("reason", "延期理由不成立"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::OK,
            "redirected to the customer page"
        );
        let html = r.text().await.unwrap();
        assert!(html.contains("延期理由不成立"), "{html}");
        assert_eq!(
            order(&app, &pre, &c["id"]).await["delays"][0]["outcome"],
            "rejected"
        );

        // OpenAPI: both decision endpoints and the clock.
        let doc: Value = app
            .get_as(&admin, "/api/v1/openapi.json")
            .await
            .json()
            .await
            .unwrap();
        for path in [
            "/api/v1/provisioning-orders/{id}/delays/{delay_id}/approve",
            "/api/v1/provisioning-orders/{id}/delays/{delay_id}/reject",
        ] {
            assert!(doc["paths"][path]["post"].is_object(), "{path}");
        }
        assert!(doc["components"]["schemas"]["ProvisioningClockOut"].is_object());
    }
}
