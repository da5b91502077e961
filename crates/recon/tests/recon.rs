//! Integration tests of the reconciliation engine (REC). One test binary; modules below.

use std::path::{Path, PathBuf};

use tianshu_recon::{JobSpec, ReconError, Report, RunOptions};

#[path = "recon/chunks.rs"]
mod chunks;
#[path = "recon/db.rs"]
mod db;
#[path = "recon/generator.rs"]
mod generator;
#[path = "recon/props.rs"]
mod props;
#[path = "recon/quirks.rs"]
mod quirks;

/// Write bytes to `dir/name` and return the path.
pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// A job over two files keyed by `key`.
pub fn job(left: &Path, right: &Path, key: &[&str]) -> JobSpec {
    let mut j = JobSpec {
        key: key.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    j.left.path = Some(left.to_path_buf());
    j.right.path = Some(right.to_path_buf());
    j
}

/// Run with default options.
pub fn run(j: &JobSpec) -> Result<Report, ReconError> {
    tianshu_recon::run(j, RunOptions::default())
}

/// The accounting identity of issue 6: every row is classified exactly once.
pub fn assert_accounted(r: &Report) {
    assert_eq!(
        r.rows_left,
        r.only_left + r.changed + r.identical + r.duplicate_keys_left + r.rejected_left,
        "left rows: {r:?}"
    );
    assert_eq!(
        r.rows_right,
        r.only_right + r.changed + r.identical + r.duplicate_keys_right + r.rejected_right,
        "right rows: {r:?}"
    );
}
