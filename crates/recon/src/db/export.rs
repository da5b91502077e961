//! A database table or query as an input of the file engine: its rows are streamed (never held
//! in memory) through the canonical expressions into a temporary UTF-8 CSV file, which the
//! engine then reads like any other input — the same normalisation, counts and details.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use super::DbSide;
use crate::details::csv_field;
use crate::job::{JobSpec, Side, SideSpec};
use crate::{Progress, ReconError};

/// Stream one database side into `dir/<side>.csv` (header = the job's column names; NULL is an
/// unquoted empty field, '' a quoted one). Returns the file and the number of rows.
pub async fn export_side(
    spec: &SideSpec,
    side: Side,
    dir: &Path,
    cancel: &std::sync::atomic::AtomicBool,
    progress: &Progress,
) -> Result<(PathBuf, u64), ReconError> {
    let n = side.name();
    for (set, field) in [
        (spec.path.is_some(), "path"),
        (spec.delimiter.is_some(), "delimiter"),
        (spec.encoding.is_some(), "encoding"),
        (spec.columns.is_some(), "columns"),
        (spec.null_token.is_some(), "null_token"),
        (spec.header.is_some(), "header"),
    ] {
        if set {
            return Err(ReconError::Job {
                field: format!("{n}.{field}"),
                msg: "is for files; this side reads from a database".into(),
            });
        }
    }
    let mut s = DbSide::open(spec, side, false).await?;
    let mut sel = Vec::with_capacity(s.cols.len());
    for c in &s.cols {
        sel.push(s.canon(&c.name, None)?);
    }
    if sel.is_empty() {
        return Err(ReconError::Job {
            field: format!("{n}.table"),
            msg: "no columns".into(),
        });
    }
    let path = dir.join(format!("{n}.csv"));
    let io = |e: std::io::Error| ReconError::Io {
        path: path.display().to_string(),
        source: e,
    };
    let mut out = BufWriter::with_capacity(1 << 20, File::create(&path).map_err(io)?);
    let mut line = Vec::with_capacity(256);
    for (i, c) in s.cols.iter().enumerate() {
        if i > 0 {
            line.push(b',');
        }
        csv_field(Some(&c.name), &mut line);
    }
    line.extend_from_slice(b"\n");
    out.write_all(&line).map_err(io)?;
    let sql = format!("SELECT {} FROM {}", sel.join(", "), s.from);
    let mut rows = 0u64;
    let mut werr = None;
    s.for_each(&sql, |r| {
        line.clear();
        for (i, v) in r.iter().enumerate() {
            if i > 0 {
                line.push(b',');
            }
            csv_field(v.as_deref(), &mut line);
        }
        line.push(b'\n');
        if let Err(e) = out.write_all(&line) {
            werr = Some(e);
            return Err(ReconError::Cancelled);
        }
        rows += 1;
        if rows.is_multiple_of(8192) {
            progress.rows.fetch_add(8192, Ordering::Relaxed);
            if cancel.load(Ordering::Relaxed) {
                return Err(ReconError::Cancelled);
            }
        }
        Ok(())
    })
    .await
    .map_err(|e| match werr.take() {
        Some(w) => io(w),
        None => e,
    })?;
    out.flush().map_err(io)?;
    s.close().await;
    Ok((path, rows))
}

/// Run a file-mode job whose sides may be databases: database sides are exported to temporary
/// files under the job's `temp_dir` (removed afterwards), then the file engine runs.
pub(crate) async fn run_file_mode(
    job: &JobSpec,
    opts: crate::RunOptions,
) -> Result<crate::Report, ReconError> {
    let mut job = job.clone();
    let tmp = match &job.temp_dir {
        Some(d) => tempfile::Builder::new()
            .prefix("tianshu-recon-db-")
            .tempdir_in(d),
        None => tempfile::Builder::new()
            .prefix("tianshu-recon-db-")
            .tempdir(),
    }
    .map_err(|e| ReconError::Io {
        path: "temp_dir".into(),
        source: e,
    })?;
    let dir = tmp.path().to_path_buf();
    let (cancel, progress) = (opts.cancel.clone(), opts.progress.clone());
    let lspec = job.left.clone();
    let rspec = job.right.clone();
    let (a, b) = tokio::join!(
        async {
            if lspec.is_database() {
                export_side(&lspec, Side::Left, &dir, &cancel, &progress)
                    .await
                    .map(Some)
            } else {
                Ok(None)
            }
        },
        async {
            if rspec.is_database() {
                export_side(&rspec, Side::Right, &dir, &cancel, &progress)
                    .await
                    .map(Some)
            } else {
                Ok(None)
            }
        }
    );
    for (res, side) in [(a?, &mut job.left), (b?, &mut job.right)] {
        if let Some((p, _)) = res {
            // The export wrote the job's (renamed) column names as a plain UTF-8 CSV header.
            *side = SideSpec {
                path: Some(p),
                ..SideSpec::default()
            };
        }
    }
    let out = tokio::task::spawn_blocking(move || crate::engine::run(&job, opts))
        .await
        .map_err(|e| ReconError::Io {
            path: "reconciliation task".into(),
            source: std::io::Error::other(e.to_string()),
        })?;
    drop(tmp);
    out
}
