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

use crate::{Conn, StoreError, StoreResult};

type Finish = Box<dyn FnOnce(Result<(), String>) + Send>;
type Job =
    Box<dyn for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, (bool, Finish)> + Send>;

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
        let job: Job = Box::new(move |c: &mut SqliteConnection| {
            Box::pin(async move {
                let result = {
                    let mut conn = Conn::sqlite(c);
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
            run_batch(&mut conn, batch).await;
        }
    }
    let _ = conn.close().await;
    if let Some(s) = stop {
        let _ = s.send(());
    }
}

async fn run_batch(conn: &mut SqliteConnection, batch: Vec<Job>) {
    tracing::trace!(batch = batch.len(), "sqlite group commit");
    // Each statement is a round trip to sqlx's SQLite thread, so the bookkeeping statements between two jobs
    // travel together: BEGIN with the first SAVEPOINT, each RELEASE with the next SAVEPOINT.
    if let Err(e) = sqlx::query("BEGIN IMMEDIATE; SAVEPOINT w")
        .execute(&mut *conn)
        .await
    {
        // Dropping the unrun jobs drops their reply channels: each caller gets an error, nothing ran.
        tracing::error!(error = %e, jobs = batch.len(), "SQLite writer could not begin a transaction");
        let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
        return;
    }
    let n = batch.len();
    let mut finishers = Vec::with_capacity(n);
    for (i, job) in batch.into_iter().enumerate() {
        let (ok, finish) = job(conn).await;
        if !ok {
            let _ = sqlx::query("ROLLBACK TO w").execute(&mut *conn).await;
        }
        let next = if i + 1 < n {
            "RELEASE w; SAVEPOINT w"
        } else {
            "RELEASE w"
        };
        if let Err(e) = sqlx::query(next).execute(&mut *conn).await {
            tracing::error!(error = %e, "savepoint failed");
        }
        finishers.push(finish);
    }
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
