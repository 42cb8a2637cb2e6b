//! The host: assembles clock, store, scheduler, event bus, sessions and behaviours, and runs
//! until shutdown.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::alerts::{outbox, Alerts};
use crate::behaviours::host_calls::Services;
use crate::behaviours::status::BehaviourView;
use crate::behaviours::{is_plugin, is_script, watch, Behaviours};
use crate::clock::Clock;
use crate::config::Config;
use crate::events::EventBus;
use crate::scheduler::{LastRuns, Scheduler};
use crate::sessions::{NoSessions, SessionManager, Sessions};
use crate::store::{Backend, Store};

/// What a host is built from, besides its config. Tests swap the parts.
pub struct HostParts {
    pub clock: Clock,
    pub sessions: Arc<dyn Sessions>,
    /// `None`: the store `database_url` names (SQLite in `data_dir` by default).
    pub store: Option<Store>,
    /// Watch `scripts/` and `plugins/` for changes (off in paused-clock tests).
    pub watch: bool,
    /// The event bus, when the caller made it (e.g. to share it with a [`SessionManager`]).
    pub bus: Option<EventBus>,
}

impl Default for HostParts {
    fn default() -> Self {
        Self { clock: Clock::system(), sessions: Arc::new(NoSessions), store: None, watch: true, bus: None }
    }
}

/// A running host.
pub struct Host {
    config: Arc<Config>,
    bus: EventBus,
    scheduler: Scheduler,
    behaviours: Behaviours,
    store: Store,
    alerts: Arc<Alerts>,
    clock: Clock,
    webhooks: Vec<crate::webhooks::Webhook>,
    /// Cluster mode: every host's events, for the WebSocket clients.
    feed: Option<crate::cluster::Feed>,
    shutdown: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// The event log: it outlives the other tasks (see [`Host::wait_then`]); it stops when
    /// the guard is dropped.
    log: (tokio_util::sync::DropGuard, tokio::task::JoinHandle<()>),
}

/// The path of the snapshot file `vigil behaviours` reads.
pub fn snapshot_path(config: &Config) -> PathBuf {
    config.data_dir.join("state").join("behaviours.json")
}

impl Host {
    /// Starts the host: opens the store, loads every script and plugin, starts watching.
    pub async fn start(config: Config, parts: HostParts, shutdown: CancellationToken) -> anyhow::Result<Host> {
        let config = Arc::new(config);
        std::fs::create_dir_all(&config.data_dir).with_context(|| {
            format!("cannot create the data folder {} (set data_dir or VIGIL_DATA_DIR)", config.data_dir.display())
        })?;
        let store = match parts.store {
            Some(s) => s,
            None => Store::open(config.database_url.as_deref(), &config.data_dir).await?,
        };
        for (email, o) in &config.owners {
            let owner = crate::store::owners::Owner {
                email: email.clone(),
                full_name: o.name.clone(),
                timezone: o.timezone.map(|t| t.0.name().to_string()),
                updated: parts.clock.now(),
            };
            store.upsert_owner(&owner).await?;
        }
        let bus = parts.bus.unwrap_or_default();
        // Cluster mode: the event log is shared, announced with NOTIFY, and read back by all.
        let feed = match (&config.database_url, config.cluster.enabled && store.backend() == Backend::Postgres) {
            (Some(url), true) => Some(crate::cluster::Feed::start(store.clone(), url, shutdown.clone()).await?),
            _ => None,
        };
        let log_stop = CancellationToken::new();
        let log = tokio::spawn(log_events(store.clone(), bus.subscribe(), feed.is_some(), log_stop.clone()));
        let mut tasks = Vec::new();
        // Hosts sharing the store claim each webhook delivery under their node id.
        let node = config.cluster.node_id.clone().unwrap_or_else(crate::cluster::hostname);
        let (webhooks, webhook_tasks) =
            crate::webhooks::start(&config.webhooks, &bus, &store, &parts.clock, &node, &shutdown)?;
        tasks.extend(webhook_tasks);
        let scheduler =
            Scheduler::new(parts.clock.clone(), config.seed, Arc::new(StoreLastRuns(store.clone())), shutdown.clone());
        let alerts = Arc::new(
            Alerts::new(
                store.clone(),
                config.alerts.clone(),
                config.templates_dir(),
                parts.sessions.clone(),
                parts.clock.clone(),
                config.timezone.0,
            )
            .with_owners(&config.owners),
        );
        tasks.push(tokio::spawn(alerts.holds_worker(bus.clone(), shutdown.clone())));
        if config.smtp.host.is_some() {
            let mailer = crate::alerts::mailer::Mailer::new(&config.smtp)?;
            let backoff = outbox::Backoff { min: config.smtp.retry_min.0, max: config.smtp.retry_max.0 };
            tasks.push(tokio::spawn(outbox::run(
                store.clone(),
                mailer,
                parts.clock.clone(),
                backoff,
                alerts.wake.clone(),
                bus.clone(),
                shutdown.clone(),
            )));
        } else {
            tracing::warn!("no [smtp] host: alert emails are kept in the outbox and sent once one is configured");
        }
        if config.history.enabled {
            let recorder = crate::history::Recorder {
                store: store.clone(),
                sessions: parts.sessions.clone(),
                clock: parts.clock.clone(),
                config: config.history.clone(),
                sample_every: config.sessions.resources_interval.0,
            };
            tasks.push(recorder.spawn(&bus, shutdown.clone()));
        }
        let svc = Services {
            clock: parts.clock.clone(),
            store: store.clone(),
            alerts: alerts.clone(),
            data_dir: config.data_dir.clone(),
            sessions: parts.sessions,
            bus: bus.clone(),
            rt: tokio::runtime::Handle::current(),
            default_tz: config.timezone.0,
            seed: config.seed,
        };
        let behaviours = Behaviours::start(config.clone(), svc, scheduler.clone(), shutdown.clone());
        tasks.push(tokio::spawn(behaviours.board().clone().write_snapshots(
            snapshot_path(&config),
            parts.clock.clone(),
            shutdown.clone(),
        )));

        let (scripts, plugins) = (&config.scripts_dir, &config.plugins_dir);
        for (dir, what) in [(scripts, "scripts (<name>.rhai)"), (plugins, "plugins (<name>.wasm)")] {
            if !dir.exists() {
                std::fs::create_dir_all(dir).with_context(|| format!("cannot create the folder {}", dir.display()))?;
                tracing::info!(dir = %dir.display(), "created the folder (it was missing); put {what} in it");
            }
        }
        if parts.watch {
            watch::spawn(&[scripts, plugins], config.reload_debounce.0, behaviours.clone(), shutdown.clone())
                .with_context(|| format!("cannot watch {} and {} for changes", scripts.display(), plugins.display()))?;
        }
        for path in script_files(scripts)?.into_iter().chain(plugin_files(plugins)?) {
            behaviours.sync(path).await;
        }
        Ok(Host {
            config,
            bus,
            scheduler,
            behaviours,
            store,
            alerts,
            clock: parts.clock,
            webhooks,
            feed,
            shutdown,
            tasks,
            log: (log_stop.drop_guard(), log),
        })
    }

    pub fn bus(&self) -> &EventBus {
        &self.bus
    }

    /// Cluster mode: every host's events, with their ids.
    pub fn feed(&self) -> Option<&crate::cluster::Feed> {
        self.feed.as_ref()
    }

    pub fn scheduler(&self) -> &Scheduler {
        &self.scheduler
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn alerts(&self) -> &Arc<Alerts> {
        &self.alerts
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The behaviour manager (load / reload now, the status board).
    pub fn behaviour_manager(&self) -> &Behaviours {
        &self.behaviours
    }

    /// The `[[webhooks]]` receivers and their delivery counters.
    pub fn webhooks(&self) -> &[crate::webhooks::Webhook] {
        &self.webhooks
    }

    /// Loads, reloads or unloads the behaviour of `path` now (what the watcher does).
    pub async fn sync(&self, path: PathBuf) {
        self.behaviours.sync(path).await
    }

    /// Every loaded behaviour, its triggers and last runs.
    pub fn behaviours(&self) -> Vec<BehaviourView> {
        self.behaviours.board().views()
    }

    /// Waits for shutdown, then stops: timers stop, running handlers finish or are cut after
    /// `shutdown_grace`, the snapshot is written.
    pub async fn wait(self) -> anyhow::Result<()> {
        self.wait_then(async {}).await
    }

    /// [`Host::wait`], then `last` (the cluster's drain) before the event log stops, so the
    /// events published until `last` is done are stored (and, in cluster mode, relayed).
    pub async fn wait_then(self, last: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
        self.shutdown.cancelled().await;
        tracing::info!("shutting down");
        self.behaviours.shutdown().await;
        for t in self.tasks {
            let _ = t.await;
        }
        last.await;
        let (stop, log) = self.log;
        drop(stop);
        let _ = log.await;
        // The store stays open: the sessions may still write their last records; it closes
        // when its last handle is dropped.
        Ok(())
    }
}

/// `vigil run`: a host with this config until `shutdown`: every known session starts (a
/// bounded number at a time), behaviours load; on shutdown timers stop, running handlers get
/// `shutdown_grace`, then every browser is closed cleanly.
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    run_with(config, RunOptions::default(), shutdown).await
}

/// What `vigil demo` (or a test) adds to a plain `vigil run`.
#[derive(Default)]
pub struct RunOptions {
    /// The event bus, when the caller listens to it from the start.
    pub bus: Option<EventBus>,
    /// Sessions `(id, label)` to add when they are not known yet.
    pub add: Vec<(crate::sessions::SessionId, Option<String>)>,
    /// The API's token; `None`: from the environment (`VIGIL_API_TOKEN`).
    pub api_token: Option<String>,
}

/// [`run`], with `options`.
pub async fn run_with(config: Config, options: RunOptions, shutdown: CancellationToken) -> anyhow::Result<()> {
    crate::bundled::lay_out_if_empty(&config)?;
    let bus = options.bus.unwrap_or_default();
    let clock = Clock::system();
    // Session records live in the store, beside everything else.
    let store = Store::open(config.database_url.as_deref(), &config.data_dir).await?;
    let cluster_config = config.cluster.clone();
    // Cluster mode: session records are written only under this host's lease epoch.
    let mut fenced = None;
    let records: Arc<dyn crate::sessions::SessionRecords> = if cluster_config.enabled {
        crate::cluster::Cluster::check(&cluster_config, &store)?;
        let (records, refused) = crate::cluster::FencedRecords::new(store.clone());
        let records = Arc::new(records);
        fenced = Some((records.clone(), refused));
        records
    } else {
        Arc::new(store.clone())
    };
    let sessions = SessionManager::open(&config, bus.clone(), clock.clone(), Some(records))
        .await
        .context("cannot open the sessions")?;
    for (id, label) in &options.add {
        if sessions.info(id).is_err() {
            if let Err(e) = sessions.add(id, label.as_deref()).await {
                sessions.shutdown().await;
                return Err(anyhow::anyhow!("cannot add the session `{id}`: {e}"));
            }
        }
    }
    tokio::spawn(print_qr_codes(bus.subscribe(), shutdown.clone()));
    let parts = HostParts {
        clock,
        sessions: Arc::new(sessions.clone()),
        store: Some(store.clone()),
        watch: true,
        bus: Some(bus.clone()),
    };
    let api_config = config.api.clone();
    let host = match Host::start(config, parts, shutdown.clone()).await {
        Ok(h) => h,
        Err(e) => {
            sessions.shutdown().await;
            return Err(e);
        }
    };
    // In cluster mode the cluster starts the sessions this host holds a lease for.
    let (n, cluster) = match fenced {
        None => (sessions.start_all(), None),
        Some((records, refused)) => {
            let runner = Arc::new(sessions.clone());
            match crate::cluster::Cluster::start(&cluster_config, store.clone(), &records, refused, runner, bus.clone())
                .await
            {
                Ok(c) => (0, Some(c)),
                Err(e) => {
                    shutdown.cancel();
                    let _ = host.wait().await;
                    sessions.shutdown().await;
                    return Err(e.into());
                }
            }
        }
    };
    let api = if api_config.enabled {
        let token = options.api_token.or_else(crate::api::token_from_env);
        let edge = cluster.as_ref().map(|c| (c, cluster_config.advertise_url.as_deref()));
        match start_api(&host, &sessions, &api_config, token, edge, shutdown.clone()).await {
            Ok(task) => Some(task),
            Err(e) => {
                shutdown.cancel();
                let _ = host.wait().await;
                sessions.shutdown().await;
                return Err(e);
            }
        }
    } else {
        tracing::info!("the HTTP API is off ([api] enabled = false)");
        None
    };
    tracing::info!(behaviours = host.behaviours().len(), sessions = n, "vigil is running");
    let store = host.store().clone();
    let result = host
        .wait_then(async {
            if let Some(task) = api {
                // In-flight requests finish; WebSocket streams end with the shutdown.
                if tokio::time::timeout(std::time::Duration::from_secs(10), task).await.is_err() {
                    tracing::warn!("the HTTP API did not stop within 10s");
                }
            }
            // The drain's events (`cluster.drained`, the snapshots) go to the log still running.
            if let Some(c) = &cluster {
                c.drain().await;
            }
        })
        .await;
    sessions.shutdown().await;
    store.close().await;
    result
}

/// Binds `[api] listen` and serves the API until `shutdown`.
async fn start_api(
    host: &Host,
    sessions: &SessionManager,
    config: &crate::config::ApiConfig,
    token: Option<String>,
    cluster: Option<(&crate::cluster::Cluster, Option<&str>)>,
    shutdown: CancellationToken,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(&config.listen).await.with_context(|| {
        format!("cannot listen on {} for the HTTP API (set [api] listen or VIGIL_API__LISTEN)", config.listen)
    })?;
    let mut control: Arc<dyn crate::sessions::SessionControl> = Arc::new(sessions.clone());
    if let Some((c, _)) = cluster {
        // Cluster mode: a session created here is placed on the least-loaded host.
        control = Arc::new(crate::cluster::PlacedSessions::new(control, c.clone()));
    }
    let state = crate::api::ApiState::for_host(
        host,
        control,
        token,
        usize::try_from(config.max_body.0).unwrap_or(usize::MAX),
        shutdown.clone(),
    );
    // Cluster mode: other hosts forward control calls for this host's sessions to this URL.
    if let Some((cluster, advertise)) = cluster {
        state.set_cluster(cluster.clone());
        let forwarder = crate::cluster::Forwarder::new(host.store().clone(), cluster.node())?;
        let url = crate::cluster::forward::advertise_url(advertise, listener.local_addr()?)?;
        forwarder.advertise(&url).await?;
        tracing::info!(node = cluster.node(), url, "advertised this host's API to the cluster");
        state.forward_with(forwarder);
    }
    Ok(tokio::spawn(async move {
        if let Err(e) = crate::api::serve(state, listener, shutdown).await {
            tracing::error!("the HTTP API stopped: {e}");
        }
    }))
}

/// The next `session.qr` event on `events` as `(session, qr)`; `None` once `stop` fires or the
/// bus closes.
pub(crate) async fn next_qr(
    events: &mut tokio::sync::broadcast::Receiver<crate::events::Event>,
    stop: &CancellationToken,
) -> Option<(String, String)> {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        let event = tokio::select! {
            _ = stop.cancelled() => return None,
            e = events.recv() => match e {
                Ok(e) => e,
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return None,
            },
        };
        if event.name != "session.qr" {
            continue;
        }
        if let (Some(id), Some(qr)) = (event.data["session"].as_str(), event.data["qr"].as_str()) {
            return Some((id.to_string(), qr.to_string()));
        }
    }
}

/// Prints the QR of every session that waits to be linked, as a QR code on stdout.
async fn print_qr_codes(mut events: tokio::sync::broadcast::Receiver<crate::events::Event>, stop: CancellationToken) {
    while let Some((id, qr)) = next_qr(&mut events, &stop).await {
        let id = id.as_str();
        match crate::sessions::qr::render(&qr) {
            Ok(drawing) => println!(
                "\nSession `{id}` waits to be linked: on the phone, open WhatsApp → Linked devices → Link a device, and scan:\n{drawing}"
            ),
            Err(e) => tracing::warn!(session = id, "{e}"),
        }
    }
}

/// The `*.rhai` files of `dir`, sorted.
pub fn script_files(dir: &std::path::Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_file() && is_script(p)).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read the scripts folder {}", dir.display())),
    };
    v.sort();
    Ok(v)
}

/// The `*.wasm` files of `dir`, sorted.
pub fn plugin_files(dir: &std::path::Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_file() && is_plugin(p)).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read the plugins folder {}", dir.display())),
    };
    v.sort();
    Ok(v)
}

/// Appends bus events to the store's event log, in batches (in cluster mode under the
/// cluster-wide lock, announced to the other hosts: see [`crate::cluster::bus`]).
/// Stores the bus's events in batches until `stop`, then what was published before it.
async fn log_events(
    store: Store,
    mut rx: tokio::sync::broadcast::Receiver<crate::events::Event>,
    cluster: bool,
    stop: CancellationToken,
) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        let first = if stop.is_cancelled() {
            match rx.try_recv() {
                Ok(e) => Ok(e),
                Err(tokio::sync::broadcast::error::TryRecvError::Lagged(n)) => Err(RecvError::Lagged(n)),
                Err(_) => return,
            }
        } else {
            tokio::select! {
                _ = stop.cancelled() => continue,
                r = rx.recv() => r,
            }
        };
        let mut batch = match first {
            Ok(e) => vec![e],
            Err(RecvError::Lagged(n)) => {
                tracing::warn!("{n} events were not stored: they came faster than the store took them");
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        while let Ok(e) = rx.try_recv() {
            batch.push(e);
            if batch.len() >= 256 {
                break;
            }
        }
        let stored = match cluster {
            true => crate::cluster::bus::append(&store, &batch).await.map_err(|e| e.to_string()),
            false => store.append_events(&batch).await.map_err(|e| e.to_string()),
        };
        if let Err(e) = stored {
            tracing::warn!("events not stored: {e}");
        }
    }
}

/// The scheduler's last runs, kept in the store.
struct StoreLastRuns(Store);

#[async_trait]
impl LastRuns for StoreLastRuns {
    async fn last_run(&self, owner: &str, key: &str) -> Option<DateTime<Utc>> {
        match self.0.last_run(owner, key).await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(behaviour = owner, trigger = key, "cannot read the trigger's last run: {e}");
                None
            }
        }
    }

    async fn set_last_run(&self, owner: &str, key: &str, at: DateTime<Utc>) {
        if let Err(e) = self.0.set_last_run(owner, key, at).await {
            tracing::warn!(behaviour = owner, trigger = key, "cannot record the trigger's last run: {e}");
        }
    }
}
