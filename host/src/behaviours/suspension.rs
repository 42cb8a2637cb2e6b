//! Suspension: a behaviour that keeps failing, or takes too much of a core, stops running for
//! a while instead of burning the host.
//!
//! [`Health`] is one behaviour's state, owned by its runner task and fed every run's outcome
//! and duration. `suspend_after` failed runs in a row (any outcome but `ok`: a thrown error, a
//! trap, a limit stop, a call without its grant), or run time above `max_cpu_share` of one core
//! over the last minute, suspend it for a backoff: `suspend_backoff` for the first suspension
//! of a streak, doubled for each further one, at most `suspend_backoff_max`. A streak ends with
//! a successful run. Every resume (the backoff ended, the file changed, the API asked) is a
//! trial: the first run after it that fails again suspends at once with the next backoff.
//!
//! Pure state: time comes in as arguments (a tokio `Instant` for deadlines and the CPU window,
//! a wall time for what users see), so unit tests need no clock.

use std::collections::VecDeque;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::config::Limits;

/// The window the CPU share is averaged over.
pub const CPU_WINDOW: Duration = Duration::from_secs(60);

/// Why a behaviour was suspended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = SuspensionReason)]
pub enum Reason {
    /// `suspend_after` runs failed in a row (or the trial run after a resume failed).
    Failures,
    /// Its runs took more than `max_cpu_share` of one core over the last minute.
    CpuShare,
}

/// Why a suspended behaviour runs again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resume {
    /// Its backoff ended: the next fire is a trial run.
    Backoff,
    /// Its file changed and the new version loaded.
    FileChanged,
    /// `POST /api/behaviours/{name}/resume`.
    Api,
}

impl Resume {
    pub fn as_str(self) -> &'static str {
        match self {
            Resume::Backoff => "backoff",
            Resume::FileChanged => "file_changed",
            Resume::Api => "api",
        }
    }
}

/// A suspension, as the API, the dashboard and `behaviour.suspended` show it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Suspended {
    pub reason: Reason,
    pub since: DateTime<Utc>,
    /// When the trial run may happen (the first fire after this).
    pub until: DateTime<Utc>,
    /// Failed runs in a row when it was suspended.
    pub failures: u32,
    /// The last run's error (for a CPU-share suspension, the share it used).
    pub last_error: String,
    /// Suspensions since the last successful run, this one included (1 for the first).
    pub streak: u32,
    /// How long this suspension lasts.
    pub backoff_ms: u64,
}

/// The settings [`Health`] follows, from `[limits]`.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub after: u32,
    pub backoff: Duration,
    pub backoff_max: Duration,
    /// A fraction of one core (0.1 for 10 %).
    pub max_cpu_share: f64,
}

impl Policy {
    pub fn of(limits: &Limits) -> Policy {
        Policy {
            after: limits.suspend_after,
            backoff: limits.suspend_backoff.0,
            backoff_max: limits.suspend_backoff_max.0.max(limits.suspend_backoff.0),
            max_cpu_share: limits.max_cpu_share.fraction(),
        }
    }

    /// The backoff of the `streak`-th suspension (1-based): doubled each time, capped.
    pub fn backoff_for(&self, streak: u32) -> Duration {
        let factor = 2u32.saturating_pow(streak.saturating_sub(1).min(31));
        self.backoff.saturating_mul(factor).min(self.backoff_max)
    }
}

/// One behaviour's failures, streak, CPU window and suspension.
#[derive(Debug, Default)]
pub struct Health {
    /// Failed runs in a row.
    failures: u32,
    /// Suspensions since the last successful run.
    streak: u32,
    /// When the current streak's first suspension happened (names its alert).
    streak_started: Option<DateTime<Utc>>,
    /// The next run decides: a failure suspends at once.
    trial: bool,
    suspended: Option<(Suspended, Instant)>,
    /// Recent runs: (when it ended, how long it took), within [`CPU_WINDOW`].
    runs: VecDeque<(Instant, Duration)>,
}

impl Health {
    pub fn failures(&self) -> u32 {
        self.failures
    }

    pub fn suspended(&self) -> Option<&Suspended> {
        self.suspended.as_ref().map(|(s, _)| s)
    }

    /// When a suspension's backoff ends, on tokio's clock.
    pub fn deadline(&self) -> Option<Instant> {
        self.suspended.as_ref().map(|(_, d)| *d)
    }

    /// When the current streak began, if one is going on.
    pub fn streak_started(&self) -> Option<DateTime<Utc>> {
        self.streak_started
    }

    /// The share of one core the runs ending in the last [`CPU_WINDOW`] took.
    pub fn cpu_share(&mut self, now: Instant) -> f64 {
        let from = now.checked_sub(CPU_WINDOW);
        self.runs.retain(|(end, _)| from.is_none_or(|f| *end > f));
        let busy: Duration = self
            .runs
            .iter()
            .map(|(end, took)| match from {
                // Only the part of a run inside the window counts.
                Some(f) => (*took).min(end.saturating_duration_since(f)),
                None => *took,
            })
            .sum();
        busy.as_secs_f64() / CPU_WINDOW.as_secs_f64()
    }

    /// Records one run that ended at `now` after `took`; `error` is `None` for a success.
    /// Returns the new suspension when this run caused one.
    pub fn record(
        &mut self,
        policy: &Policy,
        now: Instant,
        wall: DateTime<Utc>,
        took: Duration,
        error: Option<String>,
    ) -> Option<Suspended> {
        self.runs.push_back((now, took));
        let share = self.cpu_share(now);
        let over_cpu = share > policy.max_cpu_share;
        match error {
            None if !over_cpu => {
                self.failures = 0;
                self.streak = 0;
                self.streak_started = None;
                self.trial = false;
                return None;
            }
            None => {}
            Some(_) => self.failures = self.failures.saturating_add(1),
        }
        if self.suspended.is_some() {
            return None; // a run that was already going when it was suspended
        }
        let reason = if over_cpu {
            Reason::CpuShare
        } else if policy.after > 0 && (self.failures >= policy.after || self.trial) {
            Reason::Failures
        } else {
            return None;
        };
        let last_error = match (reason, error) {
            (Reason::CpuShare, _) => format!(
                "its runs took {:.1} % of one core over the last minute (max_cpu_share {:.1} %)",
                share * 100.0,
                policy.max_cpu_share * 100.0
            ),
            (Reason::Failures, e) => e.unwrap_or_default(),
        };
        Some(self.suspend(policy, now, wall, reason, last_error))
    }

    fn suspend(
        &mut self,
        policy: &Policy,
        now: Instant,
        wall: DateTime<Utc>,
        reason: Reason,
        last_error: String,
    ) -> Suspended {
        self.streak = self.streak.saturating_add(1);
        self.streak_started.get_or_insert(wall);
        self.trial = false;
        let backoff = policy.backoff_for(self.streak);
        let until = wall + chrono::TimeDelta::from_std(backoff).unwrap_or(chrono::TimeDelta::MAX);
        let s = Suspended {
            reason,
            since: wall,
            until,
            failures: self.failures,
            last_error,
            streak: self.streak,
            backoff_ms: backoff.as_millis() as u64,
        };
        self.suspended = Some((s.clone(), now + backoff));
        s
    }

    /// Ends a suspension; the next run is a trial. Returns the suspension that ended, or `None`
    /// when it was not suspended.
    pub fn resume(&mut self) -> Option<Suspended> {
        let (s, _) = self.suspended.take()?;
        self.trial = true;
        self.failures = 0;
        // A resumed behaviour starts with a clean CPU window: its past runs are what it was
        // suspended for.
        self.runs.clear();
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy {
            after: 3,
            backoff: Duration::from_secs(60),
            backoff_max: Duration::from_secs(3600),
            max_cpu_share: 0.1,
        }
    }

    fn fail(h: &mut Health, now: Instant) -> Option<Suspended> {
        h.record(&policy(), now, Utc::now(), Duration::from_millis(1), Some("boom".into()))
    }

    #[test]
    fn suspends_after_k_failures_in_a_row_and_a_success_resets_the_count() {
        let mut h = Health::default();
        let t = Instant::now();
        assert!(fail(&mut h, t).is_none());
        assert!(fail(&mut h, t).is_none());
        assert!(h.record(&policy(), t, Utc::now(), Duration::ZERO, None).is_none());
        assert_eq!(h.failures(), 0);
        assert!(fail(&mut h, t).is_none());
        assert!(fail(&mut h, t).is_none());
        let s = fail(&mut h, t).expect("suspended at the third failure in a row");
        assert_eq!((s.reason, s.failures, s.streak, s.backoff_ms), (Reason::Failures, 3, 1, 60_000));
        assert_eq!(s.last_error, "boom");
        assert_eq!(h.deadline(), Some(t + Duration::from_secs(60)));
    }

    #[test]
    fn the_backoff_doubles_across_a_streak_up_to_the_cap_and_a_success_ends_the_streak() {
        let mut h = Health::default();
        let t = Instant::now();
        let mut backoffs = Vec::new();
        for _ in 0..3 {
            fail(&mut h, t);
        }
        backoffs.push(h.suspended().unwrap().backoff_ms / 1000);
        for _ in 0..7 {
            h.resume().unwrap();
            // The trial run fails: suspended again at once.
            backoffs.push(fail(&mut h, t).expect("a failed trial suspends").backoff_ms / 1000);
        }
        assert_eq!(backoffs, [60, 120, 240, 480, 960, 1920, 3600, 3600]);
        h.resume().unwrap();
        assert!(h.record(&policy(), t, Utc::now(), Duration::ZERO, None).is_none());
        assert!(h.streak_started().is_none());
        for _ in 0..2 {
            assert!(fail(&mut h, t).is_none(), "after a success it takes K failures again");
        }
        assert_eq!(fail(&mut h, t).unwrap().backoff_ms, 60_000, "a new streak starts at the base backoff");
    }

    #[test]
    fn more_than_the_cpu_share_over_a_minute_suspends_even_when_runs_succeed() {
        let mut h = Health::default();
        let t = Instant::now();
        let p = policy();
        // 5 s of runs in a minute: 8.3 %, under 10 %.
        for i in 0..5 {
            assert!(h.record(&p, t + Duration::from_secs(i * 10), Utc::now(), Duration::from_secs(1), None).is_none());
        }
        // Another 2 s: 7 s in the last minute, 11.7 %.
        let s = h.record(&p, t + Duration::from_secs(50), Utc::now(), Duration::from_secs(2), None).unwrap();
        assert_eq!(s.reason, Reason::CpuShare);
        assert!(s.last_error.contains("11.7 %"), "{}", s.last_error);
        // Runs older than the window no longer count.
        let mut h = Health::default();
        h.record(&p, t, Utc::now(), Duration::from_secs(5), None);
        assert!(h.record(&p, t + Duration::from_secs(61), Utc::now(), Duration::from_secs(5), None).is_none());
    }

    #[test]
    fn zero_never_suspends_for_failures() {
        let p = Policy { after: 0, ..policy() };
        let mut h = Health::default();
        for _ in 0..100 {
            assert!(h.record(&p, Instant::now(), Utc::now(), Duration::ZERO, Some("x".into())).is_none());
        }
    }
}
