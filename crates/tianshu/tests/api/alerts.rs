//! Monitoring intake over HTTP against the real server (issue 5; MON-04, MON-06): the generic events API with
//! PagerDuty Events v2 semantics, malformed payloads refused with the field named and nothing stored, silences,
//! acknowledge / resolve by users, and a real Prometheus Alertmanager posting its webhooks to Tianshu.

use std::time::Duration;

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

use tianshu_testkit::backends;

use super::{problem, spawn, sqlite_app, TestApp};

async fn get(app: &TestApp, token: &str, path: &str) -> Value {
    let r = Client::new()
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    r.json().await.unwrap()
}

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> reqwest::Response {
    Client::new()
        .post(app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn trigger(key: &str, system: &str, severity: &str) -> Value {
    json!({"event_action": "trigger", "dedup_key": key, "payload": {
        "summary": "订单接口成功率低于阈值", "source": "probe-7", "severity": severity,
        "component": system, "group": "guangzhou", "class": "OrderApiSuccessLow"}})
}

/// Outbox messages the routing queued for an alert, read from the database the server writes (the delivery
/// worker's own dead-letter alerts left out: the test server has no channels, so nothing can be delivered).
async fn outbox_templates(app: &TestApp, alert_id: i64) -> Vec<String> {
    use tianshu_store::on_conn;
    app.platform
        .store
        .write(move |c| {
            Box::pin(async move {
                Ok(on_conn!(c, c => sqlx::query_scalar::<_, String>(
                    "SELECT template FROM outbox WHERE subject_kind = 'alert' AND subject_id = $1 AND template <> 'ntf_dead_letter' ORDER BY id")
                    .bind(alert_id.to_string()).fetch_all(&mut **c).await)?)
            })
        })
        .await
        .unwrap()
}

/// The same event sent concurrently is one alert on both backends (unique dedup key; the row is locked on
/// PostgreSQL while its event is applied).
#[tokio::test]
async fn concurrent_identical_events_are_one_alert_on_both_backends() {
    for db in backends().await {
        let app = spawn(db).await;
        let t = app.token_for("admin", &[]).await;
        let mut handles = Vec::new();
        for _ in 0..8 {
            let url = app.url("/api/v1/alerts/events");
            let t = t.clone();
            handles.push(tokio::spawn(async move {
                Client::new()
                    .post(url)
                    .bearer_auth(t)
                    .json(&trigger("same-1", "crm", "warning"))
                    .send()
                    .await
                    .unwrap()
                    .status()
            }));
        }
        for h in handles {
            assert_eq!(h.await.unwrap(), StatusCode::ACCEPTED);
        }
        let page = get(&app, &t, "/api/v1/alerts").await;
        let items = page["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{page}");
        assert_eq!(items[0]["event_count"], 8, "{page}");
        assert_eq!(items[0]["fire_count"], 1, "{page}");
    }
}

/// MON-06: a severe event is one alert however often it is sent, routed to the deputy director and the duty
/// officer through the outbox, acknowledged and resolved by dedup key; the recovery is notified too.
#[tokio::test]
async fn events_api_dedups_routes_acknowledges_and_resolves_mon_06() {
    let app = sqlite_app().await;
    let t = app.token_for("admin", &[]).await;
    for _ in 0..2 {
        let r = post(
            &app,
            &t,
            "/api/v1/alerts/events",
            trigger("crm-order-1", "crm", "critical"),
        )
        .await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["dedup_key"], "crm-order-1");
    }
    let page = get(&app, &t, "/api/v1/alerts?system=crm").await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{page}");
    let a = &items[0];
    assert_eq!(
        (a["state"].as_str(), a["event_count"].as_i64()),
        (Some("firing"), Some(2))
    );
    assert_eq!(a["routes"], json!(["severe"]));
    let id = a["id"].as_i64().unwrap();
    assert_eq!(outbox_templates(&app, id).await, ["mon_alert_severe"]);

    let r = post(
        &app,
        &t,
        "/api/v1/alerts/events",
        json!({"event_action": "acknowledge", "dedup_key": "crm-order-1"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let r = post(
        &app,
        &t,
        "/api/v1/alerts/events",
        json!({"event_action": "resolve", "dedup_key": "crm-order-1"}),
    )
    .await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["outcome"]["result"], "resolved");
    let view = get(&app, &t, &format!("/api/v1/alerts/{id}")).await;
    let kinds: Vec<&str> = view["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "fired",
            "notified",
            "ticket_opened",
            "repeated",
            "acknowledged",
            "resolved"
        ],
        "{view}"
    );
    assert_eq!(
        outbox_templates(&app, id).await,
        ["mon_alert_severe", "mon_alert_resolved"]
    );

    // MON-06: a general alarm goes to the maintainers' route only.
    post(
        &app,
        &t,
        "/api/v1/alerts/events",
        trigger("billing-1", "billing", "warning"),
    )
    .await;
    let page = get(&app, &t, "/api/v1/alerts?system=billing").await;
    assert_eq!(page["items"][0]["routes"], json!(["general"]));

    // Acknowledging a resolved alert for an unknown key changes nothing.
    let r = post(
        &app,
        &t,
        "/api/v1/alerts/events",
        json!({"event_action": "acknowledge", "dedup_key": "nope"}),
    )
    .await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["outcome"]["result"], "ignored");
    let text = Client::new()
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("tianshu_alerts_received_total"), "metrics");
}

#[tokio::test]
async fn malformed_payloads_are_400_naming_the_field_and_store_nothing() {
    let app = sqlite_app().await;
    let t = app.token_for("admin", &[]).await;
    let cases = [
        (
            json!({"version": "4", "status": "firing", "alerts": [{"status": "firing", "labels": {"alertname": "X"}, "startsAt": "yesterday"}]}),
            "alerts[0].startsAt",
        ),
        (
            json!({"version": "4", "status": "firing", "alerts": [{"status": "firing", "labels": {"alertname": 5}, "startsAt": "2026-11-23T09:00:00+08:00"}]}),
            "alerts[0].labels.alertname",
        ),
        (
            json!({"version": "4", "status": "firing", "alerts": [{"status": "weird", "labels": {}, "startsAt": "2026-11-23T09:00:00+08:00"}]}),
            "alerts[0].status",
        ),
        (json!({"version": "4", "status": "firing"}), "alerts"),
    ];
    for (body, field) in cases {
        let (status, p) = problem(post(&app, &t, "/api/v1/alerts/alertmanager", body).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{p}");
        assert_eq!(p["field"], field, "{p}");
    }
    let (status, p) = problem(
        post(
            &app,
            &t,
            "/api/v1/alerts/events",
            json!({"event_action": "explode"}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, p["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("event_action"))
    );
    let page = get(&app, &t, "/api/v1/alerts").await;
    assert!(page["items"].as_array().unwrap().is_empty(), "{page}");
    // No token: 401.
    let r = Client::new()
        .post(app.url("/api/v1/alerts/events"))
        .json(&trigger("k", "crm", "info"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn silences_mute_matching_alerts_until_expired_and_users_act_with_versions() {
    let app = sqlite_app().await;
    let t = app.token_for("admin", &[]).await;
    // The demo clock stands at 2026-11-23 09:00 +08:00.
    let r = post(
        &app,
        &t,
        "/api/v1/alerts/silences",
        json!({"matchers": ["system=billing", "severity=~warning|info"],
        "ends_at": "2026-11-23T12:00:00+08:00", "reason": "计费割接(演示)"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let s: Value = r.json().await.unwrap();
    assert_eq!(s["active"], true);
    let (status, p) = problem(
        post(
            &app,
            &t,
            "/api/v1/alerts/silences",
            json!({"matchers": ["system=~("],
        "ends_at": "2026-11-23T12:00:00+08:00", "reason": "x"}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, p["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("matchers[0]"))
    );
    let (status, p) = problem(
        post(
            &app,
            &t,
            "/api/v1/alerts/silences",
            json!({"matchers": ["system=crm"],
        "ends_at": "2026-12-23T12:00:00+08:00", "reason": "x"}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, p["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("ends_at"))
    );

    let v: Value = post(
        &app,
        &t,
        "/api/v1/alerts/events",
        trigger("bill-1", "billing", "warning"),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(v["outcome"]["suppressed"], "silenced", "{v}");
    let id = v["outcome"]["alert_id"].as_i64().unwrap();
    assert!(outbox_templates(&app, id).await.is_empty());
    // A critical billing alert does not match the silence.
    let v: Value = post(
        &app,
        &t,
        "/api/v1/alerts/events",
        trigger("bill-2", "billing", "critical"),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(v["outcome"]["routes"], json!(["severe"]), "{v}");

    let r = post(
        &app,
        &t,
        &format!("/api/v1/alerts/silences/{}/expire", s["id"]),
        json!({"version": s["version"]}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let list = get(&app, &t, "/api/v1/alerts/silences").await;
    assert_eq!(list["items"][0]["active"], false);

    // Users acknowledge then resolve with the version read; a stale version is refused.
    let a = get(&app, &t, &format!("/api/v1/alerts/{id}")).await;
    let v0 = a["alert"]["version"].clone();
    let r = post(
        &app,
        &t,
        &format!("/api/v1/alerts/{id}/acknowledge"),
        json!({"version": v0, "note": "处理中"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let a: Value = r.json().await.unwrap();
    assert_eq!(a["alert"]["state"], "acknowledged");
    let (status, _) = problem(
        post(
            &app,
            &t,
            &format!("/api/v1/alerts/{id}/resolve"),
            json!({"version": v0}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    let r = post(
        &app,
        &t,
        &format!("/api/v1/alerts/{id}/resolve"),
        json!({"version": a["alert"]["version"]}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let (status, _) = problem(
        post(
            &app,
            &t,
            &format!("/api/v1/alerts/{id}/explode"),
            json!({"version": 1}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // A maintenance window holds back a matching alert's notification.
    let r = post(
        &app,
        &t,
        "/api/v1/alerts/maintenance",
        json!({"name": "CRM 升级(演示)", "matchers": ["system=crm"],
        "ends_at": "2026-11-23T11:00:00+08:00", "reason": "版本升级"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: Value = post(
        &app,
        &t,
        "/api/v1/alerts/events",
        trigger("crm-9", "crm", "critical"),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(v["outcome"]["suppressed"], "maintenance", "{v}");
}

fn alertmanager_bin() -> Option<String> {
    if let Ok(b) = std::env::var("TIANSHU_ALERTMANAGER_BIN") {
        return Some(b);
    }
    [
        "/usr/bin/prometheus-alertmanager",
        "/usr/local/bin/alertmanager",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists())
    .map(str::to_string)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_for<F: std::future::Future<Output = bool>>(what: &str, mut f: impl FnMut() -> F) {
    for _ in 0..120 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("timed out waiting for {what}");
}

/// A real Prometheus Alertmanager (clustering off, 1 s group waits) posts its webhook to Tianshu: two alerts of
/// one group arrive as two alerts, repeats are deduplicated, and a resolve flows through.
#[tokio::test]
async fn a_real_alertmanager_posts_to_tianshu() {
    let Some(bin) = alertmanager_bin() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI needs prometheus-alertmanager"
        );
        println!("SKIP alertmanager (not installed; scripts/test.sh installs it)");
        return;
    };
    let app = sqlite_app().await;
    let t = app.token_for("admin", &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = format!(
        r#"route:
  receiver: tianshu
  group_by: ['alertname']
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: tianshu
    webhook_configs:
      - url: {}/api/v1/alerts/alertmanager
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: {t}
"#,
        app.url("")
    );
    let cfg = dir.path().join("alertmanager.yml");
    std::fs::write(&cfg, config).unwrap();
    let _am = Child(
        std::process::Command::new(&bin)
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("alertmanager starts"),
    );
    let am = format!("http://127.0.0.1:{port}");
    wait_for("alertmanager ready", || async {
        Client::new()
            .get(format!("{am}/-/ready"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await;
    let alert = |instance: &str, ends: Option<&str>| {
        let mut a = json!({"labels": {"alertname": "CrmLoginSlow", "system": "crm", "severity": "critical",
            "region": "guangzhou", "instance": instance}, "annotations": {"summary": "CRM 登录缓慢(演示)"}});
        if let Some(e) = ends {
            a["endsAt"] = json!(e);
        }
        a
    };
    for _ in 0..2 {
        let r = Client::new()
            .post(format!("{am}/api/v2/alerts"))
            .json(&json!([alert("crm-a", None), alert("crm-b", None)]))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
    }
    wait_for("two alerts stored", || async {
        get(&app, &t, "/api/v1/alerts?system=crm").await["items"]
            .as_array()
            .is_some_and(|i| i.len() == 2)
    })
    .await;
    let page = get(&app, &t, "/api/v1/alerts?system=crm").await;
    for a in page["items"].as_array().unwrap() {
        assert_eq!(a["source"], "alertmanager");
        assert_eq!(a["state"], "firing");
    }
    // MON-04 grouping: the second alert of the group joins the first one's notification.
    let suppressed: Vec<&Value> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["suppressed"])
        .collect();
    assert!(
        suppressed.contains(&&json!("grouped")) || suppressed.iter().all(|s| s.is_null()),
        "{page}"
    );
    assert!(
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["routes"] == json!(["severe"])),
        "{page}"
    );

    // Resolve one: Alertmanager sends it as resolved.
    let past = (chrono::Utc::now() - chrono::Duration::seconds(1)).to_rfc3339();
    let r = Client::new()
        .post(format!("{am}/api/v2/alerts"))
        .json(&json!([alert("crm-a", Some(&past))]))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    wait_for("the resolve", || async {
        get(&app, &t, "/api/v1/alerts?state=resolved").await["items"]
            .as_array()
            .is_some_and(|i| i.len() == 1)
    })
    .await;
    let page = get(&app, &t, "/api/v1/alerts").await;
    assert_eq!(
        page["items"].as_array().unwrap().len(),
        2,
        "still two alerts: {page}"
    );
}

/// Console: /alerts lists firing alerts first (Chinese by default), the alert page shows the history and
/// acknowledges with the version read; the nav links to it.
#[tokio::test]
async fn console_lists_alerts_firing_first_and_acknowledges_from_the_alert_page() {
    let app = sqlite_app().await;
    let t = app.token_for("admin", &[]).await;
    post(
        &app,
        &t,
        "/api/v1/alerts/events",
        trigger("c-1", "crm", "critical"),
    )
    .await;
    post(
        &app,
        &t,
        "/api/v1/alerts/events",
        trigger("c-2", "crm", "warning"),
    )
    .await;
    post(
        &app,
        &t,
        "/api/v1/alerts/events",
        json!({"event_action": "resolve", "dedup_key": "c-2"}),
    )
    .await;
    let c = Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = c
        .post(app.url("/api/v1/session"))
        .json(&json!({"username": "admin", "password": "tianshu-demo"}))
        .send()
        .await
        .unwrap();
    let csrf = r.json::<Value>().await.unwrap()["csrf_token"]
        .as_str()
        .unwrap()
        .to_string();
    let page = c
        .get(app.url("/alerts"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("href=\"/alerts\""), "nav entry");
    let firing = page.find("data-state=\"firing\"").expect("a firing row");
    let resolved = page
        .find("data-state=\"resolved\"")
        .expect("a resolved row");
    assert!(firing < resolved, "firing first");
    assert!(page.contains("告警中"), "zh-CN labels");
    let list = get(&app, &t, "/api/v1/alerts?state=firing").await;
    let id = list["items"][0]["id"].as_i64().unwrap();
    let version = list["items"][0]["version"].to_string();
    let detail = c
        .get(app.url(&format!("/alerts/{id}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        detail.contains("id=\"ack-form\"") && detail.contains("触发"),
        "{detail}"
    );
    let r = c
        .post(app.url(&format!("/alerts/{id}/act")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("version", version.as_str()),
            ("action", "acknowledge"),
            ("note", "已联系值班(演示)"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let a = get(&app, &t, &format!("/api/v1/alerts/{id}")).await;
    assert_eq!(a["alert"]["state"], "acknowledged");
    // The same (now stale) version again: refused on the page, nothing changed.
    let r = c
        .post(app.url(&format!("/alerts/{id}/act")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("version", version.as_str()),
            ("action", "resolve"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
}

/// MON-06 / issue 5: a severe alert opens a ticket through the incident service (source channel
/// monitoring_alert); the next severe alert of the same system is attached to that open ticket.
#[tokio::test]
async fn severe_alerts_open_a_ticket_and_attach_to_the_open_one() {
    let app = sqlite_app().await;
    let t = app.token_for("admin", &[]).await;
    let mut first = trigger("crm-t1", "crm", "critical");
    first["payload"]["class"] = json!("CrmLoginDown");
    let v: Value = post(&app, &t, "/api/v1/alerts/events", first)
        .await
        .json()
        .await
        .unwrap();
    let incident = v["outcome"]["incident_id"]
        .as_i64()
        .unwrap_or_else(|| panic!("{v}"));
    let inc = get(&app, &t, &format!("/api/v1/incidents/{incident}")).await;
    assert_eq!(inc["source_channel"], "monitoring_alert", "{inc}");
    let v: Value = post(
        &app,
        &t,
        "/api/v1/alerts/events",
        trigger("crm-t2", "crm", "critical"),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(v["outcome"]["incident_id"].as_i64(), Some(incident), "{v}");
    let a = get(
        &app,
        &t,
        &format!("/api/v1/alerts/{}", v["outcome"]["alert_id"]),
    )
    .await;
    assert!(
        a["history"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["kind"] == "ticket_attached"),
        "{a}"
    );
    // A general alarm opens nothing.
    let v: Value = post(
        &app,
        &t,
        "/api/v1/alerts/events",
        trigger("crm-t3", "crm", "warning"),
    )
    .await
    .json()
    .await
    .unwrap();
    assert!(v["outcome"]["incident_id"].is_null(), "{v}");
}
