//! `tianshu probe …` and `tianshu point …`: the monitoring actions an operator scripts (issue 5), acting as the
//! named user through the same services as the API (permissions, validation, audit).
//!
//! Definitions are read from a TOML or JSON file (by extension; `-` reads JSON from standard input) with the
//! fields of `POST /api/v1/probes` / `POST /api/v1/monitoring/points` / `POST /api/v1/monitoring/databases`;
//! `export` writes a probe back as TOML, so `export`, edit, `update --file` round-trips.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde::de::DeserializeOwned;
use tianshu_services::authz::{AuthVia, Principal};
use tianshu_services::monitoring::{points, probes};
use tianshu_services::Platform;

/// `probe` options.
#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// Act as this user (their roles apply; the audit trail names them).
    #[arg(long = "as", default_value = "admin", global = true)]
    pub as_user: String,
    #[command(subcommand)]
    pub cmd: ProbeCmd,
}

/// `probe` subcommands.
#[derive(Debug, Subcommand)]
pub enum ProbeCmd {
    /// Probes: id, state, 24-hour availability and mean latency, alerting mark, name.
    List,
    /// One probe with its latest runs and per-step timings (JSON).
    Show {
        id: i64,
        #[arg(long, default_value_t = 20)]
        runs: i64,
    },
    /// Creates a probe from a TOML/JSON file (name, system, region, severity, scenario.steps, secrets).
    Create {
        #[arg(long)]
        file: PathBuf,
    },
    /// Replaces a probe's definition from a file (version: the file's `version`, else `--version`, else the
    /// current one). Secrets absent from the file are kept.
    Update {
        id: i64,
        #[arg(long)]
        file: PathBuf,
        #[arg(long)]
        version: Option<i64>,
    },
    /// Prints a probe's definition as TOML (secret values are never shown), ready for `update --file`.
    Export { id: i64 },
    /// Runs a probe now and records the run; exit code 1 when the run failed.
    RunNow { id: i64 },
    /// Resumes a probe's schedule.
    Enable { id: i64 },
    /// Pauses a probe's schedule (its history is kept).
    Disable { id: i64 },
    /// Deletes a probe and its history.
    Delete {
        id: i64,
        /// The version read (stale → refused).
        #[arg(long)]
        version: i64,
    },
}

/// `point` options.
#[derive(Debug, Args)]
pub struct PointArgs {
    /// Act as this user (their roles apply; the audit trail names them).
    #[arg(long = "as", default_value = "admin", global = true)]
    pub as_user: String,
    #[command(subcommand)]
    pub cmd: PointCmd,
}

/// `point` subcommands.
#[derive(Debug, Subcommand)]
pub enum PointCmd {
    /// The catalogue: id, state, last value, rule, owner, name.
    List,
    /// One point with its latest evaluations (JSON).
    Show { id: i64 },
    /// Creates a point from a TOML/JSON file (name, owner, runbook_url, database_id, query, comparison, …).
    Create {
        #[arg(long)]
        file: PathBuf,
    },
    /// Replaces a point from a file (version: the file's, else `--version`, else the current one).
    Update {
        id: i64,
        #[arg(long)]
        file: PathBuf,
        #[arg(long)]
        version: Option<i64>,
    },
    /// Evaluates a point now; exit code 1 unless it is ok.
    RunNow { id: i64 },
    /// Resumes a point's schedule.
    Enable { id: i64 },
    /// Pauses a point's schedule.
    Disable { id: i64 },
    /// Deletes a point and its history.
    Delete {
        id: i64,
        #[arg(long)]
        version: i64,
    },
    /// Registered external databases (passwords never shown).
    Databases,
    /// Registers an external database from a TOML/JSON file (name, kind, host, port, database, username,
    /// password).
    AddDatabase {
        #[arg(long)]
        file: PathBuf,
    },
}

fn svc(e: tianshu_services::ServiceError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// Reads a definition file as JSON (TOML by the `.toml` extension); `-` is JSON on standard input.
fn read_def(path: &Path) -> anyhow::Result<serde_json::Value> {
    let text = if path == Path::new("-") {
        std::io::read_to_string(std::io::stdin())?
    } else {
        std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("file: {}: {e}", path.display()))?
    };
    let is_toml = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
    if is_toml {
        let v: toml::Value =
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("file: {}: {e}", path.display()))?;
        Ok(serde_json::to_value(v)?)
    } else {
        serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("file: {}: {e}", path.display()))
    }
}

/// Decodes a definition, naming the field that does not fit.
fn decode<T: DeserializeOwned>(path: &Path, v: serde_json::Value) -> anyhow::Result<T> {
    serde_path_to_error::deserialize(v)
        .map_err(|e| anyhow::anyhow!("file: {}: {}: {}", path.display(), e.path(), e.inner()))
}

async fn actor(p: &Platform, user: &str) -> anyhow::Result<Principal> {
    let u = p
        .store
        .user_by_username(user)
        .await?
        .ok_or_else(|| anyhow::anyhow!("as: no user '{user}'"))?;
    tianshu_services::session::principal_of_user(p, u.id, AuthVia::Cli)
        .await
        .map_err(svc)
}

fn pretty<T: serde::Serialize>(v: &T) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

fn probe_input(o: &probes::ProbeOut, enabled: bool) -> probes::ProbeInput {
    probes::ProbeInput {
        name: o.name.clone(),
        system: Some(o.system.clone()),
        region: Some(o.region.clone()),
        severity: Some(o.severity.clone()),
        enabled: Some(enabled),
        scenario: o.scenario.clone(),
        secrets: None,
        version: Some(o.version),
    }
}

fn point_input(o: &points::PointOut, enabled: bool) -> points::PointInput {
    points::PointInput {
        name: o.name.clone(),
        owner: o.owner.clone(),
        runbook_url: Some(o.runbook_url.clone()),
        database_id: o.database_id,
        query: o.query.clone(),
        comparison: o.comparison.clone(),
        threshold: Some(o.threshold),
        stale_after_s: Some(o.stale_after_s),
        interval_s: Some(o.interval_s),
        system: Some(o.system.clone()),
        region: Some(o.region.clone()),
        severity: Some(o.severity.clone()),
        enabled: Some(enabled),
        version: Some(o.version),
    }
}

/// TOML has no null: absent optional fields are left out.
fn without_nulls(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(without_nulls).collect()),
        other => other,
    }
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |a| format!("{a:.2}%"))
}

/// `tianshu probe …`; returns the exit code.
pub async fn probe_cmd(p: &Platform, args: &ProbeArgs) -> anyhow::Result<i32> {
    let who = actor(p, &args.as_user).await?;
    match &args.cmd {
        ProbeCmd::List => {
            for o in probes::list(p, &who).await.map_err(svc)? {
                let state = match (o.enabled, o.last_ok) {
                    (false, _) => "disabled",
                    (true, None) => "new",
                    (true, Some(true)) => "ok",
                    (true, Some(false)) => "failing",
                };
                println!(
                    "{}\t{state}\t{}\t{}\t{}{}",
                    o.id,
                    pct(o.availability_24h),
                    o.avg_ms_24h
                        .map_or_else(|| "-".into(), |m| format!("{m:.0} ms")),
                    o.name,
                    if o.alerting { "\tALERTING" } else { "" }
                );
            }
        }
        ProbeCmd::Show { id, runs } => {
            pretty(&probes::get(p, &who, *id, *runs).await.map_err(svc)?)
        }
        ProbeCmd::Create { file } => {
            let input: probes::ProbeInput = decode(file, read_def(file)?)?;
            let o = probes::create(p, &who, input).await.map_err(svc)?;
            println!("probe {} created (version {})", o.id, o.version);
        }
        ProbeCmd::Update { id, file, version } => {
            let mut input: probes::ProbeInput = decode(file, read_def(file)?)?;
            if input.version.is_none() {
                input.version = match version {
                    Some(v) => Some(*v),
                    None => Some(
                        probes::get(p, &who, *id, 1)
                            .await
                            .map_err(svc)?
                            .probe
                            .version,
                    ),
                };
            }
            let o = probes::update(p, &who, *id, input).await.map_err(svc)?;
            println!("probe {} updated (version {})", o.id, o.version);
        }
        ProbeCmd::Export { id } => {
            let o = probes::get(p, &who, *id, 1).await.map_err(svc)?.probe;
            let v = serde_json::json!({
                "name": o.name, "system": o.system, "region": o.region, "severity": o.severity,
                "enabled": o.enabled, "version": o.version, "scenario": o.scenario,
            });
            let t: toml::Value = serde_json::from_value(without_nulls(v))?;
            if !o.secret_names.is_empty() {
                println!(
                    "# secrets kept by the server (values never shown): {}",
                    o.secret_names.join(", ")
                );
            }
            print!("{}", toml::to_string_pretty(&t)?);
        }
        ProbeCmd::RunNow { id } => {
            let r = probes::run_now(p, &who, *id).await.map_err(svc)?;
            pretty(&r);
            if !r.ok {
                return Ok(1);
            }
        }
        ProbeCmd::Enable { id } | ProbeCmd::Disable { id } => {
            let on = matches!(args.cmd, ProbeCmd::Enable { .. });
            let o = probes::get(p, &who, *id, 1).await.map_err(svc)?.probe;
            let o = probes::update(p, &who, *id, probe_input(&o, on))
                .await
                .map_err(svc)?;
            println!(
                "probe {} {} (version {})",
                o.id,
                if on { "enabled" } else { "disabled" },
                o.version
            );
        }
        ProbeCmd::Delete { id, version } => {
            probes::delete(p, &who, *id, *version).await.map_err(svc)?;
            println!("probe {id} deleted");
        }
    }
    Ok(0)
}

/// `tianshu point …`; returns the exit code.
pub async fn point_cmd(p: &Platform, args: &PointArgs) -> anyhow::Result<i32> {
    let who = actor(p, &args.as_user).await?;
    match &args.cmd {
        PointCmd::List => {
            for o in points::list(p, &who).await.map_err(svc)? {
                let rule = if o.comparison == "stale" {
                    format!("stale>{}s", o.stale_after_s)
                } else {
                    format!("{} {}", o.comparison, o.threshold)
                };
                println!(
                    "{}\t{}\t{}\t{rule}\t{}\t{}{}",
                    o.id,
                    if o.enabled {
                        o.state.as_str()
                    } else {
                        "disabled"
                    },
                    o.last_value.as_deref().unwrap_or("-"),
                    o.owner,
                    o.name,
                    if o.alerting { "\tALERTING" } else { "" }
                );
            }
        }
        PointCmd::Show { id } => pretty(&points::get(p, &who, *id).await.map_err(svc)?),
        PointCmd::Create { file } => {
            let input: points::PointInput = decode(file, read_def(file)?)?;
            let o = points::create(p, &who, input).await.map_err(svc)?;
            println!("point {} created (version {})", o.id, o.version);
        }
        PointCmd::Update { id, file, version } => {
            let mut input: points::PointInput = decode(file, read_def(file)?)?;
            if input.version.is_none() {
                input.version = match version {
                    Some(v) => Some(*v),
                    None => Some(points::get(p, &who, *id).await.map_err(svc)?.point.version),
                };
            }
            let o = points::update(p, &who, *id, input).await.map_err(svc)?;
            println!("point {} updated (version {})", o.id, o.version);
        }
        PointCmd::RunNow { id } => {
            let v = points::run_now(p, &who, *id).await.map_err(svc)?;
            pretty(&v);
            if v.point.state != "ok" {
                return Ok(1);
            }
        }
        PointCmd::Enable { id } | PointCmd::Disable { id } => {
            let on = matches!(args.cmd, PointCmd::Enable { .. });
            let o = points::get(p, &who, *id).await.map_err(svc)?.point;
            let o = points::update(p, &who, *id, point_input(&o, on))
                .await
                .map_err(svc)?;
            println!(
                "point {} {} (version {})",
                o.id,
                if on { "enabled" } else { "disabled" },
                o.version
            );
        }
        PointCmd::Delete { id, version } => {
            points::delete(p, &who, *id, *version).await.map_err(svc)?;
            println!("point {id} deleted");
        }
        PointCmd::Databases => {
            for d in points::databases(p, &who).await.map_err(svc)? {
                println!(
                    "{}\t{}\t{}:{}/{}\t{}\t{}",
                    d.id, d.kind, d.host, d.port, d.database, d.username, d.name
                );
            }
        }
        PointCmd::AddDatabase { file } => {
            let input: points::DatabaseInput = decode(file, read_def(file)?)?;
            let d = points::create_database(p, &who, input).await.map_err(svc)?;
            println!("database {} registered (version {})", d.id, d.version);
        }
    }
    Ok(0)
}
