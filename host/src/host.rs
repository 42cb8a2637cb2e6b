//! The host: assembles clock, store, scheduler, event bus, sessions and behaviours, and runs
//! until shutdown.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::behaviours::api::Services;
use crate::behaviours::status::BehaviourView;
use crate::behaviours::{is_script, watch, Behaviours};
use crate::clock::Clock;
use crate::config::Config;
use crate::events::EventBus;
use crate::scheduler::{LastRuns, Scheduler};
use crate::sessions::{NoSessions, SessionManager, Sessions};
use crate::state::{FileStore, StateStore};

/// What a host is built from, besides its config. Tests swap the parts.
pub struct HostParts {
    pub clock: Clock,
    pub sessions: Arc<dyn Sessions>,
    /// `None`: the interim file store at `data/state/store.json`.
    pub store: Option<Arc<dyn StateStore>>,
    /// Watch `scripts/` for changes (off in paused-clock tests).
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
    shutdown: CancellationToken,
    snapshots: tokio::task::JoinHandle<()>,
}

/// The path of the snapshot file `vigil behaviours` reads.
pub fn snapshot_path(config: &Config) -> PathBuf {
    config.data_dir.join("state").join("behaviours.json")
}

impl Host {
    /// Starts the host: opens the store, loads every script, starts watching.
    pub async fn start(config: Config, parts: HostParts, shutdown: CancellationToken) -> anyhow::Result<Host> {
        let config = Arc::new(config);
        std::fs::create_dir_all(&config.data_dir).with_context(|| {
            format!("cannot create the data folder {} (set data_dir or VIGIL_DATA_DIR)", config.data_dir.display())
        })?;
        let store: Arc<dyn StateStore> = match parts.store {
            Some(s) => s,
            None => Arc::new(FileStore::open(&config.data_dir.join("state").join("store.json"))?),
        };
        let bus = parts.bus.unwrap_or_default();
        let scheduler =
            Scheduler::new(parts.clock.clone(), config.seed, Arc::new(StoreLastRuns(store.clone())), shutdown.clone());
        let svc = Services {
            clock: parts.clock.clone(),
            store,
            sessions: parts.sessions,
            bus: bus.clone(),
            rt: tokio::runtime::Handle::current(),
            default_tz: config.timezone.0,
            seed: config.seed,
        };
        let behaviours = Behaviours::start(config.clone(), svc, scheduler.clone(), shutdown.clone());
        let snapshots = tokio::spawn(behaviours.board().clone().write_snapshots(
            snapshot_path(&config),
            parts.clock.clone(),
            shutdown.clone(),
        ));

        let dir = &config.scripts_dir;
        if !dir.exists() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create the scripts folder {}", dir.display()))?;
            tracing::info!(dir = %dir.display(), "created the scripts folder (it was missing); put behaviours in it as <name>.rhai");
        }
        if parts.watch {
            watch::spawn(dir, config.reload_debounce.0, behaviours.clone(), shutdown.clone())
                .with_context(|| format!("cannot watch {} for changes", dir.display()))?;
        }
        for path in script_files(dir)? {
            behaviours.sync(path).await;
        }
        if plugin_files(&config.plugins_dir).next().is_some() {
            tracing::warn!(dir = %config.plugins_dir.display(), "WASM plugins are not supported yet: the .wasm files there are not loaded");
        }
        Ok(Host { config, bus, scheduler, behaviours, shutdown, snapshots })
    }

    pub fn bus(&self) -> &EventBus {
        &self.bus
    }

    pub fn scheduler(&self) -> &Scheduler {
        &self.scheduler
    }

    pub fn config(&self) -> &Config {
        &self.config
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
        self.shutdown.cancelled().await;
        tracing::info!("shutting down");
        self.behaviours.shutdown().await;
        let _ = self.snapshots.await;
        Ok(())
    }
}

/// `vigil run`: a host with this config until `shutdown`: every known session starts (a
/// bounded number at a time), behaviours load; on shutdown timers stop, running handlers get
/// `shutdown_grace`, then every browser is closed cleanly.
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let bus = EventBus::new();
    let clock = Clock::system();
    let sessions =
        SessionManager::open(&config, bus.clone(), clock.clone(), None).await.context("cannot open the sessions")?;
    tokio::spawn(print_qr_codes(bus.subscribe(), shutdown.clone()));
    let parts = HostParts { clock, sessions: Arc::new(sessions.clone()), store: None, watch: true, bus: Some(bus) };
    let host = match Host::start(config, parts, shutdown).await {
        Ok(h) => h,
        Err(e) => {
            sessions.shutdown().await;
            return Err(e);
        }
    };
    let n = sessions.start_all();
    tracing::info!(behaviours = host.behaviours().len(), sessions = n, "vigil is running");
    let result = host.wait().await;
    sessions.shutdown().await;
    result
}

/// Prints the QR of every session that waits to be linked, as a QR code on stdout.
async fn print_qr_codes(mut events: tokio::sync::broadcast::Receiver<crate::events::Event>, stop: CancellationToken) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        let event = tokio::select! {
            _ = stop.cancelled() => return,
            e = events.recv() => match e {
                Ok(e) => e,
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return,
            },
        };
        if event.name != "session.qr" {
            continue;
        }
        let (Some(id), Some(qr)) = (event.data["session"].as_str(), event.data["qr"].as_str()) else { continue };
        match crate::sessions::qr::render(qr) {
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

/// The `*.wasm` files of `dir`.
pub fn plugin_files(dir: &std::path::Path) -> impl Iterator<Item = PathBuf> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
}

/// The scheduler's last runs, kept in the state store.
struct StoreLastRuns(Arc<dyn StateStore>);

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
