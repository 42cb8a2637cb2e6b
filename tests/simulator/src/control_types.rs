//! The control API's wire types, shared by the server (`control`) and the typed client
//! (`client`). Field names are the ones in `shared/SIMULATOR.md`.

use serde::{Deserialize, Serialize};

/// WhatsApp Web's own connection states (`WAWebSocketModel.Socket.state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WaState {
    /// Still loading: the socket is opening.
    Opening,
    /// A scan was accepted; the device is being linked.
    Pairing,
    /// Still loading: the app has not launched.
    Unlaunched,
    /// The QR screen, refs rotating.
    Unpaired,
    /// The QR screen after the last ref expired; stays until reload or `Cmd.refreshQR()`.
    UnpairedIdle,
    /// Linked and online.
    Connected,
    /// The connection timed out.
    Timeout,
    /// WhatsApp is open in another window; `Socket.takeover()` takes it back.
    Conflict,
    /// A proxy blocks the connection.
    Proxyblock,
    /// Blocked for the terms of service.
    TosBlock,
    /// Blocked for the business terms of service.
    SmbTosBlock,
    /// This version of WhatsApp Web is too old.
    DeprecatedVersion,
}

impl WaState {
    /// The state as the page spells it (`"UNPAIRED_IDLE"`).
    pub fn as_str(self) -> &'static str {
        match self {
            WaState::Opening => "OPENING",
            WaState::Pairing => "PAIRING",
            WaState::Unlaunched => "UNLAUNCHED",
            WaState::Unpaired => "UNPAIRED",
            WaState::UnpairedIdle => "UNPAIRED_IDLE",
            WaState::Connected => "CONNECTED",
            WaState::Timeout => "TIMEOUT",
            WaState::Conflict => "CONFLICT",
            WaState::Proxyblock => "PROXYBLOCK",
            WaState::TosBlock => "TOS_BLOCK",
            WaState::SmbTosBlock => "SMB_TOS_BLOCK",
            WaState::DeprecatedVersion => "DEPRECATED_VERSION",
        }
    }
}

/// What `POST /fault` can make the pages do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// Normal behaviour.
    #[default]
    None,
    /// The page's main thread blocks: nothing evaluated in the page answers until the fault is
    /// cleared (or `ms` elapsed, when given).
    Hang,
    /// The page's main thread is blocked in slices of `ms` (default 2000) with short gaps, so
    /// every call into the page answers late.
    Slow,
    /// Sends are accepted (ack 1) but never arrive: not recorded, never ack 2.
    DropSends,
}

/// The fault in force.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    /// Which fault.
    pub kind: FaultKind,
    /// `hang`: how long before it clears by itself (none = until `none`); `slow`: the delay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ms: Option<u64>,
}

/// `GET /status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// Pages currently connected to the simulator (one per open tab).
    pub pages: Vec<PageStatus>,
    /// Accounts with a valid (not revoked) device token.
    pub accounts: Vec<AccountStatus>,
    /// Every module name a page asked `window.require` for, sorted.
    pub required_modules: Vec<String>,
    /// The subset of `required_modules` the simulator does not provide (the call threw).
    pub unknown_modules: Vec<String>,
    /// The fault in force.
    pub fault: Fault,
    /// How many times an account opened in a page while another live page had it open (the
    /// older one then got `CONFLICT`). Tests of several hosts assert it stays 0.
    #[serde(default)]
    pub overlaps: u64,
    /// Pages silent for 4 s (a frozen or vanished browser) dropped when their account opened
    /// in another page: a dead connection, not an overlap.
    #[serde(default)]
    pub silent_dropped: u64,
}

/// One page in `GET /status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageStatus {
    /// The simulator's id for this page load.
    pub id: String,
    /// The page's `Socket.state`, as last reported by the page.
    pub state: String,
    /// The page's `Socket.hasSynced`.
    pub has_synced: bool,
    /// The account this page is linked as (`"34600000001"`), if any.
    pub me: Option<String>,
    /// The full QR text the page shows, while it shows one.
    pub qr: Option<String>,
    /// The browser profile's id (`localStorage.WABrowserId`).
    pub browser_id: String,
    /// The pairing code (link with phone number) this page shows, while it shows one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pairing_code: Option<String>,
    /// `window.Debug.VERSION` of this page load.
    #[serde(default)]
    pub version: String,
    /// The browser's `navigator.userAgent`.
    #[serde(default)]
    pub user_agent: String,
    /// The browser's `navigator.webdriver` (true in automated Chromium unless disabled).
    #[serde(default)]
    pub webdriver: bool,
}

/// One account in `GET /status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountStatus {
    /// The phone number (`"34600000001"`).
    pub me: String,
    /// Whether a page linked as this account is open right now.
    pub connected: bool,
}

/// One message in `GET /messages`: a message a client sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// The message key (`true_34600000002@c.us_3EB0…`).
    pub id: String,
    /// The sender's wid (`34600000001@c.us`).
    pub from: String,
    /// The recipient's wid.
    pub to: String,
    /// The text.
    pub body: String,
    /// Unix seconds when the server received it.
    pub t: i64,
    /// The link preview's URL when the client sent it through the link-preview path
    /// (`WAWebLinkPreviewChatAction`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_preview: Option<String>,
}

/// `POST /scan`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanRequest {
    /// The full QR text; none = the newest QR shown by any page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qr: Option<String>,
    /// The account to link as; none = `34600000001`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub me: Option<String>,
}

/// Answer to `POST /scan`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanResponse {
    /// The page that was paired.
    pub page: String,
    /// The account it is now linked as.
    pub me: String,
}

/// `POST /incoming`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncomingRequest {
    /// The sender's wid (`34600000009@c.us`).
    pub from: String,
    /// The text.
    pub body: String,
    /// The account to deliver to; none = every connected account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Arrives as `type: 'ciphertext'` with no body and is decrypted (body set, `type` →
    /// `chat`, `change:type`) this many ms later; none = arrives decrypted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ciphertext_ms: Option<u64>,
}

/// `POST /enter-code`: the phone enters a pairing code (WhatsApp → Linked devices → Link with
/// phone number). Dashes and case are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnterCodeRequest {
    /// The 8-character code the page shows.
    pub code: String,
}

/// Answer to `POST /incoming`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncomingResponse {
    /// The message id the pages see.
    pub id: String,
    /// How many open pages it was pushed to.
    pub delivered: usize,
    /// True when no page of `to` was open: it is delivered when one connects.
    pub queued: bool,
}

/// `POST /state`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateRequest {
    /// The state to force.
    pub state: WaState,
    /// Only the pages of this account; none = every linked page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub me: Option<String>,
}

/// `POST /logout-from-phone`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogoutRequest {
    /// Only this account; none = every account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub me: Option<String>,
}

/// Answer to `POST /state` and `POST /logout-from-phone`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Affected {
    /// How many open pages were told.
    pub pages: usize,
    /// How many device tokens were revoked (logout only).
    #[serde(default)]
    pub revoked: usize,
}

/// `POST /fault`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRequest {
    /// Which fault.
    pub kind: FaultKind,
    /// See [`Fault::ms`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ms: Option<u64>,
}

/// The line `wa-sim` prints on stdout when it is ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ready {
    /// The HTTPS port (the page, as `web.whatsapp.com`).
    pub https: u16,
    /// The control API's port (plain HTTP).
    pub control: u16,
}

/// The body of every error answer: `{"error": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: String,
}
