//! `GET /api/webhooks/deliveries`: webhook deliveries not delivered yet — pending (with their
//! attempts, next attempt and last error), failed (given up) and dropped (a full queue).

use axum::extract::State;
use axum::Json;
use serde::Deserialize;

use super::error::{ApiError, QueryArgs};
use super::state::ApiState;
use crate::store::webhooks::Delivery;

const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1000;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct Query {
    /// How many, at most.
    #[param(minimum = 1, maximum = 1000, default = 100)]
    limit: Option<u32>,
}

/// Webhook deliveries not delivered yet: pending (waiting in the store across restarts), failed
/// (given up) and dropped (a full queue), oldest first.
#[utoipa::path(get, path = "/api/webhooks/deliveries", tag = "webhooks", operation_id = "webhookDeliveries",
    params(Query),
    responses(
        (status = 200, description = "The deliveries.", body = Vec<Delivery>),
        (status = 400, description = "Bad limit.", body = super::doc::ErrorBody),
    ))]
pub(crate) async fn deliveries(
    State(state): State<ApiState>,
    QueryArgs(q): QueryArgs<Query>,
) -> Result<Json<Vec<Delivery>>, ApiError> {
    let n = match q.limit.unwrap_or(DEFAULT_LIMIT) {
        n @ 1..=MAX_LIMIT => n,
        n => {
            return Err(ApiError::bad_request(format!("bad limit {n}: use 1 to {MAX_LIMIT} (default {DEFAULT_LIMIT})")))
        }
    };
    Ok(Json(state.inner.store.webhook_deliveries(i64::from(n)).await?))
}
