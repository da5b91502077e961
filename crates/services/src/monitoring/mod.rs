//! Monitoring beyond alert intake (issue 5): dial-test probes (MON-03, MON-05), SQL business-monitoring points
//! on external databases (MON-02), the daily sign-in (MON-09) and the severe-alarm budget (MON-10).
//!
//! [`run`] drives probes and points beside the timer scheduler: each tick claims what is due and hands every
//! run to a task bounded by a semaphore, so a slow target or an unreachable database never blocks the loop.
//! Failures raise alerts through the same pipeline as external events (`alerts::ingest_internal`).

pub mod points;
pub mod probes;
pub mod signin;

use std::collections::HashMap;
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
}

impl Runner {
    /// A runner with the policy's concurrency limits.
    pub fn new(p: &Platform) -> Runner {
        let pol = p.policy.current();
        let m = &pol.pack.monitoring;
        Runner {
            probe_slots: Arc::new(Semaphore::new(m.probes.concurrency as usize)),
            point_slots: Arc::new(Semaphore::new(m.points.concurrency as usize)),
        }
    }

    /// Starts today's sign-in clocks if needed and starts a task for every due probe and point that fits in a
    /// free slot; returns the tasks (the loop does not wait for them, tests may).
    pub async fn tick(&self, p: &Platform) -> Vec<JoinHandle<()>> {
        if let Err(e) = signin::open_today(p).await {
            tracing::warn!(error = %e, "monitoring sign-in clocks could not be started");
        }
        let mut tasks = Vec::new();
        let free = self.probe_slots.available_permits();
        if free > 0 {
            match probes::claim_due(p, free).await {
                Ok(due) => {
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
        if free > 0 {
            match points::claim_due(p, free).await {
                Ok(due) => {
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
        tasks
    }
}

/// Runs probes, points and the sign-in clocks until `stop` turns true.
pub async fn run(p: Platform, mut stop: tokio::sync::watch::Receiver<bool>) {
    let runner = Runner::new(&p);
    loop {
        let _ = runner.tick(&p).await;
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
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
