//! Command-line interface.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};
use tianshu_services::authz::{AuthVia, Principal};
use tianshu_services::identity::{self, CreateUser};
use tianshu_services::policy::PackSource;
use tianshu_services::session::{self, CreateToken};
use tianshu_store::StoreConfig;

use crate::config::{FileConfig, Settings};
use crate::AppConfig;

/// Tianshu (天枢): operations-support platform for telecom business-support IT centres.
#[derive(Debug, Parser)]
#[command(name = "tianshu", version, about)]
pub struct Cli {
    /// Config file (TOML); flags and TIANSHU_* variables override it.
    #[arg(long, env = "TIANSHU_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Log filter, e.g. info, debug, tianshu_web=debug.
    #[arg(long, env = "TIANSHU_LOG", global = true)]
    pub log_level: Option<String>,
    /// Log format: text or json.
    #[arg(long, env = "TIANSHU_LOG_FORMAT", global = true)]
    pub log_format: Option<String>,
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Settings shared by every command that touches the database.
#[derive(Debug, Args, Clone)]
pub struct CommonArgs {
    /// Directory for the embedded SQLite database and other local state.
    #[arg(long, env = "TIANSHU_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Database URL (postgres://… or sqlite://…); default: SQLite in the data directory.
    #[arg(long, env = "TIANSHU_DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// PostgreSQL only: the schema that holds Tianshu's tables (created if missing), so Tianshu can share a
    /// database with other applications; default: the server's search path (normally `public`).
    #[arg(long, env = "TIANSHU_DATABASE_SCHEMA", global = true)]
    pub database_schema: Option<String>,
    /// Policy pack directory; default: the pack built into the binary.
    #[arg(long, env = "TIANSHU_POLICY_DIR", global = true)]
    pub policy_dir: Option<PathBuf>,
    /// Key file that encrypts stored database passwords (created 0600 on first start); default:
    /// credentials.key in the data directory. Keep it apart from database backups.
    #[arg(long, env = "TIANSHU_CREDENTIALS_KEY_FILE", global = true)]
    pub credentials_key_file: Option<PathBuf>,
}

/// Runs one command against the configured database: opens the platform, runs, closes the store.
macro_rules! with_platform {
    ($cli:expr, |$p:ident| $body:expr) => {{
        let s = $cli.settings(None)?;
        let $p = crate::build_platform(&app_config(&s, false)?).await?;
        let code = $body.await;
        $p.store.close().await;
        code
    }};
}

/// Subcommands.
// Parsed once per process: the size of the largest variant (recon's many flags) costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API and console.
    Serve(ServeArgs),
    /// Serve with the invented demo organisation loaded (same as `serve --demo`).
    Demo(ServeArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Manage users.
    #[command(subcommand)]
    User(UserCmd),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCmd),
    /// Policy pack tools.
    #[command(subcommand)]
    Policy(PolicyCmd),
    /// Audit trail tools.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Stored-credential key tools: `rotate-key` seals every stored password under a new key version.
    #[command(subcommand)]
    Secrets(SecretsCmd),
    /// Fault tickets (acting as the named user, with that user's permissions).
    Incident(IncidentArgs),
    /// Duty rosters (acting as the named user, with that user's permissions).
    Duty(DutyArgs),
    /// Notifications: the review queue, one message, approve / reject (NTF-09), a channel test.
    Notify(NotifyArgs),
    /// Data reconciliation (REC): compare two systems' extracts.
    #[command(subcommand)]
    Recon(crate::recon_cli::ReconCmd),
    /// Problem management (PRB-*), acting as the named user.
    Problem(ProblemArgs),
    /// Back-end data operations (DATA-*): list, show with the before-image, guarded execution, monthly audit.
    Dataop(DataopArgs),
    /// Cut-over requests (CHG-10..19, CNT-01..05): list, show, apply, approve, log a step, complete.
    Cutover(ChangeArgs<CutoverCmd>),
    /// The release calendar (CHG-01..10): list, show, plan, go / no-go, CHG-07 verification.
    Release(ChangeArgs<ReleaseCmd>),
    /// Requirements (REQ-01, CHG-06): list, show, register, act, the intake week.
    Requirement(ChangeArgs<RequirementCmd>),
    /// Dial-test probes (MON-03, MON-05): list, show, create/update from a file, export, run now, pause.
    Probe(crate::mon_cli::ProbeArgs),
    /// SQL monitoring points (MON-02) and their databases: list, show, create/update from a file, run now.
    Point(crate::mon_cli::PointArgs),
}

/// Options of `cutover`, `release` and `requirement`.
#[derive(Debug, Args)]
pub struct ChangeArgs<C: Subcommand> {
    /// Act as this user (their roles apply; the audit trail names them).
    #[arg(long = "as", default_value = "admin")]
    pub as_user: String,
    #[command(subcommand)]
    pub cmd: C,
}

/// `cutover` subcommands.
#[derive(Debug, Subcommand)]
pub enum CutoverCmd {
    /// Cut-overs starting in a period (default: from now, the next 31 days).
    List {
        /// RFC 3339.
        #[arg(long)]
        from: Option<String>,
        /// RFC 3339.
        #[arg(long)]
        to: Option<String>,
    },
    /// One cut-over with its notices and log, as JSON.
    Show { id: i64 },
    /// Apply: the application as JSON (the API body of POST /api/v1/cutovers) in FILE, `-` for standard input.
    Apply { file: PathBuf },
    /// Approve (CHG-14: not the requester): silences the systems, queues the customer notices.
    Approve { id: i64 },
    /// Record the on-site start conditions and give the order (CHG-17): the API body of
    /// POST /api/v1/cutovers/{id}/start as JSON in FILE, `-` for standard input.
    Start { id: i64, file: PathBuf },
    /// Record an executed step after the start (CHG-18: an important step needs operator ≠ supervisor).
    Log {
        id: i64,
        #[arg(long)]
        step: String,
        #[arg(long)]
        operator: String,
        #[arg(long)]
        supervisor: String,
        #[arg(long)]
        important: bool,
        #[arg(long, default_value = "")]
        result: String,
    },
    /// Complete a cut-over in progress (CHG-19).
    Complete { id: i64 },
}

/// `release` subcommands.
#[derive(Debug, Subcommand)]
pub enum ReleaseCmd {
    /// Releases of a month (default: this month).
    List {
        /// YYYY-MM.
        #[arg(long)]
        month: Option<String>,
    },
    /// One release with its gates and CHG-07 checklist, as JSON.
    Show { id: i64 },
    /// Plan a release (CHG-01/02 quotas, CHG-09 start, CHG-10 window, gates not in the past).
    Plan {
        #[arg(long)]
        title: String,
        /// routine or emergency.
        #[arg(long)]
        kind: String,
        #[arg(long)]
        family: String,
        /// YYYY-MM-DD.
        #[arg(long)]
        date: String,
        /// HH:MM.
        #[arg(long)]
        start: Option<String>,
        /// RFC 3339.
        #[arg(long)]
        downtime_from: Option<String>,
        /// RFC 3339.
        #[arg(long)]
        downtime_to: Option<String>,
        /// CHG-02 over-quota reason (department manager).
        #[arg(long)]
        override_reason: Option<String>,
    },
    /// Record a vendor deliverable (CHG-05) or the vendor training (CHG-12) before the go decision.
    Record {
        id: i64,
        /// Key of change.toml [[releases.prerequisite]], e.g. change_description, factory_test_report,
        /// vendor_training.
        #[arg(long)]
        key: String,
        /// Document number or link; for the training, what it covered and who gave it.
        #[arg(long)]
        reference: String,
        /// The training: when it was held, RFC 3339.
        #[arg(long)]
        held_at: Option<String>,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Go decision (CHG-04): silence, announcement (CHG-08), verification checklist (CHG-07).
    Go {
        id: i64,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// No-go decision with its reason.
    NoGo {
        id: i64,
        #[arg(long)]
        note: String,
    },
    /// Record the production verification of one scenario (CHG-07).
    Verify {
        id: i64,
        #[arg(long)]
        scenario: String,
        /// passed or failed.
        #[arg(long)]
        result: String,
        #[arg(long, default_value = "")]
        note: String,
    },
}

/// `requirement` subcommands.
#[derive(Debug, Subcommand)]
pub enum RequirementCmd {
    /// The newest requirements.
    List,
    /// One requirement as JSON.
    Show { id: i64 },
    /// Register (REQ-01 analysis deadline).
    Register {
        #[arg(long)]
        title: String,
        /// Username of the requester.
        #[arg(long)]
        requester: String,
        #[arg(long)]
        system: String,
    },
    /// solution_approved, link_release (--release), accept, reject, deem_accepted (CHG-06).
    Act {
        id: i64,
        action: String,
        #[arg(long)]
        release: Option<i64>,
        #[arg(long)]
        note: Option<String>,
    },
    /// REQ-01 figures of the intake week of a date (YYYY-MM-DD).
    Week { date: String },
}

/// `dataop` options.
#[derive(Debug, Args)]
pub struct DataopArgs {
    /// Act as this user (their roles apply; the audit trail names them).
    #[arg(long = "as", default_value = "admin")]
    pub as_user: String,
    #[command(subcommand)]
    pub cmd: DataopCmd,
}

/// `dataop` subcommands.
#[derive(Debug, Subcommand)]
pub enum DataopCmd {
    /// Requests, newest first (optionally in one state).
    List {
        #[arg(long)]
        state: Option<String>,
    },
    /// One request as JSON: steps, chain, executions and before-images.
    Show { id: i64 },
    /// Run an approved request, guarded (one transaction, before-image first, rolled back on any mismatch).
    Execute { id: i64 },
    /// The DATA-13 audit report of a month (YYYY-MM) as JSON.
    Audit { month: String },
    /// Settle an execution found interrupted (`unknown`) after checking the target by hand.
    Settle {
        id: i64,
        execution: i64,
        /// The change is on the target (otherwise: nothing was applied).
        #[arg(long)]
        applied: bool,
        /// How the target was checked.
        #[arg(long)]
        note: String,
    },
}

/// `problem` options.
#[derive(Debug, Args)]
pub struct ProblemArgs {
    /// Act as this user (their roles apply; the audit trail names them).
    #[arg(long = "as", default_value = "admin")]
    pub as_user: String,
    #[command(subcommand)]
    pub cmd: ProblemCmd,
}

/// `problem` subcommands.
#[derive(Debug, Subcommand)]
pub enum ProblemCmd {
    /// Problems, newest first, with an overdue mark.
    List {
        /// reported, dispatched, resolved, closed.
        #[arg(long)]
        state: Option<String>,
        /// P1..P5.
        #[arg(long)]
        level: Option<String>,
    },
    /// One problem with its deadlines, actions, links and history (JSON).
    Show { id: i64 },
    /// Reports a problem (PRB-12 form; the reporter is --as).
    Report {
        #[arg(long)]
        title: String,
        /// P1..P5 (mandatory, PRB-12).
        #[arg(long)]
        level: String,
        /// PRB-04 category key (host, database, network_device, …).
        #[arg(long)]
        category: String,
        #[arg(long)]
        source: String,
        /// RFC 3339.
        #[arg(long)]
        discovered_at: String,
        #[arg(long)]
        symptom: String,
        #[arg(long)]
        impact: String,
    },
    /// PRB-09 monthly problem report (JSON).
    Monthly {
        /// YYYY-MM.
        #[arg(long)]
        month: String,
    },
    /// A move: `tianshu problem act 7 3 '{"action":"dispatch","handler":"dba1"}'` (version-checked).
    Act {
        id: i64,
        version: i64,
        /// The move as JSON, as in POST /api/v1/problems/{id}/actions without `version`.
        action: String,
    },
}

/// `notify` options.
#[derive(Debug, Args)]
pub struct NotifyArgs {
    /// Act as this user (their roles apply; the audit trail names them). Required to approve or reject;
    /// `admin` otherwise.
    #[arg(long = "as", global = true)]
    pub as_user: Option<String>,
    #[command(subcommand)]
    pub cmd: NotifyCmd,
}

/// `notify` subcommands.
#[derive(Debug, Subcommand)]
pub enum NotifyCmd {
    /// List messages newest first (`--state pending_review` is the review queue).
    List {
        /// pending_review, queued, sending, sent, failed or cancelled.
        #[arg(long)]
        state: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Show one message: rendered text, recipients, review and delivery log (addresses masked).
    Show { id: i64 },
    /// Approve a message waiting for review (NTF-09: a fault-handling group leader, not its drafter).
    Approve {
        id: i64,
        #[arg(long)]
        note: Option<String>,
    },
    /// Reject a message waiting for review; the reason is required.
    Reject {
        id: i64,
        /// The reason for rejecting.
        #[arg(long)]
        note: Option<String>,
    },
    /// Send one test message through the configured channel and print the outcome.
    TestSend {
        #[arg(long, value_parser = ["sms", "email", "im"])]
        channel: String,
        /// Mobile number, e-mail address, or the name of a configured IM webhook.
        #[arg(long)]
        to: String,
    },
}

/// `duty` options.
#[derive(Debug, Args)]
pub struct DutyArgs {
    /// Act as this user (their roles apply; the audit trail names them).
    #[arg(long = "as", default_value = "admin")]
    pub as_user: String,
    #[command(subcommand)]
    pub cmd: DutyCmd,
}

/// `duty` subcommands.
#[derive(Debug, Subcommand)]
pub enum DutyCmd {
    /// Today's roster.
    Today,
    /// This week's roster (Monday to Sunday).
    Week,
    /// Who is on duty now (or at --at, RFC 3339), optionally for a system, region or slot.
    OnDuty {
        #[arg(long)]
        at: Option<String>,
        #[arg(long)]
        system: Option<String>,
        #[arg(long)]
        region: Option<String>,
        #[arg(long)]
        slot: Option<String>,
    },
    /// Import a roster workbook (checks only, unless --publish).
    Import {
        file: PathBuf,
        #[arg(long)]
        publish: bool,
    },
    /// Export the roster of --from..--to (default this week) as a workbook.
    Export {
        file: PathBuf,
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        to: Option<String>,
    },
    /// Comp-time statements of a month (YYYY-MM, default this month); --person for one; --xlsx FILE to export.
    CompTime {
        #[arg(long)]
        month: Option<String>,
        #[arg(long)]
        person: Option<String>,
        #[arg(long)]
        xlsx: Option<PathBuf>,
    },
}

/// `incident` options.
#[derive(Debug, Args)]
pub struct IncidentArgs {
    /// Act as this user (their roles and scope apply; the audit trail names them).
    #[arg(long = "as", default_value = "admin")]
    pub as_user: String,
    #[command(subcommand)]
    pub cmd: IncidentCmd,
}

/// `incident` subcommands.
#[derive(Debug, Subcommand)]
pub enum IncidentCmd {
    /// Open a ticket.
    Create {
        #[arg(long)]
        title: String,
        #[arg(long)]
        symptom: String,
        /// Reporting branch or team key.
        #[arg(long)]
        org: String,
        #[arg(long)]
        system: Option<String>,
        #[arg(long, default_value = "hotline")]
        channel: String,
        #[arg(long, default_value = "cli")]
        reporter: String,
        #[arg(long)]
        affected_users: Option<u64>,
        #[arg(long)]
        complaints: Option<u64>,
        /// Customer-service complaint level 1-4.
        #[arg(long)]
        cs_level: Option<u8>,
        /// The customer (a group customer's key for a leased-line fault).
        #[arg(long)]
        customer: Option<String>,
        /// KPI-09: the group customer's leased line (circuit id) the fault is on.
        #[arg(long, requires = "customer")]
        leased_line: Option<String>,
        /// The line's service type (a [[service_type]] key of sla.toml).
        #[arg(long, requires = "leased_line")]
        service_type: Option<String>,
    },
    /// List top-level tickets, newest first.
    List {
        #[arg(long)]
        level: Option<String>,
        #[arg(long)]
        state: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Show one ticket with clocks, children and allowed actions (JSON).
    Show { id: i64 },
    /// Apply a workflow action (accept, submit_for_audit, approve, reply, close, cancel ...).
    Transition {
        id: i64,
        action: String,
        #[arg(long)]
        reason: Option<String>,
        #[arg(long)]
        cause_class: Option<String>,
        #[arg(long)]
        note: Option<String>,
    },
    /// Dispatch to organisations as KIND:ORG, e.g. branch:foshan vendor:vendor-tianheng.
    Dispatch { id: i64, targets: Vec<String> },
}

/// `serve` options.
#[derive(Debug, Args, Clone)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "TIANSHU_LISTEN")]
    pub listen: Option<String>,
    /// Load the invented demo organisation if the database has no users.
    #[arg(long)]
    pub demo: bool,
    /// Mark cookies Secure (when served over HTTPS).
    #[arg(long, env = "TIANSHU_SECURE_COOKIES")]
    pub secure_cookies: Option<bool>,
}

/// `user` subcommands.
#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Create a user.
    Add {
        username: String,
        /// Organisation key (e.g. prov, guangzhou).
        #[arg(long)]
        org: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// Role key (repeatable).
        #[arg(long = "role")]
        roles: Vec<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        /// See every region.
        #[arg(long)]
        province_scope: bool,
    },
    /// Set a user's password (read from standard input).
    Passwd { username: String },
    /// List users.
    List,
}

/// `token` subcommands.
#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    /// Create a token for a user; prints the secret once.
    Create {
        #[arg(long)]
        user: String,
        #[arg(long)]
        name: String,
        /// Permission the token may use (repeatable; default all of the user's).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Lifetime in days.
        #[arg(long)]
        days: Option<u32>,
    },
    /// Revoke a token by id.
    Revoke { id: i64 },
}

/// `policy` subcommands.
#[derive(Debug, Subcommand)]
pub enum PolicyCmd {
    /// Validate a pack (a directory, or any file inside one) and print what it encodes.
    Check { path: Option<PathBuf> },
}

/// `audit` subcommands.
#[derive(Debug, Subcommand)]
pub enum SecretsCmd {
    /// Generate a new credentials key version, re-encrypt every stored password under it in one transaction and
    /// then replace the key file (stop the servers first). Safe to re-run after an interruption: it finishes the
    /// interrupted rotation.
    RotateKey,
}

#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// Walk the hash chain; exit 1 if any entry was edited, inserted or deleted.
    Verify,
}

impl Cli {
    /// Layered settings for this invocation.
    pub fn settings(&self, serve: Option<&ServeArgs>) -> anyhow::Result<Settings> {
        let file = match &self.config {
            Some(p) => FileConfig::load(p)?,
            None => FileConfig::default(),
        };
        let data_dir = self
            .common
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("data"));
        Ok(Settings {
            listen: serve
                .and_then(|s| s.listen.clone())
                .or(file.listen)
                .unwrap_or_else(|| "127.0.0.1:8080".into()),
            credentials_key_file: self
                .common
                .credentials_key_file
                .clone()
                .or(file.credentials_key_file)
                .unwrap_or_else(|| data_dir.join(tianshu_services::credentials::DEFAULT_KEY_FILE)),
            data_dir,
            database_url: self.common.database_url.clone().or(file.database_url),
            database_schema: self.common.database_schema.clone().or(file.database_schema),
            policy_dir: self.common.policy_dir.clone().or(file.policy_dir),
            secure_cookies: serve
                .and_then(|s| s.secure_cookies)
                .or(file.secure_cookies)
                .unwrap_or(false),
            channels: match &file.notify {
                Some(n) => n.channels()?,
                None => Default::default(),
            },
        })
    }

    /// The log filter and format after layering (the file may set them too).
    pub fn logging(&self) -> (String, String) {
        let file = self
            .config
            .as_ref()
            .and_then(|p| FileConfig::load(p).ok())
            .unwrap_or_default();
        (
            self.log_level
                .clone()
                .or(file.log_level)
                .unwrap_or_else(|| "info".into()),
            self.log_format
                .clone()
                .or(file.log_format)
                .unwrap_or_else(|| "text".into()),
        )
    }
}

/// The PostgreSQL schema setting, checked: it names the setting on a SQLite URL or an unusable name.
fn database_schema(s: &Settings) -> anyhow::Result<Option<String>> {
    let Some(schema) = &s.database_schema else {
        return Ok(None);
    };
    if !s.database_url().starts_with("postgres") {
        anyhow::bail!(
            "database_schema: a schema applies only to a PostgreSQL database (database_url postgres://…)"
        );
    }
    if !tianshu_store::valid_schema_name(schema) {
        anyhow::bail!(
            "database_schema: '{schema}' must be 1–63 characters of ASCII letters, digits and underscores"
        );
    }
    Ok(Some(schema.clone()))
}

fn app_config(s: &Settings, demo: bool) -> anyhow::Result<AppConfig> {
    let pg_schema = database_schema(s)?;
    if s.database_url.is_none() {
        std::fs::create_dir_all(&s.data_dir).map_err(|e| {
            anyhow::anyhow!("cannot create data directory {}: {e}", s.data_dir.display())
        })?;
    }
    let mut store = StoreConfig::new(s.database_url());
    store.pg_schema = pg_schema;
    let mut cfg = AppConfig::new(store);
    cfg.pack = match &s.policy_dir {
        Some(d) => PackSource::Dir(d.clone()),
        None => PackSource::Embedded,
    };
    cfg.demo = demo;
    cfg.demo_recipients = demo;
    cfg.demo_customers = demo;
    cfg.recon_dir = Some(s.data_dir.join("recon"));
    cfg.credentials_key_file = Some(s.credentials_key_file.clone());
    cfg.secure_cookies = s.secure_cookies;
    cfg.channels = s.channels.clone();
    if demo && cfg.channels.has_no_peer() && !cfg.channels.log {
        // Offline demo: messages reach `sent` through the log channel instead of a network peer.
        cfg.channels.log = true;
        tracing::info!("no notification channel configured: the demo delivers to the server log");
    }
    Ok(cfg)
}

fn cli_principal() -> Principal {
    let mut p = Principal::cli_admin();
    p.username = std::env::var("USER").unwrap_or_else(|_| "operator".into());
    p.via = AuthVia::Cli;
    p
}

fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let pw = line.trim_end_matches(['\r', '\n']).to_string();
    if pw.is_empty() {
        anyhow::bail!("password: expected the password on standard input");
    }
    Ok(pw)
}

fn svc(e: tianshu_services::ServiceError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// Runs a command; returns the process exit code.
pub async fn run(cli: Cli) -> anyhow::Result<i32> {
    match &cli.command {
        Command::Serve(a) | Command::Demo(a) => {
            let demo = a.demo || matches!(cli.command, Command::Demo(_));
            let s = cli.settings(Some(a))?;
            let cfg = app_config(&s, demo)?;
            let app = crate::Application::build(&cfg, &s.listen).await?;
            if demo {
                // A probe of the demo server itself and a few alerts, so the offline demo shows monitoring.
                let own = match app.addr.ip() {
                    ip if ip.is_unspecified() => {
                        std::net::SocketAddr::from(([127, 0, 0, 1], app.addr.port()))
                    }
                    _ => app.addr,
                };
                if let Err(e) =
                    tianshu_services::demo::load_monitoring(&app.platform, &format!("http://{own}"))
                        .await
                {
                    tracing::warn!(error = %e, "demo monitoring data not loaded");
                }
                println!("Tianshu demo: http://{}/  (users: admin, preproc, auditor, duty, room-mgr … password: {})", app.addr, tianshu_services::demo::DEMO_PASSWORD);
            }
            tracing::info!(addr = %app.addr, "serving");
            app.run_until(shutdown_signal()).await?;
            Ok(0)
        }
        Command::Migrate => {
            let s = cli.settings(None)?;
            let cfg = app_config(&s, false)?;
            let store = tianshu_store::Store::open(&cfg.store).await.map_err(|e| {
                anyhow::anyhow!(
                    "cannot open database {}: {e}",
                    tianshu_store::redact_url(&cfg.store.url)
                )
            })?;
            println!(
                "migrations applied; pending: {}",
                store.pending_migrations().await?
            );
            store.close().await;
            Ok(0)
        }
        Command::User(cmd) => {
            let s = cli.settings(None)?;
            let p = crate::build_platform(&app_config(&s, false)?).await?;
            let actor = cli_principal();
            let code = match cmd {
                UserCmd::Add {
                    username,
                    org,
                    name,
                    roles,
                    password_stdin,
                    province_scope,
                } => {
                    let password = if *password_stdin {
                        Some(read_password()?)
                    } else {
                        None
                    };
                    let v = identity::create_user(
                        &p,
                        &actor,
                        CreateUser {
                            username: username.clone(),
                            display_name: name.clone(),
                            org_key: org.clone(),
                            roles: roles.clone(),
                            password,
                            email: None,
                            phone: None,
                            locale: None,
                            province_scope: *province_scope,
                        },
                        None,
                    )
                    .await
                    .map_err(svc)?;
                    println!(
                        "created user {} (id {}) roles: {}",
                        v.user.username,
                        v.user.id,
                        v.roles.join(",")
                    );
                    0
                }
                UserCmd::Passwd { username } => {
                    let u = p
                        .store
                        .user_by_username(username)
                        .await?
                        .ok_or_else(|| anyhow::anyhow!("username: no user '{username}'"))?;
                    let pw = read_password()?;
                    identity::change_password(&p, &actor, u.id, &pw, None)
                        .await
                        .map_err(svc)?;
                    println!("password changed for {username}; their sessions were ended");
                    0
                }
                UserCmd::List => {
                    let mut after = 0;
                    loop {
                        let page = identity::list_users(&p, &actor, after, 200, None)
                            .await
                            .map_err(svc)?;
                        for v in &page {
                            println!(
                                "{:>5}  {:<16} {:<24} {}{}",
                                v.user.id,
                                v.user.username,
                                v.user.display_name,
                                v.roles.join(","),
                                if v.user.active { "" } else { "  (inactive)" }
                            );
                        }
                        match page.last() {
                            Some(l) if page.len() == 200 => after = l.user.id,
                            _ => break,
                        }
                    }
                    0
                }
            };
            p.store.close().await;
            Ok(code)
        }
        Command::Token(cmd) => {
            let s = cli.settings(None)?;
            let p = crate::build_platform(&app_config(&s, false)?).await?;
            let mut actor = cli_principal();
            let code = match cmd {
                TokenCmd::Create {
                    user,
                    name,
                    scopes,
                    days,
                } => {
                    let u = p
                        .store
                        .user_by_username(user)
                        .await?
                        .ok_or_else(|| anyhow::anyhow!("user: no user '{user}'"))?;
                    // The CLI acts for the named user: the token can never exceed that user's grants.
                    let (perms, _) = p.store.user_grants(u.id).await?;
                    actor.user_id = u.id;
                    actor.permissions = perms.iter().filter_map(|s| s.parse().ok()).collect();
                    actor
                        .permissions
                        .insert(tianshu_core::Permission::TokenManage);
                    let (secret, t) = session::create_token(
                        &p,
                        &actor,
                        CreateToken {
                            name: name.clone(),
                            username: Some(user.clone()),
                            scopes: scopes.clone(),
                            lifetime_days: *days,
                        },
                        None,
                    )
                    .await
                    .map_err(svc)?;
                    eprintln!("token {} created for {user}; shown once:", t.id);
                    println!("{secret}");
                    0
                }
                TokenCmd::Revoke { id } => {
                    session::revoke(&p, &actor, *id, None).await.map_err(svc)?;
                    println!("token {id} revoked");
                    0
                }
            };
            p.store.close().await;
            Ok(code)
        }
        Command::Policy(PolicyCmd::Check { path }) => Ok(policy_check(path.as_deref())),
        Command::Incident(args) => with_platform!(cli, |p| incident_cmd(&p, args)),
        Command::Duty(args) => with_platform!(cli, |p| duty_cmd(&p, args)),
        Command::Problem(args) => with_platform!(cli, |p| problem_cmd(&p, args)),
        Command::Notify(args) => {
            let s = cli.settings(None)?;
            let p = crate::build_platform(&app_config(&s, false)?).await?;
            let code = notify_cmd(&p, &s, args).await;
            p.store.close().await;
            code
        }
        Command::Recon(cmd) => {
            let s = cli.settings(None)?;
            let pack = match &s.policy_dir {
                Some(d) => PackSource::Dir(d.clone()),
                None => PackSource::Embedded,
            };
            // Only --store opens the database (a plain comparison needs none).
            let platform = if crate::recon_cli::needs_database(cmd) {
                let p = crate::build_platform(&app_config(&s, false)?).await?;
                p.recon.set_base(s.data_dir.join("recon"));
                Some(p)
            } else {
                None
            };
            let code = crate::recon_cli::recon_cmd(cmd, &pack, platform.as_ref()).await;
            if let Some(p) = platform {
                p.store.close().await;
            }
            code
        }
        Command::Dataop(args) => with_platform!(cli, |p| dataop_cmd(&p, args)),
        Command::Cutover(args) => with_platform!(cli, |p| cutover_cmd(&p, args)),
        Command::Release(args) => with_platform!(cli, |p| release_cmd(&p, args)),
        Command::Requirement(args) => with_platform!(cli, |p| requirement_cmd(&p, args)),
        Command::Probe(args) => with_platform!(cli, |p| crate::mon_cli::probe_cmd(&p, args)),
        Command::Point(args) => with_platform!(cli, |p| crate::mon_cli::point_cmd(&p, args)),
        Command::Secrets(SecretsCmd::RotateKey) => {
            let s = cli.settings(None)?;
            let cfg = app_config(&s, false)?;
            let store = tianshu_store::Store::open(&cfg.store).await.map_err(|e| {
                anyhow::anyhow!(
                    "cannot open database {}: {e}",
                    tianshu_store::redact_url(&cfg.store.url)
                )
            })?;
            let now = chrono::Utc::now().timestamp_micros();
            let r = tianshu_services::credentials::rotate_key(&store, &s.credentials_key_file, now)
                .await;
            store.close().await;
            match r {
                Ok(r) => {
                    println!(
                        "key version {} in {}; {} stored value(s) re-encrypted{}; key version {} retired",
                        r.to,
                        s.credentials_key_file.display(),
                        r.re_encrypted,
                        if r.resumed { " (finished an interrupted rotation)" } else { "" },
                        r.from
                    );
                    Ok(0)
                }
                Err(e) => {
                    eprintln!("refused: {e}");
                    Ok(1)
                }
            }
        }
        Command::Audit(AuditCmd::Verify) => {
            let s = cli.settings(None)?;
            let cfg = app_config(&s, false)?;
            let store = tianshu_store::Store::open(&cfg.store).await.map_err(|e| {
                anyhow::anyhow!(
                    "cannot open database {}: {e}",
                    tianshu_store::redact_url(&cfg.store.url)
                )
            })?;
            let r = store.audit_verify().await?;
            store.close().await;
            if r.ok() {
                println!(
                    "audit chain intact: {} entries, head {}",
                    r.entries, r.head_seq
                );
                Ok(0)
            } else {
                for p in &r.problems {
                    println!("seq {}: {}: {}", p.seq, p.kind, p.detail);
                }
                println!(
                    "audit chain BROKEN: {} problem(s) in {} entries",
                    r.problems.len(),
                    r.entries
                );
                Ok(1)
            }
        }
    }
}

fn policy_check(path: Option<&Path>) -> i32 {
    let source = match path {
        None => PackSource::Embedded,
        Some(p) if p.is_dir() => PackSource::Dir(p.to_path_buf()),
        Some(p) => {
            // A file inside a pack (or inside its holidays/ folder): check the whole pack.
            let mut dir = p.parent().map(Path::to_path_buf).unwrap_or_default();
            if !tianshu_services::policy::is_pack_dir(&dir) {
                if let Some(up) = dir
                    .parent()
                    .filter(|d| tianshu_services::policy::is_pack_dir(d))
                {
                    dir = up.to_path_buf();
                }
            }
            if !p.exists() {
                eprintln!("{}: no such file or directory", p.display());
                return 2;
            }
            PackSource::Dir(dir)
        }
    };
    match source.load() {
        Ok(pack) => {
            println!(
                "policy pack {} version {} ({})",
                pack.pack.name,
                pack.pack.version,
                &pack.source_hash[..12.min(pack.source_hash.len())]
            );
            println!("  time zone: {}", pack.pack.time_zone);
            println!(
                "  files: {}",
                pack.files
                    .iter()
                    .map(|f| f.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            println!(
                "  roles ({}): {}",
                pack.roles.len(),
                pack.roles
                    .iter()
                    .map(|r| format!("{}({})", r.key, r.name_zh))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            println!(
                "  calendars: {} (default {})",
                pack.calendars
                    .calendars
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                pack.calendars.default_calendar
            );
            println!(
                "  holiday years: {}",
                pack.holidays
                    .iter()
                    .map(|y| y.year.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            println!(
                "  fault levels: FL1 users {:?}, FL2 users {:?}",
                pack.fault_levels.fl1.users, pack.fault_levels.fl2.users
            );
            for l in &pack.problem_levels.levels {
                println!(
                    "  problem level {:?}: response {} resolution {}",
                    l.level, l.response, l.resolution
                );
            }
            let tz: chrono_tz::Tz = pack
                .pack
                .time_zone
                .parse()
                .unwrap_or(chrono_tz::Asia::Shanghai);
            let today = chrono::Utc::now().with_timezone(&tz).date_naive();
            for w in pack.warnings(today) {
                println!("warning: {w}");
            }
            0
        }
        Err(errs) => {
            for e in errs.iter() {
                eprintln!("{e}");
            }
            eprintln!("policy pack invalid: {} error(s)", errs.len());
            2
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}

async fn duty_cmd(p: &tianshu_services::Platform, args: &DutyArgs) -> anyhow::Result<i32> {
    use tianshu_services::duty::{self, OnDutyQuery};
    let u = p
        .store
        .user_by_username(&args.as_user)
        .await?
        .ok_or_else(|| anyhow::anyhow!("as: no user '{}'", args.as_user))?;
    let actor = tianshu_services::session::principal_of_user(p, u.id, AuthVia::Cli)
        .await
        .map_err(svc)?;
    let print_roster = |rows: Vec<duty::AssignmentView>| {
        for r in rows {
            println!(
                "{}\t{}\t{}\t{}\t{}",
                r.date,
                r.shift,
                r.slot,
                r.person,
                r.region.unwrap_or_default()
            );
        }
    };
    match &args.cmd {
        DutyCmd::Today => {
            let t = duty::today(p);
            print_roster(duty::roster(p, &actor, t, t).await.map_err(svc)?);
        }
        DutyCmd::Week => {
            let (f, t) = duty::week_of(duty::today(p));
            print_roster(duty::roster(p, &actor, f, t).await.map_err(svc)?);
        }
        DutyCmd::OnDuty {
            at,
            system,
            region,
            slot,
        } => {
            let at = match at {
                None => p.clock.now(),
                Some(s) => chrono::DateTime::parse_from_rfc3339(s)
                    .map_err(|_| anyhow::anyhow!("at: '{s}' is not an RFC 3339 instant"))?
                    .with_timezone(&chrono::Utc),
            };
            let q = OnDutyQuery {
                system: system.as_deref(),
                region: region.as_deref(),
                slot: slot.as_deref(),
            };
            let people = duty::on_duty(p, &actor, at, &q).await.map_err(svc)?;
            if people.is_empty() {
                println!("nobody on duty at {at}");
                return Ok(1);
            }
            for o in people {
                println!(
                    "{}\t{}\t{}\t{}\t{}..{}",
                    o.person, o.name, o.slot, o.shift, o.start, o.end
                );
            }
        }
        DutyCmd::Import { file, publish } => {
            let bytes = std::fs::read(file)?;
            let r = duty::xlsx::import_roster(p, &actor, &bytes, *publish)
                .await
                .map_err(svc)?;
            for x in &r.problems {
                println!("problem: {x}");
            }
            match &r.roster {
                Some(ro) => println!(
                    "published roster {}: {} assignments {}..{}",
                    ro.id, ro.assignments, r.from, r.to
                ),
                None => println!(
                    "checked: {} assignments {}..{} (not stored; add --publish)",
                    r.assignments.len(),
                    r.from,
                    r.to
                ),
            }
            return Ok(if r.problems.is_empty() { 0 } else { 1 });
        }
        DutyCmd::Export { file, from, to } => {
            let (wf, wt) = duty::week_of(duty::today(p));
            let f = match from {
                Some(s) => duty::date_field("from", s).map_err(svc)?,
                None => wf,
            };
            let t = match to {
                Some(s) => duty::date_field("to", s).map_err(svc)?,
                None => wt,
            };
            let bytes = duty::xlsx::export_roster(p, &actor, f, t)
                .await
                .map_err(svc)?;
            std::fs::write(file, bytes)?;
            println!("wrote {}", file.display());
        }
        DutyCmd::CompTime {
            month,
            person,
            xlsx,
        } => {
            let month = month
                .clone()
                .unwrap_or_else(|| duty::today(p).format("%Y-%m").to_string());
            if let Some(f) = xlsx {
                let bytes = duty::xlsx::export_comp_time(p, &actor, &month)
                    .await
                    .map_err(svc)?;
                std::fs::write(f, bytes)?;
                println!("wrote {}", f.display());
                return Ok(0);
            }
            let all = match person {
                Some(u) => vec![duty::comp_time(p, &actor, u, &month).await.map_err(svc)?],
                None => duty::comp_time_all(p, &actor, &month).await.map_err(svc)?,
            };
            for s in all {
                println!(
                    "{}\t{}\t{} duties\t{} h",
                    s.person,
                    s.month,
                    s.lines.len(),
                    s.total_hours
                );
            }
        }
    }
    Ok(0)
}

async fn incident_cmd(p: &tianshu_services::Platform, args: &IncidentArgs) -> anyhow::Result<i32> {
    use tianshu_services::incidents::{self, ActionInput, DispatchTarget, FactsInput, NewIncident};
    let u = p
        .store
        .user_by_username(&args.as_user)
        .await?
        .ok_or_else(|| anyhow::anyhow!("as: no user '{}'", args.as_user))?;
    let actor = tianshu_services::session::principal_of_user(p, u.id, AuthVia::Cli)
        .await
        .map_err(svc)?;
    match &args.cmd {
        IncidentCmd::Create {
            title,
            symptom,
            org,
            system,
            channel,
            reporter,
            affected_users,
            complaints,
            cs_level,
            customer,
            leased_line,
            service_type,
        } => {
            let input = NewIncident {
                title: title.clone(),
                symptom: symptom.clone(),
                symptom_category: None,
                source_channel: channel.clone(),
                reporter: reporter.clone(),
                reporter_contact: None,
                org_key: org.clone(),
                system_key: system.clone(),
                business: None,
                customer: customer.clone(),
                owning_org_key: None,
                facts: FactsInput {
                    affected_users: *affected_users,
                    complaints: *complaints,
                    cs_level: *cs_level,
                    ..Default::default()
                },
                leased_line: leased_line.as_ref().map(|l| incidents::LeasedLineInput {
                    line: l.clone(),
                    service_type: service_type.clone(),
                }),
            };
            let v = incidents::create(p, &actor, input, None)
                .await
                .map_err(svc)?;
            println!(
                "{} {} {} (id {})",
                v.incident.number, v.incident.fault_level, v.incident.state, v.incident.id
            );
            for r in &v.reasons {
                println!("  {}", r.text_zh);
            }
        }
        IncidentCmd::List {
            level,
            state,
            limit,
        } => {
            let f = tianshu_store::incidents::IncidentFilter {
                fault_level: level.clone(),
                state: state.clone(),
                top_level: true,
                ..Default::default()
            };
            for i in incidents::list(p, &actor, i64::MAX, (*limit).clamp(1, 500), f)
                .await
                .map_err(svc)?
            {
                println!(
                    "{:>6}  {:<18} {:<8} {:<16} {}",
                    i.id, i.number, i.fault_level, i.state, i.title
                );
            }
        }
        IncidentCmd::Show { id } => {
            let v = incidents::get(p, &actor, *id).await.map_err(svc)?;
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        }
        IncidentCmd::Transition {
            id,
            action,
            reason,
            cause_class,
            note,
        } => {
            let cur = incidents::get(p, &actor, *id).await.map_err(svc)?;
            let input = ActionInput {
                reason: reason.clone(),
                cause_class: cause_class.clone(),
                note: note.clone(),
                escalated: None,
            };
            let v = incidents::act(p, &actor, *id, cur.incident.version, action, input, None)
                .await
                .map_err(|e| match e {
                    tianshu_services::ServiceError::Transition {
                        message, allowed, ..
                    } => {
                        anyhow::anyhow!("{message}; allowed now: {}", allowed.join(", "))
                    }
                    other => svc(other),
                })?;
            println!("{} is now {}", v.incident.number, v.incident.state);
        }
        IncidentCmd::Dispatch { id, targets } => {
            let mut ts = Vec::new();
            for (i, t) in targets.iter().enumerate() {
                let (kind, org) = t.split_once(':').ok_or_else(|| {
                    anyhow::anyhow!("targets[{i}]: expected KIND:ORG, e.g. branch:foshan")
                })?;
                ts.push(DispatchTarget {
                    kind: kind.into(),
                    org_key: org.into(),
                    note: None,
                });
            }
            let cur = incidents::get(p, &actor, *id).await.map_err(svc)?;
            let v = incidents::dispatch(p, &actor, *id, cur.incident.version, ts, None)
                .await
                .map_err(svc)?;
            for c in &v.children {
                println!(
                    "{} -> {} ({})",
                    c.number,
                    c.child_kind.clone().unwrap_or_default(),
                    c.state
                );
            }
        }
    }
    Ok(0)
}

async fn acting_as(
    p: &tianshu_services::Platform,
    username: &str,
) -> anyhow::Result<tianshu_services::authz::Principal> {
    let u = p
        .store
        .user_by_username(username)
        .await?
        .ok_or_else(|| anyhow::anyhow!("as: no user '{username}'"))?;
    tianshu_services::session::principal_of_user(p, u.id, AuthVia::Cli)
        .await
        .map_err(svc)
}

fn refused(e: tianshu_services::ServiceError) -> anyhow::Error {
    match e {
        tianshu_services::ServiceError::Transition { code, message, .. } => {
            anyhow::anyhow!("{code}: {message}")
        }
        tianshu_services::ServiceError::Stale(_) => {
            anyhow::anyhow!("version: the message changed meanwhile; look at it again and retry")
        }
        other => svc(other),
    }
}

fn local_time(p: &tianshu_services::Platform, us: i64) -> String {
    let tz: chrono_tz::Tz = p.time_zone();
    tianshu_store::time::from_micros(us)
        .with_timezone(&tz)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

async fn notify_cmd(
    p: &tianshu_services::Platform,
    s: &Settings,
    args: &NotifyArgs,
) -> anyhow::Result<i32> {
    use tianshu_services::notify;
    let named = |what: &str| -> anyhow::Result<String> {
        args.as_user
            .clone()
            .ok_or_else(|| anyhow::anyhow!("as: name the user who {what} with --as USER"))
    };
    match &args.cmd {
        NotifyCmd::List { state, limit } => {
            let actor = acting_as(p, args.as_user.as_deref().unwrap_or("admin")).await?;
            let items = notify::list(p, &actor, None, (*limit).clamp(1, 200), state.as_deref())
                .await
                .map_err(svc)?;
            let now = p.now_us();
            for m in &items {
                let waited = if m.state == "pending_review" {
                    format!("  waiting {} min", (now - m.created_at) / 60_000_000)
                } else {
                    String::new()
                };
                let subject = if m.subject_kind == "incident" {
                    format!("incident:{}", m.subject_id)
                } else {
                    "-".to_string()
                };
                println!(
                    "{:>6}  {:<15} {:<26} {:<14} {:<18} {}{}",
                    m.id,
                    m.state,
                    m.template,
                    subject,
                    m.drafted_by.as_deref().unwrap_or(&m.cause),
                    local_time(p, m.created_at),
                    waited
                );
            }
            if items.is_empty() {
                eprintln!("no messages");
            }
            Ok(0)
        }
        NotifyCmd::Show { id } => {
            let actor = acting_as(p, args.as_user.as_deref().unwrap_or("admin")).await?;
            let v = notify::get(p, &actor, *id).await.map_err(svc)?;
            let m = &v.message;
            println!("message {}  {}  template {}", m.id, m.state, m.template);
            if m.subject_kind == "incident" {
                println!("ticket: incident {}", m.subject_id);
            }
            println!(
                "drafted by {} at {}",
                m.drafted_by.as_deref().unwrap_or(&m.cause),
                local_time(p, m.created_at)
            );
            if let Some(r) = &m.reviewed_by {
                println!(
                    "review: {} by {r} at {}{}",
                    m.review_outcome.as_deref().unwrap_or("-"),
                    m.reviewed_at.map(|t| local_time(p, t)).unwrap_or_default(),
                    m.review_note
                        .as_deref()
                        .map(|n| format!(" — {n}"))
                        .unwrap_or_default()
                );
            }
            if let Some(e) = &m.last_error {
                println!("last error: {e}");
            }
            let ctx: serde_json::Value = serde_json::from_str(&m.context).unwrap_or_default();
            match notify::template(p, &m.template).await {
                Ok(t) => match notify::render_template(&t.def, &m.locale, &ctx) {
                    Ok(r) => println!("subject: {}\n{}", r.subject, r.body),
                    Err(e) => println!("cannot render: {e}"),
                },
                Err(e) => println!("template: {e}"),
            }
            println!("recipients: {}", m.recipients);
            if v.deliveries.is_empty() {
                println!("deliveries: none yet");
            }
            for d in &v.deliveries {
                println!(
                    "  {:<8} {:<6} {:<24} {:<22} attempts {}{}",
                    d.state,
                    d.channel,
                    d.address,
                    d.recipient_name,
                    d.attempts,
                    d.last_error
                        .as_deref()
                        .map(|e| format!("  {e}"))
                        .unwrap_or_default()
                );
            }
            Ok(0)
        }
        NotifyCmd::Approve { id, note } => {
            let actor = acting_as(p, &named("approves")?).await?;
            let cur = notify::get(p, &actor, *id).await.map_err(svc)?;
            let v = notify::approve(p, &actor, *id, cur.message.version, note.clone())
                .await
                .map_err(refused)?;
            println!(
                "message {} approved by {}: {}",
                v.message.id, actor.username, v.message.state
            );
            Ok(0)
        }
        NotifyCmd::Reject { id, note } => {
            let actor = acting_as(p, &named("rejects")?).await?;
            let cur = notify::get(p, &actor, *id).await.map_err(svc)?;
            let v = notify::reject(
                p,
                &actor,
                *id,
                cur.message.version,
                note.clone().unwrap_or_default(),
            )
            .await
            .map_err(|e| match e {
                tianshu_services::ServiceError::Invalid { field, .. } if field == "reason" => {
                    anyhow::anyhow!("note: give the reason for rejecting with --note")
                }
                other => refused(other),
            })?;
            println!(
                "message {} rejected by {}: {}",
                v.message.id, actor.username, v.message.state
            );
            Ok(0)
        }
        NotifyCmd::TestSend { channel, to } => {
            let actor = acting_as(p, args.as_user.as_deref().unwrap_or("admin")).await?;
            let r = notify::test_send(p, &actor, s.channels.clone(), channel, to)
                .await
                .map_err(svc)?;
            match r.error {
                None => {
                    println!(
                        "sent: {} via {} to {} (key {})",
                        channel, r.route, r.address, r.key
                    );
                    Ok(0)
                }
                Some(e) => {
                    println!(
                        "FAILED: {} via {} to {}: {e}{}",
                        channel,
                        r.route,
                        r.address,
                        if r.permanent {
                            " (permanent)"
                        } else {
                            " (transient)"
                        }
                    );
                    Ok(1)
                }
            }
        }
    }
}

async fn problem_cmd(p: &tianshu_services::Platform, args: &ProblemArgs) -> anyhow::Result<i32> {
    use tianshu_services::problems::{self as prb, ProblemAction, ReportInput};
    let u = p
        .store
        .user_by_username(&args.as_user)
        .await?
        .ok_or_else(|| anyhow::anyhow!("as: no user '{}'", args.as_user))?;
    let actor = tianshu_services::session::principal_of_user(p, u.id, AuthVia::Cli)
        .await
        .map_err(svc)?;
    match &args.cmd {
        ProblemCmd::List { state, level } => {
            let filter = tianshu_store::problems::ProblemFilter {
                state: state.clone(),
                level: level.clone(),
                category: None,
                ..Default::default()
            };
            for i in prb::list(p, &actor, filter, None, 200).await.map_err(svc)? {
                let r = &i.problem;
                println!(
                    "{}\t{}\t{}\t{}\t{}{}",
                    r.id,
                    r.level,
                    r.state,
                    r.category,
                    r.title,
                    if i.overdue { "\tOVERDUE" } else { "" }
                );
            }
        }
        ProblemCmd::Monthly { month } => {
            let r = prb::monthly_report(p, &actor, month).await.map_err(svc)?;
            println!("{}", serde_json::to_string_pretty(&r)?);
        }
        ProblemCmd::Show { id } => {
            let v = prb::get(p, &actor, *id).await.map_err(svc)?;
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        ProblemCmd::Report {
            title,
            level,
            category,
            source,
            discovered_at,
            symptom,
            impact,
        } => {
            let v = prb::report(
                p,
                &actor,
                ReportInput {
                    title: title.clone(),
                    level: Some(level.clone()),
                    category: category.clone(),
                    source: source.clone(),
                    discovered_at: discovered_at.clone(),
                    reported_at: None,
                    symptom: symptom.clone(),
                    impact: impact.clone(),
                    on_site_data: String::new(),
                    cause_analysis: String::new(),
                    org_key: None,
                },
            )
            .await
            .map_err(svc)?;
            println!(
                "problem {} reported (version {})",
                v.problem.id, v.problem.version
            );
        }
        ProblemCmd::Act {
            id,
            version,
            action,
        } => {
            let a: ProblemAction =
                serde_json::from_str(action).map_err(|e| anyhow::anyhow!("action: {e}"))?;
            let v = prb::act(p, &actor, *id, *version, a).await.map_err(svc)?;
            println!(
                "problem {} is {} (version {})",
                v.problem.id, v.problem.state, v.problem.version
            );
            for b in &v.close_blockers {
                println!("  not yet archivable: {b}");
            }
        }
    }
    Ok(0)
}

async fn dataop_cmd(p: &tianshu_services::Platform, args: &DataopArgs) -> anyhow::Result<i32> {
    use tianshu_services::dataops;
    let u = p
        .store
        .user_by_username(&args.as_user)
        .await?
        .ok_or_else(|| anyhow::anyhow!("as: no user '{}'", args.as_user))?;
    let actor = tianshu_services::session::principal_of_user(p, u.id, AuthVia::Cli)
        .await
        .map_err(svc)?;
    match &args.cmd {
        DataopCmd::List { state } => {
            let filter = tianshu_store::dataops::RequestFilter {
                state: state.clone(),
                ..Default::default()
            };
            for r in dataops::list(p, &actor, filter, None, 500)
                .await
                .map_err(svc)?
            {
                println!(
                    "{}\t{}\t{}\t{}\t{} rows\t{}",
                    r.id, r.kind, r.state, r.submitter, r.declared_rows, r.title
                );
            }
        }
        DataopCmd::Show { id } => {
            pretty(&dataops::get(p, &actor, *id).await.map_err(svc)?);
        }
        DataopCmd::Execute { id } => {
            let v = dataops::get(p, &actor, *id).await.map_err(svc)?;
            match dataops::execute(p, &actor, *id, v.request.version).await {
                Ok(r) => {
                    eprintln!(
                        "request {id}: {} (execution {})",
                        r.execution.outcome, r.execution.id
                    );
                    pretty(&r.execution);
                }
                Err(e) => {
                    eprintln!("request {id}: refused: {e}");
                    return Ok(1);
                }
            }
        }
        DataopCmd::Audit { month } => {
            pretty(&dataops::audit_report(p, &actor, month).await.map_err(svc)?);
        }
        DataopCmd::Settle {
            id,
            execution,
            applied,
            note,
        } => {
            let v = dataops::settle(p, &actor, *id, *execution, *applied, note)
                .await
                .map_err(svc)?;
            println!("request {id} is {}", v.request.state);
        }
    }
    Ok(0)
}

async fn cli_actor(
    p: &tianshu_services::Platform,
    user: &str,
) -> anyhow::Result<tianshu_services::authz::Principal> {
    let u = p
        .store
        .user_by_username(user)
        .await?
        .ok_or_else(|| anyhow::anyhow!("as: no user '{user}'"))?;
    tianshu_services::session::principal_of_user(p, u.id, AuthVia::Cli)
        .await
        .map_err(svc)
}

/// A refusal as `field: message` on standard error, exit code 1.
fn refusal_exit(e: tianshu_services::ServiceError) -> i32 {
    match e.field() {
        Some(f) => eprintln!("refused: {f}: {}", e.localized("en")),
        None => eprintln!("refused: {e}"),
    }
    1
}

fn read_json(file: &std::path::Path) -> anyhow::Result<serde_json::Value> {
    let text = if file.as_os_str() == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)?;
        s
    } else {
        std::fs::read_to_string(file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?
    };
    serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))
}

async fn cutover_cmd(
    p: &tianshu_services::Platform,
    args: &ChangeArgs<CutoverCmd>,
) -> anyhow::Result<i32> {
    use tianshu_services::cutovers as co;
    let actor = cli_actor(p, &args.as_user).await?;
    let r = match &args.cmd {
        CutoverCmd::List { from, to } => {
            let t = |s: &Option<String>, d: i64| -> anyhow::Result<i64> {
                match s {
                    Some(s) => chrono::DateTime::parse_from_rfc3339(s)
                        .map(|t| t.timestamp_micros())
                        .map_err(|e| anyhow::anyhow!("'{s}' is not an RFC 3339 time: {e}")),
                    None => Ok(d),
                }
            };
            let now = p.now_us();
            let (f, to) = (t(from, now)?, t(to, now + 31 * 86_400_000_000)?);
            co::between(p, &actor, f, to).await.map(|items| {
                for c in items {
                    println!(
                        "{}	{}	{}	{}	{}",
                        c.id,
                        c.state,
                        tianshu_store::time::from_micros(c.starts_at).to_rfc3339(),
                        c.systems.join(","),
                        c.title
                    );
                }
            })
        }
        CutoverCmd::Show { id } => co::get(p, &actor, *id).await.map(|v| pretty(&v)),
        CutoverCmd::Apply { file } => {
            let input: co::CutoverInput = serde_json::from_value(read_json(file)?)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            co::apply(p, &actor, input).await.map(|v| {
                println!("cut-over {} applied ({})", v.id, v.state);
            })
        }
        CutoverCmd::Approve { id } => match co::get(p, &actor, *id).await {
            Ok(v) => co::approve(p, &actor, *id, v.version).await.map(|v| {
                println!(
                    "cut-over {} approved; maintenance window {:?}; {} notice(s) queued",
                    v.id,
                    v.maintenance_id,
                    v.notices.as_array().map(Vec::len).unwrap_or(0)
                );
            }),
            Err(e) => Err(e),
        },
        CutoverCmd::Start { id, file } => {
            let input: co::StartInput = serde_json::from_value(read_json(file)?)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            co::start(p, &actor, *id, input)
                .await
                .map(|v| println!("cut-over {} is {}", v.id, v.state))
        }
        CutoverCmd::Log {
            id,
            step,
            operator,
            supervisor,
            important,
            result,
        } => co::log_step(
            p,
            &actor,
            *id,
            co::LogInput {
                step: step.clone(),
                important: *important,
                operator: operator.clone(),
                supervisor: supervisor.clone(),
                result: result.clone(),
            },
        )
        .await
        .map(|v| println!("cut-over {} is {} ({} step(s))", v.id, v.state, v.log.len())),
        CutoverCmd::Complete { id } => co::complete(p, &actor, *id)
            .await
            .map(|v| println!("cut-over {} is {}", v.id, v.state)),
    };
    Ok(r.map(|()| 0).unwrap_or_else(refusal_exit))
}

async fn release_cmd(
    p: &tianshu_services::Platform,
    args: &ChangeArgs<ReleaseCmd>,
) -> anyhow::Result<i32> {
    use tianshu_services::releases as rel;
    let actor = cli_actor(p, &args.as_user).await?;
    let r = match &args.cmd {
        ReleaseCmd::List { month } => {
            let m = month.clone().unwrap_or_else(|| {
                p.clock
                    .now()
                    .with_timezone(&p.time_zone())
                    .format("%Y-%m")
                    .to_string()
            });
            rel::month(p, &actor, &m).await.map(|items| {
                for r in items {
                    println!(
                        "{}	{}	{}	{}	{}	{}",
                        r.id, r.release_date, r.kind, r.state, r.system_family, r.title
                    );
                }
            })
        }
        ReleaseCmd::Show { id } => rel::get(p, &actor, *id).await.map(|v| pretty(&v)),
        ReleaseCmd::Plan {
            title,
            kind,
            family,
            date,
            start,
            downtime_from,
            downtime_to,
            override_reason,
        } => rel::plan(
            p,
            &actor,
            rel::ReleaseInput {
                title: title.clone(),
                kind: kind.clone(),
                system_family: family.clone(),
                date: date.clone(),
                start: start.clone(),
                downtime_from: downtime_from.clone(),
                downtime_to: downtime_to.clone(),
                override_reason: override_reason.clone(),
            },
        )
        .await
        .map(|v| {
            println!(
                "release {} planned for {} ({})",
                v.id, v.release_date, v.state
            )
        }),
        ReleaseCmd::Record {
            id,
            key,
            reference,
            held_at,
            note,
        } => rel::record_prerequisite(
            p,
            &actor,
            *id,
            rel::PrerequisiteInput {
                key: key.clone(),
                reference: reference.clone(),
                held_at: held_at.clone(),
                note: note.clone(),
            },
        )
        .await
        .map(|d| {
            for q in &d.prerequisites {
                let state = if q.recorded.is_some() {
                    "recorded"
                } else {
                    "missing"
                };
                println!("{}\t{}\t{state}", q.rule, q.key);
            }
        }),
        ReleaseCmd::Go { id, note } | ReleaseCmd::NoGo { id, note } => {
            let decision = if matches!(args.cmd, ReleaseCmd::Go { .. }) {
                "go"
            } else {
                "no_go"
            };
            match rel::get(p, &actor, *id).await {
                Ok(v) => rel::decide(
                    p,
                    &actor,
                    *id,
                    rel::DecisionInput {
                        decision: decision.into(),
                        version: v.release.version,
                        note: note.clone(),
                    },
                )
                .await
                .map(|d| {
                    println!("release {} is {}", d.release.id, d.release.state);
                    for v in &d.verifications {
                        println!("  {}	{}", v.branch, v.scenario);
                    }
                }),
                Err(e) => Err(e),
            }
        }
        ReleaseCmd::Verify {
            id,
            scenario,
            result,
            note,
        } => rel::verify(
            p,
            &actor,
            *id,
            rel::VerifyInput {
                scenario: scenario.clone(),
                result: result.clone(),
                note: note.clone(),
            },
        )
        .await
        .map(|d| {
            let open = d
                .verifications
                .iter()
                .filter(|v| v.result.is_none())
                .count();
            println!(
                "release {} is {} ({open} scenario(s) open)",
                d.release.id, d.release.state
            );
        }),
    };
    Ok(r.map(|()| 0).unwrap_or_else(refusal_exit))
}

async fn requirement_cmd(
    p: &tianshu_services::Platform,
    args: &ChangeArgs<RequirementCmd>,
) -> anyhow::Result<i32> {
    use tianshu_services::requirements as rq;
    let actor = cli_actor(p, &args.as_user).await?;
    let r = match &args.cmd {
        RequirementCmd::List => rq::recent(p, &actor, 200).await.map(|items| {
            for q in items {
                println!(
                    "{}	{}	{}	{}	{}",
                    q.id,
                    q.requester,
                    q.system,
                    q.acceptance.as_deref().unwrap_or("-"),
                    q.title
                );
            }
        }),
        RequirementCmd::Show { id } => rq::get(p, &actor, *id).await.map(|v| pretty(&v)),
        RequirementCmd::Register {
            title,
            requester,
            system,
        } => rq::register(
            p,
            &actor,
            rq::RequirementInput {
                title: title.clone(),
                requester: requester.clone(),
                system: system.clone(),
            },
        )
        .await
        .map(|q| println!("requirement {} registered", q.id)),
        RequirementCmd::Act {
            id,
            action,
            release,
            note,
        } => match rq::get(p, &actor, *id).await {
            Ok(q) => rq::act(
                p,
                &actor,
                *id,
                rq::RequirementAction {
                    action: action.clone(),
                    version: q.version,
                    release_id: *release,
                    note: note.clone(),
                },
            )
            .await
            .map(|q| pretty(&q)),
            Err(e) => Err(e),
        },
        RequirementCmd::Week { date } => rq::week(p, &actor, date).await.map(|w| pretty(&w)),
    };
    Ok(r.map(|()| 0).unwrap_or_else(refusal_exit))
}

/// Prints a value as pretty JSON.
fn pretty<T: serde::Serialize>(v: &T) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}
