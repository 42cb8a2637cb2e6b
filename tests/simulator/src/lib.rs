//! A local WhatsApp Web for vigil's tests and demo (issue 3).
//!
//! A [`Simulator`] serves one page over HTTPS that behaves, for code running inside it, like
//! `https://web.whatsapp.com/` as whatsapp-web.js 1.34.7 sees it: `window.Debug.VERSION`,
//! `window.require('<Module>')` with Backbone-like models and collections, WhatsApp's states,
//! rotating QR refs, pairing, sync, sends with acks, incoming messages, logout and faults. Real
//! Chromium loads it with two switches ([`Simulator::chromium_switches`]). A plain-HTTP control
//! API plays the phone and the network (`shared/SIMULATOR.md`); [`ControlClient`] calls it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let sim = wa_sim::Simulator::start(wa_sim::Options::default()).await?;
//! let switches = sim.chromium_switches(); // give these to Chromium, open https://web.whatsapp.com/
//! let control = sim.client();
//! control.scan(None, Some("34600000001")).await?; // the phone scans the newest QR
//! sim.stop().await;
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - `api`: the control API's wire types (`Status`, `Message`, `ScanRequest`, …).
//! - `options`: [`Options`], ports and timings.
//! - `site`: [`Site`], how the site behaves on the next page load (version, missing or late
//!   modules, async ADV secret, logout events), changed with `POST /site`.
//! - `hub`: the shared state and its rules — pages, device tokens, QR sessions, messages,
//!   faults, the events pushed to each page.
//! - `page`: the HTTPS side (`/`, `/app.js`, the page's `/api/…` and its event stream).
//! - `assets/`: the page — `index.html`, `models.js` (models, collections, wids, message keys)
//!   and `app.js` (the modules of `window.require` and the page's life).
//! - `control`: the control API's routes.
//! - `tls`: the self-signed certificate for `web.whatsapp.com`.
//! - `simulator`: [`Simulator`] (start, ports, stop) and [`run`] for the binary.
//! - `client`: [`ControlClient`].

mod client;
mod control;
mod control_types;
mod hub;
mod options;
mod page;
mod simulator;
mod site;
mod tls;

pub use client::{ClientError, ControlClient};
pub use control_types::{
    AccountStatus, Affected, EnterCodeRequest, ErrorBody, Fault, FaultKind, FaultRequest, IncomingRequest,
    IncomingResponse, LogoutRequest, Message, PageStatus, Ready, ScanRequest, ScanResponse, StateRequest, Status,
    WaState,
};
pub use options::{Options, DEFAULT_VERSION};
pub use simulator::{run, Simulator, StartError};
pub use site::{Site, SiteRequest, DEFAULT_LATE_MODULES};
pub use tls::TlsError;
