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

use crate::control_types::{
    AccountStatus, Affected, Fault, FaultKind, IncomingRequest, IncomingResponse, Message, PageStatus, ScanResponse,
    Status, WaState,
};
use crate::options::Options;
use crate::site::{Site, SiteRequest};

mod faults;
mod messages;
mod pairing;

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
mod tests;
