//! A SQLite VFS for the writer connection that hands a commit's WAL frames to the kernel in one write.
//!
//! SQLite appends each WAL frame as two `pwrite` calls (the 24-byte frame header, then the page), so a group
//! commit of ~18 pages is ~37 system calls before its fsync. On the machines Tianshu was measured on each
//! such small write cost ~4 µs of kernel time (ext4 marks the page and the inode dirty per call): a C loop of
//! 36 writes + fsync took ~230 µs of CPU per commit, one write of the same bytes + fsync ~85 µs.
//!
//! This VFS wraps the platform's default one ("unix") and changes only the WAL file, and only while the
//! writer runs a COMMIT inside [`commit_buffered`]: then writes that continue the previous one exactly are
//! kept in memory and reach the file as one write when SQLite syncs the WAL — which, under
//! `synchronous = FULL`, it does before the commit counts and before the commit is made visible in the
//! wal-index. Anything else touching the file meanwhile (a read, a write elsewhere such as the header of a
//! restarted log, a truncate, a size query, a file control, close) or a buffer about to outgrow
//! [`MAX_BUFFER`] writes the buffer out first, so the file always sees SQLite's writes in SQLite's order.
//! Outside a COMMIT (pages a large transaction spills early, checkpoints) every call goes straight to the
//! default VFS, as does everything on other files (the database, the shared-memory index, locking) — except
//! the WAL's syncs, which use fdatasync ([`sync`]).
//!
//! When COMMIT returns, whatever is still buffered is written if it succeeded (nothing is, with FULL) and
//! dropped if it failed: those frames were never synced nor made visible, like the frames of any failed
//! commit, and writing them later could land on frames another connection has since committed at the same
//! offsets. Only the writer connection uses this VFS, always with `synchronous = FULL`
//! ([`crate::Store::connect`]); the readers never write the WAL.
#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, c_void, CStr};
use std::fs::File;
use std::ptr;
use std::sync::OnceLock;

use libsqlite3_sys as ffi;

/// The name the writer connection opens its database with.
pub(crate) const VFS_NAME: &str = "tianshu-walbuf";
const VFS_NAME_C: &CStr = c"tianshu-walbuf";

/// The most handed over in one write: the unix VFS masks a write's length to 17 bits (`seekAndWriteFd`), so a
/// longer one would be cut short. A group commit of alerts is ~75 KiB; larger transactions go out in pieces.
const MAX_BUFFER: usize = 0x1_f000;

/// The wrapped WAL file: our header, then the default VFS's own file object.
#[repr(C)]
struct WalFile {
    base: ffi::sqlite3_file,
    /// The default VFS's file, which lives right after this header in the same allocation.
    real: *mut ffi::sqlite3_file,
    pending: *mut Pending,
}

/// Appends not yet handed to the kernel.
struct Pending {
    /// Inside [`commit_buffered`]: appends are buffered.
    active: bool,
    /// File offset of `data[0]`.
    start: i64,
    data: Vec<u8>,
    /// The default VFS has synced the file at least once (its first sync also syncs the directory entry).
    synced_once: bool,
    /// Our own descriptor of the WAL file, for fdatasync (see [`sync`]); `None` if it could not be opened.
    datasync: Option<File>,
    /// Syncs done through `datasync` (read by tests).
    datasyncs: u64,
}

/// Bytes before the default VFS's file object, kept 8-aligned.
const HEADER: usize = (std::mem::size_of::<WalFile>() + 7) & !7;

struct Registered {
    real: *mut ffi::sqlite3_vfs,
}
// SAFETY: the pointer is to SQLite's static default VFS, which lives for the process and is only read.
unsafe impl Send for Registered {}
unsafe impl Sync for Registered {}

static REGISTERED: OnceLock<Result<Registered, String>> = OnceLock::new();

/// Registers the VFS once per process (not as the default); an error says why it could not be.
pub(crate) fn register() -> Result<(), String> {
    REGISTERED
        .get_or_init(|| {
            // Before the call below initialises SQLite.
            crate::sqlite_config::before_init();
            // SAFETY: sqlite3_vfs_find and sqlite3_vfs_register initialise SQLite themselves and are
            // thread-safe; the registered struct is leaked, so it outlives every connection.
            unsafe {
                let real = ffi::sqlite3_vfs_find(ptr::null());
                if real.is_null() {
                    return Err("SQLite has no default VFS".into());
                }
                let mut vfs: ffi::sqlite3_vfs = *real;
                vfs.szOsFile = (*real).szOsFile + HEADER as c_int;
                vfs.zName = VFS_NAME_C.as_ptr();
                vfs.pNext = ptr::null_mut();
                vfs.xOpen = Some(open);
                vfs.xDelete = Some(delete);
                vfs.xAccess = Some(access);
                vfs.xFullPathname = Some(full_pathname);
                let vfs = Box::leak(Box::new(vfs));
                let rc = ffi::sqlite3_vfs_register(vfs, 0);
                if rc != ffi::SQLITE_OK {
                    return Err(format!("sqlite3_vfs_register failed ({rc})"));
                }
                Ok(Registered { real })
            }
        })
        .as_ref()
        .map(|_| ())
        .map_err(Clone::clone)
}

/// Runs `commit` (the writer's COMMIT on `db`) with the WAL's appends buffered until SQLite syncs the WAL;
/// `commit`'s result says whether it succeeded. Without this VFS's WAL file (another VFS, or no WAL open) it
/// just runs `commit`.
///
/// # Safety
/// `db` must be a valid handle that the caller holds exclusively for the duration of the call.
pub(crate) unsafe fn commit_buffered<T, E>(
    db: *mut ffi::sqlite3,
    commit: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    let mut file: *mut ffi::sqlite3_file = ptr::null_mut();
    let rc = ffi::sqlite3_file_control(
        db,
        c"main".as_ptr(),
        ffi::SQLITE_FCNTL_JOURNAL_POINTER,
        (&raw mut file).cast(),
    );
    if rc != ffi::SQLITE_OK || file.is_null() || !ptr::eq((*file).pMethods, &METHODS) {
        return commit();
    }
    (*(*file.cast::<WalFile>()).pending).active = true;
    let out = commit();
    let p = &mut *(*file.cast::<WalFile>()).pending;
    p.active = false;
    if out.is_ok() {
        // Nothing is left after a commit under FULL (its sync wrote the buffer); should anything be, SQLite
        // counts it as written.
        let _ = flush(file);
    } else {
        p.data.clear();
    }
    out
}

fn real_vfs() -> *mut ffi::sqlite3_vfs {
    match REGISTERED.get() {
        Some(Ok(r)) => r.real,
        // Unreachable: SQLite calls these only through the registered VFS.
        _ => ptr::null_mut(),
    }
}

unsafe extern "C" fn open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let real = real_vfs();
    let Some(real_open) = real.as_ref().and_then(|r| r.xOpen) else {
        return ffi::SQLITE_ERROR;
    };
    if flags & ffi::SQLITE_OPEN_WAL == 0 {
        // Not the WAL: the default VFS's own file object in the space SQLite allocated (it is larger than
        // the default VFS asks for), so every call goes straight to it.
        return real_open(real, name, file, flags, out_flags);
    }
    let w = file.cast::<WalFile>();
    let inner = file.cast::<u8>().add(HEADER).cast::<ffi::sqlite3_file>();
    (*w).base.pMethods = ptr::null();
    let rc = real_open(real, name, inner, flags, out_flags);
    if rc != ffi::SQLITE_OK {
        // pMethods stays null: SQLite will not call xClose on a file that failed to open.
        return rc;
    }
    (*w).real = inner;
    // Without a descriptor of our own (a read-only file, say) every sync goes to the default VFS. Closing it
    // (with the file) cannot drop a lock of SQLite's, as closing a descriptor drops all of the process's POSIX
    // locks on that file: WAL mode takes its locks on the database and -shm files, never on the WAL itself.
    let datasync = if name.is_null() || !cfg!(target_os = "linux") {
        None
    } else {
        CStr::from_ptr(name)
            .to_str()
            .ok()
            .and_then(|path| File::options().read(true).write(true).open(path).ok())
    };
    (*w).pending = Box::into_raw(Box::new(Pending {
        active: false,
        start: 0,
        data: Vec::with_capacity(MAX_BUFFER),
        synced_once: false,
        datasync,
        datasyncs: 0,
    }));
    (*w).base.pMethods = &METHODS;
    ffi::SQLITE_OK
}

unsafe extern "C" fn delete(
    _vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    sync_dir: c_int,
) -> c_int {
    let real = real_vfs();
    match real.as_ref().and_then(|r| r.xDelete) {
        Some(f) => f(real, name, sync_dir),
        None => ffi::SQLITE_ERROR,
    }
}

unsafe extern "C" fn access(
    _vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    flags: c_int,
    out: *mut c_int,
) -> c_int {
    let real = real_vfs();
    match real.as_ref().and_then(|r| r.xAccess) {
        Some(f) => f(real, name, flags, out),
        None => ffi::SQLITE_ERROR,
    }
}

unsafe extern "C" fn full_pathname(
    _vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    n_out: c_int,
    out: *mut c_char,
) -> c_int {
    let real = real_vfs();
    match real.as_ref().and_then(|r| r.xFullPathname) {
        Some(f) => f(real, name, n_out, out),
        None => ffi::SQLITE_ERROR,
    }
}

static METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    // Version 1: the WAL file is never memory-mapped and has no shared memory of its own.
    iVersion: 1,
    xClose: Some(close),
    xRead: Some(read),
    xWrite: Some(write),
    xTruncate: Some(truncate),
    xSync: Some(sync),
    xFileSize: Some(file_size),
    xLock: Some(lock),
    xUnlock: Some(unlock),
    xCheckReservedLock: Some(check_reserved_lock),
    xFileControl: Some(file_control),
    xSectorSize: Some(sector_size),
    xDeviceCharacteristics: Some(device_characteristics),
    xShmMap: None,
    xShmLock: None,
    xShmBarrier: None,
    xShmUnmap: None,
    xFetch: None,
    xUnfetch: None,
};

/// The default VFS's methods of the wrapped file.
unsafe fn inner(
    f: *mut ffi::sqlite3_file,
) -> (*mut ffi::sqlite3_file, &'static ffi::sqlite3_io_methods) {
    let real = (*f.cast::<WalFile>()).real;
    (real, &*(*real).pMethods)
}

/// Hands the buffered appends to the kernel in one write.
unsafe fn flush(f: *mut ffi::sqlite3_file) -> c_int {
    let p = &mut *(*f.cast::<WalFile>()).pending;
    if p.data.is_empty() {
        return ffi::SQLITE_OK;
    }
    let (real, m) = inner(f);
    let Some(xw) = m.xWrite else {
        return ffi::SQLITE_IOERR_WRITE;
    };
    // The buffer never exceeds MAX_BUFFER, far below c_int::MAX.
    let rc = xw(real, p.data.as_ptr().cast(), p.data.len() as c_int, p.start);
    p.data.clear();
    rc
}

/// The wrapped file with the buffer written out first, or the error of writing it.
unsafe fn flushed(
    f: *mut ffi::sqlite3_file,
) -> Result<(*mut ffi::sqlite3_file, &'static ffi::sqlite3_io_methods), c_int> {
    match flush(f) {
        ffi::SQLITE_OK => Ok(inner(f)),
        rc => Err(rc),
    }
}

unsafe extern "C" fn close(f: *mut ffi::sqlite3_file) -> c_int {
    let rc = flush(f);
    let (real, m) = inner(f);
    let rc2 = m.xClose.map_or(ffi::SQLITE_OK, |x| x(real));
    let w = f.cast::<WalFile>();
    drop(Box::from_raw((*w).pending));
    (*w).pending = ptr::null_mut();
    if rc != ffi::SQLITE_OK {
        rc
    } else {
        rc2
    }
}

unsafe extern "C" fn write(
    f: *mut ffi::sqlite3_file,
    buf: *const c_void,
    amt: c_int,
    off: i64,
) -> c_int {
    let p = &mut *(*f.cast::<WalFile>()).pending;
    let n = usize::try_from(amt).unwrap_or(0);
    if n == 0 {
        // SQLite never writes nothing; if it did, there would be nothing to buffer (and `buf` may be null).
        return ffi::SQLITE_OK;
    }
    let appends = p.data.is_empty() || off == p.start + p.data.len() as i64;
    if p.active && appends && p.data.len() + n <= MAX_BUFFER {
        if p.data.is_empty() {
            p.start = off;
        }
        p.data
            .extend_from_slice(std::slice::from_raw_parts(buf.cast::<u8>(), n));
        return ffi::SQLITE_OK;
    }
    match flushed(f) {
        Ok((real, m)) => m
            .xWrite
            .map_or(ffi::SQLITE_IOERR_WRITE, |x| x(real, buf, amt, off)),
        Err(rc) => rc,
    }
}

unsafe extern "C" fn read(
    f: *mut ffi::sqlite3_file,
    buf: *mut c_void,
    amt: c_int,
    off: i64,
) -> c_int {
    match flushed(f) {
        Ok((real, m)) => m
            .xRead
            .map_or(ffi::SQLITE_IOERR_READ, |x| x(real, buf, amt, off)),
        Err(rc) => rc,
    }
}

unsafe extern "C" fn truncate(f: *mut ffi::sqlite3_file, size: i64) -> c_int {
    match flushed(f) {
        Ok((real, m)) => m
            .xTruncate
            .map_or(ffi::SQLITE_IOERR_TRUNCATE, |x| x(real, size)),
        Err(rc) => rc,
    }
}

/// Syncs the WAL with fdatasync where the default VFS would use fsync.
///
/// SQLite as bundled by libsqlite3-sys is compiled without `HAVE_FDATASYNC`, so its unix VFS syncs with
/// fsync, which also writes the inode for its new mtime on every group commit. fdatasync writes the data and
/// only the metadata needed to read it back (the size, when the WAL grew), which is all SQLite needs; builds
/// of SQLite with `HAVE_FDATASYNC` (Linux distributions') do the same. Under alert load the WAL's syncs took
/// 9.6 % of the server's CPU samples with fsync, 8.1 % with fdatasync (`perf`, bench/RESULTS.md session 16).
/// The file's first sync still goes to the default VFS, because that one also syncs the directory of a newly
/// created WAL. Only on Linux, where fsync and fdatasync of any descriptor of a file cover all its writes.
unsafe extern "C" fn sync(f: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    let (real, m) = match flushed(f) {
        Ok(x) => x,
        Err(rc) => return rc,
    };
    let p = &mut *(*f.cast::<WalFile>()).pending;
    if p.synced_once {
        if let Some(file) = &p.datasync {
            p.datasyncs += 1;
            return match file.sync_data() {
                Ok(()) => ffi::SQLITE_OK,
                Err(_) => ffi::SQLITE_IOERR_FSYNC,
            };
        }
    }
    let rc = m.xSync.map_or(ffi::SQLITE_IOERR_FSYNC, |x| x(real, flags));
    if rc == ffi::SQLITE_OK {
        p.synced_once = true;
    }
    rc
}

unsafe extern "C" fn file_size(f: *mut ffi::sqlite3_file, size: *mut i64) -> c_int {
    match flushed(f) {
        Ok((real, m)) => m
            .xFileSize
            .map_or(ffi::SQLITE_IOERR_FSTAT, |x| x(real, size)),
        Err(rc) => rc,
    }
}

unsafe extern "C" fn lock(f: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    let (real, m) = inner(f);
    m.xLock.map_or(ffi::SQLITE_OK, |x| x(real, level))
}

unsafe extern "C" fn unlock(f: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    let (real, m) = inner(f);
    m.xUnlock.map_or(ffi::SQLITE_OK, |x| x(real, level))
}

unsafe extern "C" fn check_reserved_lock(f: *mut ffi::sqlite3_file, out: *mut c_int) -> c_int {
    let (real, m) = inner(f);
    m.xCheckReservedLock
        .map_or(ffi::SQLITE_OK, |x| x(real, out))
}

unsafe extern "C" fn file_control(f: *mut ffi::sqlite3_file, op: c_int, arg: *mut c_void) -> c_int {
    // Whatever the control does (size hints, persist-WAL, chunk size), it sees the file as SQLite wrote it.
    match flushed(f) {
        Ok((real, m)) => m
            .xFileControl
            .map_or(ffi::SQLITE_NOTFOUND, |x| x(real, op, arg)),
        Err(rc) => rc,
    }
}

unsafe extern "C" fn sector_size(f: *mut ffi::sqlite3_file) -> c_int {
    let (real, m) = inner(f);
    m.xSectorSize.map_or(4096, |x| x(real))
}

unsafe extern "C" fn device_characteristics(f: *mut ffi::sqlite3_file) -> c_int {
    let (real, m) = inner(f);
    m.xDeviceCharacteristics.map_or(0, |x| x(real))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A raw connection of our own through the given VFS (`None`: the default one).
    pub(crate) struct Db(*mut ffi::sqlite3);

    impl Db {
        pub(crate) fn open(path: &std::path::Path, vfs: Option<&CStr>) -> Db {
            let path = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
            let mut db = ptr::null_mut();
            // SAFETY: valid C strings; the handle is closed in Drop.
            let rc = unsafe {
                ffi::sqlite3_open_v2(
                    path.as_ptr(),
                    &mut db,
                    ffi::SQLITE_OPEN_READWRITE | ffi::SQLITE_OPEN_CREATE,
                    vfs.map_or(ptr::null(), CStr::as_ptr),
                )
            };
            assert_eq!(rc, ffi::SQLITE_OK);
            Db(db)
        }

        pub(crate) fn exec(&self, sql: &str) -> Result<(), c_int> {
            let sql = std::ffi::CString::new(sql).unwrap();
            // SAFETY: our open handle.
            let rc = unsafe {
                ffi::sqlite3_exec(self.0, sql.as_ptr(), None, ptr::null_mut(), ptr::null_mut())
            };
            if rc == ffi::SQLITE_OK {
                Ok(())
            } else {
                Err(rc)
            }
        }

        /// The first column of the first row `sql` returns, read by `read` while the statement is live.
        fn first<T>(&self, sql: &CStr, read: impl FnOnce(*mut ffi::sqlite3_stmt) -> T) -> T {
            let mut stmt = ptr::null_mut();
            // SAFETY: our open handle; the statement is finalised before returning, after `read` copied out.
            unsafe {
                let rc =
                    ffi::sqlite3_prepare_v2(self.0, sql.as_ptr(), -1, &mut stmt, ptr::null_mut());
                assert_eq!(rc, ffi::SQLITE_OK);
                assert_eq!(ffi::sqlite3_step(stmt), ffi::SQLITE_ROW);
                let out = read(stmt);
                ffi::sqlite3_finalize(stmt);
                out
            }
        }

        pub(crate) fn count(&self) -> i64 {
            // SAFETY: a live statement with a row.
            self.first(c"SELECT COUNT(*) FROM t", |s| unsafe {
                ffi::sqlite3_column_int64(s, 0)
            })
        }

        /// The first row `PRAGMA integrity_check` returns ("ok" when it found nothing).
        pub(crate) fn integrity(&self) -> String {
            // SAFETY: a live statement with a row; the text is copied before it is finalised.
            self.first(c"PRAGMA integrity_check", |s| unsafe {
                CStr::from_ptr(ffi::sqlite3_column_text(s, 0).cast())
                    .to_string_lossy()
                    .into_owned()
            })
        }

        /// One INSERT in its own transaction, committed through `commit_buffered`.
        fn insert(&self) {
            self.exec("BEGIN IMMEDIATE").unwrap();
            self.exec("INSERT INTO t (v) VALUES (randomblob(3000))")
                .unwrap();
            // SAFETY: our handle, used by nothing else meanwhile.
            unsafe { commit_buffered(self.0, || self.exec("COMMIT")) }.unwrap();
        }

        /// The WAL's state in our VFS.
        fn pending(&self) -> &Pending {
            let mut file: *mut ffi::sqlite3_file = ptr::null_mut();
            // SAFETY: our handle; the WAL file object lives as long as the connection.
            unsafe {
                let rc = ffi::sqlite3_file_control(
                    self.0,
                    c"main".as_ptr(),
                    ffi::SQLITE_FCNTL_JOURNAL_POINTER,
                    (&raw mut file).cast(),
                );
                assert_eq!(rc, ffi::SQLITE_OK);
                assert!(ptr::eq((*file).pMethods, &METHODS));
                &*(*file.cast::<WalFile>()).pending
            }
        }
    }

    impl Drop for Db {
        fn drop(&mut self) {
            // SAFETY: our handle, closed once.
            unsafe { ffi::sqlite3_close(self.0) };
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_wal_is_synced_with_fdatasync_after_its_first_sync_and_commits_survive_reopening() {
        register().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let w = Db::open(&path, Some(VFS_NAME_C));
        w.exec(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA wal_autocheckpoint = 3",
        )
        .unwrap();
        // The WAL's first commit: synced by the default VFS (with the new file's directory entry).
        w.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)")
            .unwrap();
        assert!(w.pending().synced_once);
        let before = w.pending().datasyncs;
        let r = Db::open(&path, None);
        for n in 1..=10 {
            w.insert();
            assert_eq!(r.count(), n);
        }
        // Every commit synced its WAL through our descriptor (checkpoints add their own WAL syncs).
        assert!(
            w.pending().datasyncs >= before + 10,
            "{before} → {}",
            w.pending().datasyncs
        );
        drop(r);
        drop(w);
        let again = Db::open(&path, None);
        assert_eq!(again.count(), 10);
        assert_eq!(again.integrity(), "ok");
    }
}
