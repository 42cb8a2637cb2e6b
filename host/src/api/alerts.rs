//! `/api/alerts`: the alert ledger (newest first, with the silences holding each alert and its
//! escalation) and the email outbox.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::{ApiError, QueryArgs};
use super::state::ApiState;
use crate::alerts::holds;
use crate::store::alerts::LedgerEntry;

const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1000;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct Limit {
    /// How many, at most.
    #[param(minimum = 1, maximum = 1000, default = 100)]
    limit: Option<u32>,
}

fn limit(l: Option<u32>) -> Result<u32, ApiError> {
    match l.unwrap_or(DEFAULT_LIMIT) {
        n @ 1..=MAX_LIMIT => Ok(n),
        n => Err(ApiError::bad_request(format!("bad limit {n}: use 1 to {MAX_LIMIT} (default {DEFAULT_LIMIT})"))),
    }
}

/// A ledger entry with what holds it and where its escalation stands.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Alert)]
pub(crate) struct AlertView {
    #[serde(flatten)]
    entry: LedgerEntry,
    /// The ids of the active silences that hold this alert's emails.
    silenced_by: Vec<i64>,
    escalation: EscalationView,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Escalation)]
pub(crate) struct EscalationView {
    #[schema(value_type = EscalationState)]
    /// `none` (off for this alert, or not open), `pending` (due at `due`), `held` (a silence
    /// holds it) or `sent` (at `sent`).
    state: &'static str,
    #[schema(required = true)]
    due: Option<DateTime<Utc>>,
    #[schema(required = true)]
    sent: Option<DateTime<Utc>>,
}

/// An alert's escalation.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
enum EscalationState {
    None,
    Pending,
    Held,
    Sent,
}

/// The alert ledger, newest first.
#[utoipa::path(get, path = "/api/alerts", tag = "alerts", operation_id = "listAlerts",
    params(Limit),
    responses(
        (status = 200, description = "Alerts.", body = Vec<AlertView>),
        (status = 400, description = "Bad limit.", body = super::doc::ErrorBody),
    ))]
pub(crate) async fn ledger(
    State(state): State<ApiState>,
    QueryArgs(q): QueryArgs<Limit>,
) -> Result<Json<Vec<AlertView>>, ApiError> {
    let n = limit(q.limit)?;
    let mut all = state.inner.store.ledger().await?;
    all.truncate(n as usize);
    let active = state.inner.store.active_silences(state.inner.clock.now()).await?;
    let config = state.inner.alerts.escalation();
    Ok(Json(
        all.into_iter()
            .map(|entry| {
                let silenced_by: Vec<i64> = holds::holding(&active, &entry).iter().map(|s| s.id).collect();
                let due = holds::escalation_due(config, &entry);
                let open = entry.state != "resolved";
                let esc = if entry.escalated.is_some() && open {
                    "sent"
                } else if !open || config.after_for(&entry.key).is_none() {
                    "none"
                } else if !silenced_by.is_empty() {
                    "held"
                } else {
                    "pending"
                };
                let escalation = EscalationView { state: esc, due, sent: entry.escalated };
                AlertView { entry, silenced_by, escalation }
            })
            .collect(),
    ))
}

/// An outbox email as the API shows it: who, what, and how sending goes (not the bodies).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = OutboxEmail)]
pub(crate) struct OutboxView {
    id: i64,
    #[schema(value_type = OutboxStatus)]
    /// `pending` or `sent`.
    status: &'static str,
    to: String,
    subject: String,
    created: DateTime<Utc>,
    attempts: i64,
    #[schema(required = true)]
    next_attempt: Option<DateTime<Utc>>,
    #[schema(required = true)]
    last_error: Option<String>,
    #[schema(required = true)]
    sent: Option<DateTime<Utc>>,
}

/// An email's state in the outbox.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
enum OutboxStatus {
    Pending,
    Sent,
}

/// The email outbox, newest first: pending and sent emails (no bodies).
#[utoipa::path(get, path = "/api/alerts/outbox", tag = "alerts", operation_id = "listOutbox",
    params(Limit),
    responses(
        (status = 200, description = "Emails.", body = Vec<OutboxView>),
        (status = 400, description = "Bad limit.", body = super::doc::ErrorBody),
    ))]
pub(crate) async fn outbox(
    State(state): State<ApiState>,
    QueryArgs(q): QueryArgs<Limit>,
) -> Result<Json<Vec<OutboxView>>, ApiError> {
    let n = limit(q.limit)?;
    let list = state.inner.store.outbox(i64::from(n)).await?;
    Ok(Json(
        list.into_iter()
            .map(|e| OutboxView {
                id: e.id,
                status: if e.sent.is_some() { "sent" } else { "pending" },
                to: e.email.to,
                subject: e.email.subject,
                created: e.created,
                attempts: e.attempts,
                next_attempt: e.sent.is_none().then_some(e.next_attempt),
                last_error: e.last_error,
                sent: e.sent,
            })
            .collect(),
    ))
}
