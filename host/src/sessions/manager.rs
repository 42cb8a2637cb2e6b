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
use super::id::check_id;
use super::records::{JsonRecords, SessionRecord, SessionRecords};
use super::sent_keys::SentKeys;
use super::settings::Settings;
use super::supervisor::{Command, Ctx, Supervisor};
use super::{phone, SessionError, SessionInfo, SessionStatus, Sessions};
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
    sessions: Mutex<BTreeMap<String, Entry>>,
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
            if check_id(&record.id).is_err() {
                tracing::warn!(session = %record.id, "ignoring a session record with a bad id");
                continue;
            }
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
                sessions.iter().map(|(id, e)| (id.clone(), e.cell.with(|l| l.pid))).collect()
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
    pub fn ids(&self) -> Vec<String> {
        self.inner.sessions.lock().expect("sessions").keys().cloned().collect()
    }

    pub fn info(&self, id: &str) -> Result<SessionInfo, SessionError> {
        Ok(self.cell(id)?.info())
    }

    /// The QR the session's page shows now, if any.
    pub fn qr(&self, id: &str) -> Option<String> {
        self.cell(id).ok()?.with(|l| l.qr.clone())
    }

    /// The pairing code the session's page shows now (link with phone number), if any.
    pub fn pairing_code_shown(&self, id: &str) -> Option<String> {
        self.cell(id).ok()?.with(|l| l.pairing_code.clone())
    }

    /// The pid of the session's Chromium (the leader of its process group), while it runs.
    pub fn chromium_pid(&self, id: &str) -> Option<i32> {
        self.cell(id).ok()?.with(|l| l.pid)
    }

    /// Adds a session (`stopped`); creates its folder. The id is checked before anything
    /// touches the disk.
    pub async fn add(&self, id: &str, label: Option<&str>) -> Result<SessionInfo, SessionError> {
        check_id(id)?;
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
        self.inner.sessions.lock().expect("sessions").insert(id.into(), Entry { cell, run: None });
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
    pub fn start(&self, id: &str) -> Result<(), SessionError> {
        check_id(id)?;
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
    pub async fn stop(&self, id: &str) -> Result<(), SessionError> {
        check_id(id)?;
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
    pub async fn remove(&self, id: &str) -> Result<(), SessionError> {
        check_id(id)?;
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

    /// Refuses when a Chromium this manager does not run uses the session's profile (another
    /// vigil host, most likely).
    fn refuse_if_in_use(&self, id: &str, what: &str) -> Result<(), SessionError> {
        let cell = self.cell(id)?;
        if cell.with(|l| l.running) {
            return Err(conflict(id, format!("the session is running: stop it before you {what}")));
        }
        let strays = chromium::strays(&cell.profile());
        if let Some(p) = strays.first() {
            return Err(conflict(
                id,
                format!(
                    "a Chromium (pid {}) runs on this session's profile, probably under a running `vigil run`: \
                     stop that host before you {what}",
                    p.pid
                ),
            ));
        }
        Ok(())
    }

    /// Logs the session out of WhatsApp (the phone loses this linked device); status
    /// `logged_out`. The session must be running; when it is not, it is started for this.
    pub async fn logout(&self, id: &str) -> Result<(), SessionError> {
        check_id(id)?;
        let cell = self.cell(id)?;
        let started_here = self.commands(id)?.is_none();
        if started_here {
            self.refuse_if_in_use(id, "log it out")?;
            self.start(id)?;
        }
        let mut events = self.inner.bus.subscribe();
        let deadline = Instant::now() + self.inner.settings.launch_timeout + Duration::from_secs(15);
        // Wait until the page has loaded and shows whether it is linked.
        loop {
            let st = cell.status();
            if matches!(
                st,
                SessionStatus::Ready | SessionStatus::Qr | SessionStatus::LoggedOut | SessionStatus::Disconnected
            ) {
                break;
            }
            if st == SessionStatus::Error || Instant::now() >= deadline {
                return Err(failed(id, format!("cannot log out: the session is {st}")));
            }
            let _ = tokio::time::timeout(Duration::from_millis(200), events.recv()).await;
        }
        let result = if cell.with(|l| l.record.linked) {
            let page = cell.page().ok_or_else(|| failed(id, "the browser is not running"))?;
            let out = tokio::time::timeout(Duration::from_secs(15), page.evaluate_expression(JS_LOGOUT)).await;
            match out {
                Ok(Ok(_)) => {
                    while cell.status() != SessionStatus::LoggedOut && Instant::now() < deadline {
                        let _ = tokio::time::timeout(Duration::from_millis(200), events.recv()).await;
                    }
                    Ok(())
                }
                Ok(Err(e)) => Err(failed(id, format!("logout failed in the page: {}", cdp_error(&e)))),
                Err(_) => {
                    Err(SessionError::Timeout { id: id.into(), what: "logout".into(), after: Duration::from_secs(15) })
                }
            }
        } else {
            Ok(())
        };
        cell.with(|l| l.record.linked = false);
        if result.is_ok() && cell.status() != SessionStatus::LoggedOut {
            cell.set_status(SessionStatus::LoggedOut, Some("logged out by vigil".into())).await;
        }
        if started_here {
            self.stop(id).await?;
            cell.set_status(SessionStatus::LoggedOut, Some("logged out by vigil".into())).await;
        }
        result
    }

    /// Backs up the session's critical files. While its browser runs, the page is frozen for
    /// the copy (a moment), so the copy is consistent.
    pub async fn backup(&self, id: &str) -> Result<BackupInfo, SessionError> {
        check_id(id)?;
        let cell = self.cell(id)?;
        let dir = cell.dir.clone();
        let staging = dir.join(format!(".backup-{}", std::process::id()));
        let profile = cell.profile();
        let page = cell.page();
        if page.is_some() {
            self.wait_quiet(id, &profile).await?;
        }
        let frozen = match &page {
            Some(p) => match tokio::time::timeout(Duration::from_secs(5), Browser::freeze(p, true)).await {
                Ok(Ok(())) => true,
                Ok(Err(e)) => {
                    tracing::warn!(session = id, "cannot freeze the page for the backup ({e}): copying until quiet");
                    false
                }
                Err(_) => false,
            },
            None => false,
        };
        if frozen {
            // Let writes already on their way land.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let held = Instant::now();
        let (id2, staging2, profile2) = (id.to_string(), staging.clone(), profile.clone());
        let copied =
            tokio::task::spawn_blocking(move || backup::snapshot(&id2, &profile2, &CRITICAL_PATHS, &staging2)).await;
        if let Some(p) = &page {
            if frozen {
                if let Err(e) = Browser::freeze(p, false).await {
                    tracing::error!(session = id, "cannot thaw the page after the backup: {e}");
                }
            }
        }
        let held_ms = held.elapsed().as_millis() as u64;
        copied.map_err(|e| failed(id, e.to_string()))?.map_err(|e| failed(id, e.to_string()))?;
        let (id2, keep, now) = (id.to_string(), self.inner.settings.backups_keep, self.inner.clock.now());
        let info =
            tokio::task::spawn_blocking(move || backup::archive(&id2, &dir, &CRITICAL_PATHS, &staging, keep, now))
                .await
                .map_err(|e| failed(id, e.to_string()))?
                .map_err(|e| failed(id, e.to_string()))?;
        tracing::info!(session = id, backup = %info.name, bytes = info.bytes, held_ms, "backup written");
        cell.publish("session.backup", json!({ "backup": info.name, "bytes": info.bytes, "held_ms": held_ms }));
        Ok(info)
    }

    /// Waits until the profile's critical files have not changed for [`QUIET`] (what the
    /// browser still had to write is on disk), at most [`QUIET_MAX`].
    async fn wait_quiet(&self, id: &str, profile: &std::path::Path) -> Result<(), SessionError> {
        let deadline = Instant::now() + QUIET_MAX;
        loop {
            let p = profile.to_path_buf();
            let last =
                tokio::task::spawn_blocking(move || backup::last_change(&p, &CRITICAL_PATHS)).await.ok().flatten();
            let quiet_for = last.and_then(|t| t.elapsed().ok()).unwrap_or(QUIET);
            if quiet_for >= QUIET {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(failed(
                    id,
                    format!("backup: the profile kept changing for {QUIET_MAX:?}, so no consistent copy could be taken; try again later"),
                ));
            }
            tokio::time::sleep((QUIET - quiet_for).min(Duration::from_millis(500))).await;
        }
    }

    /// The session's backups, oldest first.
    pub fn backups(&self, id: &str) -> Result<Vec<BackupInfo>, SessionError> {
        check_id(id)?;
        Ok(backup::list(&self.cell(id)?.dir))
    }

    /// Restores backup `name` (or the newest) into the session's profile, after checking the
    /// whole archive against its manifest. The session must not be running.
    pub async fn restore(&self, id: &str, name: Option<&str>) -> Result<BackupInfo, SessionError> {
        check_id(id)?;
        let cell = self.cell(id)?;
        self.refuse_if_in_use(id, "restore a backup")?;
        let dir = cell.dir.clone();
        let (id2, name2) = (id.to_string(), name.map(str::to_string));
        let info = tokio::task::spawn_blocking(move || -> Result<BackupInfo, backup::BackupError> {
            let b = backup::find(&id2, &dir, name2.as_deref())?;
            let staging = dir.join(".restore");
            let result = backup::unpack_verified(&b.path, &staging).and_then(|m| {
                backup::install(&id2, &dir.join("profile"), &staging, &m.roots)?;
                Ok(m.files.len())
            });
            let _ = std::fs::remove_dir_all(&staging);
            Ok(BackupInfo { files: Some(result?), ..b })
        })
        .await
        .map_err(|e| failed(id, e.to_string()))?
        .map_err(|e| backup_error(id, e))?;
        cell.with(|l| l.record.linked = true);
        cell.save().await;
        cell.publish("session.profile_restored", json!({ "backup": info.name, "reason": "asked" }));
        Ok(info)
    }

    /// Re-reads the bridge (the file of `sessions.bridge`, or the built-in one) and
    /// re-injects it into every running page, without restarting any browser. Returns how
    /// many pages got it.
    pub async fn reload_bridge(&self) -> Result<usize, SessionError> {
        let bridge =
            Bridge::load(self.inner.settings.bridge.as_deref()).map_err(|e| SessionError::BadInput(e.to_string()))?;
        let source = bridge.source.clone();
        *self.inner.ctx.bridge.write().expect("bridge") = bridge;
        let cells: Vec<Arc<SessionCell>> =
            self.inner.sessions.lock().expect("sessions").values().map(|e| e.cell.clone()).collect();
        let mut done = 0;
        for cell in cells {
            let Some((page, old)) = cell.with(|l| l.page.clone().map(|p| (p, l.script.clone()))) else { continue };
            match tokio::time::timeout(Duration::from_secs(10), Browser::replace_bridge(&page, old, &source)).await {
                Ok(Ok(script)) => {
                    cell.with(|l| l.script = Some(script));
                    done += 1;
                }
                Ok(Err(e)) => tracing::error!(session = %cell.id, "cannot re-inject the bridge: {e}"),
                Err(_) => tracing::error!(session = %cell.id, "cannot re-inject the bridge: the page does not answer"),
            }
        }
        tracing::info!(pages = done, "bridge reloaded");
        self.publish("bridge.reloaded", json!({ "pages": done }));
        Ok(done)
    }

    /// Closes every browser cleanly (in parallel), within `stop_timeout` plus a margin; what
    /// is left is killed.
    pub async fn shutdown(&self) {
        self.inner.ctx.shutdown.cancel();
        let tasks: Vec<(String, JoinHandle<()>)> = self
            .inner
            .sessions
            .lock()
            .expect("sessions")
            .iter_mut()
            .filter_map(|(id, e)| e.run.take().map(|r| (id.clone(), r.task)))
            .collect();
        let within = self.inner.settings.stop_timeout + Duration::from_secs(5);
        let deadline = Instant::now() + within;
        for (id, task) in tasks {
            let abort = task.abort_handle();
            if tokio::time::timeout_at(deadline, task).await.is_err() {
                tracing::error!(session = %id, "the session did not stop within {within:?}: killing its browser");
                abort.abort();
                if let Ok(cell) = self.cell(&id) {
                    if let Some(pid) = cell.with(|l| l.pid.take()) {
                        // SAFETY: plain syscall on the process group we started.
                        unsafe {
                            libc::killpg(pid, libc::SIGKILL);
                        }
                    }
                }
            }
        }
        tokio::task::spawn_blocking(chromium::sweep).await.ok();
    }

    pub(super) fn running_page(
        &self,
        id: &str,
        what: &str,
    ) -> Result<(Arc<SessionCell>, chromiumoxide::Page), SessionError> {
        check_id(id)?;
        let cell = self.cell(id)?;
        match cell.page() {
            Some(p) => Ok((cell, p)),
            None => Err(SessionError::NotReady { id: id.into(), status: cell.status(), what: what.into() }),
        }
    }

    pub(super) async fn eval(
        &self,
        id: &str,
        page: &chromiumoxide::Page,
        what: &str,
        js: &str,
        timeout: Duration,
    ) -> Result<serde_json::Value, SessionError> {
        match tokio::time::timeout(timeout, page.evaluate_expression(js)).await {
            Err(_) => Err(SessionError::Timeout { id: id.into(), what: what.into(), after: timeout }),
            Ok(Err(e)) => Err(failed(id, format!("{what}: {}", cdp_error(&e)))),
            Ok(Ok(r)) => Ok(r.value().cloned().unwrap_or(serde_json::Value::Null)),
        }
    }
}

#[async_trait]
impl Sessions for SessionManager {
    async fn pairing_code(&self, id: &str, phone: &str) -> Result<String, SessionError> {
        super::pairing::request(self, id, phone, self.inner.settings.pairing_code_renew).await
    }

    async fn list(&self) -> Result<Vec<SessionInfo>, SessionError> {
        Ok(self.inner.sessions.lock().expect("sessions").values().map(|e| e.cell.info()).collect())
    }

    async fn state(&self, id: &str, timeout: Duration) -> Result<String, SessionError> {
        let (_, page) = self.running_page(id, "state")?;
        let v = self.eval(id, &page, "state", JS_STATE, timeout).await?;
        Ok(v.as_str().unwrap_or_default().to_string())
    }

    async fn ping(&self, id: &str, timeout: Duration) -> Result<Duration, SessionError> {
        let (_, page) = self.running_page(id, "ping")?;
        let t0 = Instant::now();
        self.eval(id, &page, "ping", JS_PING, timeout).await?;
        Ok(t0.elapsed())
    }

    async fn send_text(&self, id: &str, to: &str, text: &str, key: Option<&str>) -> Result<String, SessionError> {
        let wid = phone::person_wid(to)?;
        let (cell, page) = self.running_page(id, "send_text")?;
        self.inner
            .sent
            .once(id, key, || async {
                let status = cell.status();
                if status != SessionStatus::Ready {
                    return Err(SessionError::NotReady { id: id.into(), status, what: "send_text".into() });
                }
                let _sending = self.inner.resources.sending(id);
                let limit = self.inner.settings.send_timeout;
                let permit = self.inner.limits.admit(&cell, &wid, limit).await?;
                let js = js_send_text(&wid, text, limit.as_millis());
                let v = self.eval(id, &page, "send_text", &js, limit + Duration::from_secs(2)).await?;
                self.inner.limits.sent(id, &wid, &cell.dir, &permit);
                let msg_id = v
                    .get("id")
                    .and_then(|i| i.as_str())
                    .ok_or_else(|| failed(id, format!("send_text: the page answered {v}")))?
                    .to_string();
                cell.publish("message.sent", json!({ "id": msg_id, "to": wid }));
                Ok(msg_id)
            })
            .await
    }

    async fn activity(&self, id: &str) -> Result<(), SessionError> {
        let (_, page) = self.running_page(id, "activity")?;
        let (x, y) = {
            let mut rng = rand::thread_rng();
            (rng.gen_range(80.0..700.0), rng.gen_range(80.0..500.0))
        };
        let limit = Duration::from_secs(10);
        match tokio::time::timeout(limit, page.move_mouse(Point::new(x, y))).await {
            Err(_) => Err(SessionError::Timeout { id: id.into(), what: "activity".into(), after: limit }),
            Ok(Err(e)) => Err(failed(id, format!("activity: {}", cdp_error(&e)))),
            Ok(Ok(_)) => Ok(()),
        }
    }

    async fn restart(&self, id: &str, reason: &str) -> Result<(), SessionError> {
        check_id(id)?;
        let Some(cmds) = self.commands(id)? else {
            return self.start(id);
        };
        let (tx, rx) = oneshot::channel();
        cmds.send(Command::Restart { reason: reason.into(), done: tx })
            .await
            .map_err(|_| failed(id, "the session's supervisor is gone"))?;
        let s = &self.inner.settings;
        let within = s.launch_timeout + s.stop_timeout + Duration::from_secs(10);
        match tokio::time::timeout(within, rx).await {
            Err(_) => Err(SessionError::Timeout { id: id.into(), what: "restart".into(), after: within }),
            Ok(Err(_)) => Ok(()),
            Ok(Ok(r)) => r.map_err(|e| failed(id, format!("restart: {e}"))),
        }
    }

    async fn mark(&self, id: &str, status: SessionStatus, reason: &str) -> Result<(), SessionError> {
        check_id(id)?;
        let cell = self.cell(id)?;
        cell.set_status(status, (!reason.is_empty()).then(|| reason.to_string())).await;
        Ok(())
    }

    async fn touch(&self, id: &str) -> Result<(), SessionError> {
        check_id(id)?;
        let cell = self.cell(id)?;
        let now = self.inner.clock.now();
        cell.with(|l| l.record.last_seen = Some(now));
        cell.save().await;
        Ok(())
    }

    fn owns_folders(&self) -> bool {
        true
    }

    fn resources(&self, id: &str) -> Option<super::Resources> {
        self.inner.resources.get(id)
    }

    async fn backup(&self, id: &str) -> Result<String, SessionError> {
        SessionManager::backup(self, id).await.map(|b| b.name)
    }
}
