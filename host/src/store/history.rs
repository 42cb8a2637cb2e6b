//! Each session's history, compact: its status changes (one row each), messages sent and
//! delivered per hour (one row per session and hour), and its browser's memory in buckets
//! (one row per session and bucket: samples, sum, max). Written by [`crate::history`], read by
//! `GET /api/sessions/{id}/history`, pruned after `[history] keep` (30 days).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

use super::{from_ms, ms, q, Store, StoreError};

const HOUR_MS: i64 = 3_600_000;

/// A status the session entered, and when.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StatusChange {
    pub at: DateTime<Utc>,
    pub status: String,
    /// Why, when the host said (`disconnected`, `error`, `logged_out` …).
    #[schema(required = true)]
    pub reason: Option<String>,
}

/// Messages of one hour.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct HourMessages {
    /// The hour's start.
    pub hour: DateTime<Utc>,
    /// Messages the session sent in that hour.
    pub sent: i64,
    /// Messages the session sent that were delivered (acknowledged by the recipient's phone)
    /// in that hour.
    pub acked: i64,
}

/// The browser's memory in one bucket.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MemoryBucket {
    /// The bucket's start.
    pub at: DateTime<Utc>,
    /// The mean of its samples, bytes (PSS of the whole process tree).
    pub avg_bytes: i64,
    /// The largest sample, bytes.
    pub max_bytes: i64,
    pub samples: i64,
}

/// A session's history from `since` on.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct History {
    pub session: String,
    pub since: DateTime<Utc>,
    /// The status the session was in at `since` (the last change before it), if known.
    #[schema(required = true)]
    pub status_at_since: Option<String>,
    /// Changes from `since` on, oldest first.
    pub status: Vec<StatusChange>,
    /// Hours with messages, oldest first (hours without any are left out).
    pub messages: Vec<HourMessages>,
    /// Memory buckets, oldest first.
    pub memory: Vec<MemoryBucket>,
}

/// The start of the hour `at` is in.
pub fn hour_of(at: DateTime<Utc>) -> DateTime<Utc> {
    from_ms(ms(at) - ms(at).rem_euclid(HOUR_MS))
}

impl Store {
    /// Session `session` entered `status` at `at`.
    pub async fn record_status(
        &self,
        session: &str,
        at: DateTime<Utc>,
        status: &str,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        let query = sqlx::query("INSERT INTO history_status (session, at_ms, status, reason) VALUES ($1, $2, $3, $4)")
            .bind(session)
            .bind(ms(at))
            .bind(status)
            .bind(reason);
        self.guarded(query.execute(self.pool())).await.map_err(q("recording a status change"))?;
        Ok(())
    }

    /// Adds `sent` and `acked` messages to the hour `at` is in.
    pub async fn count_messages(
        &self,
        session: &str,
        at: DateTime<Utc>,
        sent: i64,
        acked: i64,
    ) -> Result<(), StoreError> {
        let query = sqlx::query(
            "INSERT INTO history_messages (session, hour_ms, sent, acked) VALUES ($1, $2, $3, $4)
             ON CONFLICT (session, hour_ms) DO UPDATE
                 SET sent = history_messages.sent + excluded.sent, acked = history_messages.acked + excluded.acked",
        )
        .bind(session)
        .bind(ms(hour_of(at)))
        .bind(sent)
        .bind(acked);
        self.guarded(query.execute(self.pool())).await.map_err(q("counting messages"))?;
        Ok(())
    }

    /// Adds a memory sample of `bytes` taken at `at` to its bucket of `step`.
    pub async fn record_memory(
        &self,
        session: &str,
        at: DateTime<Utc>,
        step: std::time::Duration,
        bytes: u64,
    ) -> Result<(), StoreError> {
        let step_ms = (step.as_millis() as i64).max(1);
        let bucket = ms(at) - ms(at).rem_euclid(step_ms);
        let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
        let query = sqlx::query(
            "INSERT INTO history_memory (session, at_ms, samples, sum_bytes, max_bytes) VALUES ($1, $2, 1, $3, $4)
             ON CONFLICT (session, at_ms) DO UPDATE
                 SET samples = history_memory.samples + 1, sum_bytes = history_memory.sum_bytes + excluded.sum_bytes,
                     max_bytes = CASE WHEN excluded.max_bytes > history_memory.max_bytes
                                      THEN excluded.max_bytes ELSE history_memory.max_bytes END",
        )
        .bind(session)
        .bind(bucket)
        .bind(bytes)
        .bind(bytes);
        self.guarded(query.execute(self.pool())).await.map_err(q("recording a memory sample"))?;
        Ok(())
    }

    /// Session `session`'s history from `since` on.
    pub async fn history(&self, session: &str, since: DateTime<Utc>) -> Result<History, StoreError> {
        self.guarded(async move {
            let before = sqlx::query(
                "SELECT status FROM history_status WHERE session = $1 AND at_ms < $2 ORDER BY at_ms DESC, id DESC LIMIT 1",
            )
            .bind(session)
            .bind(ms(since))
            .fetch_optional(self.pool())
            .await
            .map_err(q("reading the status before the history"))?;
            let status = sqlx::query(
                "SELECT at_ms, status, reason FROM history_status WHERE session = $1 AND at_ms >= $2 ORDER BY at_ms, id",
            )
            .bind(session)
            .bind(ms(since))
            .fetch_all(self.pool())
            .await
            .map_err(q("reading status changes"))?;
            // The hour `since` falls in counts: part of it is after `since`.
            let messages = sqlx::query(
                "SELECT hour_ms, sent, acked FROM history_messages WHERE session = $1 AND hour_ms >= $2 ORDER BY hour_ms",
            )
            .bind(session)
            .bind(ms(hour_of(since)))
            .fetch_all(self.pool())
            .await
            .map_err(q("reading message counts"))?;
            let memory = sqlx::query(
                "SELECT at_ms, samples, sum_bytes, max_bytes FROM history_memory WHERE session = $1 AND at_ms >= $2 ORDER BY at_ms",
            )
            .bind(session)
            .bind(ms(since))
            .fetch_all(self.pool())
            .await
            .map_err(q("reading memory samples"))?;
            Ok(History {
                session: session.to_string(),
                since,
                status_at_since: before.map(|r| r.get(0)),
                status: status
                    .iter()
                    .map(|r| StatusChange { at: from_ms(r.get(0)), status: r.get(1), reason: r.get(2) })
                    .collect(),
                messages: messages
                    .iter()
                    .map(|r| HourMessages { hour: from_ms(r.get(0)), sent: r.get(1), acked: r.get(2) })
                    .collect(),
                memory: memory
                    .iter()
                    .map(|r| {
                        let samples: i64 = r.get(1);
                        let sum: i64 = r.get(2);
                        MemoryBucket {
                            at: from_ms(r.get(0)),
                            avg_bytes: sum / samples.max(1),
                            max_bytes: r.get(3),
                            samples,
                        }
                    })
                    .collect(),
            })
        })
        .await
    }

    /// Deletes history older than `before` (an hour of messages once all of it is); returns
    /// how many rows. The last status change before `before` of each session is kept, so the
    /// timeline still knows where it starts.
    pub async fn prune_history(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.guarded(async move {
            let mut n = 0;
            let status = sqlx::query(
                "DELETE FROM history_status WHERE at_ms < $1 AND id NOT IN
                     (SELECT MAX(id) FROM history_status WHERE at_ms < $2 GROUP BY session)",
            )
            .bind(ms(before))
            .bind(ms(before))
            .execute(self.pool())
            .await
            .map_err(q("pruning status changes"))?;
            n += status.rows_affected();
            let messages = sqlx::query("DELETE FROM history_messages WHERE hour_ms + $2 <= $1")
                .bind(ms(before))
                .bind(HOUR_MS)
                .execute(self.pool())
                .await
                .map_err(q("pruning message counts"))?;
            n += messages.rows_affected();
            let memory = sqlx::query("DELETE FROM history_memory WHERE at_ms < $1")
                .bind(ms(before))
                .execute(self.pool())
                .await
                .map_err(q("pruning memory samples"))?;
            Ok(n + memory.rows_affected())
        })
        .await
    }

    /// Deletes all of a removed session's history.
    pub async fn delete_history(&self, session: &str) -> Result<(), StoreError> {
        self.guarded(async move {
            for (sql, what) in [
                ("DELETE FROM history_status WHERE session = $1", "deleting status changes"),
                ("DELETE FROM history_messages WHERE session = $1", "deleting message counts"),
                ("DELETE FROM history_memory WHERE session = $1", "deleting memory samples"),
            ] {
                sqlx::query(sql).bind(session).execute(self.pool()).await.map_err(q(what))?;
            }
            Ok(())
        })
        .await
    }
}
