//! Webhook deliveries that wait in the store (like the email outbox): one row per event and
//! receiver, `pending` until the receiver takes it (then deleted), `failed` when given up,
//! `dropped` when the receiver's queue overflowed. The `delivery` id is made once, so every
//! attempt — across restarts too — carries the same `X-Vigil-Delivery`.
//!
//! Several hosts on one database (cluster mode) drain one queue per receiver, so a host
//! claims a delivery before it sends it ([`Store::claim_webhook`]): one UPDATE sets
//! `claimed_by` (its node id) and `claimed_until_ms` on the receiver's oldest pending row,
//! only when that row is due and nobody else's live claim is on it. Under PostgreSQL's row
//! lock a second host's concurrent UPDATE re-checks the row and finds it claimed; a host never
//! skips past a claimed row to the next one, so a receiver still gets its deliveries one at a
//! time, in order, cluster-wide. A failed attempt is recorded only under the claimant's own
//! claim (a host whose claim expired learns that its outcome came too late) and releases it.
//! A host that died mid-attempt leaves its claim to expire; the same node id started again
//! takes its own claims back at once.

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

/// What [`Store::claim_webhook`] came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// This host holds the delivery's claim: send it.
    Got(Delivery),
    /// The receiver's oldest pending delivery is not due, or another host's claim is on it,
    /// until then.
    Busy(DateTime<Utc>),
    /// Nothing pending for the receiver.
    Idle,
}

impl Claim {
    /// The claimed delivery, if any.
    pub fn delivery(&self) -> Option<&Delivery> {
        match self {
            Claim::Got(d) => Some(d),
            _ => None,
        }
    }
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
    /// those being sent (under a live claim), marks the oldest ones `dropped` and answers them.
    pub async fn queue_webhook(
        &self,
        d: NewDelivery<'_>,
        now: DateTime<Utc>,
        cap: usize,
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
                "SELECT {COLUMNS} FROM webhook_deliveries WHERE receiver = $1 AND status = 'pending'
                 AND (claimed_by IS NULL OR claimed_until_ms <= $2) ORDER BY id"
            ))
            .bind(receiver)
            .bind(ms(now))
            .fetch_all(&mut *tx)
            .await
            .map_err(q("counting waiting webhook deliveries"))?;
            let over = waiting.len().saturating_sub(cap);
            let dropped: Vec<Delivery> = waiting.iter().take(over).map(delivery).collect();
            for d in &dropped {
                sqlx::query("UPDATE webhook_deliveries SET status = 'dropped', last_error = $1 WHERE id = $2")
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

    /// Claims the oldest pending delivery of `receiver` for `node` until `now + hold`, when it
    /// is due at `now` and no other node's claim on it lives (see the module's doc).
    pub async fn claim_webhook(
        &self,
        receiver: &str,
        node: &str,
        now: DateTime<Utc>,
        hold: std::time::Duration,
    ) -> Result<Claim, StoreError> {
        let until = now + chrono::Duration::from_std(hold).unwrap_or(chrono::Duration::MAX);
        self.guarded(async move {
            let got = sqlx::query(&format!(
                "UPDATE webhook_deliveries SET claimed_by = $1, claimed_until_ms = $2
                 WHERE id = (SELECT id FROM webhook_deliveries WHERE receiver = $3 AND status = 'pending' ORDER BY id LIMIT 1)
                   AND status = 'pending' AND next_attempt_ms <= $4
                   AND (claimed_by IS NULL OR claimed_by = $1 OR claimed_until_ms <= $4)
                 RETURNING {COLUMNS}"
            ))
            .bind(node)
            .bind(ms(until))
            .bind(receiver)
            .bind(ms(now))
            .fetch_optional(self.pool())
            .await
            .map_err(q("claiming the next webhook delivery"))?;
            if let Some(r) = got {
                return Ok(Claim::Got(delivery(&r)));
            }
            let oldest = sqlx::query(
                "SELECT next_attempt_ms, claimed_by, claimed_until_ms FROM webhook_deliveries
                 WHERE receiver = $1 AND status = 'pending' ORDER BY id LIMIT 1",
            )
            .bind(receiver)
            .fetch_optional(self.pool())
            .await
            .map_err(q("reading the next webhook delivery"))?;
            Ok(match oldest {
                None => Claim::Idle,
                Some(r) => {
                    let due: i64 = r.get(0);
                    let by: Option<String> = r.get(1);
                    let held: Option<i64> = r.get(2);
                    let held = held.filter(|_| by.as_deref().is_some_and(|b| b != node)).unwrap_or(0);
                    Claim::Busy(from_ms(due.max(held)))
                }
            })
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

    /// An attempt of `row` by `node` failed: retry at `next`, or (`next` = `None`) give it up;
    /// the claim is released. `false`: `node` no longer held the claim (it expired and another
    /// host took the delivery over), so nothing was recorded.
    pub async fn webhook_failed(
        &self,
        row: i64,
        node: &str,
        error: &str,
        next: Option<DateTime<Utc>>,
    ) -> Result<bool, StoreError> {
        self.guarded(async move {
            let status = if next.is_some() { "pending" } else { "failed" };
            let done = sqlx::query(
                "UPDATE webhook_deliveries SET attempts = attempts + 1, last_error = $1, status = $2,
                 next_attempt_ms = COALESCE($3, next_attempt_ms), claimed_by = NULL, claimed_until_ms = NULL
                 WHERE id = $4 AND claimed_by = $5",
            )
            .bind(error)
            .bind(status)
            .bind(next.map(ms))
            .bind(row)
            .bind(node)
            .execute(self.pool())
            .await
            .map_err(q("recording a failed webhook attempt"))?;
            Ok(done.rows_affected() > 0)
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
