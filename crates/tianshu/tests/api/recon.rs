//! Reconciliation over HTTP against the real server, SQLite and PostgreSQL (issue 6): uploads into the inbox, a
//! run started now with its fingerprints and counts, the sample paged by kind, CSV/XLSX details, the trend of a
//! job, the REC-07 work item replied and fixed with versions, permissions from roles.toml, bad input refused with
//! the field, the console pages and the dashboard card, and the paths in the OpenAPI document.

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use tianshu_testkit::backends;

use super::{problem, spawn, TestApp};

async fn get(app: &TestApp, t: &str, path: &str) -> reqwest::Response {
    Client::new()
        .get(app.url(path))
        .bearer_auth(t)
        .send()
        .await
        .unwrap()
}

async fn get_json(app: &TestApp, t: &str, path: &str) -> Value {
    let r = get(app, t, path).await;
    assert_eq!(r.status(), StatusCode::OK, "GET {path}");
    r.json().await.unwrap()
}

async fn post(app: &TestApp, t: &str, path: &str, body: Value) -> reqwest::Response {
    Client::new()
        .post(app.url(path))
        .bearer_auth(t)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn upload(app: &TestApp, t: &str, name: &str, text: &str) -> String {
    let r = Client::new()
        .post(app.url(&format!("/api/v1/recon/uploads?name={name}")))
        .bearer_auth(t)
        .body(text.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: Value = r.json().await.unwrap();
    v["path"].as_str().unwrap().to_string()
}

const LEFT: &str = "customer_id,name,status,balance\nC001,客户甲,A,10.00\nC002,客户乙,A,20.00\nC003,客户丙,A,30.00\nC004,客户丁,A,40.00\nC005,客户戊,A,50.00\n";
const RIGHT: &str = "customer_id,name,status,balance\nC001,客户甲,A,10.00\nC002,客户乙,B,20.00\nC003,客户丙,B,31.00\nC005,客户戊,A,50.00\nC006,客户己,A,0.00\n";

#[tokio::test]
async fn recon_runs_over_http_on_both_backends() {
    for db in backends().await {
        let app = spawn(db).await;
        let dba = app.token_for("dba", &[]).await;
        let viewer = app.token_for("viewer", &[]).await;
        let vendor = app.token_for("vendor-crm", &[]).await;

        // The pack's jobs with their declared inputs.
        let jobs = get_json(&app, &viewer, "/api/v1/recon/jobs").await;
        let jobs = jobs.as_array().unwrap();
        assert_eq!(jobs.len(), 7);
        assert_eq!(jobs[0]["rule"], "REC-01");
        assert_eq!(jobs[0]["days"], json!([1, 7, 15, 21, 27]));
        assert_eq!(jobs[0]["inputs"]["key"], json!(["customer_id"]));
        assert_eq!(jobs[3]["mode"], "incremental");
        let (s, _) = problem(get(&app, &vendor, "/api/v1/recon/jobs").await).await;
        assert_eq!(s, StatusCode::FORBIDDEN);

        let left = upload(&app, &dba, "group.csv", LEFT).await;
        let right = upload(&app, &dba, "province.csv", RIGHT).await;
        // The viewer may read but not run.
        let body = json!({"left": left, "right": right, "key": ["customer_id"]});
        let (s, _) = problem(post(&app, &viewer, "/api/v1/recon/runs", body.clone()).await).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, b) = problem(
            post(
                &app,
                &dba,
                "/api/v1/recon/runs",
                json!({"left": "../../etc/passwd", "right": right, "key": ["customer_id"]}),
            )
            .await,
        )
        .await;
        assert_eq!(
            (s, b["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("left")),
            "{b}"
        );
        let (s, b) =
            problem(post(&app, &dba, "/api/v1/recon/runs", json!({"job": "nope"})).await).await;
        assert_eq!(
            (s, b["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("job")),
            "{b}"
        );
        let (s, b) = problem(
            post(
                &app,
                &dba,
                "/api/v1/recon/runs",
                json!({"left": left, "colour": 1}),
            )
            .await,
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");

        let r = post(&app, &dba, "/api/v1/recon/runs", body).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let run: Value = r.json().await.unwrap();
        let id = run["id"].as_i64().unwrap();
        assert_eq!(run["status"], "succeeded", "{run}");
        assert_eq!(
            (
                &run["only_left"],
                &run["only_right"],
                &run["changed"],
                &run["identical"]
            ),
            (&json!(1), &json!(1), &json!(2), &json!(2))
        );
        assert_eq!(run["consistency"], json!(2.0 / 6.0));
        assert_eq!(run["left_size"], json!(LEFT.len()));
        assert_eq!(run["trigger"], "api");
        assert!(run["started_by"].as_str().unwrap().contains("dba"), "{run}");

        let v = get_json(&app, &viewer, &format!("/api/v1/recon/runs/{id}")).await;
        assert_eq!(
            v["per_column"],
            json!({"balance": 1, "name": 0, "status": 2})
        );
        assert_eq!(v["meets_target"], false);
        let item = v["item"].clone();
        assert_eq!(
            (&item["state"], &item["differences"]),
            (&json!("open"), &json!(4))
        );

        // The sample: 4 differences of which 3 changed-column rows... paged.
        let p1 = get_json(
            &app,
            &viewer,
            &format!("/api/v1/recon/runs/{id}/differences?limit=2"),
        )
        .await;
        let total = p1["total"].as_i64().unwrap();
        assert_eq!(
            total, 5,
            "3 changed columns + 1 only-left + 1 only-right: {p1}"
        );
        assert_eq!(p1["items"].as_array().unwrap().len(), 2);
        let p3 = get_json(
            &app,
            &viewer,
            &format!("/api/v1/recon/runs/{id}/differences?limit=2&offset=4"),
        )
        .await;
        assert_eq!(p3["items"].as_array().unwrap().len(), 1);
        let ch = get_json(
            &app,
            &viewer,
            &format!("/api/v1/recon/runs/{id}/differences?kind=changed"),
        )
        .await;
        let cols: Vec<&str> = ch["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|d| d["column"].as_str())
            .collect();
        assert_eq!(ch["total"], 3);
        assert!(
            cols.contains(&"balance") && cols.contains(&"status"),
            "{ch}"
        );
        let (s, b) = problem(
            get(
                &app,
                &viewer,
                &format!("/api/v1/recon/runs/{id}/differences?kind=odd"),
            )
            .await,
        )
        .await;
        assert_eq!(
            (s, b["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("kind"))
        );
        let (s, _) = problem(get(&app, &viewer, "/api/v1/recon/runs/999999").await).await;
        assert_eq!(s, StatusCode::NOT_FOUND);

        let r = get(&app, &viewer, &format!("/api/v1/recon/runs/{id}/details")).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv"));
        let csv = r.text().await.unwrap();
        assert!(
            csv.starts_with('\u{feff}') && csv.contains("only_right,C006"),
            "{csv}"
        );
        let r = get(
            &app,
            &viewer,
            &format!("/api/v1/recon/runs/{id}/details?format=xlsx"),
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.bytes().await.unwrap().starts_with(b"PK"));

        let runs = get_json(&app, &viewer, "/api/v1/recon/runs?job=").await;
        assert_eq!(runs[0]["id"], id);
        let trend = get_json(
            &app,
            &viewer,
            "/api/v1/recon/jobs/switchboard_customers_full/trend",
        )
        .await;
        assert_eq!(trend["target_percent"], 99.9);
        let (s, _) = problem(get(&app, &viewer, "/api/v1/recon/jobs/nope/trend").await).await;
        assert_eq!(s, StatusCode::NOT_FOUND);

        // REC-07 work item: reply with the version read, stale refused with 412, fix, close.
        let items = get_json(&app, &viewer, "/api/v1/recon/items?state=open").await;
        let iid = items[0]["item"]["id"].as_i64().unwrap();
        let path = format!("/api/v1/recon/items/{iid}/actions");
        let (s, _) = problem(
            post(
                &app,
                &viewer,
                &path,
                json!({"action": "reply", "version": 1, "text": "x"}),
            )
            .await,
        )
        .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let r = post(
            &app,
            &dba,
            &path,
            json!({"action": "reply", "version": 1, "text": "省端状态未同步"}),
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK);
        let (s, _) = problem(
            post(
                &app,
                &dba,
                &path,
                json!({"action": "fix", "version": 1, "text": "已修正"}),
            )
            .await,
        )
        .await;
        assert_eq!(s, StatusCode::PRECONDITION_FAILED);
        let (s, b) =
            problem(post(&app, &dba, &path, json!({"action": "close", "version": 2})).await).await;
        assert_eq!(s, StatusCode::CONFLICT, "{b}");
        let r = post(
            &app,
            &dba,
            &path,
            json!({"action": "fix", "version": 2, "text": "已修正"}),
        )
        .await;
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["item"]["state"], "fixed", "{v}");

        // Console: /recon lists the jobs and the run; the run page shows counts, bars, sample and downloads.
        app.login("dba").await;
        let html = app
            .client
            .get(app.url("/recon"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            html.contains("switchboard_customers_full") && html.contains("REC-01"),
            "{html}"
        );
        assert!(html.contains(&format!("/recon/runs/{id}")));
        let html = app
            .client
            .get(app.url(&format!("/recon/runs/{id}")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(html.contains("33.333%"), "{html}");
        assert!(
            html.contains("<svg") && html.contains("per-column"),
            "per-column bars"
        );
        assert!(html.contains("C006") && html.contains("format=xlsx"));
        let html = app
            .client
            .get(app.url("/"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(html.contains("id=\"dash-recon\""), "dashboard card");
    }
}

#[tokio::test]
async fn openapi_lists_the_recon_paths() {
    let app = spawn(tianshu_testkit::TestDb::sqlite()).await;
    let doc: Value = Client::new()
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for p in [
        "/api/v1/recon/jobs",
        "/api/v1/recon/jobs/{key}/trend",
        "/api/v1/recon/runs",
        "/api/v1/recon/runs/{id}",
        "/api/v1/recon/runs/{id}/differences",
        "/api/v1/recon/runs/{id}/details",
        "/api/v1/recon/uploads",
        "/api/v1/recon/items/{id}/actions",
    ] {
        assert!(doc["paths"][p].is_object(), "{p} missing");
    }
    assert!(doc["components"]["schemas"]["ReconRunOut"].is_object());
}
