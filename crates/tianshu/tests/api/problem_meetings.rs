//! PRB-13 monthly problem meeting over HTTP against the real server, on both backends: a meeting recorded with
//! attendees, minutes and actions; one meeting per month of the centre's calendar (409 naming PRB-13, also
//! across the UTC month boundary); actions tracked open → done with a note, overdue shown while open past
//! their due date; version-checked closing; permissions like problems; the console page with errors next to
//! the field and actions closed in place; the OpenAPI document.

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

use super::{problem, spawn, sqlite_app, TestApp};

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> reqwest::Response {
    app.post_json(token, path, body).await
}

async fn get(app: &TestApp, token: &str, path: &str) -> reqwest::Response {
    app.get_as(token, path).await
}

/// November's meeting, held 2026-11-20 14:00 centre time (the server's clock is 2026-11-23 09:00 centre time):
/// one action already past due, one due in December.
fn meeting() -> Value {
    json!({
        "held_at": "2026-11-20T14:00:00+08:00",
        "attendees": ["问题协调员（演示）", "  计费组长（演示） ", ""],
        "minutes": "本月问题：话单入库延迟两次。改进：入库批次监控；预防：扩容前压测。",
        "actions": [
            {"text": "增加入库批次积压监控", "owner": "dba1", "due_at": "2026-11-22T18:00:00+08:00"},
            {"text": "扩容前压测纳入变更检查单", "owner": "ops2", "due_at": "2026-12-05T18:00:00+08:00"}
        ]
    })
}

#[tokio::test]
async fn monthly_problem_meeting_prb_13_on_both_backends() {
    for db in tianshu_testkit::backends().await {
        let app = spawn(db).await;
        let admin = app.token_for("admin", &[]).await;
        let viewer = app.token_for("viewer", &[]).await;
        let path = "/api/v1/problems/meetings";

        // Permissions like problems: reading needs problem.read, recording problem.manage.
        let (s, _) = problem(post(&app, &viewer, path, meeting()).await).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let r = get(&app, &viewer, path).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.json::<Value>().await.unwrap()["items"], json!([]));

        // Refused field by field, nothing saved.
        let mut bad = meeting();
        bad["attendees"] = json!([" "]);
        let (s, body) = problem(post(&app, &admin, path, bad).await).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["field"], "attendees");
        assert!(body.to_string().contains("PRB-13"), "{body}");
        let mut bad = meeting();
        bad["held_at"] = json!("2026-11-24T09:00:00+08:00");
        let (s, body) = problem(post(&app, &admin, path, bad).await).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["field"], "held_at");
        let mut bad = meeting();
        bad["actions"][1]["due_at"] = json!("2026-11-19T18:00:00+08:00");
        let (s, body) = problem(post(&app, &admin, path, bad).await).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["field"], "actions[1].due_at");
        let mut bad = meeting();
        bad.as_object_mut().unwrap().remove("minutes");
        let (s, body) = problem(post(&app, &admin, path, bad).await).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["field"], "minutes");
        let r = get(&app, &admin, path).await;
        assert_eq!(r.json::<Value>().await.unwrap()["items"], json!([]));

        // Recorded: names trimmed, blanks dropped; the past-due action is overdue, the other open.
        let r = post(&app, &admin, path, meeting()).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let m: Value = r.json().await.unwrap();
        let id = m["id"].as_i64().unwrap();
        assert_eq!(m["month"], "2026-11");
        assert_eq!(m["rule"], "PRB-13");
        assert_eq!(
            m["attendees"],
            json!(["问题协调员（演示）", "计费组长（演示）"])
        );
        assert_eq!(
            (m["open_actions"].as_i64(), m["overdue_actions"].as_i64()),
            (Some(2), Some(1))
        );
        let a0 = m["actions"][0].clone();
        assert_eq!(
            (a0["state"].as_str(), a0["overdue"].as_bool()),
            (Some("open"), Some(true))
        );
        assert_eq!(m["actions"][1]["overdue"], false);

        // One meeting per month: 2026-10-31 17:00 UTC is already 2026-11-01 01:00 centre time.
        let mut again = meeting();
        again["held_at"] = json!("2026-10-31T17:00:00Z");
        again["actions"] = json!([]);
        let (s, body) = problem(post(&app, &admin, path, again.clone()).await).await;
        assert_eq!(s, StatusCode::CONFLICT, "{body}");
        assert_eq!(body["field"], "held_at");
        assert!(
            body.to_string().contains("PRB-13") && body.to_string().contains("2026-11"),
            "{body}"
        );
        // ... while 16:00 UTC of that day is still October's meeting.
        again["held_at"] = json!("2026-10-31T15:59:00Z");
        let r = post(&app, &admin, path, again).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let october: Value = r.json().await.unwrap();
        assert_eq!(october["month"], "2026-10");
        assert_eq!(october["actions"], json!([]));

        // Closing: a note is required, the version is checked, then done (no longer overdue), not twice.
        let close = format!("{path}/{id}/actions/{}/close", a0["id"]);
        let version = a0["version"].as_i64().unwrap();
        let (s, body) = problem(
            post(
                &app,
                &admin,
                &close,
                json!({"version": version, "note": " "}),
            )
            .await,
        )
        .await;
        assert_eq!(
            (s, body["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("note"))
        );
        let (s, _) = problem(
            post(
                &app,
                &viewer,
                &close,
                json!({"version": version, "note": "已上线"}),
            )
            .await,
        )
        .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, _) = problem(
            post(
                &app,
                &admin,
                &close,
                json!({"version": version + 1, "note": "已上线"}),
            )
            .await,
        )
        .await;
        assert_eq!(s, StatusCode::PRECONDITION_FAILED);
        let r = post(
            &app,
            &admin,
            &close,
            json!({"version": version, "note": "监控已上线"}),
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK);
        let m: Value = r.json().await.unwrap();
        let done = &m["actions"][0];
        assert_eq!(done["state"], "done");
        assert_eq!(done["note"], "监控已上线");
        assert_eq!(done["overdue"], false);
        assert!(
            done["closed_at"].is_i64() && done["closed_by"].is_string(),
            "{m}"
        );
        assert_eq!(
            (m["open_actions"].as_i64(), m["overdue_actions"].as_i64()),
            (Some(1), Some(0))
        );
        let (s, body) = problem(
            post(
                &app,
                &admin,
                &close,
                json!({"version": version + 1, "note": "再次"}),
            )
            .await,
        )
        .await;
        assert_eq!(s, StatusCode::CONFLICT, "{body}");
        // An action of another meeting is not found under this one.
        let other = format!(
            "{path}/{}/actions/{}/close",
            october["id"], m["actions"][1]["id"]
        );
        let (s, _) =
            problem(post(&app, &admin, &other, json!({"version": 1, "note": "x"})).await).await;
        assert_eq!(s, StatusCode::NOT_FOUND);

        // The list: latest month first; one meeting by id; an unknown one 404.
        let list: Value = get(&app, &viewer, path).await.json().await.unwrap();
        let months: Vec<&str> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["month"].as_str())
            .collect();
        assert_eq!(months, ["2026-11", "2026-10"]);
        let one: Value = get(&app, &viewer, &format!("{path}/{id}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(one["actions"][0]["state"], "done");
        let (s, _) = problem(get(&app, &viewer, &format!("{path}/99999")).await).await;
        assert_eq!(s, StatusCode::NOT_FOUND);

        // Audited.
        let audit = app
            .platform
            .store
            .audit_page(0, 100, Some(("problem_meeting", &id.to_string())))
            .await
            .unwrap();
        assert!(audit.iter().any(|e| e.action == "problem.meeting"));
        assert!(audit
            .iter()
            .any(|e| e.action == "problem.meeting_action_done"));
    }
}

/// The console page: errors next to the field (nothing saved), recorded from the form, the overdue action
/// marked and closed in place with a note; and the OpenAPI document lists the paths and typed schemas.
#[tokio::test]
async fn console_monthly_meeting_page_prb_13() {
    let app = sqlite_app().await;
    // Taken first: token_for logs the cookie client in again, which would replace the CSRF token.
    let tok = app.token_for("admin", &[]).await;
    let csrf = app.login("admin").await;
    let r = app
        .client
        .get(app.url("/problems/meetings"))
        .header("accept-language", "zh-CN")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("问题管理月度总结会") && html.contains("id=\"meetings-none\""),
        "{html}"
    );

    let mut fields = vec![
        ("csrf", csrf.as_str()),
        ("held_at", "2026-11-20T14:00"),
        (
            "attendees",
            "问题协调员（演示）\n计费组长（演示），运维（演示）",
        ),
        ("minutes", ""),
        ("action_text_0", ""),
        ("action_owner_0", ""),
        ("action_due_0", ""),
        ("action_text_1", "增加入库批次积压监控"),
        ("action_owner_1", "dba1"),
        ("action_due_1", "2026-11-22T18:00"),
    ];
    let send = |f: Vec<(&'static str, String)>, to: String| {
        let c = app.client.clone();
        let url = app.url(&to);
        async move {
            c.post(url)
                .header("accept-language", "zh-CN")
                .form(&f)
                .send()
                .await
                .unwrap()
        }
    };
    let owned = |f: &[(&'static str, &str)]| {
        f.iter()
            .map(|(k, v)| (*k, v.to_string()))
            .collect::<Vec<_>>()
    };
    let r = send(owned(&fields), "/problems/meetings".into()).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("class=\"field-error\" id=\"me-minutes\" data-field=\"minutes\""),
        "{html}"
    );
    assert!(
        html.contains("增加入库批次积压监控"),
        "the form keeps what was typed: {html}"
    );
    assert!(!html.contains("data-meeting="), "nothing saved");

    // An action line's refusal lands next to that line (line 1; line 0 was blank and skipped).
    fields[3] = ("minutes", "本月问题回顾");
    fields[9] = ("action_due_1", "2026-11-19T18:00");
    let r = send(owned(&fields), "/problems/meetings".into()).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("data-field=\"action_due_1\""), "{html}");

    fields[9] = ("action_due_1", "2026-11-22T18:00");
    let r = send(owned(&fields), "/problems/meetings".into()).await;
    assert_eq!(r.status(), StatusCode::OK, "redirected to the list");
    let html = r.text().await.unwrap();
    assert!(html.contains("data-month=\"2026-11\""), "{html}");
    assert!(
        html.contains("问题协调员（演示）、计费组长（演示）、运维（演示）"),
        "{html}"
    );
    assert!(
        html.contains("data-overdue=\"true\""),
        "the past-due action is overdue: {html}"
    );

    let v: Value = Client::new()
        .get(app.url("/api/v1/problems/meetings"))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (mid, action) = (
        v["items"][0]["id"].clone(),
        v["items"][0]["actions"][0].clone(),
    );
    let close = format!("/problems/meetings/{mid}/actions/{}/close", action["id"]);
    let version = action["version"].to_string();
    // Without a note: refused next to that action's note field.
    let r = send(
        owned(&[("csrf", &csrf), ("version", &version), ("note", "")]),
        close.clone(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(
        html.contains(&format!("id=\"ne-{}\"", action["id"])),
        "{html}"
    );
    let r = send(
        owned(&[
            ("csrf", &csrf),
            ("version", &version),
            ("note", "监控已上线"),
        ]),
        close,
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("data-state=\"done\"") && html.contains("监控已上线"),
        "{html}"
    );
    assert!(!html.contains("data-overdue=\"true\""), "{html}");

    let doc: Value = Client::new()
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for p in [
        "/api/v1/problems/meetings",
        "/api/v1/problems/meetings/{id}",
        "/api/v1/problems/meetings/{id}/actions/{action_id}/close",
    ] {
        assert!(doc["paths"][p].is_object(), "{p} missing");
    }
    let schemas = &doc["components"]["schemas"];
    for s in [
        "ProblemMeetingOut",
        "ProblemMeetingActionOut",
        "ProblemMeetingBody",
        "ProblemMeetingCloseBody",
    ] {
        assert!(schemas[s].is_object(), "schema {s} missing");
    }
}
