//! `tianshu recon …`: file-vs-file reconciliation from the command line (no database needed).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand, ValueEnum};
use tianshu_recon::{JobSpec, Progress, ReconError, ReconMode, Report, RunOptions};

/// `recon` subcommands.
#[derive(Debug, Subcommand)]
pub enum ReconCmd {
    /// Compare two inputs — delimited files or database tables/queries — or two database tables
    /// in db mode (exit status: 0 no differences, 1 differences, 2 error).
    Run(ReconRunArgs),
}

/// Output format.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ReconOutput {
    /// A readable table.
    Table,
    /// One JSON object: only_left, only_right, changed, identical, duplicate_keys_left,
    /// duplicate_keys_right, per_column, consistency.
    Json,
}

/// `recon run` options; flags override the job file.
#[derive(Debug, Args)]
pub struct ReconRunArgs {
    /// Left file (CSV/TSV/…, optionally gzip).
    #[arg(long)]
    pub left: Option<PathBuf>,
    /// Right file.
    #[arg(long)]
    pub right: Option<PathBuf>,
    /// Key column(s), comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub key: Vec<String>,
    /// Job file (TOML): formats, normalisation, NULL policy, bad-row policy.
    #[arg(long)]
    pub job: Option<PathBuf>,
    /// table or json.
    #[arg(long, value_enum, default_value_t = ReconOutput::Table)]
    pub output: ReconOutput,
    /// Write every difference to this file (.csv or .xlsx).
    #[arg(long)]
    pub details: Option<PathBuf>,
    /// Delimiter of both files (one character; `\t` for tab).
    #[arg(long)]
    pub delimiter: Option<String>,
    /// Encoding of both files: utf-8, gbk, gb18030.
    #[arg(long)]
    pub encoding: Option<String>,
    /// Memory budget for the per-row records before they spill to disk (MiB).
    #[arg(long)]
    pub memory_mb: Option<u64>,
    /// Never draw the progress bar.
    #[arg(long)]
    pub no_progress: bool,
    /// file (default: read every row; files or database tables/queries) or db (database to
    /// database: checksums of key ranges inside both databases, only differing rows downloaded).
    #[arg(long, value_enum)]
    pub mode: Option<ReconModeArg>,
    /// Left database: name of the environment variable holding its URL (never printed).
    #[arg(long)]
    pub left_url_env: Option<String>,
    /// Right database: name of the environment variable holding its URL.
    #[arg(long)]
    pub right_url_env: Option<String>,
    /// Left database: a file whose first line is the URL.
    #[arg(long)]
    pub left_url_file: Option<PathBuf>,
    /// Right database: a file whose first line is the URL.
    #[arg(long)]
    pub right_url_file: Option<PathBuf>,
    /// Left database table (`name` or `schema.name`).
    #[arg(long)]
    pub left_table: Option<String>,
    /// Right database table.
    #[arg(long)]
    pub right_table: Option<String>,
    /// Left database query (instead of a table).
    #[arg(long)]
    pub left_query: Option<String>,
    /// Right database query.
    #[arg(long)]
    pub right_query: Option<String>,
    /// db mode: segments per mismatching key range (default 32).
    #[arg(long)]
    pub bisection_factor: Option<u32>,
    /// db mode: download a mismatching range once it has at most this many rows (default 1024).
    #[arg(long)]
    pub download_threshold: Option<u64>,
    /// Also store the run in the database (inputs' fingerprints, counts, sample; a work item if it differs).
    #[arg(long)]
    pub store: bool,
    /// With --store: the pack's job key the run belongs to (default: an ad-hoc run).
    #[arg(long, requires = "store")]
    pub job_key: Option<String>,
}

/// `--mode`.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ReconModeArg {
    /// Read every row of both inputs.
    File,
    /// Database to database by bisecting key-range checksums.
    Db,
}

/// Whether the command needs the database (`--store`).
pub fn needs_database(cmd: &ReconCmd) -> bool {
    let ReconCmd::Run(a) = cmd;
    a.store
}

/// Whether the job file sets `null_policy` itself (else the pack's [engine] default applies).
fn job_declares_null(a: &ReconRunArgs) -> bool {
    a.job
        .as_ref()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|t| t.parse::<toml::Table>().ok())
        .is_some_and(|t| t.contains_key("null_policy"))
}

fn job_from_args(a: &ReconRunArgs) -> anyhow::Result<JobSpec> {
    let mut job = match &a.job {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
            JobSpec::from_toml(&text).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?
        }
        None => JobSpec::default(),
    };
    if let Some(l) = &a.left {
        job.left.path = Some(l.clone());
    }
    if let Some(r) = &a.right {
        job.right.path = Some(r.clone());
    }
    if !a.key.is_empty() {
        job.key = a.key.clone();
    }
    for side in [&mut job.left, &mut job.right] {
        if let Some(d) = &a.delimiter {
            side.delimiter = Some(d.clone());
        }
        if let Some(e) = &a.encoding {
            side.encoding = Some(e.clone());
        }
    }
    if a.memory_mb.is_some() {
        job.memory_budget_mb = a.memory_mb;
    }
    match a.mode {
        Some(ReconModeArg::Db) => job.mode = ReconMode::Db,
        Some(ReconModeArg::File) => job.mode = ReconMode::File,
        None => {}
    }
    let db_side = |side: &mut tianshu_recon::SideSpec,
                   env: &Option<String>,
                   file: &Option<PathBuf>,
                   table: &Option<String>,
                   query: &Option<String>| {
        if env.is_some() {
            side.url_env = env.clone();
            side.url_file = None;
        }
        if file.is_some() {
            side.url_file = file.clone();
            side.url_env = None;
        }
        if table.is_some() {
            side.table = table.clone();
            side.query = None;
        }
        if query.is_some() {
            side.query = query.clone();
            side.table = None;
        }
    };
    db_side(
        &mut job.left,
        &a.left_url_env,
        &a.left_url_file,
        &a.left_table,
        &a.left_query,
    );
    db_side(
        &mut job.right,
        &a.right_url_env,
        &a.right_url_file,
        &a.right_table,
        &a.right_query,
    );
    if a.bisection_factor.is_some() || a.download_threshold.is_some() {
        let t = job.db.get_or_insert_with(Default::default);
        if a.bisection_factor.is_some() {
            t.bisection_factor = a.bisection_factor;
        }
        if a.download_threshold.is_some() {
            t.download_threshold = a.download_threshold;
        }
    }
    Ok(job)
}

/// Run `recon run` with the pack's [engine] defaults, storing the run on `platform` with `--store`; returns the
/// exit status.
pub async fn recon_cmd(
    cmd: &ReconCmd,
    pack: &tianshu_services::policy::PackSource,
    platform: Option<&tianshu_services::Platform>,
) -> anyhow::Result<i32> {
    let ReconCmd::Run(a) = cmd;
    let mut job = job_from_args(a)?;
    let engine = match platform {
        Some(p) => p.policy.current().pack.reconciliation.engine.clone(),
        None => {
            pack.load()
                .map_err(|e| {
                    anyhow::anyhow!(
                        "policy pack invalid:\n{}",
                        tianshu_services::policy::format_errors(&e)
                    )
                })?
                .reconciliation
                .engine
        }
    };
    tianshu_services::recon::apply_engine_defaults(&mut job, &engine, job_declares_null(a));
    let details = match &a.details {
        Some(p) => Some(tianshu_recon::details::open(p)?),
        None => None,
    };
    let opts = RunOptions {
        details,
        ..Default::default()
    };
    let cancel = opts.cancel.clone();
    let progress = opts.progress.clone();
    let started = Instant::now();
    let job2 = job.clone();
    let uses_db = job.mode == ReconMode::Db || job.left.is_database() || job.right.is_database();
    let mut task = tokio::spawn(async move {
        if uses_db {
            tianshu_recon::db::run_any(&job2, opts).await
        } else {
            tokio::task::spawn_blocking(move || tianshu_recon::run(&job2, opts).map(|r| (r, None)))
                .await
                .map_err(|e| ReconError::Io {
                    path: "reconciliation task".into(),
                    source: std::io::Error::other(e.to_string()),
                })?
        }
    });
    let show = !a.no_progress && std::io::stderr().is_terminal();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let result = loop {
        tokio::select! {
            r = &mut task => break r.map_err(|e| anyhow::anyhow!("reconciliation task failed: {e}"))?,
            _ = tokio::signal::ctrl_c() => {
                cancel.store(true, Ordering::Relaxed);
                if show { eprint!("\r\x1b[K"); }
                eprintln!("cancelling…");
            }
            _ = tick.tick() => if show { draw(&progress, started) },
        }
    };
    if show {
        eprint!("\r\x1b[K");
    }
    let (report, stats) = match result {
        Ok(r) => r,
        Err(ReconError::Cancelled) => {
            eprintln!("cancelled");
            return Ok(130);
        }
        Err(e) => return Err(e.into()),
    };
    let elapsed = started.elapsed();
    match a.output {
        ReconOutput::Json => println!("{}", report.summary_json()),
        ReconOutput::Table => print!("{}", table(&report, &job)),
    }
    eprintln!(
        "{} + {} rows in {:.2} s{}{}",
        report.rows_left,
        report.rows_right,
        elapsed.as_secs_f64(),
        if report.rejected_left + report.rejected_right > 0 {
            format!(
                "; rejected: left {}, right {}",
                report.rejected_left, report.rejected_right
            )
        } else {
            String::new()
        },
        if report.spilled {
            "; partitions spilled to disk"
        } else {
            ""
        }
    );
    if let Some(st) = stats {
        eprintln!(
            "db mode: {} checksum queries per side, {} checksum rows and {} table rows \
             transferred, {} bisection levels",
            st.checksum_queries, st.checksum_rows, st.rows_downloaded, st.levels
        );
    }
    if let Some(p) = platform.filter(|_| a.store) {
        let stored = tianshu_services::recon::store_external(
            p,
            tianshu_services::recon::ExternalRun {
                job_key: a.job_key.clone().unwrap_or_default(),
                started_by: format!(
                    "cli:{}",
                    std::env::var("USER").unwrap_or_else(|_| "operator".into())
                ),
                mode: if job.mode == ReconMode::Db {
                    tianshu_services::recon::PolicyMode::Db
                } else {
                    tianshu_services::recon::PolicyMode::Full
                },
                left: stored_input(&job.left),
                right: stored_input(&job.right),
                key: report.key.clone(),
                details_path: a.details.clone(),
            },
            &report,
        )
        .await
        .map_err(|e| anyhow::anyhow!("storing the run: {e}"))?;
        eprintln!("stored as reconciliation run {}", stored.id);
    }
    let differs = report.only_left
        + report.only_right
        + report.changed
        + report.duplicate_keys_left
        + report.duplicate_keys_right
        > 0;
    Ok(i32::from(differs))
}

/// How a stored run records a side the CLI read: the file, or for a database side where its URL came from
/// (`env:NAME` or `file:PATH`) with the table or query — never the URL.
fn stored_input(side: &tianshu_recon::SideSpec) -> tianshu_services::recon::RunInput {
    use tianshu_services::recon::{DbInput, RunInput};
    if !side.is_database() {
        return RunInput::File(side.path.clone().unwrap_or_default());
    }
    let db = match (&side.url_env, &side.url_file) {
        (Some(v), _) => format!("env:{v}"),
        (None, Some(f)) => format!("file:{}", f.display()),
        (None, None) => "database".into(),
    };
    RunInput::Db(DbInput {
        db,
        table: side.table.clone(),
        query: side.query.clone(),
    })
}

fn draw(p: &Arc<Progress>, started: Instant) {
    let done = p.left_bytes.load(Ordering::Relaxed) + p.right_bytes.load(Ordering::Relaxed);
    let total =
        (p.left_total.load(Ordering::Relaxed) + p.right_total.load(Ordering::Relaxed)).max(1);
    let rows = p.rows.load(Ordering::Relaxed);
    let secs = started.elapsed().as_secs_f64().max(0.001);
    let frac = (done as f64 / total as f64).min(1.0);
    let phase = match p.phase.load(Ordering::Relaxed) {
        0 => "reading",
        1 => "matching",
        2 => "column details",
        _ => "done",
    };
    let width = 30;
    let filled = (frac * width as f64) as usize;
    let eta = if frac > 0.01 && frac < 1.0 {
        format!("ETA {:.0} s", secs / frac - secs)
    } else {
        String::new()
    };
    let mut err = std::io::stderr().lock();
    let _ = write!(
        err,
        "\r\x1b[K[{}{}] {:>5.1} % {phase} {} rows {:.0} rows/s {eta}",
        "#".repeat(filled),
        "-".repeat(width - filled),
        frac * 100.0,
        rows,
        rows as f64 / secs
    );
    let _ = err.flush();
}

fn table(r: &Report, job: &JobSpec) -> String {
    let mut s = String::new();
    let name = |side: &tianshu_recon::SideSpec| match (&side.path, &side.table, &side.query) {
        (Some(p), _, _) => p.display().to_string(),
        (None, Some(t), _) => format!("table {t}"),
        (None, None, Some(_)) => "query".to_string(),
        _ => String::new(),
    };
    s.push_str(&format!(
        "left:  {}\nright: {}\nkey:   {}\n\n",
        name(&job.left),
        name(&job.right),
        r.key.join(", ")
    ));
    let rows = [
        ("rows read", r.rows_left, r.rows_right),
        ("only on this side", r.only_left, r.only_right),
        (
            "duplicate key rows",
            r.duplicate_keys_left,
            r.duplicate_keys_right,
        ),
        ("rejected rows", r.rejected_left, r.rejected_right),
    ];
    s.push_str(&format!("{:<22}{:>14}{:>14}\n", "", "left", "right"));
    for (label, l, rt) in rows {
        s.push_str(&format!("{label:<22}{l:>14}{rt:>14}\n"));
    }
    s.push_str(&format!("{:<22}{:>14}\n", "identical", r.identical));
    s.push_str(&format!("{:<22}{:>14}\n", "changed", r.changed));
    s.push_str(&format!(
        "{:<22}{:>13.4}%\n",
        "consistency",
        r.consistency * 100.0
    ));
    let diffs: Vec<_> = r.per_column.iter().filter(|(_, n)| **n > 0).collect();
    if !diffs.is_empty() {
        s.push_str("\ndifferences per column\n");
        let w = diffs
            .iter()
            .map(|(c, _)| c.chars().count())
            .max()
            .unwrap_or(6)
            .max(6);
        for (c, n) in diffs {
            s.push_str(&format!("  {c:<w$}{n:>14}\n"));
        }
    }
    s
}
