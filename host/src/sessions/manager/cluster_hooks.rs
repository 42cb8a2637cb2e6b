//! The session manager as the cluster drives it ([`SessionRunner`]): a session runs here only
//! while this host holds its lease, so the cluster starts, stops and kills single sessions and
//! refreshes their records from the store before a takeover.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;

use super::{Entry, SessionManager};
use crate::cluster::SessionRunner;
use crate::sessions::backup::BackupInfo;
use crate::sessions::cell::SessionCell;
use crate::sessions::{SessionError, SessionId, SessionRecord, SessionStatus};

#[async_trait]
impl SessionRunner for SessionManager {
    async fn adopt(&self, record: SessionRecord) -> Result<(), SessionError> {
        let id = record.id.clone();
        let dir = self.inner.settings.session_dir(&id);
        std::fs::create_dir_all(dir.join("profile")).map_err(|e| SessionError::Failed {
            id: id.to_string(),
            message: format!("cannot create {}: {e}", dir.display()),
        })?;
        let mut sessions = self.inner.sessions.lock().expect("sessions");
        match sessions.get(&id) {
            Some(e) if e.live().is_some() => {
                Err(SessionError::Conflict { id: id.to_string(), message: "its browser runs here already".into() })
            }
            Some(e) => {
                e.cell.with(|l| l.record = record);
                Ok(())
            }
            None => {
                let cell = SessionCell::new(
                    record,
                    dir,
                    self.inner.records.clone(),
                    self.inner.bus.clone(),
                    self.inner.clock.clone(),
                );
                sessions.insert(id, Entry { cell: Arc::new(cell), run: None });
                Ok(())
            }
        }
    }

    // The cluster's ids come from its lease rows: parsed here, where they enter.
    fn start(&self, id: &str) -> Result<(), SessionError> {
        SessionManager::start(self, &SessionId::parse(id)?)
    }

    async fn stop(&self, id: &str) -> Result<(), SessionError> {
        SessionManager::stop(self, &SessionId::parse(id)?).await
    }

    fn kill(&self, id: &str) {
        let (run, cell) = {
            let mut sessions = self.inner.sessions.lock().expect("sessions");
            match sessions.get_mut(id) {
                Some(e) => (e.run.take(), e.cell.clone()),
                None => return,
            }
        };
        // The supervisor ends at its next await, before it can write anything more.
        if let Some(r) = run {
            r.task.abort();
        }
        let pid = cell.with(|l| {
            l.running = false;
            l.page = None;
            l.qr = None;
            l.pid.take()
        });
        if let Some(pid) = pid {
            // SAFETY: plain syscall on the process group we started.
            unsafe {
                libc::killpg(pid, libc::SIGKILL);
            }
        }
    }

    fn session_dir(&self, id: &str) -> PathBuf {
        self.inner.settings.session_dir(id)
    }

    async fn archive(&self, id: &str) -> Result<BackupInfo, SessionError> {
        SessionManager::backup(self, &SessionId::parse(id)?).await
    }

    fn status(&self, id: &str) -> Option<SessionStatus> {
        self.cell(id).ok().map(|c| c.status())
    }

    fn use_sent_log(&self, log: Arc<dyn crate::sessions::sent_log::SentLog>) {
        self.inner.sent.set_durable(log);
    }
}
