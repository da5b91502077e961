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
    // Database sides of a job (issue 6): the declared fields and the resolved view.
    let job = &doc["components"]["schemas"]["ReconJobOut"]["properties"];
    assert!(
        job["left_input"].is_object() && job["run_at"].is_object(),
        "{job}"
    );
    let inputs = &doc["components"]["schemas"]["ReconInputsOut"]["properties"];
    assert!(
        inputs["left_db"].is_object() && inputs["right_query"].is_object(),
        "{inputs}"
    );
    assert!(doc["components"]["schemas"]["ReconInputOut"]["properties"]["db_kind"].is_object());
}

/// host, port, database, username of a `postgres://user[:pw]@host[:port]/db` URL (the password, if any, too).
fn pg_parts(url: &str) -> Value {
    let rest = url.split_once("://").unwrap().1;
    let (auth, rest) = rest.rsplit_once('@').unwrap_or(("", rest));
    let (hostport, database) = rest.split_once('/').unwrap_or((rest, ""));
    let (user, pw) = auth.split_once(':').unwrap_or((auth, ""));
    let (host, port) = hostport.rsplit_once(':').unwrap_or((hostport, "5432"));
    let mut v = json!({"kind": "postgres", "host": host, "port": port.parse::<i64>().unwrap(),
        "database": database.split('?').next().unwrap(), "username": user});
    if !pw.is_empty() {
        v["password"] = json!(pw);
    }
    v
}

#[tokio::test]
async fn a_job_reading_registered_databases_shows_and_runs_over_http() {
    use sqlx::Connection;
    let Some(pg_url) = tianshu_testkit::postgres_url() else {
        return;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let schema = format!(
        "{}{now}_reconapi{}",
        tianshu_testkit::SCHEMA_PREFIX,
        std::process::id()
    );
    let mut c = sqlx::PgConnection::connect(&pg_url).await.unwrap();
    sqlx::raw_sql(&format!(
        "CREATE SCHEMA {schema};
         CREATE TABLE {schema}.crm (customer_id text PRIMARY KEY, status text);
         INSERT INTO {schema}.crm VALUES ('C1','A'), ('C2','A'), ('C3','A');
         CREATE TABLE {schema}.billing (cust_id text PRIMARY KEY, state text);
         INSERT INTO {schema}.billing VALUES ('C1','A'), ('C2','S'), ('C4','A');"
    ))
    .execute(&mut c)
    .await
    .unwrap();
    let job = format!(
        r#"
[[schedule]]
key = "crm_billing_db"
rule = "REC-10"
name_zh = "省CRM—省计费库对库稽核"
name_en = "Provincial CRM vs billing (database to database)"
mode = "db"
days = [1]
at = "03:00"

[schedule.inputs]
left_db = "pg_src"
left_table = "{schema}.crm"
right_db = "pg_src"
right_query = "SELECT cust_id AS customer_id, state AS status FROM {schema}.billing"
key = ["customer_id"]
"#
    );
    for db in backends().await {
        let app = spawn(db).await;
        app.reload_pack_with("reconciliation.toml", &job).await;
        let admin = app.token_for("admin", &[]).await;
        let dba = app.token_for("dba", &[]).await;
        let mut reg = pg_parts(&pg_url);
        reg["name"] = json!("pg_src");
        let r = post(&app, &admin, "/api/v1/monitoring/databases", reg).await;
        assert_eq!(r.status(), StatusCode::CREATED);

        let jobs = get_json(&app, &dba, "/api/v1/recon/jobs").await;
        let j = jobs
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["key"] == "crm_billing_db")
            .unwrap()
            .clone();
        assert_eq!(
            (&j["mode"], &j["run_at"], &j["inputs"]["left"]),
            (&json!("db"), &json!("03:00"), &Value::Null)
        );
        assert_eq!(
            (
                &j["left_input"]["kind"],
                &j["left_input"]["db"],
                &j["left_input"]["db_kind"]
            ),
            (&json!("db"), &json!("pg_src"), &json!("postgres"))
        );

        let r = post(
            &app,
            &dba,
            "/api/v1/recon/runs",
            json!({"job": "crm_billing_db"}),
        )
        .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let run: Value = r.json().await.unwrap();
        assert_eq!(run["status"], "succeeded", "{run}");
        assert_eq!(
            (
                &run["mode"],
                &run["only_left"],
                &run["only_right"],
                &run["changed"],
                &run["identical"]
            ),
            (&json!("db"), &json!(1), &json!(1), &json!(1), &json!(1))
        );
        assert_eq!(run["left_path"], format!("db:pg_src/{schema}.crm"));

        // The console names the database side instead of an upload state.
        app.login("admin").await;
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
            html.contains(&format!(
                "PG:pg_src/{schema}.crm ⇄ PG:pg_src/(SELECT cust_id"
            )),
            "{html}"
        );
    }
}
