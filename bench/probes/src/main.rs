//! Probe executions per minute (issue 5 benchmark), all on loopback:
//!
//! * `serve`: the target site (a login page and a JSON API) in its own process, so its CPU is nobody's.
//! * `tianshu`: Tianshu's real probe scheduler (`tianshu_services::monitoring::run`, the loop the server runs:
//!   claims due probes in the database, bounded by `probes.concurrency`, executes each scenario with a fresh
//!   cookie jar and the assertions, records every run durably in SQLite and updates the streak) over N probes
//!   whose gaps make `rate` executions per minute. The pack is the default one except the probe interval
//!   (`--gap-secs`, both bounds), so N = rate × gap / 60 probes. CPU is this process's (utime + stime from
//!   /proc/self/stat) over the measured window, after a warm-up; executions are the durable run records made in
//!   that window.
//! * `blackbox`: drives a running prometheus-blackbox-exporter (`/probe?module=…&target=…`) at the same rate
//!   (one request per execution, a fixed schedule, at most `--inflight` outstanding) and measures the
//!   exporter's own CPU from /proc/<pid>/stat over the same kind of window.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use tianshu_core::clock::SystemClock;
use tianshu_services::policy::{PackSource, PolicyHandle};
use tianshu_services::Platform;
use tianshu_store::monitoring::{self as st, ProbeDef};
use tianshu_store::{PoolRef, Store, StoreConfig};
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
    /// Tianshu's probe scheduler at `rate` executions per minute.
    Tianshu {
        #[arg(long)]
        target: String,
        #[arg(long, default_value_t = 5000)]
        rate: u64,
        /// Gap between two runs of one probe (interval_min = interval_max).
        #[arg(long, default_value_t = 60)]
        gap_secs: u64,
        /// Warm-up before the measured window (the first runs are spread over one gap).
        #[arg(long, default_value_t = 20)]
        warmup: u64,
        /// Measured window.
        #[arg(long, default_value_t = 120)]
        seconds: u64,
        /// 1: GET the login page and check its text (what the blackbox http module does); 2: also the JSON API.
        #[arg(long, default_value_t = 1)]
        steps: usize,
    },
    /// Drives a running blackbox exporter at `rate` per minute.
    Blackbox {
        #[arg(long)]
        exporter: String,
        #[arg(long)]
        target: String,
        #[arg(long, default_value = "http_login")]
        module: String,
        /// The exporter's process id (its CPU is measured).
        #[arg(long)]
        pid: u32,
        #[arg(long, default_value_t = 5000)]
        rate: u64,
        #[arg(long, default_value_t = 20)]
        warmup: u64,
        #[arg(long, default_value_t = 120)]
        seconds: u64,
        #[arg(long, default_value_t = 64)]
        inflight: usize,
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

/// Resident set size of a process in MiB.
fn rss_mib(pid: &str) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1]
}

async fn serve(port: u16) {
    use axum::routing::get;
    let app = axum::Router::new()
        .route("/login", get(|| async { axum::response::Html("<html><body><h1>代理商门户登录</h1><form method=\"post\"><input name=\"user\"></form></body></html>") }))
        .route("/api/orders", get(|| async { axum::Json(serde_json::json!({"data": {"ok": true, "pending": 3}})) }));
    let l = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind the loopback site");
    axum::serve(l, app).await.expect("serve");
}

/// (runs, failed runs, sum of total_ms) recorded so far.
async fn run_counts(store: &Store) -> (i64, i64, i64) {
    match store.backend() {
        PoolRef::Sqlite(p) => sqlx::query_as(
            "SELECT COUNT(*), COALESCE(SUM(1 - ok), 0), COALESCE(SUM(total_ms), 0) FROM probe_runs",
        )
        .fetch_one(p)
        .await
        .expect("count runs"),
        PoolRef::Postgres(_) => unreachable!("the benchmark uses SQLite"),
    }
}

async fn latencies(store: &Store, since: i64) -> Vec<f64> {
    match store.backend() {
        PoolRef::Sqlite(p) => {
            sqlx::query_scalar::<_, i64>("SELECT total_ms FROM probe_runs WHERE started_at >= $1")
                .bind(since)
                .fetch_all(p)
                .await
                .expect("latencies")
                .into_iter()
                .map(|v| v as f64)
                .collect()
        }
        PoolRef::Postgres(_) => unreachable!(),
    }
}

async fn tianshu(target: String, rate: u64, gap_secs: u64, warmup: u64, seconds: u64, steps: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    // The default pack with the probe gap set for the rate.
    let pack_dir = dir.path().join("pack");
    std::fs::create_dir_all(&pack_dir).expect("pack dir");
    for (name, text) in tianshu_services::policy::embedded_files() {
        let text = if name == "monitoring.toml" {
            let t = text
                .replace(
                    "interval_min = \"3m\"",
                    &format!("interval_min = \"{gap_secs}s\""),
                )
                .replace(
                    "interval_max = \"5m\"",
                    &format!("interval_max = \"{gap_secs}s\""),
                );
            assert!(t.contains(&format!("interval_max = \"{gap_secs}s\"")), "monitoring.toml changed shape");
            t
        } else {
            text
        };
        let path = pack_dir.join(&name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("pack subdir");
        }
        std::fs::write(path, text).expect("pack file");
    }
    let store = Store::open(&StoreConfig::sqlite_in(dir.path()))
        .await
        .expect("store");
    let clock = Arc::new(SystemClock);
    let now = chrono::Utc::now().timestamp_micros();
    let policy = PolicyHandle::bootstrap(&store, &PackSource::Dir(pack_dir), now, "bench")
        .await
        .expect("pack");
    let concurrency = policy.current().pack.monitoring.probes.concurrency;
    let p = Platform::new(store.clone(), Arc::new(policy), clock);

    let mut list = vec![serde_json::json!({"name": "登录页", "url": format!("{target}/login"),
        "assert": {"status": 200, "body_contains": "代理商门户登录"}})];
    if steps > 1 {
        list.push(serde_json::json!({"name": "订单", "url": format!("{target}/api/orders"),
            "assert": {"json_path": "$.data.ok", "json_equals": true}}));
    }
    let scenario = serde_json::json!({"steps": list}).to_string();
    let n = rate * gap_secs / 60;
    let gap_us = (gap_secs * 1_000_000) as i64;
    // First runs spread uniformly over one gap, starting after 2 s.
    let start_at = now + 2_000_000;
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let chunk = chunk.to_vec();
        let scenario = scenario.clone();
        store
            .write(move |c| {
                Box::pin(async move {
                    for i in chunk {
                        let def = ProbeDef {
                            name: format!("bench-{i:05}"),
                            system: "bench".into(),
                            region: String::new(),
                            severity: "warning".into(),
                            scenario: scenario.clone(),
                            secrets: "{}".into(),
                            enabled: true,
                        };
                        let next = start_at + gap_us * i as i64 / n as i64;
                        st::insert_probe(c, &def, "bench", next, now).await?;
                    }
                    Ok(())
                })
            })
            .await
            .expect("insert probes");
    }
    eprintln!("{n} probes, gap {gap_secs} s, concurrency {concurrency}; warm-up {warmup} s");

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let runner = tokio::spawn(tianshu_services::monitoring::run(p.clone(), stop_rx));
    tokio::time::sleep(Duration::from_secs(warmup)).await;
    let (runs0, failed0, _) = run_counts(&store).await;
    let since = chrono::Utc::now().timestamp_micros();
    let cpu0 = cpu_seconds("self");
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let cpu = cpu_seconds("self") - cpu0;
    let wall = t0.elapsed().as_secs_f64();
    let (runs1, failed1, _) = run_counts(&store).await;
    let rss = rss_mib("self");
    let _ = stop_tx.send(true);
    let _ = runner.await;
    let done = runs1 - runs0;
    let failed = failed1 - failed0;
    let mut lat = latencies(&store, since).await;
    println!(
        "tianshu scheduler ({steps} step(s), {n} probes every {gap_secs} s, concurrency {concurrency}, every run recorded in SQLite): offered {rate}/min, {:.0} executions/min recorded over {wall:.1} s ({done} runs, {failed} failed), run time p50 {:.0} ms p99 {:.0} ms, CPU {cpu:.2} s = {:.2} cores, RSS {rss:.0} MiB",
        done as f64 * 60.0 / wall,
        pct(&mut lat, 0.50),
        pct(&mut lat, 0.99),
        cpu / wall,
    );
    p.store.close().await;
}

#[allow(clippy::too_many_arguments)]
async fn blackbox(
    exporter: String,
    target: String,
    module: String,
    pid: u32,
    rate: u64,
    warmup: u64,
    seconds: u64,
    inflight: usize,
) {
    let client = reqwest::Client::new();
    let url = format!("{exporter}/probe?module={module}&target={target}/login");
    let slots = Arc::new(Semaphore::new(inflight));
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let skipped = Arc::new(AtomicU64::new(0));
    let lat = Arc::new(std::sync::Mutex::new(Vec::<f64>::new()));
    let measuring = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pid = pid.to_string();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(60.0 / rate as f64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let warm_end = Instant::now() + Duration::from_secs(warmup);
    let end = warm_end + Duration::from_secs(seconds);
    let mut cpu0 = None;
    let mut t0 = Instant::now();
    loop {
        tick.tick().await;
        let now = Instant::now();
        if now >= end {
            break;
        }
        if cpu0.is_none() && now >= warm_end {
            cpu0 = Some(cpu_seconds(&pid));
            t0 = now;
            measuring.store(true, Ordering::Relaxed);
        }
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            if measuring.load(Ordering::Relaxed) {
                skipped.fetch_add(1, Ordering::Relaxed);
            }
            continue;
        };
        let (client, url) = (client.clone(), url.clone());
        let (done, failed, lat, measuring) =
            (done.clone(), failed.clone(), lat.clone(), measuring.clone());
        tokio::spawn(async move {
            let t = Instant::now();
            let ok = match client.get(&url).send().await {
                Ok(r) => r
                    .text()
                    .await
                    .map(|b| b.contains("probe_success 1"))
                    .unwrap_or(false),
                Err(_) => false,
            };
            if measuring.load(Ordering::Relaxed) {
                done.fetch_add(1, Ordering::Relaxed);
                failed.fetch_add(u64::from(!ok), Ordering::Relaxed);
                if let Ok(mut l) = lat.lock() {
                    l.push(t.elapsed().as_secs_f64() * 1000.0);
                }
            }
            drop(permit);
        });
    }
    let cpu = cpu_seconds(&pid) - cpu0.unwrap_or(0.0);
    let wall = t0.elapsed().as_secs_f64();
    measuring.store(false, Ordering::Relaxed);
    let rss = rss_mib(&pid);
    let done = done.load(Ordering::Relaxed);
    let mut lat = lat.lock().map(|l| l.clone()).unwrap_or_default();
    println!(
        "blackbox-exporter (module {module}, nothing stored, its own CPU): offered {rate}/min, {:.0} executions/min over {wall:.1} s ({done} probes, {} failed, {} not sent: {inflight} in flight), probe time p50 {:.0} ms p99 {:.0} ms, CPU {cpu:.2} s = {:.2} cores, RSS {rss:.0} MiB",
        done as f64 * 60.0 / wall,
        failed.load(Ordering::Relaxed),
        skipped.load(Ordering::Relaxed),
        pct(&mut lat, 0.50),
        pct(&mut lat, 0.99),
        cpu / wall,
    );
}

#[tokio::main]
async fn main() {
    match Cli::parse().cmd {
        Cmd::Serve { port } => serve(port).await,
        Cmd::Tianshu {
            target,
            rate,
            gap_secs,
            warmup,
            seconds,
            steps,
        } => tianshu(target, rate, gap_secs, warmup, seconds, steps).await,
        Cmd::Blackbox {
            exporter,
            target,
            module,
            pid,
            rate,
            warmup,
            seconds,
            inflight,
        } => blackbox(exporter, target, module, pid, rate, warmup, seconds, inflight).await,
    }
}
