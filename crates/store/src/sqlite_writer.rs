//! The single SQLite writer with group commit.
//!
//! SQLite allows one writer at a time; instead of many connections fighting over the lock with
//! busy-waits, one task owns the write connection. Callers queue closures; the task takes every
//! closure waiting (up to a cap), runs each inside its own SAVEPOINT of one transaction and commits
//! once, so one fsync covers the whole batch. A failing closure rolls back only its savepoint.
//! Results are released to callers only after COMMIT returns, so nothing is acknowledged early.

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
    pub(crate) fn spawn(conn: SqliteConnection, max_batch: usize) -> Writer {
        let (tx, rx) = mpsc::unbounded_channel();
        let handle = tokio::spawn(run(conn, rx, max_batch.max(1)));
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

async fn run(mut conn: SqliteConnection, mut rx: mpsc::UnboundedReceiver<Msg>, max_batch: usize) {
    // One raw handle and statement cache for the writer's life: preparing a statement costs more than running
    // it, and with a new cache per group-commit batch the hot statements were prepared again for every batch
    // (~10 % of the server's CPU under alert load). `raw` points at `conn`, which lives in this (pinned) future
    // and outlives it: `raw` is declared later, so it is dropped first, finalising its statements.
    let mut raw = RawSqlite::new(&mut conn);
    let mut stop: Option<oneshot::Sender<()>> = None;
    while stop.is_none() {
        let Some(first) = rx.recv().await else { break };
        let mut batch = Vec::new();
        match first {
            Msg::Job(j) => batch.push(j),
            Msg::Shutdown(s) => stop = Some(s),
        }
        while batch.len() < max_batch && stop.is_none() {
            match rx.try_recv() {
                Ok(Msg::Job(j)) => batch.push(j),
                Ok(Msg::Shutdown(s)) => stop = Some(s),
                Err(_) => break,
            }
        }
        if !batch.is_empty() {
            run_batch(&mut conn, &mut raw, batch).await;
        }
    }
    raw.close().await;
    drop(raw);
    let _ = conn.close().await;
    if let Some(s) = stop {
        let _ = s.send(());
    }
}

async fn run_batch(conn: &mut SqliteConnection, raw: &mut RawSqlite, batch: Vec<Job>) {
    tracing::trace!(batch = batch.len(), "sqlite group commit");
    // Statements of the batch run in place on the raw handle where the store has a raw path (see `raw`); BEGIN
    // and the savepoint bookkeeping between two jobs too (BEGIN does no I/O worth moving off this thread, and
    // through sqlx it was one more hand-off per batch). COMMIT goes through sqlx, so the commit's fsync happens
    // on sqlx's thread, not on a runtime worker.
    if let Err(e) = bookkeeping(raw, "BEGIN IMMEDIATE").await {
        // Dropping the unrun jobs drops their reply channels: each caller gets an error, nothing ran.
        tracing::error!(error = %e, jobs = batch.len(), "SQLite writer could not begin a transaction");
        raw.release();
        let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
        return;
    }
    // `raw` keeps a pointer to `conn` for sqlx's `lock_handle`; it never uses it while a sqlx statement on
    // `conn` runs (see `raw`), and it gives the handle back before COMMIT (its statements stay prepared).
    let n = batch.len();
    let mut finishers = Vec::with_capacity(n);
    let mut failed: Option<String> = None;
    for job in batch {
        if failed.is_none() {
            if let Err(e) = bookkeeping(raw, "SAVEPOINT w").await {
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
        let (ok, finish) = job(&mut *conn, raw).await;
        if !ok {
            if let Err(e) = bookkeeping(raw, "ROLLBACK TO w").await {
                tracing::error!(error = %e, "rollback to savepoint failed");
            }
        }
        if let Err(e) = bookkeeping(raw, "RELEASE w").await {
            tracing::error!(error = %e, "savepoint failed");
        }
        finishers.push(finish);
    }
    raw.release();
    let commit = sqlx::query("COMMIT")
        .execute(&mut *conn)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string());
    if commit.is_err() {
        let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
    }
    for f in finishers {
        f(commit.clone());
    }
}

async fn bookkeeping(raw: &mut RawSqlite, sql: &str) -> Result<(), String> {
    raw.lock().await.map_err(|e| e.to_string())?;
    raw.batch(sql).map_err(|e| e.to_string())
}
