//! Reconciliation on the server (issue 6, REC-01..REC-08): stored runs with their inputs' fingerprints, the jobs
//! of the policy pack and their declared inputs (inbox files or registered databases), runs started by hand
//! (uploads or files in the inbox), by the CLI or by the schedule, the consistency trend, and the REC-07 work item
//! each difference batch opens with its reply and fix deadlines on the shared clocks.
//!
//! The engine (`tianshu-recon`) runs on a blocking thread; its full details go to a CSV file under the runs
//! directory and a sample ([engine].sample_size per kind of difference) is stored for the API and the console.

pub mod databases;
pub mod demo;
pub mod incremental;
pub mod schedule;

use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::sync::RwLock;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use tianshu_core::policy::{InputSource, ReconMode, ScheduleDef, ScheduleInputs};
use tianshu_core::Permission;
use tianshu_recon::{JobSpec, NullPolicy, Report, RunOptions};
use tianshu_store::audit::{append, NewAuditEntry};
use tianshu_store::recon::{self as st, ReconCounts, ReconDiffRow, ReconItemRow, ReconRunRow};
use tianshu_store::{Conn, StoreResult};
use tianshu_workcal::DeadlineBasis;

use crate::authz::Principal;
use crate::clocks::{self, ClockSpec, Notify, Recipients};
use crate::{Platform, ServiceError, ServiceResult};
pub use databases::DbInput;
/// The pack's mode of a job (full, incremental, db), as stored runs record it.
pub use tianshu_core::policy::ReconMode as PolicyMode;

/// Subject kind of a work item's clocks.
pub const ITEM_KIND: &str = "recon_item";
/// Clock key of the REC-07 reply deadline.
pub const REPLY_KEY: &str = "rec07.reply";
/// Clock key of the REC-07 fix deadline.
pub const FIX_KEY: &str = "rec07.fix";

/// Where this instance keeps reconciliation files: `<base>/inbox` (inputs) and `<base>/runs` (details).
pub struct Runtime {
    base: RwLock<PathBuf>,
}

impl Default for Runtime {
    fn default() -> Self {
        Runtime {
            base: RwLock::new(std::env::temp_dir().join(format!(
                "tianshu-recon-{}-{}",
                std::process::id(),
                crate::secrets::random_token(6).replace(['-', '_'], "x")
            ))),
        }
    }
}

impl Runtime {
    /// Uses `dir` as the base directory (`serve` passes `<data dir>/recon`).
    pub fn set_base(&self, dir: PathBuf) {
        if let Ok(mut b) = self.base.write() {
            *b = dir;
        }
    }

    fn base(&self) -> PathBuf {
        self.base.read().map(|b| b.clone()).unwrap_or_default()
    }

    /// The inbox: declared inputs and uploads are read from here.
    pub fn inbox(&self) -> PathBuf {
        self.base().join("inbox")
    }

    /// Where details files are written.
    pub fn runs_dir(&self) -> PathBuf {
        self.base().join("runs")
    }
}

/// A path given by a client, relative to the inbox: no absolute paths, no `..`.
pub fn inbox_path(p: &Platform, field: &str, rel: &str) -> ServiceResult<PathBuf> {
    let rel = rel.trim();
    if rel.is_empty() {
        return Err(ServiceError::invalid_zh(
            field,
            "a file in the reconciliation inbox is required",
            "请指定稽核收件目录中的文件",
        ));
    }
    let path = Path::new(rel);
    if path
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(ServiceError::invalid_zh(
            field,
            "must be a relative path inside the reconciliation inbox (no leading '/', no '..')",
            "必须是稽核收件目录内的相对路径",
        ));
    }
    let full = p.recon.inbox().join(path);
    if !full.is_file() {
        return Err(ServiceError::invalid_zh(
            field,
            format!("no file '{rel}' in the reconciliation inbox"),
            format!("稽核收件目录中没有文件 {rel}"),
        ));
    }
    Ok(full)
}

/// Size and SHA-256 (hex) of a file.
pub fn fingerprint(path: &Path) -> std::io::Result<(i64, String)> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0i64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        size += n as i64;
        h.update(&buf[..n]);
    }
    Ok((size, hex::encode(h.finalize())))
}

/// One side of a run: a file, or a registered database's table or query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunInput {
    /// A file (in the inbox, or wherever the CLI read it).
    File(PathBuf),
    /// A registered database.
    Db(DbInput),
}

impl From<PathBuf> for RunInput {
    fn from(p: PathBuf) -> Self {
        RunInput::File(p)
    }
}

impl RunInput {
    /// The file, if this side is one.
    pub fn file(&self) -> Option<&Path> {
        match self {
            RunInput::File(p) => Some(p),
            RunInput::Db(_) => None,
        }
    }

    /// What the run records as this side's path.
    pub fn label(&self) -> String {
        match self {
            RunInput::File(p) => p.display().to_string(),
            RunInput::Db(d) => d.label(),
        }
    }
}

/// What to compare and how a run is labelled.
#[derive(Debug, Clone)]
pub struct RunSpec {
    pub job_key: String,
    pub mode: ReconMode,
    /// schedule, api, cli, demo.
    pub trigger: String,
    pub started_by: String,
    pub as_of: Option<NaiveDate>,
    pub left: RunInput,
    pub right: RunInput,
    pub key: Vec<String>,
    /// Of the file sides.
    pub delimiter: Option<String>,
    /// Of the file sides.
    pub encoding: Option<String>,
    /// Incremental mode: where the changed keys come from.
    pub changed: Option<incremental::ChangedKeys>,
}

impl RunSpec {
    /// Whether the run reads a database (db mode, or a database side in full mode).
    pub fn uses_database(&self) -> bool {
        self.mode == ReconMode::Db
            || matches!(self.left, RunInput::Db(_))
            || matches!(self.right, RunInput::Db(_))
    }
}

/// The engine job of a spec, with the pack's [engine] defaults (database sides get their table or query; their
/// connections are opened by [`execute`]).
pub fn job_spec(p: &Platform, s: &RunSpec) -> JobSpec {
    let pol = p.policy.current();
    let e = &pol.pack.reconciliation.engine;
    let mut job = JobSpec {
        name: Some(s.job_key.clone()),
        key: s.key.clone(),
        ..Default::default()
    };
    apply_engine_defaults(&mut job, e, false);
    for (side, input) in [(&mut job.left, &s.left), (&mut job.right, &s.right)] {
        match input {
            RunInput::File(path) => {
                side.path = Some(path.clone());
                side.delimiter = s.delimiter.clone();
                side.encoding = s.encoding.clone();
            }
            RunInput::Db(d) => {
                side.table = d.table.clone();
                side.query = d.query.clone();
            }
        }
    }
    if s.mode == ReconMode::Db {
        job.mode = tianshu_recon::ReconMode::Db;
    }
    job
}

/// Fills what a job does not declare from the pack's `[engine]` (NULL policy unless `declares_null`, sample
/// size, memory budget).
pub fn apply_engine_defaults(
    job: &mut JobSpec,
    e: &tianshu_core::policy::EngineDef,
    declares_null: bool,
) {
    if !declares_null {
        job.null_policy = match e.null_policy {
            tianshu_core::policy::NullDefault::Distinct => NullPolicy::Distinct,
            tianshu_core::policy::NullDefault::Equal => NullPolicy::Equal,
        };
    }
    if job.sample_size.is_none() {
        job.sample_size = Some(e.sample_size as usize);
    }
    if job.memory_budget_mb.is_none() {
        job.memory_budget_mb = Some(u64::from(e.memory_budget_mb));
    }
}

fn mode_str(m: ReconMode) -> &'static str {
    match m {
        ReconMode::Full => "full",
        ReconMode::Incremental => "incremental",
        ReconMode::Db => "db",
    }
}

async fn audit(
    c: &mut Conn<'_>,
    actor: &str,
    action: &str,
    object_id: String,
    after: serde_json::Value,
    now: i64,
) -> StoreResult<()> {
    append(
        c,
        NewAuditEntry {
            actor: actor.to_string(),
            action: action.to_string(),
            object_type: "recon_run".into(),
            object_id,
            before: None,
            after: Some(after),
            request_id: None,
            at: now,
        },
    )
    .await?;
    Ok(())
}

/// Size and SHA-256 of each side. A database side has no file to hash: its fingerprint is its label (registered
/// name and table or query text), size 0 and the SHA-256 of the label, so two runs reading the same source compare
/// equal and a changed query shows.
async fn fingerprints(
    left: RunInput,
    right: RunInput,
) -> ServiceResult<((i64, String), (i64, String))> {
    tokio::task::spawn_blocking(move || -> ServiceResult<_> {
        let one = |field: &str, input: &RunInput| match input {
            RunInput::File(path) => fingerprint(path)
                .map_err(|e| ServiceError::invalid(field, format!("{}: {e}", path.display()))),
            RunInput::Db(d) => Ok((0, hex::encode(Sha256::digest(d.label().as_bytes())))),
        };
        Ok((one("left", &left)?, one("right", &right)?))
    })
    .await
    .map_err(|e| ServiceError::Internal(format!("fingerprint task: {e}")))?
}

/// Records a run as started (its inputs fingerprinted).
async fn start_run(p: &Platform, s: &RunSpec) -> ServiceResult<ReconRunRow> {
    let ((ls, lh), (rs, rh)) = fingerprints(s.left.clone(), s.right.clone()).await?;
    let now = p.now_us();
    let new = st::NewReconRun {
        job_key: s.job_key.clone(),
        mode: mode_str(s.mode).into(),
        trigger: s.trigger.clone(),
        started_by: s.started_by.clone(),
        as_of: s.as_of.map(|d| d.format("%Y-%m-%d").to_string()),
        key_columns: serde_json::to_string(&s.key).unwrap_or_else(|_| "[]".into()),
        left_path: s.left.label(),
        left_size: ls,
        left_sha256: lh,
        right_path: s.right.label(),
        right_size: rs,
        right_sha256: rh,
        started_at: now,
    };
    let actor = s.started_by.clone();
    Ok(p.store
        .write(move |c| {
            Box::pin(async move {
                let run = st::insert_run(c, &new).await?;
                audit(
                    c,
                    &actor,
                    "recon.run.start",
                    run.id.to_string(),
                    json!({"job_key": run.job_key, "mode": run.mode, "trigger": run.trigger,
                           "left": {"path": run.left_path, "size": run.left_size, "sha256": run.left_sha256},
                           "right": {"path": run.right_path, "size": run.right_size, "sha256": run.right_sha256}}),
                    now,
                )
                .await?;
                Ok(run)
            })
        })
        .await?)
}

fn counts(r: &Report, details: Option<String>, incremental_keys: Option<i64>) -> ReconCounts {
    ReconCounts {
        rows_left: r.rows_left as i64,
        rows_right: r.rows_right as i64,
        only_left: r.only_left as i64,
        only_right: r.only_right as i64,
        changed: r.changed as i64,
        identical: r.identical as i64,
        duplicate_keys_left: r.duplicate_keys_left as i64,
        duplicate_keys_right: r.duplicate_keys_right as i64,
        rejected_left: r.rejected_left as i64,
        rejected_right: r.rejected_right as i64,
        per_column: serde_json::to_string(&r.per_column).unwrap_or_else(|_| "{}".into()),
        consistency: r.consistency,
        incremental_keys,
        details_path: details,
    }
}

/// Stores a finished report: counts, sample, and a work item with the REC-07 clocks when there are differences.
async fn finish(
    p: &Platform,
    run: &ReconRunRow,
    report: &Report,
    details: Option<String>,
    incremental_keys: Option<i64>,
) -> ServiceResult<ReconRunRow> {
    let pol = p.policy.current();
    let k = counts(report, details, incremental_keys);
    let sample: Vec<ReconDiffRow> = report
        .sample
        .iter()
        .enumerate()
        .map(|(i, d)| ReconDiffRow {
            seq: i as i64,
            kind: d.kind.as_str().into(),
            key: d.key.clone(),
            column: d.column.clone(),
            left: d.left.clone(),
            right: d.right.clone(),
        })
        .collect();
    let now = p.now_us();
    let id = run.id;
    let actor = run.started_by.clone();
    let job_key = run.job_key.clone();
    Ok(p.store
        .write(move |c| {
            Box::pin(async move {
                let done = st::finish_run(c, id, &k, now).await?;
                st::insert_sample(c, id, &sample).await?;
                audit(
                    c,
                    &actor,
                    "recon.run.finish",
                    id.to_string(),
                    json!({"status": "succeeded", "only_left": k.only_left, "only_right": k.only_right,
                           "changed": k.changed, "identical": k.identical, "consistency": k.consistency,
                           "differences": done.differences}),
                    now,
                )
                .await?;
                if done.differences > 0 {
                    open_item(c, &pol, &done, &job_key, now).await?;
                }
                Ok(done)
            })
        })
        .await?)
}

/// REC-07: a difference batch opens a work item with the reply and fix clocks (working days on the pack's
/// reconciliation calendar).
async fn open_item(
    c: &mut Conn<'_>,
    pol: &crate::policy::ActivePolicy,
    run: &ReconRunRow,
    job_key: &str,
    now: i64,
) -> StoreResult<ReconItemRow> {
    let rp = &pol.pack.reconciliation;
    let f = &rp.follow_up;
    // The item id is not known before the insert; the clocks hang on the run id, which is unique per item.
    let subject = run.id.to_string();
    let job_name = rp
        .schedule(job_key)
        .map(|s| s.name_zh.clone())
        .unwrap_or_else(|| {
            if job_key.is_empty() {
                "临时对账".into()
            } else {
                job_key.to_string()
            }
        });
    let mut dues = Vec::new();
    for (key, days, stage_zh, stage_en) in [
        (REPLY_KEY, f.reply_working_days, "回复", "reply"),
        (FIX_KEY, f.fix_working_days, "处理", "fix"),
    ] {
        let clock = clocks::start(
            c,
            pol,
            ClockSpec {
                subject_kind: ITEM_KIND.into(),
                subject_id: subject.clone(),
                clock_key: key.into(),
                rule: f.rule.clone(),
                basis: DeadlineBasis::WorkingDaysEnd { days },
                calendar: Some(rp.calendar.clone()),
                start_at: now,
                repeat: None,
                // An overdue reply or fix is told to the pack's roles; the clock stops when it is done.
                notify: Notify {
                    template: f.overdue_template.clone(),
                    recipients: Recipients {
                        roles: f.notify_roles.clone(),
                        ..Default::default()
                    },
                    context: json!({
                        "job": job_name,
                        "stage_zh": stage_zh,
                        "stage_en": stage_en,
                        "differences": run.differences,
                        "link": format!("/recon/runs/{}", run.id),
                    }),
                    review: false,
                },
            },
        )
        .await?;
        dues.push(clock.due_at);
    }
    let item = st::insert_item(c, run.id, job_key, run.differences, dues[0], dues[1], now).await?;
    append(
        c,
        NewAuditEntry {
            actor: "system:recon".into(),
            action: "recon.item.open".into(),
            object_type: "recon_item".into(),
            object_id: item.id.to_string(),
            before: None,
            after: Some(json!({"run_id": run.id, "job_key": job_key, "differences": run.differences,
                               "reply_due": item.reply_due, "fix_due": item.fix_due, "rule": f.rule})),
            request_id: None,
            at: now,
        },
    )
    .await?;
    Ok(item)
}

/// Runs the engine for a spec and stores everything; an engine error leaves the run `failed` with its message
/// (file:line for bad input) and is returned as the run, not as an error.
pub async fn execute(p: &Platform, s: RunSpec) -> ServiceResult<ReconRunRow> {
    let run = start_run(p, &s).await?;
    if s.uses_database() {
        return execute_db(p, &s, &run).await;
    }
    let runs_dir = p.recon.runs_dir();
    let details_path = runs_dir.join(format!("run-{}.csv", run.id));
    let mut job = job_spec(p, &s);
    let prepared = match (&s.changed, s.left.file(), s.right.file()) {
        (Some(ch), Some(l), Some(r)) => {
            let ch = ch.clone();
            let (l, r) = (l.to_path_buf(), r.to_path_buf());
            let key = s.key.clone();
            let delim = s.delimiter.clone();
            let tmp = runs_dir.join(format!("run-{}-incremental", run.id));
            tokio::task::spawn_blocking(move || {
                incremental::prepare(&ch, &l, &r, &key, delim.as_deref(), &tmp)
            })
            .await
            .map_err(|e| ServiceError::Internal(format!("incremental task: {e}")))?
            .map(Some)
        }
        (Some(_), _, _) => Err("an incremental run compares two files".to_string()),
        (None, _, _) => Ok(None),
    };
    let prepared = match prepared {
        Ok(v) => v,
        Err(msg) => return fail(p, &run, &msg).await,
    };
    if let Some(incremental::ChangedKeys::UpdatedSince { column, .. }) = &s.changed {
        // The change timestamp is each system's own bookkeeping: it selects the keys, it is not compared.
        if !job.ignore.contains(column) {
            job.ignore.push(column.clone());
        }
    }
    if let Some(pr) = &prepared {
        job.left.path = Some(pr.left.clone());
        job.right.path = Some(pr.right.clone());
    }
    let dp = details_path.clone();
    let result = tokio::task::spawn_blocking(move || -> Result<Report, String> {
        std::fs::create_dir_all(dp.parent().unwrap_or(Path::new(".")))
            .map_err(|e| format!("{}: {e}", dp.display()))?;
        let sink = tianshu_recon::details::open(&dp).map_err(|e| e.to_string())?;
        let opts = RunOptions {
            details: Some(sink),
            ..Default::default()
        };
        tianshu_recon::run(&job, opts).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| ServiceError::Internal(format!("reconciliation task: {e}")))?;
    if let Some(pr) = &prepared {
        let _ = std::fs::remove_dir_all(&pr.dir);
    }
    match result {
        Ok(report) => {
            metrics::counter!("tianshu_recon_runs_total", "status" => "succeeded").increment(1);
            finish(
                p,
                &run,
                &report,
                Some(details_path.display().to_string()),
                prepared.map(|pr| pr.keys as i64),
            )
            .await
        }
        Err(msg) => {
            let _ = std::fs::remove_file(&details_path);
            fail(p, &run, &msg).await
        }
    }
}

/// A run reading a registered database: the connections are opened from the registry here, then the engine
/// streams database sides as files (`full`) or bisects checksums inside both databases (`db`). An unreachable or
/// unregistered database fails the run with a message naming the side and the database, never its password.
async fn execute_db(p: &Platform, s: &RunSpec, run: &ReconRunRow) -> ServiceResult<ReconRunRow> {
    let runs_dir = p.recon.runs_dir();
    let details_path = runs_dir.join(format!("run-{}.csv", run.id));
    let mut job = job_spec(p, s);
    for (n, side, input) in [
        ("left", &mut job.left, &s.left),
        ("right", &mut job.right, &s.right),
    ] {
        if let RunInput::Db(d) = input {
            match databases::connect(p, &d.db).await {
                Ok(c) => side.connect = Some(c),
                Err(msg) => return fail(p, run, &format!("{n}_db '{}': {msg}", d.db)).await,
            }
        }
    }
    // Exported database sides and spilled partitions go under the data directory, not the system temp.
    job.temp_dir = Some(runs_dir.clone());
    let dp = details_path.clone();
    let sink = tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(dp.parent().unwrap_or(Path::new(".")))
            .map_err(|e| format!("{}: {e}", dp.display()))?;
        tianshu_recon::details::open(&dp).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| ServiceError::Internal(format!("reconciliation task: {e}")))?;
    let sink = match sink {
        Ok(sink) => sink,
        Err(msg) => return fail(p, run, &msg).await,
    };
    let opts = RunOptions {
        details: Some(sink),
        ..Default::default()
    };
    match tianshu_recon::db::run_any(&job, opts).await {
        Ok((report, _)) => {
            metrics::counter!("tianshu_recon_runs_total", "status" => "succeeded").increment(1);
            finish(
                p,
                run,
                &report,
                Some(details_path.display().to_string()),
                None,
            )
            .await
        }
        Err(e) => {
            let _ = std::fs::remove_file(&details_path);
            fail(p, run, &db_error(s, e)).await
        }
    }
}

/// An engine error in the pack's words: `left: cannot connect: …` becomes `left_db 'crm': cannot connect: …`,
/// `left.table: …` becomes `left_table (db 'crm'): …`.
fn db_error(s: &RunSpec, e: tianshu_recon::ReconError) -> String {
    use tianshu_recon::ReconError;
    let db_of = |side: &str| match (side, &s.left, &s.right) {
        ("left", RunInput::Db(d), _) | ("right", _, RunInput::Db(d)) => Some(d.db.clone()),
        _ => None,
    };
    match e {
        ReconError::Database { side, msg } => match db_of(&side) {
            Some(db) => format!("{side}_db '{db}': {msg}"),
            None => format!("{side}: {msg}"),
        },
        ReconError::Job { field, msg } => {
            let (side, rest) = field.split_once('.').unwrap_or((field.as_str(), ""));
            match (db_of(side), rest) {
                (Some(db), "table" | "query") => format!("{side}_{rest} (db '{db}'): {msg}"),
                (Some(db), _) => format!("{field} (db '{db}'): {msg}"),
                (None, _) => format!("{field}: {msg}"),
            }
        }
        other => other.to_string(),
    }
}

async fn fail(p: &Platform, run: &ReconRunRow, msg: &str) -> ServiceResult<ReconRunRow> {
    metrics::counter!("tianshu_recon_runs_total", "status" => "failed").increment(1);
    let now = p.now_us();
    let id = run.id;
    let actor = run.started_by.clone();
    let msg = msg.to_string();
    Ok(p.store
        .write(move |c| {
            Box::pin(async move {
                let r = st::fail_run(c, id, &msg, now).await?;
                audit(
                    c,
                    &actor,
                    "recon.run.finish",
                    id.to_string(),
                    json!({"status": "failed", "error": msg}),
                    now,
                )
                .await?;
                Ok(r)
            })
        })
        .await?)
}

/// A report computed elsewhere (the CLI's `--store`), with its inputs.
#[derive(Debug, Clone)]
pub struct ExternalRun {
    pub job_key: String,
    pub started_by: String,
    /// full, or db for the CLI's `--mode db`.
    pub mode: ReconMode,
    /// A file, or a database side labelled by where the CLI took its URL from (never the URL).
    pub left: RunInput,
    pub right: RunInput,
    pub key: Vec<String>,
    pub details_path: Option<PathBuf>,
}

/// Stores a run the CLI computed (trigger `cli`): fingerprints, counts, sample, work item.
pub async fn store_external(
    p: &Platform,
    e: ExternalRun,
    report: &Report,
) -> ServiceResult<ReconRunRow> {
    let spec = RunSpec {
        job_key: e.job_key,
        mode: e.mode,
        trigger: "cli".into(),
        started_by: e.started_by,
        as_of: None,
        left: e.left,
        right: e.right,
        key: e.key,
        delimiter: None,
        encoding: None,
        changed: None,
    };
    let run = start_run(p, &spec).await?;
    let details = e
        .details_path
        .map(|d| std::fs::canonicalize(&d).unwrap_or(d).display().to_string());
    finish(p, &run, report, details, None).await
}

// ---------------------------------------------------------------- jobs

/// A job of the pack with its declared inputs and its latest run.
#[derive(Debug, Clone, Serialize)]
pub struct JobView {
    pub key: String,
    pub rule: String,
    pub name_zh: String,
    pub name_en: String,
    /// full or incremental.
    pub mode: String,
    pub days: Vec<u32>,
    pub daily: bool,
    pub inputs: Option<tianshu_core::policy::ScheduleInputs>,
    /// Where each side reads from, a database side with its registered kind.
    pub left_input: Option<InputView>,
    pub right_input: Option<InputView>,
    /// A job reading only databases: the local HH:MM it runs at on its days (its `at`, or the REC-08 cut-off).
    pub run_at: Option<String>,
    /// Whether the job runs today (local date).
    pub due_today: bool,
    /// REC-08 upload deadline (local HH:MM).
    pub upload_deadline: String,
    /// Today's REC-08 state: waiting, running, done; upload on_time / late / missing.
    pub today_state: Option<String>,
    pub today_upload: Option<String>,
    pub latest_run: Option<ReconRunRow>,
    /// The latest consistency meets the pack's target (REC-07/REC-12).
    pub meets_target: Option<bool>,
}

/// One declared side of a job.
#[derive(Debug, Clone, Serialize)]
pub struct InputView {
    /// file or db.
    pub kind: String,
    /// The file name pattern (kind file).
    pub path: Option<String>,
    /// The registered database's name (kind db).
    pub db: Option<String>,
    /// postgres or mysql; None when no database is registered under that name (the run would fail).
    pub db_kind: Option<String>,
    pub table: Option<String>,
    pub query: Option<String>,
}

fn input_view(
    src: Option<InputSource>,
    dbs: &[tianshu_store::monitoring::DatabaseRow],
) -> Option<InputView> {
    Some(match src? {
        InputSource::File { path } => InputView {
            kind: "file".into(),
            path: Some(path),
            db: None,
            db_kind: None,
            table: None,
            query: None,
        },
        InputSource::Db { db, table, query } => InputView {
            kind: "db".into(),
            path: None,
            db_kind: dbs.iter().find(|d| d.name == db).map(|d| d.kind.clone()),
            db: Some(db),
            table,
            query,
        },
    })
}

fn job_view(
    p: &Platform,
    s: &ScheduleDef,
    latest: Option<ReconRunRow>,
    day: Option<tianshu_store::recon::ReconDayRow>,
    dbs: &[tianshu_store::monitoring::DatabaseRow],
) -> JobView {
    let pol = p.policy.current();
    let rp = &pol.pack.reconciliation;
    let today = schedule::today(p);
    use chrono::Datelike;
    let inputs = s.inputs.as_ref();
    JobView {
        left_input: input_view(inputs.and_then(ScheduleInputs::left_source), dbs),
        right_input: input_view(inputs.and_then(ScheduleInputs::right_source), dbs),
        run_at: s
            .databases_only()
            .then(|| rp.run_at(s, today).format("%H:%M").to_string()),
        key: s.key.clone(),
        rule: s.rule.clone(),
        name_zh: s.name_zh.clone(),
        name_en: s.name_en.clone(),
        mode: mode_str(s.mode).into(),
        days: s.days.clone(),
        daily: s.daily,
        inputs: s.inputs.clone(),
        due_today: s.due_on(today.day()),
        upload_deadline: rp.upload.deadline.clone(),
        today_state: day.as_ref().map(|d| d.state.clone()),
        today_upload: day.and_then(|d| d.upload),
        meets_target: latest
            .as_ref()
            .and_then(|r| r.consistency)
            .map(|c| rp.meets_target(c)),
        latest_run: latest,
    }
}

/// The pack's reconciliation jobs with their inputs, today's REC-08 state and latest run.
pub async fn jobs(p: &Platform, actor: &Principal) -> ServiceResult<Vec<JobView>> {
    actor.require(Permission::ReconRead)?;
    let pol = p.policy.current();
    let latest = p.store.recon_latest_per_job().await?;
    let today = schedule::today(p).format("%Y-%m-%d").to_string();
    let uses_db = pol
        .pack
        .reconciliation
        .schedules
        .iter()
        .any(|s| s.inputs.as_ref().is_some_and(ScheduleInputs::uses_database));
    // Names and kinds only: the registry's passwords are never read here.
    let dbs = if uses_db {
        p.store.mon_databases().await?
    } else {
        Vec::new()
    };
    let mut out = Vec::new();
    for s in &pol.pack.reconciliation.schedules {
        let l = latest.iter().find(|r| r.job_key == s.key).cloned();
        let day = p.store.recon_day(&s.key, &today).await?;
        out.push(job_view(p, s, l, day, &dbs));
    }
    Ok(out)
}

/// One job.
pub async fn job(p: &Platform, actor: &Principal, key: &str) -> ServiceResult<JobView> {
    jobs(p, actor)
        .await?
        .into_iter()
        .find(|j| j.key == key)
        .ok_or_else(|| ServiceError::NotFound(format!("reconciliation job {key}")))
}

// ---------------------------------------------------------------- run now, uploads

/// A run started by hand: a job of the pack (its declared inputs for today, or the files given), or two files
/// of the inbox with a key.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunNowInput {
    /// A job key of the pack.
    pub job: Option<String>,
    /// Left file, relative to the inbox (an upload's `path`).
    pub left: Option<String>,
    /// Right file, relative to the inbox.
    pub right: Option<String>,
    /// Key column(s); default: the job's.
    pub key: Option<Vec<String>>,
    pub delimiter: Option<String>,
    pub encoding: Option<String>,
    /// Reconciliation day (YYYY-MM-DD) for the job's `{date}` file names; default today.
    pub date: Option<String>,
    /// Incremental mode: a delta file of changed keys, relative to the inbox.
    pub delta: Option<String>,
}

/// Runs a reconciliation now (`recon.run`) and returns the stored run.
pub async fn run_now(
    p: &Platform,
    actor: &Principal,
    input: RunNowInput,
) -> ServiceResult<ReconRunRow> {
    actor.require(Permission::ReconRun)?;
    let pol = p.policy.current();
    let def = match &input.job {
        Some(k) if !k.trim().is_empty() => Some(
            pol.pack
                .reconciliation
                .schedule(k)
                .cloned()
                .ok_or_else(|| {
                    ServiceError::unknown_ref(
                        "job",
                        format!("no reconciliation job '{k}' in the policy pack"),
                        format!("策略包中没有稽核任务 {k}"),
                    )
                })?,
        ),
        _ => None,
    };
    let day = match &input.date {
        Some(d) => Some(
            NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").map_err(|_| {
                ServiceError::invalid_zh("date", "expected YYYY-MM-DD", "日期格式应为 YYYY-MM-DD")
            })?,
        ),
        None => None,
    };
    let on = day.unwrap_or_else(|| schedule::today(p));
    let inputs = def.as_ref().and_then(|d| d.inputs.clone());
    let mode = def.as_ref().map_or(ReconMode::Full, |d| d.mode);
    // A side given by the client is a file of the inbox; otherwise the job's declared side for the day (a file
    // pattern or a registered database).
    let pick = |given: &Option<String>, declared: Option<InputSource>, field: &str| match (
        given, declared,
    ) {
        (Some(g), _) if !g.trim().is_empty() => {
            if mode == ReconMode::Db {
                return Err(ServiceError::invalid_zh(
                    field,
                    "this job compares two databases (mode = db); it reads no files",
                    "该稽核任务比对两个数据库(mode = db),不读取文件",
                ));
            }
            Ok(RunInput::File(inbox_path(p, field, g)?))
        }
        (_, Some(InputSource::File { path })) => Ok(RunInput::File(inbox_path(
            p,
            field,
            &ScheduleInputs::resolve(&path, on),
        )?)),
        (_, Some(src)) => Ok(RunInput::Db(DbInput::from_source(src.on(on)).ok_or_else(
            || ServiceError::Internal("a database side without a database".into()),
        )?)),
        _ => Err(ServiceError::invalid_zh(
            field,
            "a file in the reconciliation inbox is required (or a job with declared inputs)",
            "请指定稽核收件目录中的文件,或选择声明了输入的稽核任务",
        )),
    };
    let left = pick(
        &input.left,
        inputs.as_ref().and_then(ScheduleInputs::left_source),
        "left",
    )?;
    let right = pick(
        &input.right,
        inputs.as_ref().and_then(ScheduleInputs::right_source),
        "right",
    )?;
    let key = match (&input.key, &inputs) {
        (Some(k), _) if !k.is_empty() => k.clone(),
        (_, Some(i)) => i.key.clone(),
        _ => Vec::new(),
    };
    if key.is_empty() || key.iter().any(|k| k.trim().is_empty()) {
        return Err(ServiceError::invalid_zh(
            "key",
            "name at least one key column",
            "请至少指定一个主键列",
        ));
    }
    let delimiter = input
        .delimiter
        .clone()
        .or_else(|| inputs.as_ref().and_then(|i| i.delimiter.clone()));
    if let Some(d) = &delimiter {
        if !(d == "\\t" || d == "tab" || (d.len() == 1 && d.is_ascii() && d != "\n" && d != "\r")) {
            return Err(ServiceError::invalid_zh(
                "delimiter",
                "one ASCII character (or \\t for tab)",
                "分隔符应为一个 ASCII 字符",
            ));
        }
    }
    let encoding = input
        .encoding
        .clone()
        .or_else(|| inputs.as_ref().and_then(|i| i.encoding.clone()));
    if let Some(e) = &encoding {
        if !["utf-8", "utf8", "gbk", "gb18030"].contains(&e.to_ascii_lowercase().as_str()) {
            return Err(ServiceError::invalid_zh(
                "encoding",
                "utf-8, gbk or gb18030",
                "编码应为 utf-8、gbk 或 gb18030",
            ));
        }
    }
    let changed = match &input.delta {
        Some(d) if !d.trim().is_empty() => {
            Some(incremental::ChangedKeys::Delta(inbox_path(p, "delta", d)?))
        }
        _ if mode == ReconMode::Incremental => {
            let job_key = input.job.clone().unwrap_or_default();
            Some(incremental::changed_keys(p, &job_key, inputs.as_ref(), on).await?)
        }
        _ => None,
    };
    if changed.is_some() && (left.file().is_none() || right.file().is_none()) {
        return Err(ServiceError::invalid_zh(
            "delta",
            "an incremental run compares two files; this job reads a database",
            "增量稽核只比对文件,该任务读取数据库",
        ));
    }
    let spec = RunSpec {
        job_key: def.as_ref().map(|d| d.key.clone()).unwrap_or_default(),
        mode: if changed.is_some() {
            ReconMode::Incremental
        } else if mode == ReconMode::Db {
            ReconMode::Db
        } else {
            ReconMode::Full
        },
        trigger: "api".into(),
        started_by: actor.actor(),
        as_of: def.as_ref().map(|_| on),
        left,
        right,
        key,
        delimiter,
        encoding,
        changed,
    };
    execute(p, spec).await
}

/// Most bytes one upload may have (the API's body limit applies first).
pub const MAX_UPLOAD: usize = 256 << 20;

/// Stores an uploaded input file in the inbox (`uploads/<random>/<name>`) and returns its inbox path.
pub async fn upload(
    p: &Platform,
    actor: &Principal,
    name: &str,
    bytes: &[u8],
) -> ServiceResult<String> {
    actor.require(Permission::ReconRun)?;
    let name = name.trim();
    let ok = !name.is_empty()
        && name.len() <= 200
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', '\0']);
    if !ok {
        return Err(ServiceError::invalid_zh(
            "name",
            "a file name without '/' or '\\' (at most 200 bytes)",
            "文件名不能包含 / 或 \\,且不超过 200 字节",
        ));
    }
    if bytes.is_empty() {
        return Err(ServiceError::invalid_zh(
            "file",
            "the file is empty",
            "文件为空",
        ));
    }
    let dir = format!(
        "uploads/{}",
        crate::secrets::random_token(9).replace(['-', '_'], "x")
    );
    let rel = format!("{dir}/{name}");
    let full = p.recon.inbox().join(&dir);
    let target = full.join(name);
    let data = bytes.to_vec();
    tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&full)?;
        std::fs::write(&target, data)
    })
    .await
    .map_err(|e| ServiceError::Internal(format!("upload task: {e}")))?
    .map_err(|e| ServiceError::Internal(format!("cannot store the upload: {e}")))?;
    let now = p.now_us();
    let (actor_name, rel2, size) = (actor.actor(), rel.clone(), bytes.len());
    p.store
        .write(move |c| {
            Box::pin(async move {
                append(
                    c,
                    NewAuditEntry {
                        actor: actor_name,
                        action: "recon.upload".into(),
                        object_type: "recon_upload".into(),
                        object_id: rel2.clone(),
                        before: None,
                        after: Some(json!({"path": rel2, "size": size})),
                        request_id: None,
                        at: now,
                    },
                )
                .await?;
                Ok(())
            })
        })
        .await?;
    Ok(rel)
}

// ---------------------------------------------------------------- reading runs

/// A run with its work item.
#[derive(Debug, Clone, Serialize)]
pub struct RunView {
    pub run: ReconRunRow,
    pub key_columns: Vec<String>,
    /// Column → number of changed keys where it differs.
    pub per_column: std::collections::BTreeMap<String, i64>,
    pub item: Option<ReconItemRow>,
    pub meets_target: Option<bool>,
}

/// Runs, newest first (`recon.read`).
pub async fn runs(
    p: &Platform,
    actor: &Principal,
    job: Option<&str>,
    before: Option<i64>,
    limit: i64,
) -> ServiceResult<Vec<ReconRunRow>> {
    actor.require(Permission::ReconRead)?;
    if !(1..=500).contains(&limit) {
        return Err(ServiceError::invalid("limit", "must be 1..500"));
    }
    Ok(p.store
        .recon_runs(job, before.unwrap_or(i64::MAX), limit)
        .await?)
}

/// One run with its per-column counts and work item.
pub async fn run(p: &Platform, actor: &Principal, id: i64) -> ServiceResult<RunView> {
    actor.require(Permission::ReconRead)?;
    let run = p
        .store
        .recon_run(id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("reconciliation run {id}")))?;
    let item = p.store.recon_item_of_run(id).await?;
    let pol = p.policy.current();
    Ok(RunView {
        key_columns: serde_json::from_str(&run.key_columns).unwrap_or_default(),
        per_column: serde_json::from_str(&run.per_column).unwrap_or_default(),
        meets_target: run
            .consistency
            .map(|c| pol.pack.reconciliation.meets_target(c)),
        item,
        run,
    })
}

/// A page of a run's sampled differences.
#[derive(Debug, Clone, Serialize)]
pub struct SamplePage {
    pub run_id: i64,
    pub total: i64,
    pub offset: i64,
    pub limit: i64,
    pub items: Vec<ReconDiffRow>,
}

/// The kinds of difference.
pub const KINDS: [&str; 5] = [
    "changed",
    "only_left",
    "only_right",
    "duplicate_left",
    "duplicate_right",
];

/// A page of the sample, optionally of one kind.
pub async fn sample(
    p: &Platform,
    actor: &Principal,
    id: i64,
    kind: Option<&str>,
    offset: i64,
    limit: i64,
) -> ServiceResult<SamplePage> {
    actor.require(Permission::ReconRead)?;
    if let Some(k) = kind {
        if !KINDS.contains(&k) {
            return Err(ServiceError::invalid(
                "kind",
                format!("one of {}", KINDS.join(", ")),
            ));
        }
    }
    if offset < 0 {
        return Err(ServiceError::invalid("offset", "must not be negative"));
    }
    if !(1..=500).contains(&limit) {
        return Err(ServiceError::invalid("limit", "must be 1..500"));
    }
    if p.store.recon_run(id).await?.is_none() {
        return Err(ServiceError::NotFound(format!("reconciliation run {id}")));
    }
    let (items, total) = p.store.recon_sample(id, kind, offset, limit).await?;
    Ok(SamplePage {
        run_id: id,
        total,
        offset,
        limit,
        items,
    })
}

/// The consistency trend of a job.
#[derive(Debug, Clone, Serialize)]
pub struct Trend {
    pub job_key: String,
    pub target_percent: f64,
    pub points: Vec<tianshu_store::recon::ReconTrendPoint>,
}

/// The consistency of a job's last `limit` succeeded runs, oldest first.
pub async fn trend(
    p: &Platform,
    actor: &Principal,
    job_key: &str,
    limit: i64,
) -> ServiceResult<Trend> {
    actor.require(Permission::ReconRead)?;
    let pol = p.policy.current();
    if !job_key.is_empty() && pol.pack.reconciliation.schedule(job_key).is_none() {
        return Err(ServiceError::NotFound(format!(
            "reconciliation job {job_key}"
        )));
    }
    if !(1..=366).contains(&limit) {
        return Err(ServiceError::invalid("limit", "must be 1..366"));
    }
    Ok(Trend {
        job_key: job_key.to_string(),
        target_percent: pol.pack.reconciliation.follow_up.consistency_target_percent,
        points: p.store.recon_trend(job_key, limit).await?,
    })
}

/// Details download format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetailsFormat {
    Csv,
    Xlsx,
}

/// The full details of a run as a file: (file name, bytes).
pub async fn details(
    p: &Platform,
    actor: &Principal,
    id: i64,
    format: DetailsFormat,
) -> ServiceResult<(String, Vec<u8>)> {
    actor.require(Permission::ReconRead)?;
    let run = p
        .store
        .recon_run(id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("reconciliation run {id}")))?;
    let Some(path) = run.details_path.clone() else {
        return Err(ServiceError::NotFound(format!(
            "details of reconciliation run {id} (the run failed or stored none)"
        )));
    };
    let path = PathBuf::from(path);
    let tmp = p.recon.runs_dir().join(format!(
        "run-{id}-{}.xlsx",
        crate::secrets::random_token(6).replace(['-', '_'], "x")
    ));
    tokio::task::spawn_blocking(move || -> ServiceResult<(String, Vec<u8>)> {
        let csv = std::fs::read(&path)
            .map_err(|e| ServiceError::NotFound(format!("details file {}: {e}", path.display())))?;
        match format {
            DetailsFormat::Csv => Ok((format!("recon-run-{id}.csv"), csv)),
            DetailsFormat::Xlsx => {
                let out = csv_to_xlsx(&csv, &tmp);
                let _ = std::fs::remove_file(&tmp);
                out.map(|b| (format!("recon-run-{id}.xlsx"), b))
            }
        }
    })
    .await
    .map_err(|e| ServiceError::Internal(format!("details task: {e}")))?
}

/// Parses the engine's details CSV (UTF-8 with BOM, RFC 4180; an unquoted empty field is NULL).
pub fn parse_details_csv(csv: &[u8]) -> Vec<[Option<String>; 5]> {
    let text = String::from_utf8_lossy(csv.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(csv));
    let mut rows = Vec::new();
    let mut row: Vec<Option<String>> = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut in_quotes = false;
    let mut chars = text.chars().peekable();
    let end_field = |row: &mut Vec<Option<String>>, field: &mut String, quoted: &mut bool| {
        let v = std::mem::take(field);
        row.push(if v.is_empty() && !*quoted {
            None
        } else {
            Some(v)
        });
        *quoted = false;
    };
    while let Some(ch) = chars.next() {
        if in_quotes {
            if ch == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    field.push('"');
                } else {
                    in_quotes = false;
                }
            } else {
                field.push(ch);
            }
            continue;
        }
        match ch {
            '"' => {
                in_quotes = true;
                quoted = true;
            }
            ',' => end_field(&mut row, &mut field, &mut quoted),
            '\r' => {}
            '\n' => {
                end_field(&mut row, &mut field, &mut quoted);
                let r = std::mem::take(&mut row);
                if r.len() == 5 {
                    let mut it = r.into_iter();
                    rows.push(std::array::from_fn(|_| it.next().flatten()));
                }
            }
            c => field.push(c),
        }
    }
    if !row.is_empty() || !field.is_empty() {
        end_field(&mut row, &mut field, &mut quoted);
        if row.len() == 5 {
            let mut it = row.into_iter();
            rows.push(std::array::from_fn(|_| it.next().flatten()));
        }
    }
    if !rows.is_empty() {
        rows.remove(0); // header
    }
    rows
}

fn csv_to_xlsx(csv: &[u8], tmp: &Path) -> ServiceResult<Vec<u8>> {
    use tianshu_recon::details::DetailSink;
    use tianshu_recon::{DiffKind, Difference};
    let mut sink = Box::new(tianshu_recon::details::XlsxDetails::new(tmp));
    for r in parse_details_csv(csv) {
        let kind = match r[0].as_deref() {
            Some("changed") => DiffKind::Changed,
            Some("only_left") => DiffKind::OnlyLeft,
            Some("only_right") => DiffKind::OnlyRight,
            Some("duplicate_left") => DiffKind::DuplicateLeft,
            _ => DiffKind::DuplicateRight,
        };
        sink.write(&Difference {
            kind,
            key: r[1].clone().unwrap_or_default(),
            column: r[2].clone(),
            left: r[3].clone(),
            right: r[4].clone(),
        })
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    }
    if let Some(d) = tmp.parent() {
        std::fs::create_dir_all(d).map_err(|e| ServiceError::Internal(e.to_string()))?;
    }
    sink.finish()
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    std::fs::read(tmp).map_err(|e| ServiceError::Internal(e.to_string()))
}

// ---------------------------------------------------------------- work items

/// A work item with the run it came from.
#[derive(Debug, Clone, Serialize)]
pub struct ItemView {
    pub item: ReconItemRow,
    /// The reply deadline passed without a reply (or the fix deadline without a fix).
    pub reply_overdue: bool,
    pub fix_overdue: bool,
}

fn item_view(p: &Platform, item: ReconItemRow) -> ItemView {
    let now = p.now_us();
    ItemView {
        reply_overdue: item
            .replied_at
            .map_or(now > item.reply_due, |t| t > item.reply_due),
        fix_overdue: item
            .fixed_at
            .map_or(now > item.fix_due, |t| t > item.fix_due),
        item,
    }
}

/// Work items, newest first, optionally in one state.
pub async fn items(
    p: &Platform,
    actor: &Principal,
    state: Option<&str>,
    limit: i64,
) -> ServiceResult<Vec<ItemView>> {
    actor.require(Permission::ReconRead)?;
    if let Some(s) = state {
        if !["open", "replied", "fixed", "closed"].contains(&s) {
            return Err(ServiceError::invalid(
                "state",
                "one of open, replied, fixed, closed",
            ));
        }
    }
    if !(1..=500).contains(&limit) {
        return Err(ServiceError::invalid("limit", "must be 1..500"));
    }
    Ok(p.store
        .recon_items(state, limit)
        .await?
        .into_iter()
        .map(|i| item_view(p, i))
        .collect())
}

/// One work item.
pub async fn item(p: &Platform, actor: &Principal, id: i64) -> ServiceResult<ItemView> {
    actor.require(Permission::ReconRead)?;
    let i = p
        .store
        .recon_item(id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("reconciliation work item {id}")))?;
    Ok(item_view(p, i))
}

/// A move on a work item.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum ItemAction {
    /// The owner's answer (stops the reply clock).
    Reply { version: i64, text: String },
    /// The differences are fixed (stops the fix clock; a reply is implied if none was given).
    Fix { version: i64, text: String },
    /// Closed after the fix.
    Close { version: i64 },
}

/// Replies to, fixes or closes a work item (`recon.run`).
pub async fn act(
    p: &Platform,
    actor: &Principal,
    id: i64,
    action: ItemAction,
) -> ServiceResult<ItemView> {
    actor.require(Permission::ReconRun)?;
    let (version, text) = match &action {
        ItemAction::Reply { version, text } | ItemAction::Fix { version, text } => {
            (*version, Some(text.trim().to_string()))
        }
        ItemAction::Close { version } => (*version, None),
    };
    if let Some(t) = &text {
        if t.is_empty() {
            return Err(ServiceError::invalid_zh(
                "text",
                "must not be empty",
                "不能为空",
            ));
        }
        if t.chars().count() > 4000 {
            return Err(ServiceError::invalid_zh(
                "text",
                "at most 4000 characters",
                "不能超过 4000 字",
            ));
        }
    }
    let now = p.now_us();
    let who = actor.actor();
    let item = p
        .store
        .write(move |c| {
            Box::pin(async move {
                let Some(mut it) = st::item_for_update(c, id).await? else {
                    return Ok(Err(ServiceError::NotFound(format!(
                        "reconciliation work item {id}"
                    ))));
                };
                if it.version != version {
                    return Ok(Err(ServiceError::Stale(format!(
                        "reconciliation work item {id}"
                    ))));
                }
                let before = json!({"state": it.state});
                let subject = it.run_id.to_string();
                let (allowed, name): (&[&str], &str) = match &action {
                    ItemAction::Reply { .. } => (&["open"], "reply"),
                    ItemAction::Fix { .. } => (&["open", "replied"], "fix"),
                    ItemAction::Close { .. } => (&["fixed"], "close"),
                };
                if !allowed.contains(&it.state.as_str()) {
                    let can: Vec<String> = match it.state.as_str() {
                        "open" => vec!["reply".into(), "fix".into()],
                        "replied" => vec!["fix".into()],
                        "fixed" => vec!["close".into()],
                        _ => vec![],
                    };
                    return Ok(Err(ServiceError::Transition {
                        code: "recon_item_state",
                        message: format!("cannot {name} a work item that is {}", it.state),
                        allowed: can,
                    }));
                }
                match &action {
                    ItemAction::Reply { .. } => {
                        clocks::stop(c, ITEM_KIND, &subject, REPLY_KEY, now, "replied").await?;
                        it.state = "replied".into();
                        it.replied_by = Some(who.clone());
                        it.replied_at = Some(now);
                        it.reply = text.clone();
                    }
                    ItemAction::Fix { .. } => {
                        if it.replied_at.is_none() {
                            clocks::stop(c, ITEM_KIND, &subject, REPLY_KEY, now, "fixed").await?;
                            it.replied_by = Some(who.clone());
                            it.replied_at = Some(now);
                            it.reply = text.clone();
                        }
                        clocks::stop(c, ITEM_KIND, &subject, FIX_KEY, now, "fixed").await?;
                        it.state = "fixed".into();
                        it.fixed_by = Some(who.clone());
                        it.fixed_at = Some(now);
                        it.fix_note = text.clone();
                    }
                    ItemAction::Close { .. } => {
                        it.state = "closed".into();
                        it.closed_by = Some(who.clone());
                        it.closed_at = Some(now);
                    }
                }
                let saved = st::save_item(c, &it, now).await?;
                append(
                    c,
                    NewAuditEntry {
                        actor: who.clone(),
                        action: format!("recon.item.{name}"),
                        object_type: "recon_item".into(),
                        object_id: id.to_string(),
                        before: Some(before),
                        after: Some(json!({"state": saved.state, "text": text})),
                        request_id: None,
                        at: now,
                    },
                )
                .await?;
                Ok(Ok(saved))
            })
        })
        .await??;
    Ok(item_view(p, item))
}
