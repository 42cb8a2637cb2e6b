//! Sessions: one WhatsApp account each = one Chromium on `data/sessions/<id>/profile` with one
//! page on WhatsApp Web, supervised.
//!
//! - [`Sessions`]: the session functions of the host API (`sessions()`, `state`, `ping`,
//!   `send_text`, `activity`, `restart`, `mark`, `touch`), implemented by [`SessionManager`];
//!   [`NoSessions`] is a host without browsers.
//! - [`control`]: [`SessionControl`], what the HTTP API needs beyond the host API (add,
//!   remove, QR, log out, backups), implemented by the manager and [`memory`].
//! - [`manager`]: add, start, stop, remove, log out, back up, restore; the [`Sessions`] impl.
//! - `supervisor`: one task per session owning its browser — profile care, launch, the
//!   bridge's events turned into status and events, the ping watchdog, restarts with backoff
//!   under a budget.
//! - `browser`: one launched browser (chromiumoxide), its death signals, the bridge injection.
//! - `chromium`: the Chromium process (own process group, dies with the host — wrapper
//!   scripts resolved, a watchdog per group), reaping, strays left by a killed host, the
//!   resources of a process tree.
//! - [`executable`]: which Chromium (`auto`: the headless shell when installed).
//! - [`resources`]: each session's process tree measured (PSS, CPU seconds).
//! - [`send_limits`]: the send rate (token bucket) and the daily cap on new numbers.
//! - [`sent_log`]: the durable record of sends by idempotency key (cluster mode, fenced).
//! - `cell`: a session's live state, persisted on every change.
//! - [`records`]: what is persisted ([`SessionRecord`]) behind [`SessionRecords`]; JSON files
//!   until the store lands.
//! - [`profile`]: stale locks and the critical files' health.
//! - [`backup`]: tar + zstd archives with sha256 manifests; verified restore.
//! - `live_restore`: restore into a session this host runs (verify, stop, install, start).
//! - `budget`: the restart budget and backoff.
//! - `settings`: `[sessions]` resolved (the Chromium command line).
//! - [`canary`]: `vigil doctor --canary`: the bridge's canary on the configured site, in a
//!   throwaway profile.
//! - `pairing`: linking by phone number (a pairing code instead of a QR).
//! - `desktop`: the switches that make the page a desktop browser (user agent, no automation flag).
//! - `site`: the site's version per session and the bridge's canary report.
//! - `bridge_watch`: re-injects a bridge file when it changes.
//! - [`qr`]: a QR for the terminal.
//! - [`id`]: [`SessionId`], a session id checked once where it comes in (`^[a-z0-9][a-z0-9_-]{0,62}$`).
//! - [`orphans`]: session folders with no session (left by a crash during a remove).
//! - [`memory`]: an in-memory [`Sessions`] for unit tests.
//! - [`phone`]: phone numbers and WhatsApp ids (`+34 600 000 000` → `34600000000@c.us`).

pub mod backup;
mod bridge_watch;
mod browser;
mod budget;
pub mod canary;
mod cell;
pub mod chromium;
pub mod control;
mod desktop;
pub mod executable;
pub mod id;
mod live_restore;
pub mod manager;
pub mod memory;
pub mod orphans;
mod pairing;
pub mod phone;
pub mod profile;
pub mod qr;
pub mod records;
pub mod resources;
pub mod send_limits;
mod sent_keys;
pub mod sent_log;
mod settings;
mod site;
mod supervisor;

pub use backup::{BackupError, BackupInfo};
pub use control::SessionControl;
pub use id::SessionId;
pub use manager::SessionManager;
pub use records::{JsonRecords, RecordsError, SessionRecord, SessionRecords};
pub use resources::Resources;
pub use settings::Settings;
#[cfg(test)]
pub(crate) fn sent_keys_for_tests(log: std::sync::Arc<dyn sent_log::SentLog>) -> sent_keys::SentKeys {
    sent_keys::with_log(16, log)
}

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Our status of a session (persisted), never confused with WhatsApp's own state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    Starting,
    Qr,
    Pairing,
    Ready,
    Disconnected,
    Error,
    LoggedOut,
    Stopped,
}

impl SessionStatus {
    pub const ALL: [SessionStatus; 8] = [
        SessionStatus::Starting,
        SessionStatus::Qr,
        SessionStatus::Pairing,
        SessionStatus::Ready,
        SessionStatus::Disconnected,
        SessionStatus::Error,
        SessionStatus::LoggedOut,
        SessionStatus::Stopped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Starting => "starting",
            SessionStatus::Qr => "qr",
            SessionStatus::Pairing => "pairing",
            SessionStatus::Ready => "ready",
            SessionStatus::Disconnected => "disconnected",
            SessionStatus::Error => "error",
            SessionStatus::LoggedOut => "logged_out",
            SessionStatus::Stopped => "stopped",
        }
    }
}

impl fmt::Display for SessionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SessionStatus {
    type Err = SessionError;
    fn from_str(s: &str) -> Result<Self, SessionError> {
        SessionStatus::ALL.into_iter().find(|st| st.as_str() == s).ok_or_else(|| {
            let all: Vec<_> = SessionStatus::ALL.iter().map(|s| s.as_str()).collect();
            SessionError::BadInput(format!("unknown session status `{s}`: use one of {}", all.join(", ")))
        })
    }
}

/// What behaviours see of a session (and the HTTP API answers: its OpenAPI schema is derived
/// from this type).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SessionInfo {
    #[schema(value_type = String, pattern = "^[a-z0-9][a-z0-9_-]{0,62}$")]
    pub id: SessionId,
    #[schema(required = true)]
    pub label: Option<String>,
    /// The account's own number (`34600000000`), once linked.
    #[schema(required = true)]
    pub phone: Option<String>,
    pub status: SessionStatus,
    /// WhatsApp's own state as last seen (`CONNECTED`, `UNPAIRED`, ...).
    #[schema(required = true)]
    pub wa_state: Option<String>,
    #[schema(required = true)]
    pub last_seen: Option<DateTime<Utc>>,
    /// The owner's email (see `vigil owner`), told when the session needs attention.
    #[schema(required = true)]
    pub owner: Option<String>,
    #[schema(required = true)]
    pub error: Option<String>,
    /// Whether this host runs its browser now.
    pub running: bool,
    /// Restarts after crashes, in all.
    pub restarts: u64,
    /// WhatsApp Web's version as the page last said (`window.Debug.VERSION`).
    #[schema(required = true)]
    pub site_version: Option<String>,
    /// The site version when the session was last `ready`.
    #[schema(required = true)]
    pub healthy_site_version: Option<String>,
}

/// Errors of session calls; each names the session and what was tried.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum SessionError {
    #[error("no session `{0}`")]
    NotFound(String),
    #[error("session `{id}`: {what} got no answer within {after:?}")]
    Timeout { id: String, what: String, after: Duration },
    #[error("session `{id}` is {status}, not ready: {what} needs a ready session")]
    NotReady { id: String, status: SessionStatus, what: String },
    #[error("{0}")]
    BadInput(String),
    #[error("session `{0}` already exists")]
    Exists(String),
    /// The session is in a state where this cannot be done now (running, in use elsewhere).
    #[error("session `{id}`: {message}")]
    Conflict { id: String, message: String },
    /// No such backup (or none at all).
    #[error("{0}")]
    NoBackup(String),
    #[error("session `{id}`: {message}")]
    Failed { id: String, message: String },
    /// A send limit holds the send back: `limit` names the setting.
    #[error("session `{id}`: over the send limit {limit}: {message}")]
    Limited { id: String, limit: String, message: String },
}

/// The session functions of the host API. Every method is bounded in time by its caller's
/// `timeout` or the implementation's own.
#[async_trait]
pub trait Sessions: Send + Sync + 'static {
    /// Every known session.
    async fn list(&self) -> Result<Vec<SessionInfo>, SessionError>;
    /// WhatsApp's state, asked of the page now.
    async fn state(&self, id: &SessionId, timeout: Duration) -> Result<String, SessionError>;
    /// A round trip into the page; returns how long it took.
    async fn ping(&self, id: &SessionId, timeout: Duration) -> Result<Duration, SessionError>;
    /// Sends a text to `to` (a WhatsApp id, see [`phone::to_wid`]); returns the message id.
    /// With the same `key`, a second call returns the first message's id and sends nothing.
    async fn send_text(&self, id: &SessionId, to: &str, text: &str, key: Option<&str>) -> Result<String, SessionError>;
    /// A small real mouse movement on the page.
    async fn activity(&self, id: &SessionId) -> Result<(), SessionError>;
    /// Restarts the session's browser.
    async fn restart(&self, id: &SessionId, reason: &str) -> Result<(), SessionError>;
    /// Sets our status (with a reason).
    async fn mark(&self, id: &SessionId, status: SessionStatus, reason: &str) -> Result<(), SessionError>;
    /// Records confirmed activity now (`last_seen`).
    async fn touch(&self, id: &SessionId) -> Result<(), SessionError>;
    /// Backs up the session's profile (keeping the configured number of backups); returns
    /// the backup's name.
    async fn backup(&self, id: &SessionId) -> Result<String, SessionError>;
    /// Removes the orphan folders under `data_dir/sessions`: no session, no browser, unchanged
    /// for `min_age` (see [`orphans`] for what is never removed). `None` when this host cannot
    /// tell an orphan — it does not run the browsers, so [`Sessions::list`] is not every
    /// session with a folder — and nothing was removed. Default: `None`.
    async fn remove_orphan_folders(&self, _min_age: Duration) -> Result<Option<orphans::Swept>, SessionError> {
        Ok(None)
    }
    /// Starts linking the session by phone number instead of a QR (WhatsApp → Linked devices →
    /// Link with phone number): answers the 8-character code to type on the phone `phone`,
    /// renewed while the session is not linked (`session.pairing_code` each time).
    async fn pairing_code(&self, id: &SessionId, phone: &str) -> Result<String, SessionError> {
        let _ = phone::person_wid(phone)?;
        Err(SessionError::Failed { id: id.to_string(), message: "this host runs no browser to link".into() })
    }
    /// The last measurement of the session's browser (memory, CPU, sends in flight), while it
    /// runs and once measured. Default: none.
    fn resources(&self, _id: &SessionId) -> Option<Resources> {
        None
    }
}

/// The sessions of a host that runs no browser: there are none. Every call naming a session
/// fails with [`SessionError::NotFound`].
pub struct NoSessions;

#[async_trait]
impl Sessions for NoSessions {
    async fn list(&self) -> Result<Vec<SessionInfo>, SessionError> {
        Ok(Vec::new())
    }
    async fn state(&self, id: &SessionId, _: Duration) -> Result<String, SessionError> {
        Err(SessionError::NotFound(id.to_string()))
    }
    async fn ping(&self, id: &SessionId, _: Duration) -> Result<Duration, SessionError> {
        Err(SessionError::NotFound(id.to_string()))
    }
    async fn send_text(&self, id: &SessionId, _: &str, _: &str, _: Option<&str>) -> Result<String, SessionError> {
        Err(SessionError::NotFound(id.to_string()))
    }
    async fn activity(&self, id: &SessionId) -> Result<(), SessionError> {
        Err(SessionError::NotFound(id.to_string()))
    }
    async fn restart(&self, id: &SessionId, _: &str) -> Result<(), SessionError> {
        Err(SessionError::NotFound(id.to_string()))
    }
    async fn mark(&self, id: &SessionId, _: SessionStatus, _: &str) -> Result<(), SessionError> {
        Err(SessionError::NotFound(id.to_string()))
    }
    async fn touch(&self, id: &SessionId) -> Result<(), SessionError> {
        Err(SessionError::NotFound(id.to_string()))
    }
    async fn backup(&self, id: &SessionId) -> Result<String, SessionError> {
        Err(SessionError::NotFound(id.to_string()))
    }
}
