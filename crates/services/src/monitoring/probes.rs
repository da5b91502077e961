//! Dial-test probes (MON-03, MON-05): definitions (validated, audited), the HTTP runner (a fresh cookie jar per
//! run, per-step timeouts and timings, a bounded body read), run history, and the alarm after N consecutive
//! failures through the alert pipeline (dedup key `probe:<id>`), resolved by the first good run.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tianshu_core::policy::ProbePolicy;
use tianshu_core::probe::{self as domain, after_run, Alarm, Scenario, Step};
use tianshu_core::Permission;
use tianshu_store::monitoring::{
    self as st, NewProbeRun, ProbeDef, ProbeRow, ProbeRunRow, ProbeStats,
};

use super::{alert_labels, audit, names_only, rfc3339};
use crate::authz::Principal;
use crate::{Platform, ServiceError, ServiceResult};

/// Alert name of a failing probe.
pub const ALERTNAME: &str = "probe_failed";

/// A probe to create or replace.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeInput {
    pub name: String,
    #[serde(default)]
    pub system: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    /// critical, error, warning or info (default: the policy's).
    #[serde(default)]
    pub severity: Option<String>,
    #[serde(default)]
    pub enabled: Option<bool>,
    /// The scenario (steps, variables).
    pub scenario: Value,
    /// Secret variables (e.g. the probe account's password): used as `{{name}}`, never returned. On edit,
    /// absent = keep the stored ones.
    #[serde(default)]
    pub secrets: Option<BTreeMap<String, String>>,
    /// Required on edit: the version read.
    #[serde(default)]
    pub version: Option<i64>,
}

/// A probe as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeOut {
    pub id: i64,
    pub name: String,
    pub system: String,
    pub region: String,
    pub severity: String,
    pub enabled: bool,
    pub scenario: Value,
    /// Names of the secret variables (values are never shown).
    pub secret_names: Vec<String>,
    pub next_run_at: String,
    pub consecutive_failures: i64,
    /// Its alert is raised.
    pub alerting: bool,
    pub last_run_at: Option<String>,
    pub last_ok: Option<bool>,
    /// Runs, successful runs and latency over the last 24 hours.
    pub runs_24h: i64,
    pub availability_24h: Option<f64>,
    pub avg_ms_24h: Option<f64>,
    pub max_ms_24h: Option<i64>,
    pub created_by: String,
    pub version: i64,
}

/// One step's result.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StepResult {
    pub name: String,
    pub ok: bool,
    pub status: Option<u16>,
    pub latency_ms: u64,
    pub error: Option<String>,
}

/// One run.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RunOut {
    pub id: i64,
    pub started_at: String,
    pub ok: bool,
    pub total_ms: i64,
    /// Index of the failed step.
    pub failed_step: Option<i64>,
    pub error: Option<String>,
    pub steps: Vec<StepResult>,
}

impl From<ProbeRunRow> for RunOut {
    fn from(r: ProbeRunRow) -> Self {
        RunOut {
            id: r.id,
            started_at: rfc3339(r.started_at),
            ok: r.ok != 0,
            total_ms: r.total_ms,
            failed_step: r.failed_step,
            error: r.error,
            steps: serde_json::from_str(&r.steps).unwrap_or_default(),
        }
    }
}

/// A probe with its recent runs.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeView {
    pub probe: ProbeOut,
    pub runs: Vec<RunOut>,
}

/// The outcome of executing a scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Execution {
    pub ok: bool,
    pub total_ms: u64,
    pub failed_step: Option<usize>,
    pub error: Option<String>,
    pub steps: Vec<StepResult>,
}

fn out(r: ProbeRow, secrets: &str, stats: ProbeStats) -> ProbeOut {
    let names: BTreeMap<String, String> = serde_json::from_str(secrets).unwrap_or_default();
    ProbeOut {
        id: r.id,
        name: r.name,
        system: r.system,
        region: r.region,
        severity: r.severity,
        enabled: r.enabled != 0,
        scenario: serde_json::from_str(&r.scenario).unwrap_or(Value::Null),
        secret_names: names.into_keys().collect(),
        next_run_at: rfc3339(r.next_run_at),
        consecutive_failures: r.consecutive_failures,
        alerting: r.alerting != 0,
        last_run_at: r.last_run_at.map(rfc3339),
        last_ok: r.last_ok.map(|v| v != 0),
        runs_24h: stats.runs,
        availability_24h: (stats.runs > 0)
            .then(|| stats.ok_runs as f64 * 100.0 / stats.runs as f64),
        avg_ms_24h: stats.avg_ms,
        max_ms_24h: stats.max_ms,
        created_by: r.created_by,
        version: r.version,
    }
}

async fn view(p: &Platform, r: ProbeRow) -> ServiceResult<ProbeOut> {
    let since = p.now_us() - 86_400_000_000;
    let stats = p.store.probe_stats(r.id, since).await?;
    let secrets = p.store.probe_secret_json(r.id).await?;
    Ok(out(r, &secrets, stats))
}

/// Parses and checks a definition; every problem names its field (e.g. `scenario.steps[2].assert.json_path`).
fn checked(
    pol: &ProbePolicy,
    input: &ProbeInput,
    keep_secrets: Option<&str>,
) -> ServiceResult<(ProbeDef, Scenario)> {
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ServiceError::invalid_zh(
            "name",
            "1 to 200 characters",
            "名称需 1 至 200 个字符",
        ));
    }
    let severity = input
        .severity
        .clone()
        .unwrap_or_else(|| pol.default_severity.clone());
    if !matches!(severity.as_str(), "critical" | "error" | "warning" | "info") {
        return Err(ServiceError::invalid(
            "severity",
            "expected critical, error, warning or info",
        ));
    }
    for (f, v) in [("system", &input.system), ("region", &input.region)] {
        if v.as_deref().is_some_and(|s| s.len() > 200) {
            return Err(ServiceError::invalid(f, "at most 200 bytes"));
        }
    }
    let scenario: Scenario =
        serde_path_to_error::deserialize(input.scenario.clone()).map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." {
                "scenario".to_string()
            } else {
                format!("scenario.{path}")
            };
            ServiceError::invalid(field, e.inner().to_string())
        })?;
    let secrets: BTreeMap<String, String> = match (&input.secrets, keep_secrets) {
        (Some(s), _) => s.clone(),
        (None, Some(stored)) => serde_json::from_str(stored).unwrap_or_default(),
        (None, None) => BTreeMap::new(),
    };
    for k in secrets.keys() {
        if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(ServiceError::invalid(
                format!("secrets.{k}"),
                "a variable name is letters, digits and _",
            ));
        }
    }
    let names: Vec<String> = secrets.keys().cloned().collect();
    if let Some(e) = scenario.validate(pol, &names).into_iter().next() {
        return Err(ServiceError::invalid(
            format!("scenario.{}", e.field),
            e.message,
        ));
    }
    let def = ProbeDef {
        name: name.to_string(),
        system: input.system.clone().unwrap_or_default().trim().to_string(),
        region: input.region.clone().unwrap_or_default().trim().to_string(),
        severity,
        scenario: serde_json::to_string(&scenario).unwrap_or_default(),
        secrets: serde_json::to_string(&secrets).unwrap_or_else(|_| "{}".into()),
        enabled: input.enabled.unwrap_or(true),
    };
    Ok((def, scenario))
}

/// The JSON object of secret variables with every value encrypted for storage.
fn sealed_secrets(p: &Platform, json: &str) -> ServiceResult<String> {
    let plain: BTreeMap<String, String> = serde_json::from_str(json).unwrap_or_default();
    let sealed = p.credentials.seal_secrets(&plain)?;
    Ok(serde_json::to_string(&sealed).unwrap_or_else(|_| "{}".into()))
}

fn first_gap_us(pol: &ProbePolicy) -> i64 {
    // A new or re-enabled probe runs within its first interval, not in lockstep with the others.
    domain::next_gap_seconds(pol, rand::thread_rng().gen::<f64>()) * 1_000_000 / 3
}

/// Every probe with its last-24-hour availability.
pub async fn list(p: &Platform, actor: &Principal) -> ServiceResult<Vec<ProbeOut>> {
    actor.require(Permission::AlertRead)?;
    let mut v = Vec::new();
    for r in p.store.probes().await? {
        v.push(view(p, r).await?);
    }
    Ok(v)
}

fn not_found(id: i64) -> ServiceError {
    ServiceError::NotFound(format!("probe {id}"))
}

/// One probe with its latest runs.
pub async fn get(p: &Platform, actor: &Principal, id: i64, runs: i64) -> ServiceResult<ProbeView> {
    actor.require(Permission::AlertRead)?;
    let r = p.store.probe(id).await?.ok_or_else(|| not_found(id))?;
    let runs = p.store.probe_runs(id, runs.clamp(1, 500)).await?;
    Ok(ProbeView {
        probe: view(p, r).await?,
        runs: runs.into_iter().map(RunOut::from).collect(),
    })
}

/// Creates a probe; audited (secret names only).
pub async fn create(p: &Platform, actor: &Principal, input: ProbeInput) -> ServiceResult<ProbeOut> {
    actor.require(Permission::ProbeManage)?;
    let pol = p.policy.current();
    let (mut def, _) = checked(&pol.pack.monitoring.probes, &input, None)?;
    def.secrets = sealed_secrets(p, &def.secrets)?;
    let now = p.now_us();
    let next = now + first_gap_us(&pol.pack.monitoring.probes);
    let who = actor.actor();
    let secret_names = names_only(&input.secrets.clone().unwrap_or_default());
    let row = p
        .store
        .write(move |c| {
            Box::pin(async move {
                let r = st::insert_probe(c, &def, &who, next, now).await?;
                audit(c, &who, "probe.create", "probe", r.id.to_string(), None,
                    Some(json!({"name": r.name, "scenario": r.scenario, "secret_names": secret_names})), now).await?;
                Ok(r)
            })
        })
        .await?;
    view(p, row).await
}

/// Replaces a probe's definition (version-checked); audited.
pub async fn update(
    p: &Platform,
    actor: &Principal,
    id: i64,
    input: ProbeInput,
) -> ServiceResult<ProbeOut> {
    actor.require(Permission::ProbeManage)?;
    let version = input
        .version
        .ok_or_else(|| ServiceError::invalid("version", "the version read is required"))?;
    let pol = p.policy.current();
    let before = p.store.probe(id).await?.ok_or_else(|| not_found(id))?;
    let stored = p.store.probe_secret_json(id).await?;
    let (mut def, _) = checked(&pol.pack.monitoring.probes, &input, Some(&stored))?;
    if input.secrets.is_some() {
        // Kept secrets are copied as stored (sealed already); new ones are sealed here.
        def.secrets = sealed_secrets(p, &def.secrets)?;
    }
    let now = p.now_us();
    let who = actor.actor();
    let secrets_changed = input.secrets.is_some();
    let row = p
        .store
        .write(move |c| {
            Box::pin(async move {
                let r = st::update_probe(c, id, version, &def, now).await?;
                audit(c, &who, "probe.update", "probe", id.to_string(),
                    Some(json!({"name": before.name, "scenario": before.scenario, "enabled": before.enabled})),
                    Some(json!({"name": r.name, "scenario": r.scenario, "enabled": r.enabled, "secrets_changed": secrets_changed})), now).await?;
                Ok(r)
            })
        })
        .await?;
    view(p, row).await
}

/// Deletes a probe and its history (version-checked); audited.
pub async fn delete(p: &Platform, actor: &Principal, id: i64, version: i64) -> ServiceResult<()> {
    actor.require(Permission::ProbeManage)?;
    let before = p.store.probe(id).await?.ok_or_else(|| not_found(id))?;
    let now = p.now_us();
    let who = actor.actor();
    p.store
        .write(move |c| {
            Box::pin(async move {
                st::delete_probe(c, id, version).await?;
                audit(
                    c,
                    &who,
                    "probe.delete",
                    "probe",
                    id.to_string(),
                    Some(json!({"name": before.name, "scenario": before.scenario})),
                    None,
                    now,
                )
                .await
            })
        })
        .await?;
    Ok(())
}

/// Runs a probe now (outside its schedule) and records the run like a scheduled one.
pub async fn run_now(p: &Platform, actor: &Principal, id: i64) -> ServiceResult<RunOut> {
    actor.require(Permission::ProbeManage)?;
    let r = p.store.probe(id).await?.ok_or_else(|| not_found(id))?;
    let run_id = run_claimed(p, r).await?;
    let runs = p.store.probe_runs(id, 20).await?;
    runs.into_iter()
        .find(|x| x.id == run_id)
        .map(RunOut::from)
        .ok_or_else(|| ServiceError::Internal("the run just recorded is missing".into()))
}

/// Claims up to `limit` due probes, each rescheduled after a MON-05 gap.
pub(crate) async fn claim_due(p: &Platform, limit: usize) -> ServiceResult<Vec<ProbeRow>> {
    let pol = p.policy.current();
    let gaps: Vec<i64> = {
        let mut rng = rand::thread_rng();
        (0..limit)
            .map(|_| {
                domain::next_gap_seconds(&pol.pack.monitoring.probes, rng.gen::<f64>()) * 1_000_000
            })
            .collect()
    };
    let now = p.now_us();
    Ok(p.store
        .write(move |c| Box::pin(async move { st::claim_due_probes(c, now, &gaps).await }))
        .await?)
}

/// Executes a claimed probe, raises or resolves its alert, records the run; returns the run id.
pub(crate) async fn run_claimed(p: &Platform, r: ProbeRow) -> ServiceResult<i64> {
    let pol = p.policy.current();
    let probes = &pol.pack.monitoring.probes;
    let started_at = p.now_us();
    let stored: BTreeMap<String, String> =
        serde_json::from_str(&p.store.probe_secret_json(r.id).await?).unwrap_or_default();
    let secrets = p.credentials.open_secrets(&stored, r.id);
    let failed = |error: String| Execution {
        ok: false,
        total_ms: 0,
        failed_step: None,
        error: Some(error),
        steps: Vec::new(),
    };
    let exec = match (
        serde_json::from_str::<Scenario>(&r.scenario),
        p.monitor.http(),
        secrets,
    ) {
        (Ok(s), Ok(client), Ok(secrets)) => execute(client, probes, &s, &secrets).await,
        (Err(e), _, _) => failed(format!("stored scenario unreadable: {e}")),
        (_, Err(e), _) => failed(e),
        // Logged in the run like any failure: it names the probe, the secret and the key file, never a value.
        (_, _, Err(e)) => failed(e.to_string()),
    };
    metrics::counter!("tianshu_probe_runs_total", "result" => if exec.ok { "ok" } else { "failed" }).increment(1);
    metrics::histogram!("tianshu_probe_run_seconds").record(exec.total_ms as f64 / 1000.0);
    // The streak as stored now (a run-now may have happened since the claim).
    let current = p.store.probe(r.id).await?.unwrap_or(r);
    let (failures, alarm) = after_run(
        exec.ok,
        current.consecutive_failures.max(0) as u32,
        current.alerting != 0,
        probes.failures_to_alert,
    );
    // The alert first, then the record: a crash in between repeats an idempotent alert event next run.
    let alerting = match alarm {
        Alarm::Raise => {
            let labels = alert_labels(
                ALERTNAME,
                &current.name,
                &current.system,
                &current.region,
                &current.severity,
            );
            let why = exec.error.clone().unwrap_or_default();
            let summary = format!("拨测 {} 连续 {failures} 次失败:{why}", current.name);
            super::super::alerts::ingest_internal(
                p,
                "probe",
                dedup_key(current.id),
                true,
                labels,
                summary,
            )
            .await?;
            metrics::counter!("tianshu_probe_alarms_total", "action" => "raise").increment(1);
            true
        }
        Alarm::Resolve => {
            super::super::alerts::ingest_internal(
                p,
                "probe",
                dedup_key(current.id),
                false,
                Default::default(),
                String::new(),
            )
            .await?;
            metrics::counter!("tianshu_probe_alarms_total", "action" => "resolve").increment(1);
            false
        }
        Alarm::Quiet => current.alerting != 0,
    };
    let run = NewProbeRun {
        probe_id: current.id,
        started_at,
        ok: exec.ok,
        total_ms: exec.total_ms as i64,
        failed_step: exec.failed_step.map(|i| i as i64),
        error: exec.error.clone(),
        steps: serde_json::to_string(&exec.steps).unwrap_or_else(|_| "[]".into()),
    };
    Ok(p.store
        .write(move |c| {
            Box::pin(
                async move { st::record_probe_run(c, &run, i64::from(failures), alerting).await },
            )
        })
        .await?)
}

/// The alert dedup key of a probe.
pub fn dedup_key(id: i64) -> String {
    format!("probe:{id}")
}

fn redact(s: String, secrets: &BTreeMap<String, String>) -> String {
    secrets
        .values()
        .filter(|v| v.len() >= 3)
        .fold(s, |acc, v| acc.replace(v.as_str(), "***"))
}

/// Runs a scenario: one cookie jar for all steps, each step with its timeout; the first failing step ends
/// the run with its reason. Never panics on what a target sends.
pub async fn execute(
    client: &reqwest::Client,
    pol: &ProbePolicy,
    s: &Scenario,
    secrets: &BTreeMap<String, String>,
) -> Execution {
    let start = Instant::now();
    let mut steps = Vec::with_capacity(s.steps.len());
    // One cookie jar per run: a run never sees another run's session.
    let jar = reqwest::cookie::Jar::default();
    let mut vars = s.variables.clone();
    vars.extend(secrets.iter().map(|(k, v)| (k.clone(), v.clone())));
    for (i, step) in s.steps.iter().enumerate() {
        let timeout = step.timeout_ms.map_or(
            Duration::from_secs(pol.step_timeout.seconds() as u64),
            Duration::from_millis,
        );
        let t0 = Instant::now();
        let result = tokio::time::timeout(
            timeout,
            exchange(client, &jar, step, &vars, pol.max_body_bytes as usize),
        )
        .await;
        let latency_ms = t0.elapsed().as_millis() as u64;
        let (status, outcome) = match result {
            Err(_) => (
                None,
                Err(format!("timed out after {} ms", timeout.as_millis())),
            ),
            Ok(Err(e)) => (None, Err(e)),
            Ok(Ok(resp)) => {
                let r = domain::Response {
                    status: resp.status,
                    headers: &resp.headers,
                    body: &resp.body,
                    truncated: resp.truncated,
                    latency_ms,
                };
                (Some(resp.status), domain::check(step, &r))
            }
        };
        match outcome {
            Ok(extracted) => {
                vars.extend(extracted);
                steps.push(StepResult {
                    name: step.name.clone(),
                    ok: true,
                    status,
                    latency_ms,
                    error: None,
                });
            }
            Err(e) => {
                let e = redact(e, secrets);
                steps.push(StepResult {
                    name: step.name.clone(),
                    ok: false,
                    status,
                    latency_ms,
                    error: Some(e.clone()),
                });
                return Execution {
                    ok: false,
                    total_ms: start.elapsed().as_millis() as u64,
                    failed_step: Some(i),
                    error: Some(format!("step {} ({}): {e}", i + 1, step.name)),
                    steps,
                };
            }
        }
    }
    Execution {
        ok: true,
        total_ms: start.elapsed().as_millis() as u64,
        failed_step: None,
        error: None,
        steps,
    }
}

struct Received {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
    truncated: bool,
}

/// Redirects followed per step.
const MAX_REDIRECTS: usize = 10;

async fn exchange(
    client: &reqwest::Client,
    jar: &reqwest::cookie::Jar,
    step: &Step,
    vars: &BTreeMap<String, String>,
    max_body: usize,
) -> Result<Received, String> {
    use reqwest::cookie::CookieStore;
    use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
    let mut url = reqwest::Url::parse(&domain::substitute(&step.url, vars))
        .map_err(|e| format!("url: {e}"))?;
    let mut method =
        reqwest::Method::from_bytes(step.method.as_bytes()).map_err(|e| format!("method: {e}"))?;
    let form: Option<Vec<(String, String)>> = step.form.as_ref().map(|f| {
        f.iter()
            .map(|(k, v)| (k.clone(), domain::substitute(v, vars)))
            .collect()
    });
    let json = step.json.as_ref().map(|j| domain::substitute_json(j, vars));
    let mut with_body = true;
    let mut hops = 0;
    // Redirects are followed here, not by the shared client, so each hop's cookies go into this run's jar.
    let mut resp = loop {
        let mut req = client.request(method.clone(), url.clone());
        for (k, v) in &step.headers {
            req = req.header(k.as_str(), domain::substitute(v, vars));
        }
        if let Some(c) = jar.cookies(&url) {
            req = req.header(COOKIE, c);
        }
        if with_body {
            if let Some(f) = &form {
                req = req.form(f);
            }
            if let Some(j) = &json {
                req = req.json(j);
            }
        }
        let resp = req
            .send()
            .await
            .map_err(|e| format!("request failed: {}", error_chain(&e)))?;
        jar.set_cookies(&mut resp.headers().get_all(SET_COOKIE).iter(), &url);
        let location = resp
            .headers()
            .get(LOCATION)
            .and_then(|l| l.to_str().ok())
            .map(str::to_string);
        match location {
            Some(loc) if step.follow_redirects && resp.status().is_redirection() => {
                hops += 1;
                if hops > MAX_REDIRECTS {
                    return Err(format!("more than {MAX_REDIRECTS} redirects"));
                }
                url = url
                    .join(&loc)
                    .map_err(|e| format!("redirect to '{loc}': {e}"))?;
                // 301/302/303 turn into a GET without the body, as browsers do; 307/308 repeat the request.
                if !matches!(resp.status().as_u16(), 307 | 308) {
                    method = reqwest::Method::GET;
                    with_body = false;
                }
            }
            _ => break resp,
        }
    };
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let mut buf: Vec<u8> = Vec::new();
    let mut truncated = false;
    loop {
        match resp.chunk().await {
            Ok(Some(c)) => {
                let room = max_body.saturating_sub(buf.len());
                if c.len() > room {
                    buf.extend_from_slice(&c[..room]);
                    truncated = true;
                    break;
                }
                buf.extend_from_slice(&c);
            }
            Ok(None) => break,
            Err(e) => return Err(format!("reading the body failed: {}", error_chain(&e))),
        }
    }
    Ok(Received {
        status,
        headers,
        body: String::from_utf8_lossy(&buf).into_owned(),
        truncated,
    })
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
