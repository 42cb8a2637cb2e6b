//! The alert ledger and the email outbox. Raising an alert decides "send or deduplicate" and
//! queues the email in one transaction, so an alert is never recorded without its email nor
//! emailed without being recorded; the outbox worker sends what is queued.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

use super::{from_ms, ms, q, Store, StoreError};

/// A rendered email.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
}

/// What `raise` did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Raised {
    /// A new email is in the outbox.
    Queued { outbox_id: i64 },
    /// Already sent within `repeat_after`: nothing queued.
    Deduplicated { last_sent: DateTime<Utc> },
}

/// One alert as the ledger keeps it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LedgerEntry {
    pub key: String,
    /// `firing`, `silenced` (its email is held by a silence, sent when the silence ends) or
    /// `resolved`.
    pub state: String,
    pub severity: String,
    pub template: String,
    pub recipient: String,
    pub vars: serde_json::Value,
    #[schema(required = true)]
    pub first_sent: Option<DateTime<Utc>>,
    #[schema(required = true)]
    pub last_sent: Option<DateTime<Utc>>,
    pub last_raised: DateTime<Utc>,
    pub sent_count: i64,
    pub raised_count: i64,
    #[schema(required = true)]
    pub resolved: Option<DateTime<Utc>>,
    /// When a silence last held its email.
    #[schema(required = true)]
    pub silenced: Option<DateTime<Utc>>,
    /// When the current episode's first email was queued (escalation counts from it); unset
    /// while nothing was sent and once resolved.
    #[schema(required = true)]
    pub fired: Option<DateTime<Utc>>,
    /// When the episode was escalated to `[alerts.escalation] to`.
    #[schema(required = true)]
    pub escalated: Option<DateTime<Utc>>,
    /// The email a silence holds, sent when the silence ends (not shown by the API).
    #[serde(skip)]
    pub held_email: Option<Email>,
}

/// One queued or sent email.
#[derive(Debug, Clone, Serialize)]
pub struct OutboxEntry {
    pub id: i64,
    pub idempotency_key: String,
    pub email: Email,
    pub created: DateTime<Utc>,
    pub attempts: i64,
    pub next_attempt: DateTime<Utc>,
    pub last_error: Option<String>,
    pub sent: Option<DateTime<Utc>>,
}

const OUTBOX_COLUMNS: &str =
    "id, idempotency_key, recipient, subject, body_text, body_html, created_ms, attempts, next_attempt_ms, last_error, sent_ms";

fn outbox_row(r: &sqlx::any::AnyRow) -> OutboxEntry {
    OutboxEntry {
        id: r.get(0),
        idempotency_key: r.get(1),
        email: Email { to: r.get(2), subject: r.get(3), text: r.get(4), html: r.get(5) },
        created: from_ms(r.get(6)),
        attempts: r.get(7),
        next_attempt: from_ms(r.get(8)),
        last_error: r.get(9),
        sent: r.get::<Option<i64>, _>(10).map(from_ms),
    }
}

pub(crate) fn ledger_row(r: &sqlx::any::AnyRow) -> LedgerEntry {
    LedgerEntry {
        key: r.get(0),
        state: r.get(1),
        severity: r.get(2),
        template: r.get(3),
        recipient: r.get(4),
        vars: serde_json::from_str(&r.get::<String, _>(5)).unwrap_or_default(),
        first_sent: r.get::<Option<i64>, _>(6).map(from_ms),
        last_sent: r.get::<Option<i64>, _>(7).map(from_ms),
        last_raised: from_ms(r.get(8)),
        sent_count: r.get(9),
        raised_count: r.get(10),
        resolved: r.get::<Option<i64>, _>(11).map(from_ms),
        silenced: r.get::<Option<i64>, _>(12).map(from_ms),
        fired: r.get::<Option<i64>, _>(13).map(from_ms),
        escalated: r.get::<Option<i64>, _>(14).map(from_ms),
        held_email: r.get::<Option<String>, _>(15).and_then(|j| serde_json::from_str(&j).ok()),
    }
}

pub(crate) const LEDGER_COLUMNS: &str = "key, state, severity, template, recipient, vars, first_sent_ms, last_sent_ms, last_raised_ms, sent_count, raised_count, resolved_ms, silenced_ms, fired_ms, escalated_ms, held_email";

/// What an alert is raised with.
pub struct Alert<'a> {
    pub key: &'a str,
    pub severity: &'a str,
    pub template: &'a str,
    pub vars: &'a serde_json::Value,
    pub repeat_after: Duration,
    pub email: Email,
}

/// The alert's ledger row, made `new` if there is none yet (raised or held, it is recorded).
pub(super) async fn ensure_ledger_row(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    a: &Alert<'_>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO alert_ledger (key, state, severity, template, recipient, vars, last_raised_ms)
         VALUES ($1, 'new', $2, $3, $4, $5, $6) ON CONFLICT (key) DO NOTHING",
    )
    .bind(a.key)
    .bind(a.severity)
    .bind(a.template)
    .bind(&a.email.to)
    .bind(a.vars.to_string())
    .bind(ms(now))
    .execute(&mut **tx)
    .await
    .map_err(q("recording an alert"))?;
    Ok(())
}

impl Store {
    /// Records the alert and queues its email, unless it was sent less than `repeat_after`
    /// ago and not resolved since: then it only counts the raise.
    pub async fn raise_alert(&self, a: Alert<'_>, now: DateTime<Utc>) -> Result<Raised, StoreError> {
        self.guarded(async move {
            let mut tx = self.pool().begin().await.map_err(q("starting an alert transaction"))?;
            ensure_ledger_row(&mut tx, &a, now).await?;
            let cutoff = ms(now) - a.repeat_after.as_millis() as i64;
            let sent = sqlx::query(
                "UPDATE alert_ledger SET state = 'firing', severity = $2, template = $3, recipient = $4, vars = $5,
                     last_raised_ms = $6, raised_count = raised_count + 1, sent_count = sent_count + 1,
                     last_sent_ms = $6, first_sent_ms = COALESCE(first_sent_ms, $6), resolved_ms = NULL,
                     held_email = NULL,
                     fired_ms = CASE WHEN state IN ('firing', 'silenced') THEN COALESCE(fired_ms, $6) ELSE $6 END,
                     escalated_ms = CASE WHEN state IN ('firing', 'silenced') THEN escalated_ms ELSE NULL END
                 WHERE key = $1 AND NOT (state = 'firing' AND last_sent_ms IS NOT NULL AND last_sent_ms > $7)
                 RETURNING sent_count",
            )
            .bind(a.key)
            .bind(a.severity)
            .bind(a.template)
            .bind(&a.email.to)
            .bind(a.vars.to_string())
            .bind(ms(now))
            .bind(cutoff)
            .fetch_optional(&mut *tx)
            .await
            .map_err(q("deciding whether to send an alert"))?;
            let out = match sent {
                Some(row) => {
                    let n: i64 = row.get(0);
                    let id = enqueue(&mut tx, &format!("alert:{}:{n}", a.key), &a.email, now).await?;
                    Raised::Queued { outbox_id: id }
                }
                None => {
                    let row = sqlx::query(
                        "UPDATE alert_ledger SET raised_count = raised_count + 1, last_raised_ms = $2 WHERE key = $1 RETURNING last_sent_ms",
                    )
                    .bind(a.key)
                    .bind(ms(now))
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(q("counting a deduplicated alert"))?;
                    Raised::Deduplicated { last_sent: from_ms(row.get::<Option<i64>, _>(0).unwrap_or_default()) }
                }
            };
            tx.commit().await.map_err(q("committing an alert"))?;
            Ok(out)
        })
        .await
    }

    /// Marks a firing alert resolved; when it had been sent, queues the email `render` makes
    /// from its ledger entry. A silenced one is resolved with nothing sent. Returns the outbox id, or `None` when there was nothing to resolve.
    pub async fn resolve_alert(
        &self,
        key: &str,
        now: DateTime<Utc>,
        render: impl FnOnce(&LedgerEntry) -> Email + Send,
    ) -> Result<Option<i64>, StoreError> {
        self.guarded(async move {
            let mut tx = self.pool().begin().await.map_err(q("starting a resolve transaction"))?;
            // Held by a silence: resolved with its email, and nothing is sent.
            let held = sqlx::query(
                "UPDATE alert_ledger SET state = 'resolved', resolved_ms = $2, fired_ms = NULL, held_email = NULL
                 WHERE key = $1 AND state = 'silenced'",
            )
            .bind(key)
            .bind(ms(now))
            .execute(&mut *tx)
            .await
            .map_err(q("resolving a silenced alert"))?;
            if held.rows_affected() > 0 {
                tx.commit().await.map_err(q("committing a resolve"))?;
                return Ok(None);
            }
            let row = sqlx::query(&format!(
                "UPDATE alert_ledger SET state = 'resolved', resolved_ms = $2, fired_ms = NULL, held_email = NULL
                 WHERE key = $1 AND state = 'firing' AND sent_count > 0
                 RETURNING {LEDGER_COLUMNS}"
            ))
            .bind(key)
            .bind(ms(now))
            .fetch_optional(&mut *tx)
            .await
            .map_err(q("resolving an alert"))?;
            let Some(row) = row else { return Ok(None) };
            let entry = ledger_row(&row);
            let email = render(&entry);
            let id = enqueue(&mut tx, &format!("resolved:{key}:{}", entry.sent_count), &email, now).await?;
            tx.commit().await.map_err(q("committing a resolve"))?;
            Ok(Some(id))
        })
        .await
    }

    /// Queues an email that is no alert. With the same `idempotency_key`, a second call
    /// queues nothing and returns the first id.
    pub async fn queue_email(
        &self,
        idempotency_key: &str,
        email: &Email,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        self.guarded(async move {
            let mut tx = self.pool().begin().await.map_err(q("starting an email transaction"))?;
            let id = enqueue(&mut tx, idempotency_key, email, now).await?;
            tx.commit().await.map_err(q("committing an email"))?;
            Ok(id)
        })
        .await
    }

    pub async fn ledger(&self) -> Result<Vec<LedgerEntry>, StoreError> {
        self.guarded(async move {
            let rows = sqlx::query(&format!("SELECT {LEDGER_COLUMNS} FROM alert_ledger ORDER BY last_raised_ms DESC"))
                .fetch_all(self.pool())
                .await
                .map_err(q("reading the alert ledger"))?;
            Ok(rows.iter().map(ledger_row).collect())
        })
        .await
    }

    pub async fn alert(&self, key: &str) -> Result<Option<LedgerEntry>, StoreError> {
        self.guarded(async move {
            let row = sqlx::query(&format!("SELECT {LEDGER_COLUMNS} FROM alert_ledger WHERE key = $1"))
                .bind(key)
                .fetch_optional(self.pool())
                .await
                .map_err(q("reading an alert"))?;
            Ok(row.as_ref().map(ledger_row))
        })
        .await
    }

    /// The newest `limit` outbox entries, sent or not.
    pub async fn outbox(&self, limit: i64) -> Result<Vec<OutboxEntry>, StoreError> {
        self.guarded(async move {
            let rows = sqlx::query(&format!("SELECT {OUTBOX_COLUMNS} FROM outbox ORDER BY id DESC LIMIT $1"))
                .bind(limit)
                .fetch_all(self.pool())
                .await
                .map_err(q("reading the outbox"))?;
            Ok(rows.iter().map(outbox_row).collect())
        })
        .await
    }

    /// Unsent emails due at `now`, oldest first.
    pub async fn outbox_due(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<OutboxEntry>, StoreError> {
        self.guarded(async move {
            let rows = sqlx::query(&format!(
                "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE sent_ms IS NULL AND next_attempt_ms <= $1 ORDER BY id LIMIT $2"
            ))
            .bind(ms(now))
            .bind(limit)
            .fetch_all(self.pool())
            .await
            .map_err(q("reading due emails"))?;
            Ok(rows.iter().map(outbox_row).collect())
        })
        .await
    }

    /// When the next unsent email falls due, if any.
    pub async fn outbox_next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.guarded(async move {
            let row = sqlx::query("SELECT MIN(next_attempt_ms) FROM outbox WHERE sent_ms IS NULL")
                .fetch_one(self.pool())
                .await
                .map_err(q("reading the next due email"))?;
            Ok(row.get::<Option<i64>, _>(0).map(from_ms))
        })
        .await
    }

    /// Claims email `id` for one attempt: moves its next attempt to `until`, only while it is
    /// unsent and due at `now`. `false`: another host's worker claimed it first (several hosts
    /// on one database drain one outbox), so this one must not send it. A worker that dies
    /// mid-attempt leaves the email due again at `until`, for any host.
    pub async fn outbox_claim(&self, id: i64, now: DateTime<Utc>, until: DateTime<Utc>) -> Result<bool, StoreError> {
        self.guarded(async move {
            let r = sqlx::query(
                "UPDATE outbox SET next_attempt_ms = $3 WHERE id = $1 AND sent_ms IS NULL AND next_attempt_ms <= $2",
            )
            .bind(id)
            .bind(ms(now))
            .bind(ms(until))
            .execute(self.pool())
            .await
            .map_err(q("claiming an email"))?;
            Ok(r.rows_affected() == 1)
        })
        .await
    }

    /// Marks an email sent; `false` when it already was (it is never marked twice).
    pub async fn outbox_sent(&self, id: i64, now: DateTime<Utc>) -> Result<bool, StoreError> {
        self.guarded(async move {
            let r = sqlx::query("UPDATE outbox SET sent_ms = $2, attempts = attempts + 1, last_error = NULL WHERE id = $1 AND sent_ms IS NULL")
                .bind(id)
                .bind(ms(now))
                .execute(self.pool())
                .await
                .map_err(q("marking an email sent"))?;
            Ok(r.rows_affected() == 1)
        })
        .await
    }

    /// Records a failed attempt and when to try again.
    pub async fn outbox_failed(&self, id: i64, error: &str, next: DateTime<Utc>) -> Result<(), StoreError> {
        self.guarded(async move {
            sqlx::query("UPDATE outbox SET attempts = attempts + 1, last_error = $2, next_attempt_ms = $3 WHERE id = $1 AND sent_ms IS NULL")
                .bind(id)
                .bind(error)
                .bind(ms(next))
                .execute(self.pool())
                .await
                .map_err(q("recording a failed email"))?;
            Ok(())
        })
        .await
    }
}

pub(crate) async fn enqueue(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    key: &str,
    e: &Email,
    now: DateTime<Utc>,
) -> Result<i64, StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO outbox (idempotency_key, recipient, subject, body_text, body_html, created_ms, next_attempt_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
    )
    .bind(key)
    .bind(&e.to)
    .bind(&e.subject)
    .bind(&e.text)
    .bind(e.html.as_deref())
    .bind(ms(now))
    .fetch_optional(&mut **tx)
    .await
    .map_err(q("queueing an email"))?;
    match inserted {
        Some(r) => Ok(r.get(0)),
        None => {
            let r = sqlx::query("SELECT id FROM outbox WHERE idempotency_key = $1")
                .bind(key)
                .fetch_one(&mut **tx)
                .await
                .map_err(q("finding a queued email"))?;
            Ok(r.get(0))
        }
    }
}
