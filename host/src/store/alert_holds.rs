//! The ledger's side of silences and escalation: an alert raised while a silence holds it is
//! recorded (`silenced`, its email kept in the ledger) instead of queued; when the silence
//! ends its email is queued then, if it is still open; an alert left open is escalated once per
//! episode. Each decision and its email are one transaction, as in [`super::alerts`].

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::alerts::{enqueue, ensure_ledger_row, ledger_row, Alert, Email, LedgerEntry, Raised, LEDGER_COLUMNS};
use super::{from_ms, ms, q, Store, StoreError};

impl Store {
    /// Records an alert a silence holds: `silenced`, with its email kept for when the silence
    /// ends. Within `repeat_after` of the last email it is only counted, as `raise_alert` does.
    /// Either way nothing is queued: `Deduplicated`.
    pub async fn hold_alert(&self, a: Alert<'_>, now: DateTime<Utc>) -> Result<Raised, StoreError> {
        let held = serde_json::to_string(&a.email).unwrap_or_default();
        self.guarded(async move {
            let mut tx = self.pool().begin().await.map_err(q("starting an alert transaction"))?;
            ensure_ledger_row(&mut tx, &a, now).await?;
            let cutoff = ms(now) - a.repeat_after.as_millis() as i64;
            let row = sqlx::query("SELECT state, last_sent_ms FROM alert_ledger WHERE key = $1")
                .bind(a.key)
                .fetch_one(&mut *tx)
                .await
                .map_err(q("reading an alert"))?;
            let (state, last_sent): (String, Option<i64>) = (row.get(0), row.get(1));
            let recent = state == "firing" && last_sent.is_some_and(|t| t > cutoff);
            if recent {
                // Sent within repeat_after: only counted, as without a silence.
                sqlx::query("UPDATE alert_ledger SET raised_count = raised_count + 1, last_raised_ms = $2 WHERE key = $1")
                    .bind(a.key)
                    .bind(ms(now))
                    .execute(&mut *tx)
                    .await
                    .map_err(q("counting a deduplicated alert"))?;
            } else {
                sqlx::query(
                    "UPDATE alert_ledger SET state = 'silenced', severity = $2, template = $3, recipient = $4, vars = $5,
                         last_raised_ms = $6, raised_count = raised_count + 1, held_email = $7, silenced_ms = $6,
                         resolved_ms = NULL,
                         fired_ms = CASE WHEN state IN ('firing', 'silenced') THEN fired_ms ELSE NULL END,
                         escalated_ms = CASE WHEN state IN ('firing', 'silenced') THEN escalated_ms ELSE NULL END
                     WHERE key = $1",
                )
                .bind(a.key)
                .bind(a.severity)
                .bind(a.template)
                .bind(&a.email.to)
                .bind(a.vars.to_string())
                .bind(ms(now))
                .bind(&held)
                .execute(&mut *tx)
                .await
                .map_err(q("holding a silenced alert"))?;
            }
            tx.commit().await.map_err(q("committing an alert"))?;
            Ok(Raised::Deduplicated { last_sent: from_ms(last_sent.unwrap_or_default()) })
        })
        .await
    }

    /// The alerts still open: `firing` or `silenced`.
    pub async fn open_alerts(&self) -> Result<Vec<LedgerEntry>, StoreError> {
        self.guarded(async move {
            let rows = sqlx::query(&format!(
                "SELECT {LEDGER_COLUMNS} FROM alert_ledger WHERE state IN ('firing', 'silenced') ORDER BY key"
            ))
            .fetch_all(self.pool())
            .await
            .map_err(q("reading the open alerts"))?;
            Ok(rows.iter().map(ledger_row).collect())
        })
        .await
    }

    /// Queues the email a silence held for `key` (it is `firing` from now on). Returns the
    /// outbox id, or `None` when it is no longer held (resolved, or released already).
    pub async fn release_alert(&self, key: &str, now: DateTime<Utc>) -> Result<Option<i64>, StoreError> {
        self.guarded(async move {
            let mut tx = self.pool().begin().await.map_err(q("starting a release transaction"))?;
            let held = sqlx::query("SELECT held_email FROM alert_ledger WHERE key = $1 AND state = 'silenced'")
                .bind(key)
                .fetch_optional(&mut *tx)
                .await
                .map_err(q("reading a silenced alert"))?;
            let Some(email) =
                held.and_then(|r| r.get::<Option<String>, _>(0)).and_then(|j| serde_json::from_str::<Email>(&j).ok())
            else {
                return Ok(None);
            };
            let row = sqlx::query(
                "UPDATE alert_ledger SET state = 'firing', sent_count = sent_count + 1, last_sent_ms = $2,
                     first_sent_ms = COALESCE(first_sent_ms, $2), fired_ms = COALESCE(fired_ms, $2), held_email = NULL
                 WHERE key = $1 AND state = 'silenced'
                 RETURNING sent_count",
            )
            .bind(key)
            .bind(ms(now))
            .fetch_one(&mut *tx)
            .await
            .map_err(q("releasing a silenced alert"))?;
            let n: i64 = row.get(0);
            let id = enqueue(&mut tx, &format!("alert:{key}:{n}"), &email, now).await?;
            tx.commit().await.map_err(q("committing a release"))?;
            Ok(Some(id))
        })
        .await
    }

    /// Escalates the episode of `key` that fired at `fired`: records it and queues `emails`,
    /// once (a second call, or one for an episode that ended, queues nothing). Returns the
    /// outbox ids.
    pub async fn escalate_alert(
        &self,
        key: &str,
        fired: DateTime<Utc>,
        emails: &[Email],
        now: DateTime<Utc>,
    ) -> Result<Vec<i64>, StoreError> {
        self.guarded(async move {
            let mut tx = self.pool().begin().await.map_err(q("starting an escalation transaction"))?;
            let r = sqlx::query(
                "UPDATE alert_ledger SET escalated_ms = $3
                 WHERE key = $1 AND state = 'firing' AND fired_ms = $2 AND escalated_ms IS NULL",
            )
            .bind(key)
            .bind(ms(fired))
            .bind(ms(now))
            .execute(&mut *tx)
            .await
            .map_err(q("recording an escalation"))?;
            if r.rows_affected() == 0 {
                return Ok(Vec::new());
            }
            let mut ids = Vec::new();
            for e in emails {
                ids.push(enqueue(&mut tx, &format!("escalated:{key}:{}:{}", ms(fired), e.to), e, now).await?);
            }
            tx.commit().await.map_err(q("committing an escalation"))?;
            Ok(ids)
        })
        .await
    }

    /// Marks an open alert resolved without any email (a silence holds it). Returns whether
    /// there was one to resolve.
    pub async fn resolve_alert_quietly(&self, key: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        self.guarded(async move {
            let r = sqlx::query(
                "UPDATE alert_ledger SET state = 'resolved', resolved_ms = $2, fired_ms = NULL, held_email = NULL
                 WHERE key = $1 AND state IN ('firing', 'silenced')",
            )
            .bind(key)
            .bind(ms(now))
            .execute(self.pool())
            .await
            .map_err(q("resolving a silenced alert"))?;
            Ok(r.rows_affected() > 0)
        })
        .await
    }
}
