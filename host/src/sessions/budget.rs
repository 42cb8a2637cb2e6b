//! The restart budget and backoff of a session: at most `max` restarts within `window`. The
//! first crash after the session was ready restarts it at once (a one-off death costs no
//! wait); each further crash before it is ready again waits `base`, then twice as long, up to
//! `max_delay` (0, base, 2 × base, 4 × base …), so a crash loop backs off and the budget ends it.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug, Clone)]
pub struct RestartBudget {
    max: u32,
    window: Duration,
    base: Duration,
    max_delay: Duration,
    restarts: VecDeque<Instant>,
    /// Crashes since the session was last ready.
    streak: u32,
}

impl RestartBudget {
    pub fn new(max: u32, window: Duration, base: Duration, max_delay: Duration) -> Self {
        RestartBudget { max, window, base, max_delay, restarts: VecDeque::new(), streak: 0 }
    }

    /// A crash at `now`: `Some(delay)` before the restart, or `None` when the budget is spent.
    pub fn on_crash(&mut self, now: Instant) -> Option<Duration> {
        while self.restarts.front().is_some_and(|t| now.duration_since(*t) >= self.window) {
            self.restarts.pop_front();
        }
        if self.restarts.len() as u32 >= self.max {
            return None;
        }
        self.restarts.push_back(now);
        let delay = match self.streak {
            0 => Duration::ZERO,
            n => self.base.saturating_mul(1u32 << (n - 1).min(20)).min(self.max_delay),
        };
        self.streak += 1;
        Some(delay)
    }

    /// The session was ready again: the backoff starts over (the budget does not).
    pub fn on_ready(&mut self) {
        self.streak = 0;
    }

    /// A person or a behaviour asked for a restart after `error`: a fresh budget.
    pub fn reset(&mut self) {
        self.restarts.clear();
        self.streak = 0;
    }

    #[cfg(test)]
    pub fn used(&self) -> usize {
        self.restarts.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn budget_and_backoff() {
        let s = Duration::from_secs(1);
        let zero = Duration::ZERO;
        let mut b = RestartBudget::new(3, Duration::from_secs(60), s, Duration::from_secs(3));
        let t = Instant::now();
        assert_eq!(b.on_crash(t), Some(zero), "the first crash after ready restarts at once");
        assert_eq!(b.on_crash(t), Some(s), "a crash before ready again waits the backoff");
        b.on_ready();
        assert_eq!(b.on_crash(t), Some(zero), "ready resets the backoff");
        assert_eq!(b.on_crash(t), None, "a 4th restart within the window is refused");
        assert_eq!(b.on_crash(t + Duration::from_secs(61)), Some(s), "the window slides; the streak goes on");
        assert_eq!(b.on_crash(t + Duration::from_secs(61)), Some(2 * s), "doubling");
        b.reset();
        assert_eq!(b.used(), 0);
        let mut c = RestartBudget::new(10, Duration::from_secs(60), s, Duration::from_secs(3));
        let delays: Vec<Duration> = (0..6).map(|_| c.on_crash(t).unwrap()).collect();
        assert_eq!(delays, [zero, s, 2 * s, 3 * s, 3 * s, 3 * s], "0, base, doubling, capped at 3 s");
    }

    /// On a paused clock, a session killed once after it was ready is started again with no
    /// wait; killed again before it was ready, it waits the backoff.
    #[tokio::test(start_paused = true)]
    async fn the_first_restart_after_ready_does_not_wait() {
        let base = Duration::from_secs(1);
        let mut b = RestartBudget::new(5, Duration::from_secs(600), base, Duration::from_secs(60));
        b.on_ready();
        let t0 = Instant::now();
        tokio::time::sleep(b.on_crash(t0).unwrap()).await;
        assert_eq!(Instant::now() - t0, Duration::ZERO, "the first restart waited");
        let t1 = Instant::now();
        tokio::time::sleep(b.on_crash(t1).unwrap()).await;
        assert_eq!(Instant::now() - t1, base, "a second crash before ready backs off");
    }
}
