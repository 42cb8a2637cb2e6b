//! What the cluster needs of the session manager: start and stop one session, kill one at
//! once, refresh a record from the store, back a profile up.

use std::path::PathBuf;

use async_trait::async_trait;

use crate::sessions::{BackupInfo, SessionError, SessionRecord, SessionStatus};

/// The session manager as the cluster drives it (implemented by
/// [`SessionManager`](crate::sessions::SessionManager)).
#[async_trait]
pub trait SessionRunner: Send + Sync + 'static {
    /// Makes `record` (just read from the store) the session's record here, adding the
    /// session when this host did not know it. Refused while its browser runs.
    async fn adopt(&self, record: SessionRecord) -> Result<(), SessionError>;
    /// Starts the session's browser (returns at once).
    fn start(&self, id: &str) -> Result<(), SessionError>;
    /// Closes the session's browser cleanly (its profile is flushed).
    async fn stop(&self, id: &str) -> Result<(), SessionError>;
    /// Kills the session's browser now and ends its supervisor, writing nothing.
    fn kill(&self, id: &str);
    /// `data_dir/sessions/<id>`.
    fn session_dir(&self, id: &str) -> PathBuf;
    /// Backs the profile up (the backups' format: tar + zstd, sha256 manifest).
    async fn archive(&self, id: &str) -> Result<BackupInfo, SessionError>;
    /// The session's status here, if this host knows it.
    fn status(&self, id: &str) -> Option<SessionStatus>;
    /// Records `send_text`'s idempotency keys in `log` too (fenced by the epoch). Default:
    /// ignored.
    fn use_sent_log(&self, _log: std::sync::Arc<dyn crate::sessions::sent_log::SentLog>) {}
}
