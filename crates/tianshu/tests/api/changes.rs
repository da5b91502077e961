//! Releases, cut-overs and requirements over HTTP against the real server (issue 7): planning refused with the
//! rule and field, the go / no-go decision (CHG-04) with the CHG-07 checklist, verification after the start,
//! a cut-over applied too late (CHG-16) and the requirement list. app.clock: Monday 2026-11-23 09:00 local.

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

use super::{problem, spawn, sqlite_app, TestApp};

async fn call(
    app: &TestApp,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let c = Client::new();
    let b = match method {
        "GET" => c.get(app.url(path)),
        _ => c.post(app.url(path)),
    };
    let b = b.bearer_auth(token);
    match body {
        Some(v) => b.json(&v),
        None => b,
    }
    .send()
    .await
    .unwrap()
}

async fn ok(r: reqwest::Response, want: StatusCode) -> Value {
    let s = r.status();
    let v: Value = r.json().await.unwrap();
    assert_eq!(s, want, "{v}");
    v
}

#[tokio::test]
async fn release_decision_verification_and_cutover_lead_time_over_http_chg_04_chg_07_chg_16() {
    let app = sqlite_app().await;
    let dba = app
        .token_for("dba", &["change.read", "change.request"])
        .await;
    let mgr = app
        .token_for("room-mgr", &["change.read", "change.approve"])
        .await;
    // A gate in the past: an upgrade on Wednesday 11-25 needed its tests done by Friday 11-20.
    let (s, p) = problem(
        call(
            &app,
            &dba,
            "POST",
            "/api/v1/releases",
            Some(json!({"title": "CRM 版本", "kind": "routine",
            "system_family": "crm", "date": "2026-11-25"})),
        )
        .await,
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["field"], "date");
    assert!(p.to_string().contains("CHG-03"), "{p}");
    let r = ok(
        call(
            &app,
            &dba,
            "POST",
            "/api/v1/releases",
            Some(json!({"title": "CRM 版本", "kind": "routine",
            "system_family": "crm", "date": "2026-12-10"})),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let id = r["id"].as_i64().unwrap();
    let path = format!("/api/v1/releases/{id}");
    let d = ok(call(&app, &dba, "GET", &path, None).await, StatusCode::OK).await;
    assert_eq!(d["release"]["state"], "planned");
    assert_eq!(d["release"]["gates"].as_array().unwrap().len(), 3);
    // The requester role cannot decide; a no-go needs a reason.
    let (s, _) = problem(
        call(
            &app,
            &dba,
            "POST",
            &format!("{path}/decision"),
            Some(json!({"decision": "go", "version": 1})),
        )
        .await,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, p) = problem(
        call(
            &app,
            &mgr,
            "POST",
            &format!("{path}/decision"),
            Some(json!({"decision": "no_go", "version": 1})),
        )
        .await,
    )
    .await;
    assert_eq!(
        (s, p["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("note"))
    );
    // CHG-05 / CHG-12: no go before the vendor's deliverables and training are recorded.
    let (s, p) = problem(
        call(
            &app,
            &mgr,
            "POST",
            &format!("{path}/decision"),
            Some(json!({"decision": "go", "version": 1})),
        )
        .await,
    )
    .await;
    assert_eq!(
        (s, p["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("decision"))
    );
    assert!(p.to_string().contains("CHG-05"), "{p}");
    let (s, p) = problem(
        call(
            &app,
            &dba,
            "POST",
            &format!("{path}/prerequisites"),
            Some(json!({"key": "vendor_training", "reference": "新版本操作培训（厂商讲师）"})),
        )
        .await,
    )
    .await;
    assert_eq!(
        (s, p["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("held_at"))
    );
    assert!(p.to_string().contains("CHG-12"), "{p}");
    for body in [
        json!({"key": "change_description", "reference": "CRM-2026-12 变更说明 v1.2"}),
        json!({"key": "factory_test_report", "reference": "https://docs.example.invalid/crm/ftr-2026-12"}),
        json!({"key": "vendor_training", "reference": "新版本操作培训（厂商讲师）",
            "held_at": "2026-11-22T10:00:00+08:00"}),
    ] {
        ok(
            call(
                &app,
                &dba,
                "POST",
                &format!("{path}/prerequisites"),
                Some(body),
            )
            .await,
            StatusCode::OK,
        )
        .await;
    }
    let d = ok(call(&app, &dba, "GET", &path, None).await, StatusCode::OK).await;
    assert!(
        d["prerequisites"]
            .as_array()
            .unwrap()
            .iter()
            .all(|q| q["recorded"]["recorded_by"] == "dba"),
        "{d}"
    );
    let d = ok(
        call(
            &app,
            &mgr,
            "POST",
            &format!("{path}/decision"),
            Some(json!({"decision": "go", "version": 1})),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(d["release"]["state"], "go");
    assert_eq!(d["verifications"].as_array().unwrap().len(), 16);
    assert!(d["release"]["maintenance_id"].is_i64());
    let scenario = d["verifications"][0]["scenario"]
        .as_str()
        .unwrap()
        .to_string();
    // CHG-07: verification after the upgrade has started (Thursday 12-10 23:00 local).
    let (s, p) = problem(
        call(
            &app,
            &dba,
            "POST",
            &format!("{path}/verifications"),
            Some(json!({"scenario": scenario, "result": "passed"})),
        )
        .await,
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p.to_string().contains("CHG-07"), "{p}");
    app.clock.advance(chrono::Duration::days(18));
    let d = ok(
        call(
            &app,
            &dba,
            "POST",
            &format!("{path}/verifications"),
            Some(json!({"scenario": scenario, "result": "passed"})),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(d["verifications"][0]["result"], "passed");
    assert_eq!(d["verifications"][0]["recorded_by"], "dba");

    // CHG-16: a cut-over on the next day is applied too late; nothing is created.
    let body = json!({"title": "计费主机扩容", "kind": "hardware", "systems": ["billing"],
        "starts_at": "2026-12-12T00:30:00+08:00", "ends_at": "2026-12-12T05:00:00+08:00",
        "plan": "p", "rollback_plan": "r", "checklist": "c", "test_list": "t", "people": "x", "impact": "i"});
    let (s, p) = problem(call(&app, &dba, "POST", "/api/v1/cutovers", Some(body)).await).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["field"], "date");
    assert!(p.to_string().contains("CHG-16"), "{p}");
    let list = ok(
        call(
            &app,
            &dba,
            "GET",
            "/api/v1/cutovers?from=2026-12-01T00:00:00Z&to=2027-01-01T00:00:00Z",
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert!(list["items"].as_array().unwrap().is_empty());

    // Requirements: registered, listed, read.
    let q = ok(
        call(&app, &dba, "POST", "/api/v1/requirements",
            Some(json!({"title": "代理商门户新增套餐", "requester": "prb-coord", "system": "agent_portal"}))).await,
        StatusCode::CREATED,
    )
    .await;
    let list = ok(
        call(&app, &dba, "GET", "/api/v1/requirements", None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(list["items"][0]["id"], q["id"]);
    let one = ok(
        call(
            &app,
            &dba,
            "GET",
            &format!("/api/v1/requirements/{}", q["id"]),
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(one["requester"], "prb-coord");
}

/// `tianshu release record` (CHG-05, CHG-12) on the server's database: `go` is refused naming the rule until the
/// deliverables and the training are recorded from the command line. The CLI runs on the real clock, so the
/// release lies far ahead and the training in the past.
#[tokio::test]
async fn cli_records_vendor_deliverables_and_training_before_go_chg_05_chg_12() {
    let app = sqlite_app().await;
    let url = app._db.config.url.clone();
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tianshu"))
            .arg("--database-url")
            .arg(&url)
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
        "release",
        "--as",
        "dba",
        "plan",
        "--title",
        "CRM 三月版本",
        "--kind",
        "routine",
        "--family",
        "crm",
        "--date",
        "2027-03-11",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let id = out.split_whitespace().nth(1).unwrap().to_string();
    let (code, _, err) = run(&["release", "--as", "room-mgr", "go", &id]);
    assert_eq!(code, Some(1));
    assert!(err.contains("CHG-05"), "{err}");
    for args in [
        vec![
            "--key",
            "change_description",
            "--reference",
            "CRM-2027-03 变更说明",
        ],
        vec!["--key", "factory_test_report", "--reference", "FTR-2027-03"],
    ] {
        let mut a = vec!["release", "--as", "dba", "record", &id];
        a.extend(args);
        let (code, _, err) = run(&a);
        assert_eq!(code, Some(0), "{err}");
    }
    let (code, _, err) = run(&["release", "--as", "room-mgr", "go", &id]);
    assert_eq!(code, Some(1));
    assert!(err.contains("CHG-12"), "{err}");
    let (code, out, err) = run(&[
        "release",
        "--as",
        "dba",
        "record",
        &id,
        "--key",
        "vendor_training",
        "--reference",
        "新版本操作培训",
        "--held-at",
        "2026-11-30T10:00:00+08:00",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("CHG-12\tvendor_training\trecorded"), "{out}");
    let (code, out, err) = run(&["release", "--as", "room-mgr", "go", &id]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("is go"), "{out}");
}

/// CHG-17 over HTTP on both backends: a step logged before the on-site start is refused naming `state`; the start
/// with the lead arrived ten minutes early is refused naming `arrived_at`, a missing condition by its field; the
/// start then records the conditions and steps follow. app.clock: Monday 2026-11-23 09:00 local.
#[tokio::test]
async fn cutover_start_conditions_before_any_step_on_both_backends_chg_17() {
    for db in tianshu_testkit::backends().await {
        let app = spawn(db).await;
        let dba = app
            .token_for("dba", &["change.read", "change.request"])
            .await;
        let mgr = app
            .token_for("room-mgr", &["change.read", "change.approve"])
            .await;
        let body = json!({"title": "计费主机扩容", "kind": "hardware", "systems": ["billing"],
            "starts_at": "2026-12-02T00:30:00+08:00", "ends_at": "2026-12-02T05:00:00+08:00",
            "plan": "p", "rollback_plan": "r", "checklist": "c", "test_list": "t", "people": "x", "impact": "i"});
        let c = ok(
            call(&app, &dba, "POST", "/api/v1/cutovers", Some(body)).await,
            StatusCode::CREATED,
        )
        .await;
        let path = format!("/api/v1/cutovers/{}", c["id"]);
        let a = ok(
            call(
                &app,
                &mgr,
                "POST",
                &format!("{path}/approve"),
                Some(json!({"version": c["version"]})),
            )
            .await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(a["state"], "approved");
        assert!(a["start"].is_null());
        let step = json!({"step": "切换存储", "important": true, "operator": "dba", "supervisor": "datafix"});
        let (s, p) = problem(
            call(
                &app,
                &dba,
                "POST",
                &format!("{path}/log"),
                Some(step.clone()),
            )
            .await,
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(p["field"], "state");
        assert!(p.to_string().contains("CHG-17"), "{p}");

        // CHG-17: the order is tied to the approved window 00:30–05:00 — at most the pack's 30 minutes before it
        // (23:59 is 31 minutes early) and not once it has ended.
        let full = json!({"kickoff_at": "2026-12-01T20:00:00+08:00", "lead": "dba", "lead_qualified": true,
            "arrived_at": "2026-12-01T23:00:00+08:00", "equipment_checked": true, "host_present": true,
            "departments_present": true, "contractor_present": true});
        for (now, field, text) in [
            (
                "2026-12-01T23:59:00+08:00",
                "starts_at",
                "31 minutes before its start, at most 30",
            ),
            (
                "2026-12-02T05:00:00+08:00",
                "ends_at",
                "the approved window ended",
            ),
        ] {
            app.clock.set(
                chrono::DateTime::parse_from_rfc3339(now)
                    .unwrap()
                    .with_timezone(&chrono::Utc),
            );
            let (s, p) = problem(
                call(
                    &app,
                    &dba,
                    "POST",
                    &format!("{path}/start"),
                    Some(full.clone()),
                )
                .await,
            )
            .await;
            assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
            assert_eq!(p["field"], field, "{p}");
            assert!(
                p.to_string().contains("CHG-17") && p.to_string().contains(text),
                "{p}"
            );
        }
        let still = ok(call(&app, &dba, "GET", &path, None).await, StatusCode::OK).await;
        assert_eq!(still["state"], "approved");
        assert!(still["start"].is_null());

        // The night: 00:25 local, the lead arrived 00:20 (ten minutes before the 00:30 start).
        app.clock.set(
            chrono::DateTime::parse_from_rfc3339("2026-12-02T00:25:00+08:00")
                .unwrap()
                .with_timezone(&chrono::Utc),
        );
        let mut start = json!({"kickoff_at": "2026-12-01T20:00:00+08:00", "lead": "dba", "lead_qualified": true,
            "arrived_at": "2026-12-02T00:20:00+08:00", "equipment_checked": true, "host_present": true,
            "departments_present": true, "contractor_present": true});
        let (s, p) = problem(
            call(
                &app,
                &dba,
                "POST",
                &format!("{path}/start"),
                Some(start.clone()),
            )
            .await,
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(p["field"], "arrived_at");
        assert!(
            p.to_string()
                .contains("CHG-17: the on-site lead arrived 10 minutes before"),
            "{p}"
        );
        start["arrived_at"] = json!("2026-12-02T00:10:00+08:00");
        for missing in ["kickoff_at", "equipment_checked", "departments_present"] {
            let mut b = start.clone();
            b.as_object_mut().unwrap().remove(missing);
            let (s, p) =
                problem(call(&app, &dba, "POST", &format!("{path}/start"), Some(b)).await).await;
            assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
            assert_eq!(p["field"], missing);
            assert!(p.to_string().contains("CHG-17"), "{p}");
        }
        let st = ok(
            call(
                &app,
                &dba,
                "POST",
                &format!("{path}/start"),
                Some(start.clone()),
            )
            .await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(st["state"], "started");
        assert_eq!(st["start"]["lead"], "dba");
        assert_eq!(st["start"]["ordered_by"], "dba");
        let (s, p) =
            problem(call(&app, &dba, "POST", &format!("{path}/start"), Some(start)).await).await;
        assert_eq!(
            (s, p["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("state"))
        );
        let l = ok(
            call(&app, &dba, "POST", &format!("{path}/log"), Some(step)).await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(l["state"], "in_progress");
        assert_eq!(l["start"]["arrived_at"], st["start"]["arrived_at"]);
        let done = ok(
            call(&app, &dba, "POST", &format!("{path}/complete"), None).await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(done["state"], "completed");
        let doc: Value = Client::new()
            .get(app.url("/api/v1/openapi.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let op = &doc["paths"]["/api/v1/cutovers/{id}/start"]["post"];
        assert!(
            op["requestBody"].to_string().contains("CutoverStartBody"),
            "{op}"
        );
        assert!(doc["components"]["schemas"]["CutoverStartOut"].is_object());
    }
}

/// `tianshu cutover start` (CHG-17): refused months before the approved window (`starts_at`), refused naming the
/// missing condition, then started, then a step logged. The CLI runs on the real clock, so the started cut-over is
/// an emergency one opening in 10 minutes and the kick-off and arrival lie in the past.
#[tokio::test]
async fn cli_starts_a_cutover_before_its_log_chg_17() {
    let app = sqlite_app().await;
    let url = app._db.config.url.clone();
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str], stdin: Option<&str>| {
        use std::io::Write;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tianshu"))
            .arg("--database-url")
            .arg(&url)
            .arg("--data-dir")
            .arg(dir.path())
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
        drop(input);
        let out = child.wait_with_output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let apply = json!({"title": "计费主机扩容", "kind": "hardware", "systems": ["billing"],
        "starts_at": "2027-03-11T00:30:00+08:00", "ends_at": "2027-03-11T05:00:00+08:00",
        "plan": "p", "rollback_plan": "r", "checklist": "c", "test_list": "t", "people": "x", "impact": "i"})
    .to_string();
    let (code, out, err) = run(&["cutover", "--as", "dba", "apply", "-"], Some(&apply));
    assert_eq!(code, Some(0), "{err}");
    let far = out.split_whitespace().nth(1).unwrap().to_string();
    let (code, _, err) = run(&["cutover", "--as", "room-mgr", "approve", &far], None);
    assert_eq!(code, Some(0), "{err}");
    // An emergency cut-over (no lead time) whose window opens in 10 minutes: the order may be given now.
    let now = chrono::Utc::now();
    let soon = json!({"title": "计费主机紧急扩容", "kind": "hardware", "systems": ["billing"], "emergency": true,
        "starts_at": (now + chrono::Duration::minutes(10)).to_rfc3339(),
        "ends_at": (now + chrono::Duration::hours(2)).to_rfc3339(),
        "plan": "p", "rollback_plan": "r", "checklist": "c", "test_list": "t", "people": "x", "impact": "i"})
    .to_string();
    let (code, out, err) = run(&["cutover", "--as", "dba", "apply", "-"], Some(&soon));
    assert_eq!(code, Some(0), "{err}");
    let id = out.split_whitespace().nth(1).unwrap().to_string();
    let (code, _, err) = run(&["cutover", "--as", "room-mgr", "approve", &id], None);
    assert_eq!(code, Some(0), "{err}");
    let log = [
        "cutover",
        "--as",
        "dba",
        "log",
        &id,
        "--step",
        "切换存储",
        "--operator",
        "dba",
        "--supervisor",
        "datafix",
    ];
    let (code, _, err) = run(&log, None);
    assert_eq!(code, Some(1));
    assert!(err.contains("state: CHG-17"), "{err}");
    let mut start = json!({"kickoff_at": (now - chrono::Duration::hours(1)).to_rfc3339(), "lead": "dba",
        "lead_qualified": true, "arrived_at": (now - chrono::Duration::minutes(6)).to_rfc3339(),
        "equipment_checked": true, "host_present": true, "departments_present": true});
    // CHG-17: the cut-over of March is not started months before its window.
    let mut full = start.clone();
    full["contractor_present"] = json!(true);
    let (code, _, err) = run(
        &["cutover", "--as", "dba", "start", &far, "-"],
        Some(&full.to_string()),
    );
    assert_eq!(code, Some(1));
    assert!(err.contains("starts_at: CHG-17"), "{err}");
    let (code, _, err) = run(
        &["cutover", "--as", "dba", "start", &id, "-"],
        Some(&start.to_string()),
    );
    assert_eq!(code, Some(1));
    assert!(err.contains("contractor_present: CHG-17"), "{err}");
    start["contractor_present"] = json!(true);
    let (code, out, err) = run(
        &["cutover", "--as", "dba", "start", &id, "-"],
        Some(&start.to_string()),
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("started"), "{out}");
    let (code, out, err) = run(&log, None);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("in_progress"), "{out}");
}

/// CNT-06 and CHG-20 over HTTP on both backends: an assurance plan missing a part is refused naming it, then
/// written, activated and refused archiving before its period ends; a data cut-over gets its responsible party from
/// its case (a case on a hardware cut-over is refused); the routes and schemas are in the OpenAPI document and the
/// console lists the plan with its form. app.clock: Monday 2026-11-23 09:00 local.
#[tokio::test]
async fn assurance_plans_and_data_cutover_ownership_over_http_cnt_06_chg_20() {
    for db in tianshu_testkit::backends().await {
        let app = spawn(db).await;
        let dba = app
            .token_for("dba", &["change.read", "change.request"])
            .await;
        let mut plan = json!({"name": "元旦重要通信保障", "starts_at": "2026-12-31T00:00:00+08:00",
            "ends_at": "2027-01-03T00:00:00+08:00", "scope_systems": ["billing"], "scope_regions": ["guangzhou"],
            "measures": "封网；双人值守", "contingency": "主备切换", "escalation": "30 分钟内报网络部",
            "weak_sections": [{"section": "广州—深圳 单路由", "contingency": "备用电路", "improvement": "第二路由"}]});
        let (s, p) = problem(
            call(
                &app,
                &dba,
                "POST",
                "/api/v1/assurance-plans",
                Some(plan.clone()),
            )
            .await,
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
        assert_eq!(p["field"], "contacts");
        assert!(p.to_string().contains("CNT-06"), "{p}");
        plan["contacts"] = json!("值班长 分机 8001");
        let d = ok(
            call(&app, &dba, "POST", "/api/v1/assurance-plans", Some(plan)).await,
            StatusCode::CREATED,
        )
        .await;
        assert_eq!(d["state"], "draft");
        let path = format!("/api/v1/assurance-plans/{}", d["id"]);
        let a = ok(
            call(
                &app,
                &dba,
                "POST",
                &format!("{path}/activate"),
                Some(json!({"version": d["version"]})),
            )
            .await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(a["state"], "active");
        let (s, p) = problem(
            call(
                &app,
                &dba,
                "POST",
                &format!("{path}/archive"),
                Some(json!({"version": a["version"]})),
            )
            .await,
        )
        .await;
        assert_eq!(
            (s, p["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("ends_at")),
            "{p}"
        );
        assert!(p.to_string().contains("CNT-06"), "{p}");
        let list = ok(
            call(&app, &dba, "GET", "/api/v1/assurance-plans", None).await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(list["items"][0]["name"], "元旦重要通信保障");
        let one = ok(call(&app, &dba, "GET", &path, None).await, StatusCode::OK).await;
        assert_eq!(one["weak_sections"][0]["improvement"], "第二路由");

        // CHG-20: the responsible party comes from the case.
        let cut = |kind: &str, case: Option<&str>| {
            let mut b = json!({"title": "计费实例数据修复", "kind": kind, "systems": ["billing"],
                "starts_at": "2026-12-02T00:30:00+08:00", "ends_at": "2026-12-02T05:00:00+08:00",
                "plan": "p", "rollback_plan": "r", "checklist": "c", "test_list": "t", "people": "x", "impact": "i"});
            if let Some(c) = case {
                b["data_case"] = json!(c);
            }
            b
        };
        let c = ok(
            call(
                &app,
                &dba,
                "POST",
                "/api/v1/cutovers",
                Some(cut("data", Some("fault_province_wide"))),
            )
            .await,
            StatusCode::CREATED,
        )
        .await;
        assert_eq!(
            (c["data_case"].as_str(), c["responsible"].as_str()),
            (Some("fault_province_wide"), Some("central_ops"))
        );
        let r = ok(
            call(
                &app,
                &dba,
                "POST",
                &format!("/api/v1/cutovers/{}/rectification", c["id"]),
                Some(json!({"report": "原因分析；应急措施；组织分部批量修复"})),
            )
            .await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(r["rectification_by"], "dba");
        let c = ok(
            call(
                &app,
                &dba,
                "POST",
                "/api/v1/cutovers",
                Some(cut("data", Some("requirement"))),
            )
            .await,
            StatusCode::CREATED,
        )
        .await;
        assert_eq!(c["responsible"], "branch");
        for (kind, case) in [("hardware", Some("requirement")), ("data", None)] {
            let (s, p) = problem(
                call(
                    &app,
                    &dba,
                    "POST",
                    "/api/v1/cutovers",
                    Some(cut(kind, case)),
                )
                .await,
            )
            .await;
            assert_eq!(
                (s, p["field"].as_str()),
                (StatusCode::UNPROCESSABLE_ENTITY, Some("data_case")),
                "{p}"
            );
            assert!(p.to_string().contains("CHG-20"), "{p}");
        }

        let doc: Value = Client::new()
            .get(app.url("/api/v1/openapi.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for route in [
            "/api/v1/assurance-plans",
            "/api/v1/assurance-plans/{id}",
            "/api/v1/assurance-plans/{id}/{action}",
            "/api/v1/cutovers/{id}/rectification",
        ] {
            assert!(doc["paths"][route].is_object(), "{route}");
        }
        assert!(doc["components"]["schemas"]["AssurancePlanOut"].is_object());

        // The console: the plan listed with its activate / archive form and the plan form, in both languages.
        app.login("admin").await;
        let html = app
            .client
            .get(app.url("/changes/assurance"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            html.contains("元旦重要通信保障") && html.contains("id=\"assurance-form\""),
            "{html}"
        );
        assert!(
            html.contains(&format!("id=\"archive-{}\"", d["id"])),
            "archive button"
        );
        let detail = app
            .client
            .get(app.url(&format!("/changes/cutovers/{}", c["id"])))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(detail.contains("data-responsible=\"branch\""), "{detail}");
    }
}
