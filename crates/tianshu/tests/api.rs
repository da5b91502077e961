//! End-to-end tests: the real server on an ephemeral port over a fresh database per test.
//! HTTP tests run on SQLite; the `*_on_both_backends` smoke set also on PostgreSQL.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use tianshu::{AppConfig, Application};
use tianshu_core::{Clock, ManualClock};
use tianshu_services::Platform;
use tianshu_testkit::{backends, TestDb};

#[path = "api/notify.rs"]
mod notify;
#[path = "api/notify_console.rs"]
mod notify_console;

#[path = "api/duty.rs"]
mod duty;

#[path = "api/alerts.rs"]
mod alerts;

#[path = "api/monitoring.rs"]
mod monitoring;

#[path = "api/views.rs"]
mod views;

#[path = "api/reports.rs"]
mod reports;

#[path = "api/changes.rs"]
mod changes;
#[path = "api/dataops.rs"]
mod dataops;
#[path = "api/recon_cli.rs"]
mod recon_cli;

struct TestApp {
    base: String,
    client: Client,
    platform: Platform,
    clock: Arc<ManualClock>,
    _db: TestDb,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn spawn(db: TestDb) -> TestApp {
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 23, 1, 0, 0).unwrap(),
    ));
    let mut cfg = AppConfig::new(db.config.clone());
    cfg.demo = true;
    cfg.clock = clock.clone();
    let app = Application::build(&cfg, "127.0.0.1:0")
        .await
        .expect("app starts");
    let base = format!("http://{}", app.addr);
    let platform = app.platform.clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));
    let client = Client::builder().cookie_store(true).build().unwrap();
    TestApp {
        base,
        client,
        platform,
        clock,
        _db: db,
        _stop: tx,
    }
}

async fn sqlite_app() -> TestApp {
    spawn(TestDb::sqlite()).await
}

impl TestApp {
    /// A JSON POST with a bearer token (the request most test modules make).
    async fn post_json(&self, tok: &str, path: &str, body: Value) -> reqwest::Response {
        Client::new()
            .post(self.url(path))
            .bearer_auth(tok)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// A GET with a bearer token.
    async fn get_as(&self, tok: &str, path: &str) -> reqwest::Response {
        Client::new()
            .get(self.url(path))
            .bearer_auth(tok)
            .send()
            .await
            .unwrap()
    }

    fn url(&self, p: &str) -> String {
        format!("{}{}", self.base, p)
    }

    /// Logs in with the session cookie; returns the CSRF token.
    async fn login(&self, user: &str) -> String {
        let r = self
            .client
            .post(self.url("/api/v1/session"))
            .json(&json!({"username": user, "password": "tianshu-demo"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "login {user}");
        let v: Value = r.json().await.unwrap();
        v["csrf_token"].as_str().unwrap().to_string()
    }

    /// A token of `user` with the given scopes, issued through an admin session of its own: logging in on the
    /// shared client would replace its session and so void a CSRF token a test holds from [`TestApp::login`].
    async fn token_for(&self, user: &str, scopes: &[&str]) -> String {
        let c = Client::builder().cookie_store(true).build().unwrap();
        let r = c
            .post(self.url("/api/v1/session"))
            .json(&json!({"username": "admin", "password": "tianshu-demo"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "login admin");
        let v: Value = r.json().await.unwrap();
        let admin = v["csrf_token"].as_str().unwrap().to_string();
        let r = c
            .post(self.url("/api/v1/tokens"))
            .header("x-csrf-token", admin)
            .json(&json!({"name": format!("t-{user}"), "username": user, "scopes": scopes}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let v: Value = r.json().await.unwrap();
        v["token"].as_str().unwrap().to_string()
    }
}

async fn problem(r: reqwest::Response) -> (StatusCode, Value) {
    let status = r.status();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(
        ct.starts_with("application/problem+json"),
        "content-type {ct}"
    );
    (status, r.json().await.unwrap())
}

#[tokio::test]
async fn login_me_and_csrf_on_both_backends() {
    for db in backends().await {
        let app = spawn(db).await;
        let csrf = app.login("admin").await;
        let me: Value = app
            .client
            .get(app.url("/api/v1/session"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(me["username"], "admin");
        assert_eq!(me["scope"], "province");
        // A change through the session cookie without the CSRF header is refused and changes nothing.
        let body =
            json!({"key": "t1", "name": "测试组", "kind": "team", "parent_key": "guangzhou"});
        let r = app
            .client
            .post(app.url("/api/v1/orgs"))
            .json(&body)
            .send()
            .await
            .unwrap();
        let (s, p) = problem(r).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        assert_eq!(p["code"], "csrf_failed");
        assert!(app.platform.store.org_by_key("t1").await.unwrap().is_none());
        let r = app
            .client
            .post(app.url("/api/v1/orgs"))
            .header("x-csrf-token", &csrf)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let org: Value = r.json().await.unwrap();
        assert_eq!(org["kind"], "team");
        // Logout ends the session.
        let r = app
            .client
            .delete(app.url("/api/v1/session"))
            .header("x-csrf-token", &csrf)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        let r = app
            .client
            .get(app.url("/api/v1/session"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        app.platform.store.close().await;
    }
}

#[tokio::test]
async fn issuing_a_token_leaves_the_shared_session_and_its_csrf_token_alone() {
    let app = sqlite_app().await;
    let csrf = app.login("gz-duty").await;
    let tok = app.token_for("viewer", &[]).await;
    let me: Value = app
        .client
        .get(app.url("/api/v1/session"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["username"], "gz-duty");
    let me: Value = app
        .get_as(&tok, "/api/v1/session")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["username"], "viewer");
    let r = app
        .client
        .delete(app.url("/api/v1/session"))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::NO_CONTENT,
        "the CSRF token still holds"
    );
}

#[tokio::test]
async fn bad_json_names_the_field_and_changes_nothing() {
    let app = sqlite_app().await;
    let tok = app.token_for("admin", &[]).await;
    let c = Client::new();
    let before = app.platform.store.user_count().await.unwrap();
    let cases = [
        (
            json!({"username": "x1", "display_name": "甲", "org_key": "prov", "surprise": 1}),
            "surprise",
        ),
        (
            json!({"username": 5, "display_name": "甲", "org_key": "prov"}),
            "username",
        ),
        (
            json!({"username": "x1", "display_name": "甲", "org_key": "prov", "roles": "admin"}),
            "roles",
        ),
        (json!({"username": "x1", "display_name": "甲"}), "body"),
    ];
    for (body, field) in cases {
        let r = c
            .post(app.url("/api/v1/users"))
            .bearer_auth(&tok)
            .json(&body)
            .send()
            .await
            .unwrap();
        let (s, p) = problem(r).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(p["field"], field, "{p}");
        assert_eq!(p["code"], "bad_request");
    }
    let r = c
        .post(app.url("/api/v1/users"))
        .bearer_auth(&tok)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(problem(r).await.0, StatusCode::BAD_REQUEST);
    let r = c
        .post(app.url("/api/v1/users"))
        .bearer_auth(&tok)
        .body("username=x")
        .send()
        .await
        .unwrap();
    assert_eq!(problem(r).await.0, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let r = c
        .get(app.url("/api/v1/users?limit=9999"))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    let (s, p) = problem(r).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(p["field"], "limit");
    let r = c
        .get(app.url("/api/v1/users/abc"))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(problem(r).await.0, StatusCode::BAD_REQUEST);
    // NUL characters never reach the database (PostgreSQL text cannot hold them).
    let r = c
        .post(app.url("/api/v1/users"))
        .bearer_auth(&tok)
        .header("content-type", "application/json")
        .body(r#"{"username":"x\u0000y","display_name":"甲","org_key":"prov"}"#)
        .send()
        .await
        .unwrap();
    let (s, p) = problem(r).await;
    assert_eq!(
        (s, p["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("body"))
    );
    let r = c
        .get(app.url("/api/v1/users?q=a%00b"))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(problem(r).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(app.platform.store.user_count().await.unwrap(), before);
}

#[tokio::test]
async fn user_lifecycle_validation_conflict_and_stale_version() {
    let app = sqlite_app().await;
    let tok = app.token_for("admin", &[]).await;
    let c = Client::new();
    let new = json!({"username": "gz-eng1", "display_name": "广州工程师（测试）", "org_key": "guangzhou-support",
                     "roles": ["duty_officer"], "password": "a-long-password"});
    let r = c
        .post(app.url("/api/v1/users"))
        .bearer_auth(&tok)
        .json(&new)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let u: Value = r.json().await.unwrap();
    let id = u["id"].as_i64().unwrap();
    assert_eq!(u["version"], 1);
    // Duplicate username → 409 naming the field.
    let r = c
        .post(app.url("/api/v1/users"))
        .bearer_auth(&tok)
        .json(&new)
        .send()
        .await
        .unwrap();
    let (s, p) = problem(r).await;
    assert_eq!(
        (s, p["field"].as_str()),
        (StatusCode::CONFLICT, Some("username"))
    );
    // Invalid values → 422 naming the field.
    for (patch, field) in [
        (
            json!({"username": "Bad Name", "display_name": "x", "org_key": "prov"}),
            "username",
        ),
        (
            json!({"username": "ok1", "display_name": "x", "org_key": "prov", "roles": ["wizard"]}),
            "roles[0]",
        ),
        (
            json!({"username": "ok1", "display_name": "x", "org_key": "prov", "password": "short"}),
            "password",
        ),
    ] {
        let r = c
            .post(app.url("/api/v1/users"))
            .bearer_auth(&tok)
            .json(&patch)
            .send()
            .await
            .unwrap();
        let (s, p) = problem(r).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
        assert_eq!(p["field"], field);
    }
    // An unknown organisation is a 400 naming the field.
    let r = c
        .post(app.url("/api/v1/users"))
        .bearer_auth(&tok)
        .json(&json!({"username": "ok1", "display_name": "x", "org_key": "nowhere"}))
        .send()
        .await
        .unwrap();
    let (s, p) = problem(r).await;
    assert_eq!(
        (s, p["field"].as_str(), p["code"].as_str()),
        (
            StatusCode::BAD_REQUEST,
            Some("org_key"),
            Some("unknown_reference")
        )
    );
    // Optimistic concurrency.
    let r = c
        .patch(app.url(&format!("/api/v1/users/{id}")))
        .bearer_auth(&tok)
        .json(&json!({"version": 1, "display_name": "改名"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = c
        .patch(app.url(&format!("/api/v1/users/{id}")))
        .bearer_auth(&tok)
        .json(&json!({"version": 1, "active": false}))
        .send()
        .await
        .unwrap();
    let (s, p) = problem(r).await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::PRECONDITION_FAILED, Some("stale_version"))
    );
    // The audit trail has the creation and the change with before/after.
    let r: Value = c
        .get(app.url(&format!("/api/v1/audit?object_type=user&object_id={id}")))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = r["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["user.create", "user.update"]);
    assert_eq!(
        r["items"][1]["before"]["user"]["display_name"],
        "广州工程师（测试）"
    );
    assert_eq!(r["items"][1]["after"]["user"]["display_name"], "改名");
}

#[tokio::test]
async fn tokens_are_shown_once_scoped_and_revocable() {
    let app = sqlite_app().await;
    let csrf = app.login("admin").await;
    let r = app
        .client
        .post(app.url("/api/v1/tokens"))
        .header("x-csrf-token", &csrf)
        .json(&json!({"name": "readonly-bot", "scopes": ["user.read"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: Value = r.json().await.unwrap();
    let secret = v["token"].as_str().unwrap().to_string();
    assert!(secret.starts_with("tsk_"));
    let id = v["id"].as_i64().unwrap();
    // Listing never shows the secret again.
    let list = app
        .client
        .get(app.url("/api/v1/tokens"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!list.contains(&secret));
    let c = Client::new();
    let r = c
        .get(app.url("/api/v1/users"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // The scope does not include user.manage even though the admin has it.
    let r = c
        .post(app.url("/api/v1/orgs"))
        .bearer_auth(&secret)
        .json(&json!({"key": "v9", "name": "厂商九", "kind": "vendor"}))
        .send()
        .await
        .unwrap();
    let (s, p) = problem(r).await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    // Stored hashed only.
    let hash = tianshu_services::secrets::digest(&secret);
    assert!(app
        .platform
        .store
        .token_by_hash(&hash)
        .await
        .unwrap()
        .is_some());
    let r = app
        .client
        .delete(app.url(&format!("/api/v1/tokens/{id}")))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = c
        .get(app.url("/api/v1/users"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = c
        .get(app.url("/api/v1/users"))
        .bearer_auth("tsk_forged")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn failed_logins_lock_the_account_until_the_lockout_passes() {
    let app = sqlite_app().await;
    let pol = app.platform.policy.current();
    let max = pol.pack.security.login.max_failures;
    let lockout = pol.pack.security.login.lockout.seconds();
    let c = Client::new();
    for i in 0..max {
        let r = c
            .post(app.url("/api/v1/session"))
            .json(&json!({"username": "duty", "password": "wrong-password"}))
            .send()
            .await
            .unwrap();
        let expect = if i + 1 < max {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        assert_eq!(r.status(), expect, "attempt {i}");
    }
    // Even the right password is refused while locked.
    let r = c
        .post(app.url("/api/v1/session"))
        .json(&json!({"username": "duty", "password": "tianshu-demo"}))
        .send()
        .await
        .unwrap();
    let (s, p) = problem(r).await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("login_locked"))
    );
    app.clock.advance(chrono::Duration::seconds(lockout + 1));
    let r = c
        .post(app.url("/api/v1/session"))
        .json(&json!({"username": "duty", "password": "tianshu-demo"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Failures and the lockout are in the audit trail.
    let page = app
        .platform
        .store
        .audit_page(0, 500, Some(("user", "duty")))
        .await
        .unwrap();
    assert_eq!(
        page.iter()
            .filter(|e| e.action == "session.login_failed")
            .count() as u32,
        max
    );
    assert_eq!(
        page.iter()
            .filter(|e| e.action == "session.login_locked")
            .count(),
        1
    );
}

#[tokio::test]
async fn sessions_expire_after_the_idle_timeout() {
    let app = sqlite_app().await;
    app.login("viewer").await;
    let idle = app
        .platform
        .policy
        .current()
        .pack
        .security
        .session
        .idle_timeout
        .seconds();
    assert_eq!(
        app.client
            .get(app.url("/api/v1/session"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    app.clock.advance(chrono::Duration::seconds(idle + 1));
    assert_eq!(
        app.client
            .get(app.url("/api/v1/session"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn branch_users_see_only_their_region_and_vendors_only_themselves() {
    let app = sqlite_app().await;
    let c = Client::new();
    let gz = app.token_for("gz-duty", &[]).await;
    // Give the branch duty officer user.read via a role that has it? Use the admin to grant a region reviewer role.
    let me: Value = c
        .get(app.url("/api/v1/session"))
        .bearer_auth(&gz)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["scope"], "region");
    let perms: Vec<String> = me["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    if perms.contains(&"user.read".to_string()) {
        let users: Value = c
            .get(app.url("/api/v1/users?limit=500"))
            .bearer_auth(&gz)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let names: Vec<&str> = users["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["username"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["gz-duty"]);
    } else {
        let r = c
            .get(app.url("/api/v1/users"))
            .bearer_auth(&gz)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
    // Another region's user is invisible (404, not 403: existence is not disclosed).
    let sz = app
        .platform
        .store
        .user_by_username("sz-duty")
        .await
        .unwrap()
        .unwrap();
    let r = c
        .get(app.url(&format!("/api/v1/users/{}", sz.id)))
        .bearer_auth(&gz)
        .send()
        .await
        .unwrap();
    assert!(matches!(
        r.status(),
        StatusCode::NOT_FOUND | StatusCode::FORBIDDEN
    ));
    // Everyone can read themself.
    let me_id = me["user_id"].as_i64().unwrap();
    let r = c
        .get(app.url(&format!("/api/v1/users/{me_id}")))
        .bearer_auth(&gz)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v = app.token_for("vendor-crm", &[]).await;
    let me: Value = c
        .get(app.url("/api/v1/session"))
        .bearer_auth(&v)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["scope"], "vendor");
    let admin = app
        .platform
        .store
        .user_by_username("admin")
        .await
        .unwrap()
        .unwrap();
    let r = c
        .get(app.url(&format!("/api/v1/users/{}", admin.id)))
        .bearer_auth(&v)
        .send()
        .await
        .unwrap();
    assert!(matches!(
        r.status(),
        StatusCode::NOT_FOUND | StatusCode::FORBIDDEN
    ));
}

#[tokio::test]
async fn console_answers_another_branchs_record_like_the_api_on_both_backends() {
    for db in backends().await {
        let app = spawn(db).await;
        let sz = app.bearer("sz-duty").await;
        let r = app
            .post_json(
                &sz,
                "/api/v1/incidents",
                json!({"title": "深圳营业厅无法办理", "symptom": "受理失败", "source_channel": "hotline",
                       "reporter": "坐席（测试）", "org_key": "shenzhen", "system_key": "crm"}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let theirs: Value = r.json().await.unwrap();
        let c = Client::builder().cookie_store(true).build().unwrap();
        let r = c
            .post(app.url("/api/v1/session"))
            .json(&json!({"username": "gz-duty", "password": "tianshu-demo"}))
            .send()
            .await
            .unwrap();
        let csrf = r.json::<Value>().await.unwrap()["csrf_token"]
            .as_str()
            .unwrap()
            .to_string();
        // Another branch's ticket does not exist for a branch user (404, not disclosed), in both front ends.
        let r = c
            .get(app.url(&format!("/incidents/{}", theirs["id"])))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        // Reporting for another branch is out of scope: 403 from the console, as from the API (not a 500).
        let form = [
            ("csrf", csrf.as_str()),
            ("title", "深圳营业厅无法办理"),
            ("symptom", "受理失败"),
            ("source_channel", "hotline"),
            ("reporter", "坐席（测试）"),
            ("org_key", "shenzhen"),
            ("system_key", "crm"),
        ];
        let r = c
            .post(app.url("/incidents/new"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let page = r.text().await.unwrap();
        assert!(page.contains("分部或单位的范围"), "{page}");
        let gz = app.bearer("gz-duty").await;
        let r = app
            .post_json(
                &gz,
                "/api/v1/incidents",
                json!({"title": "深圳营业厅无法办理", "symptom": "受理失败", "source_channel": "hotline",
                       "reporter": "坐席（测试）", "org_key": "shenzhen", "system_key": "crm"}),
            )
            .await;
        let (s, p) = problem(r).await;
        assert_eq!(
            (s, p["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("out_of_scope"))
        );
        let v: Value = app
            .get_as(&sz, "/api/v1/incidents")
            .await
            .json()
            .await
            .unwrap();
        let same = v["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["title"] == "深圳营业厅无法办理")
            .count();
        assert_eq!(same, 1, "only sz-duty's ticket is stored: {v}");
    }
}

#[tokio::test]
async fn audit_verify_api_detects_a_tampered_row_on_both_backends() {
    for db in backends().await {
        let app = spawn(db).await;
        let tok = app.token_for("admin", &[]).await;
        let c = Client::new();
        let v: Value = c
            .post(app.url("/api/v1/audit/verify"))
            .bearer_auth(&tok)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["ok"], true, "{v}");
        let n = v["entries"].as_i64().unwrap();
        assert!(n >= 3);
        app.platform
            .store
            .write(|c| Box::pin(async move {
                tianshu_store::on_conn!(c, c => sqlx::query("UPDATE audit_log SET after = '{\"forged\":true}' WHERE seq = 2").execute(&mut **c).await.map(|_| ()))?;
                Ok(())
            }))
            .await
            .unwrap();
        let v: Value = c
            .post(app.url("/api/v1/audit/verify"))
            .bearer_auth(&tok)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["ok"], false);
        assert_eq!(v["problems"][0]["seq"], 2);
        assert_eq!(v["problems"][0]["kind"], "altered");
        app.platform.store.close().await;
    }
}

#[tokio::test]
async fn health_ready_metrics_and_openapi() {
    let app = sqlite_app().await;
    let c = Client::new();
    assert_eq!(
        c.get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "ok"
    );
    let r: Value = c
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["status"], "ready");
    assert_eq!(r["pending_migrations"], 0);
    let r = c.get(app.url("/readyz")).send().await.unwrap();
    assert!(r.headers().get("x-request-id").is_some());
    let m = c
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(m.contains("tianshu_http_requests_total"), "{m}");
    // Counted by method, matched route and status; timed by method and route.
    assert!(
        m.lines()
            .any(|l| l.starts_with("tianshu_http_requests_total{")
                && l.contains(r#"method="GET""#)
                && l.contains(r#"route="/readyz""#)
                && l.contains(r#"status="200""#)),
        "{m}"
    );
    assert!(
        m.lines()
            .any(|l| l.starts_with("tianshu_http_request_duration_seconds")
                && l.contains(r#"route="/readyz""#)),
        "{m}"
    );
    let doc: Value = c
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for p in [
        "/api/v1/users",
        "/api/v1/session",
        "/api/v1/audit/verify",
        "/api/v1/calendars/{name}/deadline",
    ] {
        assert!(doc["paths"].get(p).is_some(), "{p} missing");
    }
    let r = c.get(app.url("/api/v1/nope")).send().await.unwrap();
    assert_eq!(problem(r).await.0, StatusCode::NOT_FOUND);
    let r = c.get(app.url("/api/v1")).send().await.unwrap();
    assert_eq!(problem(r).await.0, StatusCode::NOT_FOUND);
    // Outside the API an unknown path is a plain 404, not a problem document.
    let r = c.get(app.url("/no-such-page")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(r.text().await.unwrap().is_empty());
    // A known API path with another method: 405, as before the routes were written out with their prefix.
    let r = c
        .delete(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn calendar_api_computes_the_worked_examples() {
    let app = sqlite_app().await;
    let tok = app.token_for("admin", &[]).await;
    let c = Client::new();
    let get = |q: String| {
        let c = c.clone();
        let tok = tok.clone();
        let url = app.url(&q);
        async move { c.get(url).bearer_auth(tok).send().await.unwrap() }
    };
    // REC-07: differences received Monday 2026-11-23 → reply due Wednesday, fix due Monday two weeks later.
    let v: Value =
        get("/api/v1/calendars/office/deadline?basis=2wd&from=2026-11-23T02:00:00Z".into())
            .await
            .json()
            .await
            .unwrap();
    assert_eq!(v["due_local"], "2026-11-25T23:59:59+08:00");
    let v: Value =
        get("/api/v1/calendars/office/deadline?basis=10wd&from=2026-11-23T02:00:00Z".into())
            .await
            .json()
            .await
            .unwrap();
    assert_eq!(v["due_local"], "2026-12-07T23:59:59+08:00");
    // CHG-03/CHG-08: upgrade Thursday 2026-11-26 → tests by Monday, notice by Tuesday.
    let v: Value = get("/api/v1/calendars/office/deadline?basis=-3wd&date=2026-11-26".into())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["due_local"], "2026-11-23T23:59:59+08:00");
    let v: Value = get("/api/v1/calendars/office/deadline?basis=-2wd&date=2026-11-26".into())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["due_local"], "2026-11-24T23:59:59+08:00");
    // ESC-04: FL2 classified Monday 09:00 → department manager Tuesday 09:00.
    let v: Value =
        get("/api/v1/calendars/24x7/deadline?basis=24h&from=2026-11-23T01:00:00Z".into())
            .await
            .json()
            .await
            .unwrap();
    assert_eq!(v["due_local"], "2026-11-24T09:00:00+08:00");
    let (s, p) = problem(
        get("/api/v1/calendars/office/deadline?basis=3parsecs&from=2026-11-23T01:00:00Z".into())
            .await,
    )
    .await;
    assert_eq!(
        (s, p["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("basis"))
    );
    let (s, p) = problem(get("/api/v1/calendars/office/deadline?basis=2wd".into()).await).await;
    assert_eq!(
        (s, p["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("from"))
    );
    let (s, _) = problem(
        get("/api/v1/calendars/nowhere/deadline?basis=2wd&from=2026-11-23T01:00:00Z".into()).await,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn holiday_edits_are_validated_versioned_and_change_deadlines() {
    let app = sqlite_app().await;
    let tok = app.token_for("admin", &[]).await;
    let c = Client::new();
    let y: Value = c
        .get(app.url("/api/v1/holidays/2026"))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(y["holidays"]
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h["name"] == "春节"));
    // A make-up day on a weekday is refused, naming the field.
    let bad = json!({"source": "test", "holidays": [], "workdays": [{"date": "2026-11-25", "name": "x"}]});
    let r = c
        .put(app.url("/api/v1/holidays/2026"))
        .bearer_auth(&tok)
        .json(&bad)
        .send()
        .await
        .unwrap();
    let (s, p) = problem(r).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        p["field"].as_str().unwrap().starts_with("workdays[0]"),
        "{p}"
    );
    // Declare Wednesday 2026-11-25 a holiday: the 2wd reply deadline from Monday moves to Thursday.
    let mut edited = y.clone();
    edited.as_object_mut().unwrap().remove("year");
    edited["holidays"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "演示假日", "from": "2026-11-25", "to": "2026-11-25"}));
    let r = c
        .put(app.url("/api/v1/holidays/2026"))
        .bearer_auth(&tok)
        .json(&edited)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["version"], 2);
    let v: Value = c
        .get(app.url("/api/v1/calendars/office/deadline?basis=2wd&from=2026-11-23T02:00:00Z"))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["due_local"], "2026-11-26T23:59:59+08:00");
}

#[tokio::test]
async fn a_second_instance_follows_a_policy_reload_on_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let pack = tempfile::tempdir().unwrap();
    copy_default_pack(pack.path());
    let mut cfg = AppConfig::new(db.config.clone());
    cfg.pack = tianshu_services::policy::PackSource::Dir(pack.path().to_path_buf());
    let a = tianshu::build_platform(&cfg).await.unwrap();
    let b = tianshu::build_platform(&cfg).await.unwrap();
    assert_eq!(
        a.policy.current().id,
        b.policy.current().id,
        "same pack → same version"
    );
    // A broken edit is refused with file:line:field and nothing changes.
    let pack_toml = pack.path().join("pack.toml");
    let original = std::fs::read_to_string(&pack_toml).unwrap();
    std::fs::write(
        &pack_toml,
        original.replace("max_failures = ", "max_failures = -"),
    )
    .unwrap();
    let src = tianshu_services::policy::PackSource::Dir(pack.path().to_path_buf());
    let err = a
        .policy
        .reload(&a.store, &src, 1, "test")
        .await
        .unwrap_err();
    let msg = match err {
        tianshu_services::ServiceError::Policy(e) => tianshu_services::policy::format_errors(&e),
        other => panic!("{other:?}"),
    };
    assert!(
        msg.contains("pack.toml:") && msg.contains("max_failures"),
        "{msg}"
    );
    // A valid edit becomes active on A, and B follows on its next sync.
    std::fs::write(
        &pack_toml,
        original.replace("version = \"", "version = \"9."),
    )
    .unwrap();
    let before = b.policy.current().id;
    let now = a.policy.reload(&a.store, &src, 2, "test").await.unwrap();
    assert_ne!(now.id, before);
    assert!(b.policy.sync(&b.store).await.unwrap());
    assert_eq!(b.policy.current().id, now.id);
    assert!(b.policy.current().pack.pack.version.starts_with("9."));
    a.store.close().await;
    b.store.close().await;
}

impl TestApp {
    /// Reloads the default pack with `file` extended by `extra` (a policy the default pack leaves out).
    async fn reload_pack_with(&self, file: &str, extra: &str) {
        let pack = tempfile::tempdir().unwrap();
        copy_default_pack(pack.path());
        let path = pack.path().join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, format!("{text}\n{extra}")).unwrap();
        self.platform
            .policy
            .reload(
                &self.platform.store,
                &tianshu_services::policy::PackSource::Dir(pack.path().to_path_buf()),
                self.platform.now_us(),
                "test",
            )
            .await
            .unwrap();
    }
}

fn copy_default_pack(dst: &std::path::Path) {
    for (name, content) in tianshu_services::policy::embedded_files() {
        let p = dst.join(&name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
}

#[test]
fn cli_policy_check_reports_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    copy_default_pack(dir.path());
    let bin = env!("CARGO_BIN_EXE_tianshu");
    let ok = std::process::Command::new(bin)
        .args(["policy", "check"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let out = String::from_utf8_lossy(&ok.stdout);
    assert!(out.contains("roles (19)"), "{out}");
    let f = dir.path().join("fault_levels.toml");
    let text = std::fs::read_to_string(&f).unwrap();
    let broken = text.replacen("users = { min = 50,", "users = { min = \"fifty\",", 1);
    assert!(
        broken != text,
        "fault_levels.toml changed shape; update the test"
    );
    std::fs::write(&f, &broken).unwrap();
    let line = broken
        .lines()
        .position(|l| l.contains("\"fifty\""))
        .unwrap()
        + 1;
    let bad = std::process::Command::new(bin)
        .args(["policy", "check"])
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains(&format!("fault_levels.toml:{line}:")), "{err}");
}

#[test]
fn cli_user_token_and_audit_verify_catch_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_tianshu");
    let run = |args: &[&str], stdin: Option<&str>| {
        use std::io::Write;
        let mut cmd = std::process::Command::new(bin);
        cmd.arg("--data-dir")
            .arg(dir.path())
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        if let Some(s) = stdin {
            child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
        } else {
            drop(child.stdin.take());
        }
        child.wait_with_output().unwrap()
    };
    assert!(run(&["migrate"], None).status.success());
    // No organisations exist yet in a bare database: the error names the field.
    let o = run(
        &[
            "user",
            "add",
            "ops1",
            "--org",
            "prov",
            "--name",
            "运维一",
            "--role",
            "administrator",
            "--password-stdin",
        ],
        Some("a-long-password\n"),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("org_key"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = run(&["audit", "verify"], None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    // Tamper with the SQLite file directly, as an attacker with file access would.
    let db = dir.path().join("tianshu.db");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        sqlx::query("UPDATE audit_log SET actor = 'someone-else' WHERE seq = 1")
            .execute(&mut c)
            .await
            .unwrap();
    });
    let o = run(&["audit", "verify"], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("altered"));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 48, .. Default::default() })]
    /// Fuzz the JSON decoding of the API: arbitrary bodies never produce a 5xx.
    #[test]
    fn arbitrary_json_bodies_never_cause_server_errors(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200), pick in 0usize..6) {
        let rt = FUZZ_RT.get_or_init(|| tokio::runtime::Runtime::new().unwrap());
        rt.block_on(async {
            let (base, tok) = FUZZ_APP.get_or_init(|| async {
                let app = sqlite_app().await;
                let tok = app.token_for("admin", &[]).await;
                let base = app.base.clone();
                std::mem::forget(app);
                (base, tok)
            }).await;
            let paths = [("POST", "/api/v1/users"), ("PATCH", "/api/v1/users/1"), ("POST", "/api/v1/tokens"), ("POST", "/api/v1/orgs"), ("PUT", "/api/v1/holidays/2026"), ("POST", "/api/v1/session")];
            let (m, p) = paths[pick];
            let c = Client::new();
            let r = c.request(m.parse().unwrap(), format!("{base}{p}")).bearer_auth(tok)
                .header("content-type", "application/json").body(body.clone()).send().await.unwrap();
            assert!(r.status().as_u16() < 500, "{m} {p} {:?} -> {}", String::from_utf8_lossy(&body), r.status());
        });
    }
}

static FUZZ_RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
static FUZZ_APP: tokio::sync::OnceCell<(String, String)> = tokio::sync::OnceCell::const_new();

#[test]
fn unreachable_database_is_one_clear_error() {
    let bin = env!("CARGO_BIN_EXE_tianshu");
    let o = std::process::Command::new(bin)
        .args([
            "--database-url",
            "postgres://postgres:secret@127.0.0.1:1/none",
            "migrate",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("cannot open database postgres://postgres:***@127.0.0.1:1/none"),
        "{err}"
    );
    assert!(!err.contains("secret"));
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

/// `tianshu serve --demo` as a child process over a data directory, for tests that kill it (SIGKILL) and
/// start it again on the same port.
struct ServeProcess {
    args: Vec<std::ffi::OsString>,
    port: u16,
}

impl ServeProcess {
    /// `global` are the options before `serve` (`--data-dir`, `--policy-dir`, `--config`).
    fn new(global: &[&std::ffi::OsStr]) -> ServeProcess {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        ServeProcess {
            args: global.iter().map(|a| a.to_os_string()).collect(),
            port,
        }
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn start(&self) -> std::process::Child {
        std::process::Command::new(env!("CARGO_BIN_EXE_tianshu"))
            .args(&self.args)
            .args(["--log-level", "warn", "serve", "--demo", "--listen"])
            .arg(format!("127.0.0.1:{}", self.port))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    }

    async fn ready(&self) {
        for _ in 0..300 {
            if reqwest::get(format!("{}/readyz", self.base()))
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("server did not become ready");
    }
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_tianshu");
    let server = ServeProcess::new(&["--data-dir".as_ref(), dir.path().as_os_str()]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let base = server.base();
    let mut child = server.start();
    let acknowledged = rt.block_on(async {
        server.ready().await;
        let c = Client::builder().cookie_store(true).build().unwrap();
        let v: Value = c.post(format!("{base}/api/v1/session")).json(&json!({"username": "admin", "password": "tianshu-demo"}))
            .send().await.unwrap().json().await.unwrap();
        let csrf = v["csrf_token"].as_str().unwrap().to_string();
        // Concurrent creations, so several share one group commit.
        let mut handles = Vec::new();
        for i in 0..40 {
            let c = c.clone();
            let csrf = csrf.clone();
            let base = base.clone();
            handles.push(tokio::spawn(async move {
                let r = c.post(format!("{base}/api/v1/orgs")).header("x-csrf-token", csrf)
                    .json(&json!({"key": format!("k9-{i}"), "name": format!("组{i}"), "kind": "team", "parent_key": "foshan"}))
                    .send().await.unwrap();
                (i, r.status() == StatusCode::CREATED)
            }));
        }
        let mut ok = Vec::new();
        for h in handles {
            let (i, created) = h.await.unwrap();
            if created {
                ok.push(i);
            }
        }
        ok
    });
    assert_eq!(acknowledged.len(), 40);
    child.kill().unwrap(); // SIGKILL: no graceful shutdown, no drain.
    child.wait().unwrap();
    let mut child = server.start();
    rt.block_on(async {
        server.ready().await;
        let c = Client::builder().cookie_store(true).build().unwrap();
        c.post(format!("{base}/api/v1/session"))
            .json(&json!({"username": "admin", "password": "tianshu-demo"}))
            .send()
            .await
            .unwrap();
        let orgs: Value = c
            .get(format!("{base}/api/v1/orgs"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let keys: Vec<String> = orgs["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["key"].as_str().unwrap().to_string())
            .collect();
        for i in &acknowledged {
            assert!(
                keys.contains(&format!("k9-{i}")),
                "org k9-{i} was acknowledged but lost"
            );
        }
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let o = std::process::Command::new(bin)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["audit", "verify"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
}

#[tokio::test]
async fn contact_details_are_masked_and_reveals_are_audited() {
    let app = sqlite_app().await;
    let admin = app.token_for("admin", &[]).await;
    let c = Client::new();
    let body = json!({"username": "contact1", "display_name": "联系人（测试）", "org_key": "prov", "email": "contact1@example.invalid", "phone": "10000000001"});
    let u: Value = c
        .post(app.url("/api/v1/users"))
        .bearer_auth(&admin)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(u["phone"], "100****0001");
    assert_eq!(u["email"], "c***@example.invalid");
    let id = u["id"].as_i64().unwrap();
    let v: Value = c
        .get(app.url(&format!("/api/v1/users/{id}?reveal=true")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["phone"], "10000000001");
    let reads = app
        .platform
        .store
        .audit_page(0, 500, Some(("user", &id.to_string())))
        .await
        .unwrap();
    assert!(
        reads
            .iter()
            .any(|e| e.action == "sensitive.read" && e.actor == "user:admin/token:1"),
        "{reads:?}"
    );
    // Without sensitive.read the reveal is refused.
    let viewer = app.token_for("viewer", &[]).await;
    let r = c
        .get(app.url(&format!("/api/v1/users/{id}?reveal=true")))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

// ---------------------------------------------------------------- incidents

impl TestApp {
    async fn bearer(&self, user: &str) -> String {
        self.token_for(user, &[]).await
    }

    async fn new_incident(&self, tok: &str, facts: Value) -> Value {
        let r = Client::new()
            .post(self.url("/api/v1/incidents"))
            .bearer_auth(tok)
            .json(&json!({"title": "CRM 订单提交失败", "symptom": "坐席无法提交订单", "source_channel": "hotline",
                          "reporter": "坐席（测试）", "org_key": "guangzhou", "system_key": "crm", "facts": facts}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::CREATED,
            "{}",
            r.text().await.unwrap_or_default()
        );
        r.json().await.unwrap()
    }

    async fn act(&self, tok: &str, inc: &Value, action: &str, extra: Value) -> reqwest::Response {
        let mut body = json!({"version": inc["version"]});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        Client::new()
            .post(self.url(&format!("/api/v1/incidents/{}/actions/{action}", inc["id"])))
            .bearer_auth(tok)
            .json(&body)
            .send()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn fault_levels_follow_the_worked_examples_sev_02_04_07() {
    let app = sqlite_app().await;
    let tok = app.bearer("preproc").await;
    let cases = [
        // Example 1 (SEV-02, SEV-07): 120 customers, 30 complaints → FL1.
        (json!({"affected_users": 120, "complaints": 30}), "FL1"),
        // Example 2 (SEV-04, SEV-07): the 500 boundary goes to the more severe level.
        (json!({"affected_users": 500}), "FL2"),
        (json!({"affected_users": 499}), "FL1"),
        (json!({"affected_users": 49}), "general"),
        // Example 3 (SEV-01/02/04): hot 2 h → FL1, hot 3 h 10 min → FL2, non-hot 4 h → FL1, 5 h 30 min → FL2.
        (json!({"hot_outage_minutes": 120}), "FL1"),
        (json!({"hot_outage_minutes": 190}), "FL2"),
        (json!({"non_hot_outage_minutes": 240}), "FL1"),
        (json!({"non_hot_outage_minutes": 330}), "FL2"),
        // Example 4 (SEV-02/04): 2 gold/diamond complaints → FL1, 3 → FL2.
        (json!({"gold_diamond_complaints": 2}), "FL1"),
        (json!({"gold_diamond_complaints": 3}), "FL2"),
        // SEV-08: CS2 or higher → FL2.
        (json!({"cs_level": 2}), "FL2"),
    ];
    for (facts, level) in cases {
        let v = app.new_incident(&tok, facts.clone()).await;
        assert_eq!(v["fault_level"], level, "{facts}");
    }
    let v = app.new_incident(&tok, json!({"affected_users": 620})).await;
    assert_eq!(
        v["level_reasons"][0],
        "FL2: 620 affected users ≥ 500 (SEV-04)"
    );
}

#[tokio::test]
async fn complaint_levels_above_cs4_are_refused_naming_the_field_c_6() {
    for db in backends().await {
        let app = spawn(db).await;
        let tok = app.bearer("preproc").await;
        let count = || async {
            let v: Value = app
                .get_as(&tok, "/api/v1/incidents?limit=200")
                .await
                .json()
                .await
                .unwrap();
            v["items"].as_array().map_or(0, Vec::len)
        };
        let before = count().await;
        let body = |cs: u8| {
            json!({"title": "CRM 订单提交失败", "symptom": "坐席无法提交订单", "source_channel": "hotline",
                   "reporter": "坐席（测试）", "org_key": "guangzhou", "system_key": "crm", "facts": {"cs_level": cs}})
        };
        // C-6 / SEV-08: the complaint scale is CS1…CS4; like every other fact, a value off it names its field.
        for cs in [0, 5, 9] {
            let (s, p) = problem(app.post_json(&tok, "/api/v1/incidents", body(cs)).await).await;
            assert_eq!(
                (s, p["field"].as_str()),
                (StatusCode::UNPROCESSABLE_ENTITY, Some("facts.cs_level")),
                "CS{cs}: {p}"
            );
        }
        assert_eq!(count().await, before, "nothing stored");
        let v = app.new_incident(&tok, json!({"cs_level": 4})).await;
        assert_eq!(v["cs_level"], 4);
        let r = Client::new()
            .put(app.url(&format!("/api/v1/incidents/{}/facts", v["id"])))
            .bearer_auth(&tok)
            .json(&json!({"version": v["version"], "facts": {"cs_level": 5}}))
            .send()
            .await
            .unwrap();
        let (s, p) = problem(r).await;
        assert_eq!(
            (s, p["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("facts.cs_level"))
        );
        let after: Value = app
            .get_as(&tok, &format!("/api/v1/incidents/{}", v["id"]))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            (&after["cs_level"], &after["version"]),
            (&json!(4), &v["version"])
        );
    }
}

#[tokio::test]
async fn esc_01_and_inc_09_immediate_reports_example_5() {
    let app = sqlite_app().await;
    let tok = app.bearer("preproc").await;
    // 15 customers, 12 similar complaints → general fault, but the room manager is told at once and the
    // emergency procedure (fault-notice SMS) starts.
    let v = app
        .new_incident(&tok, json!({"affected_users": 15, "complaints": 12}))
        .await;
    assert_eq!(v["fault_level"], "general");
    let out = app
        .platform
        .store
        .outbox_of("incident", &v["id"].to_string())
        .await
        .unwrap();
    let causes: Vec<&str> = out.iter().map(|m| m.cause.as_str()).collect();
    assert!(causes.contains(&"ESC-01"), "{causes:?}");
    assert!(causes.contains(&"INC-09"), "{causes:?}");
    // Exactly 10 customers: no emergency procedure (INC-09 proposed default ≥ 11).
    let v = app.new_incident(&tok, json!({"affected_users": 10})).await;
    let out = app
        .platform
        .store
        .outbox_of("incident", &v["id"].to_string())
        .await
        .unwrap();
    assert!(!out.iter().any(|m| m.cause == "INC-09"), "{out:?}");
}

#[tokio::test]
async fn workflow_enforces_allowed_moves_reasons_and_four_eyes_inc_01_05() {
    let app = sqlite_app().await;
    let pre = app.bearer("preproc").await;
    let aud = app.bearer("auditor").await;
    let v = app.new_incident(&pre, json!({"affected_users": 60})).await;
    // Not allowed now → 409 with the allowed list.
    let r = app.act(&pre, &v, "approve", json!({})).await;
    let (s, p) = problem(r).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert!(
        p["allowed_actions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "accept"),
        "{p}"
    );
    // Cancel needs a reason (422 naming it).
    let r = app.act(&pre, &v, "cancel", json!({})).await;
    let (s, p) = problem(r).await;
    assert_eq!(
        (s, p["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("reason"))
    );
    let r = app.act(&pre, &v, "accept", json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    // A stale version is refused with 412.
    let stale = json!({"id": v["id"], "version": 1});
    let r = app
        .act(
            &pre,
            &stale,
            "classify",
            json!({"cause_class": "system_fault"}),
        )
        .await;
    assert_eq!(problem(r).await.0, StatusCode::PRECONDITION_FAILED);
    let v: Value = app
        .act(&pre, &v, "classify", json!({"cause_class": "system_fault"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["cause_class"], "system_fault");
    let v: Value = app
        .act(&pre, &v, "submit_for_audit", json!({"note": "已修复"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["state"], "in_review");
    // The handler may not audit their own ticket (four-eyes).
    let handler_view: Value = Client::new()
        .get(app.url(&format!("/api/v1/incidents/{}", v["id"])))
        .bearer_auth(&pre)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!handler_view["allowed_actions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a == "approve"));
    let admin = app.bearer("admin").await;
    let mut as_handler = v.clone();
    as_handler["version"] = handler_view["version"].clone();
    // The admin accepted nothing; but the pre-processor (handler) approving is refused.
    let r = app.act(&pre, &as_handler, "approve", json!({})).await;
    assert_eq!(problem(r).await.0, StatusCode::CONFLICT);
    let v: Value = app
        .act(&aud, &as_handler, "approve", json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["state"], "approved");
    let v: Value = app
        .act(&aud, &v, "reply", json!({"note": "已回复前台"}))
        .await
        .json()
        .await
        .unwrap();
    let r = app.act(&admin, &v, "close", json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["state"], "closed");
    // Every step is on the timeline and in the audit trail.
    let tl: Value = Client::new()
        .get(app.url(&format!("/api/v1/incidents/{}/timeline", v["id"])))
        .bearer_auth(&pre)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kinds: Vec<&str> = tl["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    for k in [
        "incident.created",
        "incident.accept",
        "incident.classify",
        "incident.submit_for_audit",
        "incident.approve",
        "incident.reply",
        "incident.close",
    ] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }
}

#[tokio::test]
async fn one_ticket_dispatched_to_two_branches_shows_merged_progress_dup_04() {
    let app = sqlite_app().await;
    let pre = app.bearer("preproc").await;
    let v = app.new_incident(&pre, json!({"affected_users": 80})).await;
    let v: Value = app
        .act(&pre, &v, "accept", json!({}))
        .await
        .json()
        .await
        .unwrap();
    let r = Client::new()
        .post(app.url(&format!("/api/v1/incidents/{}/dispatches", v["id"])))
        .bearer_auth(&pre)
        .json(&json!({"version": v["version"], "targets": [{"kind": "branch", "org_key": "foshan"}, {"kind": "vendor", "org_key": "vendor-tianheng"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "{}",
        r.text().await.unwrap_or_default()
    );
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["state"], "handed_off");
    assert_eq!(v["children"].as_array().unwrap().len(), 2);
    assert_eq!(v["children_open"], 2);
    // Each child has its own clock (the vendor hand-off runs ESC-02 on the parent, keyed by the child).
    assert!(
        v["clocks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["rule"] == "ESC-02"),
        "{}",
        v["clocks"]
    );
    // The vendor engineer sees only the task dispatched to the vendor.
    let vendor = app.bearer("vendor-crm").await;
    let page: Value = Client::new()
        .get(app.url("/api/v1/incidents?all=true"))
        .bearer_auth(&vendor)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{page}");
    let vendor_child = items[0].clone();
    // The Foshan branch sees the task dispatched to it (its region), not the Guangzhou parent.
    let fs = app.bearer("fs-duty").await;
    let page: Value = Client::new()
        .get(app.url("/api/v1/incidents?all=true"))
        .bearer_auth(&fs)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kinds: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["child_kind"].as_str().unwrap_or("parent"))
        .collect();
    assert_eq!(kinds, vec!["branch"], "{page}");
    assert_eq!(vendor_child["child_kind"], "vendor");
    // The vendor reports progress, then the branch finishes.
    let r = Client::new()
        .post(app.url(&format!(
            "/api/v1/incidents/{}/progress",
            vendor_child["id"]
        )))
        .bearer_auth(&vendor)
        .json(
            &json!({"version": vendor_child["version"], "note": "已定位到订单服务", "percent": 50}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    let parent: Value = Client::new()
        .get(app.url(&format!("/api/v1/incidents/{}", v["id"])))
        .bearer_auth(&pre)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(parent["children_progress"], 25);
    let branch_child = parent["children"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["child_kind"] == "branch")
        .unwrap()
        .clone();
    let r = Client::new()
        .post(app.url(&format!(
            "/api/v1/incidents/{}/progress",
            branch_child["id"]
        )))
        .bearer_auth(&pre)
        .json(&json!({"version": branch_child["version"], "note": "分部核实完毕", "done": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let parent: Value = Client::new()
        .get(app.url(&format!("/api/v1/incidents/{}", v["id"])))
        .bearer_auth(&pre)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(parent["children_progress"], 75);
    assert_eq!(parent["children_open"], 1);
    // Unknown organisation in a dispatch → 400 naming it.
    let r = Client::new()
        .post(app.url(&format!("/api/v1/incidents/{}/dispatches", v["id"])))
        .bearer_auth(&pre)
        .json(&json!({"version": parent["version"], "targets": [{"kind": "branch", "org_key": "atlantis"}]}))
        .send()
        .await
        .unwrap();
    let (s, p) = problem(r).await;
    assert_eq!(
        (s, p["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("targets[0].org_key"))
    );
}

#[tokio::test]
async fn merged_reports_count_toward_complaints_and_unmerge_keeps_history_dup_01() {
    let app = sqlite_app().await;
    let pre = app.bearer("preproc").await;
    let master = app.new_incident(&pre, json!({"complaints": 18})).await;
    assert_eq!(master["fault_level"], "general");
    let a = app.new_incident(&pre, json!({})).await;
    let b = app.new_incident(&pre, json!({})).await;
    let r = Client::new()
        .post(app.url(&format!("/api/v1/incidents/{}/merge", master["id"])))
        .bearer_auth(&pre)
        .json(&json!({"version": master["version"], "report_ids": [a["id"], b["id"]]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let m: Value = r.json().await.unwrap();
    // 18 + 2 merged reports = 20 complaints → FL1 (SEV-02 (c)).
    assert_eq!(m["fault_level"], "FL1", "{m}");
    assert_eq!(m["merged_reports"].as_array().unwrap().len(), 2);
    let a_now: Value = Client::new()
        .get(app.url(&format!("/api/v1/incidents/{}", a["id"])))
        .bearer_auth(&pre)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(a_now["master_id"], master["id"]);
    assert!(a_now["allowed_actions"].as_array().unwrap().is_empty());
    // DUP-01: the merged report went to the branch of its home city (Guangzhou) for verification, as a
    // hand-off that branch's people see; it does not count as another complaint (DUP-04).
    let tasks = a_now["children"].as_array().unwrap();
    assert_eq!(tasks.len(), 1, "{a_now}");
    assert_eq!(tasks[0]["child_kind"], "branch");
    assert_eq!(tasks[0]["state"], "handed_off");
    let gz = app.bearer("gz-duty").await;
    let r = Client::new()
        .get(app.url(&format!("/api/v1/incidents/{}", tasks[0]["id"])))
        .bearer_auth(&gz)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let m_tl: Value = Client::new()
        .get(app.url(&format!("/api/v1/incidents/{}/timeline", master["id"])))
        .bearer_auth(&pre)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        m_tl.to_string().contains("incident.report_routed"),
        "{m_tl}"
    );
    let r = Client::new()
        .post(app.url(&format!("/api/v1/incidents/{}/unmerge", a["id"])))
        .bearer_auth(&pre)
        .json(&json!({"version": a_now["version"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let tl: Value = Client::new()
        .get(app.url(&format!("/api/v1/incidents/{}/timeline", a["id"])))
        .bearer_auth(&pre)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kinds: Vec<&str> = tl["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"incident.merged_into") && kinds.contains(&"incident.unmerged"),
        "{kinds:?}"
    );
    // The level never drops silently when a report leaves (SEV-07).
    let m: Value = Client::new()
        .get(app.url(&format!("/api/v1/incidents/{}", master["id"])))
        .bearer_auth(&pre)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(m["fault_level"], "FL1");
}

#[tokio::test]
async fn escalation_clocks_fire_through_the_scheduler_esc_03_04_examples_6_7() {
    let app = sqlite_app().await;
    let pre = app.bearer("preproc").await;
    let t0 = app.clock.now();
    let v = app.new_incident(&pre, json!({"affected_users": 620})).await;
    let id = v["id"].to_string();
    let owner = tianshu_services::scheduler::instance_id();
    // ESC-03 (example 6): the FL2 ticket was reported to the room manager at once; progress due every 30 minutes.
    for n in 1..=3 {
        app.clock
            .set(t0 + chrono::Duration::minutes(30 * n) + chrono::Duration::seconds(1));
        tianshu_services::scheduler::tick(&app.platform, &owner, 100)
            .await
            .unwrap();
    }
    let out = app.platform.store.outbox_of("incident", &id).await.unwrap();
    assert_eq!(
        out.iter().filter(|m| m.cause.starts_with("ESC-03")).count(),
        3,
        "{:?}",
        out.iter().map(|m| &m.cause).collect::<Vec<_>>()
    );
    // ESC-04 (example 7): FL2 unresolved after 24 h → department manager.
    app.clock
        .set(t0 + chrono::Duration::hours(24) + chrono::Duration::seconds(1));
    tianshu_services::scheduler::tick(&app.platform, &owner, 500)
        .await
        .unwrap();
    let out = app.platform.store.outbox_of("incident", &id).await.unwrap();
    let esc04: Vec<_> = out
        .iter()
        .filter(|m| m.cause.starts_with("ESC-04"))
        .collect();
    assert_eq!(esc04.len(), 1);
    assert!(
        esc04[0].recipients.contains("department_manager"),
        "{}",
        esc04[0].recipients
    );
    let detail: Value = Client::new()
        .get(app.url(&format!("/api/v1/incidents/{id}")))
        .bearer_auth(&pre)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let c = detail["clocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["rule"] == "ESC-04")
        .unwrap();
    assert!(c["breached_at"].is_string(), "{c}");
}

/// Deadlines reach people in the centre's time (Asia/Shanghai in the default pack), never as UTC instants: the
/// console's timeline of a ticket and the ESC-03 reminder it sends.
#[tokio::test]
async fn clock_deadlines_read_in_the_centres_time_on_the_console_on_both_backends() {
    for db in backends().await {
        let app = spawn(db).await;
        let pre = app.bearer("preproc").await;
        let t0 = app.clock.now(); // 2026-11-23 01:00 UTC = 09:00 in Shanghai
        let v = app.new_incident(&pre, json!({"affected_users": 620})).await;
        let id = v["id"].to_string();
        app.clock
            .set(t0 + chrono::Duration::minutes(30) + chrono::Duration::seconds(1));
        let owner = tianshu_services::scheduler::instance_id();
        tianshu_services::scheduler::tick(&app.platform, &owner, 100)
            .await
            .unwrap();
        let out = app.platform.store.outbox_of("incident", &id).await.unwrap();
        let esc03 = out
            .iter()
            .find(|m| m.cause.starts_with("ESC-03"))
            .expect("ESC-03 reminder");
        let c = Client::builder().cookie_store(true).build().unwrap();
        let r = c
            .post(app.url("/api/v1/session"))
            .json(&json!({"username": "admin", "password": "tianshu-demo"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let page = |path: String| {
            let c = &c;
            let url = app.url(&path);
            async move {
                let r = c.get(url).send().await.unwrap();
                assert_eq!(r.status(), StatusCode::OK, "{path}");
                r.text().await.unwrap()
            }
        };
        let ticket = page(format!("/incidents/{id}")).await;
        assert!(ticket.contains("due_at: 2026-11-23 09:30:00"), "{ticket}");
        assert!(!ticket.contains("T01:30"), "{ticket}");
        let message = page(format!("/notifications/{}", esc03.id)).await;
        assert!(message.contains("2026-11-23 09:30"), "{message}");
        assert!(!message.contains("T01:30"), "{message}");
    }
}

#[tokio::test]
async fn two_server_instances_on_postgres_fire_each_timer_once() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 23, 1, 0, 0).unwrap(),
    ));
    let mut cfg = AppConfig::new(db.config.clone());
    cfg.demo = true;
    cfg.clock = clock.clone();
    let a = Application::build(&cfg, "127.0.0.1:0").await.unwrap();
    let b = Application::build(&cfg, "127.0.0.1:0").await.unwrap();
    let (base_a, store) = (format!("http://{}", a.addr), a.platform.store.clone());
    let (sa, ra) = tokio::sync::oneshot::channel::<()>();
    let (sb, rb) = tokio::sync::oneshot::channel::<()>();
    let ja = tokio::spawn(a.run_until(async move {
        let _ = ra.await;
    }));
    let jb = tokio::spawn(b.run_until(async move {
        let _ = rb.await;
    }));
    let c = Client::builder().cookie_store(true).build().unwrap();
    c.post(format!("{base_a}/api/v1/session"))
        .json(&json!({"username": "preproc", "password": "tianshu-demo"}))
        .send()
        .await
        .unwrap();
    let me: Value = c
        .get(format!("{base_a}/api/v1/session"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let csrf = me["csrf_token"].as_str().unwrap().to_string();
    let mut ids = Vec::new();
    for i in 0..12 {
        let v: Value = c.post(format!("{base_a}/api/v1/incidents")).header("x-csrf-token", &csrf)
            .json(&json!({"title": format!("故障{i}"), "symptom": "现象", "source_channel": "hotline", "reporter": "测试",
                          "org_key": "guangzhou", "system_key": "crm", "facts": {"affected_users": 620}}))
            .send().await.unwrap().json().await.unwrap();
        ids.push(v["id"].to_string());
    }
    // A day later every ESC-04 deadline, the INC-06 noon and 48 ESC-03 cadence reminders per ticket are due.
    clock.advance(chrono::Duration::hours(24) + chrono::Duration::seconds(1));
    let now = clock.now().timestamp_micros();
    let mut settled = false;
    for _ in 0..200 {
        let (_, earliest) = store.pending_timers().await.unwrap();
        if earliest.is_none_or(|e| e > now) {
            settled = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(settled, "timers still due after 20 s");
    let mut fired_by = std::collections::BTreeSet::new();
    for id in &ids {
        let out = store.outbox_of("incident", id).await.unwrap();
        assert_eq!(
            out.iter().filter(|m| m.cause.starts_with("ESC-04")).count(),
            1,
            "ticket {id}"
        );
        assert_eq!(
            out.iter().filter(|m| m.cause.starts_with("ESC-03")).count(),
            48,
            "ticket {id}"
        );
        let timers = store.timers_of("incident", id).await.unwrap();
        let events = store.events_of("incident", id).await.unwrap();
        for t in timers.iter().filter(|t| t.state == "fired") {
            assert_eq!(
                events.iter().filter(|e| e.timer_id == Some(t.id)).count(),
                1,
                "timer {} recorded once",
                t.id
            );
            fired_by.insert(t.fired_by.clone().unwrap_or_default());
        }
    }
    assert_eq!(
        fired_by.len(),
        2,
        "both instances fired timers: {fired_by:?}"
    );
    let _ = sa.send(());
    let _ = sb.send(());
    let _ = ja.await;
    let _ = jb.await;
}

#[test]
fn tickets_and_timers_survive_kill_9_during_a_write_load() {
    let dir = tempfile::tempdir().unwrap();
    let pack = tempfile::tempdir().unwrap();
    copy_default_pack(pack.path());
    // Short cadences so timers fall due while the test runs: ESC-03 every 2 s.
    let esc = pack.path().join("escalation.toml");
    let text = std::fs::read_to_string(&esc).unwrap();
    let short = text.replacen(
        "basis = \"30m\"\nrepeat = \"30m\"",
        "basis = \"2s\"\nrepeat = \"2s\"",
        1,
    );
    assert!(
        short != text,
        "escalation.toml changed shape; update the test"
    );
    std::fs::write(&esc, short).unwrap();
    let bin = env!("CARGO_BIN_EXE_tianshu");
    let server = ServeProcess::new(&[
        "--data-dir".as_ref(),
        dir.path().as_os_str(),
        "--policy-dir".as_ref(),
        pack.path().as_os_str(),
    ]);
    let base = server.base();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut child = server.start();
    let acknowledged: Vec<String> = rt.block_on(async {
        server.ready().await;
        let c = Client::builder().cookie_store(true).build().unwrap();
        let v: Value = c.post(format!("{base}/api/v1/session")).json(&json!({"username": "preproc", "password": "tianshu-demo"})).send().await.unwrap().json().await.unwrap();
        let csrf = v["csrf_token"].as_str().unwrap().to_string();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let mut tasks = Vec::new();
        for w in 0..8 {
            let (c, csrf, base, tx) = (c.clone(), csrf.clone(), base.clone(), tx.clone());
            tasks.push(tokio::spawn(async move {
                for i in 0..1000 {
                    let r = c.post(format!("{base}/api/v1/incidents")).header("x-csrf-token", &csrf)
                        .json(&json!({"title": format!("负载{w}-{i}"), "symptom": "现象", "source_channel": "api", "reporter": "负载",
                                      "org_key": "guangzhou", "facts": {"affected_users": 620}}))
                        .send().await;
                    match r {
                        Ok(r) if r.status() == StatusCode::CREATED => {
                            let v: Value = r.json().await.unwrap_or_default();
                            let _ = tx.send(v["number"].as_str().unwrap_or_default().to_string());
                        }
                        _ => break, // the server is gone
                    }
                }
            }));
        }
        drop(tx);
        tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
        child.kill().unwrap(); // SIGKILL in the middle of the load
        for t in tasks {
            let _ = t.await;
        }
        let mut acked = Vec::new();
        while let Some(n) = rx.recv().await {
            acked.push(n);
        }
        acked
    });
    child.wait().unwrap();
    assert!(
        acknowledged.len() > 20,
        "load produced only {} tickets",
        acknowledged.len()
    );
    let mut child = server.start();
    rt.block_on(async {
        server.ready().await;
        // Let the scheduler catch up with the timers that fell due while the server was down.
        tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    });
    child.kill().unwrap();
    child.wait().unwrap();
    rt.block_on(async {
        let cfg = tianshu_store::StoreConfig::sqlite_in(dir.path());
        let store = tianshu_store::Store::open(&cfg).await.unwrap();
        let mut seen = std::collections::HashSet::new();
        let mut before = i64::MAX;
        loop {
            let page = store.incidents_page(before, 500, &Default::default()).await.unwrap();
            if page.is_empty() {
                break;
            }
            before = page.last().unwrap().id;
            seen.extend(page.into_iter().map(|i| i.number));
        }
        for n in &acknowledged {
            assert!(seen.contains(n), "acknowledged ticket {n} was lost");
        }
        // Every fired timer is recorded exactly once, and nothing that fell due was left unfired.
        let timers: Vec<(i64, String, Option<String>)> = sqlx::query_as("SELECT id, state, fired_by FROM timers")
            .fetch_all(&mut pool_conn(&cfg).await).await.unwrap();
        let fired = timers.iter().filter(|t| t.1 == "fired").count();
        let recorded: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE timer_id IS NOT NULL")
            .fetch_one(&mut pool_conn(&cfg).await).await.unwrap();
        assert!(fired > 0);
        assert_eq!(fired as i64, recorded);
        let dup: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM (SELECT idempotency_key FROM outbox GROUP BY idempotency_key HAVING COUNT(*) > 1) d")
            .fetch_one(&mut pool_conn(&cfg).await).await.unwrap();
        assert_eq!(dup, 0);
        store.close().await;
    });
    let o = std::process::Command::new(bin)
        .arg("--data-dir")
        .arg(dir.path())
        .arg("--policy-dir")
        .arg(pack.path())
        .args(["audit", "verify"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
}

async fn pool_conn(cfg: &tianshu_store::StoreConfig) -> sqlx::SqliteConnection {
    use sqlx::Connection;
    sqlx::SqliteConnection::connect(&cfg.url).await.unwrap()
}

#[tokio::test]
async fn duplicate_suggestions_and_frequent_fault_lists_dup_01_rpt_03_example_30() {
    let app = sqlite_app().await;
    let pre = app.bearer("preproc").await;
    let admin = app.bearer("admin").await;
    // Two reports of the same problem within the window (DUP-01) …
    let first = app.new_incident(&pre, json!({"complaints": 12})).await;
    app.clock.advance(chrono::Duration::minutes(20));
    let second = app.new_incident(&pre, json!({"complaints": 13})).await;
    let d: Value = Client::new()
        .get(app.url(&format!("/api/v1/incidents/{}/duplicates", second["id"])))
        .bearer_auth(&pre)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<i64> = d["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![first["id"].as_i64().unwrap()]);
    // … are also a fault occurring twice in a week with 25 complaints → weekly report (RPT-03 union, example 30).
    let r: Value = Client::new()
        .get(app.url("/api/v1/reports/frequent-faults?kind=weekly&end=2026-11-24"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let items = r["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{r}");
    assert_eq!(items[0]["occurrences"], 2);
    assert_eq!(items[0]["complaints"], 25);
    let r = Client::new()
        .get(app.url("/api/v1/reports/frequent-faults?kind=yearly&end=2026-11-24"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    let (s, p) = problem(r).await;
    assert_eq!(
        (s, p["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("kind"))
    );
}

#[tokio::test]
async fn converting_a_ticket_into_a_bug_checks_the_payload_and_tells_the_room_manager_bug_03_05() {
    let app = sqlite_app().await;
    let pre = app.bearer("preproc").await;
    let esc = app.bearer("esc-a").await;
    let v = app.new_incident(&pre, json!({"affected_users": 250})).await;
    let url = app.url(&format!("/api/v1/incidents/{}/bug", v["id"]));
    // BUG-05: the description must include the complaining number.
    let bad = json!({"description": "订单无法提交", "complaining_number": "10000000009", "assistance_requested": "请厂商修复",
                     "complaints": 3, "urgency": "urgent", "expected_resolution": "下个版本",
                     "consequence_if_missed": "投诉继续增加"});
    let r = Client::new()
        .post(&url)
        .bearer_auth(&esc)
        .json(&bad)
        .send()
        .await
        .unwrap();
    let (s, p) = problem(r).await;
    assert_eq!(
        (s, p["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("description"))
    );
    let mut good = bad.clone();
    good["description"] = json!("号码 10000000009 订单无法提交");
    let r = Client::new()
        .post(&url)
        .bearer_auth(&esc)
        .json(&good)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let bug: Value = r.json().await.unwrap();
    assert_eq!(bug["urgency"], "urgent");
    // BUG-03: more than 200 customers affected → the room manager is told.
    let out = app
        .platform
        .store
        .outbox_of("incident", &v["id"].to_string())
        .await
        .unwrap();
    assert!(out.iter().any(|m| m.cause == "BUG-03"), "{out:?}");
    let d: Value = Client::new()
        .get(app.url(&format!("/api/v1/incidents/{}", v["id"])))
        .bearer_auth(&pre)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(d["links"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["to_kind"] == "bug" && l["link_type"] == "converted_to"));
    // The pre-processor lacks incident.escalate.
    let r = Client::new()
        .post(&url)
        .bearer_auth(&pre)
        .json(&good)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn attachments_up_to_10_mib_round_trip_and_are_scoped() {
    let app = sqlite_app().await;
    let pre = app.bearer("preproc").await;
    let v = app.new_incident(&pre, json!({})).await;
    let data: Vec<u8> = (0..2 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let r = Client::new()
        .post(app.url(&format!(
            "/api/v1/incidents/{}/attachments?filename=crm-order.log",
            v["id"]
        )))
        .bearer_auth(&pre)
        .header("content-type", "text/plain")
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let a: Value = r.json().await.unwrap();
    assert_eq!(a["size"], data.len());
    let list: Value = Client::new()
        .get(app.url(&format!("/api/v1/incidents/{}/attachments", v["id"])))
        .bearer_auth(&pre)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let r = Client::new()
        .get(app.url(&format!("/api/v1/attachments/{}", a["id"])))
        .bearer_auth(&pre)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "application/octet-stream");
    assert_eq!(r.bytes().await.unwrap().to_vec(), data);
    // A path in the name is refused, naming the field; nothing is stored.
    let r = Client::new()
        .post(app.url(&format!(
            "/api/v1/incidents/{}/attachments?filename=../etc/passwd",
            v["id"]
        )))
        .bearer_auth(&pre)
        .body(vec![1u8, 2, 3])
        .send()
        .await
        .unwrap();
    let (s, p) = problem(r).await;
    assert_eq!(
        (s, p["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("filename"))
    );
    // A vendor with nothing dispatched to it cannot read the file.
    let vendor = app.bearer("vendor-esb").await;
    let r = Client::new()
        .get(app.url(&format!("/api/v1/attachments/{}", a["id"])))
        .bearer_auth(&vendor)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn centre_manager_group_report_and_re_report_esc_02_07_08_09() {
    let app = sqlite_app().await;
    let pre = app.bearer("preproc").await;
    let esc = app.bearer("esc-a").await;
    let t0 = app.clock.now();
    // ESC-09: an FL2 CRM fault (the helper files against the crm system) must reach the group within 1 hour.
    let v = app.new_incident(&pre, json!({"affected_users": 620})).await;
    let id = v["id"].to_string();
    let clock = |d: &Value, key: &str| {
        d["clocks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["key"] == key)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(clock(&v, "esc09_group_report")["state"], "running", "{v}");
    // ESC-06: an owning department that is not ours is accepted and shown; the obligations stay the same.
    let r = Client::new()
        .post(app.url("/api/v1/incidents"))
        .bearer_auth(&pre)
        .json(&json!({"title": "计费话单延迟", "symptom": "清单查询缺少当日话单", "source_channel": "im_group",
                      "reporter": "坐席（测试）", "org_key": "guangzhou", "system_key": "billing",
                      "owning_org_key": "no-such-room", "facts": {}}))
        .send()
        .await
        .unwrap();
    let (status, body) = problem(r).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.to_string().contains("owning_org_key"), "{body}");
    // A report with an unknown kind names the field and changes nothing.
    let r = Client::new()
        .post(app.url(&format!("/api/v1/incidents/{id}/reports")))
        .bearer_auth(&esc)
        .json(&json!({"version": v["version"], "kind": "ceo", "note": "x"}))
        .send()
        .await
        .unwrap();
    let (status, body) = problem(r).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.to_string().contains("kind"), "{body}");
    // Reported to the group after 40 minutes: the clock is met.
    app.clock.set(t0 + chrono::Duration::minutes(40));
    let r = Client::new()
        .post(app.url(&format!("/api/v1/incidents/{id}/reports")))
        .bearer_auth(&esc)
        .json(&json!({"version": v["version"], "kind": "group", "note": "已电话报集团"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(clock(&v, "esc09_group_report")["state"], "met", "{v}");
    // ESC-07 (3): 31 wrongful-suspension complaints → the room and centre managers are told; ESC-08 follows.
    let r = Client::new()
        .put(app.url(&format!("/api/v1/incidents/{id}/facts")))
        .bearer_auth(&pre)
        .json(&json!({"version": v["version"], "facts": {"affected_users": 620, "wrong_suspension_complaints": 31}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    let v: Value = r.json().await.unwrap();
    assert!(v["reported_to_centre_manager_at"].is_string(), "{v}");
    let out = app.platform.store.outbox_of("incident", &id).await.unwrap();
    let esc07: Vec<_> = out.iter().filter(|m| m.cause == "ESC-07").collect();
    assert_eq!(esc07.len(), 1, "{out:?}");
    assert!(esc07[0].recipients.contains("centre_manager"));
    // The facts grew, so both managers already told get a re-report (ESC-02, ESC-08) — once each.
    let causes: Vec<&str> = out.iter().map(|m| m.cause.as_str()).collect();
    assert_eq!(
        causes.iter().filter(|c| **c == "ESC-02").count(),
        1,
        "{causes:?}"
    );
    assert_eq!(
        causes.iter().filter(|c| **c == "ESC-08").count(),
        1,
        "{causes:?}"
    );
    // A new symptom in a progress note re-reports again.
    let r = Client::new()
        .post(app.url(&format!("/api/v1/incidents/{id}/progress")))
        .bearer_auth(&pre)
        .json(&json!({"version": v["version"], "note": "新增现象：缴费后未开机", "new_symptom": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    let out = app.platform.store.outbox_of("incident", &id).await.unwrap();
    assert_eq!(out.iter().filter(|m| m.cause == "ESC-08").count(), 2);
    // The timeline records the report with its kind.
    let tl: Value = Client::new()
        .get(app.url(&format!("/api/v1/incidents/{id}/timeline")))
        .bearer_auth(&pre)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(tl.to_string().contains("incident.reported"), "{tl}");
}

#[path = "api/problems.rs"]
mod problems;

#[path = "api/kpi.rs"]
mod kpi;
#[path = "api/recon.rs"]
mod recon;

#[path = "api/credentials.rs"]
mod credentials;
#[path = "api/delivery.rs"]
mod delivery;
#[path = "api/kpi_records.rs"]
mod kpi_records;
#[path = "api/problem_meetings.rs"]
mod problem_meetings;
#[path = "api/provisioning.rs"]
mod provisioning;
