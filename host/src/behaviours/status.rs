//! The status board: what every behaviour is doing, for `vigil behaviours` and the API.
//!
//! Kept in memory under a std mutex (never held across `.await`) and written to
//! `data/state/behaviours.json` shortly after each change, so `vigil behaviours` (another
//! process) can show it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::suspension::Suspended;
use super::trace::{Trace, TraceLog};
use super::trigger::TriggerStatus;
use crate::clock::Clock;
use crate::scheduler::{Scheduler, TimerId};

/// One behaviour as shown to users.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BehaviourView {
    pub name: String,
    #[schema(value_type = String)]
    pub path: PathBuf,
    pub loaded_at: DateTime<Utc>,
    /// Successful reloads since it was first loaded.
    pub reloads: u64,
    /// The file on disk does not load; the version before it keeps running.
    #[schema(required = true)]
    pub load_error: Option<String>,
    /// For a WASM plugin, where the running version's machine code came from: `compiled`
    /// (compiled at load) or `cache` (from `data/cache/wasm`). `None` for scripts.
    #[serde(default)]
    #[schema(required = true)]
    pub compiled: Option<String>,
    pub runs: u64,
    pub failures: u64,
    #[schema(required = true)]
    pub last_error: Option<String>,
    pub triggers: Vec<TriggerStatus>,
    /// The last runs, oldest first.
    pub traces: Vec<Trace>,
    /// Runs that failed in a row (0 after a success).
    #[serde(default)]
    #[schema(required = true)]
    pub consecutive_failures: u32,
    /// Set while the behaviour is suspended: its triggers do not fire until `until`.
    #[serde(default)]
    #[schema(required = true)]
    pub suspended: Option<Suspended>,
    /// The share of one core its runs took over the minute before its last run (0.1 = 10 %).
    #[serde(default)]
    #[schema(required = true)]
    pub cpu_share: f64,
    /// Run time (wall time inside its runs) since the host started.
    #[serde(default)]
    #[schema(required = true)]
    pub cpu_seconds: f64,
    /// Timer fires skipped because the previous run of the same trigger was still going.
    #[serde(default)]
    #[schema(required = true)]
    pub skipped_overlap: u64,
    /// Fires and events skipped while suspended.
    #[serde(default)]
    #[schema(required = true)]
    pub skipped_suspended: u64,
    /// Times it was suspended since the host started.
    #[serde(default)]
    #[schema(required = true)]
    pub suspensions: u64,
}

/// A snapshot file written by a running host.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    pub host_pid: u32,
    pub written_at: DateTime<Utc>,
    pub behaviours: Vec<BehaviourView>,
}

#[derive(Debug, Clone)]
pub(crate) struct TriggerEntry {
    pub key: String,
    pub handler: String,
    pub timer: Option<TimerId>,
}

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub path: PathBuf,
    pub loaded_at: DateTime<Utc>,
    pub reloads: u64,
    pub load_error: Option<String>,
    pub compiled: Option<&'static str>,
    pub runs: u64,
    pub failures: u64,
    pub last_error: Option<String>,
    pub triggers: Vec<TriggerEntry>,
    pub traces: TraceLog,
    pub health: EntryHealth,
}

/// What the runner's [`Health`](super::suspension::Health) shows of itself.
#[derive(Debug, Clone, Default)]
pub(crate) struct EntryHealth {
    pub consecutive_failures: u32,
    pub suspended: Option<Suspended>,
    pub cpu_share: f64,
}

/// Counters of one behaviour since the host started (kept across reloads and unloads).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Totals {
    /// Wall time inside its runs, in seconds.
    pub cpu_seconds: f64,
    pub skipped_overlap: u64,
    pub skipped_suspended: u64,
    pub suspensions: u64,
}

/// Upper bounds (seconds) of the run-duration histogram buckets (`/metrics`).
pub const DURATION_BUCKETS: [f64; 10] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Handler run durations of one behaviour since the host started (kept across reloads and
/// unloads, as Prometheus counters must be).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Durations {
    /// Runs that took at most [`DURATION_BUCKETS`]`[i]` seconds (not cumulative).
    pub buckets: [u64; DURATION_BUCKETS.len()],
    pub count: u64,
    pub sum_seconds: f64,
}

impl Durations {
    fn observe(&mut self, seconds: f64) {
        if let Some(i) = DURATION_BUCKETS.iter().position(|b| seconds <= *b) {
            self.buckets[i] += 1;
        }
        self.count += 1;
        self.sum_seconds += seconds;
    }
}

/// Shared status of all behaviours.
#[derive(Clone)]
pub struct Board {
    inner: Arc<Mutex<BTreeMap<String, Entry>>>,
    durations: Arc<Mutex<BTreeMap<String, Durations>>>,
    totals: Arc<Mutex<BTreeMap<String, Totals>>>,
    changed: Arc<Notify>,
    scheduler: Scheduler,
}

impl Board {
    pub(crate) fn new(scheduler: Scheduler) -> Self {
        Self {
            inner: Default::default(),
            durations: Default::default(),
            totals: Default::default(),
            changed: Default::default(),
            scheduler,
        }
    }

    /// Run durations per behaviour, since the host started.
    pub fn durations(&self) -> BTreeMap<String, Durations> {
        self.durations.lock().expect("durations").clone()
    }

    /// Counters per behaviour, since the host started.
    pub fn totals(&self) -> BTreeMap<String, Totals> {
        self.totals.lock().expect("totals").clone()
    }

    /// Timer fires of `name` skipped in its current suspension (added to
    /// [`Totals::skipped_suspended`] when it ends).
    pub fn paused_skips(&self, name: &str) -> u64 {
        self.scheduler.paused_skips(name).unwrap_or(0)
    }

    pub(crate) fn count(&self, name: &str, f: impl FnOnce(&mut Totals)) {
        f(self.totals.lock().expect("totals").entry(name.to_string()).or_default());
        self.changed.notify_one();
    }

    pub(crate) fn update(&self, name: &str, f: impl FnOnce(&mut Entry)) {
        if let Some(e) = self.inner.lock().expect("board").get_mut(name) {
            f(e);
        }
        self.changed.notify_one();
    }

    pub(crate) fn insert(&self, name: &str, entry: Entry) {
        self.inner.lock().expect("board").insert(name.to_string(), entry);
        self.changed.notify_one();
    }

    pub(crate) fn remove(&self, name: &str) {
        self.inner.lock().expect("board").remove(name);
        self.changed.notify_one();
    }

    pub(crate) fn record_run(&self, name: &str, trace: Trace) {
        self.durations.lock().expect("durations").entry(name.to_string()).or_default().observe(trace.duration_ms / 1e3);
        self.count(name, |t| t.cpu_seconds += trace.duration_ms / 1e3);
        self.update(name, |e| {
            e.runs += 1;
            if !trace.outcome.is_ok() {
                e.failures += 1;
                e.last_error = Some(trace.outcome.summary());
            }
            e.traces.push(trace);
        });
    }

    /// Every loaded behaviour, with its triggers' next fire times.
    pub fn views(&self) -> Vec<BehaviourView> {
        let entries: Vec<(String, Entry)> =
            self.inner.lock().expect("board").iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let totals = self.totals();
        entries
            .into_iter()
            .map(|(name, e)| {
                let timers = self.scheduler.timers(Some(&name));
                let t = totals.get(&name).cloned().unwrap_or_default();
                BehaviourView {
                    consecutive_failures: e.health.consecutive_failures,
                    suspended: e.health.suspended,
                    cpu_share: e.health.cpu_share,
                    cpu_seconds: t.cpu_seconds,
                    skipped_overlap: t.skipped_overlap,
                    skipped_suspended: t.skipped_suspended + self.paused_skips(&name),
                    suspensions: t.suspensions,
                    triggers: e
                        .triggers
                        .iter()
                        .map(|t| {
                            let info = t.timer.and_then(|id| timers.iter().find(|i| i.id == id));
                            TriggerStatus {
                                trigger: t.key.clone(),
                                handler: t.handler.clone(),
                                next_fire: info.as_ref().and_then(|i| i.next_fire),
                                fires: info.as_ref().map(|i| i.fires).unwrap_or(0),
                                last_fired: info.as_ref().and_then(|i| i.last_fired),
                            }
                        })
                        .collect(),
                    name,
                    path: e.path,
                    loaded_at: e.loaded_at,
                    reloads: e.reloads,
                    load_error: e.load_error,
                    compiled: e.compiled.map(str::to_string),
                    runs: e.runs,
                    failures: e.failures,
                    last_error: e.last_error,
                    traces: e.traces.iter().cloned().collect(),
                }
            })
            .collect()
    }

    /// Writes the snapshot file after each change (at most every 200 ms) until `shutdown`,
    /// then once more.
    pub(crate) async fn write_snapshots(self, path: PathBuf, clock: Clock, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                _ = self.changed.notified() => {}
                _ = shutdown.cancelled() => break,
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            self.write(&path, &clock);
        }
        self.write(&path, &clock);
    }

    fn write(&self, path: &std::path::Path, clock: &Clock) {
        let snap = Snapshot { host_pid: std::process::id(), written_at: clock.now(), behaviours: self.views() };
        let bytes = serde_json::to_vec_pretty(&snap).expect("serializable");
        if let Err(e) = crate::fsutil::write_atomic(path, &bytes) {
            tracing::warn!(path = %path.display(), "cannot write the behaviours snapshot: {e}");
        }
    }
}
