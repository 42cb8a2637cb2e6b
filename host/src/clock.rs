//! Wall time, read in one place.
//!
//! Everything in the host that needs "what time is it" asks a [`Clock`]; everything that needs
//! to wait uses `tokio::time`. A [`Clock::system`] reads the operating system's clock. A
//! [`Clock::starting_at`] is virtual: it starts at a chosen wall time and then moves with tokio's
//! clock, so under `tokio::time::pause()` (or `#[tokio::test(start_paused = true)]`) a test runs
//! days of timers in milliseconds, and the wall time it sees stays in step with the sleeps.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::time::Instant;

/// Where the host reads wall time. Cheap to clone; clones share one time line.
#[derive(Clone, Debug)]
pub struct Clock {
    source: Source,
}

#[derive(Clone, Debug)]
enum Source {
    System,
    Virtual {
        /// The wall time at `origin`.
        wall: DateTime<Utc>,
        /// tokio's instant when the clock was created.
        origin: Instant,
        /// Microseconds added by [`Clock::shift`], shared by every clone.
        shift_micros: Arc<AtomicI64>,
    },
}

impl Clock {
    /// The operating system's clock: `now()` is `Utc::now()`.
    pub fn system() -> Self {
        Self { source: Source::System }
    }

    /// A virtual clock that reads `wall` now and then advances with `tokio::time::Instant`, so it
    /// follows tokio's paused clock in tests.
    pub fn starting_at(wall: DateTime<Utc>) -> Self {
        Self { source: Source::Virtual { wall, origin: Instant::now(), shift_micros: Arc::new(AtomicI64::new(0)) } }
    }

    /// The current wall time.
    pub fn now(&self) -> DateTime<Utc> {
        match &self.source {
            Source::System => Utc::now(),
            Source::Virtual { wall, origin, shift_micros } => {
                let elapsed =
                    TimeDelta::from_std(Instant::now().saturating_duration_since(*origin)).unwrap_or(TimeDelta::MAX);
                let shift = TimeDelta::microseconds(shift_micros.load(Ordering::Relaxed));
                wall.checked_add_signed(elapsed)
                    .and_then(|t| t.checked_add_signed(shift))
                    .unwrap_or(DateTime::<Utc>::MAX_UTC)
            }
        }
    }

    /// Makes a virtual clock jump by `by` (forwards or backwards) without tokio's clock moving,
    /// as an NTP step or a suspended laptop would. Every clone sees the jump. Returns `false`
    /// and does nothing on the system clock.
    pub fn shift(&self, by: TimeDelta) -> bool {
        match &self.source {
            Source::System => false,
            Source::Virtual { shift_micros, .. } => {
                let micros = by.num_microseconds().unwrap_or(i64::MAX);
                shift_micros.fetch_add(micros, Ordering::Relaxed);
                true
            }
        }
    }

    /// How long from now until the wall time `at`; zero if `at` has passed.
    pub fn until(&self, at: DateTime<Utc>) -> Duration {
        (at - self.now()).to_std().unwrap_or(Duration::ZERO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[tokio::test(start_paused = true)]
    async fn a_virtual_clock_follows_tokio_time_and_jumps_when_shifted() {
        let start = Utc.with_ymd_and_hms(2027, 3, 1, 12, 0, 0).unwrap();
        let clock = Clock::starting_at(start);
        let copy = clock.clone();
        assert_eq!(clock.now(), start);

        tokio::time::sleep(Duration::from_secs(90 * 60)).await;
        assert_eq!(clock.now(), start + TimeDelta::minutes(90));

        assert!(clock.shift(TimeDelta::hours(-2)));
        assert_eq!(copy.now(), start - TimeDelta::minutes(30));
        assert_eq!(copy.until(start + TimeDelta::minutes(30)), Duration::from_secs(3600));
        assert_eq!(copy.until(start - TimeDelta::hours(1)), Duration::ZERO);
    }

    #[test]
    fn the_system_clock_reads_utc_now_and_cannot_be_shifted() {
        let clock = Clock::system();
        let before = Utc::now();
        let now = clock.now();
        assert!(now >= before && now <= Utc::now());
        assert!(!clock.shift(TimeDelta::hours(1)));
    }
}
