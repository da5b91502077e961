//! Durable write throughput of the Tianshu store.
//!
//! One "write" is one durable transaction that appends to the audit chain
//! (`tianshu_store::audit::append`: read the chain head, insert the hashed row, update the head).
//! For each writer count N, N tokio tasks each do up to M writes (M = ceil(--writes / N)), bounded
//! by --max-secs per configuration, against:
//!
//! * `tianshu-sqlite`: `Store::write` on SQLite (WAL, synchronous=FULL, single writer with group
//!   commit), a fresh temp file per configuration;
//! * `naive-sqlite` (the peer): the same schema (migrated by the store), the same statements (the
//!   same `append` function), the same durability, but a plain sqlx `SqlitePool` with several
//!   connections where every write is its own `BEGIN IMMEDIATE … COMMIT` and contention is left
//!   to `busy_timeout`;
//! * `tianshu-postgres`: `Store::write` on PostgreSQL, a fresh schema per configuration
//!   (`tianshu_bench_<unix>_w<N>`), dropped at the end.
//!
//! Every run's chain is checked with `Store::audit_verify()` and must hold exactly the writes
//! that were acknowledged; otherwise the process exits non-zero.

use std::future::Future;
use std::io::Write as _;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use serde_json::json;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, SqlitePool};
use tianshu_store::audit::{append, NewAuditEntry};
use tianshu_store::{Conn, Store, StoreConfig};

#[derive(Parser, Debug)]
#[command(about = "Durable write throughput of the Tianshu store (SQLite group commit, naive SQLite, PostgreSQL)")]
struct Args {
    /// Concurrent writer counts to measure.
    #[arg(long, value_delimiter = ',', default_values_t = vec![1usize, 8, 64, 256])]
    writers: Vec<usize>,
    /// Writes per configuration, split evenly across the writers.
    #[arg(long, default_value_t = 4000)]
    writes: usize,
    /// Time cap per configuration in seconds; writers stop starting new writes after it.
    #[arg(long, default_value_t = 10.0)]
    max_secs: f64,
    /// Backends to run, comma separated: tianshu-sqlite, naive-sqlite, tianshu-postgres.
    #[arg(long, value_delimiter = ',', default_values_t = vec!["tianshu-sqlite".to_string(), "naive-sqlite".to_string(), "tianshu-postgres".to_string()])]
    backends: Vec<String>,
    /// PostgreSQL server for the tianshu-postgres runs.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    pg_url: String,
    /// Connections in the naive SQLite pool.
    #[arg(long, default_value_t = 8)]
    naive_connections: u32,
}

/// What one configuration produced.
struct RunResult {
    backend: String,
    writers: usize,
    ok: usize,
    failed: usize,
    first_error: Option<String>,
    secs: f64,
    lat: Vec<Duration>,
    capped: bool,
    verify: String,
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

fn entry(w: usize, i: usize) -> NewAuditEntry {
    NewAuditEntry {
        actor: format!("user:bench{w}"),
        action: "bench.write".into(),
        object_type: "bench".into(),
        object_id: format!("{w}-{i}"),
        before: None,
        after: Some(json!({"writer": w, "i": i, "note": "durable write benchmark"})),
        request_id: Some(format!("req-{w}-{i}")),
        at: now_micros(),
    }
}

/// Runs `writers` tasks, each doing up to `per_writer` calls of `op`, until `cap` has passed.
async fn drive<F, Fut>(writers: usize, per_writer: usize, cap: Duration, op: F) -> (usize, usize, Option<String>, f64, Vec<Duration>, bool)
where
    F: Fn(usize, usize) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let start = Instant::now();
    let mut handles = Vec::with_capacity(writers);
    for w in 0..writers {
        let op = op.clone();
        handles.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(per_writer);
            let mut failed = 0usize;
            let mut first_error = None;
            let mut capped = false;
            for i in 0..per_writer {
                if start.elapsed() >= cap {
                    capped = true;
                    break;
                }
                let t = Instant::now();
                match op(w, i).await {
                    Ok(()) => lat.push(t.elapsed()),
                    Err(e) => {
                        failed += 1;
                        first_error.get_or_insert(e);
                    }
                }
            }
            (lat, failed, first_error, capped)
        }));
    }
    let mut all = Vec::new();
    let mut failed = 0;
    let mut first_error = None;
    let mut capped = false;
    for h in handles {
        let (lat, f, e, c) = h.await.expect("writer task panicked");
        all.extend(lat);
        failed += f;
        if first_error.is_none() {
            first_error = e;
        }
        capped |= c;
    }
    let secs = start.elapsed().as_secs_f64();
    (all.len(), failed, first_error, secs, all, capped)
}

/// Checks the chain and that it holds exactly the acknowledged writes.
async fn verify(store: &Store, ok: usize) -> Result<String, String> {
    let r = store.audit_verify().await.map_err(|e| format!("audit_verify failed: {e}"))?;
    if !r.ok() {
        return Err(format!("audit chain broken: {:?}", r.problems));
    }
    if r.entries != ok as i64 || r.head_seq != ok as i64 {
        return Err(format!(
            "chain holds {} entries (head {}) but {} writes were acknowledged",
            r.entries, r.head_seq, ok
        ));
    }
    Ok(format!("ok ({} entries)", r.entries))
}

async fn run_tianshu(backend: &str, cfg: StoreConfig, writers: usize, per_writer: usize, cap: Duration) -> Result<RunResult, String> {
    let store = Store::open(&cfg).await.map_err(|e| format!("open {backend}: {e}"))?;
    let s = store.clone();
    let (ok, failed, first_error, secs, lat, capped) = drive(writers, per_writer, cap, move |w, i| {
        let store = s.clone();
        async move {
            let e = entry(w, i);
            store
                .write(move |c| Box::pin(async move { append(c, e).await }))
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    })
    .await;
    let v = verify(&store, ok).await;
    store.close().await;
    let verify = v?;
    Ok(RunResult { backend: backend.into(), writers, ok, failed, first_error, secs, lat, capped, verify })
}

/// One naive write: its own connection from the pool, its own BEGIN IMMEDIATE … COMMIT.
async fn naive_write(pool: &SqlitePool, e: NewAuditEntry) -> Result<(), String> {
    let mut conn = pool.acquire().await.map_err(|e| format!("acquire: {e}"))?;
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut *conn)
        .await
        .map_err(|e| format!("begin: {e}"))?;
    let r = {
        let mut c = Conn::Sqlite(&mut *conn);
        append(&mut c, e).await
    };
    match r {
        Ok(_) => match sqlx::query("COMMIT").execute(&mut *conn).await {
            Ok(_) => Ok(()),
            Err(e) => {
                let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                Err(format!("commit: {e}"))
            }
        },
        Err(e) => {
            let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
            Err(format!("append: {e}"))
        }
    }
}

async fn run_naive(writers: usize, per_writer: usize, cap: Duration, connections: u32) -> Result<RunResult, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let cfg = StoreConfig::sqlite_in(dir.path());
    // The store creates the identical schema (its own migrations), then steps aside.
    let store = Store::open(&cfg).await.map_err(|e| format!("migrate naive db: {e}"))?;
    store.close().await;
    let opts = SqliteConnectOptions::from_str(&cfg.url)
        .map_err(|e| e.to_string())?
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10));
    let pool = SqlitePoolOptions::new()
        .max_connections(connections)
        .min_connections(connections)
        .acquire_timeout(Duration::from_secs(60))
        .connect_with(opts)
        .await
        .map_err(|e| format!("naive pool: {e}"))?;
    let p = pool.clone();
    let (ok, failed, first_error, secs, lat, capped) = drive(writers, per_writer, cap, move |w, i| {
        let pool = p.clone();
        async move { naive_write(&pool, entry(w, i)).await }
    })
    .await;
    pool.close().await;
    // Verify the naive chain with the store's own verifier.
    let store = Store::open(&cfg).await.map_err(|e| format!("reopen naive db: {e}"))?;
    let v = verify(&store, ok).await;
    store.close().await;
    let verify = v?;
    Ok(RunResult { backend: "naive-sqlite".into(), writers, ok, failed, first_error, secs, lat, capped, verify })
}

async fn drop_schema(url: &str, schema: &str) {
    match sqlx::PgConnection::connect(url).await {
        Ok(mut c) => {
            if let Err(e) = sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE")).execute(&mut c).await {
                eprintln!("warning: could not drop schema {schema}: {e}");
            }
            let _ = c.close().await;
        }
        Err(e) => eprintln!("warning: could not connect to drop schema {schema}: {e}"),
    }
}

async fn pg_settings(url: &str) -> Result<String, String> {
    let mut c = sqlx::PgConnection::connect(url).await.map_err(|e| e.to_string())?;
    let mut parts = Vec::new();
    for name in ["server_version", "fsync", "synchronous_commit", "wal_sync_method", "commit_delay"] {
        let v: String = sqlx::query_scalar(&format!("SHOW {name}"))
            .fetch_one(&mut c)
            .await
            .map_err(|e| e.to_string())?;
        parts.push(format!("{name}={v}"));
    }
    let _ = c.close().await;
    Ok(parts.join(", "))
}

/// Raw fdatasync rate of the temp directory's disk: the ceiling for one-fsync-per-commit designs.
fn fsync_probe() -> std::io::Result<(f64, f64)> {
    let mut f = tempfile::tempfile()?;
    let buf = [7u8; 4096];
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed() < Duration::from_secs(1) {
        f.write_all(&buf)?;
        f.sync_data()?;
        n += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    Ok((n as f64 / secs, secs * 1000.0 / n as f64))
}

fn pct(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[idx].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let cap = Duration::from_secs_f64(args.max_secs);
    let unix = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);

    match fsync_probe() {
        Ok((rate, ms)) => eprintln!("disk probe (temp dir): {rate:.0} fdatasync/s of 4 KiB appends ({ms:.2} ms each)"),
        Err(e) => eprintln!("disk probe failed: {e}"),
    }
    let want_pg = args.backends.iter().any(|b| b == "tianshu-postgres");
    if want_pg {
        match pg_settings(&args.pg_url).await {
            Ok(s) => eprintln!("postgres: {s}"),
            Err(e) => eprintln!("postgres settings unavailable: {e}"),
        }
    }

    let mut results: Vec<RunResult> = Vec::new();
    let mut errors: Vec<String> = Vec::new();
    for backend in &args.backends {
        for &n in &args.writers {
            let n = n.max(1);
            let per_writer = args.writes.div_ceil(n).max(1);
            eprint!("{backend:>17} writers={n:<4} ... ");
            let r = match backend.as_str() {
                "tianshu-sqlite" => match tempfile::tempdir() {
                    Ok(dir) => {
                        let mut cfg = StoreConfig::sqlite_in(dir.path());
                        cfg.sqlite_group_commit_max = 256;
                        run_tianshu(backend, cfg, n, per_writer, cap).await
                    }
                    Err(e) => Err(e.to_string()),
                },
                "naive-sqlite" => run_naive(n, per_writer, cap, args.naive_connections).await,
                "tianshu-postgres" => {
                    let schema = format!("tianshu_bench_{unix}_w{n}");
                    let mut cfg = StoreConfig::new(args.pg_url.clone());
                    cfg.pg_schema = Some(schema.clone());
                    let r = run_tianshu(backend, cfg, n, per_writer, cap).await;
                    drop_schema(&args.pg_url, &schema).await;
                    r
                }
                other => Err(format!("unknown backend '{other}'")),
            };
            match r {
                Ok(mut r) => {
                    r.lat.sort();
                    eprintln!(
                        "{} writes in {:.2} s, {:.0}/s, chain {}{}{}",
                        r.ok,
                        r.secs,
                        r.ok as f64 / r.secs,
                        r.verify,
                        if r.capped { ", time cap hit" } else { "" },
                        if r.failed > 0 { format!(", {} FAILED", r.failed) } else { String::new() }
                    );
                    if let Some(e) = &r.first_error {
                        eprintln!("    first error: {e}");
                    }
                    if r.failed > 0 && r.backend.starts_with("tianshu") {
                        errors.push(format!("{} writers={}: {} writes failed", r.backend, n, r.failed));
                    }
                    results.push(r);
                }
                Err(e) => {
                    eprintln!("ERROR {e}");
                    errors.push(format!("{backend} writers={n}: {e}"));
                }
            }
        }
    }

    println!("| backend | writers | total writes | seconds | writes/s | p50 ms | p99 ms | failed | chain verify |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---|");
    for r in &results {
        println!(
            "| {} | {} | {}{} | {:.2} | {:.0} | {:.2} | {:.2} | {} | {} |",
            r.backend,
            r.writers,
            r.ok,
            if r.capped { " (time cap)" } else { "" },
            r.secs,
            r.ok as f64 / r.secs,
            pct(&r.lat, 0.50),
            pct(&r.lat, 0.99),
            r.failed,
            r.verify
        );
    }
    if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        for e in &errors {
            eprintln!("FAIL: {e}");
        }
        ExitCode::FAILURE
    }
}
