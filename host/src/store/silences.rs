//! Alert silences: while one is active (`starts <= now < ends`), the emails of the alerts it
//! matches are held in the ledger (see [`super::alert_holds`]). Expiring a silence early sets
//! its end to that moment; silences are never deleted, so the ledger's history stays readable.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::{from_ms, ms, q, Store, StoreError};

/// What a silence holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = SilenceMatcher)]
pub enum Matcher {
    /// Every alert about this session (the alert's `vars.session`).
    Session(String),
    /// Every alert whose key is this or starts with it (`disconnected`, `inactive:main`).
    Alert(String),
}

impl Matcher {
    fn kind(&self) -> &'static str {
        match self {
            Matcher::Session(_) => "session",
            Matcher::Alert(_) => "alert",
        }
    }

    fn value(&self) -> &str {
        match self {
            Matcher::Session(v) | Matcher::Alert(v) => v,
        }
    }

    /// Whether it matches the alert `key` about `session`.
    pub fn matches(&self, key: &str, session: Option<&str>) -> bool {
        match self {
            Matcher::Session(s) => session == Some(s.as_str()),
            Matcher::Alert(prefix) => key.starts_with(prefix.as_str()),
        }
    }
}

/// One silence.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = StoredSilence)]
pub struct Silence {
    pub id: i64,
    pub matcher: Matcher,
    pub reason: String,
    /// `admin`, or `owner <email>` for an owner token.
    pub created_by: String,
    pub starts: DateTime<Utc>,
    pub ends: DateTime<Utc>,
    /// Who expired it early, if someone did.
    #[schema(required = true)]
    pub expired_by: Option<String>,
}

impl Silence {
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.starts <= now && now < self.ends
    }

    /// Whether it holds the alert `key` about `session` (it does not look at the time).
    pub fn matches(&self, key: &str, session: Option<&str>) -> bool {
        self.matcher.matches(key, session)
    }
}

const COLUMNS: &str = "id, matcher_kind, matcher, reason, created_by, starts_ms, ends_ms, expired_by";

fn row(r: &sqlx::any::AnyRow) -> Silence {
    let value: String = r.get(2);
    let matcher = match r.get::<String, _>(1).as_str() {
        "session" => Matcher::Session(value),
        _ => Matcher::Alert(value),
    };
    Silence {
        id: r.get(0),
        matcher,
        reason: r.get(3),
        created_by: r.get(4),
        starts: from_ms(r.get(5)),
        ends: from_ms(r.get(6)),
        expired_by: r.get(7),
    }
}

impl Store {
    /// Records a silence from `starts` to `ends`.
    pub async fn create_silence(
        &self,
        matcher: &Matcher,
        reason: &str,
        created_by: &str,
        starts: DateTime<Utc>,
        ends: DateTime<Utc>,
    ) -> Result<Silence, StoreError> {
        self.guarded(async move {
            let r = sqlx::query(&format!(
                "INSERT INTO silences (matcher_kind, matcher, reason, created_by, starts_ms, ends_ms)
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
            ))
            .bind(matcher.kind())
            .bind(matcher.value())
            .bind(reason)
            .bind(created_by)
            .bind(ms(starts))
            .bind(ms(ends))
            .fetch_one(self.pool())
            .await
            .map_err(q("recording a silence"))?;
            Ok(row(&r))
        })
        .await
    }

    /// Silences that end after `after` (the active ones, and those that ended since), newest
    /// first.
    pub async fn silences_ending_after(&self, after: DateTime<Utc>) -> Result<Vec<Silence>, StoreError> {
        self.guarded(async move {
            let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM silences WHERE ends_ms > $1 ORDER BY id DESC"))
                .bind(ms(after))
                .fetch_all(self.pool())
                .await
                .map_err(q("reading the silences"))?;
            Ok(rows.iter().map(row).collect())
        })
        .await
    }

    /// The silences active at `now`.
    pub async fn active_silences(&self, now: DateTime<Utc>) -> Result<Vec<Silence>, StoreError> {
        Ok(self.silences_ending_after(now).await?.into_iter().filter(|s| s.is_active(now)).collect())
    }

    pub async fn silence(&self, id: i64) -> Result<Option<Silence>, StoreError> {
        self.guarded(async move {
            let r = sqlx::query(&format!("SELECT {COLUMNS} FROM silences WHERE id = $1"))
                .bind(id)
                .fetch_optional(self.pool())
                .await
                .map_err(q("reading a silence"))?;
            Ok(r.as_ref().map(row))
        })
        .await
    }

    /// Ends silence `id` at `now` if it has not ended yet; returns it as it is then (`None`:
    /// no such silence).
    pub async fn expire_silence(&self, id: i64, by: &str, now: DateTime<Utc>) -> Result<Option<Silence>, StoreError> {
        self.guarded(async move {
            sqlx::query("UPDATE silences SET ends_ms = $2, expired_by = $3 WHERE id = $1 AND ends_ms > $2")
                .bind(id)
                .bind(ms(now))
                .bind(by)
                .execute(self.pool())
                .await
                .map_err(q("expiring a silence"))?;
            Ok(())
        })
        .await?;
        self.silence(id).await
    }
}
