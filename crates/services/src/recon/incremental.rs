//! Incremental reconciliation (issue 6, REC-04): only the keys changed since the previous run are compared.
//!
//! The changed keys come from an `updated_at` column (rows of either side changed at or after the previous run's
//! cut-off) or from a delta file listing the keys. Both inputs are then filtered to the rows of those keys and the
//! engine compares the filtered files, so a key deleted on one side shows as only-left / only-right as usual.
//! Incremental inputs are read as UTF-8 delimited text with a header line (not gzip).

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use tianshu_core::policy::ScheduleInputs;

use crate::{Platform, ServiceError, ServiceResult};

/// Where the changed keys come from.
#[derive(Debug, Clone, PartialEq)]
pub enum ChangedKeys {
    /// A file with a header naming the key columns, one changed key per row.
    Delta(PathBuf),
    /// Rows whose `column` is at or after `since` (digits compared: `2026-11-30 00:00:00`, `20261130000000`…);
    /// `since = None` (no previous run) takes every row.
    UpdatedSince {
        column: String,
        since: Option<String>,
    },
}

/// The filtered inputs of an incremental run.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Temporary directory holding both files (removed after the run).
    pub dir: PathBuf,
    pub left: PathBuf,
    pub right: PathBuf,
    /// Distinct changed keys.
    pub keys: usize,
}

/// The changed-key source of a job for a reconciliation day: its delta file, or its `updated_at` column since
/// the cut-off of the job's previous succeeded run.
pub async fn changed_keys(
    p: &Platform,
    job_key: &str,
    inputs: Option<&ScheduleInputs>,
    on: NaiveDate,
) -> ServiceResult<ChangedKeys> {
    let Some(inp) = inputs else {
        return Err(ServiceError::invalid(
            "job",
            "an incremental run needs a job with updated_at or delta inputs, or a delta file",
        ));
    };
    if let Some(d) = &inp.delta {
        let rel = ScheduleInputs::resolve(d, on);
        return Ok(ChangedKeys::Delta(super::inbox_path(p, "delta", &rel)?));
    }
    let Some(col) = &inp.updated_at else {
        return Err(ServiceError::invalid(
            "job",
            "an incremental job needs updated_at (a column) or delta (a file of changed keys)",
        ));
    };
    let pol = p.policy.current();
    let cut = &pol.pack.reconciliation.upload.cut_off;
    let prev = p.store.recon_previous_run(job_key, i64::MAX).await?;
    let since = prev.map(|r| {
        let day = r.as_of.unwrap_or_else(|| {
            tianshu_store::time::from_micros(r.started_at)
                .with_timezone(&p.time_zone())
                .format("%Y-%m-%d")
                .to_string()
        });
        format!("{day} {cut}:00")
    });
    Ok(ChangedKeys::UpdatedSince {
        column: col.clone(),
        since,
    })
}

/// Reads delimited records (quoted fields may hold delimiters, quotes and line breaks).
struct Records<R> {
    r: R,
    delim: char,
    line: u64,
}

impl<R: BufRead> Records<R> {
    /// The next record: its raw text (without the line end) and its fields.
    fn next(&mut self, path: &Path) -> Result<Option<(String, Vec<String>)>, String> {
        let mut raw = String::new();
        loop {
            let mut l = String::new();
            let n = self
                .r
                .read_line(&mut l)
                .map_err(|e| format!("{}:{}: {e}", path.display(), self.line + 1))?;
            if n == 0 {
                if raw.is_empty() {
                    return Ok(None);
                }
                return Err(format!(
                    "{}:{}: unterminated quoted field",
                    path.display(),
                    self.line
                ));
            }
            self.line += 1;
            raw.push_str(&l);
            if raw.matches('"').count().is_multiple_of(2) {
                break;
            }
        }
        while raw.ends_with('\n') || raw.ends_with('\r') {
            raw.pop();
        }
        let mut fields = Vec::new();
        let mut f = String::new();
        let mut q = false;
        let mut chars = raw.chars().peekable();
        while let Some(c) = chars.next() {
            if q {
                if c == '"' {
                    if chars.peek() == Some(&'"') {
                        chars.next();
                        f.push('"');
                    } else {
                        q = false;
                    }
                } else {
                    f.push(c);
                }
            } else if c == '"' && f.is_empty() {
                q = true;
            } else if c == self.delim {
                fields.push(std::mem::take(&mut f));
            } else {
                f.push(c);
            }
        }
        fields.push(f);
        Ok(Some((raw, fields)))
    }
}

fn open(path: &Path, delim: char) -> Result<Records<BufReader<File>>, String> {
    let mut head = [0u8; 2];
    let f = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    {
        use std::io::Read;
        let mut g = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let n = g.read(&mut head).unwrap_or(0);
        if n == 2 && head == [0x1f, 0x8b] {
            return Err(format!(
                "{}: incremental mode reads plain UTF-8 files, not gzip",
                path.display()
            ));
        }
    }
    Ok(Records {
        r: BufReader::with_capacity(1 << 20, f),
        delim,
        line: 0,
    })
}

fn header(
    path: &Path,
    rec: &mut Records<BufReader<File>>,
) -> Result<(String, Vec<String>), String> {
    let (raw, mut cols) = rec.next(path)?.ok_or_else(|| {
        format!(
            "{}:1: the file is empty (a header line is required)",
            path.display()
        )
    })?;
    if let Some(c) = cols.first_mut() {
        if let Some(s) = c.strip_prefix('\u{feff}') {
            *c = s.to_string();
        }
    }
    Ok((raw, cols))
}

fn positions(path: &Path, cols: &[String], names: &[String]) -> Result<Vec<usize>, String> {
    names
        .iter()
        .map(|n| {
            cols.iter()
                .position(|c| c.trim() == n.as_str())
                .ok_or_else(|| format!("{}:1: no column '{n}' in the header", path.display()))
        })
        .collect()
}

fn key_of(fields: &[String], pos: &[usize]) -> Option<String> {
    let mut k = String::new();
    for (i, p) in pos.iter().enumerate() {
        if i > 0 {
            k.push('\u{1f}');
        }
        k.push_str(fields.get(*p)?);
    }
    Some(k)
}

fn digits(v: &str) -> String {
    let mut d: String = v.chars().filter(|c| c.is_ascii_digit()).take(14).collect();
    while d.len() < 14 {
        d.push('0');
    }
    d
}

fn delimiter(d: Option<&str>) -> char {
    match d {
        Some("\\t") | Some("tab") => '\t',
        Some(s) => s.chars().next().unwrap_or(','),
        None => ',',
    }
}

/// Collects the changed keys and writes both inputs filtered to them into `dir`.
pub fn prepare(
    ch: &ChangedKeys,
    left: &Path,
    right: &Path,
    key: &[String],
    delim: Option<&str>,
    dir: &Path,
) -> Result<Prepared, String> {
    let d = delimiter(delim);
    let mut keys: HashSet<String> = HashSet::new();
    match ch {
        ChangedKeys::Delta(path) => {
            let mut rec = open(path, d)?;
            let (_, cols) = header(path, &mut rec)?;
            let pos = positions(path, &cols, key)?;
            while let Some((_, f)) = rec.next(path)? {
                if let Some(k) = key_of(&f, &pos) {
                    keys.insert(k);
                }
            }
        }
        ChangedKeys::UpdatedSince { column, since } => {
            let since = since.as_deref().map(digits);
            for path in [left, right] {
                let mut rec = open(path, d)?;
                let (_, cols) = header(path, &mut rec)?;
                let pos = positions(path, &cols, key)?;
                let up = positions(path, &cols, std::slice::from_ref(column))?[0];
                while let Some((_, f)) = rec.next(path)? {
                    let changed = match (&since, f.get(up)) {
                        (None, _) => true,
                        (Some(s), Some(v)) => digits(v) >= *s,
                        (Some(_), None) => false,
                    };
                    if changed {
                        if let Some(k) = key_of(&f, &pos) {
                            keys.insert(k);
                        }
                    }
                }
            }
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut out = Vec::new();
    for (path, name) in [(left, "left.csv"), (right, "right.csv")] {
        let target = dir.join(name);
        let mut rec = open(path, d)?;
        let (raw, cols) = header(path, &mut rec)?;
        let pos = positions(path, &cols, key)?;
        let f = File::create(&target).map_err(|e| format!("{}: {e}", target.display()))?;
        let mut w = BufWriter::new(f);
        let werr = |e: std::io::Error| format!("{}: {e}", target.display());
        writeln!(w, "{raw}").map_err(werr)?;
        while let Some((raw, f)) = rec.next(path)? {
            // A ragged row without the key columns is copied so the engine reports it with its error.
            let keep = key_of(&f, &pos).is_none_or(|k| keys.contains(&k));
            if keep {
                writeln!(w, "{raw}").map_err(werr)?;
            }
        }
        w.flush().map_err(werr)?;
        out.push(target);
    }
    Ok(Prepared {
        dir: dir.to_path_buf(),
        right: out.pop().unwrap_or_default(),
        left: out.pop().unwrap_or_default(),
        keys: keys.len(),
    })
}
