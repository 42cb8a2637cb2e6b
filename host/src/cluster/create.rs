//! [`PlacedSessions`]: the HTTP API's sessions in cluster mode. A session created through any
//! host's API is not started where it was created (that host may hold no lease for it): its
//! record is written, then it is placed on the least-loaded host with room (see `spread`),
//! whose browser starts it under a lease. Everything else goes to the session manager as in
//! single-host mode.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::Cluster;
use crate::sessions::{
    BackupInfo, Resources, SessionControl, SessionError, SessionId, SessionInfo, SessionStatus, Sessions,
};

/// The session manager, with creation placed by the cluster.
pub struct PlacedSessions {
    inner: Arc<dyn SessionControl>,
    cluster: Cluster,
}

impl PlacedSessions {
    pub fn new(inner: Arc<dyn SessionControl>, cluster: Cluster) -> PlacedSessions {
        PlacedSessions { inner, cluster }
    }
}

#[async_trait]
impl Sessions for PlacedSessions {
    async fn list(&self) -> Result<Vec<SessionInfo>, SessionError> {
        self.inner.list().await
    }
    async fn state(&self, id: &SessionId, timeout: Duration) -> Result<String, SessionError> {
        self.inner.state(id, timeout).await
    }
    async fn ping(&self, id: &SessionId, timeout: Duration) -> Result<Duration, SessionError> {
        self.inner.ping(id, timeout).await
    }
    async fn send_text(&self, id: &SessionId, to: &str, text: &str, key: Option<&str>) -> Result<String, SessionError> {
        self.inner.send_text(id, to, text, key).await
    }
    async fn activity(&self, id: &SessionId) -> Result<(), SessionError> {
        self.inner.activity(id).await
    }
    async fn restart(&self, id: &SessionId, reason: &str) -> Result<(), SessionError> {
        self.inner.restart(id, reason).await
    }
    async fn mark(&self, id: &SessionId, status: SessionStatus, reason: &str) -> Result<(), SessionError> {
        self.inner.mark(id, status, reason).await
    }
    async fn touch(&self, id: &SessionId) -> Result<(), SessionError> {
        self.inner.touch(id).await
    }
    async fn backup(&self, id: &SessionId) -> Result<String, SessionError> {
        self.inner.backup(id).await
    }
    async fn remove_orphan_folders(
        &self,
        min_age: Duration,
    ) -> Result<Option<crate::sessions::orphans::Swept>, SessionError> {
        self.inner.remove_orphan_folders(min_age).await
    }
    async fn pairing_code(&self, id: &SessionId, phone: &str) -> Result<String, SessionError> {
        self.inner.pairing_code(id, phone).await
    }
    fn resources(&self, id: &SessionId) -> Option<Resources> {
        self.inner.resources(id)
    }
}

#[async_trait]
impl SessionControl for PlacedSessions {
    fn get(&self, id: &SessionId) -> Result<SessionInfo, SessionError> {
        self.inner.get(id)
    }
    fn qr(&self, id: &SessionId) -> Result<Option<String>, SessionError> {
        self.inner.qr(id)
    }
    fn pairing_code_shown(&self, id: &SessionId) -> Option<String> {
        self.inner.pairing_code_shown(id)
    }
    /// Writes the record (not started here), then places it: claimed now when this host is
    /// the least-loaded, else by that host within a third of the TTL. `start = false`
    /// leaves it to the cluster as well: in cluster mode every session runs somewhere.
    async fn create(&self, id: &SessionId, label: Option<&str>, _start: bool) -> Result<SessionInfo, SessionError> {
        let info = self.inner.create(id, label, false).await?;
        match self.cluster.place_new(id).await {
            Ok(Some(node)) => tracing::info!(session = %id, node, "new session placed on this host"),
            Ok(None) => tracing::info!(session = %id, "new session left to the least-loaded host"),
            Err(e) => tracing::warn!(session = %id, "new session not placed now (the next round will): {e}"),
        }
        Ok(info)
    }
    async fn remove(&self, id: &SessionId) -> Result<(), SessionError> {
        self.inner.remove(id).await
    }
    async fn logout(&self, id: &SessionId) -> Result<(), SessionError> {
        self.inner.logout(id).await
    }
    async fn backup_now(&self, id: &SessionId) -> Result<BackupInfo, SessionError> {
        self.inner.backup_now(id).await
    }
    fn backups(&self, id: &SessionId) -> Result<Vec<BackupInfo>, SessionError> {
        self.inner.backups(id)
    }
    async fn restore(&self, id: &SessionId, name: Option<&str>) -> Result<BackupInfo, SessionError> {
        self.inner.restore(id, name).await
    }
}
