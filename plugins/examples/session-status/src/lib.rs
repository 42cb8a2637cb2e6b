//! Session-status reporter: counts session state changes (events `session.*`) in kv, per
//! event name, and every hour emits `session-status.summary` with the counts since the last
//! summary, then starts counting again. Counts live in kv, so they survive reloads and
//! restarts. Needs no grant.

use std::collections::BTreeMap;

use vigil_sdk::{emit, every, json, kv_get, kv_set, now, on, Behaviour, Event, TimerFire};

const COUNTS: &str = "counts";
const SINCE: &str = "since";

struct SessionStatus;

impl Behaviour for SessionStatus {
    fn init() -> Result<(), String> {
        on("session.*", "changed")?;
        every("1h", "summary", None)?;
        Ok(())
    }

    fn on_event(handler: &str, event: Event) -> Result<(), String> {
        match handler {
            "changed" => {
                let mut counts: BTreeMap<String, u64> = kv_get(COUNTS)?.unwrap_or_default();
                *counts.entry(event.event).or_default() += 1;
                kv_set(COUNTS, &counts)?;
                if kv_get::<i64>(SINCE)?.is_none() {
                    kv_set(SINCE, &now())?;
                }
                Ok(())
            }
            other => Err(vigil_sdk::no_handler(other)),
        }
    }

    fn on_timer(handler: &str, fire: TimerFire) -> Result<(), String> {
        match handler {
            "summary" => {
                let counts: BTreeMap<String, u64> = kv_get(COUNTS)?.unwrap_or_default();
                let since: Option<i64> = kv_get(SINCE)?;
                let total: u64 = counts.values().sum();
                emit(
                    "session-status.summary",
                    json!({ "counts": counts, "total": total, "since": since, "until": fire.fired }),
                )?;
                kv_set(COUNTS, &BTreeMap::<String, u64>::new())?;
                kv_set(SINCE, &fire.fired)?;
                Ok(())
            }
            other => Err(vigil_sdk::no_handler(other)),
        }
    }
}

vigil_sdk::behaviour!(SessionStatus);
