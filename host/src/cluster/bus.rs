//! Events across hosts, through PostgreSQL `LISTEN/NOTIFY` (no bus of our own).
//!
//! Every host appends its own bus events to the shared `events` table (the event log it keeps
//! anyway). In cluster mode each batch is written under one transaction-scoped advisory lock
//! and announced with `NOTIFY vigil_events` in the same transaction, so batches commit one at
//! a time, in the order of their ids: whoever reads `id > N` after a notification sees every
//! event up to the newest, never a later id before an earlier one. Each host listens
//! ([`sqlx::postgres::PgListener`]) and, on each notification (and every few seconds, in case
//! one was lost while the listening connection was down), reads the rows past its cursor and
//! hands them, ids included, to the [`Feed`]'s subscribers: the WebSocket clients of this host.
//!
//! Only the host where an event happened puts it on its bus, so behaviours and webhooks (fed
//! by the bus) see each event once in the cluster; the feed is read only by `/events`. Each
//! webhook delivery is thus queued once; the hosts then share the queue in the store, and a
//! host claims a delivery there before it sends it (see [`crate::webhooks`]).

use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::Row;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::{db, ClusterError};
use crate::events::Event;
use crate::store::events::StoredEvent;
use crate::store::Store;

/// The channel every host listens on.
pub const CHANNEL: &str = "vigil_events";
/// The advisory lock that serializes event batches cluster-wide ("vigil" + 1).
const LOCK: i64 = 0x7669_6769_6c01;
/// How many events a WebSocket client may fall behind before it catches up from the store.
const CAPACITY: usize = 1024;
/// How often the listener reads past its cursor without a notification.
const POLL: Duration = Duration::from_secs(5);
/// Rows read per query.
pub const PAGE: i64 = 500;

/// The events of every host, in id order, as this host's WebSocket clients get them.
#[derive(Clone, Debug)]
pub struct Feed {
    tx: broadcast::Sender<StoredEvent>,
    store: Store,
}

/// Appends `events` (this host's) under the cluster-wide lock and notifies the other hosts.
pub async fn append(store: &Store, events: &[Event]) -> Result<(), ClusterError> {
    let mut tx = store.pool().begin().await.map_err(db("starting an event batch"))?;
    // A host frozen mid-batch (SIGSTOP, a paused VM) must not hold the lock for good: the
    // server ends its idle transaction, and the others wait for the lock a bounded time.
    sqlx::query("SET LOCAL idle_in_transaction_session_timeout = '5s'")
        .execute(&mut *tx)
        .await
        .map_err(db("starting an event batch"))?;
    sqlx::query("SET LOCAL lock_timeout = '15s'").execute(&mut *tx).await.map_err(db("starting an event batch"))?;
    // (In FROM: the Any driver cannot decode the `void` these functions return.)
    sqlx::query("SELECT 1 FROM pg_advisory_xact_lock($1)")
        .bind(LOCK)
        .execute(&mut *tx)
        .await
        .map_err(db("locking the event log"))?;
    let mut last = 0i64;
    for e in events {
        let row = sqlx::query("INSERT INTO events (at_ms, name, source, data) VALUES ($1, $2, $3, $4) RETURNING id")
            .bind(e.at.timestamp_millis())
            .bind(&e.name)
            .bind(&e.source)
            .bind(e.data.to_string())
            .fetch_one(&mut *tx)
            .await
            .map_err(db("appending an event"))?;
        last = row.get(0);
    }
    sqlx::query("SELECT 1 FROM pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(last.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db("notifying the other hosts of events"))?;
    tx.commit().await.map_err(db("committing events"))?;
    Ok(())
}

impl Feed {
    /// Listens on `database_url` from the newest event on; stops with `shutdown`.
    pub async fn start(store: Store, database_url: &str, shutdown: CancellationToken) -> Result<Feed, ClusterError> {
        let mut listener = PgListener::connect(database_url).await.map_err(db("listening for events"))?;
        listener.listen(CHANNEL).await.map_err(db("listening for events"))?;
        let cursor: i64 = sqlx::query("SELECT COALESCE(MAX(id), 0) FROM events")
            .fetch_one(store.pool())
            .await
            .map_err(db("reading the newest event"))?
            .get(0);
        let feed = Feed { tx: broadcast::channel(CAPACITY).0, store };
        tokio::spawn(feed.clone().listen(listener, cursor, shutdown));
        Ok(feed)
    }

    /// The events stored after this call's moment (and some just before: skip ids you have).
    pub fn subscribe(&self) -> broadcast::Receiver<StoredEvent> {
        self.tx.subscribe()
    }

    /// Up to [`PAGE`] stored events with an id above `id`, oldest first.
    pub async fn after(&self, id: i64) -> Result<Vec<StoredEvent>, ClusterError> {
        let rows = sqlx::query("SELECT id, at_ms, name, source, data FROM events WHERE id > $1 ORDER BY id LIMIT $2")
            .bind(id)
            .bind(PAGE)
            .fetch_all(self.store.pool())
            .await
            .map_err(db("reading events"))?;
        Ok(rows
            .iter()
            .map(|r| StoredEvent {
                id: r.get(0),
                at: chrono::DateTime::from_timestamp_millis(r.get(1)).unwrap_or_default(),
                name: r.get(2),
                source: r.get(3),
                data: serde_json::from_str(&r.get::<String, _>(4)).unwrap_or_default(),
            })
            .collect())
    }

    async fn listen(self, mut listener: PgListener, mut cursor: i64, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                n = listener.try_recv() => match n {
                    Ok(Some(_)) => {}
                    // The connection dropped; the next call reconnects. Catch up meanwhile.
                    Ok(None) => tracing::warn!("cluster events: the listening connection dropped; reconnecting"),
                    Err(e) => {
                        tracing::warn!("cluster events: cannot listen ({e}); trying again in 1s");
                        tokio::select! {
                            _ = shutdown.cancelled() => return,
                            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        }
                    }
                },
                _ = tokio::time::sleep(POLL) => {}
            }
            loop {
                match self.after(cursor).await {
                    Ok(rows) => {
                        let full = rows.len() as i64 == PAGE;
                        for r in rows {
                            cursor = r.id;
                            let _ = self.tx.send(r);
                        }
                        if !full {
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::warn!("cluster events: {e}");
                        break;
                    }
                }
            }
        }
    }
}
