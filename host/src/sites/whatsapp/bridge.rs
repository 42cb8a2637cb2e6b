//! The Rust side of `bridge.js`: where its source comes from, the events it pushes through the
//! CDP binding, and the expressions the host evaluates to call it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

/// The bridge built into vigil.
pub const BUILT_IN: &str = include_str!("bridge.js");

/// The name of the CDP binding (`Runtime.addBinding`) the bridge pushes events through.
pub const BINDING: &str = "__vigilEmit";

/// Why a bridge file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    #[error(
        "cannot read the bridge file {path}: {source} (fix sessions.bridge, or unset it to use the built-in bridge)"
    )]
    Read { path: PathBuf, source: std::io::Error },
    #[error("the bridge file {path} does not define window.__vigil, so it cannot be the bridge (start from host/src/sites/whatsapp/bridge.js)")]
    NotABridge { path: PathBuf },
}

/// A bridge's source and where it came from.
#[derive(Debug, Clone)]
pub struct Bridge {
    pub source: Arc<str>,
    /// `None`: built in.
    pub path: Option<PathBuf>,
}

impl Bridge {
    pub fn built_in() -> Self {
        Bridge { source: BUILT_IN.into(), path: None }
    }

    /// The bridge at `path`, or the built-in one.
    pub fn load(path: Option<&Path>) -> Result<Self, BridgeError> {
        let Some(path) = path else { return Ok(Self::built_in()) };
        let source = std::fs::read_to_string(path).map_err(|source| BridgeError::Read { path: path.into(), source })?;
        if !source.contains("window.__vigil") {
            return Err(BridgeError::NotABridge { path: path.into() });
        }
        Ok(Bridge { source: source.into(), path: Some(path.into()) })
    }
}

/// A message as the bridge reports it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageMessage {
    pub id: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    #[serde(default)]
    pub author: Option<String>,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub t: Option<i64>,
    #[serde(default)]
    pub from_me: bool,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

/// What the bridge pushes (one JSON object per binding call).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PageEvent {
    /// The bridge is installed in a loaded app: the state as it is now.
    Hello {
        #[serde(default)]
        bridge: Option<String>,
        #[serde(default)]
        version: Option<String>,
        state: String,
        #[serde(default)]
        synced: bool,
        #[serde(default)]
        me: Option<String>,
    },
    /// The canary: after waiting for the app, internals the bridge needs are missing (or of
    /// the wrong kind), so it did not install.
    Incompatible {
        #[serde(default)]
        bridge: Option<String>,
        #[serde(default)]
        version: Option<String>,
        /// The internals, by name (`WAWebCmd.Cmd`).
        #[serde(default)]
        missing: Vec<String>,
        /// What is wrong with each, in words.
        #[serde(default)]
        problems: Vec<String>,
    },
    /// `Socket.state` changed.
    State { state: String },
    /// `Socket.hasSynced` became true: linked, loaded, ready.
    Synced {
        #[serde(default)]
        me: Option<String>,
    },
    /// A new QR to scan.
    Qr { qr: String },
    /// The app logged out: `event` is the `WAWebCmd` event that said so (`logout`,
    /// `starting_logout_from_bridge`, `logout_from_bridge`).
    Logout {
        #[serde(default)]
        event: Option<String>,
    },
    /// A new pairing code (link with phone number) to type on the phone.
    PairingCode { code: String },
    /// A new message (incoming or outgoing).
    Message { message: PageMessage },
    /// A message's ack changed.
    Ack { id: Option<String>, ack: i64 },
    /// The bridge itself failed somewhere.
    Error {
        #[serde(default)]
        r#where: Option<String>,
        #[serde(default)]
        message: Option<String>,
    },
}

impl PageEvent {
    /// Parses a binding payload.
    pub fn parse(payload: &str) -> Result<PageEvent, String> {
        serde_json::from_str(payload).map_err(|e| format!("bad bridge event ({e}): {payload:.200}"))
    }
}

/// `Socket.state`, or `LOADING` while the app (or the bridge) is not there yet.
pub const JS_STATE: &str = "window.__vigil ? window.__vigil.state() : 'LOADING'";
/// A round trip: the page's clock in ms.
pub const JS_PING: &str = "window.__vigil ? window.__vigil.ping() : Date.now()";
/// The account's own wid (`34600000001@c.us`) or null.
pub const JS_ME: &str = "window.__vigil ? window.__vigil.me() : null";
/// Logs out from the app (the page then shows a new QR).
pub const JS_LOGOUT: &str = "window.__vigil.logout()";

/// The canary's report now: `{bridge, version, missing, problems}`.
pub const JS_CANARY: &str = "window.__vigil ? window.__vigil.canary() : null";

/// The expression that asks the site for a pairing code for `phone` (digits, country code
/// first) and renews it every `renew_ms` while the page is unlinked; resolves to the code.
pub fn js_pairing_code(phone: &str, renew_ms: u128) -> String {
    format!("window.__vigil.pairingCode({}, {renew_ms})", serde_json::Value::from(phone))
}

/// The expression that sends `body` to `to` and resolves to `{id, ack}` after the server's
/// ack, or rejects after `timeout_ms`.
pub fn js_send_text(to: &str, body: &str, timeout_ms: u128) -> String {
    format!("window.__vigil.sendText({}, {}, {timeout_ms})", serde_json::Value::from(to), serde_json::Value::from(body))
}

/// The account's phone number from its wid (`34600000001@c.us` → `34600000001`).
pub fn phone_of(wid: &str) -> Option<String> {
    let user = wid.split('@').next()?;
    let user = user.split(':').next()?;
    (!user.is_empty() && user.chars().all(|c| c.is_ascii_digit())).then(|| user.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_parse() {
        assert_eq!(
            PageEvent::parse(r#"{"type":"state","state":"CONNECTED"}"#).unwrap(),
            PageEvent::State { state: "CONNECTED".into() }
        );
        assert_eq!(PageEvent::parse(r#"{"type":"logout"}"#).unwrap(), PageEvent::Logout { event: None });
        assert_eq!(
            PageEvent::parse(r#"{"type":"logout","event":"logout_from_bridge"}"#).unwrap(),
            PageEvent::Logout { event: Some("logout_from_bridge".into()) }
        );
        assert_eq!(
            PageEvent::parse(r#"{"type":"pairing_code","code":"ABCD1234"}"#).unwrap(),
            PageEvent::PairingCode { code: "ABCD1234".into() }
        );
        let i = PageEvent::parse(
            r#"{"type":"incompatible","bridge":"b","version":"2.1","missing":["WAWebCmd"],"problems":["WAWebCmd: gone"]}"#,
        )
        .unwrap();
        assert!(matches!(i, PageEvent::Incompatible { missing, .. } if missing == ["WAWebCmd"]));
        let m = PageEvent::parse(
            r#"{"type":"message","message":{"id":"false_1@c.us_X","from":"1@c.us","to":"2@c.us","body":"hi","t":5,"fromMe":false,"type":"chat","author":null}}"#,
        )
        .unwrap();
        assert!(matches!(m, PageEvent::Message { message } if message.body == "hi" && !message.from_me));
        assert!(PageEvent::parse(r#"{"type":"nope"}"#).unwrap_err().contains("bad bridge event"));
    }

    #[test]
    fn send_expression_quotes_its_arguments() {
        let js = js_send_text("34600000002@c.us", "a \"quoted\"\nline", 5000);
        assert_eq!(js, r#"window.__vigil.sendText("34600000002@c.us", "a \"quoted\"\nline", 5000)"#);
    }

    #[test]
    fn phone_from_wid() {
        assert_eq!(phone_of("34600000001@c.us").as_deref(), Some("34600000001"));
        assert_eq!(phone_of("34600000001:12@c.us").as_deref(), Some("34600000001"));
        assert_eq!(phone_of("abc@c.us"), None);
    }

    #[test]
    fn a_file_must_be_a_bridge() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("b.js");
        std::fs::write(&p, "console.log(1)").unwrap();
        assert!(matches!(Bridge::load(Some(&p)), Err(BridgeError::NotABridge { .. })));
        assert!(Bridge::load(Some(&dir.path().join("missing.js"))).unwrap_err().to_string().contains("missing.js"));
        assert!(Bridge::load(None).unwrap().source.contains("window.__vigil"));
    }
}
