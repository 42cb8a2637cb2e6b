//! {{name}}: a vigil plugin in Rust, sandboxed as a WASM component. It may call the host API
//! (`vigil_sdk`, see plugins/sdk) and nothing else: no files, network or environment. Build it
//! with ./build (gives {{name}}.wasm), try it on a paused clock with
//!   vigil test {{name}}.wasm --for 6h
//! then copy {{name}}.wasm into the host's plugins folder: it is loaded, and replaced live.
//! Grants and parameters go in vigil.toml:
//!   [behaviours.{{name}}]
//!   grants = ["sessions.read"]        # what it may do besides log, kv, events and timers
//!   [behaviours.{{name}}.params]
//!   every = "30m"                     # read below with config("every")

use vigil_sdk::{config, emit, every, info, json, kv_get, kv_set, on, Behaviour, Event, TimerFire};

struct Plugin;

impl Behaviour for Plugin {
    /// Runs once when the plugin is loaded: registers the triggers.
    fn init() -> Result<(), String> {
        // Every 30 minutes (or the `every` parameter), the first time after 1–5 minutes.
        let interval: String = config("every").unwrap_or_else(|| "30m".to_string());
        every(&interval, "tick", Some("1m..5m"))?;
        // React to sessions changing state: `session.ready`, `session.disconnected`, ...
        on("session.*", "changed")?;
        Ok(())
    }

    /// Timer handlers, by the name given to `every`, `cron` or `after`.
    fn on_timer(handler: &str, _fire: TimerFire) -> Result<(), String> {
        match handler {
            "tick" => {
                let n = kv_get::<u64>("ticks")?.unwrap_or(0) + 1;
                kv_set("ticks", &n)?;
                info(&format!("tick {n}"));
                emit("{{name}}.tick", json!({ "n": n }))?;
                Ok(())
            }
            other => Err(vigil_sdk::no_handler(other)),
        }
    }

    /// Event handlers, by the name given to `on`. An `Err` is the run's error.
    fn on_event(handler: &str, event: Event) -> Result<(), String> {
        match handler {
            "changed" => {
                info(&format!("{} from {}", event.event, event.source));
                Ok(())
            }
            other => Err(vigil_sdk::no_handler(other)),
        }
    }
}

vigil_sdk::behaviour!(Plugin);
