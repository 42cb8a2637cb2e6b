//! Messages: sends from a page, incoming messages for an account, the record of both.

use super::*;

impl Hub {
    /// A message sent by the page's client. Returns the server time (ack 1).
    pub(crate) fn send(
        self: &Arc<Self>,
        page: &str,
        id: String,
        to: String,
        body: String,
        link_preview: Option<String>,
    ) -> Result<i64, HubError> {
        let mut inner = self.lock();
        let entry = inner.pages.get(page).ok_or_else(|| HubError::NotFound(format!("no page {page}")))?;
        let me = entry.me.clone().ok_or_else(|| HubError::Conflict(format!("page {page} is not linked")))?;
        let t = unix_now();
        if self.fault.borrow().kind == FaultKind::DropSends {
            tracing::info!(page, id = %id, "send dropped (fault drop-sends)");
            return Ok(t);
        }
        let to = normalize_wid(&to);
        tracing::info!(page, id = %id, from = %me, to = %to, "message sent");
        inner.messages.push(Message { id: id.clone(), from: format!("{me}@c.us"), to, body, t, link_preview });
        drop(inner);
        let hub = Arc::clone(self);
        let page = page.to_owned();
        tokio::spawn(async move {
            tokio::time::sleep(hub.ack_delay).await;
            if let Some(entry) = hub.lock().pages.get(&page) {
                entry.push(&page, Push::Ack { id, ack: 2 });
            }
        });
        Ok(t)
    }

    pub(crate) fn messages(&self) -> Vec<Message> {
        self.lock().messages.clone()
    }

    /// A contact writes to an account.
    pub(crate) fn incoming(&self, request: IncomingRequest) -> Result<IncomingResponse, HubError> {
        let from = normalize_wid(&request.from);
        if !valid_wid(&from) {
            return Err(HubError::BadRequest(format!("bad sender wid {:?}", request.from)));
        }
        let to = request.to.as_deref().map(normalize_me).transpose()?;
        let id = new_message_id();
        let event = Push::Incoming {
            id: id.clone(),
            from,
            body: request.body,
            t: unix_now(),
            ciphertext_ms: request.ciphertext_ms,
        };
        let mut inner = self.lock();
        let mut delivered = 0;
        for (page, entry) in inner.linked_pages(to.as_deref()) {
            entry.push(page, event.clone());
            delivered += 1;
        }
        let queued = delivered == 0;
        match (&to, queued) {
            (Some(me), true) => inner.queued.entry(me.clone()).or_default().push(event),
            (None, true) => {
                return Err(HubError::Conflict("no linked page to deliver to".into()));
            }
            _ => {}
        }
        Ok(IncomingResponse { id, delivered, queued })
    }
}
