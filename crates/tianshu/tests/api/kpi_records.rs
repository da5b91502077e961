//! KPI-08 complaint timeliness from real complaint records and KPI-12/KPI-13 evaluator assessments, over HTTP on
//! both backends (issue 8): worked example 28 with KPI-11 granularity, the drill-down to the late complaint,
//! vendor cards not scored, refusals naming the field with nothing stored, assessments scored with history and
//! audit, and the console forms.

use chrono::{DateTime, Duration, Utc};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use tianshu_core::Clock;
use tianshu_testkit::backends;
use tokio::task::JoinSet;

use super::{problem, spawn, TestApp};

/// Requests in flight at once when recording many complaints (keeps the test quick on both backends).
const IN_FLIGHT: usize = 25;

async fn customer(app: &TestApp, tok: &str, key: &str, org: &str) {
    let r = app
        .post_json(
            tok,
            "/api/v1/customers",
            json!({"key": key, "name": format!("{key} 集团（虚构）"), "tier": "bronze", "org_key": org}),
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap_or_default()
    );
}

fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339()
}

/// Runs the requests `IN_FLIGHT` at a time; every one must answer `want`. Returns the bodies in input order.
async fn run_all(reqs: Vec<reqwest::RequestBuilder>, want: StatusCode) -> Vec<Value> {
    let mut out: Vec<Option<Value>> = vec![None; reqs.len()];
    let mut reqs = reqs.into_iter().enumerate().peekable();
    while reqs.peek().is_some() {
        let mut set = JoinSet::new();
        for (i, rq) in reqs.by_ref().take(IN_FLIGHT) {
            set.spawn(async move {
                let r = rq.send().await.unwrap();
                let s = r.status();
                (i, s, r.json::<Value>().await.unwrap())
            });
        }
        while let Some(done) = set.join_next().await {
            let (i, s, v) = done.unwrap();
            assert_eq!(s, want, "{v}");
            out[i] = Some(v);
        }
    }
    out.into_iter().map(Option::unwrap).collect()
}

/// Records `n` complaints of `customer` received two hours ago — the first `late` with a handling deadline
/// already past, the rest due tomorrow — and closes them all now, as admin. Returns the closed complaints in
/// order. A token of its own each time: the pack's per-token rate limit (600 a minute) counts on the test clock,
/// which does not move here.
async fn closed_complaints(app: &TestApp, customer: &str, n: usize, late: usize) -> Vec<Value> {
    let tok = app.bearer("admin").await;
    let tok = tok.as_str();
    let now = app.clock.now();
    let c = Client::new();
    let creates = (0..n)
        .map(|i| {
            let due = if i < late {
                now - Duration::hours(1)
            } else {
                now + Duration::days(1)
            };
            c.post(app.url("/api/v1/complaints")).bearer_auth(tok).json(&json!({
                "customer": customer, "received_at": rfc(now - Duration::hours(2)), "due_at": rfc(due),
                "summary": format!("专线时断时续（第 {i} 单）")}))
        })
        .collect();
    let made = run_all(creates, StatusCode::CREATED).await;
    let closes = made
        .iter()
        .map(|m| {
            c.post(app.url(&format!("/api/v1/complaints/{}/close", m["id"])))
                .bearer_auth(tok)
                .json(&json!({"version": m["version"], "resolution": "已排除故障并回访客户"}))
        })
        .collect();
    run_all(closes, StatusCode::OK).await
}

async fn cards(app: &TestApp, tok: &str, query: &str) -> Value {
    let r = app
        .get_as(tok, &format!("/api/v1/kpi/scorecards?{query}"))
        .await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "{}",
        r.text().await.unwrap_or_default()
    );
    r.json().await.unwrap()
}

fn indicator<'a>(v: &'a Value, unit: &str, key: &str) -> &'a Value {
    let card = v["cards"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["unit"] == unit)
        .unwrap_or_else(|| panic!("no card {unit}: {v}"));
    card["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["key"] == key)
        .unwrap_or_else(|| panic!("no {key}: {card}"))
}

fn k8<'a>(v: &'a Value, unit: &str) -> &'a Value {
    indicator(v, unit, "complaint_timeliness")
}

#[tokio::test]
async fn kpi_08_complaint_timeliness_from_closed_complaints_worked_example_28_on_both_backends() {
    for db in backends().await {
        let app = spawn(db).await;
        let admin = app.bearer("admin").await;
        for (k, org) in [
            ("cp-gz", "guangzhou"),
            ("cp-fs", "foshan"),
            ("cp-sz", "shenzhen"),
            ("cp-zh", "zhuhai"),
            ("cp-dg", "dongguan"),
        ] {
            customer(&app, &admin, k, org).await;
        }
        // Worked example 28 / KPI-11 with real complaints closed this month, one branch each:
        // 199/200 = 99.5 % → 6 + 15 × 0.2 = 9; 49/50 = 98.0 % → 6; 3/3 = 100 % → 10; 47/48 = 97.92 % → 0.
        let gz = closed_complaints(&app, "cp-gz", 200, 1).await;
        closed_complaints(&app, "cp-fs", 50, 1).await;
        closed_complaints(&app, "cp-sz", 3, 0).await;
        closed_complaints(&app, "cp-zh", 48, 1).await;
        assert_eq!(gz[0]["on_time"], false, "{}", gz[0]);
        assert_eq!(gz[1]["on_time"], true);
        assert_eq!(gz[1]["state"], "closed");
        // An open complaint past its deadline counts only once it is closed (KPI-08: complaints closed in the
        // period).
        let now = app.clock.now();
        let r = app
            .post_json(
                &admin,
                "/api/v1/complaints",
                json!({"customer": "cp-dg", "received_at": rfc(now - Duration::days(3)),
                       "due_at": rfc(now - Duration::days(2)), "cs_level": "CS2", "summary": "账单金额有误"}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let open: Value = r.json().await.unwrap();
        assert_eq!(
            (open["overdue_now"].as_bool(), open["on_time"].is_null()),
            (Some(true), true),
            "{open}"
        );
        assert_eq!(open["cs_level"], "CS2");

        let v = cards(&app, &admin, "period=2026-11").await;
        for (unit, score, value) in [
            ("guangzhou", 9.0, "99.5 % (199/200)"),
            ("foshan", 6.0, "98 % (49/50)"),
            ("shenzhen", 10.0, "100 % (3/3)"),
            ("zhuhai", 0.0, "97.92 % (47/48)"),
        ] {
            let i = k8(&v, unit);
            assert_eq!(
                (i["rule"].as_str(), i["score"].as_f64(), i["value"].as_str()),
                (Some("KPI-08"), Some(score), Some(value)),
                "{unit}: {i}"
            );
        }
        // Nothing closed in Dongguan yet: no complaints → full marks, like KPI-04.
        assert_eq!(k8(&v, "dongguan")["score"].as_f64(), Some(10.0));
        assert!(v["unavailable"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["measure"] != "complaints" && m["measure"] != "complaints_on_time"));
        // The drill-down names the late complaint with a link to it on the customer page.
        let losses = k8(&v, "guangzhou")["losses"].as_array().unwrap();
        assert_eq!(losses.len(), 1, "{losses:?}");
        assert_eq!(losses[0]["record"]["id"], gz[0]["id"].to_string());
        assert_eq!(
            losses[0]["record"]["href"],
            format!("/customers/cp-gz#complaint-{}", gz[0]["id"])
        );
        assert!(losses[0]["reason"].as_str().unwrap().starts_with("KPI-08"));

        // The province carries all of them: 298/301 = 99.003 % → 99.00 % (KPI-11: two decimals, completed steps
        // only) → 6 + 10 × 0.2 = 8, example 28's 99.0 % → 8.
        let pv = cards(&app, &admin, "period=2026-11&by=province").await;
        let i = k8(&pv, "prov");
        assert_eq!(
            (i["score"].as_f64(), i["value"].as_str()),
            (Some(8.0), Some("99 % (298/301)")),
            "{i}"
        );
        // Complaints are not dispatched to vendors: their cards do not score KPI-08 and say why.
        let ven = cards(&app, &admin, "period=2026-11&by=vendor").await;
        let vk = &ven["cards"][0]["indicators"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["rule"] == "KPI-08")
            .unwrap()
            .clone();
        assert!(
            vk["score"].is_null() && vk["unavailable"].as_str().unwrap().contains("vendors"),
            "{vk}"
        );

        // Closing the overdue one now counts it, late: 0/1 → 0.
        let r = app
            .post_json(
                &admin,
                &format!("/api/v1/complaints/{}/close", open["id"]),
                json!({"version": open["version"], "resolution": "已退还多收费用"}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let closed: Value = r.json().await.unwrap();
        assert_eq!(closed["on_time"], false);
        assert!(closed["closed_by"]
            .as_str()
            .unwrap()
            .starts_with("user:admin"));
        let v = cards(&app, &admin, "period=2026-11&unit=dongguan").await;
        assert_eq!(k8(&v, "dongguan")["score"].as_f64(), Some(0.0));
        // Closing twice: 409 naming `state`, nothing changed.
        let r = app
            .post_json(
                &admin,
                &format!("/api/v1/complaints/{}/close", open["id"]),
                json!({"version": closed["version"], "resolution": "再次结案"}),
            )
            .await;
        let (s, p) = problem(r).await;
        assert_eq!(
            (s, p["field"].as_str()),
            (StatusCode::CONFLICT, Some("state")),
            "{p}"
        );
        let again: Value = app
            .get_as(&admin, &format!("/api/v1/complaints/{}", open["id"]))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            (&again["resolution"], &again["version"], &again["closed_at"]),
            (
                &closed["resolution"],
                &closed["version"],
                &closed["closed_at"]
            )
        );
        // Both transitions are audited.
        let audit: Value = app
            .get_as(
                &admin,
                &format!(
                    "/api/v1/audit?object_type=complaint&object_id={}",
                    open["id"]
                ),
            )
            .await
            .json()
            .await
            .unwrap();
        let actions: Vec<&str> = audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert!(
            actions.contains(&"complaint.create") && actions.contains(&"complaint.close"),
            "{audit}"
        );
        // A month with nothing closed scores full marks.
        let dec = cards(&app, &admin, "period=2026-12").await;
        assert_eq!(k8(&dec, "guangzhou")["score"].as_f64(), Some(10.0));
    }
}

#[tokio::test]
async fn kpi_08_bad_complaints_are_refused_naming_the_field_and_nothing_is_stored_on_both_backends()
{
    for db in backends().await {
        let app = spawn(db).await;
        let admin = app.bearer("admin").await;
        customer(&app, &admin, "cp-gz", "guangzhou").await;
        let inc = app
            .new_incident(&admin, json!({"affected_users": 10}))
            .await;
        let now = app.clock.now();
        let at = |h: i64| rfc(now + Duration::hours(h));
        let good = json!({"customer": "cp-gz", "received_at": at(-2), "due_at": at(22), "summary": "上网卡顿"});
        let with = |k: &str, v: Value| {
            let mut b = good.clone();
            b[k] = v;
            b
        };
        for (body, status, field, cites) in [
            // KPI-08: the deadline customer service sets must come after receipt.
            (
                with("due_at", json!(at(-3))),
                StatusCode::UNPROCESSABLE_ENTITY,
                "due_at",
                "KPI-08",
            ),
            (
                with("due_at", json!(at(-2))),
                StatusCode::UNPROCESSABLE_ENTITY,
                "due_at",
                "KPI-08",
            ),
            (
                with("due_at", json!("明天")),
                StatusCode::UNPROCESSABLE_ENTITY,
                "due_at",
                "",
            ),
            (
                with("received_at", json!(at(1))),
                StatusCode::UNPROCESSABLE_ENTITY,
                "received_at",
                "KPI-08",
            ),
            (
                with("customer", json!("nobody")),
                StatusCode::BAD_REQUEST,
                "customer",
                "",
            ),
            (
                with("incident", json!("INC-19990101-000001")),
                StatusCode::BAD_REQUEST,
                "incident",
                "",
            ),
            (
                with("cs_level", json!("CS5")),
                StatusCode::UNPROCESSABLE_ENTITY,
                "cs_level",
                "SEV-08",
            ),
            (
                with("summary", json!("  ")),
                StatusCode::UNPROCESSABLE_ENTITY,
                "summary",
                "",
            ),
        ] {
            let (s, p) = problem(
                app.post_json(&admin, "/api/v1/complaints", body.clone())
                    .await,
            )
            .await;
            assert_eq!(
                (s, p["field"].as_str()),
                (status, Some(field)),
                "{body}: {p}"
            );
            assert!(
                p["detail"].as_str().unwrap_or_default().contains(cites),
                "{p}"
            );
        }
        let list: Value = app
            .get_as(&admin, "/api/v1/customers/cp-gz/complaints")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            list["complaints"].as_array().unwrap().len(),
            0,
            "nothing stored"
        );
        // Without org.manage: 403.
        let pre = app.bearer("preproc").await;
        let r = app
            .post_json(&pre, "/api/v1/complaints", good.clone())
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        // A good one, linked to a ticket, with its CS level.
        let r = app
            .post_json(
                &admin,
                "/api/v1/complaints",
                with("incident", inc["number"].clone()),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let m: Value = r.json().await.unwrap();
        assert_eq!(
            (&m["incident_id"], &m["incident_number"]),
            (&inc["id"], &inc["number"])
        );
        let close_url = format!("/api/v1/complaints/{}/close", m["id"]);
        for (body, status, field) in [
            (
                json!({"version": m["version"], "closed_at": at(-3), "resolution": "已处理"}),
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("closed_at"),
            ),
            (
                json!({"version": m["version"], "closed_at": at(1), "resolution": "已处理"}),
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("closed_at"),
            ),
            (
                json!({"version": m["version"], "resolution": ""}),
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("resolution"),
            ),
            (
                json!({"version": 99, "resolution": "已处理"}),
                StatusCode::PRECONDITION_FAILED,
                None,
            ),
        ] {
            let (s, p) = problem(app.post_json(&admin, &close_url, body.clone()).await).await;
            assert_eq!((s, p["field"].as_str()), (status, field), "{body}: {p}");
        }
        let cur: Value = app
            .get_as(&admin, &format!("/api/v1/complaints/{}", m["id"]))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            (&cur["state"], &cur["version"]),
            (&json!("open"), &m["version"]),
            "nothing changed: {cur}"
        );
        // Closed an hour ago, by its deadline.
        let r = app
            .post_json(
                &admin,
                &format!("/api/v1/complaints/{}/close", m["id"]),
                json!({"version": m["version"], "closed_at": at(-1), "resolution": "已优化基站参数"}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let done: Value = r.json().await.unwrap();
        assert_eq!(done["on_time"], true);
        assert_eq!(
            done["closed_at"].as_i64(),
            Some((now - Duration::hours(1)).timestamp_micros())
        );

        // The customer page lists it; the form refuses a deadline before receipt next to the field.
        let csrf = app.login("admin").await;
        let html = app
            .client
            .get(app.url("/customers/cp-gz"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            html.contains(&format!(r#"id="complaint-{}""#, m["id"]))
                && html.contains(r#"data-outcome="on_time""#),
            "{html}"
        );
        assert!(html.contains(r#"id="complaint-form""#));
        let r = app
            .client
            .post(app.url("/customers/cp-gz/complaints"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("received_at", "2026-11-23T08:00"),
                ("due_at", "2026-11-23T07:00"),
                ("summary", "短信发送失败"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = r.text().await.unwrap();
        assert!(
            html.contains(r#"id="c-due-err""#) && html.contains("KPI-08"),
            "{html}"
        );
        assert!(
            html.contains("短信发送失败"),
            "the form keeps what was typed"
        );
        // A good one from the form, then closed from its row.
        let r = app
            .client
            .post(app.url("/customers/cp-gz/complaints"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("due_at", "2026-11-24T09:00"),
                ("cs_level", "CS3"),
                ("summary", "短信发送失败"),
            ])
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success() || r.status().is_redirection());
        let list: Value = app
            .get_as(&admin, "/api/v1/customers/cp-gz/complaints")
            .await
            .json()
            .await
            .unwrap();
        let newest = &list["complaints"][0];
        assert_eq!(
            (newest["cs_level"].as_str(), newest["state"].as_str()),
            (Some("CS3"), Some("open"))
        );
        let r = app
            .client
            .post(app.url(&format!(
                "/customers/cp-gz/complaints/{}/close",
                newest["id"]
            )))
            .form(&[
                ("csrf", csrf.as_str()),
                ("version", &newest["version"].to_string()),
                ("resolution", ""),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r
            .text()
            .await
            .unwrap()
            .contains(&format!(r#"id="cc-res-{}-err""#, newest["id"])));
    }
}

async fn assess(app: &TestApp, tok: &str, body: Value) -> reqwest::Response {
    app.post_json(tok, "/api/v1/kpi/assessments", body).await
}

#[tokio::test]
async fn kpi_13_evaluator_assessments_score_assessed_indicators_with_history_on_both_backends() {
    for db in backends().await {
        let app = spawn(db).await;
        let admin = app.bearer("admin").await;
        let mgr = app.bearer("room-mgr").await;
        let set = "agent_portal_branch";
        let body = |ind: &str, points: Value, reason: &str| {
            json!({"set": set, "indicator": ind, "unit": "guangzhou", "period": "2026-11",
                   "points": points, "reason": reason})
        };
        // Before any assessment the four KPI-13 parts are not scored and say so.
        let v = cards(
            &app,
            &admin,
            &format!("period=2026-11&set={set}&unit=guangzhou"),
        )
        .await;
        let i = indicator(&v, "guangzhou", "branch_assurance_team");
        assert!(i["score"].is_null(), "{i}");
        assert!(i["unavailable"].as_str().unwrap().contains("KPI-13"));

        let r = assess(
            &app,
            &admin,
            body("branch_assurance_team", json!(3.5), "保障团队按时到位"),
        )
        .await;
        assert_eq!(
            r.status(),
            StatusCode::CREATED,
            "{}",
            r.text().await.unwrap_or_default()
        );
        let first: Value = r.json().await.unwrap();
        assert!(first["superseded"].is_null());
        assert_eq!(first["current"]["rule"], "KPI-13");
        // The room manager (kpi.assess) re-assesses: the first one is superseded, both kept.
        let later = app.clock.now() + Duration::minutes(30);
        app.clock.set(later);
        let r = assess(
            &app,
            &mgr,
            body("branch_assurance_team", json!(3), "周末保障一次迟到"),
        )
        .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let second: Value = r.json().await.unwrap();
        assert_eq!(second["superseded"]["id"], first["current"]["id"]);
        assert_eq!(
            second["superseded"]["superseded_by"],
            second["current"]["id"]
        );
        assert_eq!(second["current"]["supersedes"], first["current"]["id"]);

        let v = cards(
            &app,
            &admin,
            &format!("period=2026-11&set={set}&unit=guangzhou"),
        )
        .await;
        let i = indicator(&v, "guangzhou", "branch_assurance_team");
        assert_eq!(i["score"].as_f64(), Some(3.0), "{i}");
        assert!(i["unavailable"].is_null());
        let a = &i["assessment"];
        assert!(
            a["assessed_by"]
                .as_str()
                .unwrap()
                .starts_with("user:room-mgr"),
            "{a}"
        );
        assert_eq!(
            (a["reason"].as_str(), a["assessed_at"].as_i64()),
            (Some("周末保障一次迟到"), Some(later.timestamp_micros())),
            "{a}"
        );
        let card = &v["cards"][0];
        assert_eq!(
            (card["total"].as_f64(), card["max"].as_f64()),
            (Some(3.0), Some(4.0))
        );
        // All four parts: 1 + 0.5 + 3 + 2 = 6.5 of 8 → KPI-14 81.3.
        for (ind, p) in [
            ("release_delivery_peak_assurance", json!(1)),
            ("post_release_verification", json!(0.5)),
            ("central_duty_team", json!(2)),
        ] {
            let r = assess(&app, &mgr, body(ind, p, "按月评定")).await;
            assert_eq!(r.status(), StatusCode::CREATED);
        }
        let v = cards(
            &app,
            &admin,
            &format!("period=2026-11&set={set}&unit=guangzhou"),
        )
        .await;
        let card = &v["cards"][0];
        assert_eq!(
            (
                card["total"].as_f64(),
                card["max"].as_f64(),
                card["percent"].as_f64()
            ),
            (Some(6.5), Some(8.0), Some(81.3)),
            "{card}"
        );
        assert!(
            v["unavailable"]
                .as_array()
                .unwrap()
                .iter()
                .all(|m| !m["measure"].as_str().unwrap().starts_with("assessed:")),
            "every shown unit is assessed: {}",
            v["unavailable"]
        );
        // Other branches are still not scored; another month is not touched.
        let all = cards(&app, &admin, &format!("period=2026-11&set={set}")).await;
        assert!(indicator(&all, "foshan", "central_duty_team")["score"].is_null());
        let oct = cards(
            &app,
            &admin,
            &format!("period=2026-10&set={set}&unit=guangzhou"),
        )
        .await;
        assert!(indicator(&oct, "guangzhou", "central_duty_team")["score"].is_null());

        // Bad input names the field (and the rule), nothing is stored.
        for (b, status, field, cites) in [
            (
                body("branch_assurance_team", json!(4.5), "x"),
                StatusCode::UNPROCESSABLE_ENTITY,
                "points",
                "KPI-13",
            ),
            (
                body("central_duty_team", json!(-1), "x"),
                StatusCode::UNPROCESSABLE_ENTITY,
                "points",
                "KPI-13",
            ),
            (
                body("central_duty_team", json!(1.234), "x"),
                StatusCode::UNPROCESSABLE_ENTITY,
                "points",
                "",
            ),
            (
                body("central_duty_team", json!(1), " "),
                StatusCode::UNPROCESSABLE_ENTITY,
                "reason",
                "KPI-12",
            ),
            (
                body("nope", json!(1), "x"),
                StatusCode::UNPROCESSABLE_ENTITY,
                "indicator",
                "",
            ),
            (
                json!({"set": "group_customer_support", "indicator": "complaint_timeliness",
                       "unit": "guangzhou", "period": "2026-11", "points": 10, "reason": "x"}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "indicator",
                "KPI-08",
            ),
            (
                json!({"set": set, "indicator": "central_duty_team", "unit": "nowhere",
                       "period": "2026-11", "points": 1, "reason": "x"}),
                StatusCode::BAD_REQUEST,
                "unit",
                "",
            ),
            (
                json!({"set": set, "indicator": "central_duty_team", "unit": "guangzhou",
                       "period": "2027-01", "points": 1, "reason": "x"}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "period",
                "",
            ),
            (
                json!({"set": "nope", "indicator": "central_duty_team", "unit": "guangzhou",
                       "period": "2026-11", "points": 1, "reason": "x"}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "set",
                "",
            ),
        ] {
            let (s, p) = problem(assess(&app, &admin, b.clone()).await).await;
            assert_eq!((s, p["field"].as_str()), (status, Some(field)), "{b}: {p}");
            assert!(
                p["detail"].as_str().unwrap_or_default().contains(cites),
                "{p}"
            );
        }
        // Read-only users and pre-processors hold no kpi.assess.
        for user in ["viewer", "preproc"] {
            let tok = app.bearer(user).await;
            let r = assess(&app, &tok, body("central_duty_team", json!(1), "x")).await;
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{user}");
        }
        let hist: Value = app
            .get_as(
                &admin,
                &format!("/api/v1/kpi/assessments?set={set}&period=2026-11&unit=guangzhou"),
            )
            .await
            .json()
            .await
            .unwrap();
        let rows = hist["assessments"].as_array().unwrap();
        assert_eq!(rows.len(), 5, "four current and one superseded: {hist}");
        assert_eq!(
            rows.iter().filter(|a| a["superseded_by"].is_null()).count(),
            4
        );
        assert_eq!(
            indicator(
                &cards(
                    &app,
                    &admin,
                    &format!("period=2026-11&set={set}&unit=guangzhou")
                )
                .await,
                "guangzhou",
                "central_duty_team"
            )["score"]
                .as_f64(),
            Some(2.0),
            "unchanged by the refusals"
        );
        // Audited: the first assessment and the re-assessment with the points before.
        let audit: Value = app
            .get_as(
                &admin,
                &format!(
                    "/api/v1/audit?object_type=kpi_assessment&object_id={}",
                    second["current"]["id"]
                ),
            )
            .await
            .json()
            .await
            .unwrap();
        let e = &audit["items"][0];
        assert_eq!(e["action"], "kpi.reassess", "{audit}");
        assert_eq!(e["before"]["points"].as_f64(), Some(3.5));

        // The console: the drill-down shows the assessments and the form; a refusal is shown next to the points.
        let csrf = app.login("admin").await;
        let page = format!("/kpi?period=2026-11&set={set}&by=branch&unit=guangzhou");
        let html = app
            .client
            .get(app.url(&page))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            html.contains(r#"id="assess-form-central_duty_team""#)
                && html.contains("周末保障一次迟到")
                && html.contains(r#"data-superseded="true""#),
            "{html}"
        );
        let form = |points: &'static str| {
            [
                ("csrf", csrf.clone()),
                ("set", set.to_string()),
                ("period", "2026-11".to_string()),
                ("by", "branch".to_string()),
                ("unit", "guangzhou".to_string()),
                ("indicator", "central_duty_team".to_string()),
                ("points", points.to_string()),
                ("reason", "值守记录完整".to_string()),
            ]
        };
        let r = app
            .client
            .post(app.url("/kpi/assessments"))
            .form(&form("9"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = r.text().await.unwrap();
        assert!(
            html.contains(r#"id="ap-central_duty_team-err""#) && html.contains("KPI-13"),
            "{html}"
        );
        let r = app
            .client
            .post(app.url("/kpi/assessments"))
            .form(&form("1.5"))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success() || r.status().is_redirection());
        let v = cards(
            &app,
            &admin,
            &format!("period=2026-11&set={set}&unit=guangzhou"),
        )
        .await;
        assert_eq!(
            indicator(&v, "guangzhou", "central_duty_team")["score"].as_f64(),
            Some(1.5)
        );

        // The routes are in the OpenAPI document.
        let doc: Value = app
            .get_as(&admin, "/api/v1/openapi.json")
            .await
            .json()
            .await
            .unwrap();
        for path in [
            "/api/v1/complaints",
            "/api/v1/complaints/{id}",
            "/api/v1/complaints/{id}/close",
            "/api/v1/customers/{key}/complaints",
            "/api/v1/kpi/assessments",
        ] {
            assert!(doc["paths"].get(path).is_some(), "{path} missing");
        }
        assert!(doc["paths"]["/api/v1/kpi/assessments"]
            .get("post")
            .is_some());
        assert!(doc["components"]["schemas"].get("KpiAssessBody").is_some());
    }
}
