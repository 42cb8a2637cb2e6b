//! How a simulator is started: ports, address and the timings of the page.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// The version string the page shows as `window.Debug.VERSION`.
pub const DEFAULT_VERSION: &str = "2.3000.1017054665";

/// Everything [`crate::Simulator::start`] needs. `Options::default()` is WhatsApp's own timing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Address both servers listen on (loopback by default).
    pub bind: IpAddr,
    /// HTTPS port for the page (`web.whatsapp.com`); 0 = any free port.
    pub https_port: u16,
    /// Plain-HTTP port for the control API; 0 = any free port.
    pub control_port: u16,
    /// How long each QR ref is shown before the next one.
    pub qr_interval: Duration,
    /// How many refs a QR session has before the page goes `UNPAIRED_IDLE`.
    pub qr_refs: usize,
    /// Delay between `CONNECTED` and `hasSynced` flipping to true.
    pub sync_delay: Duration,
    /// Delay between a message reaching the server (ack 1) and its delivery (ack 2).
    pub ack_delay: Duration,
    /// `window.Debug.VERSION`.
    pub version: String,
    /// Some modules register this long after `window.Debug.VERSION` exists (zero = at once),
    /// as on a cold load of the real site ([`crate::Site::late_modules_ms`]).
    pub late_modules: Duration,
    /// How long a pairing code (link with phone number) stays valid; the client asks for a new
    /// one before that (the real site renews about every 3 minutes).
    pub pairing_code_ttl: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            https_port: 0,
            control_port: 0,
            qr_interval: Duration::from_secs(20),
            qr_refs: 6,
            sync_delay: Duration::from_millis(1500),
            ack_delay: Duration::from_millis(300),
            version: DEFAULT_VERSION.to_owned(),
            late_modules: Duration::ZERO,
            pairing_code_ttl: Duration::from_secs(180),
        }
    }
}
