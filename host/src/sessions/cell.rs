//! The live state of one session, shared by its supervisor and the host API: its record (what
//! is persisted), the QR on screen, the page handle while a browser runs. Every status change
//! is persisted and the latest state always wins (writes are serialized and each writes the
//! state as it is when its turn comes).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use chromiumoxide::cdp::browser_protocol::page::ScriptIdentifier;
use chromiumoxide::Page;

use super::records::{SessionRecord, SessionRecords};
use super::{SessionInfo, SessionStatus};
use crate::clock::Clock;
use crate::events::{Event, EventBus};

/// What changes while a session lives.
pub(crate) struct Live {
    pub record: SessionRecord,
    /// A browser of ours runs for this session.
    pub running: bool,
    /// The QR on screen, while the page shows one.
    pub qr: Option<String>,
    /// `Socket.hasSynced` as last pushed.
    pub synced: bool,
    /// The last ping timed out.
    pub unresponsive: bool,
    /// The page, while the browser runs.
    pub page: Option<Page>,
    /// The bridge's registration (`Page.addScriptToEvaluateOnNewDocument`).
    pub script: Option<ScriptIdentifier>,
    /// Chromium's pid (its process group).
    pub pid: Option<i32>,
    /// The pairing code on screen (link with phone number), while the page shows one.
    pub pairing_code: Option<String>,
}

pub(crate) struct SessionCell {
    pub id: super::SessionId,
    /// `data/sessions/<id>`.
    pub dir: PathBuf,
    live: Mutex<Live>,
    persist: tokio::sync::Mutex<()>,
    records: Arc<dyn SessionRecords>,
    bus: EventBus,
    clock: Clock,
}

impl SessionCell {
    pub fn new(
        record: SessionRecord,
        dir: PathBuf,
        records: Arc<dyn SessionRecords>,
        bus: EventBus,
        clock: Clock,
    ) -> Self {
        SessionCell {
            id: record.id.clone(),
            dir,
            live: Mutex::new(Live {
                record,
                running: false,
                qr: None,
                synced: false,
                unresponsive: false,
                page: None,
                script: None,
                pid: None,
                pairing_code: None,
            }),
            persist: tokio::sync::Mutex::new(()),
            records,
            bus,
            clock,
        }
    }

    pub fn profile(&self) -> PathBuf {
        self.dir.join("profile")
    }

    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// Runs `f` on the live state (never across an await).
    pub fn with<T>(&self, f: impl FnOnce(&mut Live) -> T) -> T {
        f(&mut self.live.lock().expect("session state"))
    }

    pub fn info(&self) -> SessionInfo {
        self.with(|l| l.record.info(l.running))
    }

    pub fn status(&self) -> SessionStatus {
        self.with(|l| l.record.status)
    }

    pub fn page(&self) -> Option<Page> {
        self.with(|l| l.page.clone())
    }

    /// Publishes `name` with `data` (an object; `"session": id` is added).
    pub fn publish(&self, name: &str, mut data: serde_json::Value) {
        if let Some(map) = data.as_object_mut() {
            map.insert("session".into(), self.id.to_string().into());
        }
        self.bus.publish(Event { name: name.into(), source: "host".into(), at: self.now(), data, depth: 0 });
    }

    /// Persists the record as it is now.
    pub async fn save(&self) {
        let _turn = self.persist.lock().await;
        let record = self.with(|l| {
            l.record.updated_at = self.clock.now();
            l.record.clone()
        });
        if let Err(e) = self.records.upsert(&record).await {
            tracing::error!(session = %self.id, "cannot persist the session: {e}");
        }
    }

    /// Sets our status (and its reason) and persists it; a change is published as
    /// `session.status` (`status`, `previous`, `reason`). Returns whether it changed.
    pub async fn set_status(&self, status: SessionStatus, error: Option<String>) -> bool {
        let changed = self.with(|l| {
            let changed = l.record.status != status || l.record.error != error;
            let previous = l.record.status;
            if changed {
                tracing::info!(session = %self.id, from = %l.record.status, to = %status, reason = error.as_deref().unwrap_or(""), "session status");
            }
            l.record.status = status;
            l.record.error = error.clone();
            changed.then_some(previous)
        });
        if let Some(previous) = changed {
            self.publish(
                "session.status",
                serde_json::json!({ "status": status.as_str(), "previous": previous.as_str(), "reason": error }),
            );
            self.save().await;
        }
        changed.is_some()
    }
}
