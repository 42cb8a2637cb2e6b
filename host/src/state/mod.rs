//! Persisted host state that behaviours and the scheduler rely on: each behaviour's kv and the
//! last run of every trigger.
//!
//! [`StateStore`] is the seam: today [`FileStore`] keeps it in one JSON file written atomically
//! (`data/state/store.json`); the store issue replaces it with SQLite/PostgreSQL behind the same
//! trait.

mod file;

pub(crate) use file::write_atomic;
pub use file::FileStore;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// Errors of the state store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state store {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("state store {path} is not valid JSON ({source}); it was left untouched: fix or move it away")]
    Corrupt { path: String, source: serde_json::Error },
}

#[async_trait]
pub trait StateStore: Send + Sync + 'static {
    async fn kv_get(&self, ns: &str, key: &str) -> Result<Option<serde_json::Value>, StoreError>;
    async fn kv_set(&self, ns: &str, key: &str, value: serde_json::Value) -> Result<(), StoreError>;
    /// Returns whether the key existed.
    async fn kv_delete(&self, ns: &str, key: &str) -> Result<bool, StoreError>;
    async fn last_run(&self, owner: &str, key: &str) -> Result<Option<DateTime<Utc>>, StoreError>;
    async fn set_last_run(&self, owner: &str, key: &str, at: DateTime<Utc>) -> Result<(), StoreError>;
}
