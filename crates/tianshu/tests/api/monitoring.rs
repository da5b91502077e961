//! Monitoring over HTTP against the real server (issue 5): dial-test probes against a loopback site with a
//! login form (MON-03, MON-05), SQL monitoring points against the machine's real PostgreSQL and MariaDB
//! (MON-02), the daily sign-in (MON-09) and the severe-alarm budget (MON-10).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode as AxStatus};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Router};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

use super::{problem, sqlite_app, TestApp};

async fn get_json(app: &TestApp, token: &str, path: &str) -> Value {
    let r = Client::new()
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    r.json().await.unwrap()
}

async fn send(
    app: &TestApp,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut rb = Client::new()
        .request(method, app.url(path))
        .bearer_auth(token);
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    rb.send().await.unwrap()
}

// ---------------------------------------------------------------- a loopback business site

#[derive(Clone, Default)]
struct Site {
    /// The order page answers garbage (200 with bytes that are not JSON).
    broken: Arc<AtomicBool>,
}

async fn login_page() -> Html<&'static str> {
    Html(
        r#"<html><body><h1>代理商门户登录</h1><form method="post" action="/login"><input type="hidden" name="csrf" value="tok-7f3a"><input name="user"><input name="password" type="password"></form></body></html>"#,
    )
}

async fn login(Form(f): Form<std::collections::HashMap<String, String>>) -> Response {
    let ok = f.get("csrf").map(String::as_str) == Some("tok-7f3a")
        && f.get("user").map(String::as_str) == Some("probe01")
        && f.get("password").map(String::as_str) == Some("s3cret-pw");
    if !ok {
        return (AxStatus::UNAUTHORIZED, Html("登录失败")).into_response();
    }
    (
        [(header::SET_COOKIE, "sid=sess-42; Path=/")],
        Html("<p>欢迎 probe01</p>"),
    )
        .into_response()
}

async fn orders(State(s): State<Site>, h: HeaderMap) -> Response {
    let cookie = h
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !cookie.contains("sid=sess-42") {
        return (AxStatus::UNAUTHORIZED, "login first").into_response();
    }
    if s.broken.load(Ordering::SeqCst) {
        return (AxStatus::OK, vec![0xffu8, 0x00, 0xfe, b'<', b'h']).into_response();
    }
    axum::Json(json!({"data": {"ok": true, "pending": 3, "order_no": "SO-2026-0001"}}))
        .into_response()
}

async fn order(axum::extract::Path(no): axum::extract::Path<String>) -> Response {
    axum::Json(json!({"order_no": no, "state": "accepted"})).into_response()
}

async fn start_site() -> (String, Site) {
    let site = Site::default();
    let app = Router::new()
        .route("/login", get(login_page).post(login))
        .route("/orders", get(orders))
        .route("/orders/{no}", get(order))
        .with_state(site.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(l, app).await.unwrap();
    });
    (format!("http://{addr}"), site)
}

fn scenario(base: &str) -> Value {
    json!({
        "variables": {"user": "probe01"},
        "steps": [
            {"name": "登录页", "url": format!("{base}/login"),
             "assert": {"status": 200, "body_contains": "代理商门户登录"},
             "extract": [{"name": "csrf", "regex": "name=\"csrf\" value=\"([^\"]+)\""}]},
            {"name": "登录", "method": "POST", "url": format!("{base}/login"),
             "form": {"user": "{{user}}", "password": "{{password}}", "csrf": "{{csrf}}"},
             "assert": {"body_regex": "欢迎\\s+probe01"}},
            {"name": "订单列表", "url": format!("{base}/orders"), "timeout_ms": 5000,
             "assert": {"json_path": "$.data.ok", "json_equals": true, "max_latency_ms": 5000},
             "extract": [{"name": "order_no", "json_path": "$.data.order_no"}]},
            {"name": "订单详情", "url": format!("{base}/orders/{{{{order_no}}}}"),
             "assert": {"json_path": "$.state", "json_equals": "accepted"}},
        ]
    })
}

async fn run(app: &TestApp, t: &str, id: i64) -> Value {
    let r = send(
        app,
        t,
        reqwest::Method::POST,
        &format!("/api/v1/probes/{id}/run"),
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

async fn probe_alert(app: &TestApp, t: &str, id: i64) -> Option<Value> {
    let page = get_json(app, t, "/api/v1/alerts").await;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["dedup_key"] == format!("probe:{id}"))
        .cloned()
}

/// MON-03: a multi-step scenario (form login with a CSRF value taken from the page, cookie jar, JSON path
/// assertions, a value passed from one step to the next) passes against a loopback site; garbage from the
/// target is a failed step with its reason; three consecutive failures raise one alert through the alert
/// pipeline; the first good run resolves it. Secrets are never returned.
#[tokio::test]
async fn probe_logs_in_alarms_after_three_failures_and_recovers_mon_03() {
    let app = sqlite_app().await;
    let t = app.token_for("admin", &[]).await;
    let (base, site) = start_site().await;

    // Validation names the step and the field; nothing is stored.
    let mut bad = scenario(&base);
    bad["steps"][2]["assert"]["json_path"] = json!("data.ok");
    let r = send(
        &app,
        &t,
        reqwest::Method::POST,
        "/api/v1/probes",
        Some(
            json!({"name": "门户下单拨测", "scenario": bad, "secrets": {"password": "s3cret-pw"}}),
        ),
    )
    .await;
    let (s, p) = problem(r).await;
    assert_eq!(
        (s, p["field"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("scenario.steps[2].assert.json_path")
        ),
        "{p}"
    );
    let mut bad = scenario(&base);
    bad["steps"][1]["form"]["x"] = json!("{{nope}}");
    let r = send(
        &app,
        &t,
        reqwest::Method::POST,
        "/api/v1/probes",
        Some(
            json!({"name": "门户下单拨测", "scenario": bad, "secrets": {"password": "s3cret-pw"}}),
        ),
    )
    .await;
    let (s, p) = problem(r).await;
    assert_eq!(
        (s, p["field"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("scenario.steps[1].form.x")
        ),
        "{p}"
    );
    let r = send(
        &app,
        &t,
        reqwest::Method::POST,
        "/api/v1/probes",
        Some(json!({"name": "x", "scenario": {"steps": [{"name": "a", "url": 5}]}})),
    )
    .await;
    let (s, p) = problem(r).await;
    assert_eq!(
        (s, p["field"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("scenario.steps[0].url")
        ),
        "{p}"
    );
    assert!(get_json(&app, &t, "/api/v1/probes").await["items"]
        .as_array()
        .unwrap()
        .is_empty());

    let r = send(&app, &t, reqwest::Method::POST, "/api/v1/probes", Some(json!({
        "name": "门户下单拨测", "system": "agent-portal", "region": "guangzhou", "severity": "critical",
        "scenario": scenario(&base), "secrets": {"password": "s3cret-pw"}}))).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let text = r.text().await.unwrap();
    assert!(
        !text.contains("s3cret-pw"),
        "the secret is never returned: {text}"
    );
    let probe: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(probe["secret_names"], json!(["password"]));
    let id = probe["id"].as_i64().unwrap();

    let ok = run(&app, &t, id).await;
    assert_eq!(ok["ok"], true, "{ok}");
    let steps = ok["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 4);
    assert!(
        steps
            .iter()
            .all(|s| s["ok"] == true && s["latency_ms"].is_u64()),
        "{ok}"
    );

    // The target answers garbage: a failed step with the reason; the third failure in a row raises the alert.
    site.broken.store(true, Ordering::SeqCst);
    for n in 1..=3 {
        let r = run(&app, &t, id).await;
        assert_eq!(r["ok"], false);
        assert_eq!(r["failed_step"], 2, "{r}");
        let e = r["steps"][2]["error"].as_str().unwrap();
        assert!(e.starts_with("body is not JSON"), "{e}");
        let alert = probe_alert(&app, &t, id).await;
        if n < 3 {
            assert!(alert.is_none(), "no alert after {n} failure(s)");
        } else {
            let a = alert.expect("alert after 3 failures");
            assert_eq!(a["state"], "firing");
            assert_eq!(a["source"], "probe");
            assert_eq!(a["system"], "agent-portal");
            assert_eq!(
                a["routes"],
                json!(["severe"]),
                "critical → the MON-06 severe route"
            );
        }
    }
    // A fourth failure is the same alert, not a second one.
    run(&app, &t, id).await;
    let a = probe_alert(&app, &t, id).await.unwrap();
    assert_eq!(a["fire_count"], 1);

    site.broken.store(false, Ordering::SeqCst);
    assert_eq!(run(&app, &t, id).await["ok"], true);
    let a = probe_alert(&app, &t, id).await.unwrap();
    assert_eq!(a["state"], "resolved");

    let v = get_json(&app, &t, &format!("/api/v1/probes/{id}")).await;
    assert_eq!(v["runs"].as_array().unwrap().len(), 6);
    assert_eq!(v["probe"]["consecutive_failures"], 0);
    assert_eq!(v["probe"]["alerting"], false);
    let avail = v["probe"]["availability_24h"].as_f64().unwrap();
    assert!((avail - 100.0 * 2.0 / 6.0).abs() < 0.01, "{avail}");

    // Replace keeps the stored secrets when none are given; a stale version is refused.
    let body = json!({"name": "门户下单拨测", "system": "agent-portal", "scenario": scenario(&base), "version": 1});
    let r = send(
        &app,
        &t,
        reqwest::Method::PUT,
        &format!("/api/v1/probes/{id}"),
        Some(body.clone()),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        run(&app, &t, id).await["ok"],
        true,
        "the stored password still logs in"
    );
    let r = send(
        &app,
        &t,
        reqwest::Method::PUT,
        &format!("/api/v1/probes/{id}"),
        Some(body),
    )
    .await;
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    let r = send(
        &app,
        &t,
        reqwest::Method::DELETE,
        &format!("/api/v1/probes/{id}?version=2"),
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

/// MON-05 (SEED-RULES §21 example 14): the runner schedules each probe on its own, and every gap between two
/// runs is within [180 s, 300 s]; an unreachable target is a failed run, never a crash of the runner.
#[tokio::test]
async fn runner_probes_on_a_jittered_three_to_five_minute_schedule_mon_05() {
    let app = sqlite_app().await;
    let t = app.token_for("admin", &[]).await;
    let (base, _site) = start_site().await;
    let mut ids = Vec::new();
    for (name, target) in [
        ("门户", base.clone()),
        ("不可达", "http://127.0.0.1:9".to_string()),
    ] {
        let r = send(&app, &t, reqwest::Method::POST, "/api/v1/probes", Some(json!({
            "name": name, "scenario": {"steps": [{"name": "首页", "url": format!("{target}/login"), "timeout_ms": 2000}]}}))).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        ids.push(r.json::<Value>().await.unwrap()["id"].as_i64().unwrap());
    }
    let mut last: Vec<Option<(String, String)>> = vec![None; ids.len()];
    for round in 0..4 {
        // Move past every probe's next run, then let the runner (polling every 500 ms) pick them up.
        app.clock.advance(chrono::Duration::seconds(301));
        let mut done = false;
        for _ in 0..60 {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let all = get_json(&app, &t, "/api/v1/probes").await;
            let items = all["items"].as_array().unwrap().clone();
            done = ids.iter().enumerate().all(|(i, id)| {
                let p = items.iter().find(|p| p["id"] == *id).unwrap();
                let cur = (
                    p["last_run_at"].as_str().unwrap_or("").to_string(),
                    p["next_run_at"].as_str().unwrap().to_string(),
                );
                !cur.0.is_empty()
                    && last[i].as_ref() != Some(&cur)
                    && p["runs_24h"].as_i64() == Some(round + 1)
            });
            if done {
                for (i, id) in ids.iter().enumerate() {
                    let p = items.iter().find(|p| p["id"] == *id).unwrap();
                    let ran =
                        chrono::DateTime::parse_from_rfc3339(p["last_run_at"].as_str().unwrap())
                            .unwrap();
                    let next =
                        chrono::DateTime::parse_from_rfc3339(p["next_run_at"].as_str().unwrap())
                            .unwrap();
                    let gap = (next - ran).num_seconds();
                    assert!((180..=300).contains(&gap), "gap {gap} s (MON-05)");
                    last[i] = Some((
                        p["last_run_at"].as_str().unwrap().to_string(),
                        p["next_run_at"].as_str().unwrap().to_string(),
                    ));
                }
                break;
            }
        }
        assert!(done, "round {round}: the runner ran every due probe once");
    }
    let v = get_json(&app, &t, &format!("/api/v1/probes/{}", ids[1])).await;
    let e = v["runs"][0]["steps"][0]["error"].as_str().unwrap();
    assert!(e.contains("request failed"), "{e}");
    assert!(
        probe_alert(&app, &t, ids[1]).await.is_some(),
        "4 failures ≥ 3 → alert"
    );
}
