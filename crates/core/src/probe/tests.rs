use super::*;
use crate::policy::PolicyDuration;

fn pol() -> ProbePolicy {
    ProbePolicy {
        rule: "MON-05".into(),
        interval_min: PolicyDuration::from_seconds(180),
        interval_max: PolicyDuration::from_seconds(300),
        step_timeout: PolicyDuration::from_seconds(10),
        max_step_timeout: PolicyDuration::from_seconds(60),
        max_steps: 5,
        max_body_bytes: 1 << 20,
        failures_to_alert: 3,
        concurrency: 4,
        default_severity: "warning".into(),
    }
}

fn scenario(v: Value) -> Scenario {
    serde_json::from_value(v).unwrap()
}

#[test]
fn mon05_gap_is_uniform_between_three_and_five_minutes() {
    // SEED-RULES §21 example 14: every gap within [180 s, 300 s].
    let p = pol();
    assert_eq!(next_gap_seconds(&p, 0.0), 180);
    assert_eq!(next_gap_seconds(&p, 0.999_999), 300);
    assert_eq!(next_gap_seconds(&p, 1.0), 300);
    assert_eq!(next_gap_seconds(&p, f64::NAN), 180);
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..1000 {
        let g = next_gap_seconds(&p, i as f64 / 1000.0);
        assert!((180..=300).contains(&g), "gap {g}");
        seen.insert(g);
    }
    assert_eq!(
        seen.len(),
        121,
        "every whole second of the range is reachable"
    );
}

#[test]
fn validation_names_the_step_and_field() {
    let s = scenario(serde_json::json!({"steps": [
        {"name": "login", "method": "POST", "url": "http://h/login", "form": {"u": "{{user}}"}},
        {"name": "page", "url": "ftp://h/x"},
        {"name": "api", "url": "http://h/{{token}}", "assert": {"json_path": "data.ok"}},
    ]}));
    let errs = s.validate(&pol(), &[]);
    let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
    assert!(fields.contains(&"steps[0].form.u"), "{errs:?}");
    assert!(fields.contains(&"steps[1].url"), "{errs:?}");
    assert!(fields.contains(&"steps[2].url"), "{errs:?}");
    assert!(fields.contains(&"steps[2].assert.json_path"), "{errs:?}");
}

#[test]
fn variables_flow_from_extracts_and_secrets() {
    let s = scenario(
        serde_json::json!({"variables": {"user": "probe01"}, "steps": [
            {"name": "login", "method": "POST", "url": "http://h/login", "form": {"u": "{{user}}", "p": "{{password}}"},
             "extract": [{"name": "token", "json_path": "$.token"}]},
            {"name": "page", "url": "http://h/orders?t={{ token }}", "headers": {"X-Token": "{{token}}"}},
        ]}),
    );
    assert_eq!(s.validate(&pol(), &["password".to_string()]), vec![]);
    let errs = s.validate(&pol(), &[]);
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].field, "steps[0].form.p");
    let mut vars = BTreeMap::new();
    vars.insert("token".to_string(), "abc".to_string());
    assert_eq!(
        substitute("http://h/o?t={{ token }}&x={{y}}", &vars),
        "http://h/o?t=abc&x={{y}}"
    );
}

#[test]
fn json_paths() {
    let v = serde_json::json!({"data": {"items": [{"id": 7}, {"id": 8}], "a b": true}});
    let p = parse_json_path("$.data.items[1].id").unwrap();
    assert_eq!(json_at(&v, &p), Some(&serde_json::json!(8)));
    let p = parse_json_path("$.data[\"a b\"]").unwrap();
    assert_eq!(json_at(&v, &p), Some(&Value::Bool(true)));
    assert!(json_at(&v, &parse_json_path("$.data.items[5]").unwrap()).is_none());
    assert!(parse_json_path("data").is_err());
    assert!(parse_json_path("$.a[x]").is_err());
    assert!(parse_json_path("$..a").is_err());
}

fn resp<'a>(status: u16, body: &'a str, headers: &'a [(String, String)]) -> Response<'a> {
    Response {
        status,
        headers,
        body,
        truncated: false,
        latency_ms: 12,
    }
}

#[test]
fn garbage_is_a_failed_step_with_the_reason() {
    let s = scenario(serde_json::json!({"steps": [
        {"name": "api", "url": "http://h/api", "assert": {"json_path": "$.ok", "json_equals": true}},
    ]}));
    let step = &s.steps[0];
    let e = check(step, &resp(200, "\u{0}\u{fffd}<html>", &[])).unwrap_err();
    assert!(e.starts_with("body is not JSON"), "{e}");
    let e = check(step, &resp(200, r#"{"ok": false}"#, &[])).unwrap_err();
    assert_eq!(e, "$.ok is false, expected true");
    let e = check(step, &resp(503, "down", &[])).unwrap_err();
    assert_eq!(e, "status 503 (expected 2xx)");
    assert!(check(step, &resp(200, r#"{"ok": true}"#, &[])).is_ok());
}

#[test]
fn assertions_and_extracts() {
    let s = scenario(serde_json::json!({"steps": [
        {"name": "form", "url": "http://h/login", "assert": {"status": 200, "body_contains": "登录", "body_regex": "csrf=\\w+", "max_latency_ms": 10},
         "extract": [{"name": "csrf", "regex": "csrf=(\\w+)"}, {"name": "sid", "header": "Set-Cookie"}]},
    ]}));
    let h = vec![("set-cookie".to_string(), "sid=1".to_string())];
    let e = check(&s.steps[0], &resp(200, "请登录 csrf=abc", &h)).unwrap_err();
    assert_eq!(e, "latency 12 ms over the bound of 10 ms");
    let mut s2 = s.clone();
    s2.steps[0].assert.max_latency_ms = Some(1000);
    let vars = check(&s2.steps[0], &resp(200, "请登录 csrf=abc", &h)).unwrap();
    assert_eq!(vars.get("csrf").map(String::as_str), Some("abc"));
    assert_eq!(vars.get("sid").map(String::as_str), Some("sid=1"));
    let e = check(&s2.steps[0], &resp(200, "welcome", &h)).unwrap_err();
    assert_eq!(e, "body does not contain '登录'");
}

#[test]
fn consecutive_failures_raise_once_and_recovery_resolves() {
    let t = 3;
    let (n, a) = after_run(false, 0, false, t);
    assert_eq!((n, a), (1, Alarm::Quiet));
    let (n, a) = after_run(false, n, false, t);
    assert_eq!((n, a), (2, Alarm::Quiet));
    let (n, a) = after_run(false, n, false, t);
    assert_eq!((n, a), (3, Alarm::Raise));
    let (n, a) = after_run(false, n, true, t);
    assert_eq!((n, a), (4, Alarm::Quiet));
    assert_eq!(after_run(true, n, true, t), (0, Alarm::Resolve));
    assert_eq!(after_run(true, 2, false, t), (0, Alarm::Quiet));
}
