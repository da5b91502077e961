//! KPI scorecards from real records over HTTP on both backends (issue 8): group customers under the SLA-02
//! quotas, customer faults resolved through the incident workflow, KPI-07 deductions computed by hand, KPI-14
//! conversion, KPI-15 ranking, the drill-down to the tickets behind every point lost, measures without records
//! reported as not scored, and the console page.

use chrono::Duration;
use chrono::TimeZone;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use tianshu_core::Clock;
use tianshu_testkit::backends;

use super::{problem, spawn, TestApp};

async fn customer(app: &TestApp, tok: &str, key: &str, tier: &str) -> reqwest::Response {
    Client::new()
        .post(app.url("/api/v1/customers"))
        .bearer_auth(tok)
        .json(&json!({"key": key, "name": format!("{key} 集团（虚构）"), "tier": tier, "org_key": "guangzhou"}))
        .send()
        .await
        .unwrap()
}

async fn fault(app: &TestApp, tok: &str, org: &str, customer: Option<&str>) -> Value {
    let r = Client::new()
        .post(app.url("/api/v1/incidents"))
        .bearer_auth(tok)
        .json(
            &json!({"title": "专线中断", "symptom": "集团专线业务中断", "source_channel": "hotline",
                      "reporter": "客户经理（测试）", "org_key": org, "system_key": "crm",
                      "customer": customer, "facts": {"affected_users": 10}}),
        )
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

async fn fresh(app: &TestApp, tok: &str, id: &Value) -> Value {
    Client::new()
        .get(app.url(&format!("/api/v1/incidents/{id}")))
        .bearer_auth(tok)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Resolves a ticket (accept → classify → submit for audit, which stops the SLA-11 clock) at `at`.
async fn resolve(app: &TestApp, tok: &str, inc: &Value, at: chrono::DateTime<chrono::Utc>) {
    app.clock.set(at);
    for (action, extra) in [
        ("accept", json!({})),
        ("classify", json!({"cause_class": "system_fault"})),
        ("submit_for_audit", json!({"note": "已恢复"})),
    ] {
        let v = fresh(app, tok, &inc["id"]).await;
        let r = app.act(tok, &v, action, extra).await;
        assert_eq!(
            r.status(),
            StatusCode::OK,
            "{action}: {}",
            r.text().await.unwrap_or_default()
        );
    }
}

async fn cards(app: &TestApp, tok: &str, query: &str) -> Value {
    let r = Client::new()
        .get(app.url(&format!("/api/v1/kpi/scorecards?{query}")))
        .bearer_auth(tok)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "{}",
        r.text().await.unwrap_or_default()
    );
    r.json().await.unwrap()
}

fn card<'a>(v: &'a Value, unit: &str) -> &'a Value {
    v["cards"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["unit"] == unit)
        .unwrap_or_else(|| panic!("no card {unit}: {v}"))
}

fn indicator<'a>(c: &'a Value, rule: &str) -> &'a Value {
    c["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["rule"] == rule)
        .unwrap_or_else(|| panic!("no {rule}: {c}"))
}

fn rank<'a>(v: &'a Value, unit: &str) -> &'a Value {
    v["ranking"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["unit"] == unit)
        .unwrap()
}

#[tokio::test]
async fn kpi_07_scorecards_from_resolved_customer_faults_with_drill_down_on_both_backends() {
    for db in backends().await {
        let app = spawn(db).await;
        let admin = app.bearer("admin").await;
        let pre = app.bearer("preproc").await;

        // SLA-02: diamond ≤ floor(10 % × customers). Nine bronze, then the tenth customer may be diamond
        // (floor(1.0) = 1); an eleventh diamond would make floor(1.1) = 1 < 2 → refused naming the rule.
        for i in 1..=9 {
            assert_eq!(
                customer(&app, &admin, &format!("cb-{i}"), "bronze")
                    .await
                    .status(),
                StatusCode::CREATED
            );
        }
        assert_eq!(
            customer(&app, &admin, "cd-1", "diamond").await.status(),
            StatusCode::CREATED
        );
        let (s, p) = problem(customer(&app, &admin, "cd-2", "diamond").await).await;
        assert_eq!(
            (s, p["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("tier")),
            "{p}"
        );
        assert!(
            p["detail"].as_str().unwrap_or_default().contains("SLA-02"),
            "{p}"
        );
        // Key-assurance and gold have no quota.
        for (k, t) in [
            ("ck-1", "key_assurance"),
            ("cg-1", "gold"),
            ("cs-1", "silver"),
        ] {
            assert_eq!(
                customer(&app, &admin, k, t).await.status(),
                StatusCode::CREATED
            );
        }
        let list: Value = Client::new()
            .get(app.url("/api/v1/customers"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(list["total"], 13, "{list}");
        assert!(!list["customers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["key"] == "cd-2"));

        // Faults reported now (09:00 local, 2026-11-23) and resolved later the same day (KPI-07 limits and
        // units by tier; 2 points per started unit, Proposed default):
        let t0 = app.clock.now();
        let a = fault(&app, &pre, "guangzhou", Some("cd-1")).await; // diamond 2 h: 2 h 50 → 50 min = 2 × 25 min → −4
        let b = fault(&app, &pre, "guangzhou", Some("cb-1")).await; // bronze 8 h: 8 h 30 → 1 started 60-min unit → −2
        let c = fault(&app, &pre, "guangzhou", Some("ck-1")).await; // key 1.5 h: 1 h → on time
        let d = fault(&app, &pre, "guangzhou", None).await; // not a group customer → not in KPI-07
        let f = fault(&app, &pre, "foshan", Some("cg-1")).await; // gold 4 h: 4 h 31 → 2 started 30-min units → −4
        let g = fault(&app, &pre, "shenzhen", Some("cs-1")).await; // silver 6 h: 6 h 40 → exactly 1 × 40 min → −2
        resolve(&app, &pre, &c, t0 + Duration::hours(1)).await;
        resolve(&app, &pre, &a, t0 + Duration::minutes(170)).await;
        resolve(&app, &pre, &d, t0 + Duration::hours(9)).await;
        resolve(&app, &pre, &f, t0 + Duration::minutes(4 * 60 + 31)).await;
        resolve(&app, &pre, &g, t0 + Duration::minutes(6 * 60 + 40)).await;
        resolve(&app, &pre, &b, t0 + Duration::minutes(8 * 60 + 30)).await;

        let v = cards(&app, &admin, "period=2026-11").await;
        assert_eq!(v["set"], "group_customer_support");
        assert_eq!(v["by"], "branch");
        assert_eq!(
            v["cards"].as_array().unwrap().len(),
            10,
            "one card per demo branch"
        );
        let gz = card(&v, "guangzhou");
        let k7 = indicator(gz, "KPI-07");
        assert_eq!(k7["score"].as_f64(), Some(4.0), "{k7}");
        assert_eq!(k7["value"], "3", "2 + 1 units");
        let losses = k7["losses"].as_array().unwrap();
        assert_eq!(losses.len(), 2, "{k7}");
        let la = losses
            .iter()
            .find(|l| l["record"]["id"] == a["number"])
            .unwrap();
        assert_eq!(la["points"].as_f64(), Some(4.0));
        assert!(la["reason"].as_str().unwrap().starts_with("KPI-07"), "{la}");
        assert_eq!(la["record"]["href"], format!("/incidents/{}", a["id"]));
        let lb = losses
            .iter()
            .find(|l| l["record"]["id"] == b["number"])
            .unwrap();
        assert_eq!(lb["points"].as_f64(), Some(2.0));
        // KPI-07, KPI-02/03/04 from survey and provisioning orders, KPI-05/06 from their acceptances and data
        // configurations and KPI-08 from complaints (none this month → full marks) are computed from records;
        // everything else is not scored and says which measure is missing.
        assert_eq!(
            (gz["total"].as_f64(), gz["max"].as_f64()),
            (Some(64.0), Some(70.0)),
            "{gz}"
        );
        // KPI-14: 64 / 70 on the 100-point scale, half up to one decimal.
        assert_eq!(gz["percent"].as_f64(), Some(91.4));
        assert_eq!(indicator(gz, "KPI-08")["score"].as_f64(), Some(10.0));
        assert_eq!(indicator(gz, "KPI-03")["score"].as_f64(), Some(10.0));
        let k4 = indicator(gz, "KPI-04");
        assert_eq!(k4["score"].as_f64(), Some(10.0), "{k4}");
        let k5 = indicator(gz, "KPI-05");
        assert_eq!(
            (k5["score"].as_f64(), k5["value"].as_str()),
            (Some(15.0), Some("—")),
            "no first initial acceptance this month: {k5}"
        );
        assert_eq!(indicator(gz, "KPI-06")["score"].as_f64(), Some(5.0));
        assert!(indicator(gz, "KPI-09")["unavailable"].is_string());
        assert_eq!(
            gz["not_scored"].as_array().unwrap().len(),
            2,
            "KPI-01 missing blocks"
        );
        assert!(v["unavailable"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["measure"] != "fault_handling_overrun"));
        assert_eq!(
            indicator(card(&v, "foshan"), "KPI-07")["score"].as_f64(),
            Some(6.0)
        );
        assert_eq!(
            indicator(card(&v, "shenzhen"), "KPI-07")["score"].as_f64(),
            Some(8.0)
        );
        assert_eq!(
            indicator(card(&v, "zhuhai"), "KPI-07")["score"].as_f64(),
            Some(10.0)
        );

        // KPI-15: competition ranking; the lowest three are laggards.
        assert_eq!(rank(&v, "zhuhai")["rank"], 1);
        assert_eq!(rank(&v, "shenzhen")["rank"], 8);
        assert_eq!(rank(&v, "foshan")["rank"], 9);
        assert_eq!(rank(&v, "guangzhou")["rank"], 10);
        let laggards: Vec<&str> = v["ranking"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["laggard"] == true)
            .map(|r| r["unit"].as_str().unwrap())
            .collect();
        assert_eq!(laggards, vec!["shenzhen", "foshan", "guangzhou"]);

        // The province carries all four late faults: 10 − (4 + 2 + 4 + 2) → floored at 0 (KPI-07 floor).
        let pv = cards(&app, &admin, "period=2026-11&by=province").await;
        let prov = card(&pv, "prov");
        assert_eq!(indicator(prov, "KPI-07")["score"].as_f64(), Some(0.0));
        assert_eq!(
            indicator(prov, "KPI-07")["losses"]
                .as_array()
                .unwrap()
                .len(),
            4
        );

        // Drill-down keeps one unit; October has no faults → full marks.
        let one = cards(&app, &admin, "period=2026-11&unit=foshan").await;
        assert_eq!(one["cards"].as_array().unwrap().len(), 1);
        let oct = cards(&app, &admin, "period=2026-10").await;
        assert_eq!(
            indicator(card(&oct, "guangzhou"), "KPI-07")["score"].as_f64(),
            Some(10.0)
        );

        // The same scorecards as a workbook: one row per branch, the KPI-07 column and the drill-down sheet.
        let r = Client::new()
            .get(app.url("/api/v1/kpi/scorecards.xlsx?period=2026-11"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let bytes = r.bytes().await.unwrap().to_vec();
        {
            use calamine::{Reader, Xlsx};
            let mut wb: Xlsx<_> = Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
            let sheet = wb.worksheet_range("评分表").unwrap();
            assert_eq!(sheet.height(), 11, "header + 10 branches");
            let head: Vec<String> = sheet
                .rows()
                .next()
                .unwrap()
                .iter()
                .map(|c| c.to_string())
                .collect();
            let col = head.iter().position(|h| h.starts_with("KPI-07")).unwrap();
            let gz_row = sheet.rows().find(|r| r[0] == "广州分部").unwrap();
            assert_eq!(gz_row[col].to_string(), "4");
            let losses = wb.worksheet_range("扣分明细").unwrap();
            assert_eq!(losses.height(), 1 + 4, "header + the four late faults");
        }

        // Bad input names its field.
        for (q, field, status) in [
            ("period=2026-13", "period", StatusCode::UNPROCESSABLE_ENTITY),
            (
                "period=2026-11&set=nope",
                "set",
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                "period=2026-11&by=team",
                "by",
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                "period=2026-11&unit=nowhere",
                "unit",
                StatusCode::BAD_REQUEST,
            ),
        ] {
            let r = Client::new()
                .get(app.url(&format!("/api/v1/kpi/scorecards?{q}")))
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap();
            let (s, p) = problem(r).await;
            assert_eq!((s, p["field"].as_str()), (status, Some(field)), "{q}: {p}");
        }
        // Without kpi.read → 403.
        let r = Client::new()
            .get(app.url("/api/v1/kpi/scorecards"))
            .bearer_auth(&pre)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);

        // The monthly report pack: an FL2 ticket in the major-fault summary, the deadlines of the resolved
        // tickets in SLA compliance, "no runs" for reconciliation, the KPI ranking; weekly too; XLSX per section.
        let fl2 = app.new_incident(&pre, json!({"affected_users": 620})).await;
        // ESC-09: the group is told within the hour → one deadline met in the month.
        let esc = app.bearer("esc-a").await;
        let v = fresh(&app, &pre, &fl2["id"]).await;
        let r = Client::new()
            .post(app.url(&format!("/api/v1/incidents/{}/reports", fl2["id"])))
            .bearer_auth(&esc)
            .json(&json!({"version": v["version"], "kind": "group", "note": "已电话报集团"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let r = Client::new()
            .get(app.url("/api/v1/reports/pack?kind=monthly&period=2026-11"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let pack: Value = r.json().await.unwrap();
        assert!(
            pack["major"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["id"] == fl2["id"] && m["fault_level"] == "FL2"),
            "{pack}"
        );
        assert!(!pack["sla"].as_array().unwrap().is_empty(), "{pack}");
        assert_eq!(pack["recon_runs"].as_array().unwrap().len(), 0);
        assert_eq!(
            indicator(card(&pack["kpi"], "guangzhou"), "KPI-07")["score"].as_f64(),
            Some(4.0)
        );
        let weekly: Value = Client::new()
            .get(app.url("/api/v1/reports/pack?kind=weekly&period=2026-W48"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            (weekly["start"].as_str(), weekly["end"].as_str()),
            (Some("2026-11-23"), Some("2026-11-30"))
        );
        assert!(weekly["kpi"].is_null(), "KPI is monthly");
        let (s, p) = problem(
            Client::new()
                .get(app.url("/api/v1/reports/pack?kind=daily"))
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            (s, p["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("kind"))
        );
        let bytes = Client::new()
            .get(app.url("/api/v1/reports/pack.xlsx?kind=monthly&period=2026-11"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .to_vec();
        {
            use calamine::{Reader, Xlsx};
            let mut wb: Xlsx<_> = Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
            let names = wb.sheet_names();
            for n in [
                "频发故障",
                "重大故障",
                "程序缺陷",
                "时限达成",
                "值班统计",
                "对账一致性",
                "考核排名",
            ] {
                assert!(names.iter().any(|x| x == n), "{n} in {names:?}");
            }
            let major = wb.worksheet_range("重大故障").unwrap();
            assert!(major
                .rows()
                .any(|r| r[0] == fl2["number"].as_str().unwrap()));
        }

        // The console page: table, ranking chart, drill-down links to the tickets.
        app.login("admin").await;
        let html = app
            .client
            .get(app.url("/kpi?period=2026-11&by=branch&unit=guangzhou"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(html.contains(r#"id="chart-kpi-ranking""#), "{html}");
        assert!(html.contains(r#"id="kpi-table""#));
        assert!(html.contains("unit=foshan"), "drill-down link per branch");
        assert!(
            html.contains(&format!("/incidents/{}", a["id"])),
            "drill-down links the ticket"
        );
        // The reports page shows the same month's ranking as a picture with its table.
        let html = app
            .client
            .get(app.url("/reports"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(html.contains(r#"id="chart-kpi-ranking""#), "{html}");
        assert!(html.contains(r#"id="chart-kpi-ranking-table""#));
        assert!(html.contains("/kpi?period=2026-11"), "links the scorecards");
        let r = app
            .client
            .get(app.url("/kpi?period=11-2026"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.text().await.unwrap().contains(r#"id="period-err""#));
        let html = app
            .client
            .get(app.url("/reports/pack?kind=monthly&period=2026-11"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        for id in [
            "chart-pack-sla",
            "chart-pack-kpi",
            "pack-recon-none",
            "pack-major",
            "pack-xlsx",
        ] {
            assert!(html.contains(&format!(r#"id="{id}""#)), "{id}");
        }
    }
}

async fn incident_count(app: &TestApp, tok: &str) -> usize {
    let v: Value = app
        .get_as(tok, "/api/v1/incidents?limit=200&all=true")
        .await
        .json()
        .await
        .unwrap();
    v["items"].as_array().unwrap().len()
}

/// A customer fault on a group customer's leased line (KPI-09), reported now.
async fn line_fault(
    app: &TestApp,
    tok: &str,
    org: &str,
    customer: Option<&str>,
    line: Value,
) -> reqwest::Response {
    Client::new()
        .post(app.url("/api/v1/incidents"))
        .bearer_auth(tok)
        .json(
            &json!({"title": "专线中断", "symptom": "集团专线业务中断", "source_channel": "hotline",
                      "reporter": "客户经理（测试）", "org_key": org, "system_key": "crm",
                      "customer": customer, "facts": {"affected_users": 10}, "leased_line": line}),
        )
        .send()
        .await
        .unwrap()
}

async fn created(r: reqwest::Response) -> Value {
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap_or_default()
    );
    r.json().await.unwrap()
}

/// Reloads the default pack with a network-quality standard in sla.toml (the seed has none; placeholder values:
/// AA lines ≤ 2 repeats and ≤ 8 h of interruption a year).
async fn with_network_standard(app: &TestApp) {
    let mut standard = String::from("[network_quality]\nrule = \"SLA-04\"\n");
    for (level, repeats, hours) in [("AAA", 1, 4), ("AA", 2, 8), ("A", 3, 12), ("normal", 4, 24)] {
        standard.push_str(&format!(
            "[network_quality.levels.{level}]\nmax_repeat_faults = {repeats}\nmax_interruption = \"{hours}h\"\n"
        ));
    }
    app.reload_pack_with("sla.toml", &standard).await;
}

/// KPI-09 network quality (SLA-03/SLA-04, annual) from leased-line faults on both backends: a line with more
/// repeat faults than its level allows, a line still down past the interruption standard, interruption clipped
/// to the year, lines set after the report (version-checked, on the timeline), bad input refused naming the field
/// with nothing stored, and the indicator unavailable (with its reason) until sla.toml has a standard.
#[tokio::test]
async fn kpi_09_network_quality_from_leased_line_faults_on_both_backends() {
    for db in backends().await {
        let app = spawn(db).await;
        let admin = app.bearer("admin").await;
        let pre = app.bearer("preproc").await;
        for k in ["nq-g1", "nq-g2", "nq-g3", "nq-g4"] {
            assert_eq!(
                customer(&app, &admin, k, "gold").await.status(),
                StatusCode::CREATED
            );
        }
        let data_line = |l: &str| json!({"line": l, "service_type": "data_leased_line"});

        // Bad input: each refused naming its field, nothing stored.
        let before = incident_count(&app, &pre).await;
        let (s, p) =
            problem(line_fault(&app, &pre, "guangzhou", None, data_line("GZ-1")).await).await;
        assert_eq!(
            (s, p["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("customer")),
            "{p}"
        );
        let (s, p) = problem(
            line_fault(
                &app,
                &pre,
                "guangzhou",
                Some("not-a-group"),
                data_line("GZ-1"),
            )
            .await,
        )
        .await;
        assert_eq!(
            (s, p["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("customer")),
            "{p}"
        );
        let (s, p) = problem(
            line_fault(
                &app,
                &pre,
                "guangzhou",
                Some("nq-g1"),
                json!({"line": "GZ-1", "service_type": "pigeon"}),
            )
            .await,
        )
        .await;
        assert_eq!(
            (s, p["field"].as_str()),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("leased_line.service_type")
            ),
            "{p}"
        );
        let (s, p) = problem(
            line_fault(
                &app,
                &pre,
                "guangzhou",
                Some("nq-g1"),
                json!({"line": "GZ 1"}),
            )
            .await,
        )
        .await;
        assert_eq!(
            (s, p["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("leased_line.line")),
            "{p}"
        );
        assert_eq!(incident_count(&app, &pre).await, before);

        // Without a standard (the default pack) KPI-09 is not scored and says why.
        let v = cards(&app, &admin, "period=2026-11").await;
        let k9 = indicator(card(&v, "guangzhou"), "KPI-09");
        assert!(
            k9["unavailable"]
                .as_str()
                .unwrap()
                .contains("network_quality"),
            "{k9}"
        );

        let lines: Value = app
            .get_as(&admin, "/api/v1/customers/nq-g1/leased-lines")
            .await
            .json()
            .await
            .unwrap();
        assert!(
            lines["unjudged"]
                .as_str()
                .unwrap()
                .contains("network-quality"),
            "{lines}"
        );
        assert_eq!(lines["lines"], json!([]));

        with_network_standard(&app).await;
        // A fault across the new year on zhuhai's line: 20:00 → 06:00 local, 10 h in all but 4 h in 2025 and
        // 6 h in 2026, each within the AA 8 h of its own year.
        app.clock.set(
            chrono::DateTime::parse_from_rfc3339("2025-12-31T20:00:00+08:00")
                .unwrap()
                .into(),
        );
        let ny =
            created(line_fault(&app, &pre, "zhuhai", Some("nq-g4"), data_line("ZH-9")).await).await;
        resolve(
            &app,
            &pre,
            &ny,
            chrono::DateTime::parse_from_rfc3339("2026-01-01T06:00:00+08:00")
                .unwrap()
                .into(),
        )
        .await;

        // 2026-11-23 09:00 local. Guangzhou: four 1 h faults on GZ-DL-1 (gold data line → AA) = 3 repeats > 2.
        app.clock
            .set(chrono::Utc.with_ymd_and_hms(2026, 11, 23, 1, 0, 0).unwrap());
        let t0 = app.clock.now();
        let mut gz = Vec::new();
        for i in 0..4 {
            app.clock.set(t0 + Duration::hours(2 * i));
            let f = created(
                line_fault(&app, &pre, "guangzhou", Some("nq-g1"), data_line("GZ-DL-1")).await,
            )
            .await;
            resolve(&app, &pre, &f, t0 + Duration::hours(2 * i + 1)).await;
            gz.push(f);
        }
        // Foshan: three 1 h faults (2 repeats = the standard, not over it), the third's line set after it was
        // resolved (a late correction).
        let mut fs = Vec::new();
        for i in 0..3 {
            app.clock.set(t0 + Duration::hours(2 * i));
            let f = if i < 2 {
                created(line_fault(&app, &pre, "foshan", Some("nq-g2"), data_line("FS-DL-1")).await)
                    .await
            } else {
                fault(&app, &pre, "foshan", Some("nq-g2")).await
            };
            resolve(&app, &pre, &f, t0 + Duration::hours(2 * i + 1)).await;
            fs.push(fresh(&app, &pre, &f["id"]).await);
        }
        let late = &fs[2];
        let put = |version: Value, line: Value| {
            Client::new()
                .put(app.url(&format!("/api/v1/incidents/{}/leased-line", late["id"])))
                .bearer_auth(&pre)
                .json(&json!({"version": version, "leased_line": line}))
                .send()
        };
        let stale = put(
            json!(late["version"].as_i64().unwrap() - 1),
            data_line("FS-DL-1"),
        )
        .await
        .unwrap();
        assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);
        let r = put(late["version"].clone(), data_line("FS-DL-1"))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["leased_line"]["line"], "FS-DL-1");
        assert_eq!(
            v["version"].as_i64(),
            Some(late["version"].as_i64().unwrap() + 1)
        );
        let tl: Value = app
            .get_as(&pre, &format!("/api/v1/incidents/{}/timeline", late["id"]))
            .await
            .json()
            .await
            .unwrap();
        assert!(tl.to_string().contains("incident.leased_line_set"), "{tl}");
        // Shenzhen: one fault on SZ-DL-1 still down 9 h later (> AA 8 h): the interruption counts up to now.
        app.clock.set(t0);
        created(line_fault(&app, &pre, "shenzhen", Some("nq-g3"), data_line("SZ-DL-1")).await)
            .await;
        app.clock.set(t0 + Duration::hours(9));

        let v = cards(&app, &admin, "period=2026-11").await;
        let k9 = |unit: &str| indicator(card(&v, unit), "KPI-09").clone();
        let g = k9("guangzhou");
        assert_eq!(
            (g["score"].as_f64(), g["value"].as_str()),
            (Some(0.0), Some("exceeded")),
            "{g}"
        );
        let lost: Vec<&str> = g["losses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["record"]["id"].as_str().unwrap())
            .collect();
        assert_eq!(lost.len(), 4, "every ticket of the line: {g}");
        for f in &gz {
            assert!(lost.contains(&f["number"].as_str().unwrap()), "{g}");
        }
        let label = g["losses"][0]["record"]["label"].as_str().unwrap();
        assert!(
            label.contains("GZ-DL-1") && label.contains("重复 3 次"),
            "{label}"
        );
        assert_eq!(
            k9("foshan")["score"].as_f64(),
            Some(10.0),
            "2 repeats meet ≤ 2"
        );
        assert_eq!(
            k9("shenzhen")["score"].as_f64(),
            Some(0.0),
            "9 h open > 8 h"
        );
        assert_eq!(k9("zhuhai")["score"].as_f64(), Some(10.0), "6 h in 2026");
        assert!(v["unavailable"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["measure"] != "annual_interruption_exceeded"));
        let v25 = cards(&app, &admin, "period=2025-12").await;
        assert_eq!(
            indicator(card(&v25, "zhuhai"), "KPI-09")["score"].as_f64(),
            Some(10.0),
            "4 h in 2025"
        );

        // The customer's lines this year (API and customer page): counts for everyone who may read the customer,
        // ticket numbers only for readers who may see the tickets.
        let lines: Value = app
            .get_as(&admin, "/api/v1/customers/nq-g1/leased-lines")
            .await
            .json()
            .await
            .unwrap();
        assert!(lines["unjudged"].is_null(), "{lines}");
        let l = &lines["lines"][0];
        assert_eq!(
            (
                l["line"].as_str(),
                l["level"].as_str(),
                l["faults"].as_u64(),
                l["repeats"].as_u64()
            ),
            (Some("GZ-DL-1"), Some("AA"), Some(4), Some(3)),
            "{lines}"
        );
        assert_eq!(
            (
                l["max_repeat_faults"].as_u64(),
                l["repeat_exceeded"].as_bool()
            ),
            (Some(2), Some(true))
        );
        assert_eq!(l["interruption_seconds"].as_i64(), Some(4 * 3600));
        assert_eq!(l["incidents"].as_array().unwrap().len(), 4);
        let sz = app.bearer("sz-duty").await;
        let lines: Value = app
            .get_as(&sz, "/api/v1/customers/nq-g1/leased-lines")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(lines["lines"][0]["faults"].as_u64(), Some(4), "{lines}");
        assert_eq!(
            lines["lines"][0]["incidents"],
            json!([]),
            "another branch's tickets are not named: {lines}"
        );

        // Console: the new-ticket form takes customer, circuit id and service type (errors next to the field);
        // the ticket page shows the line.
        let csrf = app.login("preproc").await;
        let form = |line: &'static str| {
            let csrf = csrf.clone();
            let c = app.client.clone();
            let url = app.url("/incidents/new");
            async move {
                c.post(url)
                    .form(&[
                        ("csrf", csrf.as_str()),
                        ("title", "专线中断（控制台）"),
                        ("symptom", "集团专线业务中断"),
                        ("reporter", "客户经理（测试）"),
                        ("source_channel", "hotline"),
                        ("org_key", "foshan"),
                        ("customer", "nq-g2"),
                        ("line", line),
                        ("service_type", "internet_leased_line"),
                    ])
                    .send()
                    .await
                    .unwrap()
            }
        };
        let html = app
            .client
            .get(app.url("/customers/nq-g1"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            html.contains(r#"<tr data-line="GZ-DL-1" class="overdue">"#)
                && html.contains("重复 ≤ 2 次"),
            "{html}"
        );
        let r = form("FS DL 2").await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = r.text().await.unwrap();
        assert!(
            html.contains(r#"id="e-line""#) && html.contains("空格"),
            "{html}"
        );
        let r = form("FS-IL-2").await;
        assert!(r.status().is_success(), "{}", r.status());
        let html = r.text().await.unwrap();
        assert!(
            html.contains(r#"id="incident-leased-line""#)
                && html.contains("FS-IL-2 · 互联网专线（nq-g2）"),
            "{html}"
        );

        // Clearing the line takes the ticket out: guangzhou's line is down to 3 faults = 2 repeats.
        let first = fresh(&app, &pre, &gz[0]["id"]).await;
        let r = Client::new()
            .put(app.url(&format!("/api/v1/incidents/{}/leased-line", first["id"])))
            .bearer_auth(&pre)
            .header("if-match", format!("\"{}\"", first["version"]))
            .json(&json!({"leased_line": null}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.json::<Value>().await.unwrap()["leased_line"].is_null());
        let v = cards(&app, &admin, "period=2026-11").await;
        assert_eq!(
            indicator(card(&v, "guangzhou"), "KPI-09")["score"].as_f64(),
            Some(10.0)
        );
    }
}
