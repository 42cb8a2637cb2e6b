//! Where the scheduler remembers when each timer last fired, so a restart can tell whether a
//! cron occurrence was missed while the host was down.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// The last run of each timer, by `(owner, key)`. The store implements it with the
/// `schedule_state` table; [`MemoryLastRuns`] keeps it in memory for tests.
#[async_trait]
pub trait LastRuns: Send + Sync {
    /// When the timer `key` of `owner` last fired, if ever.
    async fn last_run(&self, owner: &str, key: &str) -> Option<DateTime<Utc>>;
    /// Records that the timer `key` of `owner` fired at `at`.
    async fn set_last_run(&self, owner: &str, key: &str, at: DateTime<Utc>);
}

/// [`LastRuns`] in a map, lost on restart.
#[derive(Debug, Default)]
pub struct MemoryLastRuns {
    runs: Mutex<HashMap<(String, String), DateTime<Utc>>>,
}

impl MemoryLastRuns {
    pub fn new() -> Self {
        Self::default()
    }

    /// The recorded last run, read without `.await`.
    pub fn get(&self, owner: &str, key: &str) -> Option<DateTime<Utc>> {
        let runs = self.runs.lock().unwrap_or_else(PoisonError::into_inner);
        runs.get(&(owner.to_string(), key.to_string())).copied()
    }

    /// Records a last run, without `.await`.
    pub fn set(&self, owner: &str, key: &str, at: DateTime<Utc>) {
        let mut runs = self.runs.lock().unwrap_or_else(PoisonError::into_inner);
        runs.insert((owner.to_string(), key.to_string()), at);
    }
}

#[async_trait]
impl LastRuns for MemoryLastRuns {
    async fn last_run(&self, owner: &str, key: &str) -> Option<DateTime<Utc>> {
        self.get(owner, key)
    }

    async fn set_last_run(&self, owner: &str, key: &str, at: DateTime<Utc>) {
        self.set(owner, key, at);
    }
}
