//! vigil keeps WhatsApp Web sessions alive and watched. A host (this crate) owns the
//! browsers and the timers; policies are behaviours — rhai scripts in `scripts/` and WASM
//! components in `plugins/` — that call one host API and are hot-reloaded when their files
//! change.
//!
//! # Layout
//! - [`config`]: `vigil.toml`, defaults, `VIGIL_...` environment overrides, located errors.
//! - [`clock`]: the one place wall time is read (paused-clock tests).
//! - [`duration`]: humane durations (`30s`, `55m..65m`).
//! - [`scheduler`]: jittered intervals, cron with timezones and missed-run policy, one-shots;
//!   timers owned by behaviours and cancelled as a group.
//! - [`events`]: the event bus.
//! - [`store`]: SQLite / PostgreSQL: kv, last runs, owners, alert ledger, outbox, events.
//! - [`alerts`]: `raise` / `resolve`, email templates, the SMTP outbox worker.
//! - [`fsutil`]: atomic writes, free space; [`fswatch`]: the debounced file watcher.
//! - [`history`]: each session's status changes, messages per hour and memory, recorded to the store.
//! - [`sessions`]: WhatsApp sessions in Chromium — manager, supervisors, profile care,
//!   backups — and the session functions of the host API.
//! - [`sites`]: what knows WhatsApp Web's internals: its storage, states and the bridge.
//! - [`behaviours`]: the host API, the rhai and WASM bindings, loading / reloading, runners,
//!   traces.
//! - [`api`]: the HTTP API (axum): REST, WebSocket events, health, metrics, OpenAPI.
//! - [`webhooks`]: events POSTed to `[[webhooks]]` receivers, signed, retried, in order.
//! - [`cluster`]: several hosts on one PostgreSQL: leases with fencing, placement, profile
//!   snapshots in object storage, drain.
//! - [`host`]: assembling the parts; [`run`].
//! - [`bundled`]: the default behaviours, templates and config in the binary, laid out where missing.
//! - [`check`]: `vigil check`.
//! - [`doctor`]: `vigil doctor`: is this machine ready (Chromium, fonts, data folder, store, SMTP).
//! - [`trial`]: `vigil test <script>`: a behaviour on a paused clock, what it would do.
//! - [`cli`]: the command line (the binary only parses and calls into it), one file per
//!   command: `cli::tokens` (`vigil owner token …`), `cli::schema`, `cli::init`,
//!   `cli::silence` (through the host's API), `cli::defs`, `cli::cluster` (`vigil cluster
//!   status`), `cli::link` (`vigil session link <id> --phone …`: linking by pairing code).
//!
//! # Features
//! - `demo` (default): `vigil demo`, which links the WhatsApp Web simulator of `tests/simulator`.
//! - `trial` (default): `vigil test`, which runs on tokio's paused test clock.
//!
//! A production build (the Dockerfile, nixpacks.toml) uses `--no-default-features`: no test
//! equipment linked.

pub mod alerts;
pub mod api;
pub mod behaviours;
pub mod bundled;
pub mod check;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod dashboard;
#[cfg(feature = "demo")]
pub mod demo;
pub mod doctor;
pub mod duration;
pub mod events;
pub mod fsutil;
pub mod fswatch;
pub mod history;
pub mod host;
pub mod scaffold;
pub mod scheduler;
pub mod sessions;
pub mod sites;
pub mod store;
pub mod trial;
pub mod webhooks;

pub use host::{run, Host, HostParts};
