//! Behaviours: the files users edit. A behaviour is `scripts/<name>.rhai`; its top level
//! registers triggers, its handlers run when they fire.
//!
//! - [`api`]: the host API as binding-neutral Rust (capability checks, call records).
//! - [`rhai`]: the rhai binding: engine, limits, loading a script, calling a handler.
//! - [`trigger`]: trigger declarations and their stable keys.
//! - [`manager`]: load / reload / unload, trigger diffing, event dispatch.
//! - [`runner`]: one task per behaviour running its handlers on blocking threads.
//! - [`watch`]: the debounced file watcher on `scripts/`.
//! - [`status`]: the status board and the snapshot file `vigil behaviours` reads.
//! - [`trace`]: run traces, the last 20 per behaviour.

pub mod api;
mod manager;
pub mod rhai;
mod runner;
pub mod status;
pub mod trace;
pub mod trigger;
pub(crate) mod watch;

pub use manager::{valid_name, Behaviours};
pub use watch::is_script;

#[cfg(test)]
mod default_scripts_tests;
#[cfg(test)]
mod tests;
