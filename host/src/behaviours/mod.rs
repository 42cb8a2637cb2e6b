//! Behaviours: the files users edit. A behaviour is `scripts/<name>.rhai` or
//! `plugins/<name>.wasm` (a component of the `vigil:host` WIT world); its top level (a
//! plugin's `init`) registers triggers, its handlers run when they fire.
//!
//! - [`host_calls`]: the host API as binding-neutral Rust ([`host_calls::HostCalls`]: capability checks, call records).
//! - [`capability`]: what a behaviour may be granted (`[behaviours.<name>] grants`).
//! - [`host_fns`]: each host function declared once (arguments, types, defaults, grant, doc),
//!   driving both bindings, `scripts/vigil.d.rhai` and the README's table.
//! - [`rhai`]: the rhai binding: engine, limits, loading a script, calling a handler.
//! - [`wasm`]: the WASM binding: WIT bindings, the shared engine and compile cache, plugins
//!   with epoch deadlines and memory limits.
//! - [`input`]: a handler's input, a timer fire or an event, typed for both bindings.
//! - [`loaded`]: what both bindings' loaded versions offer the rest (a trait), and loading a
//!   file by its extension.
//! - [`trigger`]: trigger declarations and their stable keys.
//! - [`manager`]: load / reload / unload, trigger diffing, event dispatch.
//! - [`runner`]: one task per behaviour running its handlers on blocking threads.
//! - [`watch`]: the debounced file watcher on `scripts/` and `plugins/`.
//! - [`status`]: the status board and the snapshot file `vigil behaviours` reads.
//! - [`trace`]: run traces, the last 20 per behaviour.
//! - [`suspension`]: failures in a row and the CPU share that suspend a behaviour, with backoff.
//! - `suspension_alert`: the one email per suspension streak, through the alert ledger.
//! - `log_dedup`: the same error logged once, then one "repeated N times" line a minute.

pub mod capability;
pub mod host_calls;
pub(crate) mod host_fns;
pub mod input;
pub(crate) mod loaded;
mod log_dedup;
mod manager;
pub mod rhai;
mod runner;
pub mod status;
pub mod suspension;
mod suspension_alert;
pub mod trace;
pub mod trigger;
pub mod wasm;
pub(crate) mod watch;

pub use capability::Capability;
pub use loaded::Loaded;
pub use manager::{valid_name, Behaviours, NotLoaded};
pub use watch::{is_behaviour_file, is_plugin, is_script};

#[cfg(test)]
mod default_scripts_tests;
#[cfg(test)]
mod tests;
