//! What each session's browser costs: its process tree (Chromium and every helper) measured
//! every `sessions.resources_interval` — memory as PSS, CPU seconds — kept with the last
//! [`KEEP`] memory figures for the dashboard's sparkline. Read by `/metrics`, the API and the
//! host API's `resources(id)`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::chromium::tree_usage;
use crate::clock::Clock;

/// Memory figures kept per session (at the default 30 s: the last half hour).
pub const KEEP: usize = 60;

/// The last measurement of a session's browser.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Resources {
    /// Proportional set size of the whole process tree, bytes.
    pub memory_bytes: u64,
    /// CPU time (user + system) of the tree's live processes, seconds.
    #[schema(minimum = 0)]
    pub cpu_seconds: f64,
    /// Processes in the tree.
    pub processes: u32,
    pub sampled_at: DateTime<Utc>,
    /// Sends of this session under way now (a quiet moment has none).
    pub sends_in_flight: u32,
    /// The last memory figures, oldest first, bytes.
    pub memory_history: Vec<u64>,
}

#[derive(Default)]
struct Series {
    last: Option<(u64, f64, u32, DateTime<Utc>)>,
    memory: VecDeque<u64>,
}

/// The measurements of every session (and the sends in flight, which the manager counts).
#[derive(Clone, Default)]
pub struct Board {
    inner: Arc<Mutex<BTreeMap<String, Series>>>,
    sending: Arc<Mutex<BTreeMap<String, u32>>>,
}

/// Counts one send of a session while it lives.
pub struct InFlight {
    board: Board,
    id: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut s = self.board.sending.lock().expect("sending");
        if let Some(n) = s.get_mut(&self.id) {
            *n = n.saturating_sub(1);
        }
    }
}

impl Board {
    /// Records a measurement of session `id`.
    pub fn record(&self, id: &str, pss: u64, cpu: f64, processes: u32, at: DateTime<Utc>) {
        let mut m = self.inner.lock().expect("resources");
        let s = m.entry(id.to_string()).or_default();
        s.last = Some((pss, cpu, processes, at));
        if s.memory.len() == KEEP {
            s.memory.pop_front();
        }
        s.memory.push_back(pss);
    }

    /// Forgets the figures of a session whose browser stopped.
    pub fn forget(&self, id: &str) {
        self.inner.lock().expect("resources").remove(id);
    }

    /// A send of `id` starts; it ends when the guard drops.
    pub fn sending(&self, id: &str) -> InFlight {
        *self.sending.lock().expect("sending").entry(id.to_string()).or_default() += 1;
        InFlight { board: self.clone(), id: id.to_string() }
    }

    /// The last measurement of `id`, if its browser was measured since it started.
    pub fn get(&self, id: &str) -> Option<Resources> {
        let sends_in_flight = self.sending.lock().expect("sending").get(id).copied().unwrap_or(0);
        let m = self.inner.lock().expect("resources");
        let s = m.get(id)?;
        let (memory_bytes, cpu_seconds, processes, sampled_at) = s.last?;
        Some(Resources {
            memory_bytes,
            cpu_seconds,
            processes,
            sampled_at,
            sends_in_flight,
            memory_history: s.memory.iter().copied().collect(),
        })
    }
}

/// Measures the process groups `running()` names (session id → group leader) now and every
/// `interval`, until `stop`. Sessions no longer running are forgotten.
pub fn spawn_sampler(
    board: Board,
    interval: Duration,
    clock: Clock,
    running: impl Fn() -> Vec<(String, Option<i32>)> + Send + 'static,
    stop: CancellationToken,
) {
    tokio::spawn(async move {
        loop {
            let now = clock.now();
            let groups = running();
            let measured = tokio::task::spawn_blocking(move || {
                groups.into_iter().map(|(id, pid)| (id, pid.filter(|p| *p > 0).map(tree_usage))).collect::<Vec<_>>()
            })
            .await
            .unwrap_or_default();
            for (id, usage) in measured {
                match usage {
                    Some(u) if u.processes > 0 => board.record(&id, u.pss_bytes, u.cpu_seconds, u.processes, now),
                    _ => board.forget(&id),
                }
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(interval.max(Duration::from_millis(100))) => {}
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_board_keeps_the_last_figures_and_counts_sends_in_flight() {
        let b = Board::default();
        assert_eq!(b.get("a"), None);
        let t = Utc::now();
        for i in 0..(KEEP as u64 + 5) {
            b.record("a", 100 + i, 1.5, 3, t);
        }
        let r = b.get("a").unwrap();
        assert_eq!(r.memory_bytes, 100 + KEEP as u64 + 4);
        assert_eq!(r.memory_history.len(), KEEP);
        assert_eq!(r.memory_history[0], 105);
        assert_eq!(r.sends_in_flight, 0);
        let g = b.sending("a");
        let g2 = b.sending("a");
        assert_eq!(b.get("a").unwrap().sends_in_flight, 2);
        drop(g);
        drop(g2);
        assert_eq!(b.get("a").unwrap().sends_in_flight, 0);
        b.forget("a");
        assert_eq!(b.get("a"), None);
    }
}
