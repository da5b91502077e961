//! Process-wide SQLite settings, which SQLite accepts only before it initialises.
//!
//! [`before_init`] runs once, first thing in [`crate::walbuf::register`], whose own first call initialises
//! SQLite; every connection the store opens goes through that. If something else initialised SQLite earlier
//! in the process, these settings are refused and SQLite runs with its defaults: the same results, slower.
#![allow(unsafe_code)]

use libsqlite3_sys as ffi;

/// Applies the settings; failures are logged at debug level (see the module).
pub(crate) fn before_init() {
    // Memory statistics off: with them on, every allocation and free SQLite makes takes one process-wide
    // mutex to update counters nothing here reads (`sqlite3_memory_used`, the soft heap limit); the writer and
    // up to eight readers allocate on every statement.
    // SAFETY: SQLITE_CONFIG_MEMSTATUS takes one int; sqlite3_config refuses (SQLITE_MISUSE) after initialisation.
    let rc = unsafe { ffi::sqlite3_config(ffi::SQLITE_CONFIG_MEMSTATUS, 0 as std::ffi::c_int) };
    if rc != ffi::SQLITE_OK {
        tracing::debug!(rc, "SQLite memory statistics left on");
    }
    if let Err(e) = crate::pcache::install() {
        tracing::debug!(error = %e, "SQLite page-cache wrapper not installed");
    }
    // SQLite's own allocations (page-cache pages, statement and cursor memory, the savepoint journal's 64 KiB
    // chunk that each write job allocates and frees) go to mimalloc, as the binary's small Rust blocks do, instead
    // of glibc's malloc, whose free lists and consolidation were ~2.7 % of the server's CPU under alert intake
    // (bench/RESULTS.md, session 18).
    // SAFETY: SQLITE_CONFIG_MALLOC takes a pointer to a sqlite3_mem_methods, which SQLite copies.
    let rc = unsafe {
        ffi::sqlite3_config(
            ffi::SQLITE_CONFIG_MALLOC,
            &mi::METHODS.0 as *const ffi::sqlite3_mem_methods,
        )
    };
    if rc != ffi::SQLITE_OK {
        tracing::debug!(rc, "SQLite allocator left as glibc malloc");
    }
}

/// `sqlite3_mem_methods` over mimalloc. SQLite never asks for 0 or negative sizes (`sqlite3Malloc` answers those
/// itself), but a negative one is refused here rather than cast to a huge request.
mod mi {
    use libmimalloc_sys as mi;
    use libsqlite3_sys as ffi;
    use std::ffi::{c_int, c_void};

    /// The methods, in a wrapper that may be a `static` (see its `Sync`).
    pub(super) struct Methods(pub(super) ffi::sqlite3_mem_methods);

    // SAFETY: the only pointer in it (`pAppData`) is null and nothing writes to the struct.
    unsafe impl Sync for Methods {}

    pub(super) static METHODS: Methods = Methods(ffi::sqlite3_mem_methods {
        xMalloc: Some(malloc),
        xFree: Some(free),
        xRealloc: Some(realloc),
        xSize: Some(size),
        xRoundup: Some(roundup),
        xInit: Some(init),
        xShutdown: Some(shutdown),
        pAppData: std::ptr::null_mut(),
    });

    unsafe extern "C" fn malloc(n: c_int) -> *mut c_void {
        match usize::try_from(n) {
            // SAFETY: mimalloc's malloc has no preconditions.
            Ok(n) => unsafe { mi::mi_malloc(n) },
            Err(_) => std::ptr::null_mut(),
        }
    }

    unsafe extern "C" fn free(p: *mut c_void) {
        // SAFETY: SQLite frees only what `malloc`/`realloc` above returned (or null).
        unsafe { mi::mi_free(p) }
    }

    unsafe extern "C" fn realloc(p: *mut c_void, n: c_int) -> *mut c_void {
        match usize::try_from(n) {
            // SAFETY: `p` came from `malloc`/`realloc` above.
            Ok(n) => unsafe { mi::mi_realloc(p, n) },
            Err(_) => std::ptr::null_mut(),
        }
    }

    unsafe extern "C" fn size(p: *mut c_void) -> c_int {
        // SAFETY: `p` came from `malloc`/`realloc` above; SQLite uses the usable size (≥ what it asked for).
        let n = unsafe { mi::mi_usable_size(p) };
        c_int::try_from(n).unwrap_or(c_int::MAX)
    }

    unsafe extern "C" fn roundup(n: c_int) -> c_int {
        match usize::try_from(n) {
            // SAFETY: a pure size computation.
            Ok(n) => c_int::try_from(unsafe { mi::mi_good_size(n) }).unwrap_or(n as c_int),
            Err(_) => n,
        }
    }

    unsafe extern "C" fn init(_: *mut c_void) -> c_int {
        ffi::SQLITE_OK
    }

    unsafe extern "C" fn shutdown(_: *mut c_void) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::walbuf::tests::Db;

    #[test]
    fn sqlite_keeps_no_memory_statistics() {
        crate::walbuf::register().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("m.db"), None);
        db.exec("CREATE TABLE t (v BLOB); INSERT INTO t VALUES (randomblob(100000))")
            .unwrap();
        // SAFETY: a plain read of SQLite's counters.
        let (used, peak) =
            unsafe { (ffi::sqlite3_memory_used(), ffi::sqlite3_memory_highwater(0)) };
        assert_eq!((used, peak), (0, 0), "SQLite counted its allocations");
    }

    #[test]
    fn sqlite_allocates_from_mimalloc() {
        crate::walbuf::register().unwrap();
        // SAFETY: an allocation through SQLite's allocator, inspected and freed through the same one.
        unsafe {
            let p = ffi::sqlite3_malloc(100);
            assert!(!p.is_null());
            assert!(
                libmimalloc_sys::mi_is_in_heap_region(p),
                "SQLite's block is not mimalloc's"
            );
            assert!(ffi::sqlite3_msize(p) >= 100);
            ffi::sqlite3_free(p);
        }
    }

    #[test]
    fn page_caches_are_per_connection() {
        // `.cargo/config.toml` builds SQLite without SQLITE_ENABLE_MEMORY_MANAGEMENT, so each connection's page
        // cache has its own group and no global mutex on every page fetch (bench/RESULTS.md, session 18).
        let opt = std::ffi::CString::new("ENABLE_MEMORY_MANAGEMENT").unwrap();
        // SAFETY: a NUL-terminated option name.
        let used = unsafe { ffi::sqlite3_compileoption_used(opt.as_ptr()) };
        assert_eq!(
            used, 0,
            "SQLite was built with SQLITE_ENABLE_MEMORY_MANAGEMENT (LIBSQLITE3_FLAGS not applied)"
        );
    }
}
