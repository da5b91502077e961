//! Probe executions per minute (issue 5 benchmark): Tianshu's probe runner (`probes::execute`, the shared HTTP
//! client, a cookie jar per run, assertions, each run recorded durably in SQLite like the scheduler does)
//! against a loopback site, at a fixed rate with the policy's concurrency bound, measuring the CPU the
//! prober uses; then prometheus-blackbox-exporter driven at the same rate against the same site.
//!
//! `serve` runs the loopback site (a login page and a JSON API) in its own process so its CPU is not counted.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use tianshu_core::probe::Scenario;
use tianshu_core::PolicyPack;
use tianshu_store::monitoring::{self as st, NewProbeRun, ProbeDef};
use tianshu_store::{Store, StoreConfig};
use tokio::sync::Semaphore;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// The loopback site.
    Serve {
        #[arg(long, default_value_t = 18090)]
        port: u16,
    },
    /// Tianshu's probe runner at `rate` executions per minute.
    Tianshu {
        #[arg(long)]
        target: String,
        #[arg(long, default_value_t = 5000)]
        rate: u64,
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// 1: GET the login page and check its text (what blackbox's http module does); 2: also the JSON API.
        #[arg(long, default_value_t = 1)]
        steps: usize,
    },
    /// Drives a running blackbox exporter (`/probe?target=…&module=…`) at `rate` per minute.
    Blackbox {
        #[arg(long)]
        exporter: String,
        #[arg(long)]
        target: String,
        #[arg(long, default_value = "http_login")]
        module: String,
        #[arg(long)]
        pid: u32,
        #[arg(long, default_value_t = 5000)]
        rate: u64,
        #[arg(long, default_value_t = 60)]
        seconds: u64,
    },
}

/// utime + stime of a process in seconds (clock ticks of 100 Hz, the Linux default).
fn cpu_seconds(pid: &str) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = s.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1]
}

async fn serve(port: u16) {
    use axum::routing::get;
    let app = axum::Router::new()
        .route("/login", get(|| async { axum::response::Html("<html><body><h1>代理商门户登录</h1><form method=\"post\"><input name=\"user\"></form></body></html>") }))
        .route("/api/orders", get(|| async { axum::Json(serde_json::json!({"data": {"ok": true, "pending": 3}})) }));
    let l = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    axum::serve(l, app).await.unwrap();
}

fn report(name: &str, rate: u64, wall: f64, done: u64, failed: u64, lat: &mut [f64], cpu: f64) {
    println!(
        "{name}: offered {rate}/min for {wall:.1} s → {:.0} executions/min completed ({done} runs, {failed} failed), latency p50 {:.1} ms p99 {:.1} ms, CPU {cpu:.2} s = {:.2} cores",
        done as f64 * 60.0 / wall,
        pct(lat, 0.50),
        pct(lat, 0.99),
        cpu / wall
    );
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Serve { port } => serve(port).await,
        Cmd::Tianshu {
            target,
            rate,
            seconds,
            steps,
        } => {
            let pack = PolicyPack::load_files(&tianshu_services::policy::embedded_files())
                .expect("default pack");
            let pol = pack.monitoring.probes.clone();
            let mut list = vec![
                serde_json::json!({"name": "登录页", "url": format!("{target}/login"), "assert": {"status": 200, "body_contains": "代理商门户登录"}}),
            ];
            if steps > 1 {
                list.push(serde_json::json!({"name": "订单", "url": format!("{target}/api/orders"), "assert": {"json_path": "$.data.ok", "json_equals": true}}));
            }
            let scenario: Scenario =
                serde_json::from_value(serde_json::json!({"steps": list})).unwrap();
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(&StoreConfig::sqlite_in(dir.path()))
                .await
                .unwrap();
            let def = ProbeDef {
                name: "bench".into(),
                system: String::new(),
                region: String::new(),
                severity: "warning".into(),
                scenario: serde_json::to_string(&scenario).unwrap(),
                secrets: "{}".into(),
                enabled: true,
            };
            let probe = store
                .write(move |c| {
                    Box::pin(async move { st::insert_probe(c, &def, "bench", 0, 0).await })
                })
                .await
                .unwrap();
            let client = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap();
            let slots = Arc::new(Semaphore::new(pol.concurrency as usize));
            let scenario = Arc::new(scenario);
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(bool, f64)>();
            let cpu0 = cpu_seconds("self");
            let start = Instant::now();
            let interval = Duration::from_secs_f64(60.0 / rate as f64);
            let total = rate * seconds / 60;
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut dropped = 0u64;
            for _ in 0..total {
                tick.tick().await;
                let Ok(permit) = slots.clone().try_acquire_owned() else {
                    dropped += 1;
                    continue;
                };
                let (client, pol, scenario, store, tx) = (
                    client.clone(),
                    pol.clone(),
                    scenario.clone(),
                    store.clone(),
                    tx.clone(),
                );
                let id = probe.id;
                tokio::spawn(async move {
                    let t0 = Instant::now();
                    let e = tianshu_services::monitoring::probes::execute(
                        &client,
                        &pol,
                        &scenario,
                        &BTreeMap::new(),
                    )
                    .await;
                    let run = NewProbeRun {
                        probe_id: id,
                        started_at: 0,
                        ok: e.ok,
                        total_ms: e.total_ms as i64,
                        failed_step: None,
                        error: e.error.clone(),
                        steps: serde_json::to_string(&e.steps).unwrap_or_default(),
                    };
                    let f = if e.ok { 0 } else { 1 };
                    store
                        .write(move |c| {
                            Box::pin(async move { st::record_probe_run(c, &run, f, false).await })
                        })
                        .await
                        .unwrap();
                    let _ = tx.send((e.ok, t0.elapsed().as_secs_f64() * 1000.0));
                    drop(permit);
                });
            }
            drop(tx);
            let (mut done, mut failed, mut lat) = (0u64, 0u64, Vec::new());
            while let Some((ok, ms)) = rx.recv().await {
                done += 1;
                failed += u64::from(!ok);
                lat.push(ms);
            }
            let wall = start.elapsed().as_secs_f64();
            let cpu = cpu_seconds("self") - cpu0;
            let stored = store.probe_stats(probe.id, -1).await.unwrap().runs;
            report(&format!("tianshu ({steps} step(s), runs recorded in SQLite: {stored}, not started for lack of a free slot: {dropped})"), rate, wall, done, failed, &mut lat, cpu);
        }
        Cmd::Blackbox {
            exporter,
            target,
            module,
            pid,
            rate,
            seconds,
        } => {
            let client = reqwest::Client::new();
            let url = format!("{exporter}/probe?module={module}&target={target}/login");
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(bool, f64)>();
            let pid = pid.to_string();
            let cpu0 = cpu_seconds(&pid);
            let start = Instant::now();
            let mut tick = tokio::time::interval(Duration::from_secs_f64(60.0 / rate as f64));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let slots = Arc::new(Semaphore::new(32));
            for _ in 0..rate * seconds / 60 {
                tick.tick().await;
                let Ok(permit) = slots.clone().try_acquire_owned() else {
                    continue;
                };
                let (client, url, tx) = (client.clone(), url.clone(), tx.clone());
                tokio::spawn(async move {
                    let t0 = Instant::now();
                    let ok = match client.get(&url).send().await {
                        Ok(r) => r
                            .text()
                            .await
                            .map(|b| b.contains("probe_success 1"))
                            .unwrap_or(false),
                        Err(_) => false,
                    };
                    let _ = tx.send((ok, t0.elapsed().as_secs_f64() * 1000.0));
                    drop(permit);
                });
            }
            drop(tx);
            let (mut done, mut failed, mut lat) = (0u64, 0u64, Vec::new());
            while let Some((ok, ms)) = rx.recv().await {
                done += 1;
                failed += u64::from(!ok);
                lat.push(ms);
            }
            let wall = start.elapsed().as_secs_f64();
            report(
                &format!("blackbox-exporter (module {module}, its own CPU)"),
                rate,
                wall,
                done,
                failed,
                &mut lat,
                cpu_seconds(&pid) - cpu0,
            );
        }
    }
}
