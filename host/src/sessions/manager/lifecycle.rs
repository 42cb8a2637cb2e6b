//! The calls on every browser at once: re-injecting the bridge, shutting down.

use super::*;

impl SessionManager {
    /// Re-reads the bridge (the file of `sessions.bridge`, or the built-in one) and
    /// re-injects it into every running page, without restarting any browser. Returns how
    /// many pages got it.
    pub async fn reload_bridge(&self) -> Result<usize, SessionError> {
        let bridge =
            Bridge::load(self.inner.settings.bridge.as_deref()).map_err(|e| SessionError::BadInput(e.to_string()))?;
        let source = bridge.source.clone();
        *self.inner.ctx.bridge.write().expect("bridge") = bridge;
        let cells: Vec<Arc<SessionCell>> =
            self.inner.sessions.lock().expect("sessions").values().map(|e| e.cell.clone()).collect();
        let mut done = 0;
        for cell in cells {
            let Some((page, old)) = cell.with(|l| l.page.clone().map(|p| (p, l.script.clone()))) else { continue };
            match tokio::time::timeout(Duration::from_secs(10), Browser::replace_bridge(&page, old, &source)).await {
                Ok(Ok(script)) => {
                    cell.with(|l| l.script = Some(script));
                    done += 1;
                }
                Ok(Err(e)) => tracing::error!(session = %cell.id, "cannot re-inject the bridge: {e}"),
                Err(_) => tracing::error!(session = %cell.id, "cannot re-inject the bridge: the page does not answer"),
            }
        }
        tracing::info!(pages = done, "bridge reloaded");
        self.publish("bridge.reloaded", json!({ "pages": done }));
        Ok(done)
    }

    /// Closes every browser cleanly (in parallel), within `stop_timeout` plus a margin; what
    /// is left is killed.
    pub async fn shutdown(&self) {
        self.inner.ctx.shutdown.cancel();
        let tasks: Vec<(SessionId, JoinHandle<()>)> = self
            .inner
            .sessions
            .lock()
            .expect("sessions")
            .iter_mut()
            .filter_map(|(id, e)| e.run.take().map(|r| (id.clone(), r.task)))
            .collect();
        let within = self.inner.settings.stop_timeout + Duration::from_secs(5);
        let deadline = Instant::now() + within;
        for (id, task) in tasks {
            let abort = task.abort_handle();
            if tokio::time::timeout_at(deadline, task).await.is_err() {
                tracing::error!(session = %id, "the session did not stop within {within:?}: killing its browser");
                abort.abort();
                if let Ok(cell) = self.cell(&id) {
                    if let Some(pid) = cell.with(|l| l.pid.take()) {
                        // SAFETY: plain syscall on the process group we started.
                        unsafe {
                            libc::killpg(pid, libc::SIGKILL);
                        }
                    }
                }
            }
        }
        tokio::task::spawn_blocking(chromium::sweep).await.ok();
    }
}
