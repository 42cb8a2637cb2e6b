//! Session owners: who is told when their session needs attention.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

use super::{from_ms, ms, q, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Owner {
    pub email: String,
    pub full_name: String,
    /// IANA timezone for the times in their emails; the host's when `None`.
    pub timezone: Option<String>,
    pub updated: DateTime<Utc>,
}

/// Checks an owner's email and timezone as people write them; the error says what to write.
pub fn check_owner(email: &str, timezone: Option<&str>) -> Result<(), String> {
    let ok = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !email.chars().any(|c| c.is_whitespace() || c.is_control())
                && email.len() <= 254
        }
        None => false,
    };
    if !ok {
        return Err(format!("`{}` is not an email address (e.g. ana@example.com)", email.escape_debug()));
    }
    if let Some(tz) = timezone {
        tz.parse::<chrono_tz::Tz>().map_err(|_| {
            format!("unknown timezone `{}`: use an IANA name such as `Europe/Madrid`", tz.escape_debug())
        })?;
    }
    Ok(())
}

impl Store {
    /// Deletes an owner, their session links and their API tokens; `false` when there was none.
    pub async fn delete_owner(&self, email: &str) -> Result<bool, StoreError> {
        self.guarded(async move {
            let mut tx = self.pool().begin().await.map_err(q("starting to delete an owner"))?;
            sqlx::query("DELETE FROM session_owners WHERE owner_email = $1")
                .bind(email)
                .execute(&mut *tx)
                .await
                .map_err(q("deleting an owner's sessions"))?;
            sqlx::query("DELETE FROM owner_tokens WHERE owner_email = $1")
                .bind(email)
                .execute(&mut *tx)
                .await
                .map_err(q("deleting an owner's tokens"))?;
            let n = sqlx::query("DELETE FROM owners WHERE email = $1")
                .bind(email)
                .execute(&mut *tx)
                .await
                .map_err(q("deleting an owner"))?
                .rows_affected();
            tx.commit().await.map_err(q("committing an owner's deletion"))?;
            Ok(n > 0)
        })
        .await
    }

    /// Makes `email` the owner of exactly `sessions` (a session has at most one owner: a
    /// session listed here leaves its previous owner).
    pub async fn set_owner_sessions(&self, email: &str, sessions: &[String]) -> Result<(), StoreError> {
        self.guarded(async move {
            let mut tx = self.pool().begin().await.map_err(q("starting to link an owner's sessions"))?;
            sqlx::query("DELETE FROM session_owners WHERE owner_email = $1")
                .bind(email)
                .execute(&mut *tx)
                .await
                .map_err(q("unlinking an owner's sessions"))?;
            for id in sessions {
                sqlx::query(
                    "INSERT INTO session_owners (session_id, owner_email) VALUES ($1, $2)
                     ON CONFLICT (session_id) DO UPDATE SET owner_email = excluded.owner_email",
                )
                .bind(id)
                .bind(email)
                .execute(&mut *tx)
                .await
                .map_err(q("linking a session to its owner"))?;
            }
            tx.commit().await.map_err(q("committing an owner's sessions"))?;
            Ok(())
        })
        .await
    }

    /// Session id → owner email, for every linked session.
    pub async fn session_owners(&self) -> Result<std::collections::BTreeMap<String, String>, StoreError> {
        self.guarded(async move {
            let rows = sqlx::query("SELECT session_id, owner_email FROM session_owners")
                .fetch_all(self.pool())
                .await
                .map_err(q("reading the sessions' owners"))?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
        .await
    }

    /// The owner linked to session `id`, if any.
    pub async fn session_owner(&self, id: &str) -> Result<Option<String>, StoreError> {
        self.guarded(async move {
            let row = sqlx::query("SELECT owner_email FROM session_owners WHERE session_id = $1")
                .bind(id)
                .fetch_optional(self.pool())
                .await
                .map_err(q("reading a session's owner"))?;
            Ok(row.map(|r| r.get(0)))
        })
        .await
    }

    /// Forgets the owner of session `id` (the session is gone).
    pub async fn unlink_session(&self, id: &str) -> Result<(), StoreError> {
        self.guarded(async move {
            sqlx::query("DELETE FROM session_owners WHERE session_id = $1")
                .bind(id)
                .execute(self.pool())
                .await
                .map_err(q("unlinking a session from its owner"))?;
            Ok(())
        })
        .await
    }

    pub async fn upsert_owner(&self, o: &Owner) -> Result<(), StoreError> {
        self.guarded(async move {
            sqlx::query(
                "INSERT INTO owners (email, full_name, timezone, created_ms, updated_ms) VALUES ($1, $2, $3, $4, $4)
                 ON CONFLICT (email) DO UPDATE SET full_name = excluded.full_name, timezone = excluded.timezone, updated_ms = excluded.updated_ms",
            )
            .bind(&o.email)
            .bind(&o.full_name)
            .bind(o.timezone.as_deref())
            .bind(ms(o.updated))
            .execute(self.pool())
            .await
            .map_err(q("saving an owner"))?;
            Ok(())
        })
        .await
    }

    pub async fn owner(&self, email: &str) -> Result<Option<Owner>, StoreError> {
        self.guarded(async move {
            let row = sqlx::query("SELECT email, full_name, timezone, updated_ms FROM owners WHERE email = $1")
                .bind(email)
                .fetch_optional(self.pool())
                .await
                .map_err(q("reading an owner"))?;
            Ok(row.map(|r| Owner {
                email: r.get(0),
                full_name: r.get(1),
                timezone: r.get(2),
                updated: from_ms(r.get(3)),
            }))
        })
        .await
    }

    pub async fn owners(&self) -> Result<Vec<Owner>, StoreError> {
        self.guarded(async move {
            let rows = sqlx::query("SELECT email, full_name, timezone, updated_ms FROM owners ORDER BY email")
                .fetch_all(self.pool())
                .await
                .map_err(q("reading owners"))?;
            Ok(rows
                .iter()
                .map(|r| Owner { email: r.get(0), full_name: r.get(1), timezone: r.get(2), updated: from_ms(r.get(3)) })
                .collect())
        })
        .await
    }
}
