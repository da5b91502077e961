//! Notifications as users see them: the console's review queue, message page, template editor and the notify
//! form on a ticket (NTF-08, NTF-09), the demo's recipient lists and log channel, and the `notify` CLI.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use tianshu::{AppConfig, Application};
use tianshu_core::ManualClock;
use tianshu_testkit::TestDb;

use super::TestApp;

/// The demo as `tianshu demo` runs it: invented recipient lists and contacts, the log channel.
async fn demo_app() -> TestApp {
    let db = TestDb::sqlite();
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 23, 1, 0, 0).unwrap(),
    ));
    let mut cfg = AppConfig::new(db.config.clone());
    cfg.demo = true;
    cfg.demo_recipients = true;
    cfg.channels.log = true;
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
    TestApp {
        base,
        client: Client::builder().cookie_store(true).build().unwrap(),
        platform,
        clock,
        _db: db,
        _stop: tx,
    }
}

/// One person in a browser: a cookie session and its CSRF token; redirects are not followed.
struct Person {
    c: Client,
    csrf: String,
    base: String,
}

impl Person {
    async fn login(app: &TestApp, user: &str) -> Person {
        let c = Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let r = c
            .post(app.url("/api/v1/session"))
            .json(&json!({"username": user, "password": "tianshu-demo"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "login {user}");
        let v: Value = r.json().await.unwrap();
        Person {
            c,
            csrf: v["csrf_token"].as_str().unwrap().to_string(),
            base: app.base.clone(),
        }
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let r = self
            .c
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }

    async fn api(&self, path: &str) -> Value {
        self.c
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Posts a form (the CSRF token added); returns the status, the Location header and the page.
    async fn post(&self, path: &str, form: &[(&str, &str)]) -> (StatusCode, String, String) {
        let mut f: Vec<(&str, &str)> = vec![("csrf", &self.csrf)];
        f.extend_from_slice(form);
        let r = self
            .c
            .post(format!("{}{path}", self.base))
            .form(&f)
            .send()
            .await
            .unwrap();
        let loc = r
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        (r.status(), loc, r.text().await.unwrap())
    }
}

/// The value of `name="…" value="…"` in a page.
fn input_value(page: &str, name: &str) -> String {
    let needle = format!("name=\"{name}\" value=\"");
    let i = page
        .find(&needle)
        .unwrap_or_else(|| panic!("no input {name}"))
        + needle.len();
    page[i..].split('"').next().unwrap_or_default().to_string()
}

async fn new_ticket(p: &Person) -> i64 {
    let r = p
        .c
        .post(format!("{}/api/v1/incidents", p.base))
        .header("x-csrf-token", &p.csrf)
        .json(&json!({"title": "CRM 受理失败（测试）", "symptom": "营业厅无法受理", "source_channel": "hotline",
                      "reporter": "测试", "org_key": "guangzhou", "system_key": "crm", "facts": {"affected_users": 620}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
}

/// Drafts a T1 notice to class C from the ticket page; returns the message id.
async fn draft_from_ticket(
    p: &Person,
    incident: i64,
    eta: &str,
) -> Result<i64, (StatusCode, String)> {
    let (_, page) = p.get(&format!("/incidents/{incident}")).await;
    let ctx = [
        "system",
        "fault_time",
        "symptom",
        "cause",
        "impact_scope",
        "owner_org",
        "owner_role",
    ]
    .map(|v| (format!("ctx_{v}"), input_value(&page, &format!("ctx_{v}"))));
    let mut form: Vec<(&str, &str)> = ctx.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    form.extend([
        ("template", "t1_fault_notice"),
        ("locale", "zh-CN"),
        ("class", "C"),
        ("channel", "sms"),
        ("ctx_eta", eta),
        ("op", "draft"),
    ]);
    let (s, loc, body) = p
        .post(&format!("/incidents/{incident}/notify"), &form)
        .await;
    if s != StatusCode::SEE_OTHER {
        return Err((s, body));
    }
    let id = loc
        .trim_start_matches("/notifications/")
        .split('?')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    Ok(id)
}

#[tokio::test]
async fn a_notice_drafted_on_a_ticket_is_approved_by_another_person_and_sent_ntf_09() {
    let app = demo_app().await;
    let esc = Person::login(&app, "esc-a").await;
    let lead = Person::login(&app, "fault-lead").await;
    let viewer = Person::login(&app, "viewer").await;
    // The navigation offers notifications to drafters and approvers only.
    assert!(esc.get("/").await.1.contains("data-nav=\"notifications\""));
    assert!(!viewer
        .get("/")
        .await
        .1
        .contains("data-nav=\"notifications\""));
    assert_eq!(viewer.get("/notifications").await.0, StatusCode::FORBIDDEN);

    let incident = new_ticket(&esc).await;
    let (s, page) = esc.get(&format!("/incidents/{incident}")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.contains("id=\"notify-form\""));
    // Prefilled from the ticket's facts.
    assert!(input_value(&page, "ctx_impact_scope").contains("620"));
    // A required placeholder left empty: refused next to the field, nothing drafted (NTF-08).
    let (s, body) = draft_from_ticket(&esc, incident, "").await.unwrap_err();
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("data-field=\"eta\""), "{body}");
    let all: Value = esc
        .api("/api/v1/notifications/messages?state=pending_review")
        .await;
    assert_eq!(all["items"].as_array().unwrap().len(), 0);

    let id = draft_from_ticket(&esc, incident, "今天 18:00")
        .await
        .unwrap();
    let (_, page) = esc.get(&format!("/notifications/{id}")).await;
    assert!(page.contains("data-state=\"pending_review\""));
    // The drafter holds no approval right: no approve button, and a forged approval is refused.
    assert!(!page.contains("data-action=\"approve\""));
    let v = input_value(&page, "version");
    let (s, _, _) = esc
        .post(
            &format!("/notifications/{id}/act"),
            &[("version", &v), ("action", "approve")],
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // The review queue shows it with its ticket, drafter and waiting time.
    let (_, queue) = lead.get("/notifications").await;
    assert!(queue.contains(&format!("data-message=\"{id}\"")), "{queue}");
    assert!(queue.contains("esc-a"));
    assert!(queue.contains("class=\"waiting\""));

    // A rejection needs a reason: refused naming the field, the message still waits.
    let (s, _, body) = lead
        .post(
            &format!("/notifications/{id}/act"),
            &[("version", &v), ("action", "reject"), ("note", " ")],
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("data-field=\"reason\""), "{body}");
    // A stale version changes nothing.
    let (s, _, _) = lead
        .post(
            &format!("/notifications/{id}/act"),
            &[("version", "0"), ("action", "approve")],
        )
        .await;
    assert_eq!(s, StatusCode::PRECONDITION_FAILED);
    let m = esc
        .api(&format!("/api/v1/notifications/messages/{id}"))
        .await;
    assert_eq!(m["state"], "pending_review");

    let (s, loc, _) = lead
        .post(
            &format!("/notifications/{id}/act"),
            &[("version", &v), ("action", "approve"), ("note", "同意")],
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert!(loc.contains("done=approve"));
    // The log channel delivers offline: the message reaches `sent`.
    let mut state = Value::Null;
    for _ in 0..100 {
        state = esc
            .api(&format!("/api/v1/notifications/messages/{id}"))
            .await["state"]
            .clone();
        if state == "sent" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(state, "sent");
    // The ticket shows its delivery log with masked numbers.
    let (_, page) = esc.get(&format!("/incidents/{incident}")).await;
    assert!(page.contains("data-dstate=\"sent\""));
    assert!(page.contains("138****"));
    assert!(!page.contains("138-0000-"));
    let (_, page) = lead.get(&format!("/notifications/{id}")).await;
    assert!(page.contains("id=\"message-review\""));

    // A group leader who drafts cannot approve their own message (four eyes, NTF-09).
    let own = draft_from_ticket(&lead, incident, "明天 09:00")
        .await
        .unwrap();
    let (_, page) = lead.get(&format!("/notifications/{own}")).await;
    assert!(page.contains("id=\"own-draft\""));
    assert!(!page.contains("data-action=\"approve\""));
    let v = input_value(&page, "version");
    let (s, _, body) = lead
        .post(
            &format!("/notifications/{own}/act"),
            &[("version", &v), ("action", "approve")],
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert!(body.contains("NTF-09"), "{body}");
    // Without the CSRF token nothing happens.
    let r = lead
        .c
        .post(format!("{}/notifications/{own}/act", app.base))
        .form(&[("version", v.as_str()), ("action", "cancel")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let m = esc
        .api(&format!("/api/v1/notifications/messages/{own}"))
        .await;
    assert_eq!(m["state"], "pending_review");
}

#[tokio::test]
async fn a_template_with_an_unknown_placeholder_is_not_saved_from_the_console_ntf_08() {
    let app = demo_app().await;
    let lead = Person::login(&app, "fault-lead").await;
    let (s, list) = lead.get("/notifications/templates").await;
    assert_eq!(s, StatusCode::OK);
    assert!(list.contains("data-template=\"t2_system_fault_notice\""));
    let (_, page) = lead
        .get("/notifications/templates/t2_system_fault_notice")
        .await;
    let t = lead
        .api("/api/v1/notifications/templates/t2_system_fault_notice")
        .await;
    let zh = format!("{}请回复{{{{ pager }}}}", t["zh"].as_str().unwrap());
    let form = |zh: &str| {
        vec![
            ("version".to_string(), input_value(&page, "version")),
            (
                "subject_zh".to_string(),
                t["subject_zh"].as_str().unwrap().to_string(),
            ),
            (
                "subject_en".to_string(),
                t["subject_en"].as_str().unwrap().to_string(),
            ),
            ("zh".to_string(), zh.to_string()),
            ("en".to_string(), t["en"].as_str().unwrap().to_string()),
        ]
    };
    let f = form(&zh);
    let fr: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (s, _, body) = lead
        .post("/notifications/templates/t2_system_fault_notice", &fr)
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("data-field=\"zh\""), "{body}");
    assert!(body.contains("pager"));
    // What was typed is kept for correction; nothing was saved.
    assert!(body.contains("{{ pager }}"));
    let after = lead
        .api("/api/v1/notifications/templates/t2_system_fault_notice")
        .await;
    assert_eq!(after["version"], 0);
    assert_eq!(after["zh"], t["zh"]);

    let ok = format!("{}（测试）", t["zh"].as_str().unwrap());
    let f = form(&ok);
    let fr: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (s, loc, _) = lead
        .post("/notifications/templates/t2_system_fault_notice", &fr)
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert!(loc.ends_with("saved=1"));
    let after = lead
        .api("/api/v1/notifications/templates/t2_system_fault_notice")
        .await;
    assert_eq!(after["version"], 1);
    // A drafter may read templates but not change them.
    let esc = Person::login(&app, "esc-a").await;
    assert_eq!(
        esc.get("/notifications/templates/t2_system_fault_notice")
            .await
            .0,
        StatusCode::OK
    );
    let (s, _, _) = esc
        .post("/notifications/templates/t2_system_fault_notice", &fr)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_demo_has_class_and_regional_lists_of_invented_contacts_ntf_02_ntf_10() {
    let app = demo_app().await;
    let admin = Person::login(&app, "admin").await;
    let lists = admin.api("/api/v1/notifications/lists").await;
    let size = |k: &str| {
        lists["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["key"] == k)
            .map(|l| l["members"].as_array().unwrap().len())
            .unwrap_or(0)
    };
    for k in ["class_a", "class_b", "class_c", "class_d"] {
        assert!(size(k) > 0, "{k}");
    }
    assert_eq!(size("agent_portal_base"), 20);
    assert_eq!(size("agent_portal_guangzhou"), 6);
    assert_eq!(size("agent_portal_shenzhen"), 4);
    let contacts = admin
        .api("/api/v1/notifications/contacts?reveal=true")
        .await;
    for c in contacts["items"].as_array().unwrap() {
        assert!(c["name"].as_str().unwrap().contains("演示"), "{c}");
        assert!(
            c["mobile"].as_str().unwrap().starts_with("138-0000-"),
            "{c}"
        );
        assert!(
            c["email"].as_str().unwrap().ends_with("@example.invalid"),
            "{c}"
        );
    }
}

#[test]
fn cli_notify_lists_shows_approves_rejects_and_test_sends() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    // A demo database with two drafts waiting for review.
    let ids: Vec<i64> = rt.block_on(async {
        let mut cfg = AppConfig::new(tianshu_store::StoreConfig::new(format!(
            "sqlite://{}",
            dir.path().join("tianshu.db").display()
        )));
        cfg.demo = true;
        cfg.demo_recipients = true;
        let p = tianshu::build_platform(&cfg).await.unwrap();
        let u = p.store.user_by_username("esc-a").await.unwrap().unwrap();
        let esc = tianshu_services::session::principal_of_user(
            &p,
            u.id,
            tianshu_services::authz::AuthVia::Cli,
        )
        .await
        .unwrap();
        let ctx = json!({"system": "CRM", "fault_time": "10:00", "symptom": "无法受理", "cause": "排查中",
                         "impact_scope": "全省", "owner_org": "故障处理组", "eta": "12:00", "owner_role": "升级值班"});
        let mut ids = Vec::new();
        for _ in 0..2 {
            let v = tianshu_services::notify::draft(
                &p,
                &esc,
                tianshu_services::notify::Draft {
                    template: "t2_system_fault_notice".into(),
                    context: ctx.clone(),
                    recipients: Some(tianshu_services::notify::RecipientSpec {
                        classes: vec!["C".into()],
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
            ids.push(v.message.id);
        }
        p.store.close().await;
        ids
    });
    let bin = env!("CARGO_BIN_EXE_tianshu");
    let run = |args: &[&str]| {
        let o = std::process::Command::new(bin)
            .arg("--data-dir")
            .arg(dir.path())
            .args(args)
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).to_string(),
            String::from_utf8_lossy(&o.stderr).to_string(),
        )
    };
    let (a, b) = (ids[0].to_string(), ids[1].to_string());
    let (code, out, _) = run(&["notify", "list", "--state", "pending_review"]);
    assert_eq!(code, Some(0));
    assert!(
        out.contains(&a) && out.contains(&b) && out.contains("waiting"),
        "{out}"
    );
    let (code, _, err) = run(&["notify", "list", "--state", "lost"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("state"), "{err}");
    let (code, out, _) = run(&["notify", "show", &a]);
    assert_eq!(code, Some(0));
    assert!(out.contains("系统故障通知"), "{out}");
    // Approving names the approver; the drafter's role cannot approve, the group leader can.
    let (code, _, err) = run(&["notify", "approve", &a]);
    assert_eq!(code, Some(2));
    assert!(err.contains("as:"), "{err}");
    let (code, _, _) = run(&["notify", "approve", &a, "--as", "esc-a"]);
    assert_eq!(code, Some(2));
    let (code, out, err) = run(&[
        "notify",
        "approve",
        &a,
        "--as",
        "fault-lead",
        "--note",
        "同意",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("queued"), "{out}");
    let (code, _, err) = run(&["notify", "reject", &b, "--as", "fault-lead"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("note"), "{err}");
    let (code, out, _) = run(&[
        "notify",
        "reject",
        &b,
        "--as",
        "fault-lead",
        "--note",
        "内容有误",
    ]);
    assert_eq!(code, Some(0));
    assert!(out.contains("cancelled"), "{out}");

    // test-send: nothing configured is an error naming the channel; the log channel sends offline.
    let (code, _, err) = run(&[
        "notify",
        "test-send",
        "--channel",
        "sms",
        "--to",
        "138-0000-0001",
    ]);
    assert_eq!(code, Some(2));
    assert!(err.contains("channel"), "{err}");
    let cfg = dir.path().join("tianshu.toml");
    std::fs::write(&cfg, "[notify]\nlog = true\n").unwrap();
    let c = cfg.to_str().unwrap();
    let (code, out, err) = run(&[
        "--config",
        c,
        "notify",
        "test-send",
        "--channel",
        "sms",
        "--to",
        "138-0000-0001",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("via log") && out.contains("138****0001"),
        "{out}"
    );
    assert!(!out.contains("138-0000-0001") && !err.contains("138-0000-0001"));
    let (code, _, err) = run(&[
        "--config",
        c,
        "notify",
        "test-send",
        "--channel",
        "email",
        "--to",
        "nobody",
    ]);
    assert_eq!(code, Some(2));
    assert!(err.contains("to:"), "{err}");
}

impl Person {
    /// Sends JSON through the cookie session (the CSRF header added).
    async fn json(&self, method: reqwest::Method, path: &str, body: Value) -> reqwest::Response {
        self.c
            .request(method, format!("{}{path}", self.base))
            .header("x-csrf-token", &self.csrf)
            .json(&body)
            .send()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn the_message_page_shows_the_text_sent_per_language_not_the_edited_template() {
    let app = demo_app().await;
    let admin = Person::login(&app, "admin").await;
    let esc = Person::login(&app, "esc-a").await;
    let lead = Person::login(&app, "fault-lead").await;
    // One recipient reads English.
    let users = admin.api("/api/v1/users?q=duty-hq-1").await;
    let hq = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "duty-hq-1")
        .unwrap()
        .clone();
    let r = admin
        .json(
            reqwest::Method::PATCH,
            &format!("/api/v1/users/{}", hq["id"]),
            json!({"version": hq["version"], "locale": "en"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);

    // Before expansion (waiting for review) the page renders the current template.
    let ctx = json!({"system": "CRM", "fault_time": "10:00", "symptom": "无法受理", "cause": "排查中",
                     "impact_scope": "全省", "owner_org": "故障处理组", "eta": "12:00", "owner_role": "升级值班"});
    let r = esc
        .json(
            reqwest::Method::POST,
            "/api/v1/notifications/messages",
            json!({"template": "t2_system_fault_notice", "context": ctx, "recipients": {"classes": ["C"]}}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let waiting = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let (_, page) = lead.get(&format!("/notifications/{waiting}")).await;
    assert!(page.contains("data-source=\"template\""), "{page}");
    assert!(page.contains("id=\"message-subject\""));

    // A reminder needs no review: it is expanded at once, rendered in each recipient's language.
    let ctx = json!({"person": "值班员", "date": "2026-11-23", "shift": "白班", "slot": "集中值班", "report_due": "18:00"});
    let r = esc
        .json(
            reqwest::Method::POST,
            "/api/v1/notifications/messages",
            json!({"template": "duty.report_missing", "context": ctx,
                   "recipients": {"users": ["duty-sz-1", "duty-hq-1"]}}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let mut m = Value::Null;
    for _ in 0..100 {
        m = lead
            .api(&format!("/api/v1/notifications/messages/{id}"))
            .await;
        if m["deliveries"].as_array().is_some_and(|d| d.len() >= 2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ds = m["deliveries"].as_array().unwrap();
    assert_eq!(ds.len(), 2, "{m}");
    let sent_body = |subject: &str| {
        ds.iter()
            .find(|d| d["subject"] == subject)
            .unwrap_or_else(|| panic!("no delivery with subject {subject}: {m}"))["body"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let zh_body = sent_body("值班日报未提交提醒");
    let en_body = sent_body("Duty report missing");
    assert!(
        zh_body.starts_with("值班员:您2026-11-23集中值班白班"),
        "{zh_body}"
    );
    assert!(en_body.contains("is still missing"), "{en_body}");

    // The template is edited afterwards: the page still shows what the deliveries carry.
    let t = lead
        .api("/api/v1/notifications/templates/duty.report_missing")
        .await;
    let r = lead
        .json(
            reqwest::Method::PUT,
            "/api/v1/notifications/templates/duty.report_missing",
            json!({"subject_zh": "值班日报提醒（新版）", "subject_en": t["subject_en"],
                   "zh": format!("{}（新版）", t["zh"].as_str().unwrap()), "en": t["en"], "version": t["version"]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let (s, page) = lead.get(&format!("/notifications/{id}")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.contains("data-source=\"sent\""), "{page}");
    assert!(!page.contains("id=\"message-subject\""));
    assert!(!page.contains("新版"), "{page}");
    let part = |lang: &str| {
        let i = page
            .find(&format!("data-text-lang=\"{lang}\""))
            .unwrap_or_else(|| panic!("no {lang} text: {page}"));
        page[i..].split("</div>").next().unwrap().to_string()
    };
    let (zh, en) = (part("zh-CN"), part("en"));
    assert!(
        zh.contains("值班日报未提交提醒") && zh.contains(&zh_body),
        "{zh}"
    );
    assert!(zh.contains("沈一帆"), "{zh}");
    assert!(
        en.contains("Duty report missing") && en.contains(&en_body),
        "{en}"
    );

    // The OpenAPI response schema documents the two fields (schemathesis checks responses against it).
    let doc = lead.api("/api/v1/openapi.json").await;
    let props = &doc["components"]["schemas"]["DeliveryOut"]["properties"];
    assert_eq!(props["subject"]["type"], "string", "{props}");
    assert_eq!(props["body"]["type"], "string");
}
