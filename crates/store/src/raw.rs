//! Synchronous statements on the SQLite writer connection, without sqlx's per-statement thread hop.
//!
//! sqlx-sqlite runs every statement on a worker thread of its own: each statement is a message to that
//! thread and a wake-up back. The SQLite writer is one connection doing every write in turn, so on the
//! hot write paths (a ticket create is ~20 statements) those hand-offs, not SQLite, bounded throughput.
//!
//! [`RawSqlite`] borrows the connection's `sqlite3*` through sqlx's own
//! [`SqliteConnection::lock_handle`] (one hop), then runs statements in place with prepared statements
//! cached for the writer's life. While the lock is held sqlx's worker makes no call on the
//! handle; before any sqlx statement on the same connection the lock is released ([`RawSqlite::release`],
//! done by [`crate::Conn::db_mut`] and so by `on_conn!`). Transactions stay the writer's: raw statements
//! run inside its `BEGIN … COMMIT` and savepoints, so nothing is acknowledged before COMMIT as before.
//!
//! Prepared statements stay cached across batches for the writer's life (each is reset after use, so none
//! holds a read open between batches). They are finalised under the lock when the writer stops
//! ([`RawSqlite::close`]) or, if it is abandoned, when this is dropped — sqlx closes the handle with
//! `sqlite3_close`, which would fail on a statement left open.
#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, CStr};
use std::ptr::NonNull;

use libsqlite3_sys as ffi;
use rustc_hash::FxHashMap;
use sqlx::sqlite::LockedSqliteHandle;
use sqlx::SqliteConnection;

use crate::{StoreError, StoreResult};

/// A bound parameter.
#[derive(Debug, Clone, Copy)]
pub enum Val<'a> {
    Null,
    Int(i64),
    Text(&'a str),
}

impl From<i64> for Val<'_> {
    fn from(v: i64) -> Self {
        Val::Int(v)
    }
}
impl From<Option<i64>> for Val<'_> {
    fn from(v: Option<i64>) -> Self {
        v.map_or(Val::Null, Val::Int)
    }
}
impl From<bool> for Val<'_> {
    fn from(v: bool) -> Self {
        Val::Int(i64::from(v))
    }
}
impl<'a> From<&'a str> for Val<'a> {
    fn from(v: &'a str) -> Self {
        Val::Text(v)
    }
}
impl<'a> From<&'a String> for Val<'a> {
    fn from(v: &'a String) -> Self {
        Val::Text(v)
    }
}
impl<'a> From<&'a Option<String>> for Val<'a> {
    fn from(v: &'a Option<String>) -> Self {
        v.as_deref().map_or(Val::Null, Val::Text)
    }
}

/// The current row of a query.
pub struct Row<'s> {
    stmt: *mut ffi::sqlite3_stmt,
    _step: std::marker::PhantomData<&'s ()>,
}

impl Row<'_> {
    /// An integer column (NULL reads as 0).
    pub fn int(&self, i: usize) -> i64 {
        // SAFETY: the statement has a row (SQLITE_ROW) and is only used under the connection lock.
        unsafe { ffi::sqlite3_column_int64(self.stmt, i as c_int) }
    }

    /// A nullable integer column.
    pub fn opt_int(&self, i: usize) -> Option<i64> {
        // SAFETY: as above.
        let t = unsafe { ffi::sqlite3_column_type(self.stmt, i as c_int) };
        (t != ffi::SQLITE_NULL).then(|| self.int(i))
    }

    /// A text column (NULL reads as "").
    pub fn text(&self, i: usize) -> String {
        self.opt_text(i).unwrap_or_default()
    }

    /// A text column's bytes, without a copy (NULL reads as empty).
    pub fn text_bytes(&self, i: usize) -> &[u8] {
        // SAFETY: as above; the bytes stay valid while this row is the statement's current one, which `&self`
        // guarantees (a Row does not outlive its step).
        unsafe {
            let p = ffi::sqlite3_column_text(self.stmt, i as c_int);
            let n = ffi::sqlite3_column_bytes(self.stmt, i as c_int);
            if p.is_null() {
                return &[];
            }
            std::slice::from_raw_parts(p, usize::try_from(n).unwrap_or(0))
        }
    }

    /// A nullable text column.
    pub fn opt_text(&self, i: usize) -> Option<String> {
        let s = self.stmt;
        // SAFETY: as above; the pointer is valid until the next step/reset, and copied at once.
        unsafe {
            if ffi::sqlite3_column_type(s, i as c_int) == ffi::SQLITE_NULL {
                return None;
            }
            let p = ffi::sqlite3_column_text(s, i as c_int);
            let n = ffi::sqlite3_column_bytes(s, i as c_int);
            if p.is_null() {
                return Some(String::new());
            }
            let bytes = std::slice::from_raw_parts(p, usize::try_from(n).unwrap_or(0));
            Some(String::from_utf8_lossy(bytes).into_owned())
        }
    }
}

struct Stmt(NonNull<ffi::sqlite3_stmt>);

/// Prepared statements kept at most; past it the cache starts afresh.
const MAX_CACHED: usize = 512;

/// A cached statement and, for each `$N` parameter (N = 1, 2, …), its SQLite index (0 = not used).
struct Cached {
    stmt: Stmt,
    index: Vec<c_int>,
}

/// The writer connection's raw handle, locked on demand, with a statement cache.
pub struct RawSqlite {
    conn: NonNull<SqliteConnection>,
    guard: Option<LockedSqliteHandle<'static>>,
    db: Option<NonNull<ffi::sqlite3>>,
    stmts: FxHashMap<String, Cached>,
    /// The write transaction running now (counted from 1 by [`Self::begun`]).
    txn: u64,
    /// The alerts' dedup-key directory (see `alert_keys`).
    alert_keys: Option<crate::alert_keys::AlertKeys>,
}

// SAFETY: the pointers are only dereferenced by the task that owns the writer connection, one call at a
// time (the struct is used through `&mut`), and the sqlite3 handle is only touched under sqlx's lock.
unsafe impl Send for RawSqlite {}

impl RawSqlite {
    /// For the writer's connection; it must outlive this value and not move while it lives.
    pub(crate) fn new(conn: &mut SqliteConnection) -> Self {
        RawSqlite {
            conn: NonNull::from(conn),
            guard: None,
            db: None,
            stmts: FxHashMap::default(),
            txn: 0,
            alert_keys: Some(crate::alert_keys::AlertKeys::default()),
        }
    }

    /// The writer has begun a new transaction.
    pub(crate) fn begun(&mut self) {
        self.txn += 1;
    }

    /// Runs `f` with the alerts' dedup-key directory, brought up to date for this transaction first.
    pub(crate) fn with_alert_keys<T>(
        &mut self,
        f: impl FnOnce(&mut Self, &mut crate::alert_keys::AlertKeys) -> StoreResult<T>,
    ) -> StoreResult<T> {
        // Taken out while `f` runs statements on this handle; put back whatever happens.
        let mut keys = self.alert_keys.take().unwrap_or_default();
        let txn = self.txn;
        let out = keys.catch_up(self, txn).and_then(|()| f(self, &mut keys));
        self.alert_keys = Some(keys);
        out
    }

    /// Takes the handle from sqlx's worker thread if not held already (one hop).
    pub(crate) async fn lock(&mut self) -> StoreResult<()> {
        if self.guard.is_none() {
            // SAFETY: `conn` outlives self (see `new`); the guard only borrows sqlx's shared connection
            // state behind an Arc, and it is dropped (`release`) before anyone uses the connection again.
            let c: &'static mut SqliteConnection = unsafe { &mut *self.conn.as_ptr() };
            let mut g = c.lock_handle().await?;
            self.db = Some(g.as_raw_handle());
            self.guard = Some(g);
        }
        Ok(())
    }

    /// Gives the handle back to sqlx (its statements may run again); cached statements stay prepared.
    pub(crate) fn release(&mut self) {
        self.guard = None;
    }

    fn db(&self) -> StoreResult<*mut ffi::sqlite3> {
        match (&self.guard, self.db) {
            (Some(_), Some(db)) => Ok(db.as_ptr()),
            _ => Err(StoreError::Database(
                "internal: raw SQLite statement without the connection lock".into(),
            )),
        }
    }

    fn error(db: *mut ffi::sqlite3, rc: c_int) -> StoreError {
        // SAFETY: db is the locked handle; the message is copied at once.
        let msg = unsafe {
            let p = ffi::sqlite3_errmsg(db);
            if p.is_null() {
                format!("sqlite error {rc}")
            } else {
                CStr::from_ptr(p).to_string_lossy().into_owned()
            }
        };
        let primary = rc & 0xff;
        if primary == ffi::SQLITE_CONSTRAINT {
            if rc == ffi::SQLITE_CONSTRAINT_UNIQUE || rc == ffi::SQLITE_CONSTRAINT_PRIMARYKEY {
                let field = msg
                    .split("failed: ")
                    .nth(1)
                    .and_then(|r| r.split(',').next())
                    .map(|f| f.trim().rsplit('.').next().unwrap_or(f).to_string())
                    .unwrap_or_else(|| "unknown".into());
                return StoreError::Conflict {
                    field,
                    message: "already exists".into(),
                };
            }
            if rc == ffi::SQLITE_CONSTRAINT_FOREIGNKEY {
                return StoreError::Conflict {
                    field: "reference".into(),
                    message: "refers to a record that does not exist or is still referenced".into(),
                };
            }
        }
        StoreError::Database(msg)
    }

    /// The prepared statement for `sql`, bound to `params` and reset.
    fn prepare(&mut self, sql: &str, params: &[Val<'_>]) -> StoreResult<*mut ffi::sqlite3_stmt> {
        let db = self.db()?;
        if !self.stmts.contains_key(sql) {
            if self.stmts.len() >= MAX_CACHED {
                // The cache lives as long as the writer; a caller that formats values into its SQL must not make
                // it grow without bound. Every cached statement is reset, and the handle is locked (`db`).
                self.finalize_all();
            }
            {
                let mut s: *mut ffi::sqlite3_stmt = std::ptr::null_mut();
                let len = c_int::try_from(sql.len())
                    .map_err(|_| StoreError::Database("statement too long".into()))?;
                // SAFETY: db is locked; sql is valid for len bytes; one statement per call.
                let rc = unsafe {
                    ffi::sqlite3_prepare_v3(
                        db,
                        sql.as_ptr().cast::<c_char>(),
                        len,
                        ffi::SQLITE_PREPARE_PERSISTENT,
                        &mut s,
                        std::ptr::null_mut(),
                    )
                };
                if rc != ffi::SQLITE_OK {
                    return Err(Self::error(db, rc));
                }
                let nn = NonNull::new(s)
                    .ok_or_else(|| StoreError::Database("empty statement".into()))?;
                // `$N` are named parameters to SQLite, numbered by first appearance: map each N to its index.
                // SAFETY: s is a valid statement of the locked handle.
                let count = unsafe { ffi::sqlite3_bind_parameter_count(s) };
                let mut index = Vec::new();
                for i in 1..=count {
                    // SAFETY: as above; the name is copied at once.
                    let name = unsafe { ffi::sqlite3_bind_parameter_name(s, i) };
                    if name.is_null() {
                        continue;
                    }
                    let name = unsafe { CStr::from_ptr(name) }.to_string_lossy();
                    if let Some(n) = name
                        .strip_prefix('$')
                        .or_else(|| name.strip_prefix('?'))
                        .and_then(|n| n.parse::<usize>().ok())
                    {
                        if n >= 1 {
                            if index.len() < n {
                                index.resize(n, 0);
                            }
                            index[n - 1] = i;
                        }
                    }
                }
                self.stmts.insert(
                    sql.to_string(),
                    Cached {
                        stmt: Stmt(nn),
                        index,
                    },
                );
            }
        }
        let Some(cached) = self.stmts.get(sql) else {
            return Err(StoreError::Database("internal: statement cache".into()));
        };
        let stmt = cached.stmt.0.as_ptr();
        if params.len() != cached.index.len() {
            return Err(StoreError::Database(format!(
                "internal: {} parameters for {} in: {sql}",
                params.len(),
                cached.index.len()
            )));
        }
        // SAFETY: stmt belongs to db, which is locked. Text is bound without a copy (SQLITE_STATIC): SQLite reads
        // it only while the statement steps, which [`Self::exec`] and [`Self::query`] — the only callers — do
        // within the same call, with `params` borrowed; both clear the bindings before returning.
        unsafe {
            ffi::sqlite3_reset(stmt);
            ffi::sqlite3_clear_bindings(stmt);
            for (p, &idx) in params.iter().zip(&cached.index) {
                if idx == 0 {
                    continue;
                }
                let rc = match p {
                    Val::Null => ffi::sqlite3_bind_null(stmt, idx),
                    Val::Int(v) => ffi::sqlite3_bind_int64(stmt, idx, *v),
                    Val::Text(t) => ffi::sqlite3_bind_text64(
                        stmt,
                        idx,
                        t.as_ptr().cast::<c_char>(),
                        t.len() as u64,
                        ffi::SQLITE_STATIC(),
                        ffi::SQLITE_UTF8 as u8,
                    ),
                };
                if rc != ffi::SQLITE_OK {
                    let e = Self::error(db, rc);
                    ffi::sqlite3_clear_bindings(stmt);
                    return Err(e);
                }
            }
        }
        Ok(stmt)
    }

    /// COMMITs the open transaction, its WAL frames handed to the kernel in one write (see `walbuf`).
    pub(crate) fn commit(&mut self) -> StoreResult<()> {
        let db = self.db()?;
        // SAFETY: the locked handle, used by nothing else while this runs (`&mut self`).
        unsafe { crate::walbuf::commit_buffered(db, || self.exec("COMMIT", &[]).map(|_| ())) }
    }

    /// Runs a statement that returns no rows; returns the number of rows it changed.
    pub fn exec(&mut self, sql: &str, params: &[Val<'_>]) -> StoreResult<u64> {
        let db = self.db()?;
        let stmt = self.prepare(sql, params)?;
        // SAFETY: locked handle, prepared statement of it.
        unsafe {
            let rc = loop {
                let rc = ffi::sqlite3_step(stmt);
                if rc != ffi::SQLITE_ROW {
                    break rc;
                }
            };
            let out = if rc == ffi::SQLITE_DONE {
                Ok(u64::try_from(ffi::sqlite3_changes64(db)).unwrap_or(0))
            } else {
                Err(Self::error(db, ffi::sqlite3_extended_errcode(db)))
            };
            ffi::sqlite3_reset(stmt);
            ffi::sqlite3_clear_bindings(stmt);
            out
        }
    }

    /// Runs an INSERT and returns the new row's id.
    pub fn insert(&mut self, sql: &str, params: &[Val<'_>]) -> StoreResult<i64> {
        self.exec(sql, params)?;
        // SAFETY: locked handle.
        Ok(unsafe { ffi::sqlite3_last_insert_rowid(self.db()?) })
    }

    /// The row id of the last row inserted on this connection.
    pub fn last_insert_rowid(&self) -> StoreResult<i64> {
        // SAFETY: locked handle.
        Ok(unsafe { ffi::sqlite3_last_insert_rowid(self.db()?) })
    }

    /// Every row of a query, each mapped by `f`.
    pub fn query<T>(
        &mut self,
        sql: &str,
        params: &[Val<'_>],
        mut f: impl FnMut(&Row<'_>) -> T,
    ) -> StoreResult<Vec<T>> {
        let db = self.db()?;
        let stmt = self.prepare(sql, params)?;
        let mut out = Vec::new();
        // SAFETY: locked handle, prepared statement of it; the Row does not outlive the step.
        unsafe {
            let rc = loop {
                let rc = ffi::sqlite3_step(stmt);
                if rc != ffi::SQLITE_ROW {
                    break rc;
                }
                out.push(f(&Row {
                    stmt,
                    _step: std::marker::PhantomData,
                }));
            };
            let res = if rc == ffi::SQLITE_DONE {
                Ok(out)
            } else {
                Err(Self::error(db, ffi::sqlite3_extended_errcode(db)))
            };
            ffi::sqlite3_reset(stmt);
            ffi::sqlite3_clear_bindings(stmt);
            res
        }
    }

    /// The first row of a query, if any.
    pub fn query_opt<T>(
        &mut self,
        sql: &str,
        params: &[Val<'_>],
        f: impl FnMut(&Row<'_>) -> T,
    ) -> StoreResult<Option<T>> {
        Ok(self.query(sql, params, f)?.into_iter().next())
    }

    fn finalize_all(&mut self) {
        for (_, c) in self.stmts.drain() {
            // SAFETY: called only with the handle locked; each statement is finalised once.
            unsafe {
                ffi::sqlite3_finalize(c.stmt.0.as_ptr());
            }
        }
    }

    /// Finalises the cached statements (under the lock) and gives the handle back.
    pub(crate) async fn close(&mut self) {
        if !self.stmts.is_empty() && self.lock().await.is_ok() {
            self.finalize_all();
        }
        self.release();
    }
}

impl Drop for RawSqlite {
    fn drop(&mut self) {
        if self.stmts.is_empty() {
            self.guard = None;
            return;
        }
        if self.guard.is_none() {
            // An abandoned batch: wait for sqlx's worker to hand the handle over (it finishes any statement in
            // flight first), so the statements are never finalised while it uses the connection.
            // SAFETY: as in `lock`.
            let c: &'static mut SqliteConnection = unsafe { &mut *self.conn.as_ptr() };
            match futures::executor::block_on(c.lock_handle()) {
                Ok(g) => self.guard = Some(g),
                Err(_) => {
                    // The worker is gone and with it the handle's owner; nothing can be finalised safely.
                    self.stmts.clear();
                    return;
                }
            }
        }
        self.finalize_all();
        self.guard = None;
    }
}
