//! The WASM binding of the host API: components implementing the `vigil:host@0.1.0`
//! `behaviour` world (`plugins/wit/`), run with wasmtime.
//!
//! - [`bindings`]: `bindgen!` over `plugins/wit/`, and the WIT version check that refuses
//!   plugins built for another major version.
//! - [`imports`]: the host side of every WIT import, each a thin layer over
//!   [`super::host_calls::HostCalls`] (so grants, traces and errors are the rhai binding's).
//! - [`runtime`]: the one `Engine` and `Linker`, the epoch ticker, compiling with the on-disk
//!   cache (`data/cache/wasm/<key>.cwasm`).
//! - [`plugin`]: one loaded version: its own `Store` with a memory limiter and an epoch
//!   deadline per call; `init`, the handlers, and turning traps into trace outcomes.
//!
//! Calls are synchronous and run on tokio's blocking threads, as rhai's do: host functions
//! reach the async services through `Handle::block_on` exactly like the rhai binding, and a
//! plugin stuck in a loop holds a blocking thread (never a runtime worker) until its epoch
//! deadline traps it.

pub(crate) mod bindings;
mod imports;
mod plugin;
mod runtime;

pub use plugin::Plugin;
pub use runtime::{CacheUse, Runtime};

#[cfg(test)]
mod tests;
