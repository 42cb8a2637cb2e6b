//! What a handler runs for — a timer fire or an event — typed, as the runner hands it to either
//! binding: rhai handlers get it as a map (`ev`), plugins as the WIT's `timer-fire` and `event`
//! records.

use chrono::{DateTime, Utc};

use crate::events::Event;

/// A handler's input.
#[derive(Debug, Clone)]
pub enum Input {
    /// A timer trigger fired.
    Timer(TimerFire),
    /// An event matched an `on` trigger.
    Event(Event),
}

/// A timer fire.
#[derive(Debug, Clone)]
pub struct TimerFire {
    /// The trigger's key, e.g. `every 55m..65m -> keepalive`.
    pub trigger: String,
    /// When it was due.
    pub scheduled: DateTime<Utc>,
    /// When it fired.
    pub fired: DateTime<Utc>,
    /// The one catch-up run of a cron trigger with `missed = "run_once"`.
    pub catch_up: bool,
}

impl Input {
    pub fn is_timer(&self) -> bool {
        matches!(self, Input::Timer(_))
    }

    /// The map a rhai handler gets: `kind` (`timer` or `event`) and the record's fields
    /// (timers also in milliseconds).
    pub fn to_map(&self) -> serde_json::Value {
        match self {
            Input::Timer(t) => serde_json::json!({
                "kind": "timer",
                "trigger": t.trigger,
                "scheduled": t.scheduled.timestamp(),
                "fired": t.fired.timestamp(),
                "scheduled_ms": t.scheduled.timestamp_millis(),
                "fired_ms": t.fired.timestamp_millis(),
                "catch_up": t.catch_up,
            }),
            Input::Event(e) => serde_json::json!({
                "kind": "event",
                "event": e.name,
                "source": e.source,
                "at": e.at.timestamp(),
                "data": e.data,
            }),
        }
    }
}
