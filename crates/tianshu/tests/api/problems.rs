//! Problem management over HTTP against the real server (issue 8): the report form refused field by field
//! with its rule (PRB-12 level, PRB-04 category), a P2 report queues the PRB-06 manager message, moves are
//! version-checked, archive refused with the PRB-09 rule until the review is done, and the OpenAPI document
//! lists the paths.

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

use super::{problem, spawn, sqlite_app, TestApp};

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

/// The detail's durable clocks on both backends (issue 8): a P1 report starts the PRB-01/PRB-02 clocks with the
/// deadlines shown; past the response deadline the scheduler records the breach on the history, queues the
/// coordinator's message, and the API and the console page show the clock breached with its countdown.
#[tokio::test]
async fn problem_detail_shows_durable_clocks_and_their_breach_prb_01_on_both_backends() {
    use tianshu_core::Clock;
    for db in tianshu_testkit::backends().await {
        let app = spawn(db).await;
        let t = app.token_for("admin", &[]).await;
        let r = post(&app, &t, "/api/v1/problems", form(Some("P1"), "database")).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let v: Value = r.json().await.unwrap();
        let id = v["problem"]["id"].as_i64().unwrap();
        let clocks = v["clocks"].as_array().unwrap();
        let keys: Vec<&str> = clocks.iter().filter_map(|c| c["key"].as_str()).collect();
        assert_eq!(keys, ["response", "dispatch", "resolution"], "{v}");
        for (c, d) in clocks.iter().zip(v["deadlines"].as_array().unwrap()) {
            assert_eq!(
                (c["key"].as_str(), &c["due_at"]),
                (d["kind"].as_str(), &d["due"])
            );
            assert_eq!(c["state"], "running");
            assert!(c["breached_at"].is_null());
        }
        assert_eq!(clocks[0]["rule"], "PRB-01");
        assert_eq!(clocks[0]["basis"], "10m");

        // Past the 10-minute response deadline the breach is recorded (by this tick or the server's scheduler).
        app.clock
            .set(app.clock.now() + chrono::Duration::minutes(10) + chrono::Duration::seconds(1));
        let owner = tianshu_services::scheduler::instance_id();
        tianshu_services::scheduler::tick(&app.platform, &owner, 100)
            .await
            .unwrap();
        let get = || async {
            Client::new()
                .get(app.url(&format!("/api/v1/problems/{id}")))
                .bearer_auth(&t)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        };
        let mut v = get().await;
        for _ in 0..50 {
            if !v["clocks"][0]["breached_at"].is_null() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            v = get().await;
        }
        assert!(v["clocks"][0]["breached_at"].is_i64(), "{v}");
        // Still running: nobody has responded yet.
        assert_eq!(v["clocks"][0]["state"], "running");
        assert!(v["clocks"][1]["breached_at"].is_null());
        let breached: Vec<&Value> = v["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "clock.breached")
            .collect();
        assert_eq!(breached.len(), 1, "{v}");
        let out = app
            .platform
            .store
            .outbox_of("problem", &id.to_string())
            .await
            .unwrap();
        assert_eq!(
            out.iter()
                .filter(|m| m.template == "prb_deadline_breached")
                .count(),
            1
        );

        // The console page: the clocks with the breached state and the live countdown.
        app.login("admin").await;
        let html = app
            .client
            .get(app.url(&format!("/problems/{id}")))
            .header("accept-language", "zh-CN")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(html.contains("id=\"clocks\""), "{html}");
        assert!(html.contains("data-clock-state=\"breached\""), "{html}");
        assert!(html.contains("class=\"countdown\""), "{html}");
        assert!(
            html.contains("时限已超"),
            "the breach on the history: {html}"
        );

        let doc: Value = Client::new()
            .get(app.url("/api/v1/openapi.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let schemas = &doc["components"]["schemas"];
        assert!(schemas["ProblemClockOut"].is_object(), "schema missing");
        assert!(
            schemas["ProblemViewOut"]["properties"]["clocks"].is_object(),
            "clocks missing from ProblemViewOut"
        );
    }
}

/// Problem scope on both backends (issue 8), read like incidents: a branch-scoped reader (duty officer of a
/// branch team) sees only the problems of their branch, a vendor's engineer only the problems dispatched to
/// their vendor, province readers all; out of scope is 404 (like incidents, so existence does not leak) on the
/// detail, the moves and the console page; the list and the PRB-09 monthly report are filtered.
#[tokio::test]
async fn problems_are_read_in_the_readers_scope_branch_and_vendor_on_both_backends() {
    for db in tianshu_testkit::backends().await {
        let app = spawn(db).await;
        let admin = app.token_for("admin", &[]).await;
        let report = |org: Option<&'static str>| {
            let mut f = form(Some("P3"), "database");
            if let Some(o) = org {
                f["org_key"] = json!(o);
            }
            let (app, admin) = (&app, &admin);
            async move {
                let r = post(app, admin, "/api/v1/problems", f).await;
                assert_eq!(r.status(), StatusCode::CREATED);
                r.json::<Value>().await.unwrap()
            }
        };
        // Guangzhou's own problem (the branch), Foshan's (reported for the branch's team), the centre's own.
        let gz = report(Some("guangzhou")).await;
        let fs = report(Some("foshan-support")).await;
        let centre = report(None).await;
        assert!(gz["problem"]["region_id"].is_i64(), "{gz}");
        assert!(fs["problem"]["region_id"].is_i64(), "{fs}");
        assert_ne!(
            fs["problem"]["region_id"], gz["problem"]["region_id"],
            "Foshan's team belongs to the Foshan branch"
        );
        assert!(centre["problem"]["region_id"].is_null(), "{centre}");
        let id = |v: &Value| v["problem"]["id"].as_i64().unwrap();
        let (gz_id, fs_id, centre_id) = (id(&gz), id(&fs), id(&centre));

        // Unknown organisations and non-vendors are refused by field, nothing saved.
        let mut bad = form(Some("P3"), "database");
        bad["org_key"] = json!("atlantis");
        let (s, b) = problem(post(&app, &admin, "/api/v1/problems", bad).await).await;
        assert_eq!(
            (s, b["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("org_key")),
            "{b}"
        );
        let path = format!("/api/v1/problems/{centre_id}/actions");
        let (s, b) = problem(
            post(&app, &admin, &path, json!({"version": 1, "action": "dispatch", "handler": "张工", "vendor": "guangzhou"}))
                .await,
        )
        .await;
        assert_eq!(
            (s, b["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("vendor")),
            "{b}"
        );
        // The centre's problem is dispatched to a handler of the vendor 天衡 (vendor-tianheng).
        let r = post(&app, &admin, &path, json!({"version": 1, "action": "dispatch", "handler": "天衡·李工", "vendor": "vendor-tianheng"})).await;
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.unwrap();
        assert!(v["problem"]["vendor_org_id"].is_i64(), "{v}");

        let ids = |v: Value| -> Vec<i64> {
            let mut ids: Vec<i64> = v["items"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|i| i["problem"]["id"].as_i64())
                .collect();
            ids.sort();
            ids
        };
        let month = "2026-11";
        let readers = [
            ("admin", vec![gz_id, fs_id, centre_id]),
            ("gz-duty", vec![gz_id]),
            ("fs-duty", vec![fs_id]),
            ("vendor-crm", vec![centre_id]),
            ("vendor-esb", vec![]),
        ];
        for (user, want) in readers {
            let t = app.token_for(user, &[]).await;
            let list: Value = app
                .get_as(&t, "/api/v1/problems")
                .await
                .json()
                .await
                .unwrap();
            assert_eq!(ids(list), want, "{user} lists only the problems in scope");
            for pid in [gz_id, fs_id, centre_id] {
                let r = app.get_as(&t, &format!("/api/v1/problems/{pid}")).await;
                let want_status = if want.contains(&pid) {
                    StatusCode::OK
                } else {
                    StatusCode::NOT_FOUND
                };
                assert_eq!(r.status(), want_status, "{user} reads problem {pid}");
            }
            let m: Value = app
                .get_as(&t, &format!("/api/v1/problems/monthly?month={month}"))
                .await
                .json()
                .await
                .unwrap();
            assert_eq!(m["total"].as_i64(), Some(want.len() as i64), "{user}: {m}");
            let mut in_report: Vec<i64> = m["problems"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|l| l["id"].as_i64())
                .collect();
            in_report.sort();
            assert_eq!(in_report, want, "{user}: monthly report in scope");
        }

        // The console: the branch duty officer opens their branch's problem, not Foshan's (404), and the list
        // shows theirs only.
        app.login("gz-duty").await;
        let r = app
            .client
            .get(app.url(&format!("/problems/{fs_id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let r = app
            .client
            .get(app.url(&format!("/problems/{gz_id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let html = app
            .client
            .get(app.url("/problems"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            html.contains(&format!("data-problem=\"{gz_id}\"")),
            "{html}"
        );
        assert!(
            !html.contains(&format!("data-problem=\"{fs_id}\"")),
            "{html}"
        );
        assert!(
            !html.contains(&format!("data-problem=\"{centre_id}\"")),
            "{html}"
        );
    }
}

/// CHG-21 (PRB-06/07) on both backends: a problem whose fix needs a system change (`needs_change` on the work
/// order, at dispatch or at resolution) is not resolved until a change is linked; the refusal names the rule and
/// the field, and nothing changes.
#[tokio::test]
async fn chg_21_a_fix_needing_a_change_is_resolved_only_with_the_change_linked_on_both_backends() {
    for db in tianshu_testkit::backends().await {
        let app = spawn(db).await;
        let t = app.token_for("admin", &[]).await;
        let r = post(
            &app,
            &t,
            "/api/v1/problems",
            form(Some("P3"), "application_software"),
        )
        .await;
        let v: Value = r.json().await.unwrap();
        let id = v["problem"]["id"].as_i64().unwrap();
        let path = format!("/api/v1/problems/{id}/actions");
        let v: Value = post(
            &app,
            &t,
            &path,
            json!({"version": 1, "action": "dispatch", "handler": "dba1", "needs_change": true}),
        )
        .await
        .json()
        .await
        .unwrap();
        assert_eq!(v["problem"]["needs_change"], true, "{v}");
        let version = v["problem"]["version"].as_i64().unwrap();
        let resolve = json!({"version": version, "action": "resolve", "result": "已修复", "method": "修改计费程序"});
        let (s, b) = problem(post(&app, &t, &path, resolve.clone()).await).await;
        assert_eq!(s, StatusCode::CONFLICT, "{b}");
        assert_eq!(b["field"], "needs_change", "{b}");
        assert!(b.to_string().contains("CHG-21"), "{b}");
        let now: Value = app
            .get_as(&t, &format!("/api/v1/problems/{id}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            (
                now["problem"]["state"].as_str(),
                now["problem"]["version"].as_i64()
            ),
            (Some("dispatched"), Some(version)),
            "nothing changed"
        );
        // A bug link is not a change.
        let v: Value = post(
            &app,
            &t,
            &path,
            json!({"version": version, "action": "link", "kind": "bug", "target": "BUG-12"}),
        )
        .await
        .json()
        .await
        .unwrap();
        let version = v["problem"]["version"].as_i64().unwrap();
        let mut resolve = resolve;
        resolve["version"] = json!(version);
        let (s, _) = problem(post(&app, &t, &path, resolve.clone()).await).await;
        assert_eq!(s, StatusCode::CONFLICT, "CHG-21 wants a change, not a bug");
        let v: Value = post(&app, &t, &path, json!({"version": version, "action": "link", "kind": "change", "target": "REL-2026-031"}))
            .await
            .json()
            .await
            .unwrap();
        resolve["version"] = v["problem"]["version"].clone();
        let r = post(&app, &t, &path, resolve).await;
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.unwrap();
        assert_eq!(
            (
                v["problem"]["state"].as_str(),
                v["problem"]["needs_change"].as_bool()
            ),
            (Some("resolved"), Some(true)),
            "{v}"
        );

        // Declared at the resolution itself: refused the same way; a fix without a change resolves at once.
        let r = post(&app, &t, "/api/v1/problems", form(Some("P4"), "database")).await;
        let v: Value = r.json().await.unwrap();
        let path = format!("/api/v1/problems/{}/actions", v["problem"]["id"]);
        let (s, b) = problem(post(&app, &t, &path, json!({"version": 1, "action": "resolve", "result": "已修复", "method": "改配置", "needs_change": true})).await).await;
        assert_eq!(
            (s, b["field"].as_str()),
            (StatusCode::CONFLICT, Some("needs_change")),
            "{b}"
        );
        let r = post(
            &app,
            &t,
            &path,
            json!({"version": 1, "action": "resolve", "result": "已恢复", "method": "重启进程"}),
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK);
    }
}

/// A ticket linked to problems shows a branch reader only the links to problems the reader may see: a problem of
/// another branch is "not found" for them, and its id on the ticket (links, timeline, console) would disclose it.
#[tokio::test]
async fn ticket_links_to_another_branchs_problem_are_left_out_for_branch_readers_on_both_backends()
{
    for db in tianshu_testkit::backends().await {
        let app = spawn(db).await;
        let admin = app.token_for("admin", &[]).await;
        let report = |org: &'static str| {
            let mut f = form(Some("P3"), "database");
            f["org_key"] = json!(org);
            let (app, admin) = (&app, &admin);
            async move {
                let r = post(app, admin, "/api/v1/problems", f).await;
                assert_eq!(r.status(), StatusCode::CREATED);
                r.json::<Value>().await.unwrap()["problem"]["id"]
                    .as_i64()
                    .unwrap()
            }
        };
        let (gz_prb, sz_prb) = (report("guangzhou").await, report("shenzhen").await);
        let pre = app.bearer("preproc").await;
        let inc = app.new_incident(&pre, json!({})).await;
        let id = inc["id"].as_i64().unwrap();
        for prb in [gz_prb, sz_prb] {
            let r = post(
                &app,
                &pre,
                &format!("/api/v1/incidents/{id}/links"),
                json!({"to_kind": "problem", "to_id": prb.to_string(), "link_type": "related"}),
            )
            .await;
            assert_eq!(r.status(), StatusCode::OK);
        }
        let linked = |t: String| {
            let app = &app;
            async move {
                let v: Value = app
                    .get_as(&t, &format!("/api/v1/incidents/{id}"))
                    .await
                    .json()
                    .await
                    .unwrap();
                let mut links: Vec<String> = v["links"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|l| l["to_kind"] == "problem")
                    .map(|l| l["to_id"].as_str().unwrap().to_string())
                    .collect();
                let tl: Value = app
                    .get_as(&t, &format!("/api/v1/incidents/{id}/timeline"))
                    .await
                    .json()
                    .await
                    .unwrap();
                let mut events: Vec<String> = tl["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|e| e["kind"] == "incident.linked")
                    .map(|e| e["data"]["to_id"].as_str().unwrap().to_string())
                    .collect();
                links.sort();
                events.sort();
                (links, events)
            }
        };
        let mut both = vec![gz_prb.to_string(), sz_prb.to_string()];
        both.sort();
        assert_eq!(linked(admin.clone()).await, (both.clone(), both));
        let gz = app.token_for("gz-duty", &[]).await;
        let own = vec![gz_prb.to_string()];
        assert_eq!(linked(gz).await, (own.clone(), own));

        // The console's timeline shows the same.
        let c = Client::builder().cookie_store(true).build().unwrap();
        let r = c
            .post(app.url("/api/v1/session"))
            .json(&json!({"username": "gz-duty", "password": "tianshu-demo"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let r = c
            .get(app.url(&format!("/incidents/{id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let page = r.text().await.unwrap();
        assert!(page.contains(&format!("to_id: {gz_prb} ·")), "{page}");
        assert!(!page.contains(&format!("to_id: {sz_prb} ·")), "{page}");
    }
}

/// The other direction: a branch reader of a problem does not see the numbers of linked tickets outside their
/// branch, in the links or the history; a province reader sees all of them.
#[tokio::test]
async fn problem_links_to_another_branchs_ticket_are_left_out_for_branch_readers_on_both_backends()
{
    for db in tianshu_testkit::backends().await {
        let app = spawn(db).await;
        let admin = app.token_for("admin", &[]).await;
        let mut f = form(Some("P3"), "database");
        f["org_key"] = json!("guangzhou");
        let r = post(&app, &admin, "/api/v1/problems", f).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let v: Value = r.json().await.unwrap();
        let id = v["problem"]["id"].as_i64().unwrap();
        let mut version = v["problem"]["version"].as_i64().unwrap();
        let pre = app.bearer("preproc").await;
        let gz_inc = app.new_incident(&pre, json!({})).await;
        let r = post(
            &app,
            &pre,
            "/api/v1/incidents",
            json!({"title": "深圳故障", "symptom": "现象", "source_channel": "hotline",
            "reporter": "坐席（测试）", "org_key": "shenzhen", "system_key": "crm", "facts": {}}),
        )
        .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let sz_inc: Value = r.json().await.unwrap();
        let path = format!("/api/v1/problems/{id}/actions");
        for inc in [&gz_inc, &sz_inc] {
            let r = post(
                &app,
                &admin,
                &path,
                json!({"version": version, "action": "link", "kind": "incident",
                "target": inc["number"]}),
            )
            .await;
            assert_eq!(r.status(), StatusCode::OK);
            version = r.json::<Value>().await.unwrap()["problem"]["version"]
                .as_i64()
                .unwrap();
        }
        let seen = |t: String| {
            let app = &app;
            async move {
                let v: Value = app
                    .get_as(&t, &format!("/api/v1/problems/{id}"))
                    .await
                    .json()
                    .await
                    .unwrap();
                let mut links: Vec<String> = v["links"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|l| l["target"].as_str().unwrap().to_string())
                    .collect();
                links.sort();
                let text = v["events"].to_string();
                (links, text)
            }
        };
        let (gz_no, sz_no) = (
            gz_inc["number"].as_str().unwrap().to_string(),
            sz_inc["number"].as_str().unwrap().to_string(),
        );
        let mut both = vec![gz_no.clone(), sz_no.clone()];
        both.sort();
        let (links, events) = seen(admin.clone()).await;
        assert_eq!(links, both);
        assert!(events.contains(&sz_no), "{events}");
        let gz = app.token_for("gz-duty", &[]).await;
        let (links, events) = seen(gz).await;
        assert_eq!(links, vec![gz_no.clone()]);
        assert!(
            !events.contains(&sz_no) && events.contains(&gz_no),
            "{events}"
        );
    }
}
