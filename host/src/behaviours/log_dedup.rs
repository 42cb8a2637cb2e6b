//! Repeated errors, logged once: the same error of the same behaviour is logged the first time,
//! then counted, and each [`WINDOW`] while it goes on repeating one line says how many times it
//! came again. An error quiet for a whole window is forgotten, so its next occurrence is logged
//! in full. Traces and `behaviour.error` events still record every run.
//!
//! One [`LogDedup`] per behaviour, owned by its runner; time comes in as arguments.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

/// How often a repeating error gets its summary line.
pub const WINDOW: Duration = Duration::from_secs(60);

/// Distinct errors remembered per behaviour; past this the oldest is forgotten.
const MAX_ERRORS: usize = 32;

#[derive(Debug)]
struct Seen {
    /// When its last line (the error itself or a summary) was written.
    logged_at: Instant,
    /// Occurrences since then.
    repeats: u64,
}

/// What to do with one occurrence of an error.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Log it: the first time, or the first after a quiet window.
    Log,
    /// Counted, for the next summary line.
    Counted,
}

/// One behaviour's recent errors.
#[derive(Debug, Default)]
pub struct LogDedup {
    seen: HashMap<String, Seen>,
}

impl LogDedup {
    /// One occurrence of `error` at `now`.
    pub fn observe(&mut self, error: &str, now: Instant) -> Verdict {
        if let Some(s) = self.seen.get_mut(error) {
            s.repeats += 1;
            return Verdict::Counted;
        }
        if self.seen.len() >= MAX_ERRORS {
            if let Some(oldest) = self.seen.iter().min_by_key(|(_, s)| s.logged_at).map(|(k, _)| k.clone()) {
                self.seen.remove(&oldest);
            }
        }
        self.seen.insert(error.to_string(), Seen { logged_at: now, repeats: 0 });
        Verdict::Log
    }

    /// When the next summary line (or forgetting) is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.seen.values().map(|s| s.logged_at + WINDOW).min()
    }

    /// The summary lines due at `now`: (error, repeats in the window). Errors quiet for the
    /// whole window are forgotten.
    pub fn due(&mut self, now: Instant) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        self.seen.retain(|error, s| {
            if now < s.logged_at + WINDOW {
                return true;
            }
            if s.repeats == 0 {
                return false;
            }
            out.push((error.clone(), s.repeats));
            s.repeats = 0;
            s.logged_at = now;
            true
        });
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_is_logged_once_then_summarised_each_window_while_it_repeats() {
        let mut d = LogDedup::default();
        let t = Instant::now();
        assert_eq!(d.observe("boom", t), Verdict::Log);
        assert_eq!(d.observe("other", t), Verdict::Log);
        for i in 1..=10 {
            assert_eq!(d.observe("boom", t + Duration::from_secs(i)), Verdict::Counted);
        }
        assert!(d.due(t + Duration::from_secs(59)).is_empty());
        assert_eq!(d.next_due(), Some(t + WINDOW));
        // "other" did not repeat: forgotten without a line.
        assert_eq!(d.due(t + WINDOW), vec![("boom".to_string(), 10)]);
        assert_eq!(d.observe("boom", t + Duration::from_secs(70)), Verdict::Counted);
        assert_eq!(d.due(t + 2 * WINDOW), vec![("boom".to_string(), 1)]);
        // A quiet window: forgotten, and logged in full the next time.
        assert!(d.due(t + 3 * WINDOW).is_empty());
        assert_eq!(d.next_due(), None);
        assert_eq!(d.observe("boom", t + 3 * WINDOW), Verdict::Log);
        assert_eq!(d.observe("other", t + 3 * WINDOW), Verdict::Log);
    }

    #[test]
    fn remembers_a_bounded_number_of_errors() {
        let mut d = LogDedup::default();
        let t = Instant::now();
        for i in 0..100u64 {
            d.observe(&format!("e{i}"), t + Duration::from_millis(i));
        }
        assert_eq!(d.seen.len(), MAX_ERRORS);
        assert_eq!(d.observe("e99", t + Duration::from_secs(1)), Verdict::Counted);
    }
}
