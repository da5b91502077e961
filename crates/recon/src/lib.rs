//! Tianshu reconciliation engine (REC): compares two systems' extracts of the same data.
//!
//! Pass 1 reads both files at once (one thread per side), normalises each row and reduces it to a
//! 32-byte record: a 128-bit hash of the key, a 64-bit hash of the compared columns and the row's
//! offset in its file. Records are radix-partitioned by key hash (256 partitions) and spill to disk
//! when they exceed the memory budget. Pass 2 sorts each partition pair by key hash and merges it
//! (both cores), which classifies every row: identical, changed, only on one side, or a duplicate
//! key. Pass 3 re-reads only the rows that differ (seeking in plain files) to count differences
//! per column and to write details. See `docs/reconciliation.md` for the exactness bounds.

#![warn(missing_docs)]

pub mod db;
pub mod details;
mod engine;
mod input;
pub mod job;
mod normalize;
pub mod testgen;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8};
use std::sync::Arc;

use serde::Serialize;

pub use engine::run;
pub use job::{
    BadRowPolicy, Case, ColumnRule, DbConnect, DbTuning, JobSpec, NullPolicy, ReconMode, Side,
    SideSpec,
};

/// Errors. Input errors carry file:line.
#[derive(Debug, thiserror::Error)]
pub enum ReconError {
    /// A bad job (field named).
    #[error("{field}: {msg}")]
    Job {
        /// The job field.
        field: String,
        /// What is wrong.
        msg: String,
    },
    /// Bad input data.
    #[error("{path}:{line}: {msg}")]
    Input {
        /// The file.
        path: String,
        /// 1-based physical line.
        line: u64,
        /// What is wrong.
        msg: String,
    },
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Stopped by the caller.
    #[error("cancelled")]
    Cancelled,
    /// A database input failed (connection, query, unsupported column type). Never holds a URL.
    #[error("{side}: {msg}")]
    Database {
        /// `left` or `right` (or the job field).
        side: String,
        /// What went wrong (passwords redacted).
        msg: String,
    },
}

/// Live counters for a progress display; all relaxed atomics.
#[derive(Debug, Default)]
pub struct Progress {
    /// Raw bytes read from the left file (compressed bytes for gzip).
    pub left_bytes: AtomicU64,
    /// Raw bytes read from the right file.
    pub right_bytes: AtomicU64,
    /// Size of the left file.
    pub left_total: AtomicU64,
    /// Size of the right file.
    pub right_total: AtomicU64,
    /// Rows read, both sides.
    pub rows: AtomicU64,
    /// 0 reading, 1 matching, 2 column details, 3 done.
    pub phase: AtomicU8,
}

/// Run options besides the job.
#[derive(Default)]
pub struct RunOptions {
    /// Set to stop the run (it returns [`ReconError::Cancelled`]).
    pub cancel: Arc<AtomicBool>,
    /// Progress counters.
    pub progress: Arc<Progress>,
    /// Receives every difference when set (CSV/XLSX writers in [`details`]).
    pub details: Option<Box<dyn details::DetailSink + Send>>,
    /// Chunks each plain UTF-8 input file is scanned in, on parallel threads (default: half the
    /// cores per side, no chunk under 32 MiB). Set by tests to put chunk boundaries in small files.
    pub scan_chunks: Option<usize>,
}

/// Kind of a difference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum DiffKind {
    /// The key is only in the left file.
    OnlyLeft,
    /// The key is only in the right file.
    OnlyRight,
    /// The key is on both sides and this column differs.
    Changed,
    /// An extra row with a key already seen in the left file.
    DuplicateLeft,
    /// An extra row with a key already seen in the right file.
    DuplicateRight,
}

impl DiffKind {
    /// snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            DiffKind::OnlyLeft => "only_left",
            DiffKind::OnlyRight => "only_right",
            DiffKind::Changed => "changed",
            DiffKind::DuplicateLeft => "duplicate_left",
            DiffKind::DuplicateRight => "duplicate_right",
        }
    }
}

/// One difference (for details and samples). Values are normalised; None is NULL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// What kind.
    pub kind: DiffKind,
    /// Key values joined with `|`.
    pub key: String,
    /// The differing column (changed only).
    pub column: Option<String>,
    /// Left value (changed only).
    pub left: Option<String>,
    /// Right value (changed only).
    pub right: Option<String>,
}

/// The result of a run.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    /// Keys only in the left file.
    pub only_left: u64,
    /// Keys only in the right file.
    pub only_right: u64,
    /// Keys on both sides whose compared columns differ.
    pub changed: u64,
    /// Keys on both sides with equal compared columns.
    pub identical: u64,
    /// Extra left rows whose key was already seen on the left (rows beyond the first per key).
    pub duplicate_keys_left: u64,
    /// Extra right rows whose key was already seen on the right.
    pub duplicate_keys_right: u64,
    /// Column → number of changed keys where that column differs.
    pub per_column: BTreeMap<String, u64>,
    /// identical / distinct keys in the union (1.0 when both files are empty).
    pub consistency: f64,
    /// Data rows read from the left file (header excluded).
    pub rows_left: u64,
    /// Data rows read from the right file.
    pub rows_right: u64,
    /// Left rows written to the reject file.
    pub rejected_left: u64,
    /// Right rows written to the reject file.
    pub rejected_right: u64,
    /// Key columns.
    pub key: Vec<String>,
    /// Compared columns.
    pub columns: Vec<String>,
    /// Whether partitions spilled to disk.
    pub spilled: bool,
    /// The first differences of each kind.
    pub sample: Vec<Difference>,
}

impl Report {
    /// The eight headline fields as one JSON object (the CLI's `--output json`).
    pub fn summary_json(&self) -> serde_json::Value {
        serde_json::json!({
            "only_left": self.only_left,
            "only_right": self.only_right,
            "changed": self.changed,
            "identical": self.identical,
            "duplicate_keys_left": self.duplicate_keys_left,
            "duplicate_keys_right": self.duplicate_keys_right,
            "per_column": self.per_column,
            "consistency": self.consistency,
        })
    }
}
