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

#[derive(Deserialize)]
pub(crate) struct Query {
    limit: Option<u32>,
}

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
