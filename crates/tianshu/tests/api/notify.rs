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
use tianshu_core::{Clock, ManualClock};
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
    // The MON-09 sign-in reminder of the test day falls due at the tests' start (10:00) and would text every
    // duty officer through the very peers these tests count: mark the day's sign-in clocks as started already.
    app.platform
        .store
        .write(|c| {
            Box::pin(async move {
                tianshu_store::monitoring::open_signin_day(c, "2026-11-23", 0)
                    .await
                    .map(|_| ())
            })
        })
        .await
        .expect("sign-in day");
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
        log: false,
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

/// NTF outbox durability (issue 4, item 10): the server is killed (SIGKILL) while messages are being drafted
/// and delivered to a slow SMS gateway, then restarted. Every acknowledged message is delivered; no delivery
/// is created twice; every send the gateway saw carries a delivery key the outbox knows, so a re-send after
/// the kill (the one in flight when the process died) is recognisably the same delivery and dropped by the
/// receiver — nothing is lost and nothing reaches a person twice.
#[test]
fn acknowledged_messages_survive_kill_9_and_are_sent_once() {
    let dir = tempfile::tempdir().unwrap();
    let pack = tempfile::tempdir().unwrap();
    super::copy_default_pack(pack.path());
    // A short lease, so deliveries leased by the killed process are taken over within the test.
    let np = pack.path().join("notifications.toml");
    let text = std::fs::read_to_string(&np).unwrap();
    let short = text.replacen("lease = \"30s\"", "lease = \"2s\"", 1);
    assert!(
        short != text,
        "notifications.toml changed shape; update the test"
    );
    std::fs::write(&np, short).unwrap();

    let rt = tokio::runtime::Runtime::new().unwrap();
    // The gateway answers slowly, so the kill lands while sends are in flight.
    let hits: Hits = Arc::default();
    let gateway = {
        let hits = hits.clone();
        rt.block_on(async move {
            let app = axum::Router::new()
                .route(
                    "/{path}",
                    post(
                        |s: State<Hits>, p: Path<String>, h: HeaderMap, b: String| async move {
                            tokio::time::sleep(Duration::from_millis(15)).await;
                            sink(s, p, h, b).await
                        },
                    ),
                )
                .with_state(hits);
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let base = format!("http://{}", l.local_addr().unwrap());
            tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
            base
        })
    };
    let config = dir.path().join("tianshu.toml");
    std::fs::write(
        &config,
        format!(
            "[notify.sms]\nurl = \"{gateway}/sms\"\nbody_template = '{{\"mobile\": {{{{ mobile | tojson }}}}, \"text\": {{{{ text | tojson }}}}}}'\nsuccess_json_pointer = \"/code\"\nsuccess_json_value = \"0\"\n"
        ),
    )
    .unwrap();
    let server = super::ServeProcess::new(&[
        "--config".as_ref(),
        config.as_os_str(),
        "--data-dir".as_ref(),
        dir.path().as_os_str(),
        "--policy-dir".as_ref(),
        pack.path().as_os_str(),
    ]);
    let base = server.base();
    let mut child = server.start();
    let acknowledged: Vec<String> = rt.block_on(async {
        server.ready().await;
        let c = Client::builder().cookie_store(true).build().unwrap();
        let v: Value = c
            .post(format!("{base}/api/v1/session"))
            .json(&json!({"username": "admin", "password": "tianshu-demo"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let csrf = v["csrf_token"].as_str().unwrap().to_string();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let mut tasks = Vec::new();
        for w in 0..4 {
            let (c, csrf, base, tx) = (c.clone(), csrf.clone(), base.clone(), tx.clone());
            tasks.push(tokio::spawn(async move {
                for i in 0..2000 {
                    let key = format!("kill9-{w}-{i}");
                    let r = c
                        .post(format!("{base}/api/v1/notifications/messages"))
                        .header("x-csrf-token", &csrf)
                        .json(&json!({
                            "template": "inc06_progress_due",
                            "context": {"incident": format!("INC-{w}-{i}"), "title": "负载", "rule": "INC-06", "level": "FL2", "due_at": "12:00"},
                            // One address per message: no rate limit or digest interferes.
                            "recipients": {"addresses": [format!("sms:139{w:02}{i:06}")]},
                            "channels": ["sms"],
                            "idempotency_key": key,
                        }))
                        .send()
                        .await;
                    match r {
                        Ok(r) if r.status() == StatusCode::CREATED => {
                            let _ = tx.send(key);
                        }
                        _ => break, // the server is gone
                    }
                }
            }));
        }
        drop(tx);
        tokio::time::sleep(Duration::from_millis(2500)).await;
        child.kill().unwrap(); // SIGKILL while drafting and delivering
        for t in tasks {
            let _ = t.await;
        }
        let mut acked = Vec::new();
        while let Some(k) = rx.recv().await {
            acked.push(k);
        }
        acked
    });
    child.wait().unwrap();
    assert!(
        acknowledged.len() > 20,
        "load produced only {} messages",
        acknowledged.len()
    );

    let mut child = server.start();
    let cfg = tianshu_store::StoreConfig::sqlite_in(dir.path());
    // Wait until the restarted server has delivered everything (leases of the killed process expire first).
    rt.block_on(async {
        server.ready().await;
        for _ in 0..600 {
            let mut conn = super::pool_conn(&cfg).await;
            let open: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE template = 'inc06_progress_due' AND state <> 'sent'")
                .fetch_one(&mut conn)
                .await
                .unwrap();
            if open == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    child.kill().unwrap();
    child.wait().unwrap();
    rt.block_on(async {
        let mut conn = super::pool_conn(&cfg).await;
        let rows: Vec<(String, String)> = sqlx::query_as("SELECT idempotency_key, state FROM outbox WHERE template = 'inc06_progress_due'")
            .fetch_all(&mut conn)
            .await
            .unwrap();
        let states: std::collections::HashMap<String, String> = rows.into_iter().collect();
        for k in &acknowledged {
            // The outbox key of a draft is scoped to its drafter.
            let k = format!("draft:admin:{k}");
            assert_eq!(states.get(&k).map(String::as_str), Some("sent"), "acknowledged message {k} was not delivered");
        }
        let deliveries: Vec<(String, String)> = sqlx::query_as(
            "SELECT d.delivery_key, d.state FROM notify_deliveries d JOIN outbox o ON o.id = d.outbox_id WHERE o.template = 'inc06_progress_due'",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        // One delivery per message (one address, one channel): expansion after the restart created none twice.
        assert_eq!(deliveries.len(), states.len(), "deliveries were duplicated on expansion");
        assert!(deliveries.iter().all(|d| d.1 == "sent"));
        let known: std::collections::HashSet<&str> = deliveries.iter().map(|d| d.0.as_str()).collect();
        // The demo server also texts its duty officers (MON-09 sign-in reminders, demo alerts): every send must
        // be a recorded delivery, and the checks below look at this test's messages only.
        let recorded: std::collections::HashSet<String> =
            sqlx::query_scalar("SELECT delivery_key FROM notify_deliveries")
                .fetch_all(&mut conn)
                .await
                .unwrap()
                .into_iter()
                .collect();
        let hits = hits.lock().unwrap();
        assert!(
            hits.iter().all(|h| recorded.contains(&h.key) || h.key.starts_with("digest:")),
            "the gateway saw a send with an unknown key"
        );
        let ours: Vec<&Hit> = hits.iter().filter(|h| known.contains(h.key.as_str())).collect();
        let seen: std::collections::HashSet<&str> = ours.iter().map(|h| h.key.as_str()).collect();
        assert_eq!(seen.len(), known.len(), "every delivery reached the gateway");
        // Re-sends happen only for sends in flight at the kill (at most one worker batch) and carry the same key.
        let resent = ours.len() - seen.len();
        assert!(resent <= 200, "{resent} re-sends");
        eprintln!(
            "kill-9: {} acknowledged, {} delivered, {} re-sent with the same key",
            acknowledged.len(),
            known.len(),
            resent
        );
    });
}

/// A gateway whose answers are scripted: each request takes the next `(status, body)`; when the script is
/// used up it answers success.
type Script = Arc<Mutex<(Vec<Hit>, std::collections::VecDeque<(u16, String)>)>>;

async fn scripted_gateway(script: Vec<(u16, &str)>) -> (String, Script) {
    let state: Script = Arc::new(Mutex::new((
        Vec::new(),
        script
            .into_iter()
            .map(|(s, b)| (s, b.to_string()))
            .collect(),
    )));
    let app =
        axum::Router::new()
            .route(
                "/{path}",
                post(
                    |State(s): State<Script>,
                     Path(path): Path<String>,
                     h: HeaderMap,
                     body: String| async move {
                        let key = h
                            .get("idempotency-key")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_string();
                        let mut g = s.lock().unwrap();
                        g.0.push(Hit {
                            path,
                            key,
                            body: serde_json::from_str(&body).unwrap_or(Value::String(body)),
                        });
                        let (status, body) =
                            g.1.pop_front().unwrap_or((200, r#"{"code":"0"}"#.into()));
                        (axum::http::StatusCode::from_u16(status).unwrap(), body)
                    },
                ),
            )
            .with_state(state.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (base, state)
}

fn sms_only(http: &str) -> ChannelConfig {
    let mut c = channels(http, 1);
    c.smtp = None;
    c.im.clear();
    c
}

async fn send_progress_due(app: &TestApp, tok: &str, mobile: &str, n: usize) -> i64 {
    let (s, m) = call(
        app,
        tok,
        reqwest::Method::POST,
        "/api/v1/notifications/messages",
        Some(json!({"template": "inc06_progress_due",
            "context": {"incident": format!("INC-{n}"), "title": "测试", "rule": "INC-06", "level": "FL2", "due_at": "12:00"},
            "recipients": {"addresses": [format!("sms:{mobile}")]}, "channels": ["sms"]})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    m["id"].as_i64().unwrap()
}

/// Waits until `cond` holds on the message, ticking nothing: the worker runs on its own every 200 ms.
async fn wait_for(
    app: &TestApp,
    tok: &str,
    id: i64,
    what: &str,
    cond: impl Fn(&Value) -> bool,
) -> Value {
    for _ in 0..100 {
        let (_, v) = call(
            app,
            tok,
            reqwest::Method::GET,
            &format!("/api/v1/notifications/messages/{id}"),
            None,
        )
        .await;
        if cond(&v) {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("message {id}: {what} never happened");
}

/// Issue 4 item 10: a refused send (the gateway's success criterion not met, then a 503) is retried with
/// exponential backoff from the pack (`backoff_base`, doubling, plus at most `jitter_percent`), with the
/// same delivery key each time, until it succeeds.
#[tokio::test]
async fn refused_sends_are_retried_with_backoff_and_the_same_key() {
    let (http, gw) = scripted_gateway(vec![(200, r#"{"code":"17"}"#), (503, "busy")]).await;
    let app = spawn_with(sms_only(&http)).await;
    let admin = app.token_for("admin", &[]).await;
    let pol = app.platform.policy.current();
    let d = pol.pack.notifications.delivery.clone();
    let id = send_progress_due(&app, &admin, "13800000001", 1).await;
    // First attempt: HTTP 200 but `/code` is not "0" → not delivered; the error names the pointer.
    let v = wait_for(&app, &admin, id, "first attempt", |v| {
        v["deliveries"][0]["attempts"] == 1
    })
    .await;
    let del = &v["deliveries"][0];
    assert_eq!(del["state"], "pending");
    assert!(
        del["last_error"].as_str().unwrap().contains("/code = 17"),
        "{del}"
    );
    let base_us = d.backoff_base.seconds() * 1_000_000;
    let now_us = app.clock.now().timestamp_micros();
    let wait1 = del["next_attempt_at"].as_i64().unwrap() - now_us;
    let jitter = |w: i64| w * i64::from(d.jitter_percent) / 100;
    assert!(
        (base_us..=base_us + jitter(base_us)).contains(&wait1),
        "first backoff {wait1} µs"
    );
    // Not due yet: nothing more is sent while the clock stands still.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(gw.lock().unwrap().0.len(), 1);
    app.clock.advance(chrono::Duration::microseconds(wait1));
    let v = wait_for(&app, &admin, id, "second attempt", |v| {
        v["deliveries"][0]["attempts"] == 2
    })
    .await;
    let del = &v["deliveries"][0];
    assert!(del["last_error"].as_str().unwrap().contains("503"), "{del}");
    let wait2 = del["next_attempt_at"].as_i64().unwrap() - app.clock.now().timestamp_micros();
    assert!(
        (2 * base_us..=2 * base_us + jitter(2 * base_us)).contains(&wait2),
        "second backoff {wait2} µs doubles"
    );
    app.clock.advance(chrono::Duration::microseconds(wait2));
    let v = wait_for(&app, &admin, id, "sent", |v| v["state"] == "sent").await;
    assert_eq!(v["deliveries"][0]["attempts"], 3);
    let g = gw.lock().unwrap();
    assert_eq!(g.0.len(), 3);
    assert!(
        g.0.iter().all(|h| h.key == g.0[0].key && !h.key.is_empty()),
        "one delivery key across retries"
    );
    assert_eq!(g.0[0].body["mobile"], "13800000001");
}

/// Issue 4 item 10: after `max_attempts` failures the delivery is dead-lettered, the message fails, and one
/// alert (the pack's dead-letter template) goes to the dead-letter roles — once, not per attempt. A permanent
/// refusal (HTTP 400) dead-letters at once.
#[tokio::test]
async fn exhausted_retries_dead_letter_with_one_alert() {
    let (http, gw) = scripted_gateway(vec![(500, "down"); 50]).await;
    let app = spawn_with(sms_only(&http)).await;
    let admin = app.token_for("admin", &[]).await;
    let max = app
        .platform
        .policy
        .current()
        .pack
        .notifications
        .delivery
        .max_attempts;
    let id = send_progress_due(&app, &admin, "13800000002", 2).await;
    for attempt in 1..=max {
        let v = wait_for(&app, &admin, id, "an attempt", |v| {
            v["deliveries"][0]["attempts"].as_i64() == Some(i64::from(attempt))
        })
        .await;
        if attempt < max {
            assert_eq!(v["deliveries"][0]["state"], "pending");
            // Jump past the backoff (the cap at most).
            app.clock.advance(chrono::Duration::minutes(15));
        }
    }
    let v = wait_for(&app, &admin, id, "failed", |v| v["state"] == "failed").await;
    assert_eq!(v["deliveries"][0]["state"], "dead");
    assert_eq!(gw.lock().unwrap().0.len(), max as usize);
    let (_, list) = call(
        &app,
        &admin,
        reqwest::Method::GET,
        "/api/v1/notifications/messages?limit=200",
        None,
    )
    .await;
    let alerts: Vec<&Value> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["template"] == "ntf_dead_letter" && m["cause"] == format!("dead_letter:{id}"))
        .collect();
    assert_eq!(alerts.len(), 1, "exactly one dead-letter alert");
    let ctx: Value = serde_json::from_str(alerts[0]["context"].as_str().unwrap()).unwrap();
    assert_eq!(ctx["message_id"], id.to_string());
    assert!(
        ctx["error"].as_str().unwrap().contains("500")
            || !ctx["error"].as_str().unwrap().is_empty()
    );

    // A permanent refusal is not retried.
    let (http2, gw2) = scripted_gateway(vec![(400, "bad number")]).await;
    let app2 = spawn_with(sms_only(&http2)).await;
    let admin2 = app2.token_for("admin", &[]).await;
    let id2 = send_progress_due(&app2, &admin2, "13800000003", 3).await;
    let v = wait_for(&app2, &admin2, id2, "failed", |v| v["state"] == "failed").await;
    assert_eq!(v["deliveries"][0]["attempts"], 1);
    assert_eq!(gw2.lock().unwrap().0.len(), 1);
}

/// Issue 4 item 10: per recipient and channel at most `rate_limit` messages per `rate_window`; the burst beyond
/// is held and, when the window frees, bundled into ONE digest message (the pack's digest template).
#[tokio::test]
async fn a_burst_beyond_the_rate_limit_goes_out_as_one_digest() {
    let (http, gw) = scripted_gateway(vec![]).await;
    let app = spawn_with(sms_only(&http)).await;
    let admin = app.token_for("admin", &[]).await;
    let d = app
        .platform
        .policy
        .current()
        .pack
        .notifications
        .delivery
        .clone();
    let limit = d.rate_limit as usize;
    let burst = limit + 3;
    // Only this recipient's sends count: the demo's own alerts also send SMS through the same gateway.
    let to_me = |hits: &[Hit]| -> Vec<Hit> {
        hits.iter()
            .filter(|h| h.body["mobile"] == "13800000004")
            .cloned()
            .collect()
    };
    let mut ids = Vec::new();
    for n in 0..burst {
        ids.push(send_progress_due(&app, &admin, "13800000004", 100 + n).await);
    }
    // The first `limit` go out; the rest wait.
    for _ in 0..100 {
        if to_me(&gw.lock().unwrap().0).len() >= limit {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        to_me(&gw.lock().unwrap().0).len(),
        limit,
        "only rate_limit sends inside the window"
    );
    let held = wait_for(&app, &admin, ids[burst - 1], "held", |v| {
        v["deliveries"][0]["state"] == "held"
    })
    .await;
    assert_eq!(held["state"], "sending");
    app.clock
        .advance(chrono::Duration::seconds(d.rate_window.seconds() + 1));
    for id in &ids[limit..] {
        wait_for(&app, &admin, *id, "sent by digest", |v| {
            v["state"] == "sent"
        })
        .await;
    }
    let mine = to_me(&gw.lock().unwrap().0);
    assert_eq!(
        mine.len(),
        limit + 1,
        "one digest for the {} held messages",
        burst - limit
    );
    let digest = &mine[limit];
    assert!(digest.key.starts_with("digest:"), "{}", digest.key);
    let text = digest.body["text"].as_str().unwrap();
    for n in limit..burst {
        assert!(
            text.contains(&format!("INC-{}", 100 + n)),
            "digest lists every held message: {text}"
        );
    }
}

/// NTF-06 (worked example 11, first half) and NTF-07: a system-fault notice sent at 10:00 on a working day
/// makes a follow-up due at the end of that working afternoon (17:30); when it falls due a T3 draft with the
/// notice's recipients and facts waits for review (NTF-09); the next is due at 17:30 of the next working day;
/// once the recovery notice (T4) is drafted the follow-ups end, recorded on the ticket's timeline.
#[tokio::test]
async fn follow_ups_are_drafted_each_working_afternoon_until_recovery_ntf_06_07() {
    let (http, _gw) = scripted_gateway(vec![]).await;
    let app = spawn_with(sms_only(&http)).await;
    let admin = app.token_for("admin", &[]).await;
    let duty = app.token_for("esc-a", &[]).await;
    let lead = app.token_for("fault-lead", &[]).await;
    let pre = app.token_for("preproc", &[]).await;
    let inc = app.new_incident(&pre, json!({"affected_users": 620})).await;
    let incident_id = inc["id"].as_i64().unwrap();
    let draft = json!({"template": "t2_system_fault_notice", "context": serde_json::from_str::<Value>(T2_CONTEXT).unwrap(),
        "recipients": {"addresses": ["sms:13800000009"]}, "channels": ["sms"], "incident_id": incident_id});
    let (s, m) = call(
        &app,
        &duty,
        reqwest::Method::POST,
        "/api/v1/notifications/messages",
        Some(draft),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    let id = m["id"].as_i64().unwrap();
    let (s, v) = call(
        &app,
        &lead,
        reqwest::Method::POST,
        &format!("/api/v1/notifications/messages/{id}/approve"),
        Some(json!({"version": m["version"]})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    wait_state(&app, &lead, id, "sent").await;

    let follow_ups = |app: &TestApp| {
        let (app, admin) = (app.base.clone(), admin.clone());
        async move {
            let v: Value = Client::new()
                .get(format!(
                    "{app}/api/v1/incidents/{incident_id}/notifications"
                ))
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["items"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|m| m["template"] == "t3_follow_up")
                .cloned()
                .collect::<Vec<Value>>()
        }
    };
    // 2026-11-23 is a Monday; the clock stands at 10:00 Beijing time (02:00 UTC). 17:29: nothing yet.
    app.clock.advance(chrono::Duration::minutes(7 * 60 + 29));
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(follow_ups(&app).await.is_empty());
    app.clock.advance(chrono::Duration::minutes(2)); // 17:31
    let mut first = Vec::new();
    for _ in 0..50 {
        first = follow_ups(&app).await;
        if !first.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(first.len(), 1, "one follow-up drafted at 17:30");
    assert_eq!(
        first[0]["state"], "pending_review",
        "T3 is reviewed before sending (NTF-09)"
    );
    assert_eq!(
        first[0]["recipients"], m["recipients"],
        "the notice's recipients"
    );
    let ctx: Value = serde_json::from_str(first[0]["context"].as_str().unwrap()).unwrap();
    assert_eq!(ctx["system"], "CRM");

    // The recovery notice is drafted the next morning: the follow-up due at 17:30 Tuesday is not drafted.
    app.clock.advance(chrono::Duration::hours(16)); // Tuesday 09:31
    let recovery = json!({"template": "t4_recovery", "context": serde_json::from_str::<Value>(T2_CONTEXT).unwrap(),
        "recipients": {"addresses": ["sms:13800000009"]}, "channels": ["sms"], "incident_id": incident_id});
    let (s, r) = call(
        &app,
        &duty,
        reqwest::Method::POST,
        "/api/v1/notifications/messages",
        Some(recovery),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    app.clock.advance(chrono::Duration::hours(8)); // Tuesday 17:31
    let mut ended = false;
    for _ in 0..50 {
        let (_, tl) = call(
            &app,
            &admin,
            reqwest::Method::GET,
            &format!("/api/v1/incidents/{incident_id}/timeline"),
            None,
        )
        .await;
        let kinds: Vec<String> = tl["items"]
            .as_array()
            .or_else(|| tl["events"].as_array())
            .map(|a| {
                a.iter()
                    .map(|e| e["kind"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default();
        if kinds.iter().any(|k| k == "notification.follow_up_ended") {
            assert!(kinds.iter().any(|k| k == "notification.follow_up_due"));
            ended = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        ended,
        "the follow-ups end once the recovery notice is drafted"
    );
    assert_eq!(
        follow_ups(&app).await.len(),
        1,
        "no second follow-up after recovery"
    );
}
