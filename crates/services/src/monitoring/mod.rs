//! Monitoring beyond alert intake (issue 5): dial-test probes (MON-03, MON-05), SQL business-monitoring points
//! on external databases (MON-02), the daily sign-in (MON-09) and the severe-alarm budget (MON-10).
//!
//! [`run`] drives probes and points beside the timer scheduler: each tick claims what is due and hands every
//! run to a task bounded by a semaphore, so a slow target or an unreachable database never blocks the loop.
//! Failures raise alerts through the same pipeline as external events (`alerts::ingest_internal`).

pub mod points;
pub mod probes;
pub mod retention;
pub mod signin;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use tianshu_store::audit::{append, NewAuditEntry};
use tianshu_store::{Conn, StoreResult};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::Platform;

/// Per-instance monitoring state: connection pools of the external databases, by database id.
#[derive(Default)]
pub struct Runtime {
    pools: Mutex<HashMap<i64, (i64, points::ExtPool)>>,
    http: std::sync::OnceLock<Result<reqwest::Client, String>>,
}

impl Runtime {
    /// The HTTP client every probe run shares (connection pool, TLS setup done once); cookies and redirects
    /// are handled per run by the probe runner.
    pub fn http(&self) -> Result<&reqwest::Client, String> {
        self.http
            .get_or_init(|| {
                reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .user_agent("tianshu-probe")
                    .build()
                    .map_err(|e| format!("HTTP client: {e}"))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    fn pool(&self, id: i64, version: i64) -> Option<points::ExtPool> {
        let g = self.pools.lock().ok()?;
        g.get(&id)
            .filter(|(v, _)| *v == version)
            .map(|(_, p)| p.clone())
    }

    fn put_pool(&self, id: i64, version: i64, pool: points::ExtPool) {
        if let Ok(mut g) = self.pools.lock() {
            g.insert(id, (version, pool));
        }
    }

    /// Drops the pool of a database that was edited or removed.
    pub fn forget(&self, id: i64) {
        if let Ok(mut g) = self.pools.lock() {
            g.remove(&id);
        }
    }
}

/// The bounded runner of probes and points.
pub struct Runner {
    probe_slots: Arc<Semaphore>,
    point_slots: Arc<Semaphore>,
    /// A retention run is in flight on this instance.
    pruning: Arc<AtomicBool>,
    /// The retention job's next slot as last read (µs); the store is not asked before it.
    prune_next: Arc<AtomicI64>,
    /// The last tick's claim filled every free probe / point slot: more may be due.
    more_due: Mutex<(bool, bool)>,
}

impl Runner {
    /// A runner with the policy's concurrency limits.
    pub fn new(p: &Platform) -> Runner {
        let pol = p.policy.current();
        let m = &pol.pack.monitoring;
        Runner {
            probe_slots: Arc::new(Semaphore::new(m.probes.concurrency as usize)),
            point_slots: Arc::new(Semaphore::new(m.points.concurrency as usize)),
            pruning: Arc::new(AtomicBool::new(false)),
            prune_next: Arc::new(AtomicI64::new(i64::MIN)),
            more_due: Mutex::new((false, false)),
        }
    }

    /// Starts today's sign-in clocks if needed, the retention job when its slot is due, and a task for every
    /// due probe and point that fits in a free slot; returns the tasks (the loop does not wait for them, tests may).
    pub async fn tick(&self, p: &Platform) -> Vec<JoinHandle<()>> {
        if let Err(e) = signin::open_today(p).await {
            tracing::warn!(error = %e, "monitoring sign-in clocks could not be started");
        }
        let mut tasks = Vec::new();
        if p.now_us() >= self.prune_next.load(Ordering::Relaxed)
            && !self.pruning.swap(true, Ordering::AcqRel)
        {
            let (p, pruning, next) = (p.clone(), self.pruning.clone(), self.prune_next.clone());
            tasks.push(tokio::spawn(async move {
                if let Err(e) = retention::run_if_due(&p).await {
                    tracing::warn!(error = %e, "monitoring history could not be pruned");
                }
                if let Ok(Some(j)) = p.store.mon_job(retention::JOB).await {
                    next.store(j.next_run_at, Ordering::Relaxed);
                }
                pruning.store(false, Ordering::Release);
            }));
        }
        let full = self.claim(p, &mut tasks, true, true).await;
        *self.more_due.lock().unwrap_or_else(|e| e.into_inner()) = full;
        tasks
    }

    /// Claims due probes and/or points into the free slots and starts them; per kind, true when it filled
    /// every free slot (more may be due as soon as a slot frees).
    async fn claim(
        &self,
        p: &Platform,
        tasks: &mut Vec<JoinHandle<()>>,
        want_probes: bool,
        want_points: bool,
    ) -> (bool, bool) {
        let mut full = (false, false);
        let free = self.probe_slots.available_permits();
        if want_probes && free > 0 {
            match probes::claim_due(p, free).await {
                Ok(due) => {
                    full.0 = due.len() >= free;
                    for probe in due {
                        let Ok(permit) = self.probe_slots.clone().try_acquire_owned() else {
                            break;
                        };
                        let p = p.clone();
                        tasks.push(tokio::spawn(async move {
                            if let Err(e) = probes::run_claimed(&p, probe).await {
                                tracing::warn!(error = %e, "probe run could not be recorded");
                            }
                            drop(permit);
                        }));
                    }
                }
                Err(e) => tracing::warn!(error = %e, "due probes could not be claimed"),
            }
        }
        let free = self.point_slots.available_permits();
        if want_points && free > 0 {
            match points::claim_due(p, free).await {
                Ok(due) => {
                    full.1 = due.len() >= free;
                    for point in due {
                        let Ok(permit) = self.point_slots.clone().try_acquire_owned() else {
                            break;
                        };
                        let p = p.clone();
                        tasks.push(tokio::spawn(async move {
                            if let Err(e) = points::run_claimed(&p, point).await {
                                tracing::warn!(error = %e, "monitoring point run could not be recorded");
                            }
                            drop(permit);
                        }));
                    }
                }
                Err(e) => tracing::warn!(error = %e, "due monitoring points could not be claimed"),
            }
        }
        full
    }

    /// Waits until a slot of a kind that had more due work frees; says which kind.
    async fn a_slot_frees(&self, (probes, points): (bool, bool)) -> (bool, bool) {
        tokio::select! {
            r = self.probe_slots.acquire(), if probes => { drop(r); (true, false) }
            r = self.point_slots.acquire(), if points => { drop(r); (false, true) }
            else => (false, false),
        }
    }
}

/// How often the runner looks for due work when it is not busy.
const TICK: Duration = Duration::from_millis(500);

/// Runs probes, points, the retention job and the sign-in clocks until `stop` turns true. When every slot was
/// filled, the runner claims again as soon as a slot frees instead of waiting for the next tick, so the
/// throughput is bounded by the concurrency and the targets' latency, not by the tick.
pub async fn run(p: Platform, mut stop: tokio::sync::watch::Receiver<bool>) {
    let runner = Runner::new(&p);
    loop {
        let until = tokio::time::Instant::now() + TICK;
        let _ = runner.tick(&p).await;
        let mut more = *runner.more_due.lock().unwrap_or_else(|e| e.into_inner());
        while more.0 || more.1 {
            let freed = tokio::select! {
                f = runner.a_slot_frees(more) => f,
                _ = tokio::time::sleep_until(until) => break,
                _ = stop.changed() => return,
            };
            let mut started = Vec::new();
            let full = runner.claim(&p, &mut started, freed.0, freed.1).await;
            // A kind not claimed this round keeps its flag.
            more = (
                if freed.0 { full.0 } else { more.0 },
                if freed.1 { full.1 } else { more.1 },
            );
        }
        tokio::select! {
            _ = tokio::time::sleep_until(until) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
    }
}

/// RFC 3339 (UTC, seconds) of stored microseconds.
pub(crate) fn rfc3339(us: i64) -> String {
    let t: DateTime<Utc> = tianshu_store::time::from_micros(us);
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The pack's time zone.
pub(crate) fn tz(p: &Platform) -> chrono_tz::Tz {
    p.policy
        .current()
        .pack
        .pack
        .time_zone
        .parse()
        .unwrap_or(chrono_tz::Asia::Shanghai)
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn audit(
    c: &mut Conn<'_>,
    actor: &str,
    action: &str,
    object_type: &str,
    object_id: String,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
    now: i64,
) -> StoreResult<()> {
    append(
        c,
        NewAuditEntry {
            actor: actor.to_string(),
            action: action.to_string(),
            object_type: object_type.to_string(),
            object_id,
            before,
            after,
            request_id: None,
            at: now,
        },
    )
    .await?;
    Ok(())
}

/// Labels of an alert raised by a probe or a point.
pub(crate) fn alert_labels(
    alertname: &str,
    instance: &str,
    system: &str,
    region: &str,
    severity: &str,
) -> tianshu_core::alert::Labels {
    let mut l = tianshu_core::alert::Labels::new();
    l.insert("alertname".into(), alertname.into());
    l.insert("instance".into(), instance.into());
    l.insert("severity".into(), severity.into());
    if !system.is_empty() {
        l.insert("system".into(), system.into());
    }
    if !region.is_empty() {
        l.insert("region".into(), region.into());
    }
    l
}

/// The JSON of an audit record naming only what changed hands, never secret values.
pub(crate) fn names_only(m: &std::collections::BTreeMap<String, String>) -> serde_json::Value {
    json!(m.keys().collect::<Vec<_>>())
}
