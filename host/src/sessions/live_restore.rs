//! Restoring a backup into a session this host runs (`POST /api/sessions/{id}/restore` on the
//! running host, the dashboard's restore button): the archive is verified first, so a corrupt
//! one is refused with the session still running and nothing changed; then the session is
//! stopped (its browser closed cleanly), the verified backup installed, and the session
//! started again — each step a `session.restore` event with its `step`. Only the session's own
//! backups are taken (by name, as `GET /api/sessions/{id}/backups` lists them), never a path.

use serde_json::json;

use super::backup::{self, BackupError, BackupInfo};
use super::{SessionError, SessionId, SessionManager};

impl SessionManager {
    /// Restores backup `name` (the newest when `None`) into session `id`, stopping and
    /// starting it around the install when it runs here.
    pub async fn restore_live(&self, id: &SessionId, name: Option<&str>) -> Result<BackupInfo, SessionError> {
        let info = self.info(id)?;
        let all = self.backups(id)?;
        let chosen = match name {
            None => all.last().cloned(),
            Some(n) => all.iter().find(|b| b.name == n || b.name == format!("{n}.tar.zst")).cloned(),
        };
        let Some(b) = chosen else {
            let names: Vec<&str> = all.iter().map(|b| b.name.as_str()).collect();
            return Err(SessionError::NoBackup(match name {
                None => {
                    format!("session `{id}` has no backup to restore (make one with POST /api/sessions/{id}/backup)")
                }
                Some(n) => format!(
                    "session `{id}` has no backup `{n}`: its backups are [{}] (GET /api/sessions/{id}/backups)",
                    names.join(", ")
                ),
            }));
        };
        let step = |step: &str, extra: serde_json::Value| {
            let mut data = json!({ "session": id, "step": step, "backup": b.name });
            if let (Some(d), Some(e)) = (data.as_object_mut(), extra.as_object()) {
                d.extend(e.clone());
            }
            self.publish("session.restore", data);
        };
        // 1. Verify, touching nothing: a corrupt archive stops here.
        let (path, staging) = (b.path.clone(), self.settings().session_dir(id).join(".restore-check"));
        let verified = tokio::task::spawn_blocking(move || {
            let r = backup::unpack_verified(&path, &staging);
            let _ = std::fs::remove_dir_all(&staging);
            r
        })
        .await
        .map_err(|e| SessionError::Failed { id: id.into(), message: e.to_string() })?;
        let manifest = match verified {
            Ok(m) => m,
            Err(e @ BackupError::Corrupt { .. }) => {
                step("refused", json!({ "error": e.to_string() }));
                return Err(SessionError::BadInput(format!("session `{id}`: {e}")));
            }
            Err(e) => return Err(SessionError::Failed { id: id.into(), message: e.to_string() }),
        };
        step("verified", json!({ "files": manifest.files.len() }));
        // 2. Stop the browser, if it runs here.
        if info.running {
            self.stop(id).await?;
            step("stopped", json!({}));
        }
        // 3. Install; 4. start again, whatever the install came to.
        let restored = self.restore(id, Some(&b.name)).await;
        match &restored {
            Ok(r) => step("restored", json!({ "files": r.files })),
            Err(e) => step("failed", json!({ "error": e.to_string() })),
        }
        if info.running {
            self.start(id)?;
            step("started", json!({}));
        }
        restored
    }
}
