//! Loading, reloading and unloading behaviours — rhai scripts and WASM plugins alike, through
//! [`Loaded`]. One actor task owns every slot; the watchers and start-up send it file paths.
//! Reload = compile the new version on a blocking thread;
//! on failure the old version keeps running and the error is reported with its line; on
//! success the trigger sets are diffed: unchanged triggers keep their timers (and so their
//! next fire time), removed ones are cancelled, new ones registered.
//!
//! A behaviour's name is its file stem, across both folders: while `scripts/x.rhai` is loaded,
//! `plugins/x.wasm` is refused (and the other way round), and deleting one never unloads the
//! other. A plugin that fails to load while its file is still changing (a copy in progress) is
//! retried after the debounce instead of reported.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::host_calls::{HostCalls, Services};
use super::loaded::{load, wasm_cache_dir, Binding, Loaded};
use super::rhai::ScriptError;
use super::runner::{Control, Current, EventJob, Runner};
use super::status::{Board, Entry, TriggerEntry};
use super::suspension::{Policy, Resume, Suspended};
use super::trace::TraceLog;
use super::trigger::TriggerKind;
use crate::config::Config;
use crate::events::{matches, Event};
use crate::scheduler::{Scheduler, TimerId};

/// Capacity of each behaviour's queues. A behaviour that falls this far behind loses events
/// (with a warning) and delays its timers; it never blocks the host.
const QUEUE: usize = 16;

/// Is `name` usable as a behaviour name (a file stem)?
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Event subscriptions of every behaviour, read by the dispatcher.
type Subscriptions = Arc<RwLock<BTreeMap<String, (Vec<(String, String, String)>, mpsc::Sender<EventJob>)>>>;

struct Slot {
    path: PathBuf,
    hash: [u8; 32],
    current: Current,
    timers: HashMap<String, TimerId>,
    fire_tx: mpsc::Sender<crate::scheduler::Fire>,
    stop: CancellationToken,
    runner: JoinHandle<()>,
    control: mpsc::Sender<Control>,
}

enum Command {
    /// The file at this path appeared, changed or vanished.
    Sync(PathBuf, Option<oneshot::Sender<()>>),
    /// End a behaviour's suspension now (`POST /api/behaviours/{name}/resume`).
    Resume(String, oneshot::Sender<Result<Option<Suspended>, NotLoaded>>),
    Shutdown(oneshot::Sender<()>),
}

/// The behaviour is not loaded (its file is missing, or failed to load the first time).
#[derive(Debug, Clone, Copy)]
pub struct NotLoaded;

/// Handle on the behaviour manager.
#[derive(Clone)]
pub struct Behaviours {
    tx: mpsc::Sender<Command>,
    board: Board,
}

impl Behaviours {
    /// Starts the manager and the event dispatcher.
    pub(crate) fn start(config: Arc<Config>, svc: Services, scheduler: Scheduler, shutdown: CancellationToken) -> Self {
        let board = Board::new(scheduler.clone());
        let subs: Subscriptions = Default::default();
        let (tx, rx) = mpsc::channel(64);
        let manager = Manager {
            config,
            svc: svc.clone(),
            scheduler,
            board: board.clone(),
            subs: subs.clone(),
            slots: BTreeMap::new(),
            shutdown: shutdown.clone(),
            retry: tx.downgrade(),
        };
        tokio::spawn(manager.run(rx));
        tokio::spawn(dispatch(svc.bus.subscribe(), subs, shutdown));
        Self { tx, board }
    }

    /// Loads, reloads or unloads the behaviour of `path`, and waits until that is done.
    pub async fn sync(&self, path: PathBuf) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Command::Sync(path, Some(done))).await.is_ok() {
            let _ = wait.await;
        }
    }

    /// Queues a sync without waiting (the watcher).
    pub(crate) async fn notify(&self, path: PathBuf) {
        let _ = self.tx.send(Command::Sync(path, None)).await;
    }

    /// Ends the suspension of `name` now; its next fire is a trial run. Answers the suspension
    /// that ended, `None` when it was not suspended.
    pub async fn resume(&self, name: &str) -> Result<Option<Suspended>, NotLoaded> {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Command::Resume(name.to_string(), done)).await.is_err() {
            return Err(NotLoaded);
        }
        wait.await.unwrap_or(Err(NotLoaded))
    }

    /// Stops every behaviour: running handlers get the grace time, then are cut.
    pub async fn shutdown(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Command::Shutdown(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    pub fn board(&self) -> &Board {
        &self.board
    }
}

struct Manager {
    config: Arc<Config>,
    svc: Services,
    scheduler: Scheduler,
    board: Board,
    subs: Subscriptions,
    slots: BTreeMap<String, Slot>,
    shutdown: CancellationToken,
    /// Re-queues a sync (a plugin that failed while its file was still being written).
    retry: mpsc::WeakSender<Command>,
}

/// Size and modification time: has a file changed since it was read?
fn stamp(path: &Path) -> Option<(u64, std::time::SystemTime)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.len(), m.modified().ok()?))
}

impl Manager {
    async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        while let Some(cmd) = rx.recv().await {
            match cmd {
                Command::Sync(path, done) => {
                    self.sync(&path).await;
                    if let Some(d) = done {
                        let _ = d.send(());
                    }
                }
                Command::Resume(name, done) => {
                    let out = match self.slots.get(&name) {
                        Some(slot) => Ok(resume(slot, Resume::Api).await),
                        None => Err(NotLoaded),
                    };
                    let _ = done.send(out);
                }
                Command::Shutdown(done) => {
                    let names: Vec<String> = self.slots.keys().cloned().collect();
                    for name in names {
                        self.unload(&name, false).await;
                    }
                    let _ = done.send(());
                    return;
                }
            }
        }
    }

    fn event(&self, name: &str, data: serde_json::Value) {
        self.svc.bus.publish(Event {
            name: name.into(),
            source: "host".into(),
            at: self.svc.clock.now(),
            data,
            depth: 0,
        });
    }

    async fn sync(&mut self, path: &Path) {
        let Some(name) = path.file_stem().and_then(|s| s.to_str()).map(str::to_string) else { return };
        let Some(binding) = Binding::of(path) else { return };
        if !valid_name(&name) {
            tracing::warn!(path = %path.display(), "ignored: a behaviour's file name may only use letters, digits, `_` and `-`");
            return;
        }
        // The same name in the other folder: the first one loaded keeps it.
        if let Some(other) = self.slots.get(&name).map(|s| s.path.clone()).filter(|p| p != path) {
            if other.exists() {
                if path.exists() {
                    let message = format!(
                        "{}: not loaded: the behaviour `{name}` is already {}; rename one of the two files",
                        path.display(),
                        other.display()
                    );
                    tracing::error!(behaviour = %name, "{message}");
                    self.event(
                        "behaviour.error",
                        serde_json::json!({"behaviour": name, "phase": "load", "path": path, "message": message}),
                    );
                }
                return;
            }
        }
        let before = stamp(path);
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.unload(&name, true).await;
                return;
            }
            Err(e) => {
                self.report_load_error(&name, path, format!("{}: cannot read: {e}", path.display()));
                return;
            }
        };
        let section = self.config.behaviour(&name);
        if !section.enabled {
            if self.slots.contains_key(&name) {
                self.unload(&name, true).await;
            }
            tracing::info!(behaviour = %name, "not loaded: disabled in the config (enabled = false)");
            return;
        }
        let hash: [u8; 32] = Sha256::digest(&bytes).into();
        if self.slots.get(&name).is_some_and(|s| s.hash == hash && s.path == path) {
            return; // touched, not changed
        }
        let api = HostCalls::new(&name, section.grants.clone(), &section.params, self.svc.clone());
        let limits = self.config.limits.with(&section.limits);
        let p = path.to_path_buf();
        let cache = wasm_cache_dir(&self.config.data_dir);
        let loaded = tokio::task::spawn_blocking(move || load(&p, bytes, api, limits, Some(&cache))).await;
        let version = match loaded {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                if binding == Binding::Wasm && stamp(path) != before && self.retry_later(path) {
                    tracing::debug!(behaviour = %name, "{e} — the file is still changing; retrying");
                    return;
                }
                return self.report_script_error(&name, path, e);
            }
            Err(e) => {
                return self.report_load_error(&name, path, format!("{}: the loader failed: {e}", path.display()))
            }
        };
        if self.slots.contains_key(&name) {
            self.replace(&name, path, hash, version).await;
        } else {
            self.install(&name, path, hash, version).await;
        }
    }

    /// Syncs `path` again after the debounce; false when the manager is going away.
    fn retry_later(&self, path: &Path) -> bool {
        let Some(tx) = self.retry.upgrade() else { return false };
        let (path, wait) = (path.to_path_buf(), self.config.reload_debounce.0);
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            let _ = tx.send(Command::Sync(path, None)).await;
        });
        true
    }

    fn report_script_error(&self, name: &str, path: &Path, e: ScriptError) {
        self.event(
            "behaviour.error",
            serde_json::json!({"behaviour": name, "phase": "load", "path": path, "line": e.line, "column": e.column, "message": e.message}),
        );
        self.report_load_error(name, path, e.to_string());
    }

    fn report_load_error(&self, name: &str, path: &Path, message: String) {
        if self.slots.contains_key(name) {
            tracing::error!(behaviour = %name, path = %path.display(), "{message} — the previous version keeps running");
            self.board.update(name, |e| e.load_error = Some(message));
        } else {
            tracing::error!(behaviour = %name, path = %path.display(), "{message}");
            self.board.insert(
                name,
                Entry {
                    path: path.to_path_buf(),
                    loaded_at: self.svc.clock.now(),
                    reloads: 0,
                    load_error: Some(message),
                    compiled: None,
                    runs: 0,
                    failures: 0,
                    last_error: None,
                    triggers: Vec::new(),
                    traces: TraceLog::default(),
                    health: Default::default(),
                },
            );
        }
    }

    /// Registers the timers of `script` not already in `timers`, and cancels those it no
    /// longer declares.
    async fn apply_timers(
        &self,
        name: &str,
        script: &dyn Loaded,
        timers: &mut HashMap<String, TimerId>,
        fire_tx: &mpsc::Sender<crate::scheduler::Fire>,
    ) {
        let wanted: HashSet<String> =
            script.decls().iter().filter(|d| matches!(d.kind, TriggerKind::Timer(_))).map(|d| d.key()).collect();
        timers.retain(|key, id| {
            let keep = wanted.contains(key);
            if !keep {
                self.scheduler.cancel(*id);
            }
            keep
        });
        for d in script.decls() {
            if let TriggerKind::Timer(spec) = &d.kind {
                let key = d.key();
                if let std::collections::hash_map::Entry::Vacant(slot) = timers.entry(key) {
                    let id = self.scheduler.add(name, slot.key(), spec.clone(), fire_tx.clone()).await;
                    slot.insert(id);
                }
            }
        }
    }

    fn trigger_entries(script: &dyn Loaded, timers: &HashMap<String, TimerId>) -> Vec<TriggerEntry> {
        script
            .decls()
            .iter()
            .map(|d| {
                let key = d.key();
                TriggerEntry { timer: timers.get(&key).copied(), key, handler: d.handler.clone() }
            })
            .collect()
    }

    fn subscribe(&self, name: &str, script: &dyn Loaded, tx: mpsc::Sender<EventJob>) {
        let subs: Vec<(String, String, String)> = script
            .decls()
            .iter()
            .filter_map(|d| match &d.kind {
                TriggerKind::Event(p) => Some((p.clone(), d.key(), d.handler.clone())),
                TriggerKind::Timer(_) => None,
            })
            .collect();
        self.subs.write().expect("subscriptions").insert(name.to_string(), (subs, tx));
    }

    async fn install(&mut self, name: &str, path: &Path, hash: [u8; 32], script: Arc<dyn Loaded>) {
        let (fire_tx, fires) = mpsc::channel(QUEUE);
        let (event_tx, events) = mpsc::channel(QUEUE);
        let (control, control_rx) = mpsc::channel(4);
        self.scheduler.resume_owner(name); // nothing left paused from an earlier life
        let current: Current = Arc::new(RwLock::new(script.clone()));
        let stop = CancellationToken::new();
        let mut timers = HashMap::new();
        self.apply_timers(name, &*script, &mut timers, &fire_tx).await;
        self.subscribe(name, &*script, event_tx);
        self.board.insert(
            name,
            Entry {
                path: path.to_path_buf(),
                loaded_at: self.svc.clock.now(),
                reloads: 0,
                load_error: None,
                compiled: script.compiled(),
                runs: 0,
                failures: 0,
                last_error: None,
                triggers: Self::trigger_entries(&*script, &timers),
                traces: TraceLog::default(),
                health: Default::default(),
            },
        );
        let runner = Runner {
            name: name.to_string(),
            current: current.clone(),
            fires,
            fire_tx: fire_tx.clone(),
            events,
            scheduler: self.scheduler.clone(),
            board: self.board.clone(),
            bus: self.svc.bus.clone(),
            stop: stop.clone(),
            shutdown: self.shutdown.clone(),
            grace: self.config.shutdown_grace.0,
            control: control_rx,
            policy: Policy::of(&self.config.limits.with(&self.config.behaviour(name).limits)),
            alerts_to: self.config.alerts.to.clone(),
        };
        let runner = tokio::spawn(runner.run());
        tracing::info!(behaviour = %name, triggers = script.decls().len(), "loaded {}", path.display());
        self.event("behaviour.loaded", serde_json::json!({"behaviour": name, "path": path, "triggers": script.decls().iter().map(|d| d.key()).collect::<Vec<_>>()}));
        self.slots.insert(
            name.to_string(),
            Slot { path: path.to_path_buf(), hash, current, timers, fire_tx, stop, runner, control },
        );
    }

    async fn replace(&mut self, name: &str, path: &Path, hash: [u8; 32], script: Arc<dyn Loaded>) {
        let mut slot = self.slots.remove(name).expect("slot exists");
        *slot.current.write().expect("current script") = script.clone();
        let mut timers = std::mem::take(&mut slot.timers);
        self.apply_timers(name, &*script, &mut timers, &slot.fire_tx).await;
        let event_tx = self.subs.read().expect("subscriptions").get(name).map(|(_, tx)| tx.clone());
        if let Some(tx) = event_tx {
            self.subscribe(name, &*script, tx);
        }
        let entries = Self::trigger_entries(&*script, &timers);
        self.board.update(name, |e| {
            e.reloads += 1;
            e.load_error = None;
            e.compiled = script.compiled();
            e.path = path.to_path_buf();
            e.triggers = entries;
        });
        tracing::info!(behaviour = %name, "reloaded {}", path.display());
        self.event("behaviour.reloaded", serde_json::json!({"behaviour": name, "path": path, "triggers": script.decls().iter().map(|d| d.key()).collect::<Vec<_>>()}));
        slot.timers = timers;
        slot.hash = hash;
        slot.path = path.to_path_buf();
        // A new version may be the fix: a suspended behaviour runs again at once. Not waited
        // for: a runner in the middle of a long run answers only after it.
        let _ = slot.control.try_send(Control::Resume(Resume::FileChanged, None));
        self.slots.insert(name.to_string(), slot);
    }

    async fn unload(&mut self, name: &str, report: bool) {
        self.subs.write().expect("subscriptions").remove(name);
        let Some(slot) = self.slots.remove(name) else {
            self.board.remove(name);
            return;
        };
        self.scheduler.cancel_owner(name);
        slot.stop.cancel();
        let _ = slot.runner.await;
        self.scheduler.resume_owner(name);
        self.board.remove(name);
        if report {
            tracing::info!(behaviour = %name, "unloaded: {} is gone", slot.path.display());
            self.event("behaviour.unloaded", serde_json::json!({"behaviour": name, "path": slot.path}));
        }
    }
}

/// Asks the runner of `slot` to end its suspension; the suspension that ended, if any.
async fn resume(slot: &Slot, why: Resume) -> Option<Suspended> {
    let (done, wait) = oneshot::channel();
    slot.control.send(Control::Resume(why, Some(done))).await.ok()?;
    wait.await.ok().flatten()
}

/// Forwards bus events to the behaviours subscribed to them.
async fn dispatch(mut rx: tokio::sync::broadcast::Receiver<Event>, subs: Subscriptions, shutdown: CancellationToken) {
    loop {
        let event = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = rx.recv() => match r {
                Ok(e) => e,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!("{n} events were not delivered to behaviours: they came faster than handlers ran");
                    continue;
                }
                Err(_) => return,
            },
        };
        let targets: Vec<(mpsc::Sender<EventJob>, String, String, String)> = subs
            .read()
            .expect("subscriptions")
            .iter()
            .flat_map(|(name, (list, tx))| {
                list.iter()
                    .filter(|(p, _, _)| matches(p, &event.name))
                    .map(move |(_, key, handler)| (tx.clone(), name.clone(), key.clone(), handler.clone()))
            })
            .collect();
        for (tx, name, key, handler) in targets {
            if tx.try_send(EventJob { event: event.clone(), key, handler }).is_err() {
                tracing::warn!(behaviour = %name, event = %event.name, "event dropped: the behaviour's queue is full");
            }
        }
    }
}
