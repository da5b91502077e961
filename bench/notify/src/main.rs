//! Outbox delivery rate: N queued one-recipient SMS messages are expanded, rendered, sent to a loopback
//! HTTP gateway and recorded by the product's own notification worker (`notify::worker::run`), on SQLite
//! and on PostgreSQL. The peer, measured in the same run against the same gateway, sends N requests
//! straight from a reqwest client with the same concurrency and records nothing: the ceiling the HTTP path
//! allows on this machine. See bench/README.md.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::json;
use tianshu_core::SystemClock;
use tianshu_services::notify::channels::{ChannelConfig, Channels, SmsGatewayConfig};
use tianshu_services::policy::{PackSource, PolicyHandle};
use tianshu_services::Platform;
use tianshu_store::timers::{insert_outbox, NewOutbox};
use tianshu_store::{on_conn, Store, StoreConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Parser)]
struct Args {
    /// Backends to measure: sqlite, postgres.
    #[arg(long, value_delimiter = ',', default_value = "sqlite,postgres")]
    backends: Vec<String>,
    /// Messages per backend.
    #[arg(long, default_value_t = 10_000)]
    messages: usize,
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    pg_url: String,
    /// Requests the peer keeps in flight (the worker sends up to one batch of 200 at once).
    #[arg(long, default_value_t = 200)]
    peer_concurrency: usize,
}

/// A minimal HTTP/1.1 keep-alive server answering every request `{"code":"0"}`; counts requests.
async fn gateway(count: Arc<AtomicU64>) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else { continue };
            let count = count.clone();
            tokio::spawn(async move {
                let mut buf = Vec::with_capacity(4096);
                let mut chunk = [0u8; 4096];
                loop {
                    // One request: headers, then Content-Length bytes of body.
                    let (head_end, len) = loop {
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
                            let len = head
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length:"))
                                .and_then(|v| v.trim().parse::<usize>().ok())
                                .unwrap_or(0);
                            break (i + 4, len);
                        }
                        match s.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    while buf.len() < head_end + len {
                        match s.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    buf.drain(..head_end + len);
                    count.fetch_add(1, Ordering::Relaxed);
                    let body = br#"{"code":"0"}"#;
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                        body.len()
                    );
                    if s.write_all(resp.as_bytes()).await.is_err() || s.write_all(body).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

async fn peer(url: &str, n: usize, conc: usize) -> f64 {
    let client = reqwest::Client::builder().pool_max_idle_per_host(conc).build().unwrap();
    let start = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..conc)
        .map(|_| {
            let (client, next, url) = (client.clone(), next.clone(), format!("{url}/sms"));
            tokio::spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < n as u64 {
                    let r = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(r#"{"mobile":"13900000000","text":"peer"}"#)
                        .send()
                        .await
                        .unwrap();
                    let _ = r.bytes().await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    n as f64 / start.elapsed().as_secs_f64()
}

async fn seed(store: &Store, n: usize) {
    let chunk = 1000;
    for start in (0..n).step_by(chunk) {
        let end = (start + chunk).min(n);
        store
            .write(move |c| {
                Box::pin(async move {
                    for i in start..end {
                        let id = insert_outbox(
                            c,
                            NewOutbox {
                                idempotency_key: format!("bench:{i}"),
                                subject_kind: "adhoc".into(),
                                subject_id: String::new(),
                                template: "inc06_progress_due".into(),
                                // One address per message: the per-recipient rate limit never holds one back.
                                recipients: json!({"addresses": [format!("sms:139{i:08}")]}),
                                context: json!({"incident": format!("INC-{i}"), "title": "基准", "rule": "INC-06", "level": "FL2", "due_at": "12:00"}),
                                cause: "bench".into(),
                                state: "queued".into(),
                                created_at: 0,
                            },
                        )
                        .await?
                        .unwrap_or_default();
                        on_conn!(c, c => sqlx::query("UPDATE outbox SET channels = '[\"sms\"]' WHERE id = $1")
                            .bind(id).execute(&mut **c).await.map(|_| ()))?;
                    }
                    Ok(())
                })
            })
            .await
            .unwrap();
    }
}

async fn sent_count(store: &Store) -> i64 {
    match store.backend() {
        tianshu_store::PoolRef::Sqlite(p) => sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE cause = 'bench' AND state = 'sent'")
            .fetch_one(p)
            .await
            .unwrap(),
        tianshu_store::PoolRef::Postgres(p) => sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE cause = 'bench' AND state = 'sent'")
            .fetch_one(p)
            .await
            .unwrap(),
    }
}

async fn run(backend: &str, args: &Args, url: &str, hits: &AtomicU64) -> (f64, f64, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = match backend {
        "sqlite" => StoreConfig::sqlite_in(dir.path()),
        "postgres" => StoreConfig::new(&args.pg_url),
        other => panic!("unknown backend {other}"),
    };
    let schema = format!("tianshu_bench_notify_{}", std::process::id());
    if backend == "postgres" {
        cfg.pg_schema = Some(schema.clone());
    }
    let store = Store::open(&cfg).await.unwrap();
    let policy = PolicyHandle::bootstrap(&store, &PackSource::Embedded, 0, "bench").await.unwrap();
    let p = Platform::new(store.clone(), Arc::new(policy), Arc::new(SystemClock));
    let t0 = Instant::now();
    seed(&store, args.messages).await;
    let seeded = t0.elapsed();
    eprintln!("{backend}: seeded {} queued messages in {:.1} s", args.messages, seeded.as_secs_f64());
    let channels = Channels::build(ChannelConfig {
        smtp: None,
        sms: Some(SmsGatewayConfig {
            method: "POST".into(),
            url: format!("{url}/sms"),
            headers: vec![],
            body_template: r#"{"mobile": {{ mobile | tojson }}, "text": {{ text | tojson }}}"#.into(),
            content_type: "application/json".into(),
            success_status: vec![],
            success_json_pointer: Some("/code".into()),
            success_json_value: Some("0".into()),
            success_regex: None,
            timeout: Duration::from_secs(10),
        }),
        im: vec![],
        log: false,
    })
    .unwrap();
    let before = hits.load(Ordering::Relaxed);
    let (tx, rx) = tokio::sync::watch::channel(false);
    let start = Instant::now();
    let worker = tokio::spawn(tianshu_services::notify::worker::run(p.clone(), Arc::new(channels), "bench".into(), rx));
    // Sends reach the gateway before they are recorded; the rate counts recorded (durably `sent`) messages.
    let mut first_half = None;
    loop {
        let sent = sent_count(&store).await as usize;
        if first_half.is_none() && sent >= args.messages / 2 {
            first_half = Some(start.elapsed());
        }
        if sent >= args.messages {
            break;
        }
        if start.elapsed() > Duration::from_secs(600) {
            panic!("{backend}: only {sent} of {} sent after 600 s", args.messages);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let total = start.elapsed();
    let _ = tx.send(true);
    let _ = worker.await;
    let sends = hits.load(Ordering::Relaxed) - before;
    assert_eq!(sends as usize, args.messages, "{backend}: the gateway saw {sends} sends for {} messages", args.messages);
    let half = first_half.unwrap_or(total);
    let second_half_rate = (args.messages - args.messages / 2) as f64 / (total - half).as_secs_f64().max(1e-6);
    store.close().await;
    if backend == "postgres" {
        let pool = sqlx::PgPool::connect(&args.pg_url).await.unwrap();
        let _ = sqlx::query(&format!("DROP SCHEMA {schema} CASCADE")).execute(&pool).await;
    }
    (args.messages as f64 / total.as_secs_f64(), second_half_rate, total)
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let hits = Arc::new(AtomicU64::new(0));
    let url = gateway(hits.clone()).await;
    let peer_rate = peer(&url, args.messages, args.peer_concurrency).await;
    eprintln!("peer: {peer_rate:.0} requests/s");
    println!("| what | messages | time (s) | messages/s | second half, messages/s |");
    println!("|---|---:|---:|---:|---:|");
    println!(
        "| peer: direct reqwest POSTs, {} in flight, nothing recorded | {} | {:.2} | {:.0} | |",
        args.peer_concurrency,
        args.messages,
        args.messages as f64 / peer_rate,
        peer_rate
    );
    for b in &args.backends {
        let (rate, half, total) = run(b, &args, &url, &hits).await;
        println!(
            "| tianshu outbox worker, {b} (expand, render, send, record) | {} | {:.2} | {rate:.0} | {half:.0} |",
            args.messages,
            total.as_secs_f64()
        );
    }
    println!("\npeak RSS of the whole benchmark process: {} MiB", rss_kib() / 1024);
}
