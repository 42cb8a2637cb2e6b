//! The event log: every bus event is appended; old ones are pruned.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

use super::{from_ms, ms, q, Store, StoreError};
use crate::events::Event;

/// A stored event.
#[derive(Debug, Clone, Serialize)]
pub struct StoredEvent {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub name: String,
    pub source: String,
    pub data: serde_json::Value,
}

impl Store {
    pub async fn append_events(&self, events: &[Event]) -> Result<(), StoreError> {
        self.guarded(async move {
            let mut tx = self.pool().begin().await.map_err(q("starting an event batch"))?;
            for e in events {
                sqlx::query("INSERT INTO events (at_ms, name, source, data) VALUES ($1, $2, $3, $4)")
                    .bind(ms(e.at))
                    .bind(&e.name)
                    .bind(&e.source)
                    .bind(e.data.to_string())
                    .execute(&mut *tx)
                    .await
                    .map_err(q("appending an event"))?;
            }
            tx.commit().await.map_err(q("committing events"))?;
            Ok(())
        })
        .await
    }

    /// The newest `limit` events, newest first.
    pub async fn recent_events(&self, limit: i64) -> Result<Vec<StoredEvent>, StoreError> {
        self.guarded(async move {
            let rows = sqlx::query("SELECT id, at_ms, name, source, data FROM events ORDER BY id DESC LIMIT $1")
                .bind(limit)
                .fetch_all(self.pool())
                .await
                .map_err(q("reading events"))?;
            Ok(rows
                .iter()
                .map(|r| StoredEvent {
                    id: r.get(0),
                    at: from_ms(r.get(1)),
                    name: r.get(2),
                    source: r.get(3),
                    data: serde_json::from_str(&r.get::<String, _>(4)).unwrap_or_default(),
                })
                .collect())
        })
        .await
    }

    /// Deletes events older than `before`; returns how many.
    pub async fn prune_events(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.guarded(async move {
            let r = sqlx::query("DELETE FROM events WHERE at_ms < $1")
                .bind(ms(before))
                .execute(self.pool())
                .await
                .map_err(q("pruning events"))?;
            Ok(r.rows_affected())
        })
        .await
    }
}
