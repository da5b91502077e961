//! Retention of monitoring history (`monitoring.toml` `[retention]`): a durable job prunes probe runs, point
//! evaluations and the event history of resolved alerts older than the pack says.
//!
//! Durable: the job's next slot is stored (`mon_jobs`) and claimed by a conditional update, so with several
//! instances exactly one runs each slot, and a restart neither skips a due run nor repeats a finished one.
//! Deletes run in bounded batches, each its own transaction; a run that leaves rows behind brings its next slot
//! forward to finish soon without holding the writer.

use serde::Serialize;
use tianshu_core::policy::MonRetentionPolicy;
use tianshu_store::monitoring as st;

use crate::{Platform, ServiceResult};

/// Name of the job in `mon_jobs`.
pub const JOB: &str = "retention";

/// Batches per table in one run; more left → the next run comes after [`CATCH_UP_US`].
const MAX_BATCHES: u32 = 20;
/// Gap before a run that continues one which left rows behind.
const CATCH_UP_US: i64 = 60_000_000;

/// What one run deleted.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Pruned {
    pub probe_runs: u64,
    pub point_runs: u64,
    pub alert_events: u64,
    /// Rows older than the limits are left (the next run follows soon).
    pub more: bool,
}

const DAY_US: i64 = 86_400_000_000;

/// Runs the job if its slot is due and this instance claims it; `None` when not due or claimed elsewhere.
pub async fn run_if_due(p: &Platform) -> ServiceResult<Option<Pruned>> {
    let now = p.now_us();
    if let Some(j) = p.store.mon_job(JOB).await? {
        if j.next_run_at > now {
            return Ok(None);
        }
    }
    let rt = p.policy.current().pack.monitoring.retention.clone();
    let next = now + rt.every.seconds() * 1_000_000;
    let won = p
        .store
        .write(move |c| Box::pin(async move { st::claim_job(c, JOB, now, next).await }))
        .await?;
    if !won {
        return Ok(None);
    }
    let pruned = prune(p, &rt, now).await?;
    let result = serde_json::to_string(&pruned).unwrap_or_default();
    let sooner = pruned.more.then_some(now + CATCH_UP_US);
    p.store
        .write(move |c| Box::pin(async move { st::finish_job(c, JOB, &result, sooner).await }))
        .await?;
    tracing::info!(
        probe_runs = pruned.probe_runs,
        point_runs = pruned.point_runs,
        alert_events = pruned.alert_events,
        more = pruned.more,
        "monitoring history pruned"
    );
    Ok(Some(pruned))
}

#[derive(Clone, Copy)]
enum Table {
    ProbeRuns,
    PointRuns,
    AlertEvents,
}

impl Table {
    fn label(self) -> &'static str {
        match self {
            Table::ProbeRuns => "probe_runs",
            Table::PointRuns => "mon_point_runs",
            Table::AlertEvents => "alert_events",
        }
    }
}

/// Deletes what is older than the limits as of `now`, in batches.
pub async fn prune(p: &Platform, rt: &MonRetentionPolicy, now: i64) -> ServiceResult<Pruned> {
    let mut out = Pruned::default();
    let batch = i64::from(rt.batch.max(1));
    let plan = [
        (Table::ProbeRuns, rt.probe_runs_days),
        (Table::PointRuns, rt.point_runs_days),
        (Table::AlertEvents, rt.alert_history_days),
    ];
    for (table, days) in plan {
        if days == 0 {
            continue;
        }
        let before = now - i64::from(days) * DAY_US;
        let mut total = 0u64;
        let mut rounds = 0;
        loop {
            let n = p
                .store
                .write(move |c| {
                    Box::pin(async move {
                        match table {
                            Table::ProbeRuns => st::prune_probe_runs(c, before, batch).await,
                            Table::PointRuns => st::prune_point_runs(c, before, batch).await,
                            Table::AlertEvents => st::prune_alert_events(c, before, batch).await,
                        }
                    })
                })
                .await?;
            total += n;
            rounds += 1;
            if n < batch as u64 {
                break;
            }
            if rounds >= MAX_BATCHES {
                out.more = true;
                break;
            }
        }
        metrics::counter!("tianshu_monitoring_pruned_total", "table" => table.label())
            .increment(total);
        match table {
            Table::ProbeRuns => out.probe_runs = total,
            Table::PointRuns => out.point_runs = total,
            Table::AlertEvents => out.alert_events = total,
        }
    }
    Ok(out)
}
