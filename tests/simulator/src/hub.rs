//! The simulator's shared state and its rules: the pages that are open, the accounts linked
//! (device tokens), the QR sessions and their rotation, the messages clients sent, the fault in
//! force, and the events pushed to each page.
//!
//! Both servers call into one [`Hub`]. Every method takes the lock briefly and never holds it
//! across an `.await`; timers (QR rotation, ack 2, the end of a timed hang) are tokio tasks that
//! re-check a generation number when they wake, so a stale timer does nothing.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::api::{
    AccountStatus, Affected, Fault, FaultKind, IncomingRequest, IncomingResponse, Message, PageStatus, ScanResponse,
    Status, WaState,
};
use crate::options::Options;
use crate::site::{Site, SiteRequest};

/// Events a page may not have read yet; a page that falls this far behind loses events.
const PUSH_BUFFER: usize = 256;
/// The account `POST /scan` links when it names none.
pub(crate) const DEFAULT_ME: &str = "34600000001";
/// A page that never opened its event stream is forgotten after this long.
const STREAM_GRACE: Duration = Duration::from_secs(30);
/// A page that has not been heard from for this long (its `/api/alive` beat comes every
/// second) is a dead connection to the server: when its account opens in another page it is
/// dropped (its event stream closes), not counted as an overlap.
const SILENT: Duration = Duration::from_secs(4);

/// Errors of the hub's operations; the control API turns them into status codes.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum HubError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
}

/// An event pushed to one page over its event stream.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Push {
    /// The next QR ref.
    Ref {
        #[serde(rename = "ref")]
        reference: String,
    },
    /// The last ref expired: `UNPAIRED_IDLE`.
    Idle,
    /// The phone scanned this page's QR.
    Paired { me: String, token: String },
    /// A message from a contact.
    Incoming {
        id: String,
        from: String,
        body: String,
        t: i64,
        #[serde(skip_serializing_if = "Option::is_none")]
        ciphertext_ms: Option<u64>,
    },
    /// A sent message's ack changed.
    Ack { id: String, ack: i32 },
    /// A state forced by the control API.
    State { state: WaState },
    /// The phone unlinked this device.
    Logout,
    /// The fault in force changed.
    Fault(Fault),
    /// The ADV secret changes while the QR shows (the page tells the server its new key).
    RotateAdv,
}

/// The public keys a page puts in its QR (base64), sent when it says hello.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub(crate) struct QrKeys {
    pub noise: String,
    pub identity: String,
    pub adv: String,
    pub platform: String,
}

/// What a page sends when it loads.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Hello {
    pub browser_id: String,
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub me: Option<String>,
    #[serde(default)]
    pub post_logout: bool,
    pub keys: QrKeys,
    /// `window.Debug.VERSION` of this load.
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub user_agent: String,
    #[serde(default)]
    pub webdriver: bool,
}

/// The answer to a page's hello.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Welcome {
    pub page: String,
    /// `"restore"` (the stored token is valid) or `"qr"`.
    pub mode: &'static str,
    pub me: Option<String>,
    #[serde(rename = "ref")]
    pub reference: Option<String>,
    /// The page had a token that is no longer valid: it must wipe its storage.
    pub revoked: bool,
    pub sync_delay_ms: u64,
    pub fault: Fault,
}

struct QrSession {
    refs: Vec<String>,
    current: usize,
    idle: bool,
    generation: u64,
    /// When the current ref started showing, to find the newest QR.
    shown: u64,
}

impl QrSession {
    fn text(&self, keys: &QrKeys, index: usize) -> String {
        format!("{},{},{},{},{}", self.refs[index], keys.noise, keys.identity, keys.adv, keys.platform)
    }
}

/// A pairing code a page shows (link with phone number).
struct Pairing {
    code: String,
    /// The account the code links (the phone number the client gave).
    me: String,
    expires: Instant,
    /// Codes this page showed before (refused as expired).
    previous: Vec<String>,
}

struct PageEntry {
    browser_id: String,
    version: String,
    user_agent: String,
    webdriver: bool,
    pairing: Option<Pairing>,
    /// The public keys of this page load, the same in every QR it shows.
    keys: QrKeys,
    state: String,
    has_synced: bool,
    me: Option<String>,
    token: Option<String>,
    qr: Option<QrSession>,
    tx: mpsc::Sender<Push>,
    rx: Option<mpsc::Receiver<Push>>,
    created: Instant,
    /// The last time the page was heard from (hello, a beat, a state report).
    alive: Instant,
}

impl PageEntry {
    fn push(&self, id: &str, event: Push) {
        if let Err(e) = self.tx.try_send(event) {
            tracing::warn!(page = id, error = %e, "page event dropped");
        }
    }

    /// The QR text this page shows, if it shows one.
    fn shown_qr(&self) -> Option<String> {
        let qr = self.qr.as_ref().filter(|q| !q.idle && self.me.is_none())?;
        Some(qr.text(&self.keys, qr.current))
    }

    /// Whether `text` is one of this page's QRs, current or expired.
    fn ever_showed(&self, text: &str) -> bool {
        self.qr.as_ref().is_some_and(|q| (0..q.refs.len()).any(|i| q.text(&self.keys, i) == text))
    }

    fn visible(&self) -> bool {
        self.rx.is_none() || self.created.elapsed() < STREAM_GRACE
    }
}

struct Device {
    me: String,
}

#[derive(Default)]
struct Inner {
    next_page: u64,
    sequence: u64,
    pages: HashMap<String, PageEntry>,
    tokens: HashMap<String, Device>,
    messages: Vec<Message>,
    required: BTreeSet<String>,
    unknown: BTreeSet<String>,
    queued: HashMap<String, Vec<Push>>,
    fault_generation: u64,
    /// Times an account opened in a page while another live page had it open.
    overlaps: u64,
    /// Silent pages dropped because their account opened elsewhere.
    silent_dropped: u64,
}

impl Inner {
    fn next_sequence(&mut self) -> u64 {
        self.sequence += 1;
        self.sequence
    }

    /// Account `me` opens in page `newer`: every other page that has it open is older. A live
    /// one gets `CONFLICT` (as the real service sends to the older companion) and counts as an
    /// overlap; a silent one is a dead connection and is dropped.
    fn opened(&mut self, newer: &str, me: &str) {
        let older: Vec<String> = self
            .pages
            .iter()
            .filter(|(id, p)| id.as_str() != newer && p.me.as_deref() == Some(me))
            .map(|(id, _)| id.clone())
            .collect();
        for id in older {
            if self.pages[&id].alive.elapsed() > SILENT {
                self.pages.remove(&id);
                self.silent_dropped += 1;
                tracing::info!(page = %id, me, "silent page dropped: its account opened in another page");
            } else {
                self.overlaps += 1;
                let entry = self.pages.get_mut(&id).expect("listed above");
                entry.state = WaState::Conflict.as_str().to_owned();
                entry.push(&id, Push::State { state: WaState::Conflict });
                tracing::warn!(page = %id, newer, me, "account open in two pages at once: CONFLICT to the older");
            }
        }
    }

    fn linked_pages<'a>(&'a self, me: Option<&'a str>) -> impl Iterator<Item = (&'a String, &'a PageEntry)> {
        self.pages.iter().filter(move |(_, p)| match (&p.me, me) {
            (Some(m), Some(want)) => m == want,
            (Some(_), None) => true,
            (None, _) => false,
        })
    }
}

/// The shared state of one simulator.
pub(crate) struct Hub {
    qr_interval: Duration,
    qr_refs: usize,
    sync_delay: Duration,
    ack_delay: Duration,
    pairing_code_ttl: Duration,
    inner: Mutex<Inner>,
    fault: watch::Sender<Fault>,
    site: Mutex<Site>,
}

impl Hub {
    pub(crate) fn new(options: &Options) -> Arc<Hub> {
        Arc::new(Hub {
            qr_interval: options.qr_interval,
            qr_refs: options.qr_refs.max(1),
            sync_delay: options.sync_delay,
            ack_delay: options.ack_delay,
            pairing_code_ttl: options.pairing_code_ttl,
            inner: Mutex::new(Inner::default()),
            fault: watch::Sender::new(Fault::default()),
            site: Mutex::new(Site {
                late_modules_ms: millis(options.late_modules),
                ..Site::new(options.version.clone())
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A page loaded: restore its session if its token is valid, else start a QR session.
    pub(crate) fn hello(self: &Arc<Self>, hello: Hello) -> Welcome {
        let mut inner = self.lock();
        inner.next_page += 1;
        let id = format!("p{}", inner.next_page);
        if hello.post_logout {
            if let Some(token) = &hello.token {
                inner.tokens.remove(token);
            }
        }
        let claimed = hello.me.as_deref().and_then(|m| normalize_me(m).ok());
        let restored = hello.token.as_ref().and_then(|t| {
            let device = inner.tokens.get(t)?;
            (claimed.as_deref() == Some(device.me.as_str())).then(|| device.me.clone())
        });
        let (tx, rx) = mpsc::channel(PUSH_BUFFER);
        let mut entry = PageEntry {
            browser_id: hello.browser_id,
            version: hello.version,
            user_agent: hello.user_agent,
            webdriver: hello.webdriver,
            pairing: None,
            keys: hello.keys,
            state: WaState::Opening.as_str().to_owned(),
            has_synced: false,
            me: restored.clone(),
            token: restored.as_ref().and(hello.token.clone()),
            qr: None,
            tx,
            rx: Some(rx),
            created: Instant::now(),
            alive: Instant::now(),
        };
        let fault = *self.fault.borrow();
        let welcome = if let Some(me) = restored {
            for event in inner.queued.remove(&me).unwrap_or_default() {
                entry.push(&id, event);
            }
            tracing::info!(page = %id, me = %me, "page restored its session");
            Welcome {
                page: id.clone(),
                mode: "restore",
                me: Some(me),
                reference: None,
                revoked: false,
                sync_delay_ms: millis(self.sync_delay),
                fault,
            }
        } else {
            let (reference, generation) = self.new_qr(&mut inner, &mut entry);
            self.spawn_rotation(id.clone(), generation);
            tracing::info!(page = %id, "page shows a QR");
            Welcome {
                page: id.clone(),
                mode: "qr",
                me: None,
                reference: Some(reference),
                revoked: hello.token.is_some(),
                sync_delay_ms: millis(self.sync_delay),
                fault,
            }
        };
        let me = entry.me.clone();
        inner.pages.insert(id.clone(), entry);
        if let Some(me) = me {
            inner.opened(&id, &me);
        }
        welcome
    }

    fn new_qr(&self, inner: &mut Inner, entry: &mut PageEntry) -> (String, u64) {
        let refs: Vec<String> = (0..self.qr_refs).map(|_| new_ref()).collect();
        let generation = inner.next_sequence();
        let shown = inner.next_sequence();
        let first = refs[0].clone();
        entry.qr = Some(QrSession { refs, current: 0, idle: false, generation, shown });
        (first, generation)
    }

    fn spawn_rotation(self: &Arc<Self>, page: String, generation: u64) {
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

    /// The page opened its event stream. A second stream for the same page replaces the first.
    pub(crate) fn take_events(&self, page: &str) -> Option<mpsc::Receiver<Push>> {
        let mut inner = self.lock();
        let entry = inner.pages.get_mut(page)?;
        Some(entry.rx.take().unwrap_or_else(|| {
            let (tx, rx) = mpsc::channel(PUSH_BUFFER);
            entry.tx = tx;
            rx
        }))
    }

    /// The page's event stream closed: the tab is gone.
    pub(crate) fn page_gone(&self, page: &str) {
        if self.lock().pages.remove(page).is_some() {
            tracing::info!(page, "page closed");
        }
    }

    /// The page reports its `Socket.state` and `hasSynced`.
    /// The page's beat (every second): it is alive. False when the hub does not know it.
    pub(crate) fn alive(&self, page: &str) -> bool {
        match self.lock().pages.get_mut(page) {
            Some(entry) => {
                entry.alive = Instant::now();
                true
            }
            None => false,
        }
    }

    pub(crate) fn report_state(&self, page: &str, state: &str, has_synced: bool) {
        if let Some(entry) = self.lock().pages.get_mut(page) {
            entry.alive = Instant::now();
            entry.state = state.to_owned();
            entry.has_synced = has_synced;
        }
    }

    /// The page reports module names it was asked for, and which of those it lacks.
    pub(crate) fn report_modules(&self, names: Vec<String>, unknown: Vec<String>) {
        let mut inner = self.lock();
        inner.required.extend(names);
        inner.unknown.extend(unknown);
    }

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

    /// The page's `Socket.logout()` (or a load with `post_logout=1`): revoke its token.
    pub(crate) fn logout(&self, page: &str) {
        let mut inner = self.lock();
        let token = inner.pages.get_mut(page).and_then(|p| {
            p.me = None;
            p.token.take()
        });
        if let Some(token) = token {
            inner.tokens.remove(&token);
            tracing::info!(page, "device logged out from the page");
        }
    }

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

    pub(crate) fn status(&self) -> Status {
        let inner = self.lock();
        let mut pages: Vec<PageStatus> = inner
            .pages
            .iter()
            .filter(|(_, p)| p.visible())
            .map(|(id, p)| PageStatus {
                id: id.clone(),
                state: p.state.clone(),
                has_synced: p.has_synced,
                me: p.me.clone(),
                qr: p.shown_qr(),
                browser_id: p.browser_id.clone(),
                pairing_code: p.pairing.as_ref().filter(|_| p.me.is_none()).map(|c| c.code.clone()),
                version: p.version.clone(),
                user_agent: p.user_agent.clone(),
                webdriver: p.webdriver,
            })
            .collect();
        pages.sort_by_key(|p| p.id[1..].parse::<u64>().unwrap_or(0));
        let accounts: BTreeSet<&String> = inner.tokens.values().map(|d| &d.me).collect();
        let accounts = accounts
            .into_iter()
            .map(|me| AccountStatus { me: me.clone(), connected: inner.linked_pages(Some(me)).next().is_some() })
            .collect();
        Status {
            pages,
            accounts,
            required_modules: inner.required.iter().cloned().collect(),
            unknown_modules: inner.unknown.iter().cloned().collect(),
            fault: *self.fault.borrow(),
            overlaps: inner.overlaps,
            silent_dropped: inner.silent_dropped,
        }
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

/// `"34600000001"`, `"34600000001@c.us"` and `"+34 600 000 001"` are the same account.
pub(crate) fn normalize_me(me: &str) -> Result<String, HubError> {
    let user = me.trim().split('@').next().unwrap_or_default().split(':').next().unwrap_or_default();
    let digits: String = user.chars().filter(|c| !matches!(c, '+' | ' ' | '-')).collect();
    if (5..=20).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit()) {
        Ok(digits)
    } else {
        Err(HubError::BadRequest(format!("not a phone number: {me:?}")))
    }
}

/// A bare number becomes `<number>@c.us`; `s.whatsapp.net` is spelled `c.us`.
fn normalize_wid(wid: &str) -> String {
    let wid = wid.trim();
    match wid.split_once('@') {
        None => format!("{wid}@c.us"),
        Some((user, "s.whatsapp.net")) => format!("{user}@c.us"),
        Some(_) => wid.to_owned(),
    }
}

fn valid_wid(wid: &str) -> bool {
    match wid.split_once('@') {
        Some((user, "c.us")) => !user.is_empty() && user.chars().all(|c| c.is_ascii_digit()),
        Some((user, server)) => !user.is_empty() && !server.is_empty(),
        None => false,
    }
}

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    bytes
}

fn new_ref() -> String {
    format!("2@{}", base64::engine::general_purpose::STANDARD.encode(random::<48>()))
}

fn new_token() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random::<32>())
}

fn new_message_id() -> String {
    let hex: String = random::<9>().iter().map(|b| format!("{b:02X}")).collect();
    format!("3A{hex}")
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Wall-clock time for message timestamps: the one place the simulator reads it.
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> Options {
        Options { qr_interval: Duration::from_secs(20), qr_refs: 3, ..Options::default() }
    }

    fn keys() -> QrKeys {
        QrKeys { noise: "bm9pc2U=".into(), identity: "aWRlbnRpdHk=".into(), adv: "YWR2".into(), platform: "1".into() }
    }

    fn hello(token: Option<&str>, me: Option<&str>) -> Hello {
        Hello {
            browser_id: "b1".into(),
            token: token.map(str::to_owned),
            me: me.map(str::to_owned),
            post_logout: false,
            keys: keys(),
            version: String::new(),
            user_agent: String::new(),
            webdriver: false,
        }
    }

    fn paired(hub: &Arc<Hub>, me: &str) -> (String, String, mpsc::Receiver<Push>) {
        let w = hub.hello(hello(None, None));
        let mut rx = hub.take_events(&w.page).unwrap();
        hub.scan(None, Some(me)).unwrap();
        match rx.try_recv().unwrap() {
            Push::Paired { token, .. } => (w.page, token, rx),
            other => panic!("expected paired, got {other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn qr_rotates_through_the_refs_then_goes_idle() {
        let hub = Hub::new(&options());
        let w = hub.hello(hello(None, None));
        assert_eq!(w.mode, "qr");
        let first = w.reference.unwrap();
        let mut rx = hub.take_events(&w.page).unwrap();
        let qr0 = hub.status().pages[0].qr.clone().unwrap();
        assert_eq!(qr0, format!("{first},bm9pc2U=,aWRlbnRpdHk=,YWR2,1"));

        let mut refs = vec![first];
        for _ in 0..2 {
            match rx.recv().await.unwrap() {
                Push::Ref { reference } => refs.push(reference),
                other => panic!("expected a ref, got {other:?}"),
            }
        }
        refs.dedup();
        assert_eq!(refs.len(), 3, "each ref is new");
        assert_eq!(rx.recv().await.unwrap(), Push::Idle);
        assert_eq!(hub.status().pages[0].qr, None, "an idle page shows no QR");
        assert!(matches!(hub.scan(Some(&qr0), None), Err(HubError::Conflict(_))));
    }

    #[tokio::test(start_paused = true)]
    async fn rotation_takes_the_configured_interval() {
        let hub = Hub::new(&options());
        let w = hub.hello(hello(None, None));
        let mut rx = hub.take_events(&w.page).unwrap();
        let start = Instant::now();
        rx.recv().await.unwrap();
        assert_eq!(start.elapsed(), Duration::from_secs(20));
    }

    #[tokio::test(start_paused = true)]
    async fn scan_of_an_old_ref_is_refused_and_the_current_one_pairs() {
        let hub = Hub::new(&options());
        let w = hub.hello(hello(None, None));
        let mut rx = hub.take_events(&w.page).unwrap();
        let old = hub.status().pages[0].qr.clone().unwrap();
        rx.recv().await.unwrap();
        let current = hub.status().pages[0].qr.clone().unwrap();
        assert_ne!(old, current);
        assert!(matches!(hub.scan(Some(&old), None), Err(HubError::Conflict(_))));
        assert!(matches!(hub.scan(Some("nope"), None), Err(HubError::NotFound(_))));
        let r = hub.scan(Some(&current), Some("34600000005@c.us")).unwrap();
        assert_eq!(r.me, "34600000005");
        assert!(matches!(rx.recv().await.unwrap(), Push::Paired { me, .. } if me == "34600000005"));
        // Pairing stops the rotation: nothing more arrives for this session.
        tokio::time::sleep(Duration::from_secs(120)).await;
        assert!(rx.try_recv().is_err());
    }

    #[tokio::test]
    async fn a_valid_token_restores_and_a_revoked_one_shows_the_qr() {
        let hub = Hub::new(&options());
        let (_, token, _) = paired(&hub, "34600000001");
        let w = hub.hello(hello(Some(&token), Some("34600000001@c.us")));
        assert_eq!((w.mode, w.me.as_deref()), ("restore", Some("34600000001")));
        let w = hub.hello(hello(Some(&token), Some("34600000002")));
        assert_eq!((w.mode, w.revoked), ("qr", true), "token of another account");

        assert_eq!(hub.logout_from_phone(Some("34600000001")).unwrap().revoked, 1);
        let w = hub.hello(hello(Some(&token), Some("34600000001")));
        assert_eq!((w.mode, w.revoked), ("qr", true));
    }

    #[tokio::test]
    async fn after_a_phone_logout_the_new_qr_keeps_the_page_keys() {
        let hub = Hub::new(&options());
        let (page, _, _) = paired(&hub, "34600000001");
        hub.logout_from_phone(None).unwrap();
        let reference = hub.refresh_qr(&page).unwrap();
        let qr = hub.status().pages[0].qr.clone().unwrap();
        assert_eq!(qr, format!("{reference},bm9pc2U=,aWRlbnRpdHk=,YWR2,1"));
        hub.scan(Some(&qr), None).unwrap();
    }

    #[tokio::test]
    async fn post_logout_revokes_the_token() {
        let hub = Hub::new(&options());
        let (_, token, _) = paired(&hub, "34600000001");
        let mut h = hello(Some(&token), Some("34600000001"));
        h.post_logout = true;
        assert_eq!(hub.hello(h).mode, "qr");
        assert_eq!(hub.hello(hello(Some(&token), Some("34600000001"))).mode, "qr");
    }

    #[tokio::test]
    async fn sends_are_recorded_with_the_sender_and_acked() {
        let hub = Hub::new(&Options { ack_delay: Duration::from_millis(1), ..options() });
        let (page, _, mut rx) = paired(&hub, "34600000001");
        hub.send(&page, "m1".into(), "34600000002@c.us".into(), "hi".into(), None).unwrap();
        let sent = hub.messages();
        assert_eq!(sent.len(), 1);
        assert_eq!(
            (sent[0].from.as_str(), sent[0].to.as_str(), sent[0].body.as_str()),
            ("34600000001@c.us", "34600000002@c.us", "hi")
        );
        let ack = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
        assert_eq!(ack.unwrap().unwrap(), Push::Ack { id: "m1".into(), ack: 2 });

        hub.set_fault(FaultKind::DropSends, None);
        hub.send(&page, "m2".into(), "34600000002".into(), "lost".into(), None).unwrap();
        assert_eq!(hub.messages().len(), 1, "dropped sends are not recorded");
    }

    #[tokio::test]
    async fn an_unlinked_page_cannot_send() {
        let hub = Hub::new(&options());
        let w = hub.hello(hello(None, None));
        let r = hub.send(&w.page, "m".into(), "1@c.us".into(), "x".into(), None);
        assert!(matches!(r, Err(HubError::Conflict(_))));
    }

    #[tokio::test]
    async fn incoming_for_an_absent_account_waits_for_it() {
        let hub = Hub::new(&options());
        let r = hub
            .incoming(IncomingRequest {
                from: "34600000009".into(),
                body: "hello".into(),
                to: Some("34600000001".into()),
                ciphertext_ms: None,
            })
            .unwrap();
        assert!(r.queued);
        let (_, _, mut rx) = paired(&hub, "34600000001");
        assert!(matches!(
            rx.try_recv().unwrap(),
            Push::Incoming { from, body, .. } if from == "34600000009@c.us" && body == "hello"
        ));
        let none = hub.incoming(IncomingRequest { from: "x".into(), body: "b".into(), to: None, ciphertext_ms: None });
        assert!(matches!(none, Err(HubError::BadRequest(_))));
    }

    #[tokio::test(start_paused = true)]
    async fn an_account_open_in_two_live_pages_is_an_overlap_and_a_silent_page_is_dropped() {
        let hub = Hub::new(&options());
        let (older, token, mut rx) = paired(&hub, "34600000001");
        assert_eq!(hub.status().overlaps, 0);
        let newer = hub.hello(hello(Some(&token), Some("34600000001")));
        assert_eq!(newer.mode, "restore");
        assert_eq!(hub.status().overlaps, 1, "two live pages with one account");
        assert!(matches!(rx.try_recv(), Ok(Push::State { state: WaState::Conflict })), "the older gets CONFLICT");
        assert!(hub.status().pages.iter().any(|p| p.id == older && p.state == "CONFLICT"));
        // Both fall silent (a frozen machine); the account opens again: they are dropped.
        tokio::time::advance(SILENT + Duration::from_secs(1)).await;
        assert!(hub.alive(&newer.page), "a beat keeps a page alive");
        tokio::time::advance(SILENT + Duration::from_secs(1)).await;
        hub.hello(hello(Some(&token), Some("34600000001")));
        let st = hub.status();
        assert_eq!((st.overlaps, st.silent_dropped), (1, 2), "{st:?}");
        assert!(!hub.alive(&older), "a dropped page is told it is gone");
    }

    #[tokio::test]
    async fn forced_states_reach_only_the_named_account() {
        let hub = Hub::new(&options());
        let (_, _, mut rx1) = paired(&hub, "34600000001");
        let (_, _, mut rx2) = paired(&hub, "34600000002");
        let n = hub.force_state(WaState::Conflict, Some("34600000002")).unwrap();
        assert_eq!(n.pages, 1);
        assert!(rx1.try_recv().is_err());
        assert_eq!(rx2.try_recv().unwrap(), Push::State { state: WaState::Conflict });
        assert!(hub.force_state(WaState::Timeout, Some("34600000099")).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn a_timed_hang_clears_itself_and_releases_holds() {
        let hub = Hub::new(&options());
        hub.set_fault(FaultKind::Hang, Some(500));
        let start = Instant::now();
        let f = hub.hold(FaultKind::Hang, 10_000).await;
        assert_eq!(f.kind, FaultKind::None);
        assert_eq!(start.elapsed(), Duration::from_millis(500));
        assert_eq!(hub.status().fault.kind, FaultKind::None);
    }

    #[tokio::test]
    async fn a_pairing_code_links_as_its_number_and_old_or_wrong_codes_are_refused() {
        let hub = Hub::new(&options());
        let w = hub.hello(hello(None, None));
        let mut rx = hub.take_events(&w.page).unwrap();
        let first = hub.pairing_code(&w.page, "+34 600 000 005").unwrap();
        assert_eq!(first.len(), 8);
        let second = hub.pairing_code(&w.page, "34600000005").unwrap();
        assert_eq!(hub.status().pages[0].pairing_code.as_deref(), Some(second.as_str()));
        assert!(matches!(hub.enter_code(&first), Err(HubError::Conflict(_))), "a replaced code is refused");
        assert!(matches!(hub.enter_code("ZZZZ-ZZZZ"), Err(HubError::NotFound(_))));
        assert!(matches!(hub.enter_code("123"), Err(HubError::BadRequest(_))));
        assert!(rx.try_recv().is_err(), "nothing linked yet");
        let linked = hub.enter_code(&format!("{}-{}", &second[..4], second[4..].to_lowercase())).unwrap();
        assert_eq!(linked.me, "34600000005");
        assert!(matches!(rx.try_recv().unwrap(), Push::Paired { me, .. } if me == "34600000005"));
        assert!(hub.pairing_code(&w.page, "34600000005").is_err(), "a linked page asks for no code");
    }

    #[tokio::test(start_paused = true)]
    async fn a_pairing_code_expires() {
        let hub = Hub::new(&Options { pairing_code_ttl: Duration::from_secs(180), ..options() });
        let w = hub.hello(hello(None, None));
        let code = hub.pairing_code(&w.page, "34600000005").unwrap();
        tokio::time::advance(Duration::from_secs(181)).await;
        assert!(matches!(hub.enter_code(&code), Err(HubError::Conflict(e)) if e.contains("expired")));
    }

    #[test]
    fn phone_numbers_normalize() {
        assert_eq!(normalize_me("34600000001@c.us").unwrap(), "34600000001");
        assert_eq!(normalize_me("+34 600 000 001").unwrap(), "34600000001");
        assert_eq!(normalize_me("34600000001:12@s.whatsapp.net").unwrap(), "34600000001");
        assert!(normalize_me("abc").is_err());
        assert_eq!(normalize_wid("346@s.whatsapp.net"), "346@c.us");
        assert_eq!(normalize_wid("346"), "346@c.us");
        assert_eq!(normalize_wid("123-456@g.us"), "123-456@g.us");
    }
}
