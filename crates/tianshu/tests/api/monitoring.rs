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

use tianshu_core::Clock;

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
    // A real portal answers the login with a redirect that sets the session cookie on the way.
    (
        AxStatus::SEE_OTHER,
        [
            (header::SET_COOKIE, "sid=sess-42; Path=/"),
            (header::LOCATION, "/welcome"),
        ],
    )
        .into_response()
}

async fn welcome(h: HeaderMap) -> Response {
    let cookie = h
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !cookie.contains("sid=sess-42") {
        return (AxStatus::UNAUTHORIZED, "login first").into_response();
    }
    Html("<p>欢迎 probe01</p>").into_response()
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
        .route("/welcome", get(welcome))
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
        // A run of this round started at or after the advance: a probe may also have run once at creation (due at
        // once), and a claim of this round moves `next_run_at` before its run is recorded — neither is this
        // round's run.
        let round_start = app.clock.now();
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
                    && chrono::DateTime::parse_from_rfc3339(&cur.0).is_ok_and(|t| t >= round_start)
                    && p["runs_24h"].as_i64() >= Some(round + 1)
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

// ---------------------------------------------------------------- SQL monitoring points (MON-02)

/// host, port, database, user of a `scheme://user[:pw]@host:port/db` URL.
fn parts(url: &str) -> (String, i64, String, String) {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let (creds, hostpart) = rest.rsplit_once('@').unwrap_or(("", rest));
    let user = creds.split(':').next().unwrap_or("").to_string();
    let (hostport, db) = hostpart.split_once('/').unwrap_or((hostpart, ""));
    let db = db.split('?').next().unwrap_or("").to_string();
    let (host, port) = hostport
        .rsplit_once(':')
        .map_or((hostport.to_string(), 0), |(h, p)| {
            (h.to_string(), p.parse().unwrap_or(0))
        });
    (host, port, db, user)
}

async fn create(app: &TestApp, t: &str, path: &str, body: Value) -> Value {
    let r = send(app, t, reqwest::Method::POST, path, Some(body.clone())).await;
    assert_eq!(r.status(), StatusCode::CREATED, "{path} {body}");
    r.json().await.unwrap()
}

async fn evaluate(app: &TestApp, t: &str, id: i64) -> Value {
    let r = send(
        app,
        t,
        reqwest::Method::POST,
        &format!("/api/v1/monitoring/points/{id}/run"),
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json::<Value>().await.unwrap()["point"].clone()
}

async fn point_alert(app: &TestApp, t: &str, id: i64) -> Option<Value> {
    let page = get_json(app, t, "/api/v1/alerts").await;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["dedup_key"] == format!("point:{id}"))
        .cloned()
}

/// MON-02 against the machine's real PostgreSQL and MariaDB: thresholds (`<`, `>`, no refresh within M
/// minutes) on numbers, DECIMAL and DATETIME results; a breach raises the point's alert at once and the
/// recovery resolves it; a query that tries to write is refused (validation) or fails inside the READ ONLY
/// transaction (nothing changed); an unreachable database is `unknown` and alarms only after the grace;
/// passwords are never returned.
#[tokio::test]
async fn sql_points_on_postgres_and_mariadb_mon_02() {
    use sqlx::Connection;
    let pg = tianshu_testkit::postgres_url();
    let maria = tianshu_testkit::mariadb().await;
    if pg.is_none() && maria.is_none() {
        eprintln!("SKIP sql points: neither PostgreSQL nor MariaDB configured");
        return;
    }
    let app = sqlite_app().await;
    let t = app.token_for("admin", &[]).await;
    // The manual clock stands at 2026-11-23 09:00 Asia/Shanghai.

    // An unreachable database with a password: `unknown`, no alarm before the 10-minute grace.
    let db = create(
        &app,
        &t,
        "/api/v1/monitoring/databases",
        json!({
        "name": "不可达库", "kind": "postgres", "host": "127.0.0.1", "port": 1, "database": "x",
        "username": "monitor", "password": "never-shown-pw"}),
    )
    .await;
    assert_eq!(db["has_password"], true);
    let listed = Client::new()
        .get(app.url("/api/v1/monitoring/databases"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!listed.contains("never-shown-pw"), "{listed}");
    let r = send(&app, &t, reqwest::Method::POST, "/api/v1/monitoring/points", Some(json!({
        "name": "坏查询", "owner": "运维一组", "database_id": db["id"], "query": "DELETE FROM orders", "comparison": "gt", "threshold": 1}))).await;
    let (s, p) = problem(r).await;
    assert_eq!(
        (s, p["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("query")),
        "{p}"
    );
    let r = send(&app, &t, reqwest::Method::POST, "/api/v1/monitoring/points", Some(json!({
        "name": "坏引用", "owner": "运维一组", "database_id": 999, "query": "SELECT 1", "comparison": "gt", "threshold": 1}))).await;
    let (s, p) = problem(r).await;
    assert_eq!(
        (s, p["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("database_id")),
        "{p}"
    );
    let down = create(&app, &t, "/api/v1/monitoring/points", json!({
        "name": "号池刷新(不可达)", "owner": "运维一组", "runbook_url": "https://wiki.example.invalid/runbook/pool",
        "database_id": db["id"], "query": "SELECT 1", "comparison": "gt", "threshold": 5, "enabled": false})).await;
    let id = down["id"].as_i64().unwrap();
    let v = evaluate(&app, &t, id).await;
    assert_eq!(v["state"], "unknown", "{v}");
    assert!(
        v["last_reason"]
            .as_str()
            .unwrap()
            .contains("cannot connect"),
        "{v}"
    );
    assert!(
        point_alert(&app, &t, id).await.is_none(),
        "no alarm inside the grace"
    );
    app.clock.advance(chrono::Duration::minutes(10));
    assert_eq!(evaluate(&app, &t, id).await["state"], "unknown");
    let a = point_alert(&app, &t, id)
        .await
        .expect("alarm after the grace");
    assert_eq!(a["state"], "firing");
    assert_eq!(a["source"], "point");

    if let Some(url) = pg {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let schema = format!("tianshu_t_mon_{nanos}");
        let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
        for q in [
            format!("CREATE SCHEMA {schema}"),
            format!("CREATE TABLE {schema}.iface (day date, success_rate numeric(6,2))"),
            format!("INSERT INTO {schema}.iface VALUES ('2026-11-22', 99.85)"),
            format!("CREATE TABLE {schema}.orders (id int, state text)"),
            format!("INSERT INTO {schema}.orders VALUES (1,'pending'),(2,'pending'),(3,'pending'),(4,'done')"),
        ] {
            sqlx::query(&q).execute(&mut c).await.unwrap();
        }
        let (host, port, database, username) = parts(&url);
        let db = create(&app, &t, "/api/v1/monitoring/databases", json!({
            "name": "CRM库", "kind": "postgres", "host": host, "port": port, "database": database, "username": username})).await;
        // REC-11 / §21 example 18: 99.85 % < 99.9 % → breached → the alert at once.
        let rate = create(&app, &t, "/api/v1/monitoring/points", json!({
            "name": "接口成功率", "owner": "接口组", "database_id": db["id"], "system": "crm", "region": "guangzhou",
            "query": format!("SELECT success_rate, day FROM {schema}.iface ORDER BY day DESC LIMIT 1"),
            "comparison": "lt", "threshold": 99.9, "enabled": false})).await;
        let rid = rate["id"].as_i64().unwrap();
        let v = evaluate(&app, &t, rid).await;
        assert_eq!(
            (v["state"].as_str(), v["last_value"].as_str()),
            (Some("breached"), Some("99.85")),
            "{v}"
        );
        assert_eq!(point_alert(&app, &t, rid).await.unwrap()["state"], "firing");
        sqlx::query(&format!("UPDATE {schema}.iface SET success_rate = 99.92"))
            .execute(&mut c)
            .await
            .unwrap();
        assert_eq!(evaluate(&app, &t, rid).await["state"], "ok");
        assert_eq!(
            point_alert(&app, &t, rid).await.unwrap()["state"],
            "resolved"
        );
        // Backlog > N.
        let backlog = create(
            &app,
            &t,
            "/api/v1/monitoring/points",
            json!({
            "name": "订单积压", "owner": "订单组", "database_id": db["id"],
            "query": format!("SELECT count(*) FROM {schema}.orders WHERE state = 'pending'"),
            "comparison": "gt", "threshold": 2, "enabled": false}),
        )
        .await;
        let v = evaluate(&app, &t, backlog["id"].as_i64().unwrap()).await;
        assert_eq!(
            (v["state"].as_str(), v["last_value"].as_str()),
            (Some("breached"), Some("3")),
            "{v}"
        );
        // A query that tries to write fails inside the READ ONLY transaction; nothing changes.
        let sneaky = create(&app, &t, "/api/v1/monitoring/points", json!({
            "name": "写入企图", "owner": "订单组", "database_id": db["id"],
            "query": format!("SELECT count(*) FROM {schema}.orders WHERE nextval('{schema}.seq') > 0"),
            "comparison": "gt", "threshold": 100, "enabled": false})).await;
        sqlx::query(&format!("CREATE SEQUENCE {schema}.seq"))
            .execute(&mut c)
            .await
            .unwrap();
        let v = evaluate(&app, &t, sneaky["id"].as_i64().unwrap()).await;
        assert_eq!(v["state"], "unknown", "{v}");
        assert!(
            v["last_reason"].as_str().unwrap().contains("read-only"),
            "{v}"
        );
        let n: i64 = sqlx::query_scalar(&format!("SELECT last_value FROM {schema}.seq"))
            .fetch_one(&mut c)
            .await
            .unwrap();
        assert_eq!(n, 1, "the sequence was never advanced");
        let _ = sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
            .execute(&mut c)
            .await;
    }

    if let Some(url) = maria {
        let mut c = sqlx::MySqlConnection::connect(&url).await.unwrap();
        for q in [
            "CREATE TABLE pool_refresh (pool VARCHAR(20), refreshed_at DATETIME)",
            "INSERT INTO pool_refresh VALUES ('号池A', '2026-11-23 08:55:00')",
            "CREATE TABLE iface (success_rate DECIMAL(6,2))",
            "INSERT INTO iface VALUES (99.95)",
        ] {
            sqlx::query(q).execute(&mut c).await.unwrap();
        }
        let (host, port, database, username) = parts(&url);
        let db = create(&app, &t, "/api/v1/monitoring/databases", json!({
            "name": "渠道库", "kind": "mysql", "host": host, "port": port, "database": database, "username": username})).await;
        // No refresh within 10 minutes (DATETIME is local time of the pack's zone).
        let fresh = create(&app, &t, "/api/v1/monitoring/points", json!({
            "name": "号池刷新", "owner": "资源组", "database_id": db["id"],
            "query": "SELECT MAX(refreshed_at) FROM pool_refresh", "comparison": "stale", "stale_after_s": 600, "enabled": false})).await;
        let fid = fresh["id"].as_i64().unwrap();
        // The clock moved 10 minutes above: 09:10 local, refreshed 08:55 → 15 minutes → breached.
        let v = evaluate(&app, &t, fid).await;
        assert_eq!(v["state"], "breached", "{v}");
        sqlx::query("UPDATE pool_refresh SET refreshed_at = '2026-11-23 09:05:00'")
            .execute(&mut c)
            .await
            .unwrap();
        let v = evaluate(&app, &t, fid).await;
        assert_eq!(v["state"], "ok", "{v}");
        let rate = create(&app, &t, "/api/v1/monitoring/points", json!({
            "name": "渠道接口成功率", "owner": "接口组", "database_id": db["id"],
            "query": "SELECT success_rate FROM iface", "comparison": "lt", "threshold": 99.9, "enabled": false})).await;
        let v = evaluate(&app, &t, rate["id"].as_i64().unwrap()).await;
        assert_eq!(
            (v["state"].as_str(), v["last_value"].as_str()),
            (Some("ok"), Some("99.95")),
            "{v}"
        );
    }

    let cat = get_json(&app, &t, "/api/v1/monitoring/points").await;
    let items = cat["items"].as_array().unwrap();
    assert!(items
        .iter()
        .all(|p| p["owner"].is_string() && p["state"].is_string()));
    assert!(items
        .iter()
        .any(|p| p["runbook_url"] == "https://wiki.example.invalid/runbook/pool"));
}

// ---------------------------------------------------------------- sign-in (MON-09), budget (MON-10)

fn event(key: &str, severity: &str, region: &str) -> Value {
    json!({"event_action": "trigger", "dedup_key": key, "payload": {
        "summary": "省异常告警", "source": "hub", "severity": severity, "component": "crm-hub", "group": region, "class": "HubAlarm"}})
}

async fn outbox_of(app: &TestApp, kind: &str) -> Vec<(String, String)> {
    use tianshu_store::on_conn;
    let kind = kind.to_string();
    app.platform
        .store
        .write(move |c| {
            Box::pin(async move {
                Ok(on_conn!(c, c => sqlx::query_as::<_, (String, String)>(
                    "SELECT subject_id, template FROM outbox WHERE subject_kind = $1 ORDER BY id")
                    .bind(&kind).fetch_all(&mut **c).await)?)
            })
        })
        .await
        .unwrap()
}

/// MON-09: the sign-in confirms the previous day's alerts are handled — refused while one still fires, then
/// accepted once it is acknowledged, once per day; a day without a sign-in sends the reminder and, at the
/// 12:00 deadline, the escalation through the durable timers. MON-10: severe alarms per region per month,
/// over the budget of one flagged.
#[tokio::test]
async fn daily_signin_and_severe_budget_mon_09_mon_10() {
    let app = sqlite_app().await;
    let t = app.token_for("admin", &[]).await;
    // Yesterday (Sunday 2026-11-22, 15:00 local) two severe alarms in Guangzhou and one general in Shenzhen.
    let today = app.clock.now();
    app.clock.set(today - chrono::Duration::hours(18));
    for (k, sev, region) in [
        ("hub-1", "critical", "guangzhou"),
        ("hub-2", "critical", "guangzhou"),
        ("hub-3", "warning", "shenzhen"),
    ] {
        let r = send(
            &app,
            &t,
            reqwest::Method::POST,
            "/api/v1/alerts/events",
            Some(event(k, sev, region)),
        )
        .await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
    }
    app.clock.set(today);
    let s = get_json(&app, &t, "/api/v1/monitoring/signin").await;
    assert_eq!(
        (s["day"].as_str(), s["previous_day"].as_str()),
        (Some("2026-11-23"), Some("2026-11-22"))
    );
    assert_eq!(s["unhandled"].as_array().unwrap().len(), 3, "{s}");
    let r = send(
        &app,
        &t,
        reqwest::Method::POST,
        "/api/v1/monitoring/signin",
        Some(json!({"note": "交班"})),
    )
    .await;
    let (st, p) = problem(r).await;
    assert_eq!(
        (st, p["field"].as_str()),
        (StatusCode::CONFLICT, Some("alerts")),
        "{p}"
    );
    for k in ["hub-1", "hub-2"] {
        let r = send(
            &app,
            &t,
            reqwest::Method::POST,
            "/api/v1/alerts/events",
            Some(json!({"event_action": "acknowledge", "dedup_key": k})),
        )
        .await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
    }
    let r = send(
        &app,
        &t,
        reqwest::Method::POST,
        "/api/v1/alerts/events",
        Some(json!({"event_action": "resolve", "dedup_key": "hub-3"})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let r = send(
        &app,
        &t,
        reqwest::Method::POST,
        "/api/v1/monitoring/signin",
        Some(json!({"note": "前一天告警已处理"})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let s: Value = r.json().await.unwrap();
    assert_eq!(s["signed_by"], "admin");
    let r = send(
        &app,
        &t,
        reqwest::Method::POST,
        "/api/v1/monitoring/signin",
        Some(json!({})),
    )
    .await;
    let (st, p) = problem(r).await;
    assert_eq!(
        (st, p["field"].as_str()),
        (StatusCode::CONFLICT, Some("day")),
        "{p}"
    );

    // The next day nobody signs in: at 12:01 both the 10:00 reminder and the 12:00 escalation have gone out.
    app.clock
        .set(today + chrono::Duration::hours(27) + chrono::Duration::minutes(1));
    let mut sent = Vec::new();
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        sent = outbox_of(&app, "mon_signin").await;
        // The hours travelled back to file yesterday's alarms opened 2026-11-22 as well (its deadline had passed).
        sent.retain(|(day, tpl)| day != "2026-11-22" && tpl != "ntf_dead_letter");
        if sent.len() >= 2 {
            break;
        }
    }
    assert_eq!(
        sent,
        [
            ("2026-11-24".to_string(), "mon_signin_reminder".to_string()),
            ("2026-11-24".to_string(), "mon_signin_missing".to_string())
        ],
        "nothing for the day that was signed in"
    );
    let s = get_json(&app, &t, "/api/v1/monitoring/signin").await;
    assert_eq!(s["overdue"], true);

    let b = get_json(&app, &t, "/api/v1/monitoring/severe-budget?month=2026-11").await;
    assert_eq!(b["per_month"], 1);
    assert_eq!(
        b["regions"],
        json!([{"region": "guangzhou", "count": 2, "budget": 1, "over": true}]),
        "{b}"
    );
    let r = send(
        &app,
        &t,
        reqwest::Method::GET,
        "/api/v1/monitoring/severe-budget?month=2026-13",
        None,
    )
    .await;
    let (st, p) = problem(r).await;
    assert_eq!(
        (st, p["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("month")),
        "{p}"
    );
}

/// Console: /probes lists availability with an inline SVG latency chart (no script), /probes/{id} the per-step
/// timings of each run, /monitoring-points the catalogue, and /alerts the MON-09 sign-in button and the
/// MON-10 budget; zh-CN by default.
#[tokio::test]
async fn console_pages_for_probes_points_and_signin() {
    let app = sqlite_app().await;
    let t = app.token_for("admin", &[]).await;
    let (base, _site) = start_site().await;
    let p = create(
        &app,
        &t,
        "/api/v1/probes",
        json!({"name": "门户登录拨测", "system": "agent-portal",
        "scenario": scenario(&base), "secrets": {"password": "s3cret-pw"}}),
    )
    .await;
    let id = p["id"].as_i64().unwrap();
    run(&app, &t, id).await;
    let csrf = app.login("admin").await;
    let html = app
        .client
        .get(app.url("/probes"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("门户登录拨测") && html.contains("100.0%"),
        "{html}"
    );
    assert!(
        html.contains("<svg class=\"spark\""),
        "latency chart rendered server-side"
    );
    assert!(
        !html.contains("<script src=\"http"),
        "no script from elsewhere"
    );
    let html = app
        .client
        .get(app.url(&format!("/probes/{id}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("订单详情: 200 ·") && html.contains(" ms"),
        "{html}"
    );
    let html = app
        .client
        .get(app.url("/monitoring-points"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("业务监控点"), "{html}");
    let html = app
        .client
        .get(app.url("/alerts"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("id=\"signin-form\"") && html.contains("签到并确认"),
        "{html}"
    );
    assert!(html.contains("各省严重告警次数"), "{html}");
    let r = app
        .client
        .post(app.url("/alerts/signin"))
        .form(&[("csrf", csrf.as_str()), ("note", "早班签到")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "followed the redirect");
    let html = r.text().await.unwrap();
    assert!(
        html.contains("id=\"signin-done\"") && html.contains("早班签到"),
        "{html}"
    );
}

// ---------------------------------------------------------------- console forms and CLI

async fn post_form(
    app: &TestApp,
    path: &str,
    form: &[(&str, &str)],
) -> (StatusCode, String, String) {
    let r = app
        .client
        .post(app.url(path))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let at = r.url().path().to_string();
    (status, at, r.text().await.unwrap())
}

async fn page(app: &TestApp, path: &str) -> (StatusCode, String) {
    let r = app.client.get(app.url(path)).send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

async fn probe_count(app: &TestApp, t: &str) -> usize {
    get_json(app, t, "/api/v1/probes").await["items"]
        .as_array()
        .unwrap()
        .len()
}

/// The error shown next to form field `name` (the `field-error` paragraph), if any.
fn field_error(html: &str, name: &str) -> Option<String> {
    let marker = format!("data-field=\"{name}\">");
    let at = html.find(&marker)? + marker.len();
    Some(html[at..].split("</p>").next()?.to_string())
}

/// Console forms for probes (with their steps), external databases and monitoring points: server-side
/// validation shows the refused field next to it (422) and stores nothing; a valid form creates and redirects;
/// editing is version-checked (412 on a stale form); secrets and passwords are never put back into a page.
#[tokio::test]
async fn console_forms_create_and_edit_probes_databases_and_points() {
    let app = sqlite_app().await;
    let t = app.token_for("admin", &[]).await;
    let (base, _site) = start_site().await;
    let csrf = app.login("admin").await;
    let (s, html) = page(&app, "/probes/new").await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        html.contains("id=\"probe-form\"") && html.contains("<label for=\"m-scenario\">"),
        "{html}"
    );

    let before = probe_count(&app, &t).await;

    // A step URL that is not http(s): 422, the error next to the steps field naming the step, nothing stored.
    let bad =
        json!({"steps": [{"name": "首页", "url": "ftp://portal.example.invalid/"}]}).to_string();
    let (s, _, html) = post_form(
        &app,
        "/probes/new",
        &[
            ("csrf", &csrf),
            ("name", "门户拨测"),
            ("severity", "warning"),
            ("enabled", "on"),
            ("scenario", &bad),
            ("secrets", ""),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let e = field_error(&html, "scenario").expect("error next to the steps");
    assert!(e.contains("scenario.steps[0].url"), "{e}");
    assert!(
        html.contains("ftp://portal.example.invalid/"),
        "the typed steps are kept"
    );
    let (s, _, html) = post_form(
        &app,
        "/probes/new",
        &[
            ("csrf", &csrf),
            ("name", "门户拨测"),
            ("severity", "warning"),
            ("scenario", "{\"steps\": ["),
            ("secrets", ""),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        field_error(&html, "scenario").unwrap().contains("JSON"),
        "{html}"
    );
    let (s, _, html) = post_form(
        &app,
        "/probes/new",
        &[
            ("csrf", &csrf),
            ("name", "门户拨测"),
            ("severity", "warning"),
            ("scenario", &scenario(&base).to_string()),
            ("secrets", "no equals sign"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(field_error(&html, "secrets").is_some(), "{html}");
    let (s, _, html) = post_form(
        &app,
        "/probes/new",
        &[
            ("csrf", &csrf),
            ("name", ""),
            ("severity", "warning"),
            ("scenario", &scenario(&base).to_string()),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(field_error(&html, "name").is_some(), "{html}");
    assert_eq!(probe_count(&app, &t).await, before, "nothing stored");

    // Valid: created, redirected to its page; the secret works (the login step needs it) and is not shown.
    let (s, at, html) = post_form(
        &app,
        "/probes/new",
        &[
            ("csrf", &csrf),
            ("name", "门户拨测"),
            ("system", "agent-portal"),
            ("severity", "critical"),
            ("enabled", "on"),
            ("scenario", &scenario(&base).to_string()),
            ("secrets", "password=s3cret-pw"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{html}");
    let id: i64 = at
        .rsplit('/')
        .next()
        .unwrap()
        .parse()
        .expect("redirected to /probes/{id}");
    assert!(
        html.contains("门户拨测") && html.contains("id=\"probe-edit\""),
        "{html}"
    );
    let (s, _, html) = post_form(&app, &format!("/probes/{id}/run"), &[("csrf", &csrf)]).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        html.contains("data-ok=\"true\""),
        "run now from the page: {html}"
    );
    assert!(
        html.contains("<svg class=\"chart\" id=\"probe-latency-chart\"")
            && html.contains("class=\"c-probe-ok\""),
        "the latency chart on a millisecond axis: {html}"
    );
    let (s, html) = page(&app, &format!("/probes/{id}/edit")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        !html.contains("s3cret-pw"),
        "secrets never go back into a page"
    );
    assert!(html.contains("password"), "their names are listed");
    let version = get_json(&app, &t, &format!("/api/v1/probes/{id}")).await["probe"]["version"]
        .as_i64()
        .unwrap();
    let v = version.to_string();
    // Edit without secrets (kept), disabled, renamed.
    let (s, _, html) = post_form(
        &app,
        &format!("/probes/{id}/edit"),
        &[
            ("csrf", &csrf),
            ("version", &v),
            ("name", "门户拨测(改)"),
            ("system", "agent-portal"),
            ("severity", "critical"),
            ("scenario", &scenario(&base).to_string()),
            ("secrets", ""),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{html}");
    let p = get_json(&app, &t, &format!("/api/v1/probes/{id}")).await["probe"].clone();
    assert_eq!(
        (p["name"].as_str(), p["enabled"].as_bool()),
        (Some("门户拨测(改)"), Some(false))
    );
    assert_eq!(p["secret_names"], json!(["password"]), "kept");
    // The same (now stale) version again: 412 and nothing changed.
    let (s, _, html) = post_form(
        &app,
        &format!("/probes/{id}/edit"),
        &[
            ("csrf", &csrf),
            ("version", &v),
            ("name", "别人的改动"),
            ("severity", "critical"),
            ("scenario", &scenario(&base).to_string()),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::PRECONDITION_FAILED);
    assert!(html.contains("id=\"probe-form-error\""), "{html}");
    assert_eq!(
        get_json(&app, &t, &format!("/api/v1/probes/{id}")).await["probe"]["name"],
        "门户拨测(改)"
    );
    // Without the CSRF token nothing happens.
    let (s, _, _) = post_form(
        &app,
        "/probes/new",
        &[("name", "x"), ("scenario", &scenario(&base).to_string())],
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // External database: a bad kind and a bad port are shown at their fields; the password never comes back.
    let (s, _, html) = post_form(
        &app,
        "/monitoring-databases/new",
        &[
            ("csrf", &csrf),
            ("name", "订单库"),
            ("kind", "oracle"),
            ("host", "127.0.0.1"),
            ("port", ""),
            ("database", "orders"),
            ("username", "ro"),
            ("password", "db-pw-x1"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(field_error(&html, "kind").is_some(), "{html}");
    assert!(!html.contains("db-pw-x1"), "the password is not echoed");
    let (s, _, html) = post_form(
        &app,
        "/monitoring-databases/new",
        &[
            ("csrf", &csrf),
            ("name", "订单库"),
            ("kind", "postgres"),
            ("host", "127.0.0.1"),
            ("port", "五四三二"),
            ("database", "orders"),
            ("username", "ro"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        field_error(&html, "port").unwrap().contains("五四三二"),
        "{html}"
    );
    let (s, at, html) = post_form(
        &app,
        "/monitoring-databases/new",
        &[
            ("csrf", &csrf),
            ("name", "订单库"),
            ("kind", "postgres"),
            ("host", "127.0.0.1"),
            ("port", "1"),
            ("database", "orders"),
            ("username", "ro"),
            ("password", "db-pw-x1"),
        ],
    )
    .await;
    assert_eq!(
        (s, at.as_str()),
        (StatusCode::OK, "/monitoring-points"),
        "{html}"
    );
    assert!(
        html.contains("订单库") && !html.contains("db-pw-x1"),
        "{html}"
    );
    let dbs = get_json(&app, &t, "/api/v1/monitoring/databases").await;
    let db = dbs["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "订单库")
        .unwrap()
        .clone();
    let db_id = db["id"].as_i64().unwrap();
    let (s, html) = page(&app, &format!("/monitoring-databases/{db_id}/edit")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        html.contains("value=\"orders\"") && !html.contains("db-pw-x1"),
        "{html}"
    );
    let dv = db["version"].as_i64().unwrap().to_string();
    let (s, _, html) = post_form(
        &app,
        &format!("/monitoring-databases/{db_id}/edit"),
        &[
            ("csrf", &csrf),
            ("version", &dv),
            ("name", "订单库"),
            ("kind", "postgres"),
            ("host", "127.0.0.1"),
            ("port", "2"),
            ("database", "orders"),
            ("username", "ro"),
            ("password", ""),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{html}");
    let db = get_json(&app, &t, "/api/v1/monitoring/databases").await["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == db_id)
        .unwrap()
        .clone();
    assert_eq!(
        (db["port"].as_i64(), db["has_password"].as_bool()),
        (Some(2), Some(true)),
        "blank password kept"
    );

    // Monitoring point: a threshold that is not a number, a query that writes; then a valid one.
    let ids = db_id.to_string();
    let point = |name: &'static str, query: &'static str, threshold: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("name", name.to_string()),
            ("owner", "运维一组".to_string()),
            (
                "runbook_url",
                "https://wiki.example.invalid/runbook/backlog".to_string(),
            ),
            ("database_id", ids.clone()),
            ("query", query.to_string()),
            ("comparison", "gt".to_string()),
            ("threshold", threshold.to_string()),
            ("stale_after_s", String::new()),
            ("interval_s", "300".to_string()),
            ("severity", "warning".to_string()),
            ("enabled", "on".to_string()),
        ]
    };
    let r = app
        .client
        .post(app.url("/monitoring-points/new"))
        .form(&point("订单积压", "SELECT 1", "很多"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(field_error(&html, "threshold").is_some(), "{html}");
    let r = app
        .client
        .post(app.url("/monitoring-points/new"))
        .form(&point("订单积压", "DELETE FROM orders", "500"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(field_error(&html, "query").is_some(), "{html}");
    assert!(
        get_json(&app, &t, "/api/v1/monitoring/points").await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let r = app
        .client
        .post(app.url("/monitoring-points/new"))
        .form(&point("订单积压", "SELECT COUNT(*) FROM orders", "500"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("订单积压") && html.contains("/edit\""),
        "{html}"
    );
    let pt = get_json(&app, &t, "/api/v1/monitoring/points").await["items"][0].clone();
    assert_eq!(
        (pt["threshold"].as_f64(), pt["interval_s"].as_i64()),
        (Some(500.0), Some(300))
    );
    let (s, html) = page(&app, &format!("/monitoring-points/{}/edit", pt["id"])).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("SELECT COUNT(*) FROM orders"), "{html}");

    // A duty officer (no probe.manage) gets no form.
    app.login("duty-sz-1").await;
    let (s, _) = page(&app, "/probes/new").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (_, html) = page(&app, "/probes").await;
    assert!(
        !html.contains("id=\"probe-new\""),
        "no create button without the permission"
    );
}

/// `tianshu probe …` / `tianshu point …` on the server's database: create from a TOML file (a bad field is named
/// with the file), list, export (no secret values), run now (exit 1 when the run fails), disable, points.
// Multi-threaded: the CLI runs as a blocking child process while the loopback site answers it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_probe_and_point_commands() {
    let app = sqlite_app().await;
    let url = app._db.config.url.clone();
    let (base, _site) = start_site().await;
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tianshu"))
            .arg("--database-url")
            .arg(&url)
            // The credentials key file lives in the data directory: a temporary one, not the crate's ./data.
            .arg("--data-dir")
            .arg(dir.path())
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let file = dir.path().join("portal.toml");
    let toml_text = format!(
        r#"name = "命令行拨测"
system = "agent-portal"
severity = "warning"

[secrets]
password = "s3cret-pw"

[scenario.variables]
user = "probe01"

[[scenario.steps]]
name = "登录页"
url = "{base}/login"
assert = {{ status = 200, body_contains = "代理商门户登录" }}
extract = [{{ name = "csrf", regex = 'name="csrf" value="([^"]+)"' }}]

[[scenario.steps]]
name = "登录"
method = "POST"
url = "{base}/login"
form = {{ user = "{{{{user}}}}", password = "{{{{password}}}}", csrf = "{{{{csrf}}}}" }}
assert = {{ body_regex = "欢迎\\s+probe01" }}
"#
    );
    std::fs::write(
        &file,
        toml_text.replace(
            "/login\"\nassert = { status",
            "/nowhere\"\nassert = { status",
        ),
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let (code, out, err) = run(&["probe", "create", "--file", f]);
    assert_eq!(code, Some(0), "{err}");
    let id: i64 = out.split_whitespace().nth(1).unwrap().parse().unwrap();
    let (code, out, _) = run(&["probe", "run-now", &id.to_string()]);
    assert_eq!(code, Some(1), "a failed run exits 1: {out}");
    assert!(
        out.contains("\"ok\": false") && out.contains("404"),
        "{out}"
    );
    std::fs::write(&file, &toml_text).unwrap();
    let (code, out, err) = run(&["probe", "update", &id.to_string(), "--file", f]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("updated"), "{out}");
    let (code, out, err) = run(&["probe", "run-now", &id.to_string()]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("\"ok\": true"), "{out}");
    let (code, out, _) = run(&["probe", "list"]);
    assert_eq!(code, Some(0));
    assert!(
        out.lines()
            .any(|l| l.starts_with(&format!("{id}\tok\t")) && l.ends_with("命令行拨测")),
        "{out}"
    );
    let (code, out, _) = run(&["probe", "export", &id.to_string()]);
    assert_eq!(code, Some(0));
    assert!(
        out.contains("name = \"命令行拨测\"") && out.contains("[[scenario.steps]]"),
        "{out}"
    );
    assert!(
        out.contains("password") && !out.contains("s3cret-pw"),
        "{out}"
    );
    let exported = dir.path().join("exported.toml");
    std::fs::write(&exported, out.replace("命令行拨测", "命令行拨测2")).unwrap();
    let (code, _, err) = run(&[
        "probe",
        "update",
        &id.to_string(),
        "--file",
        exported.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "export → update round-trips: {err}");
    let (code, out, _) = run(&["probe", "disable", &id.to_string()]);
    assert_eq!(code, Some(0));
    assert!(out.contains("disabled"), "{out}");
    let (_, out, _) = run(&["probe", "list"]);
    assert!(out.contains(&format!("{id}\tdisabled\t")), "{out}");
    // A bad field is named, with the file; nothing stored.
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "name = \"坏\"\n[[scenario.steps]]\nname = \"x\"\nurl = \"ftp://x\"\n",
    )
    .unwrap();
    let (code, _, err) = run(&["probe", "create", "--file", bad.to_str().unwrap()]);
    assert_ne!(code, Some(0));
    assert!(err.contains("scenario.steps[0].url"), "{err}");
    std::fs::write(&bad, "name = \"坏\"\nscenario = 3\nsurprise = 1\n").unwrap();
    let (code, _, err) = run(&["probe", "create", "--file", bad.to_str().unwrap()]);
    assert_ne!(code, Some(0));
    assert!(
        err.contains("bad.toml") && err.contains("surprise"),
        "{err}"
    );
    // Without the permission.
    let (code, _, err) = run(&["probe", "--as", "duty-sz-1", "disable", &id.to_string()]);
    assert_ne!(code, Some(0));
    assert!(err.contains("probe.manage"), "{err}");

    // Points: register an (unreachable) database and a point from JSON; evaluating it is unknown → exit 1.
    let dbf = dir.path().join("db.json");
    std::fs::write(
        &dbf,
        json!({"name": "不可达库", "kind": "postgres", "host": "127.0.0.1", "port": 1,
        "database": "x", "username": "ro", "password": "pw-never-shown"})
        .to_string(),
    )
    .unwrap();
    let (code, out, err) = run(&["point", "add-database", "--file", dbf.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    let db_id: i64 = out.split_whitespace().nth(1).unwrap().parse().unwrap();
    let (_, out, _) = run(&["point", "databases"]);
    assert!(
        out.contains("不可达库") && !out.contains("pw-never-shown"),
        "{out}"
    );
    let pf = dir.path().join("point.toml");
    std::fs::write(&pf, format!("name = \"积压\"\nowner = \"运维一组\"\ndatabase_id = {db_id}\nquery = \"SELECT 1\"\ncomparison = \"gt\"\nthreshold = 5.0\nenabled = false\n")).unwrap();
    let (code, out, err) = run(&["point", "create", "--file", pf.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    let pid = out.split_whitespace().nth(1).unwrap().to_string();
    let (code, out, _) = run(&["point", "run-now", &pid]);
    assert_eq!(code, Some(1), "unknown is not ok: {out}");
    assert!(out.contains("\"state\": \"unknown\""), "{out}");
    let (_, out, _) = run(&["point", "list"]);
    assert!(out.starts_with(&format!("{pid}\tdisabled\t")), "{out}");
    let (code, out, _) = run(&["point", "enable", &pid]);
    assert_eq!(code, Some(0), "{out}");
    let (_, out, _) = run(&["point", "list"]);
    assert!(out.starts_with(&format!("{pid}\tunknown\t")), "{out}");
}
