//! Each session's history, written to the store as it happens (see [`crate::store::history`]):
//! - its status changes, from the host's `session.status` events;
//! - messages sent (`message.sent`) and delivered (the first `message.ack` with ack ≥ 2 of a
//!   message it sent), counted per hour;
//! - its browser's memory, from the resources sampler (every `sessions.resources_interval`),
//!   one point (mean, max) per `[history] memory_step`.
//!
//! Only the host's own events count (a behaviour's `emit` of the same name does not). Rows
//! older than `[history] keep` (30 days) are pruned every hour; a removed session's history
//! goes with it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::config::HistoryConfig;
use crate::events::{Event, EventBus};
use crate::sessions::Sessions;
use crate::store::Store;

/// Message ids remembered while waiting for their delivery (or for their send, when the ack
/// came first).
const REMEMBER: usize = 4096;
/// How often old history is pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// What the recorder needs.
pub struct Recorder {
    pub store: Store,
    pub sessions: Arc<dyn Sessions>,
    pub clock: Clock,
    pub config: HistoryConfig,
    /// How often the resources sampler measures (the recorder reads its figures as often).
    pub sample_every: Duration,
}

impl Recorder {
    /// Starts recording: it subscribes to `bus` now, so no later event is missed.
    pub fn spawn(self, bus: &EventBus, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
        let rx = bus.subscribe();
        tokio::spawn(self.run(rx, shutdown))
    }

    async fn run(self, mut rx: tokio::sync::broadcast::Receiver<Event>, shutdown: CancellationToken) {
        let mut state = State::default();
        let mut sample = tokio::time::interval(self.sample_every.max(Duration::from_millis(100)));
        sample.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut prune = tokio::time::interval(PRUNE_EVERY);
        prune.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                r = rx.recv() => match r {
                    Ok(e) => self.on_event(&mut state, &e).await,
                    Err(RecvError::Lagged(n)) => tracing::warn!("history: {n} events missed (they came faster than the store took them)"),
                    Err(RecvError::Closed) => return,
                },
                _ = sample.tick() => self.sample(&mut state).await,
                _ = prune.tick() => {
                    let before = self.clock.now() - chrono::Duration::from_std(self.config.keep.0).unwrap_or(chrono::Duration::days(30));
                    match self.store.prune_history(before).await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!("history: pruned {n} rows older than {before}"),
                        Err(e) => tracing::warn!("history: {e}"),
                    }
                }
            }
        }
    }

    async fn on_event(&self, state: &mut State, e: &Event) {
        if e.source != "host" {
            return;
        }
        let Some(session) = e.data.get("session").and_then(|s| s.as_str()) else { return };
        let out = match e.name.as_str() {
            "session.status" => {
                let Some(status) = e.data.get("status").and_then(|s| s.as_str()) else { return };
                let reason = e.data.get("reason").and_then(|s| s.as_str());
                if !state.status_changed(session, status, reason) {
                    return;
                }
                self.store.record_status(session, e.at, status, reason).await
            }
            "message.sent" => {
                let id = e.data.get("id").and_then(|s| s.as_str()).unwrap_or_default();
                let acked = state.sent(id);
                self.store.count_messages(session, e.at, 1, acked as i64).await
            }
            "message.ack" => {
                let delivered = e.data.get("ack").and_then(|a| a.as_i64()).is_some_and(|a| a >= 2);
                let id = e.data.get("id").and_then(|s| s.as_str()).unwrap_or_default();
                if !delivered || !state.delivered(id) {
                    return;
                }
                self.store.count_messages(session, e.at, 0, 1).await
            }
            "session.removed" => {
                state.forget(session);
                self.store.delete_history(session).await
            }
            _ => return,
        };
        if let Err(err) = out {
            tracing::warn!(session, event = %e.name, "history not recorded: {err}");
        }
    }

    /// Records each session's new memory figure (one the sampler took since the last look).
    async fn sample(&self, state: &mut State) {
        let Ok(list) = self.sessions.list().await else { return };
        for info in list {
            let Some(r) = self.sessions.resources(&info.id) else { continue };
            if state.sampled.get(info.id.as_str()) == Some(&r.sampled_at) {
                continue;
            }
            state.sampled.insert(info.id.to_string(), r.sampled_at);
            if let Err(e) =
                self.store.record_memory(&info.id, r.sampled_at, self.config.memory_step.0, r.memory_bytes).await
            {
                tracing::warn!(session = %info.id, "history: memory not recorded: {e}");
            }
        }
    }
}

/// What the recorder remembers between events.
#[derive(Default)]
struct State {
    /// Each session's last recorded status and reason (a repeat is not a change).
    status: HashMap<String, (String, Option<String>)>,
    /// Messages sent, not yet delivered.
    waiting: Bounded,
    /// Deliveries seen before their send's event.
    early: Bounded,
    /// The sample time of each session's last recorded memory figure.
    sampled: HashMap<String, DateTime<Utc>>,
}

impl State {
    fn status_changed(&mut self, session: &str, status: &str, reason: Option<&str>) -> bool {
        let now = (status.to_string(), reason.map(str::to_string));
        self.status.insert(session.to_string(), now.clone()) != Some(now)
    }

    /// A message was sent; whether it was delivered already.
    fn sent(&mut self, id: &str) -> bool {
        if id.is_empty() {
            return false;
        }
        if self.early.remove(id) {
            return true;
        }
        self.waiting.insert(id);
        false
    }

    /// A message was delivered; whether it counts now (it is one we saw sent).
    fn delivered(&mut self, id: &str) -> bool {
        if id.is_empty() {
            return false;
        }
        if self.waiting.remove(id) {
            return true;
        }
        self.early.insert(id);
        false
    }

    fn forget(&mut self, session: &str) {
        self.status.remove(session);
        self.sampled.remove(session);
    }
}

/// A set of the last [`REMEMBER`] ids.
#[derive(Default)]
struct Bounded {
    order: VecDeque<String>,
    set: HashSet<String>,
}

impl Bounded {
    fn insert(&mut self, id: &str) {
        if !self.set.insert(id.to_string()) {
            return;
        }
        self.order.push_back(id.to_string());
        if self.order.len() > REMEMBER {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
    }

    fn remove(&mut self, id: &str) -> bool {
        // The order queue keeps the id until it ages out; `set` is what counts.
        self.set.remove(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_delivered_once_whichever_event_comes_first() {
        let mut s = State::default();
        assert!(!s.sent("a"));
        assert!(s.delivered("a"), "ack after send");
        assert!(!s.delivered("a"), "a second ack ≥ 2 (read) is not a second delivery");
        assert!(!s.delivered("b"), "ack before its send");
        assert!(s.sent("b"));
        assert!(!s.delivered("x"), "a message not sent by the session");
        assert!(!s.sent(""));
    }

    #[test]
    fn a_repeated_status_is_not_a_change() {
        let mut s = State::default();
        assert!(s.status_changed("m", "ready", None));
        assert!(!s.status_changed("m", "ready", None));
        assert!(s.status_changed("m", "disconnected", Some("phone offline")));
        assert!(s.status_changed("m", "disconnected", Some("conflict")));
        assert!(s.status_changed("n", "ready", None));
    }

    #[test]
    fn the_remembered_ids_are_bounded() {
        let mut b = Bounded::default();
        for i in 0..(REMEMBER + 10) {
            b.insert(&i.to_string());
        }
        assert_eq!(b.set.len(), REMEMBER);
        assert!(!b.remove("0"), "the oldest aged out");
        assert!(b.remove(&(REMEMBER + 9).to_string()));
    }
}
