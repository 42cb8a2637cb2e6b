//! Write vigil behaviours in Rust, as WASM components that implement the `vigil:host@0.1.0`
//! `behaviour` world (`plugins/wit/`).
//!
//! A plugin is a type implementing [`Behaviour`] and one [`behaviour!`] line:
//! ```ignore
//! use vigil_sdk::{every, emit, json, Behaviour, TimerFire};
//!
//! struct Pulse;
//! impl Behaviour for Pulse {
//!     fn init() -> Result<(), String> {
//!         every("1m", "tick", None)?; // register triggers here
//!         Ok(())
//!     }
//!     fn on_timer(handler: &str, _fire: TimerFire) -> Result<(), String> {
//!         match handler {
//!             "tick" => Ok(emit("pulse.tick", json!({}))?),
//!             other => Err(vigil_sdk::no_handler(other)),
//!         }
//!     }
//! }
//! vigil_sdk::behaviour!(Pulse);
//! ```
//! Build it for `wasm32-unknown-unknown` linked by `wasm-component-ld` (as `plugins/build`
//! does, see `plugins/README.md`) and drop
//! the `.wasm` into the host's `plugins/` folder. The host calls nothing but the functions
//! re-exported here; a plugin has no files, network or clock of its own.
//!
//! # Layout
//! - [`bindings`]: what `wit-bindgen` generates from `plugins/wit/` (the raw API).
//! - the crate root: the [`Behaviour`] trait, the [`behaviour!`] macro, and the host
//!   functions with serde conveniences ([`config`], [`kv_get`], [`kv_set`], [`emit`]).

use serde::de::DeserializeOwned;
use serde::Serialize;

/// The generated bindings of the `behaviour` world. Prefer the wrappers at the crate root.
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "behaviour",
        pub_export_macro: true,
        export_macro_name: "__export_behaviour",
        default_bindings_module: "vigil_sdk::bindings",
    });
}

pub use bindings::exports::vigil::host::plugin::{Event, TimerFire};
pub use bindings::vigil::host::clock::{duration, now, now_ms, random};
pub use bindings::vigil::host::log::Level;
pub use bindings::vigil::host::sessions::{activity, mark, ping, restart, send_text, sessions, state, touch, Session};
pub use bindings::vigil::host::triggers::{after, cron, every, on};
pub use bindings::vigil::host::types::{Error, ErrorKind};
pub use serde_json::{self, json, Value};

/// The version of the host API this SDK speaks; a host refuses plugins of another major version.
pub const WIT_VERSION: &str = "0.1.0";

/// A behaviour. `init` registers triggers; the handlers get the name given at registration.
/// Handlers return `Err(message)` to fail the run (it is reported and traced; the next fire
/// runs as usual). Host errors convert with `?`.
pub trait Behaviour {
    /// Runs once when the plugin loads: register triggers with [`every`], [`cron`], [`on`],
    /// [`after`]. An error refuses the load (on a reload, the old version keeps running).
    fn init() -> Result<(), String>;

    /// A timer registered with `handler` fired. By default: an error naming the handler.
    fn on_timer(handler: &str, fire: TimerFire) -> Result<(), String> {
        let _ = fire;
        Err(no_handler(handler))
    }

    /// An event matching an [`on`] pattern registered with `handler` arrived. By default: an
    /// error naming the handler.
    fn on_event(handler: &str, event: Event) -> Result<(), String> {
        let _ = event;
        Err(no_handler(handler))
    }
}

/// The error for a handler name a plugin does not know.
pub fn no_handler(handler: &str) -> String {
    format!("this plugin has no handler named `{handler}`")
}

/// Exports `$t` (a type implementing [`Behaviour`]) as the plugin's `vigil:host/plugin`.
#[macro_export]
macro_rules! behaviour {
    ($t:ty) => {
        struct __VigilPlugin;
        impl $crate::bindings::exports::vigil::host::plugin::Guest for __VigilPlugin {
            fn init() -> ::core::result::Result<(), ::std::string::String> {
                <$t as $crate::Behaviour>::init()
            }
            fn on_timer(
                handler: ::std::string::String,
                fire: $crate::TimerFire,
            ) -> ::core::result::Result<(), ::std::string::String> {
                <$t as $crate::Behaviour>::on_timer(&handler, fire)
            }
            fn on_event(
                handler: ::std::string::String,
                event: $crate::Event,
            ) -> ::core::result::Result<(), ::std::string::String> {
                <$t as $crate::Behaviour>::on_event(&handler, event)
            }
        }
        $crate::bindings::__export_behaviour!(__VigilPlugin with_types_in $crate::bindings);
    };
}

impl From<Error> for String {
    fn from(e: Error) -> String {
        e.message
    }
}

/// Logs `message` at `level` with the behaviour's name.
pub fn log(level: Level, message: &str) {
    bindings::vigil::host::log::log(level, message)
}

/// Logs at info level.
pub fn info(message: &str) {
    log(Level::Info, message)
}

/// Logs at warn level.
pub fn warn(message: &str) {
    log(Level::Warn, message)
}

/// A random element of `items` (`None` when empty), chosen by the host's (seedable) RNG.
pub fn pick<'a>(items: &[&'a str]) -> Option<&'a str> {
    let owned: Vec<String> = items.iter().map(|s| s.to_string()).collect();
    let chosen = bindings::vigil::host::clock::pick(&owned)?;
    items.iter().copied().find(|s| *s == chosen)
}

/// The behaviour's parameter `key` (`[behaviours.<name>.params]`), decoded; `None` when unset
/// or not of type `T`.
pub fn config<T: DeserializeOwned>(key: &str) -> Option<T> {
    bindings::vigil::host::config::config(key).and_then(|json| serde_json::from_str(&json).ok())
}

/// The value stored under `key`, decoded (`None` when absent or not of type `T`).
pub fn kv_get<T: DeserializeOwned>(key: &str) -> Result<Option<T>, Error> {
    Ok(bindings::vigil::host::kv::kv_get(key)?.and_then(|json| serde_json::from_str(&json).ok()))
}

/// Stores `value` under `key` (persisted by the host).
pub fn kv_set<T: Serialize + ?Sized>(key: &str, value: &T) -> Result<(), Error> {
    let json = serde_json::to_string(value)
        .map_err(|e| Error { kind: ErrorKind::Invalid, message: format!("kv_set `{key}`: cannot encode: {e}") })?;
    bindings::vigil::host::kv::kv_set(key, &json)
}

/// Removes `key`; `true` if it existed.
pub fn kv_delete(key: &str) -> Result<bool, Error> {
    bindings::vigil::host::kv::kv_delete(key)
}

/// Publishes `event` with `data` (a JSON object, e.g. `json!({"n": 1})`).
pub fn emit(event: &str, data: Value) -> Result<(), Error> {
    bindings::vigil::host::events::emit(event, &data.to_string())
}

impl Event {
    /// The event's data, parsed (`Value::Null` if the host sent something unparsable).
    pub fn data(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or(Value::Null)
    }
}
