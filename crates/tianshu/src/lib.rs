//! The `tianshu` binary as a library: the same `Application` the binary runs is what the
//! integration tests start on an ephemeral port.

pub mod allocator;
pub mod cli;
pub mod config;
pub mod mon_cli;
pub mod recon_cli;

use std::sync::Arc;

use tianshu_core::{Clock, SystemClock};
use tianshu_services::credentials::{self, Vault};
use tianshu_services::policy::{PackSource, PolicyHandle};
use tianshu_services::Platform;
use tianshu_store::{Store, StoreConfig};
use tianshu_web::{AppState, WebConfig};

/// Everything needed to start the platform.
#[derive(Clone)]
pub struct AppConfig {
    pub store: StoreConfig,
    pub pack: PackSource,
    pub demo: bool,
    /// With `demo`: also load the invented recipient lists and contacts (the CLI's demo; tests that build
    /// their own lists leave it off).
    pub demo_recipients: bool,
    /// With `demo`: also load the invented group customers and provisioning orders (the CLI's demo; tests
    /// that count customers against the SLA-02 quotas from zero leave it off).
    pub demo_customers: bool,
    pub secure_cookies: bool,
    pub clock: Arc<dyn Clock>,
    /// Notification channels (SMTP, SMS gateway, IM webhooks); none configured = nothing leaves the host.
    pub channels: tianshu_services::notify::channels::ChannelConfig,
    /// Reconciliation files: `<dir>/inbox` (inputs) and `<dir>/runs` (details); default a temporary directory.
    pub recon_dir: Option<std::path::PathBuf>,
    /// The key file that encrypts stored database passwords (created on first start). `None`: an ephemeral key
    /// (in-process test apps, whose database does not outlive them).
    pub credentials_key_file: Option<std::path::PathBuf>,
}

impl AppConfig {
    /// Defaults for a database URL: embedded default pack, system clock, no demo data.
    pub fn new(store: StoreConfig) -> Self {
        AppConfig {
            store,
            pack: PackSource::Embedded,
            demo: false,
            demo_recipients: false,
            demo_customers: false,
            secure_cookies: false,
            clock: Arc::new(SystemClock),
            channels: Default::default(),
            recon_dir: None,
            credentials_key_file: None,
        }
    }
}

/// Opens the database (migrating it), activates the policy pack and loads demo data if asked.
pub async fn build_platform(cfg: &AppConfig) -> anyhow::Result<Platform> {
    let store = Store::open(&cfg.store).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot open database {}: {e}",
            tianshu_store::redact_url(&cfg.store.url)
        )
    })?;
    let now = cfg.clock.now().timestamp_micros();
    let policy = PolicyHandle::bootstrap(&store, &cfg.pack, now, "system:startup")
        .await
        .map_err(|e| match e {
            tianshu_services::ServiceError::Policy(errs) => anyhow::anyhow!(
                "policy pack invalid:\n{}",
                tianshu_services::policy::format_errors(&errs)
            ),
            other => anyhow::anyhow!("policy pack: {other}"),
        })?;
    let platform = Platform::new(store, Arc::new(policy), cfg.clock.clone());
    // Before anything can read or store a password: the key must be this database's, and plain text goes. An
    // ephemeral key (in-process test apps) leaves no check value behind, so a key file may take the database over.
    let platform = match &cfg.credentials_key_file {
        Some(path) => {
            let (vault, created) =
                Vault::load_or_create(path).map_err(|e| anyhow::anyhow!("{e}"))?;
            let platform = platform.with_credentials(vault);
            if let Err(e) = credentials::prepare(&platform, created).await {
                platform.store.close().await;
                anyhow::bail!("{e}");
            }
            if created {
                tracing::info!(file = %path.display(), "created the credentials key file (keep it with the backups, apart from the database)");
            }
            platform
        }
        None => platform,
    };
    if let Some(d) = &cfg.recon_dir {
        platform.recon.set_base(d.clone());
    }
    if cfg.demo && tianshu_services::demo::load(&platform).await? {
        tracing::info!("demo organisation loaded");
    }
    // Reconciliation files live under a configured directory (`serve` and `demo` set it; in-process test apps
    // leave it unset and drive the schedule themselves).
    if cfg.demo && cfg.recon_dir.is_some() && tianshu_services::recon::demo::load(&platform).await?
    {
        tracing::info!("demo reconciliation runs loaded");
    }
    if cfg.demo && cfg.demo_recipients && tianshu_services::demo::load_recipients(&platform).await?
    {
        tracing::info!("demo recipient lists and contacts loaded");
    }
    if cfg.demo && cfg.demo_customers && tianshu_services::demo::load_customers(&platform).await? {
        tracing::info!("demo group customers and provisioning orders loaded");
    }
    Ok(platform)
}

/// A running server.
pub struct Application {
    pub addr: std::net::SocketAddr,
    pub platform: Platform,
    listener: tokio::net::TcpListener,
    state: AppState,
    channels: Arc<tianshu_services::notify::channels::Channels>,
    /// Run the scheduled reconciliations (when a reconciliation directory is configured).
    recon_schedule: bool,
}

impl Application {
    /// Builds the platform and binds `listen` (use port 0 in tests).
    pub async fn build(cfg: &AppConfig, listen: &str) -> anyhow::Result<Application> {
        let platform = build_platform(cfg).await?;
        let channels = Arc::new(
            tianshu_services::notify::channels::Channels::build(cfg.channels.clone())
                .map_err(|e| anyhow::anyhow!("notification channels: {e}"))?,
        );
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
        let addr = listener.local_addr()?;
        let state = AppState::new(
            platform.clone(),
            Arc::new(WebConfig {
                secure_cookies: cfg.secure_cookies,
                pack_source: cfg.pack.clone(),
            }),
            tianshu_web::metrics_handle(),
        );
        Ok(Application {
            addr,
            platform,
            listener,
            state,
            channels,
            recon_schedule: cfg.recon_dir.is_some(),
        })
    }

    /// Serves until `shutdown` resolves, then drains the store.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let store = self.platform.store.clone();
        // The timer scheduler runs beside the HTTP server and stops before the store closes.
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let scheduler = tokio::spawn(tianshu_services::scheduler::run(
            self.platform.clone(),
            tianshu_services::scheduler::instance_id(),
            stop_rx.clone(),
        ));
        // The notification worker delivers the outbox beside them (one more leased loop).
        let notifier = tokio::spawn(tianshu_services::notify::worker::run(
            self.platform.clone(),
            self.channels.clone(),
            tianshu_services::scheduler::instance_id(),
            stop_rx.clone(),
        ));
        // Dial-test probes, SQL monitoring points and the daily sign-in clocks (bounded runner, issue 5).
        let monitor = tokio::spawn(tianshu_services::monitoring::run(
            self.platform.clone(),
            stop_rx.clone(),
        ));
        // Data-operation executions left running by a crash are marked unknown, never re-run (issue 7).
        tianshu_services::dataops::recover_at_start(&self.platform).await;
        let recovery = tokio::spawn(tianshu_services::dataops::run_recovery(
            self.platform.clone(),
            stop_rx.clone(),
        ));
        // Scheduled reconciliations and the REC-08 upload watch (issue 6).
        let recon = self.recon_schedule.then(|| {
            tokio::spawn(tianshu_services::recon::schedule::run(
                self.platform.clone(),
                stop_rx.clone(),
            ))
        });
        let result = tianshu_web::serve(self.listener, self.state, shutdown).await;
        let _ = stop_tx.send(true);
        let _ = scheduler.await;
        let _ = notifier.await;
        let _ = monitor.await;
        let _ = recovery.await;
        if let Some(r) = recon {
            let _ = r.await;
        }
        store.close().await;
        result?;
        Ok(())
    }
}
