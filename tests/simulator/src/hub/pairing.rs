//! Linking: the rotating QR, scans, pairing codes, the ADV secret.

use super::*;

impl Hub {
    pub(super) fn new_qr(&self, inner: &mut Inner, entry: &mut PageEntry) -> (String, u64) {
        let refs: Vec<String> = (0..self.qr_refs).map(|_| new_ref()).collect();
        let generation = inner.next_sequence();
        let shown = inner.next_sequence();
        let first = refs[0].clone();
        entry.qr = Some(QrSession { refs, current: 0, idle: false, generation, shown });
        (first, generation)
    }

    pub(super) fn spawn_rotation(self: &Arc<Self>, page: String, generation: u64) {
        let hub = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(hub.qr_interval).await;
                if !hub.rotate(&page, generation) {
                    return;
                }
            }
        });
    }

    /// One tick of a QR session: the next ref, or idle after the last. False = stop ticking.
    fn rotate(&self, page: &str, generation: u64) -> bool {
        let mut inner = self.lock();
        let shown = inner.next_sequence();
        let Some(entry) = inner.pages.get_mut(page) else {
            return false;
        };
        let Some(qr) = entry.qr.as_mut().filter(|q| q.generation == generation) else {
            return false;
        };
        if qr.current + 1 < qr.refs.len() {
            qr.current += 1;
            qr.shown = shown;
            let reference = qr.refs[qr.current].clone();
            entry.push(page, Push::Ref { reference });
            true
        } else {
            qr.idle = true;
            entry.push(page, Push::Idle);
            false
        }
    }

    /// The page's `Cmd.refreshQR()`: a new QR session (after `UNPAIRED_IDLE` or a phone logout).
    pub(crate) fn refresh_qr(self: &Arc<Self>, page: &str) -> Result<String, HubError> {
        let mut inner = self.lock();
        let mut entry = inner.pages.remove(page).ok_or_else(|| HubError::NotFound(format!("no page {page}")))?;
        if entry.me.is_some() {
            inner.pages.insert(page.to_owned(), entry);
            return Err(HubError::Conflict(format!("page {page} is linked")));
        }
        let (reference, generation) = self.new_qr(&mut inner, &mut entry);
        inner.pages.insert(page.to_owned(), entry);
        self.spawn_rotation(page.to_owned(), generation);
        Ok(reference)
    }

    /// The phone scans a QR: link the page showing it as `me`.
    pub(crate) fn scan(&self, qr: Option<&str>, me: Option<&str>) -> Result<ScanResponse, HubError> {
        let me = normalize_me(me.unwrap_or(DEFAULT_ME))?;
        let mut inner = self.lock();
        let page = match qr {
            Some(text) => {
                let text = text.trim();
                let showing = inner.pages.iter().find(|(_, p)| p.shown_qr().as_deref() == Some(text));
                match showing {
                    Some((id, _)) => id.clone(),
                    None => {
                        let known = inner.pages.values().any(|p| p.ever_showed(text));
                        return Err(if known {
                            HubError::Conflict("that QR code has expired".into())
                        } else {
                            HubError::NotFound("no page shows that QR code".into())
                        });
                    }
                }
            }
            None => inner
                .pages
                .iter()
                .filter(|(_, p)| p.me.is_none())
                .filter_map(|(id, p)| p.qr.as_ref().filter(|q| !q.idle).map(|q| (q.shown, id)))
                .max()
                .map(|(_, id)| id.clone())
                .ok_or_else(|| HubError::NotFound("no page shows a QR code".into()))?,
        };
        tracing::info!(page = %page, me = %me, "QR scanned");
        Ok(link(&mut inner, page, me))
    }

    /// The page asks for a pairing code for `phone` (`startAltLinkingFlow`): a new 8-character
    /// code, valid for the configured time; the page's previous code stops being valid.
    pub(crate) fn pairing_code(&self, page: &str, phone: &str) -> Result<String, HubError> {
        let me = normalize_me(phone)?;
        let mut inner = self.lock();
        let entry = inner.pages.get_mut(page).ok_or_else(|| HubError::NotFound(format!("no page {page}")))?;
        if entry.me.is_some() {
            return Err(HubError::Conflict(format!("page {page} is linked")));
        }
        let code = new_pairing_code();
        let previous = entry
            .pairing
            .take()
            .map(|p| {
                let mut v = p.previous;
                v.push(p.code);
                v
            })
            .unwrap_or_default();
        entry.pairing = Some(Pairing {
            code: code.clone(),
            me: me.clone(),
            expires: Instant::now() + self.pairing_code_ttl,
            previous,
        });
        tracing::info!(page, me = %me, "pairing code issued");
        Ok(code)
    }

    /// The phone enters a pairing code: link the page showing it as the number it was asked for.
    pub(crate) fn enter_code(&self, code: &str) -> Result<ScanResponse, HubError> {
        let wanted: String = code.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_uppercase();
        if wanted.len() != 8 {
            return Err(HubError::BadRequest(format!("a pairing code has 8 letters or digits, not {code:?}")));
        }
        let mut inner = self.lock();
        let now = Instant::now();
        let found = inner.pages.iter().find_map(|(id, p)| {
            let pairing = p.pairing.as_ref().filter(|_| p.me.is_none())?;
            if pairing.code == wanted {
                Some(Ok((id.clone(), pairing.me.clone(), pairing.expires)))
            } else if pairing.previous.contains(&wanted) {
                Some(Err(HubError::Conflict("that pairing code has been replaced by a newer one".into())))
            } else {
                None
            }
        });
        let (page, me) = match found {
            None => return Err(HubError::NotFound("no page shows that pairing code".into())),
            Some(Err(e)) => return Err(e),
            Some(Ok((_, _, expires))) if expires <= now => {
                return Err(HubError::Conflict("that pairing code has expired".into()))
            }
            Some(Ok((page, me, _))) => (page, me),
        };
        tracing::info!(page = %page, me = %me, "pairing code entered");
        Ok(link(&mut inner, page, me))
    }

    /// The page's new ADV secret (after [`Push::RotateAdv`]): later QR texts carry it.
    pub(crate) fn set_adv(&self, page: &str, adv: String) {
        if let Some(entry) = self.lock().pages.get_mut(page) {
            entry.keys.adv = adv;
        }
    }

    /// The ADV secret of every page on the QR screen changes; answers how many pages.
    pub(crate) fn rotate_adv(&self) -> Affected {
        let inner = self.lock();
        let mut pages = 0;
        for (id, entry) in inner.pages.iter().filter(|(_, p)| p.me.is_none()) {
            entry.push(id, Push::RotateAdv);
            pages += 1;
        }
        Affected { pages, revoked: 0 }
    }
}

/// Links `page` as `me` with a new device token (after a scan or an entered pairing code).
fn link(inner: &mut Inner, page: String, me: String) -> ScanResponse {
    let token = new_token();
    inner.tokens.insert(token.clone(), Device { me: me.clone() });
    let queued = inner.queued.remove(&me).unwrap_or_default();
    let entry = inner.pages.get_mut(&page).expect("the caller found the page");
    entry.qr = None;
    entry.pairing = None;
    entry.me = Some(me.clone());
    entry.token = Some(token.clone());
    entry.push(&page, Push::Paired { me: me.clone(), token });
    for event in queued {
        entry.push(&page, event);
    }
    inner.opened(&page, &me);
    ScanResponse { page, me }
}

/// An 8-character pairing code from the alphabet the real site uses (no 0, O, I, U).
fn new_pairing_code() -> String {
    const ALPHABET: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTVWXYZ";
    random::<8>().iter().map(|b| ALPHABET[(*b as usize) % ALPHABET.len()] as char).collect()
}
