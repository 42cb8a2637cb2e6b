//! The supervisor: one task per session that owns its browser. It cares for the profile,
//! launches Chromium (a bounded number at a time), turns the bridge's events into our status
//! and events, pings the page, and on the browser's death restarts it with backoff under the
//! restart budget — then `error` and `session.error` when the budget is spent. Stop, restart
//! and shutdown come in as commands.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::json;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::backup;
use super::browser::{Browser, Signal};
use super::budget::RestartBudget;
use super::cell::SessionCell;
use super::chromium;
use super::profile::{self, Health};
use super::settings::Settings;
use super::site;
use super::SessionStatus;
use crate::sites::whatsapp::bridge::{phone_of, JS_PING};
use crate::sites::whatsapp::{classify, Bridge, PageEvent, Phase, CRITICAL_PATHS};

/// Answers a restart request once the new browser opened the page (or failed to).
type Done = oneshot::Sender<Result<(), String>>;

/// What the manager asks of a supervisor.
pub(crate) enum Command {
    /// Close the browser cleanly and end; status `stopped`.
    Stop(oneshot::Sender<()>),
    /// Close the browser and start it again (a fresh restart budget when in `error`). Answered
    /// once the new browser has opened the page, or failed to.
    Restart { reason: String, done: oneshot::Sender<Result<(), String>> },
}

/// What every supervisor shares.
#[derive(Clone)]
pub(crate) struct Ctx {
    pub settings: Arc<Settings>,
    pub bridge: Arc<RwLock<Bridge>>,
    /// Bounds how many browsers start at once.
    pub gate: Arc<Semaphore>,
    pub shutdown: CancellationToken,
}

/// How a running browser ended.
enum Exit {
    Stopped,
    Restart(String, oneshot::Sender<Result<(), String>>),
    Died(String),
}

pub(crate) struct Supervisor {
    cell: Arc<SessionCell>,
    ctx: Ctx,
    cmds: mpsc::Receiver<Command>,
    budget: RestartBudget,
}

impl Supervisor {
    pub fn new(cell: Arc<SessionCell>, ctx: Ctx, cmds: mpsc::Receiver<Command>) -> Self {
        let s = &ctx.settings;
        let budget = RestartBudget::new(s.restart_budget, s.restart_window, s.restart_backoff, s.restart_backoff_max);
        Supervisor { cell, ctx, cmds, budget }
    }

    pub async fn run(mut self) {
        let id = self.cell.id.clone();
        let span = tracing::info_span!("session", session = %id);
        let _ = tracing::Instrument::instrument(self.supervise(), span).await;
    }

    async fn supervise(&mut self) {
        // Why the browser is being (re)started, and who waits for it.
        let mut restarting: Option<(String, Option<Done>)> = None;
        let mut attempt: u64 = 0;
        loop {
            self.cell.set_status(SessionStatus::Starting, None).await;
            let launched = tokio::select! {
                r = Self::launch(&self.cell, &self.ctx) => r,
                wake = next_command(&mut self.cmds, &self.ctx.shutdown) => match wake {
                    // Asked to restart while starting: answered, and the start begins again.
                    Wake::Restart(_, done) => {
                        let _ = done.send(Ok(()));
                        continue;
                    }
                    Wake::Stop(done) => return self.stop_with(done).await,
                },
            };
            let cause = match launched {
                Ok(browser) => {
                    if let Some((reason, done)) = restarting.take() {
                        attempt += 1;
                        self.cell.publish("session.restarted", json!({ "reason": reason, "attempt": attempt }));
                        if let Some(done) = done {
                            let _ = done.send(Ok(()));
                        }
                    }
                    match self.watch(browser).await {
                        Exit::Stopped => return,
                        Exit::Restart(reason, done) => {
                            self.budget.reset();
                            restarting = Some((reason, Some(done)));
                            continue;
                        }
                        Exit::Died(cause) => cause,
                    }
                }
                Err(e) => {
                    if let Some(done) = restarting.as_mut().and_then(|(_, d)| d.take()) {
                        let _ = done.send(Err(e.clone()));
                    }
                    format!("the browser did not start: {e}")
                }
            };
            tracing::warn!(cause = %cause, "session browser died");
            self.cell.with(|l| l.record.restarts += 1);
            self.cell.publish("session.crashed", json!({ "cause": cause }));
            match self.budget.on_crash(Instant::now()) {
                Some(delay) => {
                    self.cell
                        .set_status(
                            SessionStatus::Disconnected,
                            Some(if delay.is_zero() {
                                format!("{cause}; restarting now")
                            } else {
                                format!("{cause}; restarting in {}", crate::duration::format_duration(delay))
                            }),
                        )
                        .await;
                    restarting = Some((format!("crash: {cause}"), None));
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        wake = next_command(&mut self.cmds, &self.ctx.shutdown) => match wake {
                            Wake::Restart(reason, done) => restarting = Some((reason, Some(done))),
                            Wake::Stop(done) => return self.stop_with(done).await,
                        },
                    }
                }
                None => {
                    let s = &self.ctx.settings;
                    let message = format!(
                        "the browser died {} times within {}; last: {cause}. It stays down until a restart \
                         (`restart(id, reason)` from a behaviour, or restart the host)",
                        s.restart_budget + 1,
                        crate::duration::format_duration(s.restart_window)
                    );
                    tracing::error!("{message}");
                    self.cell.set_status(SessionStatus::Error, Some(message.clone())).await;
                    self.cell.publish("session.error", json!({ "message": message, "cause": cause }));
                    // Wait for someone to ask for a restart.
                    // A stop leaves the status `error`: it says why the session is down.
                    match next_command(&mut self.cmds, &self.ctx.shutdown).await {
                        Wake::Restart(reason, done) => {
                            self.budget.reset();
                            restarting = Some((reason, Some(done)));
                        }
                        Wake::Stop(done) => {
                            if let Some(done) = done {
                                let _ = done.send(());
                            }
                            return;
                        }
                    }
                }
            }
        }
    }

    /// Status `stopped`, then the one who asked for the stop (if anyone) is answered.
    async fn stop_with(&self, done: Option<oneshot::Sender<()>>) {
        self.stopped().await;
        if let Some(done) = done {
            let _ = done.send(());
        }
    }

    /// Status `stopped`, nothing running.
    async fn stopped(&self) {
        self.cell.with(|l| {
            l.running = false;
            l.page = None;
            l.pid = None;
            l.qr = None;
            l.pairing_code = None;
        });
        self.cell.set_status(SessionStatus::Stopped, None).await;
    }

    /// Profile care, then Chromium with the page open. Holds a start slot meanwhile.
    async fn launch(cell: &SessionCell, ctx: &Ctx) -> Result<Browser, String> {
        let _slot = ctx.gate.acquire().await.map_err(|_| "the host is stopping".to_string())?;
        care_for_profile(cell).await;
        let profile = cell.profile();
        let spec = ctx.settings.launch_spec(&profile);
        let source = ctx.bridge.read().expect("bridge").source.clone();
        let started = Instant::now();
        let browser = Browser::launch(&spec, &source, &ctx.settings.url).await?;
        tracing::info!(pid = browser.pid(), ms = started.elapsed().as_millis() as u64, "browser started");
        Ok(browser)
    }

    /// Runs until the browser dies or a command or the shutdown ends it.
    async fn watch(&mut self, mut browser: Browser) -> Exit {
        let page = browser.page.clone();
        self.cell.with(|l| {
            l.running = true;
            l.page = Some(page.clone());
            l.script = Some(browser.script.clone());
            l.pid = Some(browser.pid());
            l.synced = false;
            l.unresponsive = false;
            l.qr = None;
        });
        let (ping_tx, mut pings) = mpsc::channel(4);
        let watchdog =
            tokio::spawn(watchdog(page, self.ctx.settings.ping_interval, self.ctx.settings.ping_timeout, ping_tx));
        let stop_within = self.ctx.settings.stop_timeout;
        let exit = loop {
            tokio::select! {
                biased;
                _ = self.ctx.shutdown.cancelled() => {
                    self.clear_running();
                    browser.close(stop_within).await;
                    self.stopped().await;
                    break Exit::Stopped;
                }
                cmd = self.cmds.recv() => match cmd {
                    Some(Command::Stop(done)) => {
                        self.clear_running();
                        browser.close(stop_within).await;
                        self.stopped().await;
                        let _ = done.send(());
                        break Exit::Stopped;
                    }
                    Some(Command::Restart { reason, done }) => {
                        tracing::info!(reason = %reason, "restart asked");
                        self.clear_running();
                        browser.close(stop_within).await;
                        break Exit::Restart(reason, done);
                    }
                    None => {
                        self.clear_running();
                        browser.close(stop_within).await;
                        self.stopped().await;
                        break Exit::Stopped;
                    }
                },
                signal = browser.next() => match signal {
                    Signal::Died(cause) => {
                        self.clear_running();
                        browser.kill().await;
                        break Exit::Died(cause);
                    }
                    Signal::Page(payload) => self.on_page(&payload).await,
                },
                Some(ping) = pings.recv() => self.on_ping(ping).await,
            }
        };
        watchdog.abort();
        exit
    }

    fn clear_running(&self) {
        self.cell.with(|l| {
            l.running = false;
            l.page = None;
            l.script = None;
            l.pid = None;
            l.qr = None;
            l.pairing_code = None;
            l.unresponsive = false;
        });
    }

    /// A bridge event: our status and the host's events.
    async fn on_page(&mut self, payload: &str) {
        let event = match PageEvent::parse(payload) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!("{e}");
                return;
            }
        };
        match event {
            PageEvent::Hello { state, synced, me, bridge, version } => {
                tracing::debug!(state = %state, synced, bridge = bridge.as_deref().unwrap_or(""), version = version.as_deref().unwrap_or(""), "bridge installed");
                site::on_version(&self.cell, version.as_deref()).await;
                if self.cell.status() == SessionStatus::Error {
                    // Installed after all (the canary's modules came late): out of `error`.
                    self.cell.set_status(SessionStatus::Starting, None).await;
                }
                self.cell.with(|l| l.synced = synced);
                self.on_state(&state).await;
                if synced {
                    self.on_synced(me).await;
                }
            }
            PageEvent::Incompatible { bridge, version, missing, problems } => {
                site::on_incompatible(&self.cell, bridge.as_deref(), version.as_deref(), &missing, &problems).await
            }
            PageEvent::PairingCode { code } => {
                self.cell.with(|l| l.pairing_code = Some(code.clone()));
                self.cell.publish("session.pairing_code", json!({ "code": code }));
            }
            PageEvent::State { state } => self.on_state(&state).await,
            PageEvent::Synced { me } => {
                self.cell.with(|l| l.synced = true);
                self.on_synced(me).await;
            }
            PageEvent::Qr { qr } => {
                let status = self.cell.with(|l| {
                    l.qr = Some(qr.clone());
                    l.record.status
                });
                if status != SessionStatus::LoggedOut {
                    self.cell.set_status(SessionStatus::Qr, None).await;
                }
                self.cell.publish("session.qr", json!({ "qr": qr }));
            }
            PageEvent::Logout { event } => {
                let reason = match event.as_deref() {
                    Some(e @ ("logout_from_bridge" | "starting_logout_from_bridge")) => {
                        format!("logged out in WhatsApp Web (the site said {e}: the phone unlinked this device)")
                    }
                    _ => "logged out in WhatsApp Web".to_string(),
                };
                self.logged_out(&reason).await
            }
            PageEvent::Message { message } => {
                if message.from_me {
                    return;
                }
                let now = self.cell.now();
                self.cell.with(|l| l.record.last_seen = Some(now));
                self.cell.publish(
                    "message.in",
                    json!({
                        "id": message.id, "from": message.from, "to": message.to, "author": message.author,
                        "body": message.body, "t": message.t, "type": message.kind,
                    }),
                );
                self.cell.save().await;
            }
            PageEvent::Ack { id, ack } => self.cell.publish("message.ack", json!({ "id": id, "ack": ack })),
            PageEvent::Error { r#where, message } => {
                tracing::warn!(
                    place = r#where.as_deref().unwrap_or("?"),
                    "bridge error: {}",
                    message.unwrap_or_default()
                )
            }
        }
    }

    /// WhatsApp's state changed (or was first seen).
    async fn on_state(&mut self, state: &str) {
        let previous = self.cell.with(|l| l.record.wa_state.replace(state.to_string()));
        if previous.as_deref() != Some(state) {
            self.cell.publish("session.state", json!({ "state": state, "previous": previous }));
            self.cell.save().await;
        }
        let (status, linked, synced, unresponsive) =
            self.cell.with(|l| (l.record.status, l.record.linked, l.synced, l.unresponsive));
        match classify(state) {
            Phase::Loading => {}
            Phase::Qr => {
                self.cell.with(|l| l.synced = false);
                if linked {
                    self.logged_out("the page shows a QR: the device was unlinked, or its storage was lost").await;
                } else if status != SessionStatus::LoggedOut && self.cell.with(|l| l.qr.is_some()) {
                    self.cell.set_status(SessionStatus::Qr, None).await;
                }
            }
            Phase::Pairing => {
                if self.cell.set_status(SessionStatus::Pairing, None).await {
                    self.cell.publish("session.pairing", json!({}));
                }
            }
            Phase::Connected => {
                if synced && !unresponsive {
                    self.ready().await;
                }
            }
            Phase::Disconnected(reason) => {
                if self.cell.set_status(SessionStatus::Disconnected, Some(reason.clone())).await {
                    self.cell.publish("session.disconnected", json!({ "reason": reason, "state": state }));
                }
            }
        }
    }

    async fn on_synced(&mut self, me: Option<String>) {
        let phone = me.as_deref().and_then(phone_of);
        self.cell.with(|l| {
            if phone.is_some() {
                l.record.phone = phone.clone();
            }
            l.qr = None;
            l.pairing_code = None;
        });
        let connected = self.cell.with(|l| l.record.wa_state.as_deref() == Some("CONNECTED") && !l.unresponsive);
        if connected {
            self.ready().await;
        }
    }

    async fn ready(&mut self) {
        self.budget.on_ready();
        let now = self.cell.now();
        let first_link = self.cell.with(|l| {
            let first = !l.record.linked;
            l.record.linked = true;
            l.record.last_seen = Some(now);
            l.record.healthy_site_version = l.record.site_version.clone();
            first
        });
        if self.cell.set_status(SessionStatus::Ready, None).await || first_link {
            let (phone, wa_state) = self.cell.with(|l| (l.record.phone.clone(), l.record.wa_state.clone()));
            self.cell.publish("session.ready", json!({ "phone": phone, "state": wa_state }));
        }
    }

    async fn logged_out(&mut self, reason: &str) {
        let was = self.cell.with(|l| {
            let was = l.record.status;
            l.record.linked = false;
            l.synced = false;
            was
        });
        if was != SessionStatus::LoggedOut {
            self.cell.set_status(SessionStatus::LoggedOut, Some(reason.to_string())).await;
            self.cell.publish("session.logged_out", json!({ "reason": reason }));
        }
    }

    /// A watchdog ping came back (`Ok`) or timed out (`Err`).
    async fn on_ping(&mut self, ping: Result<Duration, String>) {
        let was = self.cell.with(|l| l.unresponsive);
        match ping {
            Err(why) if !was => {
                self.cell.with(|l| l.unresponsive = true);
                let reason = format!("the page stopped answering: {why}");
                self.cell.set_status(SessionStatus::Disconnected, Some(reason.clone())).await;
                self.cell.publish("session.disconnected", json!({ "reason": "unresponsive", "detail": reason }));
            }
            Ok(rtt) if was => {
                tracing::info!(rtt_ms = rtt.as_millis() as u64, "the page answers again");
                self.cell.with(|l| l.unresponsive = false);
                let state = self.cell.with(|l| l.record.wa_state.clone()).unwrap_or_default();
                self.on_state(&state).await;
                if matches!(classify(&state), Phase::Loading) {
                    self.cell.set_status(SessionStatus::Starting, None).await;
                }
            }
            _ => {}
        }
    }
}

/// Before launch: kill a Chromium left on this profile by a host that died, remove stale
/// locks, check the critical files and restore the newest good backup if they are damaged.
async fn care_for_profile(cell: &SessionCell) {
    let profile = cell.profile();
    if let Err(e) = std::fs::create_dir_all(&profile) {
        tracing::error!("cannot create the profile folder {}: {e}", profile.display());
    }
    let strays = chromium::kill_strays(&profile).await;
    if strays > 0 {
        tracing::warn!(processes = strays, "killed a Chromium left on this profile by a previous host");
    }
    match profile::remove_locks(&profile) {
        Ok(l) if !l.removed.is_empty() => {
            tracing::info!(files = ?l.removed, owner = l.owner.as_deref().unwrap_or(""), "removed stale profile locks");
            cell.publish(
                "session.locks_removed",
                json!({ "files": l.removed, "owner": l.owner, "stray_processes_killed": strays }),
            );
        }
        Ok(_) => {}
        Err(e) => tracing::error!("cannot remove the profile's locks: {e}"),
    }
    let linked = cell.with(|l| l.record.linked);
    let why = match profile::check(&profile, &CRITICAL_PATHS) {
        Health::Intact => return,
        Health::Empty if !linked => return,
        Health::Empty => "the profile's storage is missing".to_string(),
        Health::Damaged(why) => why,
    };
    if !linked {
        return;
    }
    tracing::warn!(reason = %why, "the linked profile is damaged: looking for a backup");
    let dir = cell.dir.clone();
    let id = cell.id.clone();
    let outcome = tokio::task::spawn_blocking(move || restore_newest_good(&id, &dir, &why))
        .await
        .unwrap_or_else(|e| Err(format!("the restore panicked: {e}")));
    match outcome {
        Ok((name, why)) => {
            tracing::warn!(backup = %name, "restored the profile from a backup");
            cell.publish("session.profile_restored", json!({ "backup": name, "reason": why }));
        }
        Err(e) => {
            tracing::error!("{e}");
            cell.publish("session.profile_damaged", json!({ "reason": e }));
        }
    }
}

/// Pings the page every `interval`; sends `Err` when no answer came within `timeout`.
/// What a supervisor with no browser running is asked.
enum Wake {
    Restart(String, Done),
    /// Asked to stop (with whom to answer), or the manager or the host is going away (no one).
    Stop(Option<oneshot::Sender<()>>),
}

/// The next command, or the host's shutdown: the one place the supervisor's idle states
/// (starting, backing off, failed) read their commands.
async fn next_command(cmds: &mut mpsc::Receiver<Command>, shutdown: &CancellationToken) -> Wake {
    tokio::select! {
        cmd = cmds.recv() => match cmd {
            Some(Command::Restart { reason, done }) => Wake::Restart(reason, done),
            Some(Command::Stop(done)) => Wake::Stop(Some(done)),
            None => Wake::Stop(None),
        },
        _ = shutdown.cancelled() => Wake::Stop(None),
    }
}

async fn watchdog(
    page: chromiumoxide::Page,
    interval: Duration,
    timeout: Duration,
    tx: mpsc::Sender<Result<Duration, String>>,
) {
    let mut tick = tokio::time::interval_at(Instant::now() + interval, interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let t0 = Instant::now();
        let result = match tokio::time::timeout(timeout, page.evaluate_expression(JS_PING)).await {
            Ok(Ok(_)) => Ok(t0.elapsed()),
            // An error (a navigation in progress, …) is not silence.
            Ok(Err(e)) => {
                tracing::debug!("ping failed: {e}");
                continue;
            }
            Err(_) => Err(format!("no answer to a ping within {}", crate::duration::format_duration(timeout))),
        };
        if tx.send(result).await.is_err() {
            return;
        }
    }
}

/// Restores the newest backup that verifies (blocking). `Ok((backup name, why))`.
fn restore_newest_good(id: &str, session_dir: &std::path::Path, why: &str) -> Result<(String, String), String> {
    let all = backup::list(session_dir);
    if all.is_empty() {
        return Err(format!(
            "the linked profile is damaged ({why}) and there is no backup: the session will need a new QR scan"
        ));
    }
    let staging = session_dir.join(".restore");
    let profile = session_dir.join("profile");
    let mut problems = Vec::new();
    for b in all.iter().rev() {
        match backup::unpack_verified(&b.path, &staging) {
            Ok(manifest) => match backup::install(id, &profile, &staging, &manifest.roots) {
                Ok(()) => return Ok((b.name.clone(), why.to_string())),
                Err(e) => problems.push(e.to_string()),
            },
            Err(e) => problems.push(e.to_string()),
        }
    }
    let _ = std::fs::remove_dir_all(&staging);
    Err(format!("the linked profile is damaged ({why}) and no backup could be restored: {}", problems.join("; ")))
}
