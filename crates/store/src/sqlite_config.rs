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
}
