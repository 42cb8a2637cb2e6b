//! Trigger declarations: what a behaviour's top level registered, and the stable key that
//! tells whether a trigger survived an edit.

use serde::{Deserialize, Serialize};

use crate::scheduler::TriggerSpec;

/// What fires a handler.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TriggerKind {
    /// A timer: jittered interval, cron, or one-shot delay.
    Timer(TriggerSpec),
    /// An event pattern: `session.ready`, `session.*`, `*`.
    Event(String),
}

/// One `every(...)`, `cron(...)`, `after(...)` or `on(...)` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerDecl {
    pub kind: TriggerKind,
    /// The script function it runs.
    pub handler: String,
    /// Where it was declared (1-based), for error messages.
    pub line: Option<usize>,
}

impl TriggerDecl {
    /// Stable identity across reloads: the spec and the handler. An edit that changes neither
    /// keeps the trigger — and a timer its next fire time.
    pub fn key(&self) -> String {
        match &self.kind {
            TriggerKind::Timer(spec) => format!("{spec} -> {}", self.handler),
            TriggerKind::Event(pattern) => format!("on {pattern} -> {}", self.handler),
        }
    }
}

/// A trigger as `vigil behaviours` and the API show it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = Trigger)]
pub struct TriggerStatus {
    pub trigger: String,
    pub handler: String,
    #[schema(required = true)]
    pub next_fire: Option<chrono::DateTime<chrono::Utc>>,
    pub fires: u64,
    #[schema(required = true)]
    pub last_fired: Option<chrono::DateTime<chrono::Utc>>,
}
