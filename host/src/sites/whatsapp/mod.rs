//! WhatsApp Web: the page, its storage, its states, and the bridge injected into it.
//!
//! - `bridge.js`: the script injected into every document of the page. It uses the page
//!   internals independent clients use (`window.require('WAWebSocketModel')`, …), pushes
//!   events to the host through a CDP binding and answers the host's calls.
//! - [`bridge`]: its Rust side — the source (built in, or a file), the binding's events
//!   ([`PageEvent`]) and the expressions the host evaluates.
//! - [`states`]: WhatsApp's states and what each means for a session ([`Phase`]).
//!
//! The same bridge runs on the real site and on the simulator; only [`site_switches`] differ.

pub mod bridge;
pub mod states;

pub use bridge::{Bridge, BridgeError, PageEvent, PageMessage};
pub use states::{classify, Phase};

/// The page a session opens.
pub const URL: &str = "https://web.whatsapp.com/";

/// The origin's storage inside a Chromium profile, relative to the profile folder: what makes
/// a session linked, what a backup keeps, what is checked before launch.
pub const CRITICAL_PATHS: [&str; 2] =
    ["Default/IndexedDB/https_web.whatsapp.com_0.indexeddb.leveldb", "Default/Local Storage/leveldb"];

/// The Chromium switches that make `https://web.whatsapp.com/` the local simulator listening
/// on `port`: the host name mapped to loopback, its self-signed certificate accepted.
pub fn simulator_switches(port: u16) -> Vec<String> {
    vec![
        format!("--host-resolver-rules=MAP web.whatsapp.com 127.0.0.1:{port}, MAP * ~NOTFOUND"),
        "--ignore-certificate-errors".to_string(),
    ]
}

/// The site's switches: none for the real site, [`simulator_switches`] for the simulator.
pub fn site_switches(simulator_port: Option<u16>) -> Vec<String> {
    simulator_port.map(simulator_switches).unwrap_or_default()
}
