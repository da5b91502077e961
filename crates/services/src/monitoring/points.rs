//! SQL business-monitoring points (MON-02): registered external databases (PostgreSQL, MySQL/MariaDB) whose
//! passwords never leave the store except to connect, read-only queries under a statement timeout on a small
//! pool per database, the result compared with the point's threshold, state ok / breached / unknown, and the
//! alarm through the alert pipeline (dedup key `point:<id>`); an unreachable database is `unknown` and alarms
//! only after the policy's grace. Nothing here can crash the runner: every failure becomes `unknown`.

use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Column, Executor, Row, TypeInfo};
use tianshu_core::point::{self as domain, Comparison, Observed, PointState, Threshold};
use tianshu_core::policy::PointPolicy;
use tianshu_core::probe::Alarm;
use tianshu_core::Permission;
use tianshu_store::credentials::CredentialColumn;
use tianshu_store::monitoring::{
    self as st, DatabaseDef, DatabaseRow, PointDef, PointRow, PointRunRow,
};

use super::{alert_labels, audit, rfc3339};
use crate::authz::Principal;
use crate::{Platform, ServiceError, ServiceResult};

/// Alert name of a breached point.
pub const ALERTNAME: &str = "monitoring_point";

/// A pool on an external database.
#[derive(Clone)]
pub enum ExtPool {
    Postgres(PgPool),
    MySql(MySqlPool),
}

// ---------------------------------------------------------------- databases

/// An external database to register or edit.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseInput {
    pub name: String,
    /// `postgres` or `mysql` (MySQL and MariaDB).
    pub kind: String,
    pub host: String,
    pub port: Option<i64>,
    pub database: String,
    pub username: String,
    /// Stored for connecting only; never returned. On edit, absent = keep.
    #[serde(default)]
    pub password: Option<String>,
    /// Required on edit.
    #[serde(default)]
    pub version: Option<i64>,
}

impl std::fmt::Debug for DatabaseInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseInput")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("host", &self.host)
            .field("password", &"***")
            .finish()
    }
}

fn check_db(input: &DatabaseInput) -> ServiceResult<DatabaseDef> {
    let kind = match input.kind.as_str() {
        "postgres" | "postgresql" => "postgres",
        "mysql" | "mariadb" => "mysql",
        _ => {
            return Err(ServiceError::invalid(
                "kind",
                "expected postgres or mysql (MySQL and MariaDB)",
            ))
        }
    };
    for (f, v) in [
        ("name", &input.name),
        ("host", &input.host),
        ("database", &input.database),
        ("username", &input.username),
    ] {
        if v.trim().is_empty() || v.len() > 255 {
            return Err(ServiceError::invalid(f, "1 to 255 characters"));
        }
    }
    if input
        .host
        .chars()
        .any(|c| c.is_whitespace() || c == '/' || c == '@')
    {
        return Err(ServiceError::invalid("host", "a host name or IP address"));
    }
    let port = input
        .port
        .unwrap_or(if kind == "postgres" { 5432 } else { 3306 });
    if !(1..=65535).contains(&port) {
        return Err(ServiceError::invalid("port", "1 to 65535"));
    }
    if input.password.as_deref().is_some_and(|p| p.len() > 1024) {
        return Err(ServiceError::invalid("password", "at most 1024 bytes"));
    }
    Ok(DatabaseDef {
        name: input.name.trim().to_string(),
        kind: kind.into(),
        host: input.host.trim().to_string(),
        port,
        database: input.database.trim().to_string(),
        username: input.username.trim().to_string(),
        password: input.password.clone(),
    })
}

/// The definition with its password (when given) in stored, encrypted form.
fn seal_password(p: &Platform, mut def: DatabaseDef) -> ServiceResult<DatabaseDef> {
    if let Some(pw) = def.password.take() {
        def.password = Some(p.credentials.seal(CredentialColumn::MonDatabase, &pw)?);
    }
    Ok(def)
}

/// Reconciliation jobs of the pack name registered databases by name (reconciliation.toml `left_db` /
/// `right_db`): deleting or renaming one they read would fail their next run.
fn refuse_if_reconciled(p: &Platform, name: &str, field: &str) -> ServiceResult<()> {
    let jobs = crate::recon::databases::jobs_reading(p, name);
    if jobs.is_empty() {
        return Ok(());
    }
    Err(ServiceError::Conflict {
        field: field.into(),
        message: format!(
            "reconciliation job(s) {} of the policy pack read this database by its name '{name}'",
            jobs.join(", ")
        ),
    })
}

/// Every registered database (no passwords).
pub async fn databases(p: &Platform, actor: &Principal) -> ServiceResult<Vec<DatabaseRow>> {
    actor.require(Permission::AlertRead)?;
    Ok(p.store.mon_databases().await?)
}

/// Registers a database; audited without the password.
pub async fn create_database(
    p: &Platform,
    actor: &Principal,
    input: DatabaseInput,
) -> ServiceResult<DatabaseRow> {
    actor.require(Permission::ProbeManage)?;
    let def = seal_password(p, check_db(&input)?)?;
    let now = p.now_us();
    let who = actor.actor();
    Ok(p.store
        .write(move |c| {
            Box::pin(async move {
                let r = st::insert_database(c, &def, &who, now).await?;
                audit(c, &who, "mon_database.create", "mon_database", r.id.to_string(), None,
                    Some(json!({"name": r.name, "kind": r.kind, "host": r.host, "port": r.port, "database": r.database, "username": r.username})), now).await?;
                Ok(r)
            })
        })
        .await?)
}

/// Edits a registration (version-checked); the pool is rebuilt on next use.
pub async fn update_database(
    p: &Platform,
    actor: &Principal,
    id: i64,
    input: DatabaseInput,
) -> ServiceResult<DatabaseRow> {
    actor.require(Permission::ProbeManage)?;
    let version = input
        .version
        .ok_or_else(|| ServiceError::invalid("version", "the version read is required"))?;
    let def = seal_password(p, check_db(&input)?)?;
    let old = p
        .store
        .mon_database(id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("database {id}")))?;
    if old.name != def.name {
        refuse_if_reconciled(p, &old.name, "name")?;
    }
    let now = p.now_us();
    let who = actor.actor();
    let pw_changed = def.password.is_some();
    let r = p.store
        .write(move |c| {
            Box::pin(async move {
                let r = st::update_database(c, id, version, &def, now).await?;
                audit(c, &who, "mon_database.update", "mon_database", id.to_string(), None,
                    Some(json!({"name": r.name, "kind": r.kind, "host": r.host, "port": r.port, "database": r.database, "username": r.username, "password_changed": pw_changed})), now).await?;
                Ok(r)
            })
        })
        .await?;
    p.monitor.forget(id);
    Ok(r)
}

/// Removes a registration no point uses.
pub async fn delete_database(
    p: &Platform,
    actor: &Principal,
    id: i64,
    version: i64,
) -> ServiceResult<()> {
    actor.require(Permission::ProbeManage)?;
    let old = p
        .store
        .mon_database(id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("database {id}")))?;
    refuse_if_reconciled(p, &old.name, "id")?;
    let now = p.now_us();
    let who = actor.actor();
    p.store
        .write(move |c| {
            Box::pin(async move {
                st::delete_database(c, id, version).await?;
                audit(
                    c,
                    &who,
                    "mon_database.delete",
                    "mon_database",
                    id.to_string(),
                    None,
                    None,
                    now,
                )
                .await
            })
        })
        .await?;
    p.monitor.forget(id);
    Ok(())
}

// ---------------------------------------------------------------- points

/// A point to create or replace.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointInput {
    pub name: String,
    pub owner: String,
    #[serde(default)]
    pub runbook_url: Option<String>,
    pub database_id: i64,
    /// One read-only SELECT (or WITH … SELECT); the first column of the first row is compared.
    pub query: String,
    /// lt, le, gt, ge (value vs threshold) or stale (a timestamp older than stale_after_s).
    pub comparison: String,
    #[serde(default)]
    pub threshold: Option<f64>,
    #[serde(default)]
    pub stale_after_s: Option<i64>,
    #[serde(default)]
    pub interval_s: Option<i64>,
    #[serde(default)]
    pub system: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub severity: Option<String>,
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Required on edit.
    #[serde(default)]
    pub version: Option<i64>,
}

/// A point as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct PointOut {
    pub id: i64,
    pub name: String,
    pub owner: String,
    pub runbook_url: String,
    pub database_id: i64,
    pub database: String,
    pub query: String,
    pub comparison: String,
    pub threshold: f64,
    pub stale_after_s: i64,
    pub interval_s: i64,
    pub system: String,
    pub region: String,
    pub severity: String,
    pub enabled: bool,
    /// ok, breached, unknown.
    pub state: String,
    pub last_value: Option<String>,
    pub last_reason: Option<String>,
    pub last_run_at: Option<String>,
    pub unknown_since: Option<String>,
    pub alerting: bool,
    pub next_run_at: String,
    pub version: i64,
}

/// One evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct PointRunOut {
    pub id: i64,
    pub at: String,
    pub state: String,
    pub value: Option<String>,
    pub reason: String,
    pub latency_ms: i64,
}

impl From<PointRunRow> for PointRunOut {
    fn from(r: PointRunRow) -> Self {
        PointRunOut {
            id: r.id,
            at: rfc3339(r.at),
            state: r.state,
            value: r.value,
            reason: r.reason,
            latency_ms: r.latency_ms,
        }
    }
}

/// A point with its latest evaluations.
#[derive(Debug, Clone, Serialize)]
pub struct PointView {
    pub point: PointOut,
    pub runs: Vec<PointRunOut>,
}

fn point_out(r: PointRow, dbs: &[DatabaseRow]) -> PointOut {
    PointOut {
        database: dbs
            .iter()
            .find(|d| d.id == r.database_id)
            .map(|d| d.name.clone())
            .unwrap_or_default(),
        id: r.id,
        name: r.name,
        owner: r.owner,
        runbook_url: r.runbook_url,
        database_id: r.database_id,
        query: r.query,
        comparison: r.comparison,
        threshold: r.threshold,
        stale_after_s: r.stale_after_s,
        interval_s: r.interval_s,
        system: r.system,
        region: r.region,
        severity: r.severity,
        enabled: r.enabled != 0,
        state: r.state,
        last_value: r.last_value,
        last_reason: r.last_reason,
        last_run_at: r.last_run_at.map(rfc3339),
        unknown_since: r.unknown_since.map(rfc3339),
        alerting: r.alerting != 0,
        next_run_at: rfc3339(r.next_run_at),
        version: r.version,
    }
}

/// Whether `q` is one SELECT / WITH statement (a `;` is refused so no second statement can ride along).
fn check_query(q: &str) -> Result<(), String> {
    let t = q.trim().trim_end_matches(';').trim_end();
    if t.is_empty() || t.len() > 10_000 {
        return Err("1 to 10000 characters".into());
    }
    if t.contains(';') {
        return Err("one statement only (no ';')".into());
    }
    let head: String = t.chars().take(6).collect::<String>().to_ascii_lowercase();
    if !(head.starts_with("select") || head.starts_with("with")) {
        return Err("a read-only SELECT (or WITH … SELECT) query".into());
    }
    Ok(())
}

fn check_point(pol: &PointPolicy, input: &PointInput) -> ServiceResult<PointDef> {
    if input.name.trim().is_empty() || input.name.chars().count() > 200 {
        return Err(ServiceError::invalid_zh(
            "name",
            "1 to 200 characters",
            "名称需 1 至 200 个字符",
        ));
    }
    if input.owner.trim().is_empty() || input.owner.len() > 200 {
        return Err(ServiceError::invalid_zh(
            "owner",
            "1 to 200 characters",
            "请填写负责人",
        ));
    }
    let runbook = input
        .runbook_url
        .clone()
        .unwrap_or_default()
        .trim()
        .to_string();
    let runbook_ok = runbook.is_empty()
        || runbook.starts_with("http://")
        || runbook.starts_with("https://")
        || runbook.starts_with('/');
    if !runbook_ok {
        return Err(ServiceError::invalid(
            "runbook_url",
            "an http(s) URL or a path starting with /",
        ));
    }
    check_query(&input.query).map_err(|m| ServiceError::invalid("query", m))?;
    let cmp: Comparison = input
        .comparison
        .parse()
        .map_err(|m: String| ServiceError::invalid("comparison", m))?;
    let (threshold, stale) = match cmp {
        Comparison::Stale => {
            let s = input.stale_after_s.ok_or_else(|| {
                ServiceError::invalid("stale_after_s", "required with comparison = stale")
            })?;
            if s <= 0 {
                return Err(ServiceError::invalid("stale_after_s", "must be at least 1"));
            }
            (0.0, s)
        }
        _ => {
            let t = input.threshold.ok_or_else(|| {
                ServiceError::invalid("threshold", "required with lt, le, gt, ge")
            })?;
            if !t.is_finite() {
                return Err(ServiceError::invalid("threshold", "a finite number"));
            }
            (t, 0)
        }
    };
    let interval = input.interval_s.unwrap_or(pol.default_interval.seconds());
    if interval < pol.min_interval.seconds() || interval > 86_400 {
        return Err(ServiceError::invalid(
            "interval_s",
            format!(
                "{} to 86400 seconds (points.min_interval)",
                pol.min_interval.seconds()
            ),
        ));
    }
    let severity = input
        .severity
        .clone()
        .unwrap_or_else(|| pol.default_severity.clone());
    if !matches!(severity.as_str(), "critical" | "error" | "warning" | "info") {
        return Err(ServiceError::invalid(
            "severity",
            "expected critical, error, warning or info",
        ));
    }
    Ok(PointDef {
        name: input.name.trim().into(),
        owner: input.owner.trim().into(),
        runbook_url: runbook,
        database_id: input.database_id,
        query: input
            .query
            .trim()
            .trim_end_matches(';')
            .trim_end()
            .to_string(),
        comparison: cmp.as_str().into(),
        threshold,
        stale_after_s: stale,
        interval_s: interval,
        system: input.system.clone().unwrap_or_default().trim().into(),
        region: input.region.clone().unwrap_or_default().trim().into(),
        severity,
        enabled: input.enabled.unwrap_or(true),
    })
}

async fn known_db(p: &Platform, id: i64) -> ServiceResult<()> {
    if p.store.mon_database(id).await?.is_none() {
        return Err(ServiceError::unknown_ref(
            "database_id",
            format!("no database {id}"),
            format!("没有数据库 {id}"),
        ));
    }
    Ok(())
}

/// The catalogue of points with their state.
pub async fn list(p: &Platform, actor: &Principal) -> ServiceResult<Vec<PointOut>> {
    actor.require(Permission::AlertRead)?;
    let dbs = p.store.mon_databases().await?;
    Ok(p.store
        .mon_points()
        .await?
        .into_iter()
        .map(|r| point_out(r, &dbs))
        .collect())
}

/// One point with its latest evaluations.
pub async fn get(p: &Platform, actor: &Principal, id: i64) -> ServiceResult<PointView> {
    actor.require(Permission::AlertRead)?;
    let r = p
        .store
        .mon_point(id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("monitoring point {id}")))?;
    let dbs = p.store.mon_databases().await?;
    let runs = p.store.mon_point_runs(id, 50).await?;
    Ok(PointView {
        point: point_out(r, &dbs),
        runs: runs.into_iter().map(PointRunOut::from).collect(),
    })
}

/// Creates a point; audited.
pub async fn create(p: &Platform, actor: &Principal, input: PointInput) -> ServiceResult<PointOut> {
    actor.require(Permission::ProbeManage)?;
    let pol = p.policy.current();
    let def = check_point(&pol.pack.monitoring.points, &input)?;
    known_db(p, def.database_id).await?;
    let now = p.now_us();
    let who = actor.actor();
    let r = p.store
        .write(move |c| {
            Box::pin(async move {
                let r = st::insert_point(c, &def, &who, now, now).await?;
                audit(c, &who, "mon_point.create", "mon_point", r.id.to_string(), None,
                    Some(json!({"name": r.name, "query": r.query, "comparison": r.comparison, "threshold": r.threshold, "stale_after_s": r.stale_after_s})), now).await?;
                Ok(r)
            })
        })
        .await?;
    let dbs = p.store.mon_databases().await?;
    Ok(point_out(r, &dbs))
}

/// Replaces a point's definition (version-checked); audited.
pub async fn update(
    p: &Platform,
    actor: &Principal,
    id: i64,
    input: PointInput,
) -> ServiceResult<PointOut> {
    actor.require(Permission::ProbeManage)?;
    let version = input
        .version
        .ok_or_else(|| ServiceError::invalid("version", "the version read is required"))?;
    let pol = p.policy.current();
    let def = check_point(&pol.pack.monitoring.points, &input)?;
    known_db(p, def.database_id).await?;
    let before = p
        .store
        .mon_point(id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("monitoring point {id}")))?;
    let now = p.now_us();
    let who = actor.actor();
    let r = p.store
        .write(move |c| {
            Box::pin(async move {
                let r = st::update_point(c, id, version, &def, now).await?;
                audit(c, &who, "mon_point.update", "mon_point", id.to_string(),
                    Some(json!({"query": before.query, "comparison": before.comparison, "threshold": before.threshold})),
                    Some(json!({"query": r.query, "comparison": r.comparison, "threshold": r.threshold})), now).await?;
                Ok(r)
            })
        })
        .await?;
    let dbs = p.store.mon_databases().await?;
    Ok(point_out(r, &dbs))
}

/// Deletes a point and its history (version-checked); audited.
pub async fn delete(p: &Platform, actor: &Principal, id: i64, version: i64) -> ServiceResult<()> {
    actor.require(Permission::ProbeManage)?;
    p.store
        .mon_point(id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("monitoring point {id}")))?;
    let now = p.now_us();
    let who = actor.actor();
    p.store
        .write(move |c| {
            Box::pin(async move {
                st::delete_point(c, id, version).await?;
                audit(
                    c,
                    &who,
                    "mon_point.delete",
                    "mon_point",
                    id.to_string(),
                    None,
                    None,
                    now,
                )
                .await
            })
        })
        .await?;
    Ok(())
}

/// Evaluates a point now (outside its schedule) and records it like a scheduled run.
pub async fn run_now(p: &Platform, actor: &Principal, id: i64) -> ServiceResult<PointView> {
    actor.require(Permission::ProbeManage)?;
    let r = p
        .store
        .mon_point(id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("monitoring point {id}")))?;
    run_claimed(p, r).await?;
    get(p, actor, id).await
}

/// Claims up to `limit` due points.
pub(crate) async fn claim_due(p: &Platform, limit: usize) -> ServiceResult<Vec<PointRow>> {
    let now = p.now_us();
    Ok(p.store
        .write(move |c| Box::pin(async move { st::claim_due_points(c, now, limit as i64).await }))
        .await?)
}

/// Evaluates a claimed point, raises or resolves its alert, records the evaluation.
pub(crate) async fn run_claimed(p: &Platform, r: PointRow) -> ServiceResult<()> {
    let pol = p.policy.current();
    let pp = &pol.pack.monitoring.points;
    let t0 = Instant::now();
    let observed = query(p, pp, &r).await;
    let latency_ms = t0.elapsed().as_millis() as i64;
    let now = p.now_us();
    let threshold = Threshold {
        comparison: r.comparison.parse().unwrap_or(Comparison::Gt),
        value: r.threshold,
        stale_after_s: r.stale_after_s,
    };
    let (state, reason, value) = match &observed {
        Ok(o) => {
            let (s, why) = domain::evaluate(&threshold, o, now);
            (s, why, describe(o))
        }
        Err(e) => (PointState::Unknown, e.clone(), None),
    };
    metrics::counter!("tianshu_point_evaluations_total", "state" => state.as_str()).increment(1);
    metrics::histogram!("tianshu_point_query_seconds").record(latency_ms as f64 / 1000.0);
    let current = p.store.mon_point(r.id).await?.unwrap_or(r);
    let unknown_since = match state {
        PointState::Unknown => Some(
            current
                .unknown_since
                .filter(|_| current.state == "unknown")
                .unwrap_or(now),
        ),
        _ => None,
    };
    let alarm = domain::alarm(
        state,
        unknown_since,
        now,
        pp.unknown_grace.seconds() * 1_000_000,
        current.alerting != 0,
    );
    let alerting = match alarm {
        Alarm::Raise => {
            let labels = alert_labels(
                ALERTNAME,
                &current.name,
                &current.system,
                &current.region,
                &current.severity,
            );
            let summary = match state {
                PointState::Unknown => format!("监控点 {} 无法取数:{reason}", current.name),
                _ => format!("监控点 {} 超出阈值:{reason}", current.name),
            };
            super::super::alerts::ingest_internal(
                p,
                "point",
                dedup_key(current.id),
                true,
                labels,
                summary,
            )
            .await?;
            true
        }
        Alarm::Resolve => {
            super::super::alerts::ingest_internal(
                p,
                "point",
                dedup_key(current.id),
                false,
                Default::default(),
                String::new(),
            )
            .await?;
            false
        }
        Alarm::Quiet => current.alerting != 0,
    };
    let id = current.id;
    p.store
        .write(move |c| {
            Box::pin(async move {
                st::record_point_run(
                    c,
                    id,
                    now,
                    state.as_str(),
                    value.as_deref(),
                    &reason,
                    latency_ms,
                    unknown_since,
                    alerting,
                )
                .await
            })
        })
        .await?;
    Ok(())
}

/// The alert dedup key of a point.
pub fn dedup_key(id: i64) -> String {
    format!("point:{id}")
}

fn describe(o: &Observed) -> Option<String> {
    match o {
        Observed::Number(n) => Some(n.to_string()),
        Observed::Time(t) => Some(rfc3339(*t)),
        Observed::Nothing => None,
        Observed::Other(s) => Some(s.chars().take(200).collect()),
    }
}

async fn pool_for(p: &Platform, pp: &PointPolicy, db_id: i64) -> Result<ExtPool, String> {
    let db = p
        .store
        .mon_database(db_id)
        .await
        .map_err(|e| format!("store: {e}"))?
        .ok_or_else(|| format!("database {db_id} is not registered"))?;
    if let Some(pool) = p.monitor.pool(db.id, db.version) {
        return Ok(pool);
    }
    let stored = p
        .store
        .database_password(db.id)
        .await
        .map_err(|e| format!("store: {e}"))?;
    let password = p
        .credentials
        .open(
            CredentialColumn::MonDatabase,
            &stored,
            &format!("the password of database {}", db.id),
        )
        .map_err(|e| e.to_string())?;
    let timeout = Duration::from_secs(pp.connect_timeout.seconds() as u64);
    let stmt_ms = pp.statement_timeout.seconds() * 1000;
    let pool = match db.kind.as_str() {
        "postgres" => {
            let mut o = PgConnectOptions::new()
                .host(&db.host)
                .port(db.port as u16)
                .database(&db.database)
                .username(&db.username)
                .application_name("tianshu-monitoring")
                .options([
                    ("default_transaction_read_only", "on"),
                    ("statement_timeout", &format!("{stmt_ms}")),
                ]);
            if !password.is_empty() {
                o = o.password(&password);
            }
            ExtPool::Postgres(
                PgPoolOptions::new()
                    .max_connections(pp.pool_size)
                    .acquire_timeout(timeout)
                    .connect_lazy_with(o),
            )
        }
        _ => {
            let mut o = MySqlConnectOptions::new()
                .host(&db.host)
                .port(db.port as u16)
                .database(&db.database)
                .username(&db.username);
            if !password.is_empty() {
                o = o.password(&password);
            }
            ExtPool::MySql(
                MySqlPoolOptions::new()
                    .max_connections(pp.pool_size)
                    .acquire_timeout(timeout)
                    .connect_lazy_with(o),
            )
        }
    };
    p.monitor.put_pool(db.id, db.version, pool.clone());
    Ok(pool)
}

/// The pack time zone's current UTC offset as `+08:00`.
fn tz_offset(p: &Platform) -> String {
    use chrono::Offset;
    let tz = super::tz(p);
    let secs = Utc::now()
        .with_timezone(&tz)
        .offset()
        .fix()
        .local_minus_utc();
    let sign = if secs < 0 { '-' } else { '+' };
    let s = secs.abs();
    format!("{sign}{:02}:{:02}", s / 3600, (s % 3600) / 60)
}

/// Runs the point's query read-only; any failure is a reason (the point becomes `unknown`).
async fn query(p: &Platform, pp: &PointPolicy, r: &PointRow) -> Result<Observed, String> {
    check_query(&r.query)?;
    let pool = pool_for(p, pp, r.database_id).await?;
    // The database enforces the statement timeout; this bound only guards against a server that never answers.
    let limit = Duration::from_secs(
        (pp.statement_timeout.seconds() + pp.connect_timeout.seconds() + 5) as u64,
    );
    let tz = super::tz(p);
    let stmt_ms = pp.statement_timeout.seconds() * 1000;
    let offset = tz_offset(p);
    let fut = match pool {
        ExtPool::Postgres(pool) => pg_first(pool, r.query.clone(), tz),
        ExtPool::MySql(pool) => mysql_first(pool, r.query.clone(), stmt_ms, offset, tz),
    };
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {} s", limit.as_secs())),
    }
}

fn pg_first(
    pool: PgPool,
    query: String,
    tz: chrono_tz::Tz,
) -> BoxFuture<'static, Result<Observed, String>> {
    Box::pin(async move {
        let mut c = pool
            .acquire()
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        let conn: &mut sqlx::PgConnection = &mut c;
        conn.execute("BEGIN TRANSACTION READ ONLY")
            .await
            .map_err(|e| format!("{e}"))?;
        // The query becomes a subquery: exactly one SELECT, its first row as JSON (column order kept).
        let sql = format!("SELECT CAST(to_json(t) AS TEXT) FROM ({query}) AS t LIMIT 1");
        let res: Result<Option<(Option<String>,)>, _> =
            sqlx::query_as(&sql).fetch_optional(&mut *conn).await;
        let _ = conn.execute("ROLLBACK").await;
        let row = res.map_err(|e| format!("query failed: {e}"))?;
        Ok(match row.and_then(|(j,)| j) {
            None => Observed::Nothing,
            Some(j) => from_json_row(&j, tz),
        })
    })
}

fn mysql_first(
    pool: MySqlPool,
    query: String,
    stmt_ms: i64,
    offset: String,
    tz: chrono_tz::Tz,
) -> BoxFuture<'static, Result<Observed, String>> {
    Box::pin(async move {
        let mut c = pool
            .acquire()
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        let conn: &mut sqlx::MySqlConnection = &mut c;
        // Session settings on every use: read-only, the statement limit (MariaDB names it in seconds, MySQL in
        // milliseconds) and the pack's UTC offset for TIMESTAMP results. Plain strings go over the text protocol.
        conn.execute("SET SESSION TRANSACTION READ ONLY")
            .await
            .map_err(|e| format!("session setup failed: {e}"))?;
        let maria = format!(
            "SET SESSION max_statement_time = {}",
            stmt_ms as f64 / 1000.0
        );
        if conn.execute(maria.as_str()).await.is_err() {
            let mysql = format!("SET SESSION max_execution_time = {stmt_ms}");
            conn.execute(mysql.as_str())
                .await
                .map_err(|e| format!("session setup failed: {e}"))?;
        }
        let zone = format!("SET time_zone = '{offset}'");
        conn.execute(zone.as_str())
            .await
            .map_err(|e| format!("session setup failed: {e}"))?;
        conn.execute("START TRANSACTION READ ONLY")
            .await
            .map_err(|e| format!("session setup failed: {e}"))?;
        // Text protocol: every value arrives as text, whatever its column type (DECIMAL, DATETIME …).
        let res = conn.fetch_optional(query.as_str()).await;
        let _ = conn.execute("ROLLBACK").await;
        let Some(row) = res.map_err(|e| format!("query failed: {e}"))? else {
            return Ok(Observed::Nothing);
        };
        let Some(col) = row.columns().first() else {
            return Ok(Observed::Nothing);
        };
        let type_name = col.type_info().name().to_ascii_uppercase();
        let text: Option<String> = row
            .try_get_unchecked::<Option<String>, _>(0)
            .map_err(|e| format!("reading the result: {e}"))?;
        Ok(match text {
            None => Observed::Nothing,
            Some(t) if type_name.contains("DATE") || type_name.contains("TIME") => {
                parse_time(&t, tz).map_or_else(
                    || Observed::Other(format!("timestamp '{t}'")),
                    Observed::Time,
                )
            }
            Some(t) => from_text(&t, tz),
        })
    })
}

/// The first value of a JSON object (a row as PostgreSQL's `to_json` writes it, columns in order).
fn first_json_value(j: &str) -> Option<Value> {
    struct First(Option<Value>);
    impl<'de> Deserialize<'de> for First {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = First;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("a row object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut m: A,
                ) -> Result<First, A::Error> {
                    let first = m.next_entry::<String, Value>()?.map(|(_, v)| v);
                    while m
                        .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                        .is_some()
                    {}
                    Ok(First(first))
                }
            }
            d.deserialize_map(V)
        }
    }
    serde_json::from_str::<First>(j).ok().and_then(|f| f.0)
}

fn from_json_row(j: &str, tz: chrono_tz::Tz) -> Observed {
    match first_json_value(j) {
        None | Some(Value::Null) => Observed::Nothing,
        Some(Value::Number(n)) => n
            .as_f64()
            .map_or_else(|| Observed::Other(n.to_string()), Observed::Number),
        Some(Value::String(s)) => from_text(&s, tz),
        Some(other) => Observed::Other(other.to_string().chars().take(100).collect()),
    }
}

fn from_text(t: &str, tz: chrono_tz::Tz) -> Observed {
    let s = t.trim();
    if let Ok(n) = s.parse::<f64>() {
        if n.is_finite() {
            return Observed::Number(n);
        }
    }
    parse_time(s, tz).map_or_else(
        || {
            Observed::Other(format!(
                "text '{}'",
                s.chars().take(100).collect::<String>()
            ))
        },
        Observed::Time,
    )
}

/// A timestamp as databases write it; without an offset it is local time of the pack's time zone.
fn parse_time(s: &str, tz: chrono_tz::Tz) -> Option<i64> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc).timestamp_micros());
    }
    for f in ["%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M:%S%.f%#z"] {
        if let Ok(t) = DateTime::parse_from_str(s, f) {
            return Some(t.with_timezone(&Utc).timestamp_micros());
        }
    }
    for f in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(n) = NaiveDateTime::parse_from_str(s, f) {
            return tz
                .from_local_datetime(&n)
                .earliest()
                .map(|t| t.timestamp_micros());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .and_then(|n| tz.from_local_datetime(&n).earliest())
        .map(|t| t.timestamp_micros())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_one_select_statement() {
        assert!(check_query("SELECT count(*) FROM orders").is_ok());
        assert!(check_query("  with x as (select 1) select * from x;  ").is_ok());
        assert!(check_query("SELECT 1; DROP TABLE orders").is_err());
        assert!(check_query("DELETE FROM orders").is_err());
        assert!(check_query("").is_err());
    }

    #[test]
    fn row_json_first_column_in_order() {
        let tz = chrono_tz::Asia::Shanghai;
        assert_eq!(
            from_json_row(r#"{"zeta": 99.85, "alpha": 1}"#, tz),
            Observed::Number(99.85)
        );
        assert_eq!(from_json_row(r#"{"n": null}"#, tz), Observed::Nothing);
        assert_eq!(from_json_row(r#"{"n": "12"}"#, tz), Observed::Number(12.0));
        let t = from_json_row(r#"{"t": "2026-12-01T10:00:00+08:00"}"#, tz);
        assert_eq!(
            t,
            Observed::Time(
                Utc.with_ymd_and_hms(2026, 12, 1, 2, 0, 0)
                    .unwrap()
                    .timestamp_micros()
            )
        );
        let t = from_json_row(r#"{"t": "2026-12-01T10:00:00"}"#, tz);
        assert_eq!(
            t,
            Observed::Time(
                Utc.with_ymd_and_hms(2026, 12, 1, 2, 0, 0)
                    .unwrap()
                    .timestamp_micros()
            )
        );
        assert!(matches!(
            from_json_row(r#"{"b": true}"#, tz),
            Observed::Other(_)
        ));
        assert_eq!(
            from_text("2026-12-01 10:00:00", tz),
            Observed::Time(
                Utc.with_ymd_and_hms(2026, 12, 1, 2, 0, 0)
                    .unwrap()
                    .timestamp_micros()
            )
        );
        assert!(matches!(from_text("abc", tz), Observed::Other(_)));
    }
}
