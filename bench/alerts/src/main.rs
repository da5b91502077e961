//! Alert ingestion: Tianshu (durable) against Prometheus Alertmanager's own `/api/v2/alerts`, same machine,
//! same run, one new alert per request.
//!
//! 1. Alertmanager (the Debian package's binary) on loopback, clustering off, a null receiver: `--conns`
//!    keep-alive HTTP/1.1 connections POST `[{labels, annotations, startsAt}]`, one new alert (unique
//!    `instance` label) per request, for `--warmup` + `--secs` seconds; accepted = HTTP 200. RSS before and
//!    after the load gives memory per active alert (Alertmanager keeps them in memory only).
//! 2. `tianshu serve --demo` (SQLite with `synchronous=FULL`, or PostgreSQL with fsync): the same alerts as
//!    Alertmanager webhook payloads (version 4, one alert each) to `/api/v1/alerts/alertmanager`; accepted =
//!    HTTP 200 with result `created` — the answer comes after COMMIT, so each accepted alert is durable.
//!    RSS delta / active alerts likewise (the count of firing alerts is read from the database).
//! 3. Restart check: load again, `kill -9` the server mid-load, restart it, and check that every
//!    acknowledged alert is stored exactly once (one row, one `fired` history entry); then re-send every
//!    alert of that phase (acknowledged or not, as Alertmanager re-notifies) and check again: one alert
//!    per key, none fired twice.
//!
//! Progress on stderr, a markdown report on stdout; exit status 1 if the restart check fails.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use serde_json::{json, Value};
use sqlx::{Connection, Row};

#[derive(Parser, Clone)]
#[command(about = "Tianshu alert ingestion vs Prometheus Alertmanager")]
struct Args {
    /// Pin the servers to these CPUs (`taskset -c`, e.g. `1`); run the benchmark itself under
    /// `taskset -c 0` so the load generator and the server do not share a core.
    #[arg(long)]
    server_cpus: Option<String>,
    /// The release `tianshu` binary.
    #[arg(long, default_value = "/var/tmp/target-perf/release/tianshu")]
    tianshu_bin: PathBuf,
    /// The Alertmanager binary.
    #[arg(long, default_value = "/usr/bin/prometheus-alertmanager")]
    alertmanager_bin: PathBuf,
    /// sqlite or postgres.
    #[arg(long, default_value = "sqlite")]
    backend: String,
    /// Concurrent keep-alive connections (one phase per value, for both servers).
    #[arg(long, value_delimiter = ',', default_value = "16,64")]
    conns: Vec<usize>,
    /// Measured seconds per phase.
    #[arg(long, default_value_t = 15)]
    secs: u64,
    /// Unmeasured warm-up seconds before each phase.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Seconds of load before the kill -9 of the restart check (0 = no restart check).
    #[arg(long, default_value_t = 4)]
    kill_after: u64,
    /// Connections of the restart check's load.
    #[arg(long, default_value_t = 16)]
    kill_conns: usize,
    /// PostgreSQL maintenance URL used to create and drop the benchmark database.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pg_admin_url: String,
    /// Policy pack to copy.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../../policies/default"))]
    policy_src: PathBuf,
    /// Only measure Tianshu (skip Alertmanager).
    #[arg(long)]
    skip_alertmanager: bool,
    /// Measure Tianshu before Alertmanager in the first round (default: Alertmanager first); rounds alternate.
    #[arg(long)]
    tianshu_first: bool,
    /// Rounds: both servers run side by side for the whole benchmark, and each round measures every
    /// connection count on both, one server right after the other, the order alternating from round to round.
    /// On a shared VM whose speed drifts by tens of percent within minutes, the ratio of two phases taken
    /// seconds apart is what can be compared; the report gives every round's ratio and their median.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Keep the work directory and the PostgreSQL database.
    #[arg(long)]
    keep: bool,
}

fn main() {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    std::process::exit(rt.block_on(run(args)));
}

// ---------------------------------------------------------------------------------------------
// Helpers.

macro_rules! say {
    ($($t:tt)*) => { eprintln!("[{:>7.1}s] {}", START.elapsed().as_secs_f64(), format!($($t)*)) };
}

static START: std::sync::LazyLock<Instant> = std::sync::LazyLock::new(Instant::now);

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()))?;
        } else {
            std::fs::copy(&p, to.join(e.file_name()))?;
        }
    }
    Ok(())
}

/// VmRSS and VmHWM of a process, in KiB.
fn rss_kib(pid: u32) -> (f64, f64) {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn pct(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64
}

fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .http1_only()
        .pool_max_idle_per_host(1)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Where the servers and the load generator ran, for the report.
fn placement(cpus: Option<&str>) -> String {
    let own = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Cpus_allowed_list:"))
                .map(|l| l.split_whitespace().nth(1).unwrap_or("?").to_string())
        })
        .unwrap_or_else(|| "?".into());
    match cpus {
        Some(c) => {
            format!("CPU placement: servers pinned to CPU(s) {c}; load generator on CPU(s) {own}")
        }
        None => format!("CPU placement: none (servers and load generator share CPU(s) {own})"),
    }
}

/// `bin`, or `taskset -c CPUS bin` when CPUs are given.
fn pinned(bin: &Path, cpus: Option<&str>) -> Command {
    match cpus {
        Some(c) => {
            let mut cmd = Command::new("taskset");
            cmd.args(["-c", c]).arg(bin);
            cmd
        }
        None => Command::new(bin),
    }
}

fn stop(child: &mut Child, what: &str) {
    // SAFETY: signalling our own child process.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    for _ in 0..300 {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    say!("{what} did not stop within 15 s; killing it");
    let _ = child.kill();
    let _ = child.wait();
}

async fn wait_ready(url: &str, child: &mut Child) -> bool {
    let c = reqwest::Client::new();
    for _ in 0..1200 {
        if let Ok(r) = c.get(url).send().await {
            if r.status().is_success() {
                return true;
            }
        }
        if let Ok(Some(st)) = child.try_wait() {
            say!("process exited early: {st}");
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// The labels of bench alert `id`: 20 alert names (20 groups per system/region), one instance each.
fn labels(id: &str, n: u64) -> Value {
    json!({
        "alertname": format!("BenchDiskFull{}", n % 20),
        "instance": id,
        "job": "node",
        "severity": "warning",
        "system": "crm",
        "region": "guangzhou",
    })
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Which server a load talks to.
#[derive(Clone)]
enum Target {
    Alertmanager { base: String },
    Tianshu { base: String, token: String },
}

/// Sends alert `id`; `Ok(true)` = accepted as a new alert, `Ok(false)` = accepted as a repeat.
async fn send(c: &reqwest::Client, t: &Target, id: &str, n: u64) -> Result<bool, String> {
    let starts = now_rfc3339();
    let r = match t {
        Target::Alertmanager { base } => c
            .post(format!("{base}/api/v2/alerts"))
            .json(&json!([{"labels": labels(id, n), "annotations": {"summary": "disk almost full"},
                           "startsAt": starts}]))
            .send()
            .await,
        Target::Tianshu { base, token } => c
            .post(format!("{base}/api/v1/alerts/alertmanager"))
            .bearer_auth(token)
            .json(&json!({"version": "4", "status": "firing", "receiver": "tianshu", "groupKey": "{}:{}",
                          "alerts": [{"status": "firing", "labels": labels(id, n),
                                      "annotations": {"summary": "disk almost full"},
                                      "startsAt": starts, "endsAt": "0001-01-01T00:00:00Z"}]}))
            .send()
            .await,
    }
    .map_err(|e| {
        if e.is_timeout() {
            "timeout".to_string()
        } else {
            "transport".to_string()
        }
    })?;
    let st = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    if st != 200 {
        return Err(format!("HTTP {st}"));
    }
    match t {
        Target::Alertmanager { .. } => Ok(true),
        Target::Tianshu { .. } => match body["items"][0]["result"].as_str() {
            Some("created") => Ok(true),
            Some("repeated") => Ok(false),
            other => Err(format!("result {other:?}")),
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Load.

struct Phase {
    conns: usize,
    secs: f64,
    ok: u64,
    errors: BTreeMap<String, u64>,
    lat_us: Vec<u64>,
    /// Every alert accepted (warm-up included), for counting active alerts.
    accepted_total: u64,
    round: usize,
    /// CPU seconds the measured server used over the phase (warm-up included).
    server_cpu_s: f64,
    /// CPU seconds the other, idle server used meanwhile (it shares the pinned core).
    other_cpu_s: Option<f64>,
}

impl Phase {
    fn rate(&self) -> f64 {
        self.ok as f64 / self.secs
    }

    /// Server CPU µs per accepted alert, warm-up included on both sides.
    fn cpu_us_per_alert(&self) -> f64 {
        self.server_cpu_s * 1e6 / self.accepted_total.max(1) as f64
    }
}

/// CPU seconds (user + system, all threads) a process has used so far.
fn cpu_s(pid: u32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = s.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of stat(5); `rest` starts at field 3.
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    (ticks(11) + ticks(12)) / hz
}

/// `conns` connections sending new alerts `"{prefix}-w{w}-{i}"` back to back.
async fn phase(t: &Target, prefix: &str, conns: usize, warmup: u64, secs: u64) -> Phase {
    let state = Arc::new(AtomicU8::new(0)); // 0 warm-up, 1 measuring, 2 stop
    let mut tasks = Vec::new();
    for w in 0..conns {
        let (state, t, prefix) = (state.clone(), t.clone(), prefix.to_string());
        tasks.push(tokio::spawn(async move {
            let c = client();
            let mut lat = Vec::with_capacity(1 << 15);
            let mut errors: BTreeMap<String, u64> = BTreeMap::new();
            let mut total = 0u64;
            let mut i = 0u64;
            loop {
                let st = state.load(Ordering::Relaxed);
                if st == 2 {
                    break;
                }
                i += 1;
                let id = format!("{prefix}-w{w}-{i}");
                let t0 = Instant::now();
                let r = send(&c, &t, &id, i).await;
                let us = t0.elapsed().as_micros() as u64;
                match r {
                    Ok(true) => {
                        total += 1;
                        if st == 1 {
                            lat.push(us);
                        }
                    }
                    Ok(false) => {
                        if st == 1 {
                            *errors.entry("repeat (should be new)".into()).or_default() += 1;
                        }
                    }
                    Err(e) => {
                        if st == 1 {
                            *errors.entry(e).or_default() += 1;
                        }
                    }
                }
            }
            (lat, errors, total)
        }));
    }
    tokio::time::sleep(Duration::from_secs(warmup)).await;
    state.store(1, Ordering::Relaxed);
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    state.store(2, Ordering::Relaxed);
    let secs = t0.elapsed().as_secs_f64();
    let mut lat_us = Vec::new();
    let mut errors = BTreeMap::new();
    let mut accepted_total = 0;
    for t in tasks {
        let (l, e, n) = t.await.unwrap();
        lat_us.extend(l);
        accepted_total += n;
        for (k, v) in e {
            *errors.entry(k).or_default() += v;
        }
    }
    lat_us.sort_unstable();
    Phase {
        conns,
        secs,
        ok: lat_us.len() as u64,
        errors,
        lat_us,
        accepted_total,
        round: 0,
        server_cpu_s: 0.0,
        other_cpu_s: None,
    }
}

/// A server started for the benchmark.
struct Started {
    child: Child,
    target: Target,
    /// VmRSS, VmHWM (KiB) once it was ready and warm, before any load.
    idle: (f64, f64),
}

struct ServerResult {
    name: String,
    phases: Vec<Phase>,
    rss_idle_kib: f64,
    rss_after_kib: f64,
    hwm_kib: f64,
    active: u64,
}

impl ServerResult {
    fn per_alert_bytes(&self) -> f64 {
        (self.rss_after_kib - self.rss_idle_kib) * 1024.0 / self.active.max(1) as f64
    }
}

// ---------------------------------------------------------------------------------------------
// Alertmanager.

/// Starts Alertmanager; `None` (said why) if it did not become ready. Returns its name for the report.
async fn start_alertmanager(args: &Args, work: &Path) -> Option<(Started, String)> {
    let dir = work.join("alertmanager");
    // Fresh each time it starts (see `measure`): it keeps silences and its notification log there.
    let _ = std::fs::remove_dir_all(dir.join("data"));
    std::fs::create_dir_all(dir.join("data")).unwrap();
    // Long group_wait / repeat so the null receiver does no work beyond what ingestion itself costs.
    std::fs::write(
        dir.join("alertmanager.yml"),
        "route:\n  receiver: 'null'\n  group_by: ['alertname']\n  group_wait: 30s\n  group_interval: 5m\n  repeat_interval: 4h\nreceivers:\n  - name: 'null'\n",
    )
    .unwrap();
    let port = free_port();
    let log = std::fs::File::create(dir.join("alertmanager.log")).unwrap();
    let mut child = pinned(&args.alertmanager_bin, args.server_cpus.as_deref())
        .arg(format!(
            "--config.file={}",
            dir.join("alertmanager.yml").display()
        ))
        .arg(format!("--storage.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .arg("--log.level=warn")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start alertmanager");
    let base = format!("http://127.0.0.1:{port}");
    if !wait_ready(&format!("{base}/-/ready"), &mut child).await {
        say!("alertmanager did not become ready; see {}", dir.display());
        stop(&mut child, "alertmanager");
        return None;
    }
    let version = Command::new(&args.alertmanager_bin)
        .arg("--version")
        .output()
        .map(|o| {
            let s = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            s.lines().next().unwrap_or("").to_string()
        })
        .unwrap_or_default();
    say!("alertmanager ready on {base} ({version})");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = rss_kib(child.id());
    let started = Started {
        child,
        target: Target::Alertmanager { base },
        idle,
    };
    Some((started, format!("Alertmanager ({version}, in memory)")))
}

/// Reads Alertmanager's memory and active alerts after the load, and stops it.
async fn end_alertmanager(mut s: Started, name: String, phases: Vec<Phase>) -> ServerResult {
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib(s.child.id());
    let Target::Alertmanager { base } = &s.target else {
        unreachable!("an Alertmanager target")
    };
    // Active alerts as Alertmanager itself counts them.
    let active = reqwest::Client::new()
        .get(format!(
            "{base}/api/v2/alerts?active=true&silenced=true&inhibited=true&unprocessed=true"
        ))
        .send()
        .await
        .ok();
    let active = match active {
        Some(r) => r
            .json::<Value>()
            .await
            .ok()
            .and_then(|v| v.as_array().map(|a| a.len() as u64)),
        None => None,
    }
    .unwrap_or_else(|| phases.iter().map(|p| p.accepted_total).sum());
    stop(&mut s.child, "alertmanager");
    ServerResult {
        name,
        phases,
        rss_idle_kib: s.idle.0,
        rss_after_kib: after.0,
        hwm_kib: after.1,
        active,
    }
}

// ---------------------------------------------------------------------------------------------
// Tianshu.

struct Env {
    args: Args,
    work: PathBuf,
    data: PathBuf,
    pack: PathBuf,
    db_url: Option<String>,
    port: u16,
}

impl Env {
    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn tianshu(&self) -> Command {
        let mut c = Command::new(&self.args.tianshu_bin);
        c.arg("--data-dir").arg(&self.data);
        if let Some(u) = &self.db_url {
            c.arg("--database-url").arg(u);
        }
        c.arg("--policy-dir").arg(&self.pack);
        c.args(["--log-level", "warn"]);
        c
    }

    /// `tianshu` for the server, pinned to `--server-cpus` if given (taskset execs it: same pid).
    fn server(&self) -> Command {
        let mut c = pinned(&self.args.tianshu_bin, self.args.server_cpus.as_deref());
        c.arg("--data-dir").arg(&self.data);
        if let Some(u) = &self.db_url {
            c.arg("--database-url").arg(u);
        }
        c.arg("--policy-dir").arg(&self.pack);
        c.args(["--log-level", "warn"]);
        c
    }

    fn start_server(&self, tag: &str) -> Child {
        let log = std::fs::File::create(self.work.join(format!("server-{tag}.log"))).unwrap();
        self.server()
            .args([
                "serve",
                "--demo",
                "--listen",
                &format!("127.0.0.1:{}", self.port),
            ])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start tianshu serve")
    }

    async fn db(&self) -> Db {
        match &self.db_url {
            Some(u) => Db::Pg(sqlx::PgConnection::connect(u).await.expect("connect pg")),
            None => {
                use sqlx::sqlite::SqliteConnectOptions;
                let o = SqliteConnectOptions::new()
                    .filename(self.data.join("tianshu.db"))
                    .busy_timeout(Duration::from_secs(30));
                Db::Sqlite(
                    sqlx::SqliteConnection::connect_with(&o)
                        .await
                        .expect("connect sqlite"),
                )
            }
        }
    }
}

enum Db {
    Sqlite(sqlx::SqliteConnection),
    Pg(sqlx::PgConnection),
}

impl Db {
    /// `(labels, fired history entries)` of every alert whose instance starts with `prefix`.
    async fn alerts_like(&mut self, prefix: &str) -> Vec<(String, i64)> {
        let sql = "SELECT a.labels, (SELECT COUNT(*) FROM alert_events e WHERE e.alert_id = a.id AND e.kind = 'fired')
                   FROM alerts a WHERE a.labels LIKE $1";
        let pat = format!("%\"instance\":\"{prefix}%");
        macro_rules! go {
            ($c:expr) => {
                sqlx::query(sql)
                    .bind(&pat)
                    .fetch_all(&mut *$c)
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1)))
                    .collect()
            };
        }
        match self {
            Db::Sqlite(c) => go!(c),
            Db::Pg(c) => go!(c),
        }
    }

    async fn firing(&mut self) -> i64 {
        let sql = "SELECT COUNT(*) FROM alerts WHERE state = 'firing'";
        match self {
            Db::Sqlite(c) => sqlx::query_scalar(sql).fetch_one(&mut *c).await.unwrap(),
            Db::Pg(c) => sqlx::query_scalar(sql).fetch_one(&mut *c).await.unwrap(),
        }
    }

    async fn close(self) {
        match self {
            Db::Sqlite(c) => {
                let _ = c.close().await;
            }
            Db::Pg(c) => {
                let _ = c.close().await;
            }
        }
    }
}

fn instance_of(labels_json: &str) -> String {
    serde_json::from_str::<Value>(labels_json)
        .ok()
        .and_then(|v| v["instance"].as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Starts Tianshu with a token for the load; also returns the firing alerts stored before any load.
async fn start_tianshu(env: &Env) -> Result<(Started, i64), String> {
    let base = env.base();
    let mut server = env.start_server("setup");
    if !wait_ready(&format!("{base}/readyz"), &mut server).await {
        stop(&mut server, "server");
        return Err(format!(
            "server did not become ready; see {}",
            env.work.display()
        ));
    }
    let out = env
        .tianshu()
        .args([
            "token", "create", "--user", "admin", "--name", "bench", "--days", "30",
        ])
        .output()
        .expect("tianshu token create");
    let token = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .find(|w| w.starts_with("tsk_"))
        .map(str::to_string)
        .ok_or_else(|| {
            format!(
                "token create failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
    let t = Target::Tianshu { base, token };
    // One alert so the pool, caches and the page cache are warm before the idle RSS is read.
    send(&client(), &t, "warm-1", 1)
        .await
        .map_err(|e| format!("first alert: {e}"))?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = rss_kib(server.id());
    let mut db = env.db().await;
    let firing_before = db.firing().await;
    db.close().await;
    let started = Started {
        child: server,
        target: t,
        idle,
    };
    Ok((started, firing_before))
}

/// Reads Tianshu's memory and stored alerts after the load, then runs the restart check (or stops it).
async fn end_tianshu(
    env: &Env,
    mut s: Started,
    firing_before: i64,
    phases: Vec<Phase>,
) -> (ServerResult, RestartCheck) {
    let a = &env.args;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib(s.child.id());
    let mut db = env.db().await;
    let firing_after = db.firing().await;
    db.close().await;
    let active = (firing_after - firing_before).max(0) as u64;
    say!(
        "tianshu: {active} new firing alerts stored; RSS {:.0} → {:.0} MiB",
        s.idle.0 / 1024.0,
        after.0 / 1024.0
    );
    let result = ServerResult {
        name: format!("Tianshu ({}, durable)", a.backend),
        phases,
        rss_idle_kib: s.idle.0,
        rss_after_kib: after.0,
        hwm_kib: after.1,
        active,
    };
    let rc = if a.kill_after > 0 {
        let t = s.target.clone();
        restart_check(env, &mut s.child, &t).await
    } else {
        stop(&mut s.child, "server");
        RestartCheck::default()
    };
    (result, rc)
}

#[derive(Default)]
struct RestartCheck {
    done: bool,
    sent: u64,
    acked: u64,
    unacked: u64,
    acked_missing: u64,
    stored_after_kill: u64,
    duplicates_after_kill: u64,
    stored_after_resend: u64,
    duplicates_after_resend: u64,
    resend_created: u64,
    resend_repeated: u64,
    resend_errors: u64,
    restart_secs: f64,
}

impl RestartCheck {
    fn ok(&self) -> bool {
        !self.done
            || (self.acked_missing == 0
                && self.duplicates_after_kill == 0
                && self.duplicates_after_resend == 0
                && self.resend_errors == 0
                && self.stored_after_resend == self.sent)
    }
}

async fn restart_check(env: &Env, server: &mut Child, t: &Target) -> RestartCheck {
    let a = &env.args;
    let acked: Arc<Mutex<HashSet<String>>> = Arc::default();
    let sent: Arc<Mutex<Vec<(String, u64)>>> = Arc::default();
    let stop_flag = Arc::new(AtomicU8::new(0));
    let mut tasks = Vec::new();
    for w in 0..a.kill_conns {
        let (t, acked, sent, stop_flag) =
            (t.clone(), acked.clone(), sent.clone(), stop_flag.clone());
        tasks.push(tokio::spawn(async move {
            let c = client();
            let mut i = 0u64;
            while stop_flag.load(Ordering::Relaxed) == 0 {
                i += 1;
                let id = format!("rc-w{w}-{i}");
                sent.lock().unwrap().push((id.clone(), i));
                match send(&c, &t, &id, i).await {
                    Ok(_) => {
                        acked.lock().unwrap().insert(id);
                    }
                    Err(_) => break, // the server is gone
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(a.kill_after)).await;
    say!("restart check: kill -9 the server during the load");
    // SAFETY: our own child.
    unsafe {
        libc::kill(server.id() as i32, libc::SIGKILL);
    }
    let _ = server.wait();
    stop_flag.store(1, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    let acked = acked.lock().unwrap().clone();
    let sent = sent.lock().unwrap().clone();
    let mut rc = RestartCheck {
        done: true,
        sent: sent.len() as u64,
        acked: acked.len() as u64,
        ..Default::default()
    };
    rc.unacked = rc.sent - rc.acked;
    let t0 = Instant::now();
    *server = env.start_server("restart");
    if !wait_ready(&format!("{}/readyz", env.base()), server).await {
        say!("server did not restart");
        rc.acked_missing = rc.acked;
        return rc;
    }
    rc.restart_secs = t0.elapsed().as_secs_f64();
    let count = |rows: Vec<(String, i64)>| {
        let mut per: HashMap<String, (u64, i64)> = HashMap::new();
        for (l, fired) in rows {
            let e = per.entry(instance_of(&l)).or_default();
            e.0 += 1;
            e.1 += fired;
        }
        per
    };
    let mut db = env.db().await;
    let per = count(db.alerts_like("rc-").await);
    db.close().await;
    rc.stored_after_kill = per.len() as u64;
    rc.acked_missing = acked.iter().filter(|k| !per.contains_key(*k)).count() as u64;
    rc.duplicates_after_kill = per
        .values()
        .filter(|(rows, fired)| *rows != 1 || *fired != 1)
        .count() as u64;
    say!(
        "restart check: {} sent, {} acknowledged before the kill; after restart {} stored, {} acknowledged missing, {} with more than one row or firing",
        rc.sent, rc.acked, rc.stored_after_kill, rc.acked_missing, rc.duplicates_after_kill
    );
    // Re-send everything of the phase (Alertmanager re-notifies firing alerts): new keys are created, stored ones
    // are repeats, none fires twice.
    let c = client();
    for (id, n) in &sent {
        match send(&c, t, id, *n).await {
            Ok(true) => rc.resend_created += 1,
            Ok(false) => rc.resend_repeated += 1,
            Err(_) => rc.resend_errors += 1,
        }
    }
    let mut db = env.db().await;
    let per = count(db.alerts_like("rc-").await);
    db.close().await;
    rc.stored_after_resend = per.len() as u64;
    rc.duplicates_after_resend = per
        .values()
        .filter(|(rows, fired)| *rows != 1 || *fired != 1)
        .count() as u64;
    say!(
        "restart check: re-sent {}: {} created, {} repeats, {} errors; {} stored, {} with more than one row or firing",
        rc.sent, rc.resend_created, rc.resend_repeated, rc.resend_errors, rc.stored_after_resend, rc.duplicates_after_resend
    );
    stop(server, "server");
    rc
}

// ---------------------------------------------------------------------------------------------
// The whole run.

/// Every round's phases on both servers (see `--rounds`), then their end-of-run readings.
async fn measure(
    env: &Env,
    mut am: Option<(Started, String)>,
    ts: Started,
    firing_before: i64,
) -> (Option<ServerResult>, ServerResult, RestartCheck) {
    let args = &env.args;
    let (mut am_phases, mut ts_phases) = (Vec::new(), Vec::new());
    for round in 0..args.rounds.max(1) {
        if round > 0 {
            // A fresh Alertmanager every round: it holds every alert in its Go heap, and with the alerts of
            // earlier rounds it slowed by a fifth (GC), which would flatter Tianshu. Tianshu keeps its database
            // (a durable store only grows), which if anything handicaps it.
            if let Some((mut s, _)) = am.take() {
                stop(&mut s.child, "alertmanager");
                am = start_alertmanager(args, &env.work).await;
            }
        }
        for &n in &args.conns {
            let ts_first = args.tianshu_first ^ (round % 2 == 1);
            for tianshu_turn in [ts_first, !ts_first] {
                let (mine, other, tag) = match (&am, tianshu_turn) {
                    (_, true) => (&ts, am.as_ref().map(|a| &a.0), "tianshu"),
                    (Some((a, _)), false) => (a, Some(&ts), "alertmanager"),
                    (None, false) => continue,
                };
                let (pid, other_pid) = (mine.child.id(), other.map(|o| o.child.id()));
                let before = (cpu_s(pid), other_pid.map(cpu_s));
                let prefix = format!("{}-r{round}-c{n}", &tag[..2]);
                let mut p = phase(&mine.target, &prefix, n, args.warmup, args.secs).await;
                p.round = round + 1;
                p.server_cpu_s = cpu_s(pid) - before.0;
                p.other_cpu_s = other_pid.zip(before.1).map(|(o, b)| cpu_s(o) - b);
                say!(
                    "round {} {tag} {n} conns: {} new alerts in {:.1} s = {:.0}/s, p50 {:.2} ms, p99 {:.2} ms, \
                     server CPU {:.0} µs/alert, the idle server used {:.2} CPU s, errors {:?}",
                    p.round, p.ok, p.secs, p.rate(), pct(&p.lat_us, 50.0) / 1e3, pct(&p.lat_us, 99.0) / 1e3,
                    p.cpu_us_per_alert(), p.other_cpu_s.unwrap_or(0.0), p.errors
                );
                if tianshu_turn {
                    ts_phases.push(p);
                } else {
                    am_phases.push(p);
                }
            }
        }
    }
    let am_result = match am {
        Some((s, name)) => Some(end_alertmanager(s, name, am_phases).await),
        None => None,
    };
    let (ts_result, rc) = end_tianshu(env, ts, firing_before, ts_phases).await;
    (am_result, ts_result, rc)
}

async fn run(args: Args) -> i32 {
    let _ = *START;
    let unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let backend = args.backend.clone();
    if backend != "sqlite" && backend != "postgres" {
        eprintln!("--backend must be sqlite or postgres");
        return 2;
    }
    let work = std::env::temp_dir().join(format!("tianshu-bench-alerts-{unix}-{backend}"));
    let data = work.join("data");
    let pack = work.join("pack");
    std::fs::create_dir_all(&data).unwrap();
    copy_dir(&args.policy_src, &pack).expect("copy policy pack");
    // The default 600 requests/min per token would cap the load generator's single token at 10/s.
    let pack_path = pack.join("pack.toml");
    let pt = std::fs::read_to_string(&pack_path).unwrap();
    let pt2 = pt.replacen(
        "requests_per_minute = 600",
        "requests_per_minute = 1000000000",
        1,
    );
    assert_ne!(pt, pt2, "requests_per_minute = 600 not found in pack.toml");
    std::fs::write(&pack_path, pt2).unwrap();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    say!("work dir {}, load average {}", work.display(), load.trim());

    let (db_url, db_name) = if backend == "postgres" {
        let name = format!("tianshu_bench_alerts_{unix}");
        let mut admin = sqlx::PgConnection::connect(&args.pg_admin_url)
            .await
            .expect("connect pg admin");
        sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
        admin.close().await.ok();
        let (prefix, _) = args.pg_admin_url.rsplit_once('/').unwrap();
        (Some(format!("{prefix}/{name}")), Some(name))
    } else {
        (None, None)
    };
    let env = Env {
        args: args.clone(),
        work: work.clone(),
        data,
        pack,
        db_url,
        port: free_port(),
    };
    let mut am = if args.skip_alertmanager {
        None
    } else {
        start_alertmanager(&args, &work).await
    };
    let ts = match start_tianshu(&env).await {
        Ok((ts, firing_before)) => Ok(measure(&env, am.take(), ts, firing_before).await),
        Err(e) => {
            if let Some((mut s, _)) = am.take() {
                stop(&mut s.child, "alertmanager");
            }
            Err(e)
        }
    };
    let load_end = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();

    if !args.keep {
        if let Some(name) = db_name {
            let mut admin = sqlx::PgConnection::connect(&args.pg_admin_url)
                .await
                .unwrap();
            let r = sqlx::raw_sql(&format!("DROP DATABASE {name} WITH (FORCE)"))
                .execute(&mut admin)
                .await;
            say!("dropped database {name}: {:?}", r.map(|_| ()));
        }
        let _ = std::fs::remove_dir_all(&work);
    } else {
        say!("kept {}", work.display());
    }
    let (am, ts, rc) = match ts {
        Ok(x) => x,
        Err(e) => {
            say!("{e}");
            return 1;
        }
    };

    // Report.
    println!("### alerts, backend {backend}: one new alert per request\n");
    println!("{}\n", placement(args.server_cpus.as_deref()));
    println!(
        "load average at start {} / at end {}\n",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        load_end
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!("| round | server | connections | seconds | new alerts accepted | per second | p50 ms | p99 ms | max ms | server CPU µs per alert | idle server's CPU s meanwhile | errors |");
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    let ms = |us: f64| us / 1e3;
    let mut rows: Vec<(&ServerResult, &Phase)> = am
        .iter()
        .chain(std::iter::once(&ts))
        .flat_map(|s| s.phases.iter().map(move |p| (s, p)))
        .collect();
    rows.sort_by_key(|(_, p)| (p.round, p.conns));
    for (s, p) in &rows {
        let errs = if p.errors.is_empty() {
            "0".to_string()
        } else {
            format!("{:?}", p.errors)
        };
        println!(
            "| {} | {} | {} | {:.1} | {} | {:.0} | {:.2} | {:.2} | {:.1} | {:.0} | {} | {} |",
            p.round,
            s.name,
            p.conns,
            p.secs,
            p.ok,
            p.rate(),
            ms(pct(&p.lat_us, 50.0)),
            ms(pct(&p.lat_us, 99.0)),
            ms(p.lat_us.last().copied().unwrap_or(0) as f64),
            p.cpu_us_per_alert(),
            p.other_cpu_s.map_or("–".into(), |c| format!("{c:.2}")),
            errs
        );
    }
    println!();
    if let Some(am) = &am {
        println!("Tianshu's rate as a share of Alertmanager's, round by round (phases of one round run back to back):\n");
        println!(
            "| connections | per round | median | Tianshu median /s | Alertmanager median /s |"
        );
        println!("|---:|---|---:|---:|---:|");
        for &n in &args.conns {
            let of = |s: &ServerResult| -> Vec<(usize, f64)> {
                s.phases
                    .iter()
                    .filter(|p| p.conns == n)
                    .map(|p| (p.round, p.rate()))
                    .collect()
            };
            let (t, a) = (of(&ts), of(am));
            let ratios: Vec<f64> = t
                .iter()
                .filter_map(|(r, x)| a.iter().find(|(ra, _)| ra == r).map(|(_, y)| x / y))
                .collect();
            let each = ratios
                .iter()
                .map(|r| format!("{:.0} %", r * 100.0))
                .collect::<Vec<_>>()
                .join(", ");
            println!(
                "| {n} | {each} | **{:.0} %** | {:.0} | {:.0} |",
                median(&ratios) * 100.0,
                median(&t.iter().map(|x| x.1).collect::<Vec<_>>()),
                median(&a.iter().map(|x| x.1).collect::<Vec<_>>())
            );
        }
        println!();
    }
    println!("| server | RSS idle MiB | RSS after load MiB | peak MiB | active alerts | memory per active alert |");
    println!("|---|---:|---:|---:|---:|---:|");
    for s in am.iter().chain(std::iter::once(&ts)) {
        println!(
            "| {} | {:.1} | {:.1} | {:.1} | {} | {:.0} B |",
            s.name,
            s.rss_idle_kib / 1024.0,
            s.rss_after_kib / 1024.0,
            s.hwm_kib / 1024.0,
            s.active,
            s.per_alert_bytes()
        );
    }
    println!();
    if rc.done {
        println!(
            "Restart check (kill -9 after {} s of load with {} connections): {} alerts sent, {} acknowledged before the kill, {} not; \
             after restart ({:.1} s to ready) {} stored, **{} acknowledged missing**, **{} stored twice or fired twice**. \
             Re-sending all {}: {} created, {} repeats, {} errors; then {} stored (expected {}), **{} stored twice or fired twice**. {}",
            env.args.kill_after, env.args.kill_conns, rc.sent, rc.acked, rc.unacked, rc.restart_secs, rc.stored_after_kill,
            rc.acked_missing, rc.duplicates_after_kill, rc.sent, rc.resend_created, rc.resend_repeated, rc.resend_errors,
            rc.stored_after_resend, rc.sent, rc.duplicates_after_resend, if rc.ok() { "PASS" } else { "**FAIL**" }
        );
        println!();
    }
    if rc.ok() {
        0
    } else {
        1
    }
}
