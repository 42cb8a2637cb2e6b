//! vigil keeps WhatsApp Web sessions alive and watched. A host (this crate) owns the
//! browsers and the timers; policies are behaviours — rhai scripts in `scripts/` — that call
//! one host API and are hot-reloaded when their files change.
//!
//! # Layout
//! - [`config`]: `vigil.toml`, defaults, `VIGIL_...` environment overrides, located errors.
//! - [`clock`]: the one place wall time is read (paused-clock tests).
//! - [`duration`]: humane durations (`30s`, `55m..65m`).
//! - [`scheduler`]: jittered intervals, cron with timezones and missed-run policy, one-shots;
//!   timers owned by behaviours and cancelled as a group.
//! - [`events`]: the event bus.
//! - [`state`]: persisted kv and trigger last runs (an interim JSON file store).
//! - [`sessions`]: WhatsApp sessions in Chromium — manager, supervisors, profile care,
//!   backups — and the session functions of the host API.
//! - [`sites`]: what knows WhatsApp Web's internals: its storage, states and the bridge.
//! - [`behaviours`]: the host API, the rhai binding, loading / reloading, runners, traces.
//! - [`host`]: assembling the parts; [`run`].
//! - [`check`]: `vigil check`.
//! - [`cli`]: the command line (the binary only parses and calls into it).

pub mod behaviours;
pub mod check;
pub mod cli;
pub mod clock;
pub mod config;
pub mod duration;
pub mod events;
pub mod host;
pub mod scheduler;
pub mod sessions;
pub mod sites;
pub mod state;

pub use host::{run, Host, HostParts};
