//! Back-end data operations over HTTP against the real server and a real MariaDB target (issue 7; DATA-05,
//! DATA-10, DATA-13): register a target (its password never comes back), submit, approve, execute guarded, read
//! the before-image, a mismatch refused with the rule and nothing changed, DDL refused, the monthly audit.

use std::str::FromStr;

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use sqlx::{Connection, Executor};

use super::{problem, sqlite_app, TestApp};

async fn call(
    app: &TestApp,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let c = Client::new();
    let b = match method {
        "GET" => c.get(app.url(path)),
        _ => c.post(app.url(path)),
    };
    let b = b.bearer_auth(token);
    let b = match body {
        Some(v) => b.json(&v),
        None => b,
    };
    b.send().await.unwrap()
}

async fn ok(r: reqwest::Response, want: StatusCode) -> Value {
    let s = r.status();
    let v: Value = r.json().await.unwrap();
    assert_eq!(s, want, "{v}");
    v
}

#[tokio::test]
async fn data_operation_chain_and_guarded_execution_over_http_data_05_data_10_data_13() {
    let Some(url) = tianshu_testkit::mariadb().await else {
        return;
    };
    let mut c = sqlx::MySqlConnection::connect(&url).await.unwrap();
    c.execute("CREATE TABLE cust_order (id INT PRIMARY KEY, fee DECIMAL(10,2), status VARCHAR(20), remark VARCHAR(50)) CHARACTER SET utf8mb4")
        .await
        .unwrap();
    c.execute("INSERT INTO cust_order VALUES (1, 30.00, 'stuck', '补录'), (2, 0.50, 'stuck', NULL), (3, 9.99, 'done', '正常')")
        .await
        .unwrap();
    let o = sqlx::mysql::MySqlConnectOptions::from_str(&url).unwrap();
    let app = sqlite_app().await;
    let admin = app
        .token_for(
            "admin",
            &[
                "dataop.approve",
                "dataop.execute",
                "dataop.request",
                "report.read",
            ],
        )
        .await;
    let preproc = app.token_for("preproc", &["dataop.request"]).await;
    let mgr = app.token_for("room-mgr", &["dataop.approve"]).await;
    let datafix = app
        .token_for("datafix", &["dataop.execute", "dataop.request"])
        .await;
    let dba = app
        .token_for("dba", &["dataop.execute", "dataop.request"])
        .await;

    let t = ok(
        call(&app, &admin, "POST", "/api/v1/data-ops/targets", Some(json!({
            "name": "boss-maria", "kind": "mysql", "host": o.get_host(), "port": o.get_port(),
            "database": o.get_database().unwrap(), "username": o.get_username(), "password": "", "system": "BOSS"}))).await,
        StatusCode::CREATED,
    )
    .await;
    let target_id = t["id"].as_i64().unwrap();
    assert!(t.get("password").is_none() && t.get("secret").is_none());

    let body = |steps: Value| {
        json!({"kind": "modification", "target_id": target_id, "title": "卡单订单状态修正",
        "ticket_type": "cmcp_business_fault", "impact": "两笔订单状态由卡单改为完成，不涉及费用",
        "processor": "datafix", "reviewer": "dba", "steps": steps})
    };
    // DDL is refused at submission with the rule and the field.
    let (s, p) = problem(
        call(
            &app,
            &preproc,
            "POST",
            "/api/v1/data-ops",
            Some(body(
                json!([{"sql": "ALTER TABLE cust_order DROP COLUMN remark", "expected_rows": 0}]),
            )),
        )
        .await,
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["field"], "steps[0].sql");
    assert!(
        p["detail"].as_str().unwrap_or_default().contains("DATA-05")
            || p.to_string().contains("DATA-05"),
        "{p}"
    );

    let v = ok(
        call(&app, &preproc, "POST", "/api/v1/data-ops", Some(body(json!([
            {"sql": "UPDATE cust_order SET status = 'done', remark = '已处理' WHERE id IN (1, 2)", "expected_rows": 2}])))).await,
        StatusCode::CREATED,
    )
    .await;
    let id = v["id"].as_i64().unwrap();
    assert_eq!(v["state"], "submitted");
    // DATA-13: no execution before the approvals.
    let (s, p) = problem(
        call(
            &app,
            &datafix,
            "POST",
            &format!("/api/v1/data-ops/{id}/execute"),
            Some(json!({"version": v["version"]})),
        )
        .await,
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p.to_string().contains("DATA-13"), "{p}");
    let v = ok(
        call(
            &app,
            &mgr,
            "POST",
            &format!("/api/v1/data-ops/{id}/actions/approve_business"),
            Some(json!({"version": v["version"]})),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let v = ok(
        call(
            &app,
            &mgr,
            "POST",
            &format!("/api/v1/data-ops/{id}/actions/approve_technical"),
            Some(json!({"version": v["version"], "note": "同意"})),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(v["state"], "tech_approved");
    let out = ok(
        call(
            &app,
            &datafix,
            "POST",
            &format!("/api/v1/data-ops/{id}/execute"),
            Some(json!({"version": v["version"]})),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(out["execution"]["outcome"], "committed");
    let rows = &out["execution"]["before_image"][0]["rows"];
    assert_eq!(rows[0]["remark"], "补录");
    assert_eq!(rows[1]["fee"], "0.50");
    assert_eq!(rows[1]["remark"], Value::Null);
    let status: Vec<(String,)> = sqlx::query_as("SELECT status FROM cust_order ORDER BY id")
        .fetch_all(&mut c)
        .await
        .unwrap();
    assert_eq!(
        status,
        vec![
            ("done".to_string(),),
            ("done".to_string(),),
            ("done".to_string(),)
        ]
    );

    // DATA-10 is not triggered for a 2-row change of an ordinary table, but the review still comes after execution.
    let v = ok(
        call(&app, &dba, "GET", &format!("/api/v1/data-ops/{id}"), None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(v["executions"][0]["before_image"][0]["rows"][0]["id"], "1");
    let v = ok(
        call(
            &app,
            &dba,
            "POST",
            &format!("/api/v1/data-ops/{id}/actions/review"),
            Some(json!({"version": v["version"]})),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(v["state"], "reviewed");

    // A mismatch: 422 naming the step, nothing changed.
    let v = ok(
        call(
            &app,
            &preproc,
            "POST",
            "/api/v1/data-ops",
            Some(body(json!([
            {"sql": "DELETE FROM cust_order WHERE id IN (2, 3)", "expected_rows": 1}]))),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let id2 = v["id"].as_i64().unwrap();
    let v = ok(
        call(
            &app,
            &mgr,
            "POST",
            &format!("/api/v1/data-ops/{id2}/actions/approve_business"),
            Some(json!({"version": v["version"]})),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let v = ok(
        call(
            &app,
            &mgr,
            "POST",
            &format!("/api/v1/data-ops/{id2}/actions/approve_technical"),
            Some(json!({"version": v["version"]})),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let (s, p) = problem(
        call(
            &app,
            &datafix,
            "POST",
            &format!("/api/v1/data-ops/{id2}/execute"),
            Some(json!({"version": v["version"]})),
        )
        .await,
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["field"], "steps[0].expected_rows");
    assert!(p.to_string().contains("rolled back"), "{p}");
    let n: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM cust_order")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(n.0, 3);

    // The monthly audit (DATA-13) sees both requests and the rolled-back execution.
    // The test server's clock stands at 2026-11-23 09:00 Asia/Shanghai.
    let r = ok(
        call(
            &app,
            &admin,
            "GET",
            "/api/v1/data-ops/audit-report?month=2026-11",
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(r["total"], 2);
    assert_eq!(r["rolled_back"], 1);
    // The console page shows the chain and the before-image (zh-CN by default).
    app.login("dba").await;
    let html = app
        .client
        .get(app.url(&format!("/data-ops/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(html.status(), StatusCode::OK);
    let html = html.text().await.unwrap();
    assert!(
        html.contains("修改前数据") && html.contains("补录") && html.contains("已复核"),
        "{html}"
    );
    let list = app
        .client
        .get(app.url("/data-ops"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(list.contains(&format!("/data-ops/{id2}")));
    // The password is nowhere in the target list.
    let l = ok(
        call(&app, &admin, "GET", "/api/v1/data-ops/targets", None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(l["items"][0]["name"], "boss-maria");
    assert!(l["items"][0].get("secret").is_none());
}
