//! The single SQLite writer with group commit.
//!
//! SQLite allows one writer at a time; instead of many connections fighting over the lock with
//! busy-waits, one task owns the write connection. Callers queue closures; the task takes every
//! closure waiting (up to a cap), runs each inside its own SAVEPOINT of one transaction and commits
//! once, so one fsync covers the whole batch. A failing closure rolls back only its savepoint.
//! Results are released to callers only after COMMIT returns, so nothing is acknowledged early.

use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use sqlx::{Connection, SqliteConnection};
use tokio::sync::{mpsc, oneshot, Mutex};

use crate::raw::RawSqlite;
use crate::{Conn, StoreError, StoreResult};

type Finish = Box<dyn FnOnce(Result<(), String>) + Send>;
type Job = Box<
    dyn for<'c> FnOnce(&'c mut SqliteConnection, &'c mut RawSqlite) -> BoxFuture<'c, (bool, Finish)>
        + Send,
>;

enum Msg {
    Job(Job),
    Shutdown(oneshot::Sender<()>),
}

pub(crate) struct Writer {
    tx: mpsc::UnboundedSender<Msg>,
    handle: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Writer {
    pub(crate) fn spawn(conn: SqliteConnection, max_batch: usize, wait: Duration) -> Writer {
        let (tx, rx) = mpsc::unbounded_channel();
        let handle = tokio::spawn(run(conn, rx, max_batch.max(1), wait));
        Writer {
            tx,
            handle: Mutex::new(Some(handle)),
        }
    }

    pub(crate) async fn submit<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'a, 'b> FnOnce(&'a mut Conn<'b>) -> BoxFuture<'a, StoreResult<T>> + Send + 'static,
    {
        let (done_tx, done_rx) = oneshot::channel::<StoreResult<T>>();
        let job: Job = Box::new(move |c: &mut SqliteConnection, raw: &mut RawSqlite| {
            Box::pin(async move {
                let result = {
                    let mut conn = Conn::sqlite_writer(c, raw);
                    match f(&mut conn).await {
                        Ok(v) => conn.flush().await.map(|_| v),
                        Err(e) => Err(e),
                    }
                };
                let ok = result.is_ok();
                let finish: Finish = Box::new(move |commit: Result<(), String>| {
                    let out = match (commit, result) {
                        (_, Err(e)) => Err(e),
                        (Ok(()), Ok(v)) => Ok(v),
                        (Err(msg), Ok(_)) => {
                            Err(StoreError::Database(format!("commit failed: {msg}")))
                        }
                    };
                    let _ = done_tx.send(out);
                });
                (ok, finish)
            })
        });
        self.tx
            .send(Msg::Job(job))
            .map_err(|_| StoreError::Unavailable("the SQLite writer has stopped".into()))?;
        done_rx.await.map_err(|_| {
            StoreError::Unavailable("the SQLite writer stopped before committing".into())
        })?
    }

    pub(crate) async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Msg::Shutdown(tx)).is_ok() {
            let _ = rx.await;
        }
        if let Some(h) = self.handle.lock().await.take() {
            let _ = h.await;
        }
    }
}

/// While a batch is being gathered, writes keep joining it as long as they arrive closer together than this.
const JOIN_GAP: Duration = Duration::from_micros(60);

async fn run(
    mut conn: SqliteConnection,
    mut rx: mpsc::UnboundedReceiver<Msg>,
    max_batch: usize,
    wait: Duration,
) {
    // One raw handle and statement cache for the writer's life: preparing a statement costs more than running
    // it, and with a new cache per group-commit batch the hot statements were prepared again for every batch
    // (~10 % of the server's CPU under alert load). `raw` points at `conn`, which lives in this (pinned) future
    // and outlives it: `raw` is declared later, so it is dropped first, finalising its statements.
    let mut raw = Some(RawSqlite::new(&mut conn));
    let mut stop: Option<oneshot::Sender<()>> = None;
    let mut last_batch = 0;
    while stop.is_none() {
        let Some(first) = rx.recv().await else { break };
        let mut batch = Vec::new();
        match first {
            Msg::Job(j) => batch.push(j),
            Msg::Shutdown(s) => stop = Some(s),
        }
        take_queued(&mut rx, &mut batch, &mut stop, max_batch);
        // Callers of a busy writer come back in waves: those just answered send their next write tens of µs
        // later. Beginning at once split them into several small batches, each paying BEGIN, COMMIT's WAL write
        // and fsync and the hand-off to the commit thread (~5 writes per commit at 16 concurrent callers on one
        // core). So after a batch that had company, the writer lets the callers' tasks run and gathers writes
        // until none has come for JOIN_GAP or `wait` has passed: +7–12 % alert intake at 16 connections
        // (bench/RESULTS.md, session 13). After a lone write it never waits, so a single caller's latency is
        // unchanged.
        if last_batch > 1 && !wait.is_zero() && stop.is_none() {
            let start = Instant::now();
            let mut last_arrival = start;
            while stop.is_none() && batch.len() < max_batch {
                // Deferred until the runtime has polled its I/O driver and run the other ready tasks.
                tokio::task::yield_now().await;
                let before = batch.len();
                take_queued(&mut rx, &mut batch, &mut stop, max_batch);
                let now = Instant::now();
                if batch.len() > before {
                    last_arrival = now;
                }
                if now - start >= wait || now - last_arrival >= JOIN_GAP {
                    break;
                }
            }
        }
        if batch.is_empty() {
            continue;
        }
        last_batch = batch.len();
        let Some(r) = raw.take() else { break };
        raw = run_batch(&mut conn, r, batch).await;
        if raw.is_none() {
            // Only if the commit thread panicked: the handle went with it, so no later write can run. Queued
            // callers get "the SQLite writer has stopped" instead of waiting forever.
            tracing::error!("the SQLite writer lost its connection handle and stops");
            break;
        }
    }
    if let Some(mut r) = raw {
        r.close().await;
        drop(r);
    }
    let _ = conn.close().await;
    if let Some(s) = stop {
        let _ = s.send(());
    }
}

/// Moves the writes already queued into `batch` (up to `max`), noting a shutdown request.
fn take_queued(
    rx: &mut mpsc::UnboundedReceiver<Msg>,
    batch: &mut Vec<Job>,
    stop: &mut Option<oneshot::Sender<()>>,
    max: usize,
) {
    while batch.len() < max && stop.is_none() {
        match rx.try_recv() {
            Ok(Msg::Job(j)) => batch.push(j),
            Ok(Msg::Shutdown(s)) => *stop = Some(s),
            Err(_) => break,
        }
    }
}

/// Runs one batch in one transaction; gives the raw handle back (`None` only if the commit thread panicked).
async fn run_batch(
    conn: &mut SqliteConnection,
    mut raw: RawSqlite,
    batch: Vec<Job>,
) -> Option<RawSqlite> {
    tracing::trace!(batch = batch.len(), "sqlite group commit");
    // Every statement of the batch runs in place on the raw handle where the store has a raw path (see `raw`),
    // and BEGIN, the savepoints between jobs and COMMIT as cached prepared statements. The handle stays locked
    // from one batch to the next; it is released only while a job runs a statement through sqlx.
    if let Err(e) = bookkeeping(&mut raw, "BEGIN IMMEDIATE").await {
        // Dropping the unrun jobs drops their reply channels: each caller gets an error, nothing ran.
        tracing::error!(error = %e, jobs = batch.len(), "SQLite writer could not begin a transaction");
        let _ = bookkeeping(&mut raw, "ROLLBACK").await;
        return Some(raw);
    }
    raw.begun();
    // `raw` keeps a pointer to `conn` for sqlx's `lock_handle`; it never uses it while a sqlx statement on
    // `conn` runs (see `raw`).
    let n = batch.len();
    let mut finishers = Vec::with_capacity(n);
    let mut failed: Option<String> = None;
    for job in batch {
        if failed.is_none() {
            if let Err(e) = bookkeeping(&mut raw, "SAVEPOINT w").await {
                failed = Some(e);
            }
        }
        if let Some(msg) = &failed {
            // The transaction is unusable: this job does not run; dropping it drops its reply channel, so its
            // caller gets an error.
            tracing::error!(error = %msg, "SQLite writer could not open a savepoint");
            drop(job);
            continue;
        }
        let (ok, finish) = job(&mut *conn, &mut raw).await;
        if !ok {
            if let Err(e) = bookkeeping(&mut raw, "ROLLBACK TO w").await {
                tracing::error!(error = %e, "rollback to savepoint failed");
            }
        }
        if let Err(e) = bookkeeping(&mut raw, "RELEASE w").await {
            tracing::error!(error = %e, "savepoint failed");
        }
        finishers.push(finish);
    }
    let (raw, commit) = commit(raw).await;
    for f in finishers {
        f(commit.clone());
    }
    raw
}

/// COMMITs on a blocking thread: the commit writes the WAL and waits for its fsync, and the runtime's workers
/// must go on serving requests meanwhile (they queue the next batch). The handle moves to that thread and back,
/// so nothing else can touch it while the commit runs. Through sqlx this was two hand-offs per batch (the
/// handle back to sqlx's worker for COMMIT, then to the writer again for the next BEGIN); now it is one.
async fn commit(mut raw: RawSqlite) -> (Option<RawSqlite>, Result<(), String>) {
    if let Err(e) = raw.lock().await {
        return (Some(raw), Err(e.to_string()));
    }
    let done = tokio::task::spawn_blocking(move || {
        let r = raw.commit().map_err(|e| e.to_string());
        if r.is_err() {
            // Whatever the failed COMMIT left open is rolled back; "no transaction is active" is fine too.
            let _ = raw.exec("ROLLBACK", &[]);
        }
        (raw, r)
    })
    .await;
    match done {
        Ok((raw, r)) => (Some(raw), r),
        Err(e) => (None, Err(format!("commit thread failed: {e}"))),
    }
}

async fn bookkeeping(raw: &mut RawSqlite, sql: &'static str) -> Result<(), String> {
    raw.lock().await.map_err(|e| e.to_string())?;
    raw.exec(sql, &[]).map(|_| ()).map_err(|e| e.to_string())
}
