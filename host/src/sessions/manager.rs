//! The session manager: add, start, stop, remove, log out, back up and restore sessions; one
//! [`Supervisor`] task per running session; and the host API's session functions
//! ([`Sessions`]) on top.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use chromiumoxide::layout::Point;
use rand::Rng;
use serde_json::json;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::backup::{self, BackupInfo};
use super::browser::{cdp_error, Browser};
use super::cell::SessionCell;
use super::chromium;
use super::records::{JsonRecords, SessionRecord, SessionRecords};
use super::sent_keys::SentKeys;
use super::settings::Settings;
use super::supervisor::{Command, Ctx, Supervisor};
use super::{phone, SessionError, SessionId, SessionInfo, SessionStatus, Sessions};
use crate::clock::Clock;
use crate::config::Config;
use crate::events::{Event, EventBus};
use crate::sites::whatsapp::bridge::{js_send_text, JS_LOGOUT, JS_PING, JS_STATE};
use crate::sites::whatsapp::{Bridge, CRITICAL_PATHS};

/// A running profile is copied once its files have not changed for this long (Chromium
/// commits Local Storage about 5 s after the page wrote it).
const QUIET: Duration = Duration::from_secs(6);
/// The longest a backup waits for a quiet profile.
const QUIET_MAX: Duration = Duration::from_secs(60);

mod cluster_hooks;
mod host_calls;
mod lifecycle;
mod page;
mod profile_ops;

/// How many idempotency keys of `send_text` are remembered (per host).
const SENT_KEYS: usize = 4096;

struct Running {
    cmds: mpsc::Sender<Command>,
    task: JoinHandle<()>,
}

struct Entry {
    cell: Arc<SessionCell>,
    run: Option<Running>,
}

impl Entry {
    fn live(&self) -> Option<&Running> {
        self.run.as_ref().filter(|r| !r.task.is_finished())
    }
}

struct Inner {
    settings: Arc<Settings>,
    ctx: Ctx,
    records: Arc<dyn SessionRecords>,
    bus: EventBus,
    clock: Clock,
    sessions: Mutex<BTreeMap<SessionId, Entry>>,
    /// The idempotency keys of `send_text`.
    sent: SentKeys,
    /// Each browser's measurements and the sends in flight.
    resources: super::resources::Board,
    limits: super::send_limits::SendLimits,
}

/// The sessions of a host. Cheap to clone.
#[derive(Clone)]
pub struct SessionManager {
    inner: Arc<Inner>,
}

fn failed(id: &str, message: impl Into<String>) -> SessionError {
    SessionError::Failed { id: id.into(), message: message.into() }
}

fn conflict(id: &str, message: impl Into<String>) -> SessionError {
    SessionError::Conflict { id: id.into(), message: message.into() }
}

/// A backup error as a session error: a missing backup is [`SessionError::NoBackup`].
fn backup_error(id: &str, e: backup::BackupError) -> SessionError {
    match e {
        backup::BackupError::NoBackup { .. } | backup::BackupError::NotFound { .. } => {
            SessionError::NoBackup(e.to_string())
        }
        e => failed(id, e.to_string()),
    }
}

impl SessionManager {
    /// Loads the known sessions (starts none). `records`: `None` = the JSON files in
    /// `data/sessions/<id>/session.json`.
    pub async fn open(
        config: &Config,
        bus: EventBus,
        clock: Clock,
        records: Option<Arc<dyn SessionRecords>>,
    ) -> Result<SessionManager, SessionError> {
        let settings = Arc::new(Settings::from_config(config)?);
        let bridge = Bridge::load(settings.bridge.as_deref()).map_err(|e| SessionError::BadInput(e.to_string()))?;
        let records: Arc<dyn SessionRecords> = records.unwrap_or_else(|| Arc::new(JsonRecords::new(&settings.dir)));
        let ctx = Ctx {
            settings: settings.clone(),
            bridge: Arc::new(RwLock::new(bridge)),
            gate: Arc::new(Semaphore::new(settings.start_concurrency)),
            shutdown: CancellationToken::new(),
        };
        let mut sessions = BTreeMap::new();
        for record in records.load_all().await.map_err(|e| SessionError::BadInput(e.to_string()))? {
            let cell = SessionCell::new(
                record.clone(),
                settings.session_dir(&record.id),
                records.clone(),
                bus.clone(),
                clock.clone(),
            );
            sessions.insert(record.id.clone(), Entry { cell: Arc::new(cell), run: None });
        }
        let limits = super::send_limits::SendLimits::from_settings(&settings);
        let manager = SessionManager {
            inner: Arc::new(Inner {
                settings,
                ctx,
                records,
                bus,
                clock,
                sessions: Mutex::new(sessions),
                sent: SentKeys::new(SENT_KEYS),
                resources: Default::default(),
                limits,
            }),
        };
        manager.spawn_reaper();
        manager.spawn_sampler();
        if let Some(path) = manager.inner.settings.bridge.clone() {
            super::bridge_watch::spawn(&path, manager.clone(), manager.inner.ctx.shutdown.clone());
        }
        Ok(manager)
    }

    /// Reaps the helpers of dead browsers now and then (see `chromium::sweep`).
    fn spawn_reaper(&self) {
        let stop = self.inner.ctx.shutdown.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                }
                let _ = tokio::task::spawn_blocking(chromium::sweep).await;
            }
        });
    }

    /// Measures every running browser each `resources_interval`.
    fn spawn_sampler(&self) {
        let weak = Arc::downgrade(&self.inner);
        super::resources::spawn_sampler(
            self.inner.resources.clone(),
            self.inner.settings.resources_interval,
            self.inner.clock.clone(),
            move || {
                let Some(inner) = weak.upgrade() else { return Vec::new() };
                let sessions = inner.sessions.lock().expect("sessions");
                sessions.iter().map(|(id, e)| (id.to_string(), e.cell.with(|l| l.pid))).collect()
            },
            self.inner.ctx.shutdown.clone(),
        );
    }

    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    pub fn bus(&self) -> &EventBus {
        &self.inner.bus
    }

    fn cell(&self, id: &str) -> Result<Arc<SessionCell>, SessionError> {
        self.inner
            .sessions
            .lock()
            .expect("sessions")
            .get(id)
            .map(|e| e.cell.clone())
            .ok_or_else(|| SessionError::NotFound(id.into()))
    }

    fn commands(&self, id: &str) -> Result<Option<mpsc::Sender<Command>>, SessionError> {
        let sessions = self.inner.sessions.lock().expect("sessions");
        let e = sessions.get(id).ok_or_else(|| SessionError::NotFound(id.into()))?;
        Ok(e.live().map(|r| r.cmds.clone()))
    }

    /// Session ids, sorted.
    pub fn ids(&self) -> Vec<SessionId> {
        self.inner.sessions.lock().expect("sessions").keys().cloned().collect()
    }

    pub fn info(&self, id: &SessionId) -> Result<SessionInfo, SessionError> {
        Ok(self.cell(id)?.info())
    }

    /// The QR the session's page shows now, if any.
    pub fn qr(&self, id: &SessionId) -> Option<String> {
        self.cell(id).ok()?.with(|l| l.qr.clone())
    }

    /// The pairing code the session's page shows now (link with phone number), if any.
    pub fn pairing_code_shown(&self, id: &SessionId) -> Option<String> {
        self.cell(id).ok()?.with(|l| l.pairing_code.clone())
    }

    /// The pid of the session's Chromium (the leader of its process group), while it runs.
    pub fn chromium_pid(&self, id: &SessionId) -> Option<i32> {
        self.cell(id).ok()?.with(|l| l.pid)
    }

    /// Adds a session (`stopped`); creates its folder. The id is checked before anything
    /// touches the disk.
    pub async fn add(&self, id: &SessionId, label: Option<&str>) -> Result<SessionInfo, SessionError> {
        if self.inner.sessions.lock().expect("sessions").contains_key(id) {
            return Err(SessionError::Exists(id.into()));
        }
        let dir = self.inner.settings.session_dir(id);
        std::fs::create_dir_all(dir.join("profile"))
            .map_err(|e| failed(id, format!("cannot create {}: {e}", dir.display())))?;
        let record = SessionRecord::new(id, label.map(str::to_string), self.inner.clock.now());
        self.inner.records.upsert(&record).await.map_err(|e| failed(id, e.to_string()))?;
        let cell = Arc::new(SessionCell::new(
            record,
            dir,
            self.inner.records.clone(),
            self.inner.bus.clone(),
            self.inner.clock.clone(),
        ));
        let info = cell.info();
        self.inner.sessions.lock().expect("sessions").insert(id.clone(), Entry { cell, run: None });
        self.publish("session.added", json!({ "session": id }));
        Ok(info)
    }

    pub(crate) fn publish(&self, name: &str, data: serde_json::Value) {
        self.inner.bus.publish(Event {
            name: name.into(),
            source: "host".into(),
            at: self.inner.clock.now(),
            data,
            depth: 0,
        });
    }

    /// Starts the session's supervisor (no-op when it runs). Returns at once; the status
    /// tells how it goes.
    pub fn start(&self, id: &SessionId) -> Result<(), SessionError> {
        let mut sessions = self.inner.sessions.lock().expect("sessions");
        let entry = sessions.get_mut(id).ok_or_else(|| SessionError::NotFound(id.into()))?;
        if entry.live().is_some() {
            return Ok(());
        }
        let (tx, rx) = mpsc::channel(8);
        let supervisor = Supervisor::new(entry.cell.clone(), self.inner.ctx.clone(), rx);
        let task = tokio::spawn(supervisor.run());
        entry.run = Some(Running { cmds: tx, task });
        Ok(())
    }

    /// Starts every known session; at most `start_concurrency` browsers start at once.
    pub fn start_all(&self) -> usize {
        let ids = self.ids();
        for id in &ids {
            if let Err(e) = self.start(id) {
                tracing::error!(session = %id, "cannot start: {e}");
            }
        }
        ids.len()
    }

    /// Closes the session's browser cleanly; status `stopped`.
    pub async fn stop(&self, id: &SessionId) -> Result<(), SessionError> {
        let Some(cmds) = self.commands(id)? else { return Ok(()) };
        let (tx, rx) = oneshot::channel();
        if cmds.send(Command::Stop(tx)).await.is_ok() {
            let within = self.inner.settings.stop_timeout + Duration::from_secs(10);
            if tokio::time::timeout(within, rx).await.is_err() {
                return Err(SessionError::Timeout { id: id.into(), what: "stop".into(), after: within });
            }
        }
        let task = self.inner.sessions.lock().expect("sessions").get_mut(id).and_then(|e| e.run.take());
        if let Some(r) = task {
            let _ = tokio::time::timeout(Duration::from_secs(5), r.task).await;
        }
        Ok(())
    }

    /// Stops the session, deletes its record and its folder (profile and backups).
    pub async fn remove(&self, id: &SessionId) -> Result<(), SessionError> {
        self.stop(id).await?;
        let cell = self.cell(id)?;
        self.refuse_if_in_use(id, "remove it")?;
        self.inner.records.delete(id).await.map_err(|e| failed(id, e.to_string()))?;
        self.inner.sessions.lock().expect("sessions").remove(id);
        if cell.dir.exists() {
            std::fs::remove_dir_all(&cell.dir)
                .map_err(|e| failed(id, format!("cannot remove {}: {e}", cell.dir.display())))?;
        }
        self.publish("session.removed", json!({ "session": id }));
        Ok(())
    }
}
