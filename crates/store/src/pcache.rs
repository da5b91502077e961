//! SQLite's page cache, wrapped so that a COMMIT no longer scans the whole cache.
//!
//! Every transaction ends with `xTruncate(dbSize + 1)`: drop cached pages past the end of the database. The
//! default cache (pcache1) skips that when no key it has seen since the last truncate is that large
//! (`iMaxKey`), and otherwise scans its hash table — the whole table when `iMaxKey` is far beyond the limit.
//! A B-tree page split that reorders its new pages (`balance_nonroot`) swaps two page numbers through a
//! temporary one, the page of the lock byte at 1 GiB (262,145 with 4 KiB pages), which SQLite never stores
//! content in. That leaves `iMaxKey` there, so the next COMMIT scans every slot of the writer's cache, and
//! under alert intake (inserts on random leaves of the dedup-key index) nearly every group commit had a
//! split: 3.4 % of the server's CPU at 16 connections.
//!
//! The wrapper forwards every call to pcache1 and keeps its own bound on the keys actually in each cache —
//! every key a page was created or re-keyed to, except that temporary one, which balance_nonroot re-keys
//! away again before it returns. A truncate whose limit is above that bound has nothing to drop and is not
//! forwarded; any other (a rollback that shrinks the database, closing a cache) goes to pcache1 as before.
//!
//! SQLite takes a page-cache implementation only before it initialises, and only once per process:
//! [`install`] runs from [`crate::sqlite_config::before_init`], ahead of the first SQLite call the store makes. If
//! something else initialised SQLite earlier, the default cache stays (and a debug line says so).
#![allow(unsafe_code)]

use std::ffi::{c_int, c_uint, c_void};
use std::ptr;
use std::sync::OnceLock;

use libsqlite3_sys as ffi;

/// SQLite's `PENDING_BYTE`: the byte range its file locks use, whose page never holds content.
const PENDING_BYTE: u32 = 0x4000_0000;

type Pcache = *mut ffi::sqlite3_pcache;
type Page = *mut ffi::sqlite3_pcache_page;

/// pcache1's methods, as SQLite had them before [`install`] (every one present: checked there).
struct Default {
    arg: *mut c_void,
    init: Option<unsafe extern "C" fn(*mut c_void) -> c_int>,
    shutdown: Option<unsafe extern "C" fn(*mut c_void)>,
    create: unsafe extern "C" fn(c_int, c_int, c_int) -> Pcache,
    cachesize: unsafe extern "C" fn(Pcache, c_int),
    pagecount: unsafe extern "C" fn(Pcache) -> c_int,
    fetch: unsafe extern "C" fn(Pcache, c_uint, c_int) -> Page,
    unpin: unsafe extern "C" fn(Pcache, Page, c_int),
    rekey: unsafe extern "C" fn(Pcache, Page, c_uint, c_uint),
    truncate: unsafe extern "C" fn(Pcache, c_uint),
    destroy: unsafe extern "C" fn(Pcache),
    shrink: unsafe extern "C" fn(Pcache),
}
// SAFETY: SQLite's own static functions and their argument pointer, only read once set.
unsafe impl Send for Default {}
unsafe impl Sync for Default {}

/// Set before the wrapper is handed to SQLite, so it is there whenever SQLite calls the wrapper.
static DEFAULT: OnceLock<Default> = OnceLock::new();
static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();

#[cfg(test)]
thread_local! {
    /// (truncates skipped, truncates forwarded, re-keys to the lock-byte page) on this thread: SQLite calls the
    /// cache on the thread that runs the statement.
    static COUNTS: std::cell::Cell<(u64, u64, u64)> = const { std::cell::Cell::new((0, 0, 0)) };
}

/// Counts for the tests (nothing outside them).
#[inline]
fn count(f: impl FnOnce(&mut (u64, u64, u64))) {
    #[cfg(test)]
    COUNTS.with(|c| {
        let mut v = c.get();
        f(&mut v);
        c.set(v);
    });
    #[cfg(not(test))]
    let _ = f;
}

/// One cache: pcache1's, and a bound on the keys in it.
struct Cache {
    inner: Pcache,
    /// No page in `inner` has a larger key (except, for an instant, `pending`).
    max_key: c_uint,
    /// The temporary key of balance_nonroot's swaps for this cache's page size.
    pending: c_uint,
}

/// Installs the wrapper once per process; an error says why it could not be (SQLite already initialised).
pub(crate) fn install() -> Result<(), String> {
    INSTALLED
        .get_or_init(|| {
            let mut d = ffi::sqlite3_pcache_methods2 {
                iVersion: 0,
                pArg: ptr::null_mut(),
                xInit: None,
                xShutdown: None,
                xCreate: None,
                xCachesize: None,
                xPagecount: None,
                xFetch: None,
                xUnpin: None,
                xRekey: None,
                xTruncate: None,
                xDestroy: None,
                xShrink: None,
            };
            // SAFETY: sqlite3_config is called with the argument type each option documents; it refuses
            // (SQLITE_MISUSE) once SQLite is initialised, and copies the methods table it is given.
            unsafe {
                let rc = ffi::sqlite3_config(ffi::SQLITE_CONFIG_GETPCACHE2, &raw mut d);
                if rc != ffi::SQLITE_OK {
                    return Err(format!("SQLite is already initialised ({rc})"));
                }
                let (
                    Some(create),
                    Some(cachesize),
                    Some(pagecount),
                    Some(fetch),
                    Some(unpin),
                    Some(rekey),
                    Some(truncate),
                    Some(destroy),
                    Some(shrink),
                ) = (
                    d.xCreate,
                    d.xCachesize,
                    d.xPagecount,
                    d.xFetch,
                    d.xUnpin,
                    d.xRekey,
                    d.xTruncate,
                    d.xDestroy,
                    d.xShrink,
                )
                else {
                    return Err("SQLite's default page cache lacks a method".into());
                };
                if DEFAULT
                    .set(Default {
                        arg: d.pArg,
                        init: d.xInit,
                        shutdown: d.xShutdown,
                        create,
                        cachesize,
                        pagecount,
                        fetch,
                        unpin,
                        rekey,
                        truncate,
                        destroy,
                        shrink,
                    })
                    .is_err()
                {
                    return Err("page-cache defaults already set".into());
                }
                let wrapped = ffi::sqlite3_pcache_methods2 {
                    iVersion: d.iVersion,
                    pArg: ptr::null_mut(),
                    xInit: Some(w_init),
                    xShutdown: Some(w_shutdown),
                    xCreate: Some(w_create),
                    xCachesize: Some(w_cachesize),
                    xPagecount: Some(w_pagecount),
                    xFetch: Some(w_fetch),
                    xUnpin: Some(w_unpin),
                    xRekey: Some(w_rekey),
                    xTruncate: Some(w_truncate),
                    xDestroy: Some(w_destroy),
                    xShrink: Some(w_shrink),
                };
                let rc = ffi::sqlite3_config(ffi::SQLITE_CONFIG_PCACHE2, &raw const wrapped);
                if rc != ffi::SQLITE_OK {
                    return Err(format!("sqlite3_config(PCACHE2) failed ({rc})"));
                }
                Ok(())
            }
        })
        .clone()
}

/// Whether the wrapper is SQLite's page cache in this process.
#[cfg(test)]
fn installed() -> bool {
    matches!(INSTALLED.get(), Some(Ok(())))
}

/// (truncates skipped, truncates forwarded, re-keys to the lock-byte page) so far on the calling thread.
#[cfg(test)]
fn counts() -> (u64, u64, u64) {
    COUNTS.with(std::cell::Cell::get)
}

fn default() -> &'static Default {
    match DEFAULT.get() {
        Some(d) => d,
        // SQLite calls the wrapper only after `install` handed it over, which it does after setting DEFAULT.
        None => std::process::abort(),
    }
}

unsafe extern "C" fn w_init(_: *mut c_void) -> c_int {
    let d = default();
    match d.init {
        Some(f) => f(d.arg),
        None => ffi::SQLITE_OK,
    }
}

unsafe extern "C" fn w_shutdown(_: *mut c_void) {
    let d = default();
    if let Some(f) = d.shutdown {
        f(d.arg);
    }
}

unsafe extern "C" fn w_create(sz_page: c_int, sz_extra: c_int, purgeable: c_int) -> Pcache {
    let inner = (default().create)(sz_page, sz_extra, purgeable);
    if inner.is_null() {
        return ptr::null_mut();
    }
    let pending = PENDING_BYTE / (sz_page.max(1) as u32) + 1;
    Box::into_raw(Box::new(Cache {
        inner,
        max_key: 0,
        pending,
    }))
    .cast()
}

/// # Safety
/// `p` must be a cache [`w_create`] returned and [`w_destroy`] has not freed.
unsafe fn cache<'a>(p: Pcache) -> &'a mut Cache {
    &mut *p.cast::<Cache>()
}

unsafe extern "C" fn w_cachesize(p: Pcache, n: c_int) {
    (default().cachesize)(cache(p).inner, n)
}

unsafe extern "C" fn w_pagecount(p: Pcache) -> c_int {
    (default().pagecount)(cache(p).inner)
}

unsafe extern "C" fn w_fetch(p: Pcache, key: c_uint, create: c_int) -> Page {
    let c = cache(p);
    let page = (default().fetch)(c.inner, key, create);
    // Only a fetch that may create can add a key; one that finds the page adds nothing new either way.
    if create != 0 && !page.is_null() && key > c.max_key {
        c.max_key = key;
    }
    page
}

unsafe extern "C" fn w_unpin(p: Pcache, page: Page, discard: c_int) {
    (default().unpin)(cache(p).inner, page, discard)
}

unsafe extern "C" fn w_rekey(p: Pcache, page: Page, old: c_uint, new: c_uint) {
    let c = cache(p);
    (default().rekey)(c.inner, page, old, new);
    // The lock-byte page is only ever balance_nonroot's stopover (see the module comment); a real page that
    // large would also have been created at a key at least that large, which counts.
    if new == c.pending {
        count(|n| n.2 += 1);
    } else if new > c.max_key {
        c.max_key = new;
    }
}

unsafe extern "C" fn w_truncate(p: Pcache, limit: c_uint) {
    let c = cache(p);
    if limit > c.max_key {
        count(|n| n.0 += 1);
        return;
    }
    count(|n| n.1 += 1);
    (default().truncate)(c.inner, limit);
    // pcache1 dropped every page at or past `limit`.
    c.max_key = limit.saturating_sub(1);
}

unsafe extern "C" fn w_destroy(p: Pcache) {
    let c = Box::from_raw(p.cast::<Cache>());
    (default().destroy)(c.inner);
}

unsafe extern "C" fn w_shrink(p: Pcache) {
    (default().shrink)(cache(p).inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::walbuf::tests::Db;

    /// Ten rows with random 32-character keys in one statement: inserts in the middle of the key index (and no
    /// temporary table, whose own cache is truncated when it closes).
    fn ten() -> String {
        let row = "(hex(randomblob(16)), randomblob(200))";
        format!("INSERT INTO t VALUES {}", [row; 10].join(", "))
    }

    #[test]
    fn commits_after_page_swaps_skip_the_cache_scan_and_a_rollback_still_drops_pages_past_the_end()
    {
        crate::walbuf::register().unwrap();
        assert!(installed(), "{:?}", INSTALLED.get());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        let db = Db::open(&path, None);
        db.exec("PRAGMA journal_mode = WAL; CREATE TABLE t (k TEXT PRIMARY KEY, v BLOB)")
            .unwrap();
        let (skipped, forwarded, swaps) = counts();
        for _ in 0..300 {
            db.exec(&format!("BEGIN; {}; COMMIT", ten())).unwrap();
        }
        let after = counts();
        // Splits reordered pages through the lock-byte page (what used to force a scan of the whole cache)...
        assert!(after.2 > swaps, "no page swaps: {after:?}");
        // ...yet no commit handed pcache1 a truncate: nothing was past the end.
        assert!(after.0 >= skipped + 300, "{after:?}");
        assert_eq!(after.1, forwarded, "{after:?}");
        assert_eq!(db.count(), 3000);

        // A transaction that grows the file and is rolled back leaves cached pages past the end: those must go.
        let before = counts();
        db.exec(&format!("BEGIN; {}; ROLLBACK", vec![ten(); 200].join("; ")))
            .unwrap();
        assert!(
            counts().1 > before.1,
            "the rollback's truncate was not forwarded"
        );
        for _ in 0..50 {
            db.exec(&format!("BEGIN; {}; COMMIT", ten())).unwrap();
        }
        assert_eq!(db.count(), 3500);
        assert_eq!(db.integrity(), "ok");
        drop(db);
        let again = Db::open(&path, None);
        assert_eq!(again.count(), 3500);
        assert_eq!(again.integrity(), "ok");
    }
}
