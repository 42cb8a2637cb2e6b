//! Logging out, backing up and restoring: the calls that touch a session's profile files and
//! refuse while another browser uses them.

use super::*;

impl SessionManager {
    /// Refuses when a Chromium this manager does not run uses the session's profile (another
    /// vigil host, most likely).
    pub(super) fn refuse_if_in_use(&self, id: &SessionId, what: &str) -> Result<(), SessionError> {
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
    pub async fn logout(&self, id: &SessionId) -> Result<(), SessionError> {
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
            // An error here still ends below: the record is unlinked and a browser started for
            // this is stopped.
            let out = self.eval(id, &page, "logout in the page", JS_LOGOUT, Duration::from_secs(15)).await;
            if out.is_ok() {
                while cell.status() != SessionStatus::LoggedOut && Instant::now() < deadline {
                    let _ = tokio::time::timeout(Duration::from_millis(200), events.recv()).await;
                }
            }
            out.map(|_| ())
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
    pub async fn backup(&self, id: &SessionId) -> Result<BackupInfo, SessionError> {
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
                    tracing::warn!(session = %id, "cannot freeze the page for the backup ({e}): copying until quiet");
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
                    tracing::error!(session = %id, "cannot thaw the page after the backup: {e}");
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
        tracing::info!(session = %id, backup = %info.name, bytes = info.bytes, held_ms, "backup written");
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
    pub fn backups(&self, id: &SessionId) -> Result<Vec<BackupInfo>, SessionError> {
        Ok(backup::list(&self.cell(id)?.dir))
    }

    /// Restores backup `name` (or the newest) into the session's profile, after checking the
    /// whole archive against its manifest. The session must not be running.
    pub async fn restore(&self, id: &SessionId, name: Option<&str>) -> Result<BackupInfo, SessionError> {
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
}
