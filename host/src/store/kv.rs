//! kv per behaviour and the scheduler's last runs.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{from_ms, ms, q, Store, StoreError};

impl Store {
    pub async fn kv_get(&self, ns: &str, key: &str) -> Result<Option<serde_json::Value>, StoreError> {
        self.guarded(async move {
            let row = sqlx::query("SELECT value FROM kv WHERE ns = $1 AND key = $2")
                .bind(ns)
                .bind(key)
                .fetch_optional(self.pool())
                .await
                .map_err(q("reading kv"))?;
            Ok(row.and_then(|r| serde_json::from_str(&r.get::<String, _>(0)).ok()))
        })
        .await
    }

    pub async fn kv_set(&self, ns: &str, key: &str, value: serde_json::Value) -> Result<(), StoreError> {
        self.guarded(async move {
            sqlx::query(
                "INSERT INTO kv (ns, key, value, updated_ms) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value, updated_ms = excluded.updated_ms",
            )
            .bind(ns)
            .bind(key)
            .bind(value.to_string())
            .bind(ms(Utc::now()))
            .execute(self.pool())
            .await
            .map_err(q("writing kv"))?;
            Ok(())
        })
        .await
    }

    /// Returns whether the key existed.
    pub async fn kv_delete(&self, ns: &str, key: &str) -> Result<bool, StoreError> {
        self.guarded(async move {
            let r = sqlx::query("DELETE FROM kv WHERE ns = $1 AND key = $2")
                .bind(ns)
                .bind(key)
                .execute(self.pool())
                .await
                .map_err(q("deleting kv"))?;
            Ok(r.rows_affected() > 0)
        })
        .await
    }

    pub async fn last_run(&self, owner: &str, key: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.guarded(async move {
            let row = sqlx::query("SELECT last_run_ms FROM schedule_state WHERE owner = $1 AND key = $2")
                .bind(owner)
                .bind(key)
                .fetch_optional(self.pool())
                .await
                .map_err(q("reading a last run"))?;
            Ok(row.map(|r| from_ms(r.get::<i64, _>(0))))
        })
        .await
    }

    pub async fn set_last_run(&self, owner: &str, key: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.guarded(async move {
            sqlx::query(
                "INSERT INTO schedule_state (owner, key, last_run_ms) VALUES ($1, $2, $3)
                 ON CONFLICT (owner, key) DO UPDATE SET last_run_ms = excluded.last_run_ms",
            )
            .bind(owner)
            .bind(key)
            .bind(ms(at))
            .execute(self.pool())
            .await
            .map_err(q("recording a last run"))?;
            Ok(())
        })
        .await
    }
}
