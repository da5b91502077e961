//! Problem management over HTTP against the real server (issue 8): the report form refused field by field
//! with its rule (PRB-12 level, PRB-04 category), a P2 report queues the PRB-06 manager message, moves are
//! version-checked, archive refused with the PRB-09 rule until the review is done, and the OpenAPI document
//! lists the paths.

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

use super::{problem, sqlite_app, TestApp};

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> reqwest::Response {
    Client::new()
        .post(app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn form(level: Option<&str>, category: &str) -> Value {
    let mut v = json!({
        "title": "计费话单入库延迟", "category": category, "source": "值班发现",
        "discovered_at": "2025-12-01T08:40:00+08:00", "symptom": "入库延迟约20分钟", "impact": "部分账单延迟"
    });
    if let Some(l) = level {
        v["level"] = json!(l);
    }
    v
}

#[tokio::test]
async fn problems_report_act_and_refuse_with_the_rule() {
    let app = sqlite_app().await;
    let t = app.token_for("admin", &[]).await;

    let (s, body) = problem(post(&app, &t, "/api/v1/problems", form(None, "database")).await).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["field"], "level", "{body}");
    let (s, body) =
        problem(post(&app, &t, "/api/v1/problems", form(Some("P2"), "plumbing")).await).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["field"], "category");
    assert!(body.to_string().contains("PRB-04"), "{body}");

    let r = post(&app, &t, "/api/v1/problems", form(Some("P2"), "database")).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: Value = r.json().await.unwrap();
    let id = v["problem"]["id"].as_i64().unwrap();
    assert!(v["problem"]["managers_told_at"].is_i64(), "{v}");
    assert_eq!(v["events"][1]["kind"], "managers_told");
    let kinds: Vec<&str> = v["deadlines"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["response", "dispatch", "resolution"]);

    let path = format!("/api/v1/problems/{id}/actions");
    let version = v["problem"]["version"].as_i64().unwrap();
    let r = post(
        &app,
        &t,
        &path,
        json!({"version": version, "action": "dispatch", "handler": "dba1"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["problem"]["state"], "dispatched");
    // The same version again is stale.
    let (s, _) = problem(
        post(
            &app,
            &t,
            &path,
            json!({"version": version, "action": "respond"}),
        )
        .await,
    )
    .await;
    assert_eq!(s, StatusCode::PRECONDITION_FAILED);
    // Missing and unknown actions are 422.
    let (s, b) = problem(post(&app, &t, &path, json!({"version": version})).await).await;
    assert_eq!(
        (s, b["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("action")),
        "{b}"
    );
    let version = v["problem"]["version"].as_i64().unwrap();
    let r = post(
        &app,
        &t,
        &path,
        json!({"version": version, "action": "resolve", "result": "已恢复", "method": "重建索引"}),
    )
    .await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["problem"]["state"], "resolved", "{v}");
    let (s, b) = problem(
        post(
            &app,
            &t,
            &path,
            json!({"version": v["problem"]["version"], "action": "archive"}),
        )
        .await,
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    assert!(b.to_string().contains("PRB-09"), "{b}");

    let list: Value = Client::new()
        .get(app.url("/api/v1/problems?level=P2"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
    let (s, _) = problem(
        Client::new()
            .get(app.url("/api/v1/problems?level=P9"))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);

    // PRB-09 monthly report of the month the problem was reported in (the test clock's month).
    let month =
        chrono::DateTime::from_timestamp_micros(v["problem"]["reported_at"].as_i64().unwrap())
            .unwrap()
            .with_timezone(&chrono_tz::Asia::Shanghai)
            .format("%Y-%m")
            .to_string();
    let rep: Value = Client::new()
        .get(app.url(&format!("/api/v1/problems/monthly?month={month}")))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (rep["total"].as_i64(), rep["rule"].as_str()),
        (Some(1), Some("PRB-09")),
        "{rep}"
    );
    assert_eq!(rep["by_level"], json!([{"key": "P2", "count": 1}]));
    assert_eq!(rep["problems"][0]["result"], "已恢复");
    let (s, b) = problem(
        Client::new()
            .get(app.url("/api/v1/problems/monthly?month=2026-13"))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (s, b["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("month"))
    );

    let doc: Value = Client::new()
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for p in [
        "/api/v1/problems",
        "/api/v1/problems/{id}",
        "/api/v1/problems/{id}/actions",
    ] {
        assert!(
            doc["paths"][p].is_object(),
            "{p} missing from the OpenAPI document"
        );
    }
}

/// Console /problems: the report form refused without a level (422, shown next to the form, nothing saved),
/// then filed; the problem page shows its deadlines with their rules, and a refused archive shows the rule.
#[tokio::test]
async fn console_problem_pages_report_and_refuse_with_the_rule() {
    let app = sqlite_app().await;
    let csrf = app.login("admin").await;
    let page = |p: &str| {
        app.client
            .get(app.url(p))
            .header("accept-language", "zh-CN")
            .send()
    };
    let r = page("/problems").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("问题报告单") && html.contains("数据库"),
        "{html}"
    );

    let mut fields = vec![
        ("csrf", csrf.as_str()),
        ("title", "计费话单入库延迟"),
        ("category", "database"),
        ("source", "值班发现"),
        ("discovered_at", "2025-12-01T08:40"),
        ("symptom", "入库延迟"),
        ("impact", "部分账单延迟"),
    ];
    let r = app
        .client
        .post(app.url("/problems"))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("data-field=\"level\"") && html.contains("PRB-12"),
        "{html}"
    );
    assert!(!html.contains("data-problem="), "nothing saved");

    fields.push(("level", "P3"));
    let r = app
        .client
        .post(app.url("/problems"))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "redirected to the new problem");
    let url = r.url().path().to_string();
    assert!(url.starts_with("/problems/"), "{url}");
    let html = r.text().await.unwrap();
    assert!(
        html.contains("PRB-01") && html.contains("PRB-02"),
        "deadlines with their rules: {html}"
    );

    let id = url.trim_start_matches("/problems/");
    let archive = [
        ("csrf", csrf.as_str()),
        ("version", "1"),
        ("action", "archive"),
    ];
    let r = app
        .client
        .post(app.url(&format!("/problems/{id}/act")))
        .form(&archive)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("PRB-08"));

    let en = app
        .client
        .get(app.url(&format!("/problems/{id}")))
        .header("accept-language", "en")
        .send()
        .await
        .unwrap();
    let html = en.text().await.unwrap();
    assert!(
        html.contains("Deadlines") || html.contains("截止时间"),
        "{html}"
    );
}
