//! The host API's session functions ([`Sessions`]) on top of the manager.

use super::*;

#[async_trait]
impl Sessions for SessionManager {
    async fn pairing_code(&self, id: &SessionId, phone: &str) -> Result<String, SessionError> {
        crate::sessions::pairing::request(self, id, phone, self.inner.settings.pairing_code_renew).await
    }

    async fn list(&self) -> Result<Vec<SessionInfo>, SessionError> {
        Ok(self.inner.sessions.lock().expect("sessions").values().map(|e| e.cell.info()).collect())
    }

    async fn state(&self, id: &SessionId, timeout: Duration) -> Result<String, SessionError> {
        let (_, page) = self.running_page(id, "state")?;
        let v = self.eval(id, &page, "state", JS_STATE, timeout).await?;
        Ok(v.as_str().unwrap_or_default().to_string())
    }

    async fn ping(&self, id: &SessionId, timeout: Duration) -> Result<Duration, SessionError> {
        let (_, page) = self.running_page(id, "ping")?;
        let t0 = Instant::now();
        self.eval(id, &page, "ping", JS_PING, timeout).await?;
        Ok(t0.elapsed())
    }

    async fn send_text(&self, id: &SessionId, to: &str, text: &str, key: Option<&str>) -> Result<String, SessionError> {
        let wid = phone::person_wid(to)?;
        let (cell, page) = self.running_page(id, "send_text")?;
        self.inner
            .sent
            .once(id, key, || async {
                let status = cell.status();
                if status != SessionStatus::Ready {
                    return Err(SessionError::NotReady { id: id.into(), status, what: "send_text".into() });
                }
                let _sending = self.inner.resources.sending(id);
                let limit = self.inner.settings.send_timeout;
                let permit = self.inner.limits.admit(&cell, &wid, limit).await?;
                let js = js_send_text(&wid, text, limit.as_millis());
                let v = self.eval(id, &page, "send_text", &js, limit + Duration::from_secs(2)).await?;
                self.inner.limits.sent(id, &wid, &cell.dir, &permit);
                let msg_id = v
                    .get("id")
                    .and_then(|i| i.as_str())
                    .ok_or_else(|| failed(id, format!("send_text: the page answered {v}")))?
                    .to_string();
                cell.publish("message.sent", json!({ "id": msg_id, "to": wid }));
                Ok(msg_id)
            })
            .await
    }

    async fn activity(&self, id: &SessionId) -> Result<(), SessionError> {
        let (_, page) = self.running_page(id, "activity")?;
        let (x, y) = {
            let mut rng = rand::thread_rng();
            (rng.gen_range(80.0..700.0), rng.gen_range(80.0..500.0))
        };
        let limit = Duration::from_secs(10);
        match tokio::time::timeout(limit, page.move_mouse(Point::new(x, y))).await {
            Err(_) => Err(SessionError::Timeout { id: id.into(), what: "activity".into(), after: limit }),
            Ok(Err(e)) => Err(failed(id, format!("activity: {}", cdp_error(&e)))),
            Ok(Ok(_)) => Ok(()),
        }
    }

    async fn restart(&self, id: &SessionId, reason: &str) -> Result<(), SessionError> {
        let Some(cmds) = self.commands(id)? else {
            return self.start(id);
        };
        let (tx, rx) = oneshot::channel();
        cmds.send(Command::Restart { reason: reason.into(), done: tx })
            .await
            .map_err(|_| failed(id, "the session's supervisor is gone"))?;
        let s = &self.inner.settings;
        let within = s.launch_timeout + s.stop_timeout + Duration::from_secs(10);
        match tokio::time::timeout(within, rx).await {
            Err(_) => Err(SessionError::Timeout { id: id.into(), what: "restart".into(), after: within }),
            Ok(Err(_)) => Ok(()),
            Ok(Ok(r)) => r.map_err(|e| failed(id, format!("restart: {e}"))),
        }
    }

    async fn mark(&self, id: &SessionId, status: SessionStatus, reason: &str) -> Result<(), SessionError> {
        let cell = self.cell(id)?;
        cell.set_status(status, (!reason.is_empty()).then(|| reason.to_string())).await;
        Ok(())
    }

    async fn touch(&self, id: &SessionId) -> Result<(), SessionError> {
        let cell = self.cell(id)?;
        let now = self.inner.clock.now();
        cell.with(|l| l.record.last_seen = Some(now));
        cell.save().await;
        Ok(())
    }

    async fn remove_orphan_folders(
        &self,
        min_age: Duration,
    ) -> Result<Option<crate::sessions::orphans::Swept>, SessionError> {
        // Every session with a record is here, running or not: the folders of no other are orphans.
        let known = self.ids().into_iter().map(SessionId::into_string).collect();
        crate::sessions::orphans::sweep(&self.inner.settings.dir, known, min_age).await.map(Some)
    }

    fn resources(&self, id: &SessionId) -> Option<crate::sessions::Resources> {
        self.inner.resources.get(id)
    }

    async fn backup(&self, id: &SessionId) -> Result<String, SessionError> {
        SessionManager::backup(self, id).await.map(|b| b.name)
    }
}
