//! [`SentLog`]: where `send_text`'s idempotency keys are recorded beyond this host's memory.
//! In cluster mode it is the `sent_messages` table, each row written under the lease epoch of
//! the host that sent (see `crate::cluster`), so a retry with the same key on the host that
//! took the session over answers the first message's id instead of sending again, and a host
//! whose epoch is stale neither sends nor records. Single-host mode has none (memory only).

use async_trait::async_trait;

use super::SessionError;

/// A send refused or not recorded, with the reason.
#[derive(Debug, Clone, PartialEq)]
pub struct SentLogError {
    pub session: String,
    pub message: String,
}

impl From<SentLogError> for SessionError {
    fn from(e: SentLogError) -> SessionError {
        SessionError::Conflict { id: e.session, message: e.message }
    }
}

impl From<SentLogError> for String {
    fn from(e: SentLogError) -> String {
        format!("session `{}`: {}", e.session, e.message)
    }
}

/// The durable record of sends by idempotency key.
#[async_trait]
pub trait SentLog: Send + Sync + 'static {
    /// The message id of an earlier send with `key` on `session`, if one was recorded.
    async fn find(&self, session: &str, key: &str) -> Result<Option<String>, SentLogError>;
    /// Before a send: refused when this host may not send for `session` (its epoch is stale).
    async fn check(&self, session: &str) -> Result<(), SentLogError>;
    /// After a send: records `message_id` under `key`; refused when a newer epoch exists.
    async fn record(&self, session: &str, key: &str, message_id: &str) -> Result<(), SentLogError>;
}
