//! Scheduled reconciliations (REC-01..REC-07) and the REC-08 upload watch, run by `serve`.
//!
//! Each tick looks at the jobs due today (local date of the pack's time zone) that declare inputs. A job's day is
//! a row (`recon_days`, one per job and day, created with `ON CONFLICT DO NOTHING`); the instance that moves it
//! from `waiting` to `running` with a conditional update runs it, so two instances on PostgreSQL never run the
//! same job twice for a day, and a crashed instance's lease expires and another takes over. A file still missing
//! at the upload deadline raises one alert through the alert pipeline (dedup key per job and day); when the files
//! arrive, the alert is resolved, the upload is recorded `late` and the job runs.
//!
//! A job whose two sides are registered databases has nothing to upload: it runs at its `at` (default the REC-08
//! cut-off) with no upload state and no alert. A database that cannot be reached fails that run (stored with the
//! reason) like a bad file does; the day is done and the tick goes on with the other jobs.

use std::time::Duration;

use chrono::{Datelike, NaiveDate, TimeZone};
use tianshu_core::policy::{InputSource, ReconMode, ScheduleInputs};
use tianshu_store::recon as st;

use super::{execute, incremental, DbInput, RunInput, RunSpec};
use crate::{Platform, ServiceResult};

/// How long a claimed day stays with one instance before another may take it over.
pub const LEASE_US: i64 = 6 * 3600 * 1_000_000;

/// Today's local date in the pack's time zone.
pub fn today(p: &Platform) -> NaiveDate {
    p.clock.now().with_timezone(&p.time_zone()).date_naive()
}

fn local_us(p: &Platform, t: chrono::NaiveDateTime) -> i64 {
    p.time_zone()
        .from_local_datetime(&t)
        .earliest()
        .map_or(0, |t| t.timestamp_micros())
}

/// Dedup key of a job's REC-08 alert for a day.
pub fn alert_key(job: &str, day: &str) -> String {
    format!("recon:{job}:{day}")
}

/// What one tick did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TickOutcome {
    /// Runs started (and finished) by this tick.
    pub runs: Vec<i64>,
    /// Jobs whose REC-08 alert this tick raised.
    pub alerted: Vec<String>,
}

/// Looks at today's jobs once: raises REC-08 alerts and runs every job whose files are in the inbox.
pub async fn tick(p: &Platform) -> ServiceResult<TickOutcome> {
    let pol = p.policy.current();
    let rp = &pol.pack.reconciliation;
    let day = today(p);
    let day_s = day.format("%Y-%m-%d").to_string();
    let deadline = local_us(p, rp.upload_deadline(day));
    let inbox = p.recon.inbox();
    let mut out = TickOutcome::default();
    for s in rp.schedules.iter().filter(|s| s.due_on(day.day())) {
        let Some(inp) = &s.inputs else { continue };
        let now = p.now_us();
        let (k, d) = (s.key.clone(), day_s.clone());
        p.store
            .write(move |c| Box::pin(async move { st::open_day(c, &k, &d, now).await }))
            .await?;
        let Some(row) = p.store.recon_day(&s.key, &day_s).await? else {
            continue;
        };
        if row.state == "done" {
            continue;
        }
        let (Some(left), Some(right)) = (inp.left_source(), inp.right_source()) else {
            continue;
        };
        let (left, right) = (left.on(day), right.on(day));
        if s.databases_only() {
            // Nothing to upload (REC-08 does not apply): the job runs at its time of the day.
            if now < local_us(p, rp.run_at(s, day)) {
                continue;
            }
        } else {
            let delta = inp.delta.as_ref().map(|d| ScheduleInputs::resolve(d, day));
            let missing: Vec<String> = [&left, &right]
                .into_iter()
                .filter_map(|src| match src {
                    InputSource::File { path } => Some(path.clone()),
                    InputSource::Db { .. } => None,
                })
                .chain(delta)
                .filter(|f| !inbox.join(f).is_file())
                .collect();
            if !missing.is_empty() {
                if now >= deadline && row.alerted == 0 {
                    let (k, d) = (s.key.clone(), day_s.clone());
                    let first = p
                        .store
                        .write(move |c| {
                            Box::pin(async move { st::mark_day_alerted(c, &k, &d, now).await })
                        })
                        .await?;
                    if first {
                        let summary = format!(
                            "{}: 稽核文件未在 {} 前上传 / reconciliation file not uploaded by {} ({}): {}",
                            rp.upload.rule,
                            rp.upload.deadline,
                            rp.upload.deadline,
                            s.name_zh,
                            missing.join(", ")
                        );
                        crate::alerts::ingest_internal(
                            p,
                            "recon",
                            alert_key(&s.key, &day_s),
                            true,
                            labels(&s.key, &s.rule),
                            summary,
                        )
                        .await?;
                        metrics::counter!("tianshu_recon_upload_alerts_total").increment(1);
                        out.alerted.push(s.key.clone());
                    }
                }
                continue;
            }
        }
        let (k, d) = (s.key.clone(), day_s.clone());
        let claimed = p
            .store
            .write(move |c| Box::pin(async move { st::claim_day(c, &k, &d, now, LEASE_US).await }))
            .await?;
        let Some(claimed) = claimed else { continue };
        let upload = if s.databases_only() {
            None
        } else if claimed.upload.as_deref() == Some("missing") || now >= deadline {
            Some("late")
        } else {
            Some("on_time")
        };
        if claimed.alerted != 0 {
            // The files arrived after the alert: recovery, the upload stays recorded as late.
            crate::alerts::ingest_internal(
                p,
                "recon",
                alert_key(&s.key, &day_s),
                false,
                Default::default(),
                String::new(),
            )
            .await?;
        }
        let changed = if s.mode == ReconMode::Incremental {
            match incremental::changed_keys(p, &s.key, Some(inp), day).await {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::warn!(job = %s.key, error = %e, "incremental reconciliation cannot start");
                    None
                }
            }
        } else {
            None
        };
        let spec = RunSpec {
            job_key: s.key.clone(),
            mode: s.mode,
            trigger: "schedule".into(),
            started_by: "system:recon".into(),
            as_of: Some(day),
            left: run_input(&inbox, left),
            right: run_input(&inbox, right),
            key: inp.key.clone(),
            delimiter: inp.delimiter.clone(),
            encoding: inp.encoding.clone(),
            changed,
        };
        let run = execute(p, spec).await;
        let now = p.now_us();
        let (k, d) = (s.key.clone(), day_s.clone());
        let run_id = run.as_ref().ok().map(|r| r.id);
        p.store
            .write(move |c| {
                Box::pin(async move { st::set_day(c, &k, &d, "done", upload, run_id, now).await })
            })
            .await?;
        let run = run?;
        out.runs.push(run.id);
    }
    Ok(out)
}

/// A declared side for the day: a file of the inbox or a registered database.
fn run_input(inbox: &std::path::Path, src: InputSource) -> RunInput {
    match src {
        InputSource::File { path } => RunInput::File(inbox.join(path)),
        InputSource::Db { db, table, query } => RunInput::Db(DbInput { db, table, query }),
    }
}

fn labels(job: &str, rule: &str) -> tianshu_core::alert::Labels {
    let mut l = tianshu_core::alert::Labels::new();
    l.insert("alertname".into(), "ReconFileMissing".into());
    l.insert("instance".into(), job.into());
    l.insert("severity".into(), "warning".into());
    l.insert("rule".into(), rule.into());
    l
}

/// Runs [`tick`] every 30 seconds until `stop` turns true.
pub async fn run(p: Platform, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        if let Err(e) = tick(&p).await {
            tracing::warn!(error = %e, "reconciliation schedule tick failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(30)) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
    }
}
