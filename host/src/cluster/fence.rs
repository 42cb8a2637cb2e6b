//! Fenced session records: in cluster mode every write of a session record carries the epoch
//! of the lease this host holds for it (0 when it holds none) and the database refuses it
//! when a newer epoch exists — checked in the same statement, so a host that wakes up with a
//! stale epoch cannot overwrite what the new holder wrote. A refused write is reported on a
//! channel so the host kills that session's browser.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::sessions::{RecordsError, SessionRecord, SessionRecords};
use crate::store::Store;

/// The epochs of the leases this host holds, by session.
#[derive(Clone, Default)]
pub(crate) struct Epochs(Arc<Mutex<HashMap<String, i64>>>);

impl Epochs {
    pub fn get(&self, id: &str) -> Option<i64> {
        self.0.lock().expect("epochs").get(id).copied()
    }
    pub fn set(&self, id: &str, epoch: i64) {
        self.0.lock().expect("epochs").insert(id.to_string(), epoch);
    }
    pub fn remove(&self, id: &str) -> Option<i64> {
        self.0.lock().expect("epochs").remove(id)
    }
    pub fn take_all(&self) -> Vec<(String, i64)> {
        self.0.lock().expect("epochs").drain().collect()
    }
    pub fn all(&self) -> Vec<(String, i64)> {
        let mut v: Vec<_> = self.0.lock().expect("epochs").iter().map(|(k, v)| (k.clone(), *v)).collect();
        v.sort();
        v
    }
    pub fn len(&self) -> usize {
        self.0.lock().expect("epochs").len()
    }
}

/// The session records of a cluster host (see the module's doc).
pub struct FencedRecords {
    store: Store,
    pub(crate) epochs: Epochs,
    refused: mpsc::Sender<String>,
}

impl FencedRecords {
    /// Records on `store`; refused writes' session ids go to the returned receiver.
    pub fn new(store: Store) -> (FencedRecords, mpsc::Receiver<String>) {
        let (tx, rx) = mpsc::channel(64);
        (FencedRecords { store, epochs: Epochs::default(), refused: tx }, rx)
    }
}

impl FencedRecords {
    /// The sent-message record under the same epochs (a refused send kills that browser too).
    pub(crate) fn sent_log(&self) -> super::sent::FencedSent {
        super::sent::FencedSent {
            store: self.store.clone(),
            epochs: self.epochs.clone(),
            refused: self.refused.clone(),
        }
    }
}

#[async_trait]
impl SessionRecords for FencedRecords {
    async fn load_all(&self) -> Result<Vec<SessionRecord>, RecordsError> {
        self.store.load_all().await
    }

    async fn upsert(&self, r: &SessionRecord) -> Result<(), RecordsError> {
        let epoch = self.epochs.get(&r.id).unwrap_or(0);
        let json = serde_json::to_string(r).expect("serializable");
        let done = sqlx::query(
            "INSERT INTO sessions (id, label, phone, status, wa_state, last_seen_ms, error_message, metadata, restarts, created_ms, updated_ms, epoch)
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12
             WHERE NOT EXISTS (SELECT 1 FROM leases l WHERE l.session_id = $1 AND l.epoch > $12)
             ON CONFLICT (id) DO UPDATE SET label = excluded.label, phone = excluded.phone, status = excluded.status,
                 wa_state = excluded.wa_state, last_seen_ms = excluded.last_seen_ms, error_message = excluded.error_message,
                 metadata = excluded.metadata, restarts = excluded.restarts, updated_ms = excluded.updated_ms,
                 epoch = excluded.epoch
             WHERE sessions.epoch <= excluded.epoch
               AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.session_id = excluded.id AND l.epoch > excluded.epoch)",
        )
        .bind(r.id.as_str())
        .bind(r.label.as_deref())
        .bind(r.phone.as_deref())
        .bind(r.status.as_str())
        .bind(r.wa_state.as_deref())
        .bind(r.last_seen.map(|t| t.timestamp_millis()))
        .bind(r.error.as_deref())
        .bind(json)
        .bind(r.restarts as i64)
        .bind(r.created_at.timestamp_millis())
        .bind(r.updated_at.timestamp_millis())
        .bind(epoch)
        .execute(self.store.pool())
        .await
        .map_err(|e| RecordsError::Store(format!("saving session `{}`: {e}", r.id)))?;
        if done.rows_affected() == 0 {
            let _ = self.refused.try_send(r.id.to_string());
            return Err(RecordsError::Store(format!(
                "session `{}`: write refused: this host's lease epoch {epoch} is stale (another host holds a newer one)",
                r.id
            )));
        }
        Ok(())
    }

    async fn delete(&self, id: &str) -> Result<(), RecordsError> {
        self.store.delete(id).await
    }
}

/// The record of `id` as stored now.
pub(crate) async fn load_one(store: &Store, id: &str) -> Result<Option<SessionRecord>, RecordsError> {
    use sqlx::Row;
    let row = sqlx::query("SELECT metadata FROM sessions WHERE id = $1")
        .bind(id)
        .fetch_optional(store.pool())
        .await
        .map_err(|e| RecordsError::Store(format!("reading session `{id}`: {e}")))?;
    let Some(r) = row else { return Ok(None) };
    let what = format!("sessions table, id `{}`", id.escape_debug());
    crate::sessions::records::parse_record(r.get::<String, _>(0).as_bytes(), &what)
        .map_err(|source| RecordsError::Corrupt { path: what, source })
}
