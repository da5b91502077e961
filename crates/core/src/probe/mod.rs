//! Dial-test probes (MON-03, MON-05): the scenario a probe replays, its validation (errors name the step and
//! field, e.g. `steps[2].assert.json_path`), variable passing between steps, the checks on a response, the
//! jittered schedule and the consecutive-failure alarm rule. Pure: the HTTP exchange happens in services.

use std::collections::BTreeMap;

use regex_lite::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::policy::ProbePolicy;

/// A probe's scenario: steps run in order sharing one cookie jar; later steps use earlier steps' values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// Values available to every step as `{{name}}`.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
}

/// One HTTP exchange.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Shown in results.
    pub name: String,
    /// GET, POST, PUT, PATCH, DELETE or HEAD (default GET).
    #[serde(default = "default_method")]
    pub method: String,
    /// http:// or https:// URL; may use `{{var}}`.
    pub url: String,
    /// Extra request headers; values may use `{{var}}`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// An HTML form body (application/x-www-form-urlencoded); values may use `{{var}}`.
    #[serde(default)]
    pub form: Option<BTreeMap<String, String>>,
    /// A JSON body; string values may use `{{var}}`.
    #[serde(default)]
    pub json: Option<Value>,
    /// Timeout of this step in milliseconds (default: the policy's `probes.step_timeout`).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// What the response must satisfy.
    #[serde(default)]
    pub assert: Assertions,
    /// Values taken from the response for later steps.
    #[serde(default)]
    pub extract: Vec<Extract>,
    /// Follow redirects (default true); false checks the redirect response itself (e.g. a 302 after login).
    #[serde(default = "yes")]
    pub follow_redirects: bool,
}

fn default_method() -> String {
    "GET".into()
}

fn yes() -> bool {
    true
}

/// Checks on a response; all given must hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assertions {
    /// Expected status (default: any 2xx).
    #[serde(default)]
    pub status: Option<u16>,
    /// Text the body must contain.
    #[serde(default)]
    pub body_contains: Option<String>,
    /// Regex the body must match (anywhere).
    #[serde(default)]
    pub body_regex: Option<String>,
    /// JSON path (`$.a.b[0].c`) that must exist in a JSON body …
    #[serde(default)]
    pub json_path: Option<String>,
    /// … and, when given, equal this value.
    #[serde(default)]
    pub json_equals: Option<Value>,
    /// Latency bound of this step in milliseconds.
    #[serde(default)]
    pub max_latency_ms: Option<u64>,
}

/// A value taken from a response: exactly one of `json_path`, `regex` (first capture group, else the whole
/// match) or `header`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Extract {
    /// Variable name for later steps.
    pub name: String,
    #[serde(default)]
    pub json_path: Option<String>,
    #[serde(default)]
    pub regex: Option<String>,
    #[serde(default)]
    pub header: Option<String>,
}

/// A problem with a scenario, naming the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    /// Dotted path, e.g. `steps[2].assert.json_path`.
    pub field: String,
    pub message: String,
}

fn err(field: impl Into<String>, message: impl Into<String>) -> SpecError {
    SpecError {
        field: field.into(),
        message: message.into(),
    }
}

const METHODS: [&str; 6] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"];

fn valid_var_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 64
        && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !n.starts_with(|c: char| c.is_ascii_digit())
}

/// The `{{name}}` references in `s`, or the first malformed one.
fn references(s: &str) -> Result<Vec<&str>, String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err("'{{' without a closing '}}'".into());
        };
        let name = after[..end].trim();
        if !valid_var_name(name) {
            return Err(format!("'{{{{{name}}}}}' is not a variable name"));
        }
        out.push(name);
        rest = &after[end + 2..];
    }
    Ok(out)
}

/// Replaces `{{name}}` with the variable's value; unknown names stay as written (validation prevents them).
pub fn substitute(s: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = after[..end].trim();
        match vars.get(name) {
            Some(v) => out.push_str(v),
            None => out.push_str(&rest[start..start + 2 + end + 2]),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// Substitutes inside every string of a JSON value.
pub fn substitute_json(v: &Value, vars: &BTreeMap<String, String>) -> Value {
    match v {
        Value::String(s) => Value::String(substitute(s, vars)),
        Value::Array(a) => Value::Array(a.iter().map(|x| substitute_json(x, vars)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), substitute_json(x, vars)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn json_strings(v: &Value, path: String, out: &mut Vec<(String, String)>) {
    match v {
        Value::String(s) => out.push((path, s.clone())),
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                json_strings(x, format!("{path}[{i}]"), out);
            }
        }
        Value::Object(o) => {
            for (k, x) in o {
                json_strings(x, format!("{path}.{k}"), out);
            }
        }
        _ => {}
    }
}

/// One segment of a JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSeg {
    /// `.name` or `["name"]`.
    Key(String),
    /// `[n]`.
    Index(usize),
}

/// Parses `$`, `$.a.b`, `$.a[0].b`, `$["a b"]`.
pub fn parse_json_path(p: &str) -> Result<Vec<PathSeg>, String> {
    let Some(mut rest) = p.trim().strip_prefix('$') else {
        return Err(format!("'{p}' must start with $ (e.g. $.data.items[0].id)"));
    };
    let mut segs = Vec::new();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let key = &r[..end];
            if key.is_empty() {
                return Err(format!("'{p}' has an empty key"));
            }
            segs.push(PathSeg::Key(key.to_string()));
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let Some(end) = r.find(']') else {
                return Err(format!("'{p}' has '[' without ']'"));
            };
            let inner = r[..end].trim();
            if let Some(q) = inner
                .strip_prefix('"')
                .and_then(|x| x.strip_suffix('"'))
                .or_else(|| inner.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')))
            {
                segs.push(PathSeg::Key(q.to_string()));
            } else {
                let n: usize = inner
                    .parse()
                    .map_err(|_| format!("'{p}': '[{inner}]' is not an index or a quoted key"))?;
                segs.push(PathSeg::Index(n));
            }
            rest = &r[end + 1..];
        } else {
            return Err(format!("'{p}': expected . or [ at '{rest}'"));
        }
    }
    Ok(segs)
}

/// The value at `path` in `v`, if any.
pub fn json_at<'a>(v: &'a Value, path: &[PathSeg]) -> Option<&'a Value> {
    path.iter().try_fold(v, |cur, seg| match (seg, cur) {
        (PathSeg::Key(k), Value::Object(o)) => o.get(k),
        (PathSeg::Index(i), Value::Array(a)) => a.get(*i),
        _ => None,
    })
}

/// A JSON value as a variable: strings without quotes, everything else as JSON text.
pub fn json_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Scenario {
    /// Checks the scenario against the policy; every problem names its field. `secret_names` are the probe's
    /// secret variables (defined, values not shown).
    pub fn validate(&self, pol: &ProbePolicy, secret_names: &[String]) -> Vec<SpecError> {
        let mut errs = Vec::new();
        if self.steps.is_empty() {
            errs.push(err("steps", "a probe has at least one step"));
        }
        if self.steps.len() > pol.max_steps as usize {
            errs.push(err(
                "steps",
                format!("at most {} steps per probe", pol.max_steps),
            ));
        }
        let mut known: Vec<String> = Vec::new();
        for k in self.variables.keys() {
            if !valid_var_name(k) {
                errs.push(err(
                    format!("variables.{k}"),
                    "a variable name is letters, digits and _, not starting with a digit",
                ));
            }
            known.push(k.clone());
        }
        known.extend(secret_names.iter().cloned());
        let max_timeout_ms = pol.max_step_timeout.seconds() as u64 * 1000;
        for (i, s) in self.steps.iter().enumerate() {
            let at = |f: &str| format!("steps[{i}].{f}");
            if s.name.trim().is_empty() || s.name.chars().count() > 200 {
                errs.push(err(at("name"), "1 to 200 characters"));
            }
            if !METHODS.contains(&s.method.as_str()) {
                errs.push(err(
                    at("method"),
                    format!("'{}' is not one of {}", s.method, METHODS.join(", ")),
                ));
            }
            let mut texts: Vec<(String, String)> = vec![(at("url"), s.url.clone())];
            for (k, v) in &s.headers {
                if k.is_empty()
                    || !k
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
                {
                    errs.push(err(at(&format!("headers.{k}")), "not a header name"));
                }
                texts.push((at(&format!("headers.{k}")), v.clone()));
            }
            for (k, v) in s.form.iter().flatten() {
                texts.push((at(&format!("form.{k}")), v.clone()));
            }
            if let Some(j) = &s.json {
                json_strings(j, at("json"), &mut texts);
            }
            if s.form.is_some() && s.json.is_some() {
                errs.push(err(
                    at("json"),
                    "a step sends a form or a JSON body, not both",
                ));
            }
            if (s.form.is_some() || s.json.is_some()) && matches!(s.method.as_str(), "GET" | "HEAD")
            {
                errs.push(err(
                    at("method"),
                    "a step with a body uses POST, PUT, PATCH or DELETE",
                ));
            }
            for (field, text) in &texts {
                match references(text) {
                    Err(m) => errs.push(err(field.clone(), m)),
                    Ok(names) => {
                        for n in names {
                            if !known.iter().any(|k| k == n) {
                                errs.push(err(
                                    field.clone(),
                                    format!("'{{{{{n}}}}}' is not a variable of the probe or extracted by an earlier step"),
                                ));
                            }
                        }
                    }
                }
            }
            let url = substitute(&s.url, &BTreeMap::new());
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                errs.push(err(at("url"), "must start with http:// or https://"));
            }
            if let Some(t) = s.timeout_ms {
                if t == 0 || t > max_timeout_ms {
                    errs.push(err(
                        at("timeout_ms"),
                        format!("1 to {max_timeout_ms} milliseconds (probes.max_step_timeout)"),
                    ));
                }
            }
            let a = &s.assert;
            if let Some(st) = a.status {
                if !(100..=599).contains(&st) {
                    errs.push(err(at("assert.status"), "an HTTP status 100 to 599"));
                }
            }
            if a.body_contains.as_deref().is_some_and(str::is_empty) {
                errs.push(err(at("assert.body_contains"), "must not be empty"));
            }
            if let Some(r) = &a.body_regex {
                if let Err(e) = Regex::new(r) {
                    errs.push(err(
                        at("assert.body_regex"),
                        format!("not a valid regex: {e}"),
                    ));
                }
            }
            if let Some(p) = &a.json_path {
                if let Err(e) = parse_json_path(p) {
                    errs.push(err(at("assert.json_path"), e));
                }
            }
            if a.json_equals.is_some() && a.json_path.is_none() {
                errs.push(err(at("assert.json_equals"), "needs assert.json_path"));
            }
            if a.max_latency_ms == Some(0) {
                errs.push(err(at("assert.max_latency_ms"), "must be at least 1"));
            }
            for (j, x) in s.extract.iter().enumerate() {
                let at = |f: &str| format!("steps[{i}].extract[{j}].{f}");
                if !valid_var_name(&x.name) {
                    errs.push(err(
                        at("name"),
                        "a variable name is letters, digits and _, not starting with a digit",
                    ));
                }
                let sources = [x.json_path.is_some(), x.regex.is_some(), x.header.is_some()]
                    .iter()
                    .filter(|b| **b)
                    .count();
                if sources != 1 {
                    errs.push(err(
                        at("json_path"),
                        "give exactly one of json_path, regex, header",
                    ));
                }
                if let Some(p) = &x.json_path {
                    if let Err(e) = parse_json_path(p) {
                        errs.push(err(at("json_path"), e));
                    }
                }
                if let Some(r) = &x.regex {
                    if let Err(e) = Regex::new(r) {
                        errs.push(err(at("regex"), format!("not a valid regex: {e}")));
                    }
                }
                known.push(x.name.clone());
            }
        }
        errs
    }
}

/// What a step received.
#[derive(Debug, Clone, PartialEq)]
pub struct Response<'a> {
    pub status: u16,
    /// Header names lower-case.
    pub headers: &'a [(String, String)],
    /// The body as read (up to the policy's limit), lossily decoded.
    pub body: &'a str,
    /// The body was cut at the limit.
    pub truncated: bool,
    pub latency_ms: u64,
}

/// Checks a response against a step: the values extracted for later steps, or the first failure's reason.
pub fn check(step: &Step, r: &Response<'_>) -> Result<BTreeMap<String, String>, String> {
    let a = &step.assert;
    let cut = if r.truncated {
        " (body truncated at the read limit)"
    } else {
        ""
    };
    match a.status {
        Some(want) if r.status != want => {
            return Err(format!("status {} (expected {want})", r.status))
        }
        None if !(200..300).contains(&r.status) => {
            return Err(format!("status {} (expected 2xx)", r.status))
        }
        _ => {}
    }
    if let Some(max) = a.max_latency_ms {
        if r.latency_ms > max {
            return Err(format!(
                "latency {} ms over the bound of {max} ms",
                r.latency_ms
            ));
        }
    }
    if let Some(t) = &a.body_contains {
        if !r.body.contains(t.as_str()) {
            return Err(format!("body does not contain '{t}'{cut}"));
        }
    }
    if let Some(re) = &a.body_regex {
        let re = Regex::new(re).map_err(|e| format!("body_regex: {e}"))?;
        if !re.is_match(r.body) {
            return Err(format!("body does not match /{}/{cut}", re.as_str()));
        }
    }
    let needs_json = a.json_path.is_some() || step.extract.iter().any(|x| x.json_path.is_some());
    let json: Option<Value> = if needs_json {
        match serde_json::from_str(r.body) {
            Ok(v) => Some(v),
            Err(e) => return Err(format!("body is not JSON: {e}{cut}")),
        }
    } else {
        None
    };
    if let (Some(p), Some(j)) = (&a.json_path, &json) {
        let path = parse_json_path(p)?;
        match (json_at(j, &path), &a.json_equals) {
            (None, _) => return Err(format!("{p} not found in the JSON body")),
            (Some(v), Some(want)) if v != want => {
                return Err(format!("{p} is {v}, expected {want}"))
            }
            _ => {}
        }
    }
    let mut out = BTreeMap::new();
    for x in &step.extract {
        let v = if let (Some(p), Some(j)) = (&x.json_path, &json) {
            let path = parse_json_path(p)?;
            json_at(j, &path)
                .map(json_text)
                .ok_or_else(|| format!("extract {}: {p} not found in the JSON body", x.name))?
        } else if let Some(re) = &x.regex {
            let re = Regex::new(re).map_err(|e| format!("extract {}: {e}", x.name))?;
            let c = re.captures(r.body).ok_or_else(|| {
                format!(
                    "extract {}: /{}/ does not match the body{cut}",
                    x.name,
                    re.as_str()
                )
            })?;
            c.get(1)
                .or_else(|| c.get(0))
                .map(|m| m.as_str().to_string())
                .unwrap_or_default()
        } else if let Some(h) = &x.header {
            let h = h.to_ascii_lowercase();
            r.headers
                .iter()
                .find(|(k, _)| *k == h)
                .map(|(_, v)| v.clone())
                .ok_or_else(|| format!("extract {}: no header {h}", x.name))?
        } else {
            continue;
        };
        out.insert(x.name.clone(), v);
    }
    Ok(out)
}

/// MON-05: the gap before a probe's next run, in seconds, uniform over [interval_min, interval_max] for a
/// uniform `u` in [0, 1).
pub fn next_gap_seconds(pol: &ProbePolicy, u: f64) -> i64 {
    let (lo, hi) = (pol.interval_min.seconds(), pol.interval_max.seconds());
    let span = (hi - lo + 1) as f64;
    let u = if u.is_finite() {
        u.clamp(0.0, 1.0)
    } else {
        0.0
    };
    (lo + (u * span).floor() as i64).min(hi)
}

/// What a run's outcome does to the probe's alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alarm {
    /// Raise (or keep raising) the probe's alert.
    Raise,
    /// Resolve it.
    Resolve,
    /// Nothing to send.
    Quiet,
}

/// The consecutive-failure count after a run and what to do about the alert: `threshold` failures in a row
/// raise it (once), the first success after an alarm resolves it.
pub fn after_run(ok: bool, failures_before: u32, alerting: bool, threshold: u32) -> (u32, Alarm) {
    if ok {
        return (
            0,
            if alerting {
                Alarm::Resolve
            } else {
                Alarm::Quiet
            },
        );
    }
    let n = failures_before.saturating_add(1);
    let alarm = if !alerting && n >= threshold {
        Alarm::Raise
    } else {
        Alarm::Quiet
    };
    (n, alarm)
}

#[cfg(test)]
mod tests;
