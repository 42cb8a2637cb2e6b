//! The event bus: what happened in the host (a behaviour reloaded, a session changed state, a
//! behaviour's `emit`). Behaviours subscribe with `on(pattern, handler)`; later the API streams
//! it to WebSocket clients.
//!
//! A broadcast channel with a bounded buffer: a slow subscriber loses the oldest events (and is
//! told how many), it never blocks the host.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::broadcast;

/// How many events a subscriber may fall behind before it loses some.
const CAPACITY: usize = 1024;
/// Events emitted by handlers that were themselves triggered by events nest at most this deep;
/// deeper ones are dropped with a warning, so two behaviours cannot ping-pong forever.
pub const MAX_EVENT_DEPTH: u32 = 8;

/// One event.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Event {
    /// Dotted name: `behaviour.reloaded`, `session.ready`, or whatever a behaviour emits.
    pub name: String,
    /// Who emitted it: `host`, or the behaviour's name.
    pub source: String,
    pub at: DateTime<Utc>,
    /// Free-form JSON payload.
    pub data: serde_json::Value,
    /// 0 for events from the host; handler-emitted events are one deeper than their cause.
    #[serde(skip)]
    pub depth: u32,
}

/// Cheap, cloneable handle on the bus.
#[derive(Clone, Debug)]
pub struct EventBus {
    tx: broadcast::Sender<Event>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}

impl EventBus {
    pub fn new() -> Self {
        Self { tx: broadcast::channel(CAPACITY).0 }
    }

    /// Publishes an event; having no subscriber is fine.
    pub fn publish(&self, event: Event) {
        let _ = self.tx.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }
}

/// Does `name` match `pattern`? Patterns are exact names, `*` (everything) or a prefix
/// ending in `.*` (`session.*` matches `session.ready`).
pub fn matches(pattern: &str, name: &str) -> bool {
    if pattern == "*" || pattern == name {
        return true;
    }
    match pattern.strip_suffix(".*") {
        Some(prefix) => name.len() > prefix.len() && name.starts_with(prefix) && name.as_bytes()[prefix.len()] == b'.',
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn patterns() {
        assert!(matches("session.ready", "session.ready"));
        assert!(matches("session.*", "session.ready"));
        assert!(!matches("session.*", "sessions.ready"));
        assert!(!matches("session.*", "session"));
        assert!(matches("*", "anything"));
        assert!(!matches("session.ready", "session.readyx"));
    }
}
