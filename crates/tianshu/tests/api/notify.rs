//! Notifications end to end against real peers: aiosmtpd on loopback (scripts/smtp-sink.py) and an in-test
//! HTTP sink standing in for the SMS gateway and the IM webhooks.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::post;
use chrono::{TimeZone, Utc};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use tianshu::{AppConfig, Application};
use tianshu_core::ManualClock;
use tianshu_services::notify::channels::{
    ChannelConfig, ImKind, ImWebhook, Secret, SmsGatewayConfig, SmtpConfig,
};
use tianshu_testkit::TestDb;

use super::TestApp;

/// One request the HTTP sink received.
#[derive(Debug, Clone)]
struct Hit {
    path: String,
    key: String,
    body: Value,
}

type Hits = Arc<Mutex<Vec<Hit>>>;

async fn sink(
    State(h): State<Hits>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: String,
) -> String {
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    h.lock().unwrap().push(Hit {
        path: path.clone(),
        key,
        body: serde_json::from_str(&body).unwrap_or(Value::String(body)),
    });
    match path.as_str() {
        "sms" => r#"{"code":"0"}"#.into(),
        "wecom" => r#"{"errcode":0,"errmsg":"ok"}"#.into(),
        _ => "ok".into(),
    }
}

async fn http_sink() -> (String, Hits) {
    let hits: Hits = Arc::default();
    let app = axum::Router::new()
        .route("/{path}", post(sink))
        .with_state(hits.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (base, hits)
}

/// aiosmtpd from the test venv (scripts/test.sh installs it; TIANSHU_AIOSMTPD_PYTHON overrides).
struct SmtpSink {
    port: u16,
    file: std::path::PathBuf,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn smtp_sink() -> SmtpSink {
    let python = std::env::var("TIANSHU_AIOSMTPD_PYTHON").unwrap_or_else(|_| {
        format!(
            "{}/.cache/tianshu-test/venv-aiosmtpd-1.4.6/bin/python",
            std::env::var("HOME").unwrap_or_default()
        )
    });
    assert!(
        std::path::Path::new(&python).exists(),
        "aiosmtpd is needed: python3 -m venv ~/.cache/tianshu-test/venv-aiosmtpd-1.4.6 && \
         ~/.cache/tianshu-test/venv-aiosmtpd-1.4.6/bin/pip install aiosmtpd==1.4.6 (or set TIANSHU_AIOSMTPD_PYTHON)"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mail.jsonl");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/smtp-sink.py");
    let mut child = std::process::Command::new(python)
        .arg(script)
        .arg(port.to_string())
        .arg(&file)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "ready");
    SmtpSink {
        port,
        file,
        child,
        _dir: dir,
    }
}

fn mails(s: &SmtpSink) -> Vec<Value> {
    std::fs::read_to_string(&s.file)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

async fn spawn_with(channels: ChannelConfig) -> TestApp {
    let db = TestDb::sqlite();
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap(),
    ));
    let mut cfg = AppConfig::new(db.config.clone());
    cfg.demo = true;
    cfg.clock = clock.clone();
    cfg.channels = channels;
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

fn channels(http: &str, smtp_port: u16) -> ChannelConfig {
    ChannelConfig {
        smtp: Some(SmtpConfig {
            host: "127.0.0.1".into(),
            port: smtp_port,
            starttls: false,
            username: None,
            password: None,
            from: "天枢 <noreply@example.com>".into(),
            timeout: Duration::from_secs(5),
        }),
        sms: Some(SmsGatewayConfig {
            method: "POST".into(),
            url: format!("{http}/sms"),
            headers: vec![("X-Api-Key".into(), Secret::new("k-test"))],
            body_template: r#"{"mobile": {{ mobile | tojson }}, "text": {{ text | tojson }}}"#
                .into(),
            content_type: "application/json".into(),
            success_status: vec![],
            success_json_pointer: Some("/code".into()),
            success_json_value: Some("0".into()),
            success_regex: None,
            timeout: Duration::from_secs(5),
        }),
        im: vec![
            ImWebhook {
                name: "ops-wecom".into(),
                kind: ImKind::Wecom,
                url: Secret::new(format!("{http}/wecom")),
            },
            ImWebhook {
                name: "ops-slack".into(),
                kind: ImKind::Slack,
                url: Secret::new(format!("{http}/slack")),
            },
        ],
    }
}

async fn call(
    app: &TestApp,
    tok: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut r = Client::new()
        .request(method, app.url(path))
        .bearer_auth(tok);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let s = r.status();
    (s, r.json().await.unwrap_or(Value::Null))
}

async fn contact(
    app: &TestApp,
    admin: &str,
    name: &str,
    mobile: Option<&str>,
    email: Option<&str>,
) -> String {
    let (s, v) = call(
        app,
        admin,
        reqwest::Method::POST,
        "/api/v1/notifications/contacts",
        Some(json!({"name": name, "mobile": mobile, "email": email})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    v["member"].as_str().unwrap().to_string()
}

async fn wait_state(app: &TestApp, tok: &str, id: i64, want: &str) -> Value {
    for _ in 0..100 {
        let (_, v) = call(
            app,
            tok,
            reqwest::Method::GET,
            &format!("/api/v1/notifications/messages/{id}"),
            None,
        )
        .await;
        if v["state"] == want {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("message {id} never reached {want}");
}

const T2_CONTEXT: &str = r#"{"system": "CRM", "fault_time": "2026-11-23 10:00", "symptom": "营业厅无法受理", "cause": "数据库锁等待",
  "impact_scope": "全省营业厅", "owner_org": "IT中心", "eta": "11:30", "owner_role": "升级值班A角"}"#;

/// NTF-09 (worked example 11, second half): a draft not yet reviewed by the fault-handling group leader is not
/// sent; the drafter cannot approve; after approval it reaches real SMTP, SMS-gateway and IM peers, each send
/// carrying its delivery key; approval and sending are in the audit trail and on the delivery log.
#[tokio::test]
async fn reviewed_notice_reaches_smtp_sms_and_im_peers_ntf_09_example_11() {
    let smtp = smtp_sink();
    let (http, hits) = http_sink().await;
    let app = spawn_with(channels(&http, smtp.port)).await;
    let admin = app.token_for("admin", &[]).await;
    let duty = app.token_for("esc-a", &[]).await;
    let lead = app.token_for("fault-lead", &[]).await;
    let a = contact(
        &app,
        &admin,
        "测试员甲",
        Some("138-0000-0001"),
        Some("jia@example.com"),
    )
    .await;
    let b = contact(&app, &admin, "测试员乙", Some("138-0000-0002"), None).await;
    let (s, v) = call(
        &app,
        &admin,
        reqwest::Method::PUT,
        "/api/v1/notifications/lists/class_c",
        Some(json!({"name": "C类名单", "members": [a, b, a.clone()], "version": 0})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["members"].as_array().unwrap().len(), 2);
    assert_eq!(
        v["members"][0]["mobile"], "138****0001",
        "contact details are masked"
    );

    // Business-type fault → class C only (NTF-03); plus the ops WeCom group.
    let draft = json!({"template": "t2_system_fault_notice", "context": serde_json::from_str::<Value>(T2_CONTEXT).unwrap(),
        "route": {"fault_kind": "business"}, "recipients": {"addresses": ["im:ops-wecom"]}, "channels": ["sms", "email"]});
    let (s, m) = call(
        &app,
        &duty,
        reqwest::Method::POST,
        "/api/v1/notifications/messages",
        Some(draft),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    assert_eq!(m["state"], "pending_review");
    let id = m["id"].as_i64().unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        hits.lock().unwrap().is_empty(),
        "an unreviewed draft must not be sent (NTF-09)"
    );
    assert!(mails(&smtp).is_empty());

    // The drafter may not approve; the group leader may.
    let (s, _) = call(
        &app,
        &duty,
        reqwest::Method::POST,
        &format!("/api/v1/notifications/messages/{id}/approve"),
        Some(json!({"version": m["version"]})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, v) = call(
        &app,
        &lead,
        reqwest::Method::POST,
        &format!("/api/v1/notifications/messages/{id}/approve"),
        Some(json!({"version": m["version"], "note": "同意发送"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["review_outcome"], "approved");

    let done = wait_state(&app, &lead, id, "sent").await;
    let ds = done["deliveries"].as_array().unwrap();
    let by = |ch: &str, st: &str| {
        ds.iter()
            .filter(|d| d["channel"] == ch && d["state"] == st)
            .count()
    };
    assert_eq!(
        (by("sms", "sent"), by("email", "sent"), by("im", "sent")),
        (2, 1, 1),
        "{ds:?}"
    );
    assert_eq!(
        by("email", "skipped"),
        1,
        "乙 has no e-mail: logged, not silently dropped"
    );
    let hits = hits.lock().unwrap().clone();
    let sms: Vec<&Hit> = hits.iter().filter(|h| h.path == "sms").collect();
    assert_eq!(sms.len(), 2);
    for h in &sms {
        assert!(
            h.body["text"]
                .as_str()
                .unwrap()
                .starts_with("CRM系统故障通知:故障时间:2026-11-23 10:00"),
            "{:?}",
            h.body
        );
        assert!(
            ds.iter().any(|d| d["delivery_key"] == h.key.as_str()),
            "sent with its delivery key"
        );
    }
    let wecom = hits.iter().find(|h| h.path == "wecom").unwrap();
    assert_eq!(wecom.body["msgtype"], "text");
    let mail = mails(&smtp);
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0]["to"], json!(["jia@example.com"]));
    assert_eq!(mail[0]["subject"], "CRM系统故障通知");
    let key = ds
        .iter()
        .find(|d| d["channel"] == "email" && d["state"] == "sent")
        .unwrap()["delivery_key"]
        .as_str()
        .unwrap();
    assert_eq!(
        mail[0]["message_id"],
        tianshu_services::notify::channels::message_id(key)
    );
    let audit = app.platform.store.audit_page(0, 1000, None).await.unwrap();
    assert!(audit
        .iter()
        .any(|e| e.action == "notification.approve" && e.object_id == id.to_string()));
    assert!(audit
        .iter()
        .any(|e| e.action == "notification.draft" && e.object_id == id.to_string()));
}

/// Bad input: a template text with a placeholder the template does not declare cannot be saved; a draft missing
/// a mandatory value is refused naming it (never an empty hole in an SMS, NTF-08); nothing is stored.
#[tokio::test]
async fn unknown_placeholders_and_missing_values_are_refused_ntf_08() {
    let app = super::sqlite_app().await;
    let admin = app.token_for("admin", &[]).await;
    let (_, t) = call(
        &app,
        &admin,
        reqwest::Method::GET,
        "/api/v1/notifications/templates/t1_fault_notice",
        None,
    )
    .await;
    let mut body = json!({"subject_zh": t["subject_zh"], "subject_en": t["subject_en"], "zh": t["zh"], "en": t["en"], "version": 0});
    body["zh"] = json!("{{ system }}故障通知:{{ sytem_name }}");
    let (s, p) = call(
        &app,
        &admin,
        reqwest::Method::PUT,
        "/api/v1/notifications/templates/t1_fault_notice",
        Some(body.clone()),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(p["field"], "zh");
    assert!(p["detail"].as_str().unwrap().contains("sytem_name"), "{p}");
    assert!(app
        .platform
        .store
        .template_overrides()
        .await
        .unwrap()
        .is_empty());
    // A valid edit is stored, versioned and used.
    body["zh"] = json!("【通知】{{ system }}故障通知:预计恢复{{ eta }}");
    let (s, v) = call(
        &app,
        &admin,
        reqwest::Method::PUT,
        "/api/v1/notifications/templates/t1_fault_notice",
        Some(body),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["version"], 1);
    let mut ctx: Value = serde_json::from_str(T2_CONTEXT).unwrap();
    let (s, r) = call(
        &app,
        &admin,
        reqwest::Method::POST,
        "/api/v1/notifications/templates/t1_fault_notice/preview",
        Some(json!({"context": ctx})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["body"], "【通知】CRM故障通知:预计恢复11:30");
    ctx.as_object_mut().unwrap().remove("cause");
    let (s, p) = call(&app, &admin, reqwest::Method::POST, "/api/v1/notifications/messages",
        Some(json!({"template": "t1_fault_notice", "context": ctx, "recipients": {"addresses": ["sms:13800000001"]}}))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(p["field"], "context.cause");
    let (s, p) = call(&app, &admin, reqwest::Method::POST, "/api/v1/notifications/messages",
        Some(json!({"template": "t1_fault_notice", "context": serde_json::from_str::<Value>(T2_CONTEXT).unwrap(),
                    "recipients": {"classes": ["Z"]}}))).await;
    assert_eq!(s.as_u16() / 100, 4, "{p}");
    assert_eq!(p["field"], "recipients.classes[0]");
    assert!(app
        .platform
        .store
        .messages_page(i64::MAX, 10, None, Some(("notification", "")))
        .await
        .unwrap()
        .is_empty());
}

/// Worked example 10 [NTF-10]: agent-portal lists of 20 (base), 6 (Guangzhou, 3 also on the base list) and 4
/// (Shenzhen) people → 23 unique recipients with Guangzhou, 24 with Shenzhen, 27 with both.
#[tokio::test]
async fn worked_example_10_regional_lists_are_deduplicated_per_person_ntf_10() {
    let (http, hits) = http_sink().await;
    let mut ch = channels(&http, 1);
    ch.smtp = None;
    let app = spawn_with(ch).await;
    let admin = app.token_for("admin", &[]).await;
    let mut people = Vec::new();
    for i in 0..27 {
        people.push(
            contact(
                &app,
                &admin,
                &format!("演示联系人{i}"),
                Some(&format!("138-0000-{i:04}")),
                None,
            )
            .await,
        );
    }
    let base: Vec<String> = people[0..20].to_vec();
    let gz: Vec<String> = people[17..23].to_vec(); // 17, 18, 19 are on the base list too
    let sz: Vec<String> = people[23..27].to_vec();
    for (key, members) in [
        ("agent_portal_base", base),
        ("agent_portal_guangzhou", gz),
        ("agent_portal_shenzhen", sz),
    ] {
        let (s, v) = call(
            &app,
            &admin,
            reqwest::Method::PUT,
            &format!("/api/v1/notifications/lists/{key}"),
            Some(json!({"name": key, "members": members, "version": 0})),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    for (regions, want) in [
        (vec!["guangzhou"], 23),
        (vec!["shenzhen"], 24),
        (vec!["guangzhou", "shenzhen"], 27),
    ] {
        // inc06 needs no review, so the routing alone decides who receives it.
        let (s, m) = call(&app, &admin, reqwest::Method::POST, "/api/v1/notifications/messages",
            Some(json!({"template": "inc06_progress_due", "channels": ["sms"],
                        "context": {"incident": "GZ-1", "title": "代理商门户故障", "rule": "NTF-10", "due_at": "12:00", "level": "FL1"},
                        "route": {"system": "agent-portal", "regions": regions}}))).await;
        assert_eq!(s, StatusCode::CREATED, "{m}");
        let v = wait_state(&app, &admin, m["id"].as_i64().unwrap(), "sent").await;
        let sent = v["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["state"] == "sent")
            .count();
        assert_eq!(sent, want, "{regions:?}");
    }
    // One SMS per person per message; the 3 people on two lists got one each time, not two.
    let hits = hits.lock().unwrap();
    assert_eq!(
        hits.iter().filter(|h| h.path == "sms").count(),
        23 + 24 + 27
    );
}
