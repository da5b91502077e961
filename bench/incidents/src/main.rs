//! Incident writes over HTTP and timer firing lag with a large backlog of open tickets.
//!
//! `run` does everything for one backend (SQLite or PostgreSQL):
//!
//! 1. copies the default policy pack and shortens one clock (ESC-05, CS3 complaint → 5 s) so
//!    probe tickets have a timer that falls due during the run, and lifts the per-token rate
//!    limit (600/min would cap a single load-generator token at 10 writes/s);
//! 2. starts `tianshu serve --demo` once (migrations + demo organisation), creates an API token
//!    with the CLI, creates one template ticket and one probe ticket over HTTP and checks whether
//!    the server itself fires the probe's timer; stops the server;
//! 3. seeds N open tickets straight into the schema the server created: for each one an
//!    `incidents` row, a running `clocks` row and a `pending` `timers` row due 30 days ahead
//!    (set-based `INSERT … SELECT` from a number series, copying the template ticket's values,
//!    in transactions of `--seed-chunk` tickets);
//! 4. restarts the server on the seeded database (and, with `--scheduler external`, a second
//!    process running the product's own `tianshu_services::scheduler::run` on the same
//!    database); reads the server's RSS from `/proc/<pid>/status`;
//! 5. for each connection count: `--warmup` seconds, then `--secs` seconds of N keep-alive
//!    HTTP/1.1 connections POSTing FL2 tickets (`affected_users: 620`), recording latency; in
//!    parallel a probe task POSTs `--probe-rate` tickets/s that also carry `cs_level: 3`;
//! 6. waits for the probe timers, then reads the `events` rows the scheduler recorded
//!    (`clock.breached` / `clock.reminder`, `data.lag_us` = fire time − due time).
//!
//! Progress goes to stderr, a markdown report to stdout.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::{Parser, Subcommand};
use serde_json::{json, Value};
use sqlx::{Connection, Row};

#[derive(Parser)]
#[command(about = "Tianshu incident write throughput and timer lag benchmark")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Seed, serve, load and measure one backend.
    Run(RunArgs),
    /// Run the product's timer scheduler as a separate instance (used by `run --scheduler external`).
    Scheduler {
        #[arg(long)]
        database_url: String,
        #[arg(long)]
        policy_dir: PathBuf,
    },
}

#[derive(Parser, Clone)]
struct RunArgs {
    /// Pin the server to these CPUs (`taskset -c`, e.g. `1`); run the benchmark itself under
    /// `taskset -c 0` so the load generator and the server do not share a core.
    #[arg(long)]
    server_cpus: Option<String>,
    /// The release `tianshu` binary.
    #[arg(long, default_value = "/work/target-bench/release/tianshu")]
    tianshu_bin: PathBuf,
    /// sqlite or postgres.
    #[arg(long, default_value = "sqlite")]
    backend: String,
    /// Open tickets (each with a clock and a pending timer) seeded before the load.
    #[arg(long, default_value_t = 1_000_000)]
    tickets: i64,
    /// Tickets per seeding transaction.
    #[arg(long, default_value_t = 100_000)]
    seed_chunk: i64,
    /// Concurrent keep-alive connections, one load phase each.
    #[arg(long, value_delimiter = ',', default_value = "16,64")]
    conns: Vec<usize>,
    /// Measured seconds per phase.
    #[arg(long, default_value_t = 20)]
    secs: u64,
    /// Unmeasured warm-up seconds before each phase.
    #[arg(long, default_value_t = 3)]
    warmup: u64,
    /// Probe tickets per second (with a timer due after --probe-basis) during measured phases.
    #[arg(long, default_value_t = 10.0)]
    probe_rate: f64,
    /// Basis of the shortened ESC-05 clock in the pack copy.
    #[arg(long, default_value = "5s")]
    probe_basis: String,
    /// Who fires timers: `server` (only the `serve` process) or `external` (also a second
    /// process running tianshu_services::scheduler::run on the same database).
    #[arg(long, default_value = "server")]
    scheduler: String,
    /// PostgreSQL maintenance URL used to create and drop the benchmark database.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pg_admin_url: String,
    /// Policy pack to copy.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../../policies/default"))]
    policy_src: PathBuf,
    /// Keep the work directory and the PostgreSQL database.
    #[arg(long)]
    keep: bool,
}

fn main() {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let code = match cli.cmd {
        Cmd::Run(a) => rt.block_on(run(a)),
        Cmd::Scheduler {
            database_url,
            policy_dir,
        } => rt.block_on(scheduler(database_url, policy_dir)),
    };
    std::process::exit(code);
}

// ---------------------------------------------------------------------------------------------
// The external scheduler instance.

async fn scheduler(url: String, policy_dir: PathBuf) -> i32 {
    use tianshu_core::Clock;
    let store = match tianshu_store::Store::open(&tianshu_store::StoreConfig::new(url)).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("scheduler: cannot open store: {e}");
            return 1;
        }
    };
    let clock: Arc<dyn Clock> = Arc::new(tianshu_core::SystemClock);
    let now = clock.now().timestamp_micros();
    let policy = match tianshu_services::policy::PolicyHandle::bootstrap(
        &store,
        &tianshu_services::policy::PackSource::Dir(policy_dir),
        now,
        "system:bench-scheduler",
    )
    .await
    {
        Ok(p) => p,
        Err(e) => {
            eprintln!("scheduler: policy: {e}");
            return 1;
        }
    };
    let p = tianshu_services::Platform::new(store.clone(), Arc::new(policy), clock);
    let (tx, rx) = tokio::sync::watch::channel(false);
    let owner = tianshu_services::scheduler::instance_id();
    eprintln!("scheduler: instance {owner} running");
    let h = tokio::spawn(tianshu_services::scheduler::run(p, owner, rx));
    let mut term =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).unwrap();
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    let _ = tx.send(true);
    let _ = h.await;
    store.close().await;
    0
}

// ---------------------------------------------------------------------------------------------
// Helpers.

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}

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

/// VmRSS and VmHWM of a process, in MiB.
fn rss_mib(pid: u32) -> (f64, f64) {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Env {
    args: RunArgs,
    work: PathBuf,
    data: PathBuf,
    pack: PathBuf,
    db_url: Option<String>,
    sql_url: String,
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

    fn start_scheduler(&self) -> Child {
        let log = std::fs::File::create(self.work.join("scheduler.log")).unwrap();
        let url = self
            .db_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data.join("tianshu.db").display()));
        Command::new(std::env::current_exe().unwrap())
            .args(["scheduler", "--database-url", &url, "--policy-dir"])
            .arg(&self.pack)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start scheduler")
    }
}

/// Where the server and the load generator ran, for the report.
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
            format!("CPU placement: server pinned to CPU(s) {c}; load generator on CPU(s) {own}")
        }
        None => format!("CPU placement: none (server and load generator share CPU(s) {own})"),
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
    // SIGTERM: the server drains the store and exits.
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

async fn wait_ready(base: &str, child: &mut Child) -> bool {
    let c = reqwest::Client::new();
    for _ in 0..1200 {
        if let Ok(r) = c.get(format!("{base}/readyz")).send().await {
            if r.status().is_success() {
                return true;
            }
        }
        if let Ok(Some(st)) = child.try_wait() {
            say!("server exited early: {st}");
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

fn ticket(title: String, probe: bool) -> Value {
    let mut facts = json!({"affected_users": 620});
    if probe {
        facts["cs_level"] = json!(3);
    }
    json!({"title": title, "symptom": "CRM 受理界面报错，无法提交工单", "source_channel": "hotline",
           "reporter": "bench", "org_key": "guangzhou", "system_key": "crm", "facts": facts})
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .http1_only()
        .pool_max_idle_per_host(1)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

async fn post(c: &reqwest::Client, base: &str, token: &str, body: &Value) -> Result<Value, String> {
    let r = c
        .post(format!("{base}/api/v1/incidents"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .map_err(|e| format!("transport: {e}"))?;
    let st = r.status();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    if st.as_u16() == 201 {
        Ok(v)
    } else {
        Err(format!("HTTP {}", st.as_u16()))
    }
}

// ---------------------------------------------------------------------------------------------
// Database access for seeding and reading results (one connection, either backend).

enum Db {
    Sqlite(sqlx::SqliteConnection),
    Pg(sqlx::PgConnection),
}

impl Db {
    async fn open(env: &Env, seeding: bool) -> Db {
        if env.args.backend == "postgres" {
            Db::Pg(
                sqlx::PgConnection::connect(&env.sql_url)
                    .await
                    .expect("connect pg"),
            )
        } else {
            use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
            let o = SqliteConnectOptions::new()
                .filename(env.data.join("tianshu.db"))
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(if seeding {
                    SqliteSynchronous::Off
                } else {
                    SqliteSynchronous::Full
                })
                .busy_timeout(Duration::from_secs(30))
                .pragma("cache_size", "-262144");
            Db::Sqlite(
                sqlx::SqliteConnection::connect_with(&o)
                    .await
                    .expect("connect sqlite"),
            )
        }
    }

    fn pg(&self) -> bool {
        matches!(self, Db::Pg(_))
    }

    async fn exec(&mut self, sql: &str) -> u64 {
        let r = match self {
            Db::Sqlite(c) => sqlx::raw_sql(sql)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected()),
            Db::Pg(c) => sqlx::raw_sql(sql)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected()),
        };
        r.unwrap_or_else(|e| panic!("{e}\nSQL: {sql}"))
    }

    /// Rows of i64/nullable-i64 columns.
    async fn ints(&mut self, sql: &str) -> Vec<Vec<Option<i64>>> {
        macro_rules! go {
            ($c:expr) => {{
                let rows = sqlx::query(sql)
                    .fetch_all(&mut *$c)
                    .await
                    .unwrap_or_else(|e| panic!("{e}\nSQL: {sql}"));
                rows.iter()
                    .map(|r| {
                        (0..r.len())
                            .map(|i| r.try_get::<Option<i64>, _>(i).unwrap())
                            .collect()
                    })
                    .collect()
            }};
        }
        match self {
            Db::Sqlite(c) => go!(c),
            Db::Pg(c) => go!(c),
        }
    }

    async fn int(&mut self, sql: &str) -> i64 {
        self.ints(sql).await[0][0].unwrap_or(0)
    }

    async fn texts(&mut self, sql: &str) -> Vec<String> {
        match self {
            Db::Sqlite(c) => sqlx::query_scalar(sql).fetch_all(&mut *c).await.unwrap(),
            Db::Pg(c) => sqlx::query_scalar(sql).fetch_all(&mut *c).await.unwrap(),
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

/// Seeds `n` open tickets copied from template ticket `tpl`; returns the seconds it took.
async fn seed(env: &Env, tpl: i64, n: i64) -> f64 {
    let mut db = Db::open(env, true).await;
    let pg = db.pg();
    let t0 = Instant::now();
    db.exec(&format!(
        "CREATE TEMP TABLE tpl_inc AS SELECT * FROM incidents WHERE id = {tpl};
         CREATE TEMP TABLE tpl_clock AS SELECT * FROM clocks WHERE subject_kind = 'incident' AND subject_id = '{tpl}' AND clock_key = 'inc06_progress';
         CREATE TEMP TABLE tpl_timer AS SELECT * FROM timers WHERE clock_id = (SELECT id FROM tpl_clock) AND state = 'pending';"
    ))
    .await;
    let counts = db
        .ints("SELECT (SELECT COUNT(*) FROM tpl_inc), (SELECT COUNT(*) FROM tpl_clock), (SELECT COUNT(*) FROM tpl_timer)")
        .await;
    assert_eq!(
        counts[0],
        vec![Some(1), Some(1), Some(1)],
        "template ticket {tpl} must have one inc06_progress clock with one pending timer"
    );
    let ib = db.int("SELECT COALESCE(MAX(id), 0) FROM incidents").await;
    let cb = db.int("SELECT COALESCE(MAX(id), 0) FROM clocks").await;
    let tb = db.int("SELECT COALESCE(MAX(id), 0) FROM timers").await;
    let now = now_us();
    let far = now + 30 * 86_400_000_000; // 30 days ahead, spread over the next 1000 s (1 ms apart)
    let created = format!("({now} - ({n} - s.n) * 1000)"); // created over the last n ms
    let chunk = env.args.seed_chunk.max(1);
    let mut lo = 1;
    while lo <= n {
        let hi = (lo + chunk - 1).min(n);
        let (with, from) = if pg {
            (
                String::new(),
                format!("generate_series({lo}::bigint, {hi}::bigint) AS s(n)"),
            )
        } else {
            (
                format!("WITH RECURSIVE s(n) AS (SELECT {lo} UNION ALL SELECT n + 1 FROM s WHERE n < {hi}) "),
                "s".to_string(),
            )
        };
        let sql = format!(
            "BEGIN;
             {with}INSERT INTO incidents (id, number, title, symptom, symptom_category, source_channel, reporter, reporter_contact,
               org_id, region_id, system_id, business, customer, cause_class, state, fault_level, level_reasons, level_set_at,
               fl1_at, fl2_at, cs_level, escalated_flow, reported_to_rm_at, notified, facts, handler_id, auditor_id, master_id,
               parent_id, child_kind, assignee_org_id, due_at, progress, last_progress_at, created_by, created_at, updated_at,
               resolved_at, closed_at, version)
             SELECT {ib} + s.n, 'SEED-' || CAST(s.n AS TEXT), 'seed ticket ' || CAST(s.n AS TEXT), t.symptom, t.symptom_category,
               t.source_channel, t.reporter, t.reporter_contact, t.org_id, t.region_id, t.system_id, t.business, t.customer,
               t.cause_class, t.state, t.fault_level, t.level_reasons, {created}, t.fl1_at, CASE WHEN t.fl2_at IS NULL THEN NULL ELSE {created} END,
               t.cs_level, t.escalated_flow, CASE WHEN t.reported_to_rm_at IS NULL THEN NULL ELSE {created} END, t.notified, t.facts,
               t.handler_id, t.auditor_id, t.master_id, t.parent_id, t.child_kind, t.assignee_org_id, t.due_at, t.progress,
               t.last_progress_at, t.created_by, {created}, {created}, t.resolved_at, t.closed_at, 1
             FROM {from}, tpl_inc t;
             {with}INSERT INTO clocks (id, subject_kind, subject_id, clock_key, rule, basis, calendar, started_at, due_at, state,
               paused_at, stopped_at, breached_at, repeat_basis, notify, version)
             SELECT {cb} + s.n, t.subject_kind, CAST({ib} + s.n AS TEXT), t.clock_key, t.rule, t.basis, t.calendar, {created},
               {far} + s.n * 1000, 'running', CAST(NULL AS BIGINT), CAST(NULL AS BIGINT), CAST(NULL AS BIGINT), t.repeat_basis, t.notify, 1
             FROM {from}, tpl_clock t;
             {with}INSERT INTO timers (id, clock_id, subject_kind, subject_id, kind, due_at, state, lease_owner, lease_until,
               fired_at, fired_by, attempts, payload, created_at)
             SELECT {tb} + s.n, {cb} + s.n, t.subject_kind, CAST({ib} + s.n AS TEXT), t.kind, {far} + s.n * 1000, 'pending',
               CAST(NULL AS TEXT), CAST(NULL AS BIGINT), CAST(NULL AS BIGINT), CAST(NULL AS TEXT), 0, t.payload, {created}
             FROM {from}, tpl_timer t;
             COMMIT;"
        );
        db.exec(&sql).await;
        say!(
            "seeded {hi}/{n} tickets ({:.0} tickets/s)",
            hi as f64 / t0.elapsed().as_secs_f64()
        );
        lo = hi + 1;
    }
    if pg {
        db.exec(
            "SELECT setval(pg_get_serial_sequence('incidents', 'id'), (SELECT MAX(id) FROM incidents));
             SELECT setval(pg_get_serial_sequence('clocks', 'id'), (SELECT MAX(id) FROM clocks));
             SELECT setval(pg_get_serial_sequence('timers', 'id'), (SELECT MAX(id) FROM timers));",
        )
        .await;
    } else {
        db.exec("PRAGMA wal_checkpoint(TRUNCATE);").await;
    }
    let secs = t0.elapsed().as_secs_f64();
    if pg {
        // What autovacuum would do shortly after a bulk load; not counted in the seeding time.
        let a = Instant::now();
        db.exec("ANALYZE incidents; ANALYZE clocks; ANALYZE timers;")
            .await;
        say!("ANALYZE took {:.1} s", a.elapsed().as_secs_f64());
    }
    db.close().await;
    secs
}

// ---------------------------------------------------------------------------------------------
// Load.

struct Phase {
    conns: usize,
    secs: f64,
    ok: u64,
    errors: BTreeMap<String, u64>,
    lat_us: Vec<u64>,
    probes_ok: u64,
    probes_err: u64,
    rss_end: (f64, f64),
}

async fn phase(env: &Env, token: &str, conns: usize, server_pid: u32) -> Phase {
    // 0 = warm-up, 1 = measuring, 2 = stop
    let state = Arc::new(AtomicU8::new(0));
    let base = env.base();
    let mut tasks = Vec::new();
    for w in 0..conns {
        let (state, base, token) = (state.clone(), base.clone(), token.to_string());
        tasks.push(tokio::spawn(async move {
            let c = client();
            let mut lat = Vec::with_capacity(1 << 14);
            let mut errors: BTreeMap<String, u64> = BTreeMap::new();
            let mut i = 0u64;
            loop {
                let st = state.load(Ordering::Relaxed);
                if st == 2 {
                    break;
                }
                i += 1;
                let body = ticket(format!("负载 c{conns}-w{w}-{i}"), false);
                let t = Instant::now();
                let r = post(&c, &base, &token, &body).await;
                let us = t.elapsed().as_micros() as u64;
                if st == 1 {
                    match r {
                        Ok(_) => lat.push(us),
                        Err(e) => *errors.entry(e).or_default() += 1,
                    }
                }
            }
            (lat, errors)
        }));
    }
    // Probe tickets: their ESC-05 timer falls due --probe-basis after creation.
    let probes_ok = Arc::new(AtomicU64::new(0));
    let probes_err = Arc::new(AtomicU64::new(0));
    let probe = {
        let (state, base, token) = (state.clone(), base.clone(), token.to_string());
        let (pok, perr) = (probes_ok.clone(), probes_err.clone());
        let rate = env.args.probe_rate;
        tokio::spawn(async move {
            if rate <= 0.0 {
                return;
            }
            let c = client();
            let mut iv = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
            let mut i = 0;
            loop {
                iv.tick().await;
                match state.load(Ordering::Relaxed) {
                    2 => break,
                    1 => {}
                    _ => continue,
                }
                i += 1;
                let (c, base, token, pok, perr) = (
                    c.clone(),
                    base.clone(),
                    token.clone(),
                    pok.clone(),
                    perr.clone(),
                );
                tokio::spawn(async move {
                    match post(
                        &c,
                        &base,
                        &token,
                        &ticket(format!("探针 c{conns}-{i}"), true),
                    )
                    .await
                    {
                        Ok(_) => pok.fetch_add(1, Ordering::Relaxed),
                        Err(_) => perr.fetch_add(1, Ordering::Relaxed),
                    };
                });
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(env.args.warmup)).await;
    state.store(1, Ordering::Relaxed);
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(env.args.secs)).await;
    state.store(2, Ordering::Relaxed);
    let secs = t0.elapsed().as_secs_f64();
    let rss_end = rss_mib(server_pid);
    let mut lat_us = Vec::new();
    let mut errors = BTreeMap::new();
    for t in tasks {
        let (l, e) = t.await.unwrap();
        lat_us.extend(l);
        for (k, v) in e {
            *errors.entry(k).or_default() += v;
        }
    }
    let _ = probe.await;
    lat_us.sort_unstable();
    Phase {
        conns,
        secs,
        ok: lat_us.len() as u64,
        errors,
        lat_us,
        probes_ok: probes_ok.load(Ordering::Relaxed),
        probes_err: probes_err.load(Ordering::Relaxed),
        rss_end,
    }
}

// ---------------------------------------------------------------------------------------------
// The whole run.

async fn run(args: RunArgs) -> i32 {
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
    let work = std::env::temp_dir().join(format!("tianshu-bench-incidents-{unix}-{backend}"));
    let data = work.join("data");
    let pack = work.join("pack");
    std::fs::create_dir_all(&data).unwrap();
    copy_dir(&args.policy_src, &pack).expect("copy policy pack");
    // Pack changes: ESC-05 (CS3 complaint unresolved) due after --probe-basis; no rate limit.
    let esc_path = pack.join("escalation.toml");
    let esc = std::fs::read_to_string(&esc_path).unwrap();
    let at = esc
        .find("key = \"esc05_cs3\"")
        .expect("esc05_cs3 clock in escalation.toml");
    let (head, tail) = esc.split_at(at);
    let tail2 = tail.replacen(
        "basis = \"1h\"",
        &format!("basis = \"{}\"", args.probe_basis),
        1,
    );
    assert_ne!(
        tail, tail2,
        "esc05_cs3 basis = \"1h\" not found; escalation.toml changed shape"
    );
    std::fs::write(&esc_path, format!("{head}{tail2}")).unwrap();
    let pack_path = pack.join("pack.toml");
    let pt = std::fs::read_to_string(&pack_path).unwrap();
    let pt2 = pt.replacen(
        "requests_per_minute = 600",
        "requests_per_minute = 1000000000",
        1,
    );
    assert_ne!(pt, pt2, "requests_per_minute = 600 not found in pack.toml");
    std::fs::write(&pack_path, pt2).unwrap();

    let (db_url, sql_url, db_name) = if backend == "postgres" {
        let name = format!("tianshu_bench_{unix}");
        let mut admin = sqlx::PgConnection::connect(&args.pg_admin_url)
            .await
            .expect("connect pg admin");
        sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
        admin.close().await.ok();
        let (prefix, _) = args.pg_admin_url.rsplit_once('/').unwrap();
        let url = format!("{prefix}/{name}");
        (Some(url.clone()), url, Some(name))
    } else {
        (None, String::new(), None)
    };
    let env = Env {
        args: args.clone(),
        work: work.clone(),
        data: data.clone(),
        pack,
        db_url,
        sql_url,
        port: free_port(),
    };
    say!(
        "work dir {}, backend {backend}, port {}",
        work.display(),
        env.port
    );
    let code = run_inner(&env).await;
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
        say!("kept {} {:?}", work.display(), env.db_url);
    }
    code
}

async fn run_inner(env: &Env) -> i32 {
    let a = &env.args;
    let base = env.base();
    // 1. First start: migrate, demo organisation, token, template and probe tickets.
    let mut server = env.start_server("setup");
    if !wait_ready(&base, &mut server).await {
        say!("server did not become ready; see {}", env.work.display());
        stop(&mut server, "server");
        return 1;
    }
    say!("server ready (migrated, demo loaded)");
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
        .map(str::to_string);
    let Some(token) = token else {
        say!(
            "token create failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        stop(&mut server, "server");
        return 1;
    };
    let c = client();
    let tpl = post(&c, &base, &token, &ticket("模板工单".into(), false))
        .await
        .expect("template ticket");
    let tpl_id = tpl["id"].as_i64().expect("ticket id");
    let keys: Vec<String> = tpl["clocks"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| format!("{}@{}", c["key"].as_str().unwrap_or("?"), c["due_at"]))
                .collect()
        })
        .unwrap_or_default();
    say!(
        "template ticket {tpl_id}: level {} clocks {keys:?}",
        tpl["fault_level"]
    );
    let probe = post(&c, &base, &token, &ticket("探针工单".into(), true))
        .await
        .expect("probe ticket");
    let pkeys: Vec<String> = probe["clocks"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| c["key"].as_str().unwrap_or("?").to_string())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        pkeys.iter().any(|k| k == "esc05_cs3"),
        "probe ticket has no esc05_cs3 clock: {pkeys:?}"
    );
    let probe_id = probe["id"].as_i64().unwrap();
    // Does `serve` fire timers by itself? Wait past the probe's due time.
    let basis_secs: f64 = a.probe_basis.trim_end_matches('s').parse().unwrap_or(5.0);
    tokio::time::sleep(Duration::from_secs_f64(basis_secs + 3.0)).await;
    stop(&mut server, "server");
    let mut db = Db::open(env, false).await;
    let setup_fired = db
        .int(&format!("SELECT COUNT(*) FROM events WHERE subject_kind = 'incident' AND subject_id = '{probe_id}' AND timer_id IS NOT NULL"))
        .await;
    db.close().await;
    let server_fires = setup_fired > 0;
    say!("setup probe ticket {probe_id}: timer events recorded by `serve` alone after {:.0} s: {setup_fired}", basis_secs + 3.0);

    // 2. Seed.
    say!("seeding {} tickets …", a.tickets);
    let seed_secs = seed(env, tpl_id, a.tickets).await;
    say!("seeding took {seed_secs:.1} s");
    let mut db = Db::open(env, false).await;
    let (n_inc, n_pending) = (
        db.int("SELECT COUNT(*) FROM incidents").await,
        db.int("SELECT COUNT(*) FROM timers WHERE state = 'pending'")
            .await,
    );
    let db_size = if db.pg() {
        db.int("SELECT pg_database_size(current_database())").await as f64
    } else {
        std::fs::metadata(env.data.join("tianshu.db"))
            .map(|m| m.len())
            .unwrap_or(0) as f64
    } / 1048576.0;
    db.close().await;
    say!("database: {n_inc} incidents, {n_pending} pending timers, {db_size:.0} MiB");

    // 3. Restart on the seeded database.
    let mut server = env.start_server("load");
    let t = Instant::now();
    if !wait_ready(&base, &mut server).await {
        say!("server did not become ready after seeding");
        stop(&mut server, "server");
        return 1;
    }
    let restart_secs = t.elapsed().as_secs_f64();
    let mut sched = (a.scheduler == "external").then(|| env.start_scheduler());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pid = server.id();
    let rss_idle = rss_mib(pid);
    say!(
        "server ready in {restart_secs:.1} s; RSS idle {:.0} MiB",
        rss_idle.0
    );
    let run_start = now_us();

    // 4. Load phases.
    let mut phases = Vec::new();
    for &n in &a.conns {
        say!(
            "phase: {n} connections, {} s warm-up + {} s",
            a.warmup,
            a.secs
        );
        let p = phase(env, &token, n, pid).await;
        say!(
            "  {} ok in {:.1} s = {:.0}/s, p50 {:.1} ms, p99 {:.1} ms, errors {:?}, probes {}+{} err, RSS {:.0} MiB",
            p.ok, p.secs, p.ok as f64 / p.secs, pct(&p.lat_us, 50.0) / 1e3, pct(&p.lat_us, 99.0) / 1e3,
            p.errors, p.probes_ok, p.probes_err, p.rss_end.0
        );
        phases.push(p);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let load_end = now_us();
    let rss_after_load = rss_mib(pid);
    // 5. Let the last probes' timers fall due and fire.
    tokio::time::sleep(Duration::from_secs_f64(basis_secs + 5.0)).await;
    let rss_final = rss_mib(pid);
    let sched_rss = sched.as_ref().map(|s| rss_mib(s.id()));
    if let Some(s) = sched.as_mut() {
        stop(s, "scheduler");
    }
    stop(&mut server, "server");

    // 6. Timer lag from the recorded events.
    let mut db = Db::open(env, false).await;
    let datas = db
        .texts(&format!("SELECT data FROM events WHERE timer_id IS NOT NULL AND kind IN ('clock.breached', 'clock.reminder') AND at >= {run_start}"))
        .await;
    let mut lags: Vec<u64> = Vec::new();
    let mut by_key: BTreeMap<String, u64> = BTreeMap::new();
    for d in &datas {
        let v: Value = serde_json::from_str(d).unwrap_or(Value::Null);
        lags.push(v["lag_us"].as_i64().unwrap_or(0).max(0) as u64);
        *by_key
            .entry(v["clock_key"].as_str().unwrap_or("?").to_string())
            .or_default() += 1;
    }
    lags.sort_unstable();
    let probe_timers = db
        .ints(&format!(
            "SELECT COUNT(*), SUM(CASE WHEN t.state = 'fired' THEN 1 ELSE 0 END), SUM(CASE WHEN t.state = 'pending' AND t.due_at <= {load_end} THEN 1 ELSE 0 END)
             FROM timers t JOIN clocks c ON c.id = t.clock_id WHERE c.clock_key = 'esc05_cs3' AND c.started_at >= {run_start}"
        ))
        .await;
    let pending_after = db
        .int("SELECT COUNT(*) FROM timers WHERE state = 'pending'")
        .await;
    let incidents_after = db.int("SELECT COUNT(*) FROM incidents").await;
    db.close().await;
    let (pt_total, pt_fired, pt_overdue) = (
        probe_timers[0][0].unwrap_or(0),
        probe_timers[0][1].unwrap_or(0),
        probe_timers[0][2].unwrap_or(0),
    );

    // Report.
    let ms = |us: f64| us / 1e3;
    println!(
        "### {}: {} seeded open tickets (each with a clock and a pending timer)\n",
        a.backend, a.tickets
    );
    println!("* {}", placement(a.server_cpus.as_deref()));
    println!("* seeding: {seed_secs:.1} s ({:.0} tickets/s; 3 rows each), database {db_size:.0} MiB after seeding; {n_inc} incidents, {n_pending} pending timers", a.tickets as f64 / seed_secs);
    println!("* restart on the seeded database until /readyz: {restart_secs:.1} s");
    println!("* server RSS: idle {:.0} MiB; after load {:.0} MiB; {:.0} s later {:.0} MiB; peak (VmHWM) {:.0} MiB", rss_idle.0, rss_after_load.0, basis_secs + 5.0, rss_final.0, rss_final.1);
    if let Some((r, h)) = sched_rss {
        println!("* external scheduler process RSS {r:.0} MiB (peak {h:.0} MiB)");
    }
    println!(
        "* `serve` alone fired the setup probe's timer: {}",
        if server_fires {
            "yes"
        } else {
            "**no** (0 timer events after the due time)"
        }
    );
    println!(
        "* timers fired by: {}",
        if a.scheduler == "external" {
            "`serve` + one external scheduler instance (tianshu_services::scheduler::run)"
        } else {
            "`serve` only"
        }
    );
    println!("* after the run: {incidents_after} incidents, {pending_after} pending timers\n");
    println!("| connections | seconds | writes ok | writes/s | p50 ms | p99 ms | max ms | errors | probe tickets | server RSS at end MiB |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|");
    for p in &phases {
        let errs = if p.errors.is_empty() {
            "0".to_string()
        } else {
            format!("{:?}", p.errors)
        };
        println!(
            "| {} | {:.1} | {} | {:.0} | {:.1} | {:.1} | {:.1} | {} | {} ok / {} err | {:.0} |",
            p.conns,
            p.secs,
            p.ok,
            p.ok as f64 / p.secs,
            ms(pct(&p.lat_us, 50.0)),
            ms(pct(&p.lat_us, 99.0)),
            ms(p.lat_us.last().copied().unwrap_or(0) as f64),
            errs,
            p.probes_ok,
            p.probes_err,
            p.rss_end.0
        );
    }
    println!();
    println!(
        "Timer lag (events recorded since the load started, `data.lag_us` = fire time − due time): {} fired {:?}; p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms. Probe ESC-05 timers: {pt_total} created, {pt_fired} fired, {pt_overdue} still pending although due before the load ended.",
        lags.len(), by_key, ms(pct(&lags, 50.0)), ms(pct(&lags, 99.0)), ms(lags.last().copied().unwrap_or(0) as f64)
    );
    println!();
    0
}
