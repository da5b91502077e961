//! Duty rosters over HTTP against the real server: today's and this week's roster, who is on duty now, bad
//! input named by field (422) or reference (400), overrides, swaps, reports, comp time, XLSX and ICS.

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use tianshu_testkit::backends;

use super::{problem, spawn, sqlite_app, TestApp};

async fn get(app: &TestApp, token: &str, path: &str) -> reqwest::Response {
    Client::new()
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
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

#[tokio::test]
async fn who_is_on_duty_now_on_both_backends() {
    for db in backends().await {
        // The demo clock: Monday 2026-11-23 09:00 Asia/Shanghai; the demo rotation covers this week.
        let app = spawn(db).await;
        let t = app.token_for("duty-sz-1", &[]).await;
        let r = get(&app, &t, "/api/v1/duty/on-duty").await;
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.unwrap();
        let people: Vec<&str> = v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["person"].as_str().unwrap())
            .collect();
        assert_eq!(people, ["duty-sz-1", "duty-hq-1"], "{v}");
        assert_eq!(v["items"][0]["name"], "沈一帆（演示）");
    }
}

#[tokio::test]
async fn duty_api_roster_changes_bad_input_and_exports() {
    let app = sqlite_app().await;
    let lead = app.token_for("fault-lead", &[]).await;
    let sz1 = app.token_for("duty-sz-1", &[]).await;

    let setup: Value = get(&app, &lead, "/api/v1/duty/setup")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(setup["shifts"][0]["start"], "08:30");
    assert_eq!(setup["comp_time_non_working_day"]["day"], 9.0);

    // Today: Shenzhen's pair and the HQ day person; this week: 7 × 3.
    let today: Value = get(&app, &lead, "/api/v1/duty/roster?range=today")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(today["items"].as_array().unwrap().len(), 3);
    let week: Value = get(&app, &lead, "/api/v1/duty/roster?range=week")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(week["items"].as_array().unwrap().len(), 21);
    assert_eq!(week["from"], "2026-11-23");
    let cov: Value = get(&app, &lead, "/api/v1/duty/coverage?range=week")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cov["items"].as_array().unwrap().len(), 0);

    // Journey 1: Thursday 19:42 → Foshan's evening person, for a CRM alert from Guangzhou.
    let r: Value = get(
        &app,
        &lead,
        "/api/v1/duty/on-duty?at=2026-11-26T11:42:00Z&system=crm&region=guangzhou&slot=central",
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(r["items"][0]["person"], "duty-fs-2", "{r}");

    // Bad input: 422 naming the field; unknown person / branch: 400 naming it.
    let (s, p) = problem(get(&app, &lead, "/api/v1/duty/on-duty?at=yesterday").await).await;
    assert_eq!(
        (s, p["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("at"))
    );
    let (s, p) = problem(
        get(
            &app,
            &lead,
            "/api/v1/duty/roster?from=2026-13-01&to=2026-12-01",
        )
        .await,
    )
    .await;
    assert_eq!(
        (s, p["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("from"))
    );
    let team = json!({"branches": {"atlantis": ["a", "b"]}, "hq": []});
    let (s, p) = problem(
        post(
            &app,
            &lead,
            "/api/v1/duty/roster/generate",
            json!({"from": "2026-12-07", "to": "2026-12-13", "team": team}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (s, p["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("team.branches.atlantis")),
        "{p}"
    );
    let thursday_evening = week["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["date"] == "2026-11-26" && a["shift"] == "evening")
        .unwrap()
        .clone();
    let id = thursday_evening["id"].as_i64().unwrap();
    let (s, p) = problem(
        post(
            &app,
            &lead,
            &format!("/api/v1/duty/assignments/{id}/override"),
            json!({"person": "ghost", "reason": "病假", "version": 1}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (s, p["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("person"))
    );
    // A duty officer may not override (403); the lead may; a stale version is 412.
    let r = post(
        &app,
        &sz1,
        &format!("/api/v1/duty/assignments/{id}/override"),
        json!({"person": "duty-fs-1", "reason": "病假", "version": 1}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = post(
        &app,
        &lead,
        &format!("/api/v1/duty/assignments/{id}/override"),
        json!({"person": "duty-fs-1", "reason": "病假", "version": 1}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r: Value = get(
        &app,
        &lead,
        "/api/v1/duty/on-duty?at=2026-11-26T11:42:00Z&slot=central",
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(r["items"][0]["person"], "duty-fs-1");
    let r = post(
        &app,
        &lead,
        &format!("/api/v1/duty/assignments/{id}/override"),
        json!({"person": "duty-fs-2", "reason": "x", "version": 1}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);

    // Swap: Shenzhen's day person gives Monday's day shift to Shenzhen's evening person; the lead approves.
    let monday_day = today["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["slot"] == "central" && a["shift"] == "day")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let r = post(
        &app,
        &sz1,
        "/api/v1/duty/swaps",
        json!({"assignment_id": monday_day, "counterpart": "duty-dg-1", "reason": "家中有事"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let s: Value = r.json().await.unwrap();
    let r = post(
        &app,
        &lead,
        &format!("/api/v1/duty/swaps/{}/approve", s["id"]),
        json!({"version": s["version"]}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let s: Value = r.json().await.unwrap();
    assert_eq!(s["state"], "approved");
    let list: Value = get(&app, &lead, "/api/v1/duty/swaps?state=approved")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);

    // Daily report: a missing required field is named.
    let hq_today = today["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["slot"] == "hq_day")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let hq = app.token_for("duty-hq-1", &[]).await;
    let (s, p) = problem(
        post(
            &app,
            &hq,
            "/api/v1/duty/reports",
            json!({"assignment_id": hq_today, "fields": {"monitoring_checked": true}}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (s, p["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("fields.anomalies"))
    );
    let r = post(&app, &hq, "/api/v1/duty/reports", json!({"assignment_id": hq_today, "fields": {
        "monitoring_checked": true, "anomalies": "无", "im_groups": "答复 2 条", "itsm_tickets": 1}})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = post(
        &app,
        &hq,
        "/api/v1/duty/handovers",
        json!({"date": "2026-11-23", "slot": "hq_day", "shift": "day", "note": "无遗留"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let h: Value = get(&app, &hq, "/api/v1/duty/handovers?range=today")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(h["items"][0]["note"], "无遗留");

    // Comp time (DUTY-05), XLSX exports and import refusal, ICS.
    let st: Value = get(
        &app,
        &lead,
        "/api/v1/duty/comp-time/duty-hz-1?month=2026-11",
    )
    .await
    .json()
    .await
    .unwrap();
    assert!(st["total_hours"].as_f64().unwrap() >= 9.0, "{st}");
    let (s, p) =
        problem(get(&app, &lead, "/api/v1/duty/comp-time/duty-hz-1?month=2026-1").await).await;
    assert_eq!(
        (s, p["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("month"))
    );
    let r = get(&app, &lead, "/api/v1/duty/comp-time.xlsx?month=2026-11").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("spreadsheetml"));
    let x = get(&app, &lead, "/api/v1/duty/roster.xlsx?range=week")
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(&x[..2], b"PK");
    let r = Client::new()
        .post(app.url("/api/v1/duty/roster/import"))
        .bearer_auth(&lead)
        .body(x.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (s, p) = problem(
        Client::new()
            .post(app.url("/api/v1/duty/roster/import?publish=true"))
            .bearer_auth(&lead)
            .body("not xlsx")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (s, p["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("file"))
    );
    let r = get(&app, &sz1, "/api/v1/duty/people/duty-sz-1/calendar.ics").await;
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/calendar"));
    assert!(r.text().await.unwrap().starts_with("BEGIN:VCALENDAR\r\n"));

    // "The duty officer now" as a message recipient: the slot must exist; resolved when the message is sent.
    let esc = app.token_for("esc-a", &[]).await;
    let ctx = json!({"person": "duty-sz-1", "date": "2026-11-23", "shift": "白班", "slot": "集中值班", "report_due": "18:00"});
    let (s, p) = problem(post(&app, &esc, "/api/v1/notifications/messages",
        json!({"template": "duty.report_missing", "context": ctx, "recipients": {"on_duty": [{"slot": "nope"}]}})).await).await;
    assert_eq!(
        (s, p["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("recipients.on_duty[0].slot")),
        "{p}"
    );
    let r = post(&app, &esc, "/api/v1/notifications/messages",
        json!({"template": "duty.report_missing", "context": ctx, "recipients": {"on_duty": [{"slot": "central", "region": "guangzhou"}]}})).await;
    assert_eq!(r.status(), StatusCode::CREATED);

    // Typed schemas in the OpenAPI document.
    let doc: Value = Client::new()
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let s = &doc["paths"]["/api/v1/duty/on-duty"]["get"]["responses"]["200"]["content"]
        ["application/json"]["schema"];
    assert_eq!(s["$ref"], "#/components/schemas/OnDutyList", "{s}");
    assert_eq!(
        doc["components"]["schemas"]["OnDutyList"]["properties"]["items"]["type"],
        "array"
    );
}

#[tokio::test]
async fn cli_duty_on_duty_week_export_import_and_comp_time() {
    // The server loaded the demo into its SQLite file; the CLI works on the same database.
    let app = sqlite_app().await;
    let url = app._db.config.url.clone();
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tianshu"))
            .arg("--database-url")
            .arg(&url)
            // The credentials key file lives in the data directory: a temporary one, not the crate's ./data.
            .arg("--data-dir")
            .arg(dir.path())
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = run(&[
        "duty",
        "--as",
        "fault-lead",
        "on-duty",
        "--at",
        "2026-11-26T11:42:00Z",
        "--slot",
        "central",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with("duty-fs-2\t"), "{out}");
    let (code, out, _) = run(&[
        "duty",
        "--as",
        "fault-lead",
        "comp-time",
        "--month",
        "2026-11",
        "--person",
        "duty-hz-1",
    ]);
    assert_eq!(code, Some(0));
    assert!(out.contains("duty-hz-1\t2026-11"), "{out}");
    let file = dir.path().join("roster.xlsx");
    let f = file.to_str().unwrap();
    let (code, _, err) = run(&[
        "duty",
        "--as",
        "fault-lead",
        "export",
        f,
        "--from",
        "2026-11-23",
        "--to",
        "2026-11-29",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let (code, out, err) = run(&["duty", "--as", "fault-lead", "import", f]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("checked: 21 assignments"), "{out}");
    let (code, _, err) = run(&["duty", "--as", "duty-sz-1", "import", f, "--publish"]);
    assert_ne!(code, Some(0));
    assert!(err.contains("duty.manage"), "{err}");
}

/// A console session of `user`: a cookie client that does not follow redirects, and its CSRF token.
async fn console(app: &TestApp, user: &str) -> (Client, String) {
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
    (c, v["csrf_token"].as_str().unwrap().to_string())
}

async fn page(app: &TestApp, c: &Client, path: &str) -> (StatusCode, String) {
    let r = c.get(app.url(path)).send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

/// Posts a console form; returns the status, the Location header and the page.
async fn form(
    app: &TestApp,
    c: &Client,
    path: &str,
    f: &[(&str, &str)],
) -> (StatusCode, String, String) {
    let r = c.post(app.url(path)).form(f).send().await.unwrap();
    let loc = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (r.status(), loc, r.text().await.unwrap())
}

/// The `data-assignment` id of the report card of `date` on the duty page.
fn report_card(page: &str, date: &str) -> String {
    let needle = format!("\" data-date=\"{date}\" data-state=\"");
    let i = page
        .find(&needle)
        .unwrap_or_else(|| panic!("no report card of {date}: {page}"));
    let head = &page[..i];
    head[head.rfind("data-assignment=\"").unwrap() + 17..].to_string()
}

#[tokio::test]
async fn the_duty_page_files_the_daily_report_and_hand_over_notes_duty_06() {
    // Monday 2026-11-23 09:00: the HQ day duty has begun.
    let app = sqlite_app().await;
    let (c, csrf) = console(&app, "duty-hq-1").await;
    let (s, p) = page(&app, &c, "/duty").await;
    assert_eq!(s, StatusCode::OK);
    let id = report_card(&p, "2026-11-23");
    assert!(p.contains(&format!(
        "data-assignment=\"{id}\" data-date=\"2026-11-23\" data-state=\"open\""
    )));
    // The form has the fields duty.toml defines, required ones marked.
    for f in [
        "monitoring_checked",
        "anomalies",
        "im_groups",
        "major_faults",
        "itsm_tickets",
        "remarks",
    ] {
        assert!(p.contains(&format!("name=\"f_{f}\"")), "{f}");
    }
    assert!(p.contains("异常及处理情况 *</label>"), "{p}");
    assert!(p.contains("备注</label>"));
    let filled = |anomalies: &'static str, tickets: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("assignment_id", id.clone()),
            ("f_monitoring_checked", "true".to_string()),
            ("f_anomalies", anomalies.to_string()),
            ("f_im_groups", "答复 2 条".to_string()),
            ("f_major_faults", String::new()),
            ("f_itsm_tickets", tickets.to_string()),
            ("f_remarks", String::new()),
        ]
    };
    let send = |f: &Vec<(&'static str, String)>| {
        f.iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect::<Vec<(&str, String)>>()
    };
    let post_report = |f: Vec<(&'static str, String)>| {
        let c = c.clone();
        let url = app.url("/duty/report");
        async move {
            let r = c.post(url).form(&send(&f)).send().await.unwrap();
            let loc = r
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            (r.status(), loc, r.text().await.unwrap())
        }
    };
    let lead = app.token_for("fault-lead", &[]).await;
    let stored = || async {
        get(&app, &lead, "/api/v1/duty/reports?range=today")
            .await
            .json::<Value>()
            .await
            .unwrap()["items"]
            .as_array()
            .unwrap()
            .len()
    };
    // A required field left empty: 422 naming it, what was typed kept, nothing saved.
    let (s, _, body) = post_report(filled(" ", "1")).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("data-field=\"anomalies\""), "{body}");
    assert!(body.contains("答复 2 条"));
    // Not a whole number: named too.
    let (s, _, body) = post_report(filled("无", "两张")).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("data-field=\"itsm_tickets\""), "{body}");
    // Without the CSRF token: refused.
    let mut no_csrf = filled("无", "1");
    no_csrf.remove(0);
    let (s, _, _) = post_report(no_csrf).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(stored().await, 0);

    // Filed: shown read-only afterwards; a second filing is refused.
    let (s, loc, _) = post_report(filled("无异常", "3")).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert!(loc.starts_with(&format!("/duty?filed={id}")), "{loc}");
    assert_eq!(stored().await, 1);
    let (_, p) = page(&app, &c, &loc).await;
    assert!(p.contains("id=\"flash\""));
    assert!(p.contains(&format!(
        "data-assignment=\"{id}\" data-date=\"2026-11-23\" data-state=\"filed\""
    )));
    assert!(!p.contains("report-form\" data-date=\"2026-11-23\""), "{p}");
    assert!(p.contains("<tr data-field=\"itsm_tickets\"><th scope=\"row\">ITSM故障单处理数</th><td>3</td></tr>"), "{p}");
    assert!(p.contains("<td>是</td>") && p.contains("无异常"));
    let (s, _, _) = post_report(filled("无异常", "3")).await;
    assert_eq!(s, StatusCode::CONFLICT);

    // Hand-over note to the next shift: an empty note is named; then listed.
    let duty = "2026-11-23|hq_day|day";
    let (s, _, body) = form(
        &app,
        &c,
        "/duty/handover",
        &[("csrf", &csrf), ("duty", duty), ("note", " ")],
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("data-field=\"note\""), "{body}");
    let (s, loc, _) = form(
        &app,
        &c,
        "/duty/handover",
        &[
            ("csrf", &csrf),
            ("duty", duty),
            ("note", "CRM 告警已关闭,无遗留"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{loc}");
    let (_, p) = page(&app, &c, "/duty").await;
    assert!(p.contains("id=\"handover-notes\""));
    assert!(p.contains("CRM 告警已关闭,无遗留"));
    assert!(p.contains("本部白班 · 白班 → 晚班"), "{p}");
    // A duty that is not one's own is refused naming it (a duty officer is no duty manager).
    let (s, _, _) = form(
        &app,
        &c,
        "/duty/handover",
        &[
            ("csrf", &csrf),
            ("duty", "2026-11-23|central|evening"),
            ("note", "x"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Tuesday: Shenzhen's day officer sees Monday's report as missing, with its form.
    app.clock
        .set(chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 11, 24, 1, 0, 0).unwrap());
    let (c2, csrf2) = console(&app, "duty-sz-1").await;
    let (_, p) = page(&app, &c2, "/duty").await;
    let monday = report_card(&p, "2026-11-23");
    assert!(
        p.contains(&format!(
            "data-assignment=\"{monday}\" data-date=\"2026-11-23\" data-state=\"missing\""
        )),
        "{p}"
    );
    assert!(p.contains("class=\"form report-form\" data-date=\"2026-11-23\""));
    assert!(p.contains("id=\"handover-none\""), "not on duty on Tuesday");
    // Filed late: shown as filed that day.
    let (s, loc, _) = form(
        &app,
        &c2,
        "/duty/report",
        &[
            ("csrf", &csrf2),
            ("assignment_id", &monday),
            ("f_monitoring_checked", "false"),
            ("f_anomalies", "无"),
            ("f_im_groups", "无"),
            ("f_itsm_tickets", "0"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, p) = page(&app, &c2, &loc).await;
    assert!(
        p.contains(&format!(
            "data-assignment=\"{monday}\" data-date=\"2026-11-23\" data-state=\"filed\""
        )),
        "{p}"
    );
    assert!(p.contains("<td>否</td>"));
}
