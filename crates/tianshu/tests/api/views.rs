//! Incident list filters and saved views over HTTP against the real server (issue 9): filters by source,
//! region and overdue clocks; bad filters named by field (422) or reference (400); saved views per user,
//! normalised, unique by name, deletable only by their owner.

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

use super::{problem, sqlite_app, TestApp};

async fn ids(app: &TestApp, tok: &str, query: &str) -> Vec<i64> {
    let r = Client::new()
        .get(app.url(&format!("/api/v1/incidents?limit=500&{query}")))
        .bearer_auth(tok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{query}");
    let v: Value = r.json().await.unwrap();
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn incident_list_filters_by_source_region_and_overdue_clocks() {
    let app = sqlite_app().await;
    let pre = app.bearer("preproc").await;
    let a = app.new_incident(&pre, json!({"affected_users": 620})).await;
    let a = a["id"].as_i64().unwrap();
    let r = Client::new()
        .post(app.url("/api/v1/incidents"))
        .bearer_auth(&pre)
        .json(&json!({"title": "计费清单查询慢", "symptom": "清单查询超时", "source_channel": "email",
                      "reporter": "坐席（测试）", "org_key": "shenzhen", "system_key": "billing", "facts": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let b = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();

    let by_source = ids(&app, &pre, "source=email").await;
    assert!(
        by_source.contains(&b) && !by_source.contains(&a),
        "{by_source:?}"
    );
    let by_region = ids(&app, &pre, "region=guangzhou").await;
    assert!(
        by_region.contains(&a) && !by_region.contains(&b),
        "{by_region:?}"
    );
    let by_system = ids(&app, &pre, "system=billing&level=general").await;
    assert!(
        by_system.contains(&b) && !by_system.contains(&a),
        "{by_system:?}"
    );

    // Fresh tickets are not overdue; three days later their running clocks are past due.
    let overdue = ids(&app, &pre, "overdue=true").await;
    assert!(
        !overdue.contains(&a) && !overdue.contains(&b),
        "{overdue:?}"
    );
    app.clock.advance(chrono::Duration::days(3));
    let overdue = ids(&app, &pre, "overdue=true").await;
    assert!(overdue.contains(&a) && overdue.contains(&b), "{overdue:?}");

    // Bad filters change nothing and say which field: an unknown code is 422, an unknown key 400.
    for (query, status, field) in [
        ("state=lost", StatusCode::UNPROCESSABLE_ENTITY, "state"),
        ("source=fax", StatusCode::UNPROCESSABLE_ENTITY, "source"),
        ("level=FL9", StatusCode::UNPROCESSABLE_ENTITY, "level"),
        ("region=atlantis", StatusCode::BAD_REQUEST, "region"),
        ("system=nope", StatusCode::BAD_REQUEST, "system"),
    ] {
        let r = Client::new()
            .get(app.url(&format!("/api/v1/incidents?{query}")))
            .bearer_auth(&pre)
            .send()
            .await
            .unwrap();
        let (s, p) = problem(r).await;
        assert_eq!(
            (s, p["field"].as_str()),
            (status, Some(field)),
            "{query}: {p}"
        );
    }
}

#[tokio::test]
async fn saved_views_are_normalised_unique_and_private() {
    let app = sqlite_app().await;
    let pre = app.bearer("preproc").await;
    let other = app.bearer("esc-a").await;
    let save = |tok: String, body: Value| {
        let url = app.url("/api/v1/saved-views");
        async move {
            Client::new()
                .post(url)
                .bearer_auth(tok)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let r = save(
        pre.clone(),
        json!({"page": "incidents", "name": " 广州 FL2 ", "query": "?level=FL2&q=&region=guangzhou"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["name"], "广州 FL2");
    assert_eq!(v["query"], "level=FL2&region=guangzhou");

    // Same name again: conflict on `name`; a cursor or unknown key is not a filter; unknown page.
    let (s, p) = problem(
        save(
            pre.clone(),
            json!({"page": "incidents", "name": "广州 FL2", "query": "level=FL1"}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (s, p["field"].as_str()),
        (StatusCode::CONFLICT, Some("name")),
        "{p}"
    );
    for (body, field) in [
        (
            json!({"page": "incidents", "name": "x", "query": "cursor=abc"}),
            "query",
        ),
        (
            json!({"page": "incidents", "name": "", "query": "level=FL1"}),
            "name",
        ),
        (json!({"page": "reports", "name": "x", "query": ""}), "page"),
    ] {
        let (s, p) = problem(save(pre.clone(), body.clone()).await).await;
        assert_eq!(
            (s, p["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{body}: {p}"
        );
    }

    let list = |tok: String| {
        let url = app.url("/api/v1/saved-views?page=incidents");
        async move {
            let v: Value = Client::new()
                .get(url)
                .bearer_auth(tok)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["items"].as_array().unwrap().len()
        }
    };
    assert_eq!(list(pre.clone()).await, 1);
    assert_eq!(list(other.clone()).await, 0);
    // Someone else's view is not found for them; the owner deletes it once.
    let del = |tok: String| {
        let url = app.url(&format!("/api/v1/saved-views/{}", v["id"]));
        async move {
            Client::new()
                .delete(url)
                .bearer_auth(tok)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(del(other).await, StatusCode::NOT_FOUND);
    assert_eq!(del(pre.clone()).await, StatusCode::NO_CONTENT);
    assert_eq!(del(pre.clone()).await, StatusCode::NOT_FOUND);
    assert_eq!(list(pre).await, 0);
}
