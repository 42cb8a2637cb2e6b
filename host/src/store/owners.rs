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

impl Store {
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
