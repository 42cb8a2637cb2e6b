//! [`FencedSent`]: `send_text`'s idempotency keys in the `sent_messages` table, each row
//! written under the epoch of the lease this host holds for the session. A host that holds no
//! lease, or whose epoch is older than the lease's, neither sends nor records (checked against
//! the `leases` table, the record's write in the same statement), and that session's browser
//! is killed as for any refused write.

use async_trait::async_trait;
use sqlx::Row;
use tokio::sync::mpsc;

use super::fence::Epochs;
use super::now_ms;
use crate::sessions::sent_log::{SentLog, SentLogError};
use crate::store::Store;

/// The sent-message record of one cluster host.
pub struct FencedSent {
    pub(super) store: Store,
    pub(super) epochs: Epochs,
    pub(super) refused: mpsc::Sender<String>,
}

impl FencedSent {
    fn err(session: &str, message: impl Into<String>) -> SentLogError {
        SentLogError { session: session.into(), message: message.into() }
    }

    fn stale(&self, session: &str, epoch: i64) -> SentLogError {
        let _ = self.refused.try_send(session.to_string());
        Self::err(
            session,
            format!("send refused: this host's lease epoch {epoch} is stale (another host holds a newer one)"),
        )
    }

    fn epoch(&self, session: &str) -> Result<i64, SentLogError> {
        self.epochs
            .get(session)
            .ok_or_else(|| Self::err(session, "send refused: this host holds no lease for it (another host runs it)"))
    }
}

#[async_trait]
impl SentLog for FencedSent {
    async fn find(&self, session: &str, key: &str) -> Result<Option<String>, SentLogError> {
        let row = sqlx::query("SELECT message_id FROM sent_messages WHERE session_id = $1 AND idempotency_key = $2")
            .bind(session)
            .bind(key)
            .fetch_optional(self.store.pool())
            .await
            .map_err(|e| Self::err(session, format!("reading the sent-message record: {e}")))?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn check(&self, session: &str) -> Result<(), SentLogError> {
        let epoch = self.epoch(session)?;
        let newer: i64 = sqlx::query("SELECT COUNT(*) FROM leases WHERE session_id = $1 AND epoch > $2")
            .bind(session)
            .bind(epoch)
            .fetch_one(self.store.pool())
            .await
            .map_err(|e| Self::err(session, format!("checking the lease before sending: {e}")))?
            .get(0);
        if newer > 0 {
            return Err(self.stale(session, epoch));
        }
        Ok(())
    }

    async fn record(&self, session: &str, key: &str, message_id: &str) -> Result<(), SentLogError> {
        let epoch = self.epoch(session)?;
        let done = sqlx::query(concat!(
            "INSERT INTO sent_messages (idempotency_key, session_id, message_id, sent_ms, epoch) SELECT $1, $2, $3, ",
            now_ms!(),
            ", $4 WHERE NOT EXISTS (SELECT 1 FROM leases l WHERE l.session_id = $2 AND l.epoch > $4) \
             ON CONFLICT (session_id, idempotency_key) DO UPDATE SET message_id = excluded.message_id, \
             sent_ms = excluded.sent_ms, epoch = excluded.epoch \
             WHERE sent_messages.epoch <= excluded.epoch \
               AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.session_id = excluded.session_id AND l.epoch > excluded.epoch)"
        ))
        .bind(key)
        .bind(session)
        .bind(message_id)
        .bind(epoch)
        .execute(self.store.pool())
        .await
        .map_err(|e| Self::err(session, format!("recording the send of key `{key}`: {e}")))?;
        if done.rows_affected() == 0 {
            return Err(self.stale(session, epoch));
        }
        Ok(())
    }
}
