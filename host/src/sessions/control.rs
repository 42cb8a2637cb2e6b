//! [`SessionControl`]: what the HTTP API does to sessions beyond the host API's
//! [`Sessions`] — create, remove, read the QR, log out, back up and restore — so the API runs
//! the same over the [`SessionManager`] (real browsers) and [`MemorySessions`] (tests, the
//! API bench).

use async_trait::async_trait;

use super::backup::BackupInfo;
use super::memory::MemorySessions;
use super::{SessionError, SessionId, SessionInfo, SessionManager, Sessions};

/// Session management for the HTTP API. The ids are parsed where they come in ([`SessionId`]).
#[async_trait]
pub trait SessionControl: Sessions {
    /// One session.
    fn get(&self, id: &SessionId) -> Result<SessionInfo, SessionError>;
    /// The QR the session's page shows now (`None` when it is not waiting for a scan).
    fn qr(&self, id: &SessionId) -> Result<Option<String>, SessionError>;
    /// The pairing code the page shows now (link with phone number), if one was asked for.
    fn pairing_code_shown(&self, _id: &SessionId) -> Option<String> {
        None
    }
    /// Adds a session (`stopped`), and starts it when `start`. [`SessionError::Exists`] when
    /// the id is taken.
    async fn create(&self, id: &SessionId, label: Option<&str>, start: bool) -> Result<SessionInfo, SessionError>;
    /// Stops the session and deletes it with its profile and backups.
    async fn remove(&self, id: &SessionId) -> Result<(), SessionError>;
    /// Logs the session out of WhatsApp (the phone loses this linked device).
    async fn logout(&self, id: &SessionId) -> Result<(), SessionError>;
    /// Backs up the session's profile now.
    async fn backup_now(&self, id: &SessionId) -> Result<BackupInfo, SessionError>;
    /// The session's backups, oldest first.
    fn backups(&self, id: &SessionId) -> Result<Vec<BackupInfo>, SessionError>;
    /// Restores backup `name` (the newest when `None`); the session must not be running.
    async fn restore(&self, id: &SessionId, name: Option<&str>) -> Result<BackupInfo, SessionError>;
}

#[async_trait]
impl SessionControl for SessionManager {
    fn get(&self, id: &SessionId) -> Result<SessionInfo, SessionError> {
        self.info(id)
    }

    fn qr(&self, id: &SessionId) -> Result<Option<String>, SessionError> {
        self.info(id)?;
        Ok(SessionManager::qr(self, id))
    }

    fn pairing_code_shown(&self, id: &SessionId) -> Option<String> {
        SessionManager::pairing_code_shown(self, id)
    }

    async fn create(&self, id: &SessionId, label: Option<&str>, start: bool) -> Result<SessionInfo, SessionError> {
        let info = self.add(id, label).await?;
        if start {
            // The supervisor takes it from here; the answer already says it is on its way.
            self.mark(id, super::SessionStatus::Starting, "").await?;
            self.start(id)?;
            return self.info(id);
        }
        Ok(info)
    }

    async fn remove(&self, id: &SessionId) -> Result<(), SessionError> {
        SessionManager::remove(self, id).await
    }

    async fn logout(&self, id: &SessionId) -> Result<(), SessionError> {
        SessionManager::logout(self, id).await
    }

    async fn backup_now(&self, id: &SessionId) -> Result<BackupInfo, SessionError> {
        SessionManager::backup(self, id).await
    }

    fn backups(&self, id: &SessionId) -> Result<Vec<BackupInfo>, SessionError> {
        SessionManager::backups(self, id)
    }

    async fn restore(&self, id: &SessionId, name: Option<&str>) -> Result<BackupInfo, SessionError> {
        SessionManager::restore_live(self, id, name).await
    }
}

#[async_trait]
impl SessionControl for MemorySessions {
    fn get(&self, id: &SessionId) -> Result<SessionInfo, SessionError> {
        self.info(id).ok_or_else(|| SessionError::NotFound(id.into()))
    }

    fn qr(&self, id: &SessionId) -> Result<Option<String>, SessionError> {
        SessionControl::get(self, id)?;
        Ok(self.qr_of(id))
    }

    async fn create(&self, id: &SessionId, label: Option<&str>, start: bool) -> Result<SessionInfo, SessionError> {
        self.create_session(id, label, start)
    }

    async fn remove(&self, id: &SessionId) -> Result<(), SessionError> {
        self.remove_session(id)
    }

    async fn logout(&self, id: &SessionId) -> Result<(), SessionError> {
        self.mark(id, super::SessionStatus::LoggedOut, "logged out by vigil").await
    }

    async fn backup_now(&self, id: &SessionId) -> Result<BackupInfo, SessionError> {
        let name = Sessions::backup(self, id).await?;
        Ok(BackupInfo { path: format!("memory/{id}/{name}").into(), name, bytes: 0, files: Some(0) })
    }

    fn backups(&self, id: &SessionId) -> Result<Vec<BackupInfo>, SessionError> {
        SessionControl::get(self, id)?;
        Ok(self
            .actions_of("backup")
            .into_iter()
            .filter(|a| a.session == id.as_str())
            .map(|a| BackupInfo {
                path: format!("memory/{id}/{}", a.detail).into(),
                name: a.detail,
                bytes: 0,
                files: None,
            })
            .collect())
    }

    async fn restore(&self, id: &SessionId, name: Option<&str>) -> Result<BackupInfo, SessionError> {
        let all = SessionControl::backups(self, id)?;
        let found = match name {
            Some(n) => all.into_iter().find(|b| b.name == n),
            None => all.into_iter().last(),
        };
        found.ok_or_else(|| {
            SessionError::NoBackup(match name {
                Some(n) => {
                    format!("session `{id}` has no backup `{n}` (list them with GET /api/sessions/{id}/backups)")
                }
                None => {
                    format!("session `{id}` has no backup to restore (make one with POST /api/sessions/{id}/backup)")
                }
            })
        })
    }
}
