//! [`Scheduler`], the cheap handle the rest of the host holds, and the registry of live timers
//! behind it.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::clock::Clock;
use crate::scheduler::last_runs::LastRuns;
use crate::scheduler::plan::Plan;
use crate::scheduler::spec::{SpecError, TriggerSpec};
use crate::scheduler::timer::Timer;

/// Names one timer of one [`Scheduler`]; never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct TimerId(pub u64);

impl fmt::Display for TimerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// One firing of a timer, as sent to its owner.
#[derive(Clone, Debug)]
pub struct Fire {
    pub owner: Arc<str>,
    pub timer: TimerId,
    pub key: Arc<str>,
    /// The occurrence this fire stands for (for a catch-up, the missed occurrence).
    pub scheduled: DateTime<Utc>,
    /// When it actually fired.
    pub fired: DateTime<Utc>,
    /// The same moment on tokio's monotonic clock (the runner compares it with its runs to
    /// skip fires that came while the previous run of the trigger was still going).
    pub fired_at: tokio::time::Instant,
    /// A missed cron run, fired once at start-up (`missed: run_once`).
    pub catch_up: bool,
}

/// A live timer, as [`Scheduler::timers`] reports it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TimerInfo {
    pub id: TimerId,
    pub owner: String,
    pub key: String,
    pub spec: TriggerSpec,
    /// When it fires next; `None` once it has nothing left to fire.
    pub next_fire: Option<DateTime<Utc>>,
    /// How many times it has fired.
    pub fires: u64,
    pub last_fired: Option<DateTime<Utc>>,
}

/// Runs timers on tokio, one task each, and delivers their fires on the owners' channels.
///
/// Wall time comes only from the [`Clock`] and waiting only from `tokio::time`, so on a paused
/// tokio clock with [`Clock::starting_at`] days of timers run in milliseconds.
#[derive(Clone)]
pub struct Scheduler {
    shared: Arc<Shared>,
}

/// What the scheduler and its timer tasks share.
pub(crate) struct Shared {
    pub clock: Clock,
    pub last_runs: Arc<dyn LastRuns>,
    pub registry: Registry,
    seed: Option<u64>,
    shutdown: CancellationToken,
    next_id: AtomicU64,
    /// Owners whose timers are paused (a suspended behaviour), with the fires skipped since.
    paused: Mutex<BTreeMap<Arc<str>, u64>>,
}

impl Shared {
    /// Counts a fire of `owner` as skipped if its timers are paused; `true` then.
    pub(crate) fn skip_if_paused(&self, owner: &str) -> bool {
        let mut paused = self.paused.lock().unwrap_or_else(PoisonError::into_inner);
        match paused.get_mut(owner) {
            Some(n) => {
                *n += 1;
                true
            }
            None => false,
        }
    }
}

impl Scheduler {
    /// A scheduler reading wall time from `clock`. `seed` makes every timer's jitter
    /// reproducible (each timer draws from its own generator, seeded from `seed` and its id);
    /// `None` seeds from the operating system. Cancelling `shutdown` ends every timer.
    pub fn new(clock: Clock, seed: Option<u64>, last_runs: Arc<dyn LastRuns>, shutdown: CancellationToken) -> Self {
        Self {
            shared: Arc::new(Shared {
                clock,
                last_runs,
                registry: Registry::default(),
                seed,
                shutdown,
                next_id: AtomicU64::new(1),
                paused: Mutex::new(BTreeMap::new()),
            }),
        }
    }

    /// Starts a timer owned by `owner`; each fire is sent on `tx`. `key` is opaque here and
    /// stable across restarts (it keys the persisted last run), e.g.
    /// "cron `0 2 * * *` Europe/Madrid -> nightly".
    ///
    /// A spec that fails [`TriggerSpec::validate`] (only possible when built by hand) is logged
    /// and not started: the returned id is unknown to [`Self::timers`]. Use [`Self::try_add`]
    /// to get the error instead.
    pub async fn add(&self, owner: &str, key: &str, spec: TriggerSpec, tx: mpsc::Sender<Fire>) -> TimerId {
        match self.try_add(owner, key, spec, tx).await {
            Ok(id) => id,
            Err(error) => {
                tracing::error!(owner, key, %error, "timer not started");
                self.allocate_id()
            }
        }
    }

    /// [`Self::add`], returning the error of an invalid spec.
    pub async fn try_add(
        &self,
        owner: &str,
        key: &str,
        spec: TriggerSpec,
        tx: mpsc::Sender<Fire>,
    ) -> Result<TimerId, SpecError> {
        let last_run = match spec {
            TriggerSpec::Cron { .. } => self.shared.last_runs.last_run(owner, key).await,
            _ => None,
        };
        let id = self.allocate_id();
        let rng = match self.shared.seed {
            Some(seed) => StdRng::seed_from_u64(seed ^ id.0.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            None => StdRng::from_entropy(),
        };
        let span = tracing::info_span!("timer", timer = id.0, owner, key);
        let (plan, first) = span.in_scope(|| Plan::start(&spec, rng, &self.shared.clock, last_run))?;
        let cancel = self.shared.shutdown.child_token();
        let (owner, key): (Arc<str>, Arc<str>) = (owner.into(), key.into());
        self.shared.registry.lock().insert(
            id,
            Entry {
                owner: owner.clone(),
                key: key.clone(),
                spec,
                cancel: cancel.clone(),
                next_fire: first.as_ref().map(|d| d.expected),
                fires: 0,
                last_fired: None,
            },
        );
        let timer = Timer { id, owner, key, plan, tx, cancel, shared: self.shared.clone() };
        tokio::spawn(timer.run(first).instrument(span));
        Ok(id)
    }

    /// Stops a timer; `false` if it was not running.
    pub fn cancel(&self, id: TimerId) -> bool {
        let entry = self.shared.registry.lock().remove(&id);
        entry.map(|e| e.cancel.cancel()).is_some()
    }

    /// Stops every timer of `owner`; returns how many.
    pub fn cancel_owner(&self, owner: &str) -> usize {
        let mut timers = self.shared.registry.lock();
        let ids: Vec<TimerId> = timers.iter().filter(|(_, e)| &*e.owner == owner).map(|(id, _)| *id).collect();
        for id in &ids {
            if let Some(entry) = timers.remove(id) {
                entry.cancel.cancel();
            }
        }
        ids.len()
    }

    /// Pauses every timer of `owner`, present and future: their fires are skipped (not
    /// recorded as runs, not delivered) and counted until [`Self::resume_owner`]. The timers
    /// keep their schedules.
    pub fn pause_owner(&self, owner: &str) {
        self.shared.paused.lock().unwrap_or_else(PoisonError::into_inner).entry(owner.into()).or_insert(0);
    }

    /// Ends [`Self::pause_owner`]; returns how many fires were skipped while paused (0 if it
    /// was not paused).
    pub fn resume_owner(&self, owner: &str) -> u64 {
        self.shared.paused.lock().unwrap_or_else(PoisonError::into_inner).remove(owner).unwrap_or(0)
    }

    /// Fires of `owner` skipped since it was paused; `None` when it is not paused.
    pub fn paused_skips(&self, owner: &str) -> Option<u64> {
        self.shared.paused.lock().unwrap_or_else(PoisonError::into_inner).get(owner).copied()
    }

    /// The live timers, of one owner or of all, in the order they were added.
    pub fn timers(&self, owner: Option<&str>) -> Vec<TimerInfo> {
        let timers = self.shared.registry.lock();
        timers.iter().filter(|(_, e)| owner.is_none_or(|o| &*e.owner == o)).map(|(id, e)| e.info(*id)).collect()
    }

    /// One live timer.
    pub fn timer(&self, id: TimerId) -> Option<TimerInfo> {
        self.shared.registry.lock().get(&id).map(|e| e.info(id))
    }

    /// When a live timer fires next.
    pub fn next_fire(&self, id: TimerId) -> Option<DateTime<Utc>> {
        self.shared.registry.lock().get(&id)?.next_fire
    }

    /// The clock this scheduler reads.
    pub fn clock(&self) -> &Clock {
        &self.shared.clock
    }

    fn allocate_id(&self) -> TimerId {
        TimerId(self.shared.next_id.fetch_add(1, Ordering::Relaxed))
    }
}

impl fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scheduler")
            .field("clock", &self.shared.clock)
            .field("timers", &self.shared.registry.lock().len())
            .finish_non_exhaustive()
    }
}

/// The live timers. The lock is never held across `.await`.
#[derive(Default)]
pub(crate) struct Registry {
    timers: Mutex<BTreeMap<TimerId, Entry>>,
}

struct Entry {
    owner: Arc<str>,
    key: Arc<str>,
    spec: TriggerSpec,
    cancel: CancellationToken,
    next_fire: Option<DateTime<Utc>>,
    fires: u64,
    last_fired: Option<DateTime<Utc>>,
}

impl Entry {
    fn info(&self, id: TimerId) -> TimerInfo {
        TimerInfo {
            id,
            owner: self.owner.to_string(),
            key: self.key.to_string(),
            spec: self.spec.clone(),
            next_fire: self.next_fire,
            fires: self.fires,
            last_fired: self.last_fired,
        }
    }
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<TimerId, Entry>> {
        // A panic elsewhere while holding the lock leaves the map consistent enough to go on.
        self.timers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn set_next(&self, id: TimerId, next: Option<DateTime<Utc>>) {
        if let Some(entry) = self.lock().get_mut(&id) {
            entry.next_fire = next;
        }
    }

    pub(crate) fn record_fire(&self, id: TimerId, at: DateTime<Utc>) {
        if let Some(entry) = self.lock().get_mut(&id) {
            entry.fires += 1;
            entry.last_fired = Some(at);
        }
    }

    pub(crate) fn remove(&self, id: TimerId) {
        self.lock().remove(&id);
    }
}
