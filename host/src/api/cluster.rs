//! `GET /api/cluster` (admin only): the nodes, leases with their epochs, and placement of every
//! session, read from the database (see [`crate::cluster::ClusterReport`]); on a host whose
//! cluster mode is off, `{"enabled": false, "message": ...}` saying so.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use super::error::ApiError;
use super::state::ApiState;

pub(crate) async fn status(State(state): State<ApiState>) -> Result<Json<serde_json::Value>, ApiError> {
    let Some(cluster) = state.inner.cluster.get() else {
        return Ok(Json(crate::cluster::off_report()));
    };
    let report = cluster.report().await.map_err(|e| {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, format!("{e}; check the database (database_url)"))
    })?;
    Ok(Json(serde_json::to_value(report).expect("serializable")))
}
