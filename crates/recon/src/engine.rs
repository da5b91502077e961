//! The three passes: scan (hash and partition), match (sort-merge per partition), column details.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rapidhash::v3::{rapidhash_v3_seeded, RapidSecrets};

use crate::input::{check_file, Next, RecordReader};
use crate::job::{BadRowPolicy, Format, JobSpec, Side};
use crate::normalize::ColNorm;
use crate::{DiffKind, Difference, Progress, ReconError, Report, RunOptions};

static KEY_A: RapidSecrets = RapidSecrets::seed(0x7469_616e_7368_7531);
static KEY_B: RapidSecrets = RapidSecrets::seed(0x5245_432d_6b65_7932);
static ROW: RapidSecrets = RapidSecrets::seed(0x5245_432d_726f_7733);
static COL: RapidSecrets = RapidSecrets::seed(0x5245_432d_636f_6c34);

/// Number of partitions (top 8 bits of the key hash).
const PARTS: usize = 256;
const REC_BYTES: usize = 32;
const DEFAULT_BUDGET_MB: u64 = 1024;
const DEFAULT_SAMPLE: usize = 100;

/// The compact per-row record of pass 1.
#[derive(Clone, Copy, Debug)]
struct Rec {
    key: u128,
    row: u64,
    /// Offset of the record in the decoded stream of its file (unique per side, in file order).
    off: u64,
}

impl Rec {
    fn to_bytes(self) -> [u8; REC_BYTES] {
        let mut b = [0u8; REC_BYTES];
        b[..16].copy_from_slice(&self.key.to_le_bytes());
        b[16..24].copy_from_slice(&self.row.to_le_bytes());
        b[24..].copy_from_slice(&self.off.to_le_bytes());
        b
    }
    fn from_bytes(b: &[u8]) -> Rec {
        let mut k = [0u8; 16];
        k.copy_from_slice(&b[..16]);
        let mut r = [0u8; 8];
        r.copy_from_slice(&b[16..24]);
        let mut o = [0u8; 8];
        o.copy_from_slice(&b[24..32]);
        Rec {
            key: u128::from_le_bytes(k),
            row: u64::from_le_bytes(r),
            off: u64::from_le_bytes(o),
        }
    }
}

/// Hash of one compared column's normalised value (the row hash and the per-column counts share it).
#[inline(always)]
fn col_hash(b: &[u8]) -> u64 {
    rapidhash_v3_seeded(b, &COL)
}

#[inline]
fn key_hash(b: &[u8]) -> u128 {
    ((rapidhash_v3_seeded(b, &KEY_A) as u128) << 64) | rapidhash_v3_seeded(b, &KEY_B) as u128
}

/// Columns of one side resolved against the job.
struct SideCtx {
    side: Side,
    fmt: Format,
    ncols: usize,
    keys: Vec<(usize, ColNorm)>,
    cols: Vec<(usize, ColNorm)>,
}

/// Partitioned records of one side, in memory and (past the budget) in files.
struct Partitions {
    mem: Vec<Vec<Rec>>,
    files: Vec<Option<BufWriter<File>>>,
    paths: Vec<PathBuf>,
    buffered: usize,
    budget_recs: usize,
    spilled: bool,
}

impl Partitions {
    /// `tag` names the spill files: the side, and the chunk when a file is scanned in chunks.
    fn new(dir: &Path, tag: &str, budget_bytes: u64) -> Self {
        Partitions {
            mem: (0..PARTS).map(|_| Vec::new()).collect(),
            files: (0..PARTS).map(|_| None).collect(),
            paths: (0..PARTS)
                .map(|p| dir.join(format!("{tag}-{p:03}.bin")))
                .collect(),
            buffered: 0,
            budget_recs: (budget_bytes as usize / REC_BYTES).max(PARTS * 64),
            spilled: false,
        }
    }

    #[inline]
    fn push(&mut self, r: Rec) -> Result<(), ReconError> {
        let p = (r.key >> 120) as usize;
        self.mem[p].push(r);
        self.buffered += 1;
        if self.buffered >= self.budget_recs {
            self.spill()?;
        }
        Ok(())
    }

    fn spill(&mut self) -> Result<(), ReconError> {
        self.spilled = true;
        for p in 0..PARTS {
            if self.mem[p].is_empty() {
                continue;
            }
            let path = &self.paths[p];
            let ioe = |e| ReconError::Io {
                path: path.display().to_string(),
                source: e,
            };
            if self.files[p].is_none() {
                let f = File::create(path).map_err(ioe)?;
                self.files[p] = Some(BufWriter::with_capacity(1 << 15, f));
            }
            let Some(w) = self.files[p].as_mut() else {
                continue;
            };
            for r in self.mem[p].drain(..) {
                w.write_all(&r.to_bytes()).map_err(ioe)?;
            }
            // Give the memory back: the point of spilling.
            self.mem[p].shrink_to(0);
        }
        self.buffered = 0;
        Ok(())
    }

    fn finish(&mut self) -> Result<(), ReconError> {
        for (p, f) in self.files.iter_mut().enumerate() {
            if let Some(w) = f.as_mut() {
                w.flush().map_err(|e| ReconError::Io {
                    path: self.paths[p].display().to_string(),
                    source: e,
                })?;
            }
        }
        Ok(())
    }

    /// All records of partition `p`, in file order (spilled ones first: they were read first).
    fn take(&mut self, p: usize) -> Result<Vec<Rec>, ReconError> {
        let mem = std::mem::take(&mut self.mem[p]);
        if self.files[p].take().is_none() {
            return Ok(mem);
        }
        let path = &self.paths[p];
        let mut bytes = Vec::new();
        File::open(path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(|e| ReconError::Io {
                path: path.display().to_string(),
                source: e,
            })?;
        let _ = std::fs::remove_file(path);
        let mut v = Vec::with_capacity(bytes.len() / REC_BYTES + mem.len());
        v.extend(bytes.chunks_exact(REC_BYTES).map(Rec::from_bytes));
        v.extend(mem);
        Ok(v)
    }
}

/// Where bad rows go under `bad_rows = "reject"`.
struct Rejects {
    rows: BufWriter<File>,
    log: BufWriter<File>,
    path: PathBuf,
}

/// Pass 1 of one side: its partitions, one set per chunk scanned.
struct ScanOut {
    rows: u64,
    rejected: u64,
    parts: Vec<Partitions>,
}

/// Pass 1 of one chunk of a side.
struct Chunk {
    rows: u64,
    rejected: u64,
    parts: Partitions,
    /// Offset of the first record not scanned (it starts at or after the chunk's end), or the end of input.
    end: u64,
}

/// All records of partition `p` of one side, over its chunks.
fn take_side(parts: &mut [Partitions], p: usize) -> Result<Vec<Rec>, ReconError> {
    if let [one] = parts {
        return one.take(p);
    }
    let mut v = Vec::new();
    for x in parts {
        v.extend(x.take(p)?);
    }
    Ok(v)
}

fn header_names(rd: &mut RecordReader, fmt: &Format) -> Result<Vec<String>, ReconError> {
    let names: Vec<String> = if fmt.header {
        match rd.next()? {
            Next::Record => (0..rd.nfields())
                .map(|i| String::from_utf8_lossy(rd.field(i).0).trim().to_string())
                .collect(),
            Next::BadEncoding => {
                return Err(ReconError::Input {
                    path: rd.display().into(),
                    line: rd.rec_line,
                    msg: "header: invalid UTF-8".into(),
                })
            }
            Next::End => {
                return Err(ReconError::Input {
                    path: rd.display().into(),
                    line: 1,
                    msg: "empty file: a header line was expected".into(),
                })
            }
        }
    } else {
        fmt.columns.clone().unwrap_or_default()
    };
    let names: Vec<String> = names
        .into_iter()
        .map(|n| fmt.rename.get(&n).cloned().unwrap_or(n))
        .collect();
    for (i, n) in names.iter().enumerate() {
        if names[..i].contains(n) {
            return Err(ReconError::Input {
                path: rd.display().into(),
                line: 1,
                msg: format!("column {n:?} appears twice in the header"),
            });
        }
    }
    Ok(names)
}

fn missing_col(rd: &RecordReader, fmt: &Format, what: &str, name: &str) -> ReconError {
    if fmt.header {
        ReconError::Input {
            path: rd.display().into(),
            line: 1,
            msg: format!("{what} column {name:?} is not in the header"),
        }
    } else {
        ReconError::Job {
            field: "columns".into(),
            msg: format!(
                "{what} column {name:?} is not in the declared schema of {}",
                rd.display()
            ),
        }
    }
}

/// Run a reconciliation.
pub fn run(job: &JobSpec, opts: RunOptions) -> Result<Report, ReconError> {
    if job.key.is_empty() {
        return Err(ReconError::Job {
            field: "key".into(),
            msg: "at least one key column is required".into(),
        });
    }
    if job.bad_rows == BadRowPolicy::Reject && job.reject_dir.is_none() {
        return Err(ReconError::Job {
            field: "reject_dir".into(),
            msg: "required with bad_rows = \"reject\"".into(),
        });
    }
    let lf = job.left.check(Side::Left)?;
    let rf = job.right.check(Side::Right)?;
    let progress = opts.progress.clone();
    progress
        .left_total
        .store(check_file(&lf.path)?, Ordering::Relaxed);
    progress
        .right_total
        .store(check_file(&rf.path)?, Ordering::Relaxed);
    let lcount = Arc::new(AtomicU64::new(0));
    let rcount = Arc::new(AtomicU64::new(0));
    let mut lrd = RecordReader::open(&lf, lcount.clone(), RecordReader::scan_chunk())?;
    let mut rrd = RecordReader::open(&rf, rcount.clone(), RecordReader::scan_chunk())?;
    let lnames = header_names(&mut lrd, &lf)?;
    let rnames = header_names(&mut rrd, &rf)?;

    // Resolve keys and compared columns.
    let pos = |names: &[String], n: &str| names.iter().position(|x| x == n);
    for k in &job.key {
        if pos(&lnames, k).is_none() {
            return Err(missing_col(&lrd, &lf, "key", k));
        }
        if pos(&rnames, k).is_none() {
            return Err(missing_col(&rrd, &rf, "key", k));
        }
    }
    for c in job.normalize.keys() {
        if pos(&lnames, c).is_none() && pos(&rnames, c).is_none() {
            return Err(ReconError::Job {
                field: format!("normalize.{c}"),
                msg: "no such column in either file".into(),
            });
        }
    }
    let skip = |c: &String| job.key.contains(c) || job.ignore.contains(c);
    let columns: Vec<String> = match &job.columns {
        Some(cols) => {
            for c in cols {
                if pos(&lnames, c).is_none() {
                    return Err(missing_col(&lrd, &lf, "compared", c));
                }
                if pos(&rnames, c).is_none() {
                    return Err(missing_col(&rrd, &rf, "compared", c));
                }
            }
            cols.iter()
                .filter(|c| !job.key.contains(c))
                .cloned()
                .collect()
        }
        None => {
            for c in rnames.iter().filter(|c| !skip(c)) {
                if pos(&lnames, c).is_none() {
                    return Err(missing_col(&lrd, &lf, "right file's", c));
                }
            }
            let mut cols = Vec::new();
            for c in lnames.iter().filter(|c| !skip(c)) {
                if pos(&rnames, c).is_none() {
                    return Err(missing_col(&rrd, &rf, "left file's", c));
                }
                cols.push(c.clone());
            }
            cols
        }
    };
    let ctx = |side: Side, fmt: Format, names: &[String]| SideCtx {
        side,
        ncols: names.len(),
        keys: job
            .key
            .iter()
            .map(|k| {
                let i = pos(names, k).unwrap_or(0);
                (
                    i,
                    ColNorm::new(job.normalize.get(k), side, &fmt.null_token, job.null_policy),
                )
            })
            .collect(),
        cols: columns
            .iter()
            .map(|c| {
                let i = pos(names, c).unwrap_or(0);
                (
                    i,
                    ColNorm::new(job.normalize.get(c), side, &fmt.null_token, job.null_policy),
                )
            })
            .collect(),
        fmt,
    };
    let lctx = ctx(Side::Left, lf, &lnames);
    let rctx = ctx(Side::Right, rf, &rnames);

    let tmp = match &job.temp_dir {
        Some(d) => tempfile::Builder::new()
            .prefix("tianshu-recon-")
            .tempdir_in(d),
        None => tempfile::Builder::new().prefix("tianshu-recon-").tempdir(),
    }
    .map_err(|e| ReconError::Io {
        path: job
            .temp_dir
            .as_ref()
            .map(|d| d.display().to_string())
            .unwrap_or_else(|| std::env::temp_dir().display().to_string()),
        source: e,
    })?;
    let budget = job.memory_budget_mb.unwrap_or(DEFAULT_BUDGET_MB) << 20;
    let rejects = |side: Side| -> Result<Option<Rejects>, ReconError> {
        if job.bad_rows != BadRowPolicy::Reject {
            return Ok(None);
        }
        let dir = job.reject_dir.clone().unwrap_or_default();
        let ioe = |p: &Path| {
            let p = p.display().to_string();
            move |e| ReconError::Io { path: p, source: e }
        };
        std::fs::create_dir_all(&dir).map_err(ioe(&dir))?;
        let rp = dir.join(format!("{}.rejected", side.name()));
        let lp = dir.join(format!("{}.rejected.log", side.name()));
        Ok(Some(Rejects {
            rows: BufWriter::new(File::create(&rp).map_err(ioe(&rp))?),
            log: BufWriter::new(File::create(&lp).map_err(ioe(&lp))?),
            path: lp,
        }))
    };
    let lrej = rejects(Side::Left)?;
    let rrej = rejects(Side::Right)?;

    // Pass 1: both sides at once.
    let cancel = opts.cancel.clone();
    let dir = tmp.path();
    let chunks = opts.scan_chunks;
    let (lres, rres) = std::thread::scope(|s| {
        let (c1, c2) = (&cancel, &cancel);
        let (p1, p2) = (&progress, &progress);
        let lh = s.spawn(move || {
            let half = budget / 2;
            scan_side(lrd, &lctx, dir, half, lrej, c1, p1, &lcount, true, chunks).map(|o| (o, lctx))
        });
        let rr = scan_side(
            rrd,
            &rctx,
            dir,
            budget / 2,
            rrej,
            c2,
            p2,
            &rcount,
            false,
            chunks,
        )
        .map(|o| (o, rctx));
        let lr = lh.join().unwrap_or_else(|_| {
            Err(ReconError::Io {
                path: "left".into(),
                source: std::io::Error::other("scan thread panicked"),
            })
        });
        (lr, rr)
    });
    let (lout, lctx) = lres?;
    let (rout, rctx) = rres?;
    progress.phase.store(1, Ordering::Relaxed);

    // Pass 2: match partition pairs on all cores.
    let want_all = opts.details.is_some();
    let sample = job.sample_size.unwrap_or(DEFAULT_SAMPLE);
    let keep = if want_all { usize::MAX } else { sample };
    let spilled = lout.parts.iter().chain(&rout.parts).any(|p| p.spilled);
    let work: Mutex<(Vec<Partitions>, Vec<Partitions>)> = Mutex::new((lout.parts, rout.parts));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Matched)>> = Mutex::new(Vec::new());
    let failure: Mutex<Option<ReconError>> = Mutex::new(None);
    // Partitions are independent: one worker per core, at most 8 (each holds a partition pair in
    // memory, which bounds the memory this pass adds).
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 8));
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let p = next.fetch_add(1, Ordering::Relaxed);
                if p >= PARTS || cancel.load(Ordering::Relaxed) {
                    break;
                }
                let taken = {
                    let mut g = match work.lock() {
                        Ok(g) => g,
                        Err(_) => break,
                    };
                    let l = take_side(&mut g.0, p);
                    let r = take_side(&mut g.1, p);
                    l.and_then(|l| r.map(|r| (l, r)))
                };
                match taken {
                    Ok((l, r)) => {
                        let m = match_partition(l, r, keep);
                        if let Ok(mut g) = results.lock() {
                            g.push((p, m));
                        }
                    }
                    Err(e) => {
                        if let Ok(mut f) = failure.lock() {
                            f.get_or_insert(e);
                        }
                        break;
                    }
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().ok().flatten() {
        return Err(e);
    }
    if cancel.load(Ordering::Relaxed) {
        return Err(ReconError::Cancelled);
    }
    let mut all = Matched::default();
    // Partition order, not completion order: samples are the same from run to run.
    let mut results = results.into_inner().unwrap_or_default();
    results.sort_unstable_by_key(|(p, _)| *p);
    for (_, m) in results {
        all.absorb(m, keep);
    }
    drop(work);

    // Accounting: every row read is classified exactly once.
    if lout.rows != all.only_left + all.changed + all.identical + all.dup_left + lout.rejected
        || rout.rows != all.only_right + all.changed + all.identical + all.dup_right + rout.rejected
    {
        return Err(ReconError::Io {
            path: "accounting".into(),
            source: std::io::Error::other(format!(
                "internal: rows do not add up (left {} right {}, matched {:?})",
                lout.rows,
                rout.rows,
                (
                    all.only_left,
                    all.only_right,
                    all.changed,
                    all.identical,
                    all.dup_left,
                    all.dup_right
                )
            )),
        });
    }

    // Pass 3: re-read rows that differ.
    progress.phase.store(2, Ordering::Relaxed);
    let mut per_column: BTreeMap<String, u64> = columns.iter().map(|c| (c.clone(), 0)).collect();
    let mut samples: Vec<Difference> = Vec::new();
    let mut sink = opts.details;
    let mut emit = |d: Difference, samples: &mut Vec<Difference>| -> Result<(), ReconError> {
        if samples.iter().filter(|s| s.kind == d.kind).count() < sample {
            samples.push(d.clone());
        }
        if let Some(s) = sink.as_mut() {
            s.write(&d)?;
        }
        Ok(())
    };
    // Values (for details and the sample) of every difference with details, else of the first
    // `sample` changed keys only; the per-column counts need only hashes.
    let mut pairs = all.pairs;
    pairs.sort_unstable_by_key(|p| p.1);
    let (mut lval, mut rval): (Vec<u64>, Vec<u64>) = pairs.iter().take(sample).copied().unzip();
    lval.sort_unstable();
    rval.sort_unstable();
    let mut lwant: Vec<u64> = pairs.iter().map(|p| p.0).collect();
    lwant.extend(&all.ol);
    lwant.extend(&all.dl);
    lwant.sort_unstable();
    let mut rwant: Vec<u64> = pairs.iter().map(|p| p.1).collect();
    rwant.extend(&all.or);
    rwant.extend(&all.dr);
    rwant.sort_unstable();
    let (lcap, rcap) = std::thread::scope(|s| {
        let h = s.spawn(|| capture(&lctx, &lwant, want_all, &lval, &cancel));
        let r = capture(&rctx, &rwant, want_all, &rval, &cancel);
        let l = h.join().unwrap_or_else(|_| {
            Err(ReconError::Io {
                path: "left".into(),
                source: std::io::Error::other("details thread panicked"),
            })
        });
        (l, r)
    });
    let (lcap, rcap) = (lcap?, rcap?);
    for (lo, ro) in &pairs {
        let (Some(l), Some(r)) = (lcap.get(lo), rcap.get(ro)) else {
            continue;
        };
        for (c, name) in columns.iter().enumerate() {
            if l.hashes[c] != r.hashes[c] {
                if let Some(n) = per_column.get_mut(name) {
                    *n += 1;
                }
                emit(
                    Difference {
                        kind: DiffKind::Changed,
                        key: r.key.clone(),
                        column: Some(name.clone()),
                        left: l.values.get(c).cloned().flatten(),
                        right: r.values.get(c).cloned().flatten(),
                    },
                    &mut samples,
                )?;
            }
        }
    }
    let simple = |kind, offs: &[u64], cap: &HashMap<u64, Captured>| -> Vec<Difference> {
        offs.iter()
            .filter_map(|o| cap.get(o))
            .map(|c| Difference {
                kind,
                key: c.key.clone(),
                column: None,
                left: None,
                right: None,
            })
            .collect()
    };
    for (kind, offs, cap) in [
        (DiffKind::OnlyLeft, &all.ol, &lcap),
        (DiffKind::OnlyRight, &all.or, &rcap),
        (DiffKind::DuplicateLeft, &all.dl, &lcap),
        (DiffKind::DuplicateRight, &all.dr, &rcap),
    ] {
        let mut offs = offs.clone();
        offs.sort_unstable();
        for d in simple(kind, &offs, cap) {
            emit(d, &mut samples)?;
        }
    }
    if let Some(s) = sink {
        s.finish()?;
    }
    progress.phase.store(3, Ordering::Relaxed);
    let union = all.only_left + all.only_right + all.changed + all.identical;
    Ok(Report {
        only_left: all.only_left,
        only_right: all.only_right,
        changed: all.changed,
        identical: all.identical,
        duplicate_keys_left: all.dup_left,
        duplicate_keys_right: all.dup_right,
        per_column,
        consistency: if union == 0 {
            1.0
        } else {
            all.identical as f64 / union as f64
        },
        rows_left: lout.rows,
        rows_right: rout.rows,
        rejected_left: lout.rejected,
        rejected_right: rout.rejected,
        key: job.key.clone(),
        columns,
        spilled,
        sample: samples,
    })
}

#[allow(clippy::too_many_arguments)]
fn scan(
    rd: &mut RecordReader,
    ctx: &SideCtx,
    mut parts: Partitions,
    mut rej: Option<Rejects>,
    cancel: &AtomicBool,
    progress: &Progress,
    raw: &AtomicU64,
    left: bool,
    end: u64,
) -> Result<Chunk, ReconError> {
    let mut kb: Vec<u8> = Vec::with_capacity(64);
    // The row's column hashes, hashed again as one row hash.
    let mut rb: Vec<u8> = vec![0; 8 * ctx.cols.len()];
    let mut rows = 0u64;
    let mut rejected = 0u64;
    let mut since = 0u32;
    let report = |rows_delta: u64| {
        progress.rows.fetch_add(rows_delta, Ordering::Relaxed);
        let b = raw.load(Ordering::Relaxed);
        if left {
            progress.left_bytes.store(b, Ordering::Relaxed);
        } else {
            progress.right_bytes.store(b, Ordering::Relaxed);
        }
    };
    let stop = loop {
        let next = rd.next()?;
        if matches!(next, Next::End) {
            break rd.position();
        }
        if rd.rec_offset >= end {
            break rd.rec_offset;
        }
        let bad = match next {
            Next::End => None,
            Next::BadEncoding => Some("invalid UTF-8".to_string()),
            Next::Record if rd.nfields() != ctx.ncols => Some(format!(
                "expected {} fields, found {}",
                ctx.ncols,
                rd.nfields()
            )),
            Next::Record => None,
        };
        rows += 1;
        since += 1;
        if since == 1 << 16 {
            report(since as u64);
            since = 0;
            if cancel.load(Ordering::Relaxed) {
                return Err(ReconError::Cancelled);
            }
        }
        if let Some(msg) = bad {
            let Some(r) = rej.as_mut() else {
                return Err(ReconError::Input {
                    path: rd.display().into(),
                    line: rd.rec_line,
                    msg,
                });
            };
            let ioe = |e| ReconError::Io {
                path: r.path.display().to_string(),
                source: e,
            };
            r.rows
                .write_all(rd.raw())
                .and_then(|_| r.rows.write_all(b"\n"))
                .map_err(ioe)?;
            writeln!(r.log, "{}:{}: {msg}", rd.display(), rd.rec_line).map_err(ioe)?;
            rejected += 1;
            continue;
        }
        kb.clear();
        for (i, n) in &ctx.keys {
            let (f, q) = rd.field(*i);
            n.encode(f, q, &mut kb);
        }
        for ((i, n), h) in ctx.cols.iter().zip(rb.chunks_exact_mut(8)) {
            let (f, q) = rd.field(*i);
            h.copy_from_slice(&n.value_hash(f, q, col_hash).to_le_bytes());
        }
        parts.push(Rec {
            key: key_hash(&kb),
            row: rapidhash_v3_seeded(&rb, &ROW),
            off: rd.rec_offset,
        })?;
    };
    report(since as u64);
    parts.finish()?;
    if let Some(mut r) = rej {
        let ioe = |e| ReconError::Io {
            path: r.path.display().to_string(),
            source: e,
        };
        r.rows.flush().map_err(ioe)?;
        r.log.flush().map_err(ioe)?;
    }
    let _ = ctx.side;
    Ok(Chunk {
        rows,
        rejected,
        parts,
        end: stop,
    })
}

/// Pass 1 of one side. A plain UTF-8 file large enough is scanned in chunks on parallel threads:
/// chunk i starts at the first line after its byte boundary, which is a record start unless a quoted
/// line break spans the boundary. So the chunks are checked in file order: each must start exactly
/// where the previous one's last record ended, and one that does not is scanned again from there
/// (at worst sequentially). Errors are reported for the first chunk in file order, with the line
/// counted from the start of the file, exactly as one sequential scan would.
#[allow(clippy::too_many_arguments)]
fn scan_side(
    mut rd: RecordReader,
    ctx: &SideCtx,
    dir: &Path,
    budget: u64,
    rej: Option<Rejects>,
    cancel: &AtomicBool,
    progress: &Progress,
    raw: &Arc<AtomicU64>,
    left: bool,
    chunks: Option<usize>,
) -> Result<ScanOut, ReconError> {
    let name = ctx.side.name();
    let start = rd.position();
    let size = std::fs::metadata(&ctx.fmt.path).map_or(0, |m| m.len());
    let span = size.saturating_sub(start);
    let chunks = chunks.unwrap_or_else(|| {
        // Both sides scan at once: half the cores each, and no chunk under 32 MiB.
        let per_side = std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1));
        per_side.min((span >> 25) as usize)
    });
    // Reject files are written in file order, so a side with a reject policy scans in one piece.
    let chunks = if rej.is_none() && rd.seekable() {
        chunks.clamp(1, 64).min((span / 4096).max(1) as usize)
    } else {
        1
    };
    if chunks == 1 {
        let parts = Partitions::new(dir, name, budget);
        let c = scan(
            &mut rd,
            ctx,
            parts,
            rej,
            cancel,
            progress,
            raw,
            left,
            u64::MAX,
        )?;
        return Ok(ScanOut {
            rows: c.rows,
            rejected: c.rejected,
            parts: vec![c.parts],
        });
    }
    let bounds: Vec<u64> = (0..=chunks as u64)
        .map(|i| start + span / chunks as u64 * i)
        .collect();
    let end_of = |i: usize| {
        if i + 1 == chunks {
            u64::MAX
        } else {
            bounds[i + 1]
        }
    };
    let budget = budget / chunks as u64;
    let open_at = |at: u64, sync: bool| -> Result<(RecordReader, u64), ReconError> {
        let mut r = RecordReader::open(&ctx.fmt, raw.clone(), RecordReader::scan_chunk())?;
        r.skip_to(at)?;
        if sync {
            r.skip_line()?;
        }
        let t = r.position();
        Ok((r, t))
    };
    let scanned: Vec<(u64, Result<Chunk, ReconError>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (1..chunks)
            .map(|i| {
                let (open_at, end_of) = (&open_at, &end_of);
                let from = bounds[i] - 1;
                s.spawn(move || {
                    // From the byte before the boundary: a record starting right at it is kept.
                    let (mut r, t) = match open_at(from, true) {
                        Ok(x) => x,
                        Err(e) => return (u64::MAX, Err(e)),
                    };
                    let parts = Partitions::new(dir, &format!("{name}-{i}"), budget);
                    let c = scan(
                        &mut r,
                        ctx,
                        parts,
                        None,
                        cancel,
                        progress,
                        raw,
                        left,
                        end_of(i),
                    );
                    (t, c)
                })
            })
            .collect();
        let parts = Partitions::new(dir, name, budget);
        let first = scan(
            &mut rd,
            ctx,
            parts,
            None,
            cancel,
            progress,
            raw,
            left,
            end_of(0),
        );
        let mut all = vec![(start, first)];
        for h in handles {
            all.push(h.join().unwrap_or_else(|_| {
                (
                    u64::MAX,
                    Err(ReconError::Io {
                        path: ctx.fmt.path.display().to_string(),
                        source: std::io::Error::other("scan thread panicked"),
                    }),
                )
            }));
        }
        all
    });
    let mut out = ScanOut {
        rows: 0,
        rejected: 0,
        parts: Vec::with_capacity(chunks),
    };
    let mut expected = start;
    for (i, (t, res)) in scanned.into_iter().enumerate() {
        let res = if t == expected {
            res
        } else {
            // A quoted line break spans the boundary: this chunk started inside a record.
            drop(res);
            let (mut r, _) = open_at(expected, false)?;
            let parts = Partitions::new(dir, &format!("{name}-{i}-again"), budget);
            scan(
                &mut r,
                ctx,
                parts,
                None,
                cancel,
                progress,
                raw,
                left,
                end_of(i),
            )
        };
        let c = match res {
            Err(ReconError::Input { path, line, msg }) if i > 0 => {
                return Err(ReconError::Input {
                    path,
                    line: line + lines_before(&ctx.fmt.path, expected)?,
                    msg,
                })
            }
            other => other?,
        };
        expected = c.end;
        out.rows += c.rows;
        out.rejected += c.rejected;
        out.parts.push(c.parts);
    }
    Ok(out)
}

/// Physical lines before byte `off` of a file (for the line number of an error in a later chunk).
fn lines_before(path: &Path, off: u64) -> Result<u64, ReconError> {
    let ioe = |e| ReconError::Io {
        path: path.display().to_string(),
        source: e,
    };
    let mut f = File::open(path).map_err(ioe)?.take(off);
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let got = f.read(&mut buf).map_err(ioe)?;
        if got == 0 {
            return Ok(n);
        }
        n += memchr::memchr_iter(b'\n', &buf[..got]).count() as u64;
    }
}

/// Classification of one partition (or of all of them, once absorbed).
#[derive(Default, Debug)]
struct Matched {
    only_left: u64,
    only_right: u64,
    changed: u64,
    identical: u64,
    dup_left: u64,
    dup_right: u64,
    /// (left offset, right offset) of changed keys: always all of them (per-column counts).
    pairs: Vec<(u64, u64)>,
    ol: Vec<u64>,
    or: Vec<u64>,
    dl: Vec<u64>,
    dr: Vec<u64>,
}

impl Matched {
    fn absorb(&mut self, m: Matched, keep: usize) {
        self.only_left += m.only_left;
        self.only_right += m.only_right;
        self.changed += m.changed;
        self.identical += m.identical;
        self.dup_left += m.dup_left;
        self.dup_right += m.dup_right;
        self.pairs.extend(m.pairs);
        for (dst, src) in [
            (&mut self.ol, m.ol),
            (&mut self.or, m.or),
            (&mut self.dl, m.dl),
            (&mut self.dr, m.dr),
        ] {
            let room = keep.saturating_sub(dst.len());
            dst.extend(src.into_iter().take(room));
        }
    }
}

/// Sort-merge one partition pair. Within a key, the first row in file order is the one compared;
/// later rows with the same key are duplicates (reported, never merged).
fn match_partition(mut l: Vec<Rec>, mut r: Vec<Rec>, keep: usize) -> Matched {
    l.sort_unstable_by(|a, b| a.key.cmp(&b.key).then(a.off.cmp(&b.off)));
    r.sort_unstable_by(|a, b| a.key.cmp(&b.key).then(a.off.cmp(&b.off)));
    let mut m = Matched::default();
    let (mut i, mut j) = (0, 0);
    let push = |v: &mut Vec<u64>, x: u64| {
        if v.len() < keep {
            v.push(x);
        }
    };
    while i < l.len() || j < r.len() {
        let k = match (l.get(i), r.get(j)) {
            (Some(a), Some(b)) => a.key.min(b.key),
            (Some(a), None) => a.key,
            (None, Some(b)) => b.key,
            (None, None) => break,
        };
        let li = i;
        while i < l.len() && l[i].key == k {
            i += 1;
        }
        let rj = j;
        while j < r.len() && r[j].key == k {
            j += 1;
        }
        for d in &l[(li + 1).min(i)..i] {
            m.dup_left += 1;
            push(&mut m.dl, d.off);
        }
        for d in &r[(rj + 1).min(j)..j] {
            m.dup_right += 1;
            push(&mut m.dr, d.off);
        }
        match (i > li, j > rj) {
            (true, true) => {
                if l[li].row == r[rj].row {
                    m.identical += 1;
                } else {
                    m.changed += 1;
                    m.pairs.push((l[li].off, r[rj].off));
                }
            }
            (true, false) => {
                m.only_left += 1;
                push(&mut m.ol, l[li].off);
            }
            (false, true) => {
                m.only_right += 1;
                push(&mut m.or, r[rj].off);
            }
            (false, false) => {}
        }
    }
    m
}

/// A row re-read in pass 3.
struct Captured {
    key: String,
    hashes: Vec<u64>,
    values: Vec<Option<String>>,
}

/// Re-read the rows at `offs` (sorted), seeking where the file allows it.
fn capture(
    ctx: &SideCtx,
    offs: &[u64],
    all_values: bool,
    value_offs: &[u64],
    cancel: &AtomicBool,
) -> Result<HashMap<u64, Captured>, ReconError> {
    let mut out = HashMap::with_capacity(offs.len());
    if offs.is_empty() {
        return Ok(out);
    }
    let mut rd = RecordReader::open(&ctx.fmt, Arc::new(AtomicU64::new(0)), 1 << 16)?.lazy_utf8();
    for (n, &off) in offs.iter().enumerate() {
        if n % 4096 == 0 && cancel.load(Ordering::Relaxed) {
            return Err(ReconError::Cancelled);
        }
        if out.contains_key(&off) {
            continue;
        }
        rd.skip_to(off)?;
        match rd.next()? {
            Next::Record if rd.nfields() == ctx.ncols => {}
            _ => {
                return Err(ReconError::Input {
                    path: rd.display().into(),
                    line: 0,
                    msg: format!("the file changed while it was being compared (offset {off})"),
                })
            }
        }
        let key = ctx
            .keys
            .iter()
            .map(|(i, _)| String::from_utf8_lossy(rd.field(*i).0).into_owned())
            .collect::<Vec<_>>()
            .join("|");
        let values = all_values || value_offs.binary_search(&off).is_ok();
        let mut hashes = Vec::with_capacity(ctx.cols.len());
        let mut vals = Vec::new();
        for (i, n) in &ctx.cols {
            let (f, q) = rd.field(*i);
            hashes.push(n.value_hash(f, q, col_hash));
            if values {
                vals.push(n.display(f, q));
            }
        }
        out.insert(
            off,
            Captured {
                key,
                hashes,
                values: vals,
            },
        );
    }
    Ok(out)
}
