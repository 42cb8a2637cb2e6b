//! Webhook deliveries that wait in the store (like the email outbox): one row per event and
//! receiver, `pending` until the receiver takes it (then deleted), `failed` when given up,
//! `dropped` when the receiver's queue overflowed. The `delivery` id is made once, so every
//! attempt — across restarts too — carries the same `X-Vigil-Delivery`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

use super::{from_ms, ms, q, Store, StoreError};

/// A delivery as the store has it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = WebhookDelivery)]
pub struct Delivery {
    /// The row (delivery order within a receiver).
    #[serde(skip)]
    pub row: i64,
    /// The `X-Vigil-Delivery` id.
    pub id: String,
    /// The receiver's URL.
    pub receiver: String,
    /// The event's name.
    pub event: String,
    /// The JSON body sent, exactly as on every attempt.
    #[serde(skip)]
    pub body: String,
    /// `pending`, `failed` or `dropped`.
    pub status: String,
    pub created: DateTime<Utc>,
    /// Attempts made so far.
    pub attempts: i64,
    /// When the next attempt is due (pending ones).
    pub next_attempt: DateTime<Utc>,
    pub last_error: Option<String>,
}

/// A delivery to queue.
pub struct NewDelivery<'a> {
    /// The receiver's URL.
    pub receiver: &'a str,
    /// The `X-Vigil-Delivery` id.
    pub id: &'a str,
    /// The event's name.
    pub event: &'a str,
    /// The JSON body.
    pub body: &'a str,
}

const COLUMNS: &str = "id, delivery, receiver, event, body, status, created_ms, attempts, next_attempt_ms, last_error";

fn delivery(r: &sqlx::any::AnyRow) -> Delivery {
    Delivery {
        row: r.get(0),
        id: r.get(1),
        receiver: r.get(2),
        event: r.get(3),
        body: r.get(4),
        status: r.get(5),
        created: from_ms(r.get(6)),
        attempts: r.get(7),
        next_attempt: from_ms(r.get(8)),
        last_error: r.get(9),
    }
}

impl Store {
    /// Queues `d`, due now; then, past `cap` pending deliveries of that receiver besides
    /// `in_flight` (a row), marks the oldest ones `dropped` and answers them.
    pub async fn queue_webhook(
        &self,
        d: NewDelivery<'_>,
        now: DateTime<Utc>,
        cap: usize,
        in_flight: i64,
    ) -> Result<Vec<Delivery>, StoreError> {
        let NewDelivery { receiver, id, event, body } = d;
        self.guarded(async move {
            let mut tx = self.pool().begin().await.map_err(q("starting to queue a webhook"))?;
            sqlx::query(
                "INSERT INTO webhook_deliveries (delivery, receiver, event, body, status, created_ms, next_attempt_ms)
                 VALUES ($1, $2, $3, $4, 'pending', $5, $5)",
            )
            .bind(id)
            .bind(receiver)
            .bind(event)
            .bind(body)
            .bind(ms(now))
            .execute(&mut *tx)
            .await
            .map_err(q("queueing a webhook delivery"))?;
            let waiting = sqlx::query(&format!(
                "SELECT {COLUMNS} FROM webhook_deliveries WHERE receiver = $1 AND status = 'pending' AND id <> $2 ORDER BY id"
            ))
            .bind(receiver)
            .bind(in_flight)
            .fetch_all(&mut *tx)
            .await
            .map_err(q("counting waiting webhook deliveries"))?;
            let over = waiting.len().saturating_sub(cap);
            let dropped: Vec<Delivery> = waiting.iter().take(over).map(delivery).collect();
            for d in &dropped {
                sqlx::query(
                    "UPDATE webhook_deliveries SET status = 'dropped', last_error = $1 WHERE id = $2",
                )
                .bind("dropped: the receiver's queue was full")
                .bind(d.row)
                .execute(&mut *tx)
                .await
                .map_err(q("dropping a webhook delivery"))?;
            }
            tx.commit().await.map_err(q("committing a webhook delivery"))?;
            Ok(dropped)
        })
        .await
    }

    /// The oldest pending delivery of `receiver`.
    pub async fn next_webhook(&self, receiver: &str) -> Result<Option<Delivery>, StoreError> {
        self.guarded(async move {
            let row = sqlx::query(&format!(
                "SELECT {COLUMNS} FROM webhook_deliveries WHERE receiver = $1 AND status = 'pending' ORDER BY id LIMIT 1"
            ))
            .bind(receiver)
            .fetch_optional(self.pool())
            .await
            .map_err(q("reading the next webhook delivery"))?;
            Ok(row.as_ref().map(delivery))
        })
        .await
    }

    /// The receiver took delivery `row`: it is forgotten.
    pub async fn webhook_delivered(&self, row: i64) -> Result<(), StoreError> {
        self.guarded(async move {
            sqlx::query("DELETE FROM webhook_deliveries WHERE id = $1")
                .bind(row)
                .execute(self.pool())
                .await
                .map_err(q("recording a webhook delivery"))?;
            Ok(())
        })
        .await
    }

    /// An attempt of `row` failed: retry at `next`, or (`next` = `None`) give it up.
    pub async fn webhook_failed(&self, row: i64, error: &str, next: Option<DateTime<Utc>>) -> Result<(), StoreError> {
        self.guarded(async move {
            let status = if next.is_some() { "pending" } else { "failed" };
            sqlx::query(
                "UPDATE webhook_deliveries SET attempts = attempts + 1, last_error = $1, status = $2,
                 next_attempt_ms = COALESCE($3, next_attempt_ms) WHERE id = $4",
            )
            .bind(error)
            .bind(status)
            .bind(next.map(ms))
            .bind(row)
            .execute(self.pool())
            .await
            .map_err(q("recording a failed webhook attempt"))?;
            Ok(())
        })
        .await
    }

    /// Deliveries not delivered (pending, failed, dropped), oldest first, at most `limit`.
    pub async fn webhook_deliveries(&self, limit: i64) -> Result<Vec<Delivery>, StoreError> {
        self.guarded(async move {
            let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM webhook_deliveries ORDER BY id LIMIT $1"))
                .bind(limit)
                .fetch_all(self.pool())
                .await
                .map_err(q("reading webhook deliveries"))?;
            Ok(rows.iter().map(delivery).collect())
        })
        .await
    }
}
