//! The restart budget and backoff of a session: at most `max` restarts within `window`; the
//! delay before a restart doubles with each crash that came before the session was ready
//! again, up to `max_delay`.

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
        let delay = self.base.saturating_mul(1u32 << self.streak.min(20)).min(self.max_delay);
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
        let mut b = RestartBudget::new(3, Duration::from_secs(60), s, Duration::from_secs(3));
        let t = Instant::now();
        assert_eq!(b.on_crash(t), Some(s));
        assert_eq!(b.on_crash(t), Some(2 * s));
        b.on_ready();
        assert_eq!(b.on_crash(t), Some(s), "ready resets the backoff");
        assert_eq!(b.on_crash(t), None, "a 4th restart within the window is refused");
        assert_eq!(b.on_crash(t + Duration::from_secs(61)), Some(2 * s), "the window slides");
        assert_eq!(b.on_crash(t + Duration::from_secs(61)), Some(3 * s), "doubling, capped at 3 s");
        b.reset();
        assert_eq!(b.used(), 0);
        let mut c = RestartBudget::new(10, Duration::from_secs(60), s, Duration::from_secs(3));
        for _ in 0..4 {
            c.on_crash(t);
        }
        assert_eq!(c.on_crash(t), Some(Duration::from_secs(3)), "capped");
    }
}
