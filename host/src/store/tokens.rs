//! Per-owner API tokens: `vot_<id>_<secret>`, where `id` (16 hex digits) names the token in
//! lists and `secret` is 32 random bytes (64 hex digits). The store keeps the id and the
//! SHA-256 of the whole token, never the token: a token is shown once, when it is made, and
//! checked by looking its id up and comparing the hashes in constant time.

use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;
use subtle::ConstantTimeEq;

use super::{from_ms, ms, q, Store, StoreError};

/// What every owner token starts with.
pub const PREFIX: &str = "vot_";

/// A token as lists show it (no secret, no hash).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = OwnerToken)]
pub struct TokenInfo {
    /// Names the token (the part after `vot_` of the token itself).
    pub id: String,
    /// The owner whose sessions it reaches.
    pub owner: String,
    pub label: Option<String>,
    pub created: DateTime<Utc>,
    /// When it was revoked (or rotated away); a revoked token answers 401.
    pub revoked: Option<DateTime<Utc>>,
}

/// A token just made: the only time its clear text exists.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = NewOwnerToken)]
pub struct NewToken {
    #[serde(flatten)]
    pub info: TokenInfo,
    /// The token: give it to the owner now, it is not kept.
    pub token: String,
}

/// What a presented token is.
#[derive(Debug, Clone, PartialEq)]
pub enum TokenCheck {
    /// A live token of `owner`.
    Owner { owner: String, id: String },
    /// A real token, revoked at `at`.
    Revoked { id: String, at: DateTime<Utc> },
    /// Not a token of this store.
    Unknown,
}

fn hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The id inside a well-formed token.
fn id_of(token: &str) -> Option<&str> {
    let rest = token.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let hex_ok = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex_ok(id, 16) && hex_ok(secret, 64)).then_some(id)
}

fn fresh(owner: &str, label: Option<&str>, now: DateTime<Utc>) -> (NewToken, String) {
    let mut id = [0u8; 8];
    let mut secret = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut id);
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let id = hex(&id);
    let token = format!("{PREFIX}{id}_{}", hex(&secret));
    let h = hash(&token);
    let info =
        TokenInfo { id, owner: owner.to_string(), label: label.map(str::to_string), created: now, revoked: None };
    (NewToken { info, token }, h)
}

fn info(r: &sqlx::any::AnyRow) -> TokenInfo {
    TokenInfo {
        id: r.get(0),
        owner: r.get(1),
        label: r.get(2),
        created: from_ms(r.get(3)),
        revoked: r.get::<Option<i64>, _>(4).map(from_ms),
    }
}

const COLUMNS: &str = "id, owner_email, label, created_ms, revoked_ms";

impl Store {
    /// Makes a token for `owner` (who must exist: the caller checks).
    pub async fn create_owner_token(
        &self,
        owner: &str,
        label: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<NewToken, StoreError> {
        let (new, h) = fresh(owner, label, now);
        self.guarded(async {
            sqlx::query(
                "INSERT INTO owner_tokens (id, owner_email, hash, label, created_ms) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&new.info.id)
            .bind(owner)
            .bind(&h)
            .bind(label)
            .bind(ms(now))
            .execute(self.pool())
            .await
            .map_err(q("saving an owner token"))
        })
        .await?;
        Ok(new)
    }

    /// Every token of `owner`, live and revoked, oldest first.
    pub async fn owner_tokens(&self, owner: &str) -> Result<Vec<TokenInfo>, StoreError> {
        self.guarded(async move {
            let rows = sqlx::query(&format!(
                "SELECT {COLUMNS} FROM owner_tokens WHERE owner_email = $1 ORDER BY created_ms, id"
            ))
            .bind(owner)
            .fetch_all(self.pool())
            .await
            .map_err(q("reading owner tokens"))?;
            Ok(rows.iter().map(info).collect())
        })
        .await
    }

    /// Revokes `owner`'s live token `id`; `false` when there is no such live token.
    pub async fn revoke_owner_token(&self, owner: &str, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        self.guarded(async move {
            let n = sqlx::query(
                "UPDATE owner_tokens SET revoked_ms = $1 WHERE owner_email = $2 AND id = $3 AND revoked_ms IS NULL",
            )
            .bind(ms(now))
            .bind(owner)
            .bind(id)
            .execute(self.pool())
            .await
            .map_err(q("revoking an owner token"))?
            .rows_affected();
            Ok(n > 0)
        })
        .await
    }

    /// Revokes every live token of `owner`; how many.
    pub async fn revoke_owner_tokens(&self, owner: &str, now: DateTime<Utc>) -> Result<u64, StoreError> {
        self.guarded(async move {
            Ok(sqlx::query("UPDATE owner_tokens SET revoked_ms = $1 WHERE owner_email = $2 AND revoked_ms IS NULL")
                .bind(ms(now))
                .bind(owner)
                .execute(self.pool())
                .await
                .map_err(q("revoking an owner's tokens"))?
                .rows_affected())
        })
        .await
    }

    /// Replaces `owner`'s live token `id` by a new one with the same label, in one
    /// transaction: the old one stops working as the new one starts. `None` when there is no
    /// such live token.
    pub async fn rotate_owner_token(
        &self,
        owner: &str,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<NewToken>, StoreError> {
        self.guarded(async move {
            let mut tx = self.pool().begin().await.map_err(q("starting to rotate an owner token"))?;
            let row =
                sqlx::query("SELECT label FROM owner_tokens WHERE owner_email = $1 AND id = $2 AND revoked_ms IS NULL")
                    .bind(owner)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(q("reading the token to rotate"))?;
            let Some(row) = row else { return Ok(None) };
            let label: Option<String> = row.get(0);
            let n = sqlx::query("UPDATE owner_tokens SET revoked_ms = $1 WHERE id = $2 AND revoked_ms IS NULL")
                .bind(ms(now))
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(q("revoking the rotated token"))?
                .rows_affected();
            if n == 0 {
                return Ok(None);
            }
            let (new, h) = fresh(owner, label.as_deref(), now);
            sqlx::query(
                "INSERT INTO owner_tokens (id, owner_email, hash, label, created_ms) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&new.info.id)
            .bind(owner)
            .bind(&h)
            .bind(label.as_deref())
            .bind(ms(now))
            .execute(&mut *tx)
            .await
            .map_err(q("saving the rotated token"))?;
            tx.commit().await.map_err(q("committing a token rotation"))?;
            Ok(Some(new))
        })
        .await
    }

    /// Deletes every token of `owner` (the owner is gone).
    pub async fn delete_owner_tokens(&self, owner: &str) -> Result<(), StoreError> {
        self.guarded(async move {
            sqlx::query("DELETE FROM owner_tokens WHERE owner_email = $1")
                .bind(owner)
                .execute(self.pool())
                .await
                .map_err(q("deleting an owner's tokens"))?;
            Ok(())
        })
        .await
    }

    /// What `token` is: looked up by its id, its hash compared in constant time.
    pub async fn check_owner_token(&self, token: &str) -> Result<TokenCheck, StoreError> {
        let Some(id) = id_of(token) else { return Ok(TokenCheck::Unknown) };
        let row = self
            .guarded(async move {
                sqlx::query("SELECT owner_email, hash, revoked_ms FROM owner_tokens WHERE id = $1")
                    .bind(id)
                    .fetch_optional(self.pool())
                    .await
                    .map_err(q("checking an owner token"))
            })
            .await?;
        let Some(row) = row else { return Ok(TokenCheck::Unknown) };
        let stored: String = row.get(1);
        if !bool::from(hash(token).as_bytes().ct_eq(stored.as_bytes())) {
            return Ok(TokenCheck::Unknown);
        }
        Ok(match row.get::<Option<i64>, _>(2) {
            Some(at) => TokenCheck::Revoked { id: id.to_string(), at: from_ms(at) },
            None => TokenCheck::Owner { owner: row.get(0), id: id.to_string() },
        })
    }

    /// Whether token `id` is still live (an open event stream rechecks it).
    pub async fn owner_token_live(&self, id: &str) -> Result<bool, StoreError> {
        self.guarded(async move {
            let row = sqlx::query("SELECT 1 FROM owner_tokens WHERE id = $1 AND revoked_ms IS NULL")
                .bind(id)
                .fetch_optional(self.pool())
                .await
                .map_err(q("checking an owner token"))?;
            Ok(row.is_some())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_are_well_formed_and_distinct() {
        let now = chrono::Utc::now();
        let (a, ha) = super::fresh("ana@example.com", None, now);
        let (b, _) = super::fresh("ana@example.com", None, now);
        assert_ne!(a.token, b.token);
        assert_eq!(super::id_of(&a.token), Some(a.info.id.as_str()));
        assert_eq!(ha, super::hash(&a.token));
        assert!(!ha.contains(&a.token[20..]));
        assert_eq!(super::id_of("vot_abc_def"), None);
        assert_eq!(super::id_of(&a.token[..a.token.len() - 1]), None);
    }
}
