//! In-memory sessions for unit tests (and, later, `vigil test`): every call is recorded, and
//! each session can be told to stop answering.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;

use super::{phone, SessionError, SessionId, SessionInfo, SessionStatus, Sessions};
use crate::clock::Clock;

/// A message `send_text` accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct SentText {
    pub session: String,
    pub to: String,
    pub text: String,
    pub id: String,
    pub at: chrono::DateTime<Utc>,
}

/// A call that acted on a session: `restart`, `mark`, `activity`, `backup`.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    pub session: String,
    pub what: String,
    pub detail: String,
    pub at: chrono::DateTime<Utc>,
}

struct Session {
    info: SessionInfo,
    answering: bool,
    qr: Option<String>,
}

#[derive(Default)]
struct Inner {
    sessions: BTreeMap<String, Session>,
    sent: Vec<SentText>,
    keys: BTreeMap<String, String>,
    actions: Vec<Action>,
    /// The folder these sessions are the whole truth about (`data_dir/sessions`), if any.
    folders: Option<std::path::PathBuf>,
    resources: BTreeMap<String, super::Resources>,
}

/// A [`Sessions`] kept in memory.
pub struct MemorySessions {
    inner: Mutex<Inner>,
    clock: Clock,
}

impl Default for MemorySessions {
    fn default() -> Self {
        Self::new()
    }
}

impl MemorySessions {
    pub fn new() -> Self {
        Self::with_clock(Clock::system())
    }

    /// Sessions whose `last_seen` follows `clock` (a paused one in tests).
    pub fn with_clock(clock: Clock) -> Self {
        Self { inner: Mutex::default(), clock }
    }

    /// Sets when the session last showed activity.
    pub fn set_last_seen(&self, id: &str, at: chrono::DateTime<Utc>) {
        if let Some(s) = self.inner.lock().unwrap().sessions.get_mut(id) {
            s.info.last_seen = Some(at);
        }
    }

    /// Makes these sessions the whole truth about `sessions_dir` (a host's
    /// `data_dir/sessions`, as a host running the browsers is), so `remove_orphan_folders`
    /// removes the folders there of sessions not added here.
    pub fn own_folders_in(&self, sessions_dir: &std::path::Path) {
        self.inner.lock().unwrap().folders = Some(sessions_dir.to_path_buf());
    }

    /// Sets what `resources(id)` answers (`None`: not measured).
    pub fn set_resources(&self, id: &str, r: Option<super::Resources>) {
        let mut inner = self.inner.lock().unwrap();
        match r {
            Some(r) => inner.resources.insert(id.into(), r),
            None => inner.resources.remove(id),
        };
    }

    pub fn set_owner(&self, id: &str, email: &str) {
        if let Some(s) = self.inner.lock().unwrap().sessions.get_mut(id) {
            s.info.owner = Some(email.into());
        }
    }

    /// Adds a session with the given status and WhatsApp state (`id` must be a session id).
    pub fn add(&self, id: &str, status: SessionStatus, wa_state: &str) {
        let info = SessionInfo {
            id: SessionId::parse(id).expect("MemorySessions::add takes a valid session id"),
            label: None,
            phone: None,
            status,
            wa_state: Some(wa_state.into()),
            last_seen: None,
            owner: None,
            error: None,
            running: true,
            restarts: 0,
            site_version: None,
            healthy_site_version: None,
        };
        self.inner.lock().unwrap().sessions.insert(id.into(), Session { info, answering: true, qr: None });
    }

    /// Shows `qr` on the session's page (status `qr`), or none.
    pub fn set_qr(&self, id: &str, qr: Option<&str>) {
        if let Some(s) = self.inner.lock().unwrap().sessions.get_mut(id) {
            s.qr = qr.map(str::to_string);
            if qr.is_some() {
                s.info.status = SessionStatus::Qr;
            }
        }
    }

    pub(crate) fn qr_of(&self, id: &str) -> Option<String> {
        self.inner.lock().unwrap().sessions.get(id).and_then(|s| s.qr.clone())
    }

    /// What `SessionControl::create` does: a new session, `stopped` (or `starting` and running
    /// when `start`).
    pub(crate) fn create_session(
        &self,
        id: &SessionId,
        label: Option<&str>,
        start: bool,
    ) -> Result<SessionInfo, SessionError> {
        let mut inner = self.inner.lock().unwrap();
        if inner.sessions.contains_key(id.as_str()) {
            return Err(SessionError::Exists(id.into()));
        }
        let info = SessionInfo {
            id: id.clone(),
            label: label.map(str::to_string),
            phone: None,
            status: if start { SessionStatus::Starting } else { SessionStatus::Stopped },
            wa_state: None,
            last_seen: None,
            owner: None,
            error: None,
            running: start,
            restarts: 0,
            site_version: None,
            healthy_site_version: None,
        };
        inner.sessions.insert(id.into(), Session { info: info.clone(), answering: true, qr: None });
        Ok(info)
    }

    pub(crate) fn remove_session(&self, id: &str) -> Result<(), SessionError> {
        self.inner.lock().unwrap().sessions.remove(id).map(|_| ()).ok_or_else(|| SessionError::NotFound(id.into()))
    }

    /// Makes the session's page stop answering (`false`) or answer again.
    pub fn set_answering(&self, id: &str, answering: bool) {
        if let Some(s) = self.inner.lock().unwrap().sessions.get_mut(id) {
            s.answering = answering;
        }
    }

    /// The site version the page runs now, and the one when the session was last ready.
    pub fn set_site_versions(&self, id: &str, now: Option<&str>, healthy: Option<&str>) {
        if let Some(s) = self.inner.lock().unwrap().sessions.get_mut(id) {
            s.info.site_version = now.map(str::to_string);
            s.info.healthy_site_version = healthy.map(str::to_string);
        }
    }

    /// Whether this host runs the session's browser (what `/readyz` checks).
    pub fn set_running(&self, id: &str, running: bool) {
        if let Some(s) = self.inner.lock().unwrap().sessions.get_mut(id) {
            s.info.running = running;
        }
    }

    pub fn set_wa_state(&self, id: &str, state: &str) {
        if let Some(s) = self.inner.lock().unwrap().sessions.get_mut(id) {
            s.info.wa_state = Some(state.into());
        }
    }

    pub fn sent(&self) -> Vec<SentText> {
        self.inner.lock().unwrap().sent.clone()
    }

    /// Every `restart`, `mark`, `activity` and `backup`, in order.
    pub fn actions(&self) -> Vec<Action> {
        self.inner.lock().unwrap().actions.clone()
    }

    /// The actions of one kind (`restart`, `mark`, `activity`, `backup`).
    pub fn actions_of(&self, what: &str) -> Vec<Action> {
        self.actions().into_iter().filter(|a| a.what == what).collect()
    }

    fn act(&self, id: &str, what: &str, detail: String) {
        let at = self.clock.now();
        self.inner.lock().unwrap().actions.push(Action { session: id.into(), what: what.into(), detail, at });
    }

    pub fn info(&self, id: &str) -> Option<SessionInfo> {
        self.inner.lock().unwrap().sessions.get(id).map(|s| s.info.clone())
    }

    fn with<T>(&self, id: &str, f: impl FnOnce(&mut Session, &mut Vec<SentText>) -> T) -> Result<T, SessionError> {
        let mut inner = self.inner.lock().unwrap();
        let Inner { sessions, sent, .. } = &mut *inner;
        let s = sessions.get_mut(id).ok_or_else(|| SessionError::NotFound(id.into()))?;
        Ok(f(s, sent))
    }

    fn answering(&self, id: &str, what: &str, timeout: Duration) -> Result<(), SessionError> {
        if self.with(id, |s, _| s.answering)? {
            Ok(())
        } else {
            Err(SessionError::Timeout { id: id.into(), what: what.into(), after: timeout })
        }
    }
}

#[async_trait]
impl Sessions for MemorySessions {
    async fn list(&self) -> Result<Vec<SessionInfo>, SessionError> {
        Ok(self.inner.lock().unwrap().sessions.values().map(|s| s.info.clone()).collect())
    }

    async fn state(&self, id: &SessionId, timeout: Duration) -> Result<String, SessionError> {
        self.answering(id, "state", timeout)?;
        self.with(id, |s, _| s.info.wa_state.clone().unwrap_or_default())
    }

    async fn ping(&self, id: &SessionId, timeout: Duration) -> Result<Duration, SessionError> {
        self.answering(id, "ping", timeout)?;
        Ok(Duration::from_millis(1))
    }

    async fn send_text(&self, id: &SessionId, to: &str, text: &str, key: Option<&str>) -> Result<String, SessionError> {
        let wid = phone::to_wid(to)?;
        self.answering(id, "send_text", Duration::from_secs(30))?;
        if let Some(k) = key {
            if let Some(existing) = self.inner.lock().unwrap().keys.get(k) {
                return Ok(existing.clone());
            }
        }
        let msg_id = self.with(id, |s, sent| {
            if s.info.status != SessionStatus::Ready {
                return Err(SessionError::NotReady { id: id.into(), status: s.info.status, what: "send_text".into() });
            }
            let msg_id = format!("mem-{}", sent.len() + 1);
            sent.push(SentText {
                session: id.into(),
                to: wid,
                text: text.into(),
                id: msg_id.clone(),
                at: self.clock.now(),
            });
            Ok(msg_id)
        })??;
        if let Some(k) = key {
            self.inner.lock().unwrap().keys.insert(k.into(), msg_id.clone());
        }
        Ok(msg_id)
    }

    async fn pairing_code(&self, id: &SessionId, phone: &str) -> Result<String, SessionError> {
        let wid = phone::person_wid(phone)?;
        self.with(id, |_, _| ())?;
        self.act(id, "pairing_code", wid);
        Ok("MEMO1234".into())
    }

    async fn activity(&self, id: &SessionId) -> Result<(), SessionError> {
        self.with(id, |_, _| ())?;
        self.act(id, "activity", String::new());
        Ok(())
    }

    async fn restart(&self, id: &SessionId, reason: &str) -> Result<(), SessionError> {
        self.with(id, |s, _| {
            s.answering = true;
            s.info.status = SessionStatus::Ready;
        })?;
        self.act(id, "restart", reason.into());
        Ok(())
    }

    async fn mark(&self, id: &SessionId, status: SessionStatus, reason: &str) -> Result<(), SessionError> {
        self.with(id, |s, _| {
            s.info.status = status;
            s.info.error = (!reason.is_empty()).then(|| reason.to_string());
        })?;
        self.act(id, "mark", format!("{status}: {reason}"));
        Ok(())
    }

    async fn touch(&self, id: &SessionId) -> Result<(), SessionError> {
        let now = self.clock.now();
        self.with(id, |s, _| s.info.last_seen = Some(now))
    }

    async fn remove_orphan_folders(&self, min_age: Duration) -> Result<Option<super::orphans::Swept>, SessionError> {
        let (dir, known) = {
            let inner = self.inner.lock().unwrap();
            let Some(dir) = inner.folders.clone() else { return Ok(None) };
            (dir, inner.sessions.keys().cloned().collect())
        };
        super::orphans::sweep(&dir, known, min_age).await.map(Some)
    }

    fn resources(&self, id: &SessionId) -> Option<super::Resources> {
        self.inner.lock().unwrap().resources.get(id.as_str()).cloned()
    }

    async fn backup(&self, id: &SessionId) -> Result<String, SessionError> {
        self.with(id, |_, _| ())?;
        let name = format!("{id}-{}", self.actions_of("backup").len() + 1);
        self.act(id, "backup", name.clone());
        Ok(name)
    }
}
