//! `mode = "db"` for keys that are not one integer column: text keys and composite keys.
//!
//! Integer keys split into ranges by arithmetic ([`super::bisect`]); other keys cannot, so a range
//! `[lo, hi)` of key tuples is split at key values sampled from the data: every `n / factor`-th key
//! of the side holding more rows in the range (one sorted pass inside that database). Both servers
//! then compute, per segment, `count(*)` and the sum of the 60-bit row hashes, exactly as the
//! integer mode does; only segments that differ are split again or, once small, downloaded.
//!
//! The two servers must agree on the order of keys, or a row would fall in different segments on
//! each side. Text key parts are therefore ordered by their UTF-8 bytes on both: PostgreSQL
//! `COLLATE "C"`, MariaDB `CAST(CONVERT(… USING utf8mb4) AS BINARY)` (which also avoids MariaDB's
//! case-insensitive and trailing-space-blind default collations), and Rust's `String` order when
//! merging downloaded rows is the same byte order. Integer parts compare as numbers everywhere.
//! Boundary values go into SQL as literals: numbers, PostgreSQL strings with doubled quotes, and
//! MariaDB hex literals (no escaping questions at all).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::bisect::{compare, frag, h60, report, resolve_columns, DbStats, Emit, Tally};
use super::{DbSide, Dialect, Kind};
use crate::job::{JobSpec, NullPolicy};
use crate::{ReconError, Report, RunOptions};

const DEFAULT_SAMPLE: usize = 100;
/// Levels after which a mismatching range is downloaded whatever its size (a safety net: sampled
/// boundaries shrink every range by about `factor` per level).
const MAX_DEPTH: u32 = 48;

/// One part of a key: integers compare as numbers, text by its UTF-8 bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Part {
    Int(i128),
    Text(String),
}

/// A key tuple, shown as its parts joined with `|`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Key(Vec<Part>);

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("|")?;
            }
            match p {
                Part::Int(v) => write!(f, "{v}")?,
                Part::Text(v) => f.write_str(v)?,
            }
        }
        Ok(())
    }
}

/// One side's compiled SQL pieces.
struct Plan {
    dialect: Dialect,
    /// Kind (Int or Text) of each key part.
    kinds: Vec<Kind>,
    /// Source identifiers of the key columns.
    idents: Vec<String>,
    /// Order expressions of the key columns (byte order for text).
    ord: Vec<String>,
    /// Canonical text of the key columns (parsed back into parts).
    kcanon: Vec<String>,
    h60: String,
    canon: Vec<String>,
}

impl Plan {
    fn tuple(&self) -> String {
        format!("({})", self.ord.join(", "))
    }

    fn lit(&self, k: &Key) -> String {
        let parts: Vec<String> =
            k.0.iter()
                .map(|p| match (p, self.dialect) {
                    (Part::Int(v), _) if *v < 0 => format!("({v})"),
                    (Part::Int(v), _) => v.to_string(),
                    (Part::Text(t), Dialect::Postgres) => {
                        format!("'{}' COLLATE \"C\"", t.replace('\'', "''"))
                    }
                    (Part::Text(t), Dialect::MariaDb) => {
                        let hex: String = t.bytes().map(|b| format!("{b:02X}")).collect();
                        format!("X'{hex}'")
                    }
                })
                .collect();
        format!("({})", parts.join(", "))
    }

    /// `WHERE` condition of the range `[lo, hi)` (open ends unbounded).
    fn range(&self, lo: Option<&Key>, hi: Option<&Key>) -> String {
        let mut c = Vec::new();
        if let Some(lo) = lo {
            c.push(format!("{} >= {}", self.tuple(), self.lit(lo)));
        }
        if let Some(hi) = hi {
            c.push(format!("{} < {}", self.tuple(), self.lit(hi)));
        }
        if c.is_empty() {
            "1 = 1".into()
        } else {
            c.join(" AND ")
        }
    }

    /// The SQL text form of a count or sum (`…::text` / `CAST(… AS CHAR)`).
    fn text(&self, e: &str) -> String {
        match self.dialect {
            Dialect::Postgres => format!("({e})::text"),
            Dialect::MariaDb => format!("CAST({e} AS CHAR)"),
        }
    }

    /// A key from the first `kinds.len()` text values of a row.
    fn key(&self, row: &[Option<String>], side: &str) -> Result<Key, ReconError> {
        let bad = |what: &str| ReconError::Database {
            side: side.into(),
            msg: format!("key value {what}"),
        };
        self.kinds
            .iter()
            .enumerate()
            .map(|(i, k)| {
                let v = row
                    .get(i)
                    .cloned()
                    .flatten()
                    .ok_or_else(|| bad("is NULL"))?;
                Ok(match k {
                    Kind::Int => Part::Int(v.parse().map_err(|_| bad("is not an integer"))?),
                    _ => Part::Text(v),
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Key)
    }
}

fn plan(s: &DbSide, job: &JobSpec, columns: &[String], kinds: &[Kind]) -> Result<Plan, ReconError> {
    let null_equal = job.null_policy == NullPolicy::Equal;
    let (mut idents, mut ord, mut kcanon, mut frags) = (vec![], vec![], vec![], vec![]);
    for (name, kind) in job.key.iter().zip(kinds) {
        let c = s.col(name).ok_or_else(|| ReconError::Job {
            field: "key".into(),
            msg: format!("no column {name:?} on the {} side", s.side.name()),
        })?;
        let canon = kind.canon(s.dialect, &c.ident, None);
        ord.push(match (kind, s.dialect) {
            (Kind::Int, _) => c.ident.clone(),
            (_, Dialect::Postgres) => format!("({})::text COLLATE \"C\"", c.ident),
            (_, Dialect::MariaDb) => format!("CAST({canon} AS BINARY)"),
        });
        frags.push(frag(s.dialect, &canon, false));
        kcanon.push(canon);
        idents.push(c.ident.clone());
    }
    let mut canon = Vec::with_capacity(columns.len());
    for c in columns {
        let e = s.canon(c, job.normalize.get(c))?;
        frags.push(frag(s.dialect, &e, null_equal));
        canon.push(e);
    }
    let h60 = h60(s.dialect, &frags);
    Ok(Plan {
        dialect: s.dialect,
        kinds: kinds.to_vec(),
        idents,
        ord,
        kcanon,
        h60,
        canon,
    })
}

/// The kind of every key part: integer or text, the same on both sides.
fn key_kinds(job: &JobSpec, l: &DbSide, r: &DbSide) -> Result<Vec<Kind>, ReconError> {
    let mut kinds = Vec::with_capacity(job.key.len());
    for name in &job.key {
        let mut found = Vec::with_capacity(2);
        for s in [l, r] {
            let c = s.col(name).ok_or_else(|| ReconError::Job {
                field: "key".into(),
                msg: format!("no column {name:?} on the {} side", s.side.name()),
            })?;
            match c.kind {
                Some(k @ (Kind::Int | Kind::Text)) => found.push(k),
                _ => {
                    return Err(ReconError::Job {
                        field: "key".into(),
                        msg: format!(
                            "db mode keys must be integer or text columns; {name:?} on the {} side is {}",
                            s.side.name(),
                            c.ty
                        ),
                    })
                }
            }
        }
        if found[0] != found[1] {
            return Err(ReconError::Job {
                field: "key".into(),
                msg: format!(
                    "key column {name:?} must be of the same kind on both sides (integer or text): \
                     {} on the left, {} on the right",
                    l.col(name).map(|c| c.ty.as_str()).unwrap_or(""),
                    r.col(name).map(|c| c.ty.as_str()).unwrap_or("")
                ),
            });
        }
        kinds.push(found[0]);
    }
    Ok(kinds)
}

/// Rows, rows with a NULL key part, and duplicate key rows of one side.
async fn survey(s: &mut DbSide, p: &Plan) -> Result<(u64, u64), ReconError> {
    let nulls = p
        .idents
        .iter()
        .map(|i| format!("{i} IS NULL"))
        .collect::<Vec<_>>()
        .join(" OR ");
    let sql = match s.dialect {
        Dialect::Postgres => format!(
            "SELECT count(*)::text, (count(*) FILTER (WHERE {nulls}))::text, \
             (count(*) - count(DISTINCT {}))::text FROM {}",
            p.tuple(),
            s.from
        ),
        Dialect::MariaDb => format!(
            "SELECT CAST(COUNT(*) AS CHAR), CAST(COALESCE(SUM({nulls}), 0) AS CHAR), \
             CAST(COUNT(*) - COUNT(DISTINCT {}) AS CHAR) FROM {}",
            p.ord.join(", "),
            s.from
        ),
    };
    let rows = s.rows(&sql).await?;
    let get = |i: usize| {
        rows.first()
            .and_then(|r| r.get(i).cloned().flatten())
            .and_then(|v| v.parse::<u64>().ok())
    };
    let (Some(n), Some(nulls), Some(dups)) = (get(0), get(1), get(2)) else {
        return Err(s.err("survey", "no counts returned"));
    };
    if nulls > 0 {
        return Err(ReconError::Database {
            side: s.side.name().into(),
            msg: format!("{nulls} rows have a NULL key; db mode needs a key on every row"),
        });
    }
    Ok((n, dups))
}

/// Every `step`-th key of `[lo, hi)` in key order, without repeats and above `lo`.
async fn boundaries(
    s: &mut DbSide,
    p: &Plan,
    (lo, hi): (Option<&Key>, Option<&Key>),
    step: u64,
) -> Result<Vec<Key>, ReconError> {
    let cols: Vec<String> = p
        .kcanon
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{c} AS tianshu_k{i}"))
        .collect();
    let outer: Vec<String> = (0..p.kcanon.len())
        .map(|i| format!("tianshu_k{i}"))
        .collect();
    let sql = format!(
        "SELECT {} FROM (SELECT {}, ROW_NUMBER() OVER (ORDER BY {}) AS tianshu_rn FROM {} WHERE {}) q \
         WHERE tianshu_rn % {step} = 0 ORDER BY tianshu_rn",
        outer.join(", "),
        cols.join(", "),
        p.ord.join(", "),
        s.from,
        p.range(lo, hi)
    );
    let side = s.side.name();
    let mut out: Vec<Key> = Vec::new();
    for r in s.rows(&sql).await? {
        let k = p.key(&r, side)?;
        if lo.is_some_and(|lo| &k <= lo) || out.last().is_some_and(|last| last == &k) {
            continue;
        }
        out.push(k);
    }
    Ok(out)
}

/// Segment checksums of `[lo, hi)` split at `bounds`: segment index → (count, sum).
async fn checksums(
    s: &mut DbSide,
    p: &Plan,
    (lo, hi): (Option<&Key>, Option<&Key>),
    bounds: &[Key],
) -> Result<BTreeMap<usize, (u64, String)>, ReconError> {
    let t = p.tuple();
    let mut case = String::from("CASE");
    for (i, b) in bounds.iter().enumerate() {
        case.push_str(&format!(" WHEN {t} < {} THEN {i}", p.lit(b)));
    }
    case.push_str(&format!(" ELSE {} END", bounds.len()));
    let sql = format!(
        "SELECT {}, {}, {} FROM (SELECT {case} AS seg, {} AS h FROM {} WHERE {}) q GROUP BY seg",
        p.text("seg"),
        p.text("COUNT(*)"),
        p.text("SUM(h)"),
        p.h60,
        s.from,
        p.range(lo, hi)
    );
    let mut out = BTreeMap::new();
    for r in s.rows(&sql).await? {
        let seg = r.first().cloned().flatten().and_then(|v| v.parse().ok());
        let n = r.get(1).cloned().flatten().and_then(|v| v.parse().ok());
        let (Some(seg), Some(n)) = (seg, n) else {
            return Err(s.err("checksum query", "unexpected result row"));
        };
        out.insert(seg, (n, r.get(2).cloned().flatten().unwrap_or_default()));
    }
    Ok(out)
}

/// Rows of `[lo, hi)` in key order: (key, canonical values).
async fn download(
    s: &mut DbSide,
    p: &Plan,
    (lo, hi): (Option<&Key>, Option<&Key>),
) -> Result<Vec<(Key, Vec<Option<String>>)>, ReconError> {
    let mut sel: Vec<String> = p
        .kcanon
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{c} AS tianshu_k{i}"))
        .collect();
    sel.extend(
        p.canon
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c} AS tianshu_c{i}")),
    );
    let sql = format!(
        "SELECT {} FROM {} WHERE {} ORDER BY {}",
        sel.join(", "),
        s.from,
        p.range(lo, hi),
        p.ord.join(", ")
    );
    let n = p.kinds.len();
    let side = s.side.name();
    let mut out = Vec::new();
    s.for_each(&sql, |r| {
        out.push((p.key(r, side)?, r[n..].to_vec()));
        Ok(())
    })
    .await?;
    Ok(out)
}

/// A key range still to look at, with its row counts per side.
struct Pending {
    lo: Option<Key>,
    hi: Option<Key>,
    counts: (u64, u64),
}

pub(super) async fn run_sides(
    job: &JobSpec,
    opts: &mut RunOptions,
    l: &mut DbSide,
    r: &mut DbSide,
    factor: u32,
    threshold: u64,
    started: Instant,
) -> Result<(Report, DbStats), ReconError> {
    let kinds = key_kinds(job, l, r)?;
    let columns = resolve_columns(job, l, r)?;
    let (lp, rp) = (
        plan(l, job, &columns, &kinds)?,
        plan(r, job, &columns, &kinds)?,
    );
    let null_equal = job.null_policy == NullPolicy::Equal;
    let ((rows_left, ldup), (rows_right, rdup)) = {
        let (a, b) = tokio::join!(survey(l, &lp), survey(r, &rp));
        (a?, b?)
    };
    let mut stats = DbStats::default();
    let mut tally = Tally {
        per_column: vec![0; columns.len()],
        ..Default::default()
    };
    let mut emit = Emit {
        sample: job.sample_size.unwrap_or(DEFAULT_SAMPLE),
        details: opts.details.as_deref_mut(),
    };
    let cancel = opts.cancel.clone();
    let progress = opts.progress.clone();
    let mut level = vec![Pending {
        lo: None,
        hi: None,
        counts: (rows_left, rows_right),
    }];
    let mut depth = 0u32;
    while !level.is_empty() {
        let mut next = Vec::new();
        for Pending { lo, hi, counts } in level {
            if cancel.load(Ordering::Relaxed) {
                return Err(ReconError::Cancelled);
            }
            let range = (lo.as_ref(), hi.as_ref());
            let most = counts.0.max(counts.1);
            let mut bounds = Vec::new();
            if most > threshold && depth < MAX_DEPTH {
                // Sample from the side with more rows here, so every segment is small on it.
                let step = most.div_ceil(u64::from(factor)).max(1);
                bounds = if counts.0 >= counts.1 {
                    boundaries(l, &lp, range, step).await?
                } else {
                    boundaries(r, &rp, range, step).await?
                };
            }
            if bounds.is_empty() {
                let (a, b) = tokio::join!(download(l, &lp, range), download(r, &rp, range));
                let (a, b) = (a?, b?);
                stats.rows_downloaded += (a.len() + b.len()) as u64;
                progress
                    .rows
                    .fetch_add((a.len() + b.len()) as u64, Ordering::Relaxed);
                compare(&a, &b, &columns, null_equal, &mut tally, &mut emit)?;
                continue;
            }
            let (a, b) = tokio::join!(
                checksums(l, &lp, range, &bounds),
                checksums(r, &rp, range, &bounds)
            );
            let (a, b) = (a?, b?);
            stats.checksum_queries += 1;
            stats.checksum_rows += (a.len() + b.len()) as u64;
            for seg in 0..=bounds.len() {
                let (x, y) = (a.get(&seg), b.get(&seg));
                if x == y {
                    continue;
                }
                next.push(Pending {
                    lo: if seg == 0 {
                        lo.clone()
                    } else {
                        Some(bounds[seg - 1].clone())
                    },
                    hi: bounds.get(seg).cloned().or_else(|| hi.clone()),
                    counts: (x.map_or(0, |v| v.0), y.map_or(0, |v| v.0)),
                });
            }
        }
        if !next.is_empty() {
            depth += 1;
        }
        level = next;
    }
    stats.levels = depth;
    let report = report(job, tally, columns, (rows_left, rows_right), (ldup, rdup))?;
    stats.seconds = started.elapsed().as_secs_f64();
    progress.phase.store(3, Ordering::Relaxed);
    Ok((report, stats))
}
