//! `mode = "db"`: database-to-database comparison by bisecting key-range checksums.
//!
//! This file handles one integer key column (text and composite keys: [`super::ordered`]). For a key range `[lo, hi)` each database computes, per
//! segment of width `w`, `count(*)` and `sum` of the first 60 bits of `md5(row)` where `row` is
//! the canonical text of the key and every compared column, each length-prefixed (NULL is `N`),
//! joined with `|`. Segments whose count or sum differ are split again; a mismatching segment
//! with at most `download_threshold` rows per side is downloaded (canonical values, ordered by
//! key) and compared row by row. Identical segments are never downloaded, so a table is never
//! transferred as a whole unless every segment differs. Both sides run in one read-only
//! snapshot transaction each (REPEATABLE READ), so concurrent writes do not skew the counts.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::{DbSide, Dialect, Kind};
use crate::job::{JobSpec, NullPolicy, ReconMode, Side};
use crate::{DiffKind, Difference, ReconError, Report, RunOptions};

const DEFAULT_FACTOR: u32 = 32;
const DEFAULT_THRESHOLD: u64 = 1024;
const DEFAULT_SAMPLE: usize = 100;
/// Most segments one checksum query may return per side.
const MAX_FANOUT: u64 = 1 << 20;

/// What the db mode did (for the summary line and the benchmark).
#[derive(Debug, Clone, Default, serde::Serialize, PartialEq)]
pub struct DbStats {
    /// Checksum queries per side.
    pub checksum_queries: u64,
    /// Segment checksum rows received, both sides.
    pub checksum_rows: u64,
    /// Table rows downloaded for row-by-row comparison, both sides.
    pub rows_downloaded: u64,
    /// Deepest bisection level reached (1 = the whole key range split once).
    pub levels: u32,
    /// Seconds.
    pub seconds: f64,
}

/// A key range `[lo, hi)` still to look at, with its row counts per side when known.
type Pending = (i128, i128, Option<(u64, u64)>);

/// One side's compiled SQL pieces.
struct Plan {
    key: String,
    /// `md5(...)` row expression's 60-bit integer.
    h60: String,
    /// Canonical expressions of the compared columns.
    canon: Vec<String>,
}

pub(super) fn frag(d: Dialect, x: &str, null_equal: bool) -> String {
    let null = if null_equal { "0:" } else { "N" };
    match d {
        Dialect::Postgres => format!("COALESCE(length({x})::text || ':' || {x}, '{null}')"),
        Dialect::MariaDb => format!("COALESCE(CONCAT(CHAR_LENGTH({x}), ':', {x}), '{null}')"),
    }
}

fn key_col<'a>(s: &'a DbSide, job: &JobSpec) -> Result<&'a super::DbCol, ReconError> {
    let key = &job.key[0];
    let kc = s.col(key).ok_or_else(|| ReconError::Job {
        field: "key".into(),
        msg: format!("no column {key:?} on the {} side", s.side.name()),
    })?;
    if kc.kind != Some(Kind::Int) {
        return Err(ReconError::Job {
            field: "key".into(),
            msg: format!(
                "db mode needs an integer key column; {key:?} on the {} side is {}",
                s.side.name(),
                kc.ty
            ),
        });
    }
    Ok(kc)
}

fn plan(s: &DbSide, job: &JobSpec, columns: &[String]) -> Result<Plan, ReconError> {
    let kc = key_col(s, job)?;
    let kcanon = Kind::Int.canon(s.dialect, &kc.ident, None);
    let null_equal = job.null_policy == NullPolicy::Equal;
    let mut canon = Vec::with_capacity(columns.len());
    let mut frags = vec![frag(s.dialect, &kcanon, false)];
    for c in columns {
        let e = s.canon(c, job.normalize.get(c))?;
        frags.push(frag(s.dialect, &e, null_equal));
        canon.push(e);
    }
    Ok(Plan {
        key: kc.ident.clone(),
        h60: h60(s.dialect, &frags),
        canon,
    })
}

/// The first 60 bits of the MD5 of the `|`-joined row fragments, as an integer.
pub(super) fn h60(d: Dialect, frags: &[String]) -> String {
    match d {
        Dialect::Postgres => format!(
            "('x' || substr(md5({}), 1, 15))::bit(60)::bigint",
            frags.join(" || '|' || ")
        ),
        Dialect::MariaDb => format!(
            "CAST(CONV(SUBSTRING(MD5(CONCAT({})), 1, 15), 16, 10) AS UNSIGNED)",
            frags.join(", '|', ")
        ),
    }
}

fn check_rules(job: &JobSpec) -> Result<(), ReconError> {
    for (c, r) in &job.normalize {
        let bad = if r.trim {
            Some("trim")
        } else if r.case.is_some() {
            Some("case")
        } else if r.left_date_format.is_some() || r.right_date_format.is_some() {
            Some("left_date_format")
        } else if !r.map_left.is_empty() || !r.map_right.is_empty() {
            Some("map_left")
        } else {
            None
        };
        if let Some(f) = bad {
            return Err(ReconError::Job {
                field: format!("normalize.{c}.{f}"),
                msg: "not available in db mode (only scale): compare a query in file mode, or \
                      normalise in a view"
                    .into(),
            });
        }
    }
    Ok(())
}

fn lit(v: i128) -> String {
    if v < 0 {
        format!("({v})")
    } else {
        v.to_string()
    }
}

/// Segment checksums of `[lo, hi)` split into segments of width `w`: segment → (count, sum).
async fn checksums(
    s: &mut DbSide,
    p: &Plan,
    lo: i128,
    hi: i128,
    w: i128,
) -> Result<BTreeMap<i64, (u64, String)>, ReconError> {
    let sql = match s.dialect {
        Dialect::Postgres => format!(
            "SELECT seg::text, n::text, h::text FROM (SELECT ({k}::bigint - {lo}) / {w} AS seg, \
             count(*) AS n, sum({h}) AS h FROM {from} WHERE {k} >= {lo} AND {k} < {hi} \
             GROUP BY 1) q",
            k = p.key,
            lo = lit(lo),
            hi = lit(hi),
            h = p.h60,
            from = s.from
        ),
        Dialect::MariaDb => format!(
            "SELECT CAST(seg AS CHAR), CAST(n AS CHAR), CAST(h AS CHAR) FROM (SELECT \
             (CAST({k} AS SIGNED) - {lo}) DIV {w} AS seg, COUNT(*) AS n, SUM({h}) AS h \
             FROM {from} WHERE {k} >= {lo} AND {k} < {hi} GROUP BY 1) q",
            k = p.key,
            lo = lit(lo),
            hi = lit(hi),
            h = p.h60,
            from = s.from
        ),
    };
    let rows = s.rows(&sql).await?;
    let mut out = BTreeMap::new();
    for r in rows {
        let seg = r
            .first()
            .cloned()
            .flatten()
            .and_then(|v| v.parse::<i64>().ok());
        let n = r
            .get(1)
            .cloned()
            .flatten()
            .and_then(|v| v.parse::<u64>().ok());
        let (Some(seg), Some(n)) = (seg, n) else {
            return Err(s.err("checksum query", "unexpected result row"));
        };
        out.insert(seg, (n, r.get(2).cloned().flatten().unwrap_or_default()));
    }
    Ok(out)
}

/// Rows of `[lo, hi)` ordered by key: (key, canonical values).
async fn download(
    s: &mut DbSide,
    p: &Plan,
    lo: i128,
    hi: i128,
) -> Result<Vec<(i128, Vec<Option<String>>)>, ReconError> {
    // Aliased outputs: PostgreSQL and MariaDB resolve ORDER BY names to output columns first,
    // and `id::text` is named `id` — the key must be ordered as a number, not as text.
    let kc = Kind::Int.canon(s.dialect, &p.key, None);
    let mut sel = vec![format!("{kc} AS tianshu_k")];
    sel.extend(
        p.canon
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c} AS tianshu_c{i}")),
    );
    let sql = format!(
        "SELECT {} FROM {} WHERE {k} >= {} AND {k} < {} ORDER BY {k}",
        sel.join(", "),
        s.from,
        lit(lo),
        lit(hi),
        k = p.key
    );
    let mut out = Vec::new();
    let side = s.side;
    s.for_each(&sql, |r| {
        let k = r
            .first()
            .cloned()
            .flatten()
            .and_then(|v| v.parse::<i128>().ok())
            .ok_or_else(|| ReconError::Database {
                side: side.name().into(),
                msg: "download: key is not an integer".into(),
            })?;
        out.push((k, r[1..].to_vec()));
        Ok(())
    })
    .await?;
    Ok(out)
}

/// Total rows, NULL keys, duplicate key rows and min/max key of one side.
async fn survey(s: &mut DbSide, p: &Plan) -> Result<(u64, Option<(i128, i128)>), ReconError> {
    let k = &p.key;
    let nulls_sql = match s.dialect {
        Dialect::Postgres => format!("SELECT count(*)::text FROM {} WHERE {k} IS NULL", s.from),
        Dialect::MariaDb => format!(
            "SELECT CAST(COUNT(*) AS CHAR) FROM {} WHERE {k} IS NULL",
            s.from
        ),
    };
    let nulls = first_u64(s, &nulls_sql).await?;
    if nulls > 0 {
        return Err(ReconError::Database {
            side: s.side.name().into(),
            msg: format!("{nulls} rows have a NULL key; db mode needs a key on every row"),
        });
    }
    let unique = is_unique(s, p).await?;
    let dups = if unique {
        0
    } else {
        let sql = match s.dialect {
            Dialect::Postgres => format!(
                "SELECT (count(*) - count(DISTINCT {k}))::text FROM {}",
                s.from
            ),
            Dialect::MariaDb => format!(
                "SELECT CAST(COUNT(*) - COUNT(DISTINCT {k}) AS CHAR) FROM {}",
                s.from
            ),
        };
        first_u64(s, &sql).await?
    };
    let mm = match s.dialect {
        Dialect::Postgres => format!("SELECT min({k})::text, max({k})::text FROM {}", s.from),
        Dialect::MariaDb => format!(
            "SELECT CAST(MIN({k}) AS CHAR), CAST(MAX({k}) AS CHAR) FROM {}",
            s.from
        ),
    };
    let r = s.rows(&mm).await?;
    let get = |i: usize| {
        r.first()
            .and_then(|r| r.get(i).cloned().flatten())
            .and_then(|v| v.parse::<i128>().ok())
    };
    let range = match (get(0), get(1)) {
        (Some(a), Some(b)) => Some((a, b)),
        _ => None,
    };
    Ok((dups, range))
}

/// The server's row estimate of a table (statistics, no scan); None for queries or unknown.
async fn estimate_rows(s: &mut DbSide) -> Option<u64> {
    let (schema, table) = s.table.clone()?;
    let esc = |v: &str| v.replace('\'', "''").replace('\\', "\\\\");
    let sql = match s.dialect {
        Dialect::Postgres => format!(
            "SELECT greatest(reltuples, 0)::bigint::text FROM pg_class WHERE oid = '{}'::regclass",
            s.from.replace('\'', "''")
        ),
        Dialect::MariaDb => format!(
            "SELECT CAST(TABLE_ROWS AS CHAR) FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = {} AND TABLE_NAME = '{}'",
            match &schema {
                Some(sc) => format!("'{}'", esc(sc)),
                None => "DATABASE()".into(),
            },
            esc(&table)
        ),
    };
    first_u64(s, &sql).await.ok().filter(|&n| n > 0)
}

async fn first_u64(s: &mut DbSide, sql: &str) -> Result<u64, ReconError> {
    let r = s.rows(sql).await?;
    r.first()
        .and_then(|r| r.first().cloned().flatten())
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| s.err("query", "no number returned"))
}

/// Whether the key column alone carries a unique index (then duplicates cannot exist).
async fn is_unique(s: &mut DbSide, p: &Plan) -> Result<bool, ReconError> {
    let Some((schema, table)) = s.table.clone() else {
        return Ok(false);
    };
    let key = s
        .cols
        .iter()
        .find(|c| c.ident == p.key)
        .map(|c| c.ident.clone())
        .unwrap_or_default();
    // The unquoted source name of the key column.
    let raw = match s.dialect {
        Dialect::Postgres => key.trim_matches('"').replace("\"\"", "\""),
        Dialect::MariaDb => key.trim_matches('`').replace("``", "`"),
    };
    let esc = |v: &str| v.replace('\'', "''").replace('\\', "\\\\");
    let sql = match s.dialect {
        Dialect::Postgres => {
            let rel = s.from.replace('\'', "''");
            format!(
                "SELECT count(*)::text FROM pg_index i JOIN pg_attribute a \
                 ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] \
                 WHERE i.indrelid = '{rel}'::regclass AND i.indisunique AND i.indnkeyatts = 1 \
                 AND i.indpred IS NULL AND a.attname = '{}'",
                raw.replace('\'', "''")
            )
        }
        Dialect::MariaDb => format!(
            "SELECT CAST(COUNT(*) AS CHAR) FROM (SELECT INDEX_NAME FROM information_schema.STATISTICS \
             WHERE TABLE_SCHEMA = {} AND TABLE_NAME = '{}' GROUP BY INDEX_NAME \
             HAVING COUNT(*) = 1 AND MAX(NON_UNIQUE) = 0 AND MAX(COLUMN_NAME) = '{}') q",
            match &schema {
                Some(sc) => format!("'{}'", esc(sc)),
                None => "DATABASE()".into(),
            },
            esc(&table),
            esc(&raw)
        ),
    };
    Ok(first_u64(s, &sql).await? > 0)
}

/// Counts of the row-by-row comparison of downloaded segments.
#[derive(Default)]
pub(super) struct Tally {
    pub(super) only_left: u64,
    pub(super) only_right: u64,
    pub(super) changed: u64,
    pub(super) per_column: Vec<u64>,
    pub(super) samples: Vec<Difference>,
}

pub(super) struct Emit<'a> {
    pub(super) sample: usize,
    pub(super) details: Option<&'a mut (dyn crate::details::DetailSink + Send + 'static)>,
}

impl Emit<'_> {
    fn emit(&mut self, t: &mut Tally, d: Difference) -> Result<(), ReconError> {
        if t.samples.iter().filter(|s| s.kind == d.kind).count() < self.sample {
            t.samples.push(d.clone());
        }
        if let Some(sink) = self.details.as_deref_mut() {
            sink.write(&d)?;
        }
        Ok(())
    }
}

fn norm(v: &Option<String>, null_equal: bool) -> Option<&str> {
    match v {
        None if null_equal => Some(""),
        None => None,
        Some(s) => Some(s.as_str()),
    }
}

/// Merge two key-ordered row lists (duplicates after the first row of a key are skipped; they
/// are counted for the whole table by the survey).
pub(super) fn compare<K: Ord + std::fmt::Display>(
    l: &[(K, Vec<Option<String>>)],
    r: &[(K, Vec<Option<String>>)],
    columns: &[String],
    null_equal: bool,
    t: &mut Tally,
    e: &mut Emit<'_>,
) -> Result<(), ReconError> {
    let dedup = |v: &[(K, Vec<Option<String>>)]| {
        let mut out: Vec<usize> = Vec::with_capacity(v.len());
        for (i, (k, _)) in v.iter().enumerate() {
            if out.last().is_none_or(|&j| v[j].0 != *k) {
                out.push(i);
            }
        }
        out
    };
    let (li, ri) = (dedup(l), dedup(r));
    let (mut a, mut b) = (0, 0);
    while a < li.len() || b < ri.len() {
        let lk = li.get(a).map(|&i| &l[i].0);
        let rk = ri.get(b).map(|&i| &r[i].0);
        match (lk, rk) {
            (Some(x), Some(y)) if x == y => {
                let (lv, rv) = (&l[li[a]].1, &r[ri[b]].1);
                let mut diff = false;
                for (c, name) in columns.iter().enumerate() {
                    let (x1, y1) = (norm(&lv[c], null_equal), norm(&rv[c], null_equal));
                    if x1 != y1 {
                        diff = true;
                        t.per_column[c] += 1;
                        e.emit(
                            t,
                            Difference {
                                kind: DiffKind::Changed,
                                key: x.to_string(),
                                column: Some(name.clone()),
                                left: x1.map(str::to_string),
                                right: y1.map(str::to_string),
                            },
                        )?;
                    }
                }
                if diff {
                    t.changed += 1;
                }
                a += 1;
                b += 1;
            }
            (Some(x), Some(y)) if y < x => {
                t.only_right += 1;
                e.emit(t, one(DiffKind::OnlyRight, y))?;
                b += 1;
            }
            (Some(x), _) => {
                t.only_left += 1;
                e.emit(t, one(DiffKind::OnlyLeft, x))?;
                a += 1;
            }
            (None, Some(y)) => {
                t.only_right += 1;
                e.emit(t, one(DiffKind::OnlyRight, y))?;
                b += 1;
            }
            (None, None) => break,
        }
    }
    Ok(())
}

fn one(kind: DiffKind, key: &impl std::fmt::Display) -> Difference {
    Difference {
        kind,
        key: key.to_string(),
        column: None,
        left: None,
        right: None,
    }
}

/// Run a database-to-database comparison (`mode = "db"`).
pub async fn run_db(job: &JobSpec, mut opts: RunOptions) -> Result<(Report, DbStats), ReconError> {
    let started = Instant::now();
    if job.mode != ReconMode::Db {
        return Err(ReconError::Job {
            field: "mode".into(),
            msg: "run_db needs mode = \"db\"".into(),
        });
    }
    if job.key.is_empty() {
        return Err(ReconError::Job {
            field: "key".into(),
            msg: "db mode needs at least one key column".into(),
        });
    }
    for (side, spec) in [(Side::Left, &job.left), (Side::Right, &job.right)] {
        if !spec.is_database() {
            return Err(ReconError::Job {
                field: format!("{}.url_env", side.name()),
                msg: "db mode compares two databases: set url_env or url_file".into(),
            });
        }
        if spec.path.is_some() {
            return Err(ReconError::Job {
                field: format!("{}.path", side.name()),
                msg: "db mode reads no files".into(),
            });
        }
    }
    check_rules(job)?;
    let tuning = job.db.clone().unwrap_or_default();
    let factor = tuning.bisection_factor.unwrap_or(DEFAULT_FACTOR);
    if !(2..=1024).contains(&factor) {
        return Err(ReconError::Job {
            field: "db.bisection_factor".into(),
            msg: format!("must be 2…1024, got {factor}"),
        });
    }
    let threshold = tuning.download_threshold.unwrap_or(DEFAULT_THRESHOLD);
    if !(1..=1_000_000).contains(&threshold) {
        return Err(ReconError::Job {
            field: "db.download_threshold".into(),
            msg: format!("must be 1…1000000, got {threshold}"),
        });
    }
    let (l, r) = tokio::join!(
        DbSide::open(&job.left, Side::Left, true),
        DbSide::open(&job.right, Side::Right, true)
    );
    let (mut l, mut r) = (l?, r?);
    // One integer key: arithmetic key ranges. Anything else (text, several columns): ranges between
    // key values sampled from the data, in an order both servers share.
    let int_key = |s: &DbSide| {
        job.key.len() == 1 && s.col(&job.key[0]).and_then(|c| c.kind) == Some(Kind::Int)
    };
    let result = if int_key(&l) && int_key(&r) {
        run_sides(job, &mut opts, &mut l, &mut r, factor, threshold, started).await
    } else {
        super::ordered::run_sides(job, &mut opts, &mut l, &mut r, factor, threshold, started).await
    };
    tokio::join!(l.close(), r.close());
    let (report, stats) = result?;
    if let Some(d) = opts.details.take() {
        d.finish()?;
    }
    Ok((report, stats))
}

pub(super) fn resolve_columns(
    job: &JobSpec,
    l: &DbSide,
    r: &DbSide,
) -> Result<Vec<String>, ReconError> {
    for c in job.normalize.keys() {
        if l.col(c).is_none() && r.col(c).is_none() {
            return Err(ReconError::Job {
                field: format!("normalize.{c}"),
                msg: "no such column on either side".into(),
            });
        }
    }
    let missing = |s: &DbSide, c: &str| ReconError::Job {
        field: format!("{}.columns", s.side.name()),
        msg: format!("no column {c:?} on the {} side", s.side.name()),
    };
    let skip = |c: &String| job.key.contains(c) || job.ignore.contains(c);
    Ok(match &job.columns {
        Some(cols) => {
            for c in cols {
                if l.col(c).is_none() {
                    return Err(missing(l, c));
                }
                if r.col(c).is_none() {
                    return Err(missing(r, c));
                }
            }
            cols.iter()
                .filter(|c| !job.key.contains(c))
                .cloned()
                .collect()
        }
        None => {
            for c in r.cols.iter().map(|c| &c.name).filter(|c| !skip(c)) {
                if l.col(c).is_none() {
                    return Err(missing(l, c));
                }
            }
            let mut v = Vec::new();
            for c in l.cols.iter().map(|c| &c.name).filter(|c| !skip(c)) {
                if r.col(c).is_none() {
                    return Err(missing(r, c));
                }
                v.push(c.clone());
            }
            v
        }
    })
}

async fn run_sides(
    job: &JobSpec,
    opts: &mut RunOptions,
    l: &mut DbSide,
    r: &mut DbSide,
    factor: u32,
    threshold: u64,
    started: Instant,
) -> Result<(Report, DbStats), ReconError> {
    key_col(l, job)?;
    key_col(r, job)?;
    let columns = resolve_columns(job, l, r)?;
    let (lp, rp) = (plan(l, job, &columns)?, plan(r, job, &columns)?);
    let null_equal = job.null_policy == NullPolicy::Equal;
    let ((ldup, lrange), (rdup, rrange)) = {
        let (a, b) = tokio::join!(survey(l, &lp), survey(r, &rp));
        (a?, b?)
    };
    let estimate = {
        let (a, b) = tokio::join!(estimate_rows(l), estimate_rows(r));
        match (a, b) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    };
    let mut stats = DbStats::default();
    let sample = job.sample_size.unwrap_or(DEFAULT_SAMPLE);
    let mut tally = Tally {
        per_column: vec![0; columns.len()],
        ..Default::default()
    };
    let mut emit = Emit {
        sample,
        details: opts.details.as_deref_mut(),
    };
    let cancel = opts.cancel.clone();
    let progress = opts.progress.clone();
    let (mut rows_left, mut rows_right) = (0u64, 0u64);
    let bounds = match (lrange, rrange) {
        (Some(a), Some(b)) => Some((a.0.min(b.0), a.1.max(b.1) + 1)),
        (Some(a), None) | (None, Some(a)) => Some((a.0, a.1 + 1)),
        (None, None) => None,
    };
    if let Some((lo, hi)) = bounds {
        // (lo, hi, known counts): ranges still to look at, level by level.
        if hi - lo > i128::from(i64::MAX) {
            return Err(ReconError::Job {
                field: "key".into(),
                msg: "the key range is too wide for 64-bit arithmetic".into(),
            });
        }
        let mut level: Vec<Pending> = vec![(lo, hi, None)];
        let mut depth = 0u32;
        while !level.is_empty() {
            let mut next = Vec::new();
            for (lo, hi, counts) in level {
                if cancel.load(Ordering::Relaxed) {
                    return Err(ReconError::Cancelled);
                }
                let small = counts.is_some_and(|(a, b)| a.max(b) <= threshold)
                    || (counts.is_some() && hi - lo <= i128::from(factor));
                if small {
                    let (a, b) = tokio::join!(download(l, &lp, lo, hi), download(r, &rp, lo, hi));
                    let (a, b) = (a?, b?);
                    stats.rows_downloaded += (a.len() + b.len()) as u64;
                    progress
                        .rows
                        .fetch_add((a.len() + b.len()) as u64, Ordering::Relaxed);
                    compare(&a, &b, &columns, null_equal, &mut tally, &mut emit)?;
                    continue;
                }
                // Fan-out: at least `factor`, more when the range holds many rows, so that one
                // scan reaches segments of about a quarter of the download threshold (the root
                // uses the servers' row estimates).
                let rows = counts.map(|(a, b)| a.max(b)).or(estimate).unwrap_or(0);
                let fan = (rows / (threshold / 4).max(1))
                    .clamp(u64::from(factor), MAX_FANOUT)
                    .max(1);
                let w = ((hi - lo) + i128::from(fan) - 1) / i128::from(fan);
                let w = w.max(1);
                let (a, b) =
                    tokio::join!(checksums(l, &lp, lo, hi, w), checksums(r, &rp, lo, hi, w));
                let (a, b) = (a?, b?);
                stats.checksum_queries += 1;
                stats.checksum_rows += (a.len() + b.len()) as u64;
                if depth == 0 {
                    rows_left = a.values().map(|v| v.0).sum();
                    rows_right = b.values().map(|v| v.0).sum();
                }
                let segs: std::collections::BTreeSet<i64> =
                    a.keys().chain(b.keys()).copied().collect();
                for s in segs {
                    let x = a.get(&s);
                    let y = b.get(&s);
                    if x == y {
                        continue;
                    }
                    let slo = lo + i128::from(s) * w;
                    let shi = (slo + w).min(hi);
                    next.push((slo, shi, Some((x.map_or(0, |v| v.0), y.map_or(0, |v| v.0)))));
                }
            }
            if !next.is_empty() {
                depth += 1;
            }
            level = next;
        }
        stats.levels = depth;
    }
    let report = report(job, tally, columns, (rows_left, rows_right), (ldup, rdup))?;
    stats.seconds = started.elapsed().as_secs_f64();
    progress.phase.store(3, Ordering::Relaxed);
    Ok((report, stats))
}

/// The report of a db-mode run; the counts must account for every row of both sides.
pub(super) fn report(
    job: &JobSpec,
    tally: Tally,
    columns: Vec<String>,
    (rows_left, rows_right): (u64, u64),
    (ldup, rdup): (u64, u64),
) -> Result<Report, ReconError> {
    let ident_l = rows_left
        .checked_sub(tally.only_left + tally.changed + ldup)
        .ok_or_else(inconsistent)?;
    let ident_r = rows_right
        .checked_sub(tally.only_right + tally.changed + rdup)
        .ok_or_else(inconsistent)?;
    if ident_l != ident_r {
        return Err(inconsistent());
    }
    let identical = ident_l;
    let union = tally.only_left + tally.only_right + tally.changed + identical;
    let report = Report {
        only_left: tally.only_left,
        only_right: tally.only_right,
        changed: tally.changed,
        identical,
        duplicate_keys_left: ldup,
        duplicate_keys_right: rdup,
        per_column: columns
            .iter()
            .cloned()
            .zip(tally.per_column.iter().copied())
            .collect(),
        consistency: if union == 0 {
            1.0
        } else {
            identical as f64 / union as f64
        },
        rows_left,
        rows_right,
        rejected_left: 0,
        rejected_right: 0,
        key: job.key.clone(),
        columns,
        spilled: false,
        sample: tally.samples,
    };
    Ok(report)
}

fn inconsistent() -> ReconError {
    ReconError::Database {
        side: "db".into(),
        msg: "the counts do not add up (rows with equal checksums that differ, or a table changed \
              outside its snapshot); nothing is reported"
            .into(),
    }
}
