//! Faults and the site: held calls, forced states, phone-side logouts, the site version.

use super::*;

impl Hub {
    /// How long a page's hold (hang/slow) lasts: until `ms` elapsed or the fault is no longer
    /// `kind`. Returns the fault in force.
    pub(crate) async fn hold(&self, kind: FaultKind, ms: u64) -> Fault {
        let mut rx = self.fault.subscribe();
        if rx.borrow_and_update().kind == kind {
            let changed = async {
                while rx.changed().await.is_ok() {
                    if rx.borrow_and_update().kind != kind {
                        return;
                    }
                }
                std::future::pending::<()>().await
            };
            let _ = tokio::time::timeout(Duration::from_millis(ms.min(30_000)), changed).await;
        }
        *self.fault.borrow()
    }

    // ---- control API ----

    /// Forces a state on the linked pages (of `me`).
    pub(crate) fn force_state(&self, state: WaState, me: Option<&str>) -> Result<Affected, HubError> {
        let me = me.map(normalize_me).transpose()?;
        let inner = self.lock();
        let mut pages = 0;
        for (page, entry) in inner.linked_pages(me.as_deref()) {
            entry.push(page, Push::State { state });
            pages += 1;
        }
        if pages == 0 {
            return Err(HubError::Conflict("no linked page to force a state on".into()));
        }
        Ok(Affected { pages, revoked: 0 })
    }

    /// The phone unlinks the device(s) of `me` (or every device).
    pub(crate) fn logout_from_phone(&self, me: Option<&str>) -> Result<Affected, HubError> {
        let me = me.map(normalize_me).transpose()?;
        let mut inner = self.lock();
        let before = inner.tokens.len();
        inner.tokens.retain(|_, d| me.as_ref().is_some_and(|m| *m != d.me));
        let revoked = before - inner.tokens.len();
        let mut pages = 0;
        for (page, entry) in inner.pages.iter_mut() {
            let hit = match (&entry.me, &me) {
                (Some(m), Some(want)) => m == want,
                (Some(_), None) => true,
                (None, _) => false,
            };
            if hit {
                entry.me = None;
                entry.token = None;
                entry.push(page, Push::Logout);
                pages += 1;
            }
        }
        tracing::info!(revoked, pages, "logout from the phone");
        Ok(Affected { pages, revoked })
    }

    /// Sets the fault in force and tells every page. A timed hang clears itself.
    pub(crate) fn set_fault(self: &Arc<Self>, kind: FaultKind, ms: Option<u64>) -> Fault {
        let ms = match kind {
            FaultKind::Slow => Some(ms.unwrap_or(2000)),
            FaultKind::Hang => ms,
            _ => None,
        };
        let fault = Fault { kind, ms };
        let mut inner = self.lock();
        inner.fault_generation += 1;
        let generation = inner.fault_generation;
        self.fault.send_replace(fault);
        for (page, entry) in &inner.pages {
            entry.push(page, Push::Fault(fault));
        }
        drop(inner);
        tracing::info!(?kind, ?ms, "fault set");
        if let (FaultKind::Hang, Some(ms)) = (kind, ms) {
            let hub = Arc::clone(self);
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                if hub.lock().fault_generation == generation {
                    hub.set_fault(FaultKind::None, None);
                }
            });
        }
        fault
    }
    /// The site the next page load gets.
    pub(crate) fn site(&self) -> Site {
        self.site.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// `POST /site`: change the site from the next page load on.
    pub(crate) fn set_site(&self, request: &SiteRequest) -> Site {
        let mut site = self.site.lock().unwrap_or_else(|e| e.into_inner());
        site.apply(request);
        tracing::info!(version = %site.version, "site changed (from the next page load)");
        site.clone()
    }
}
