//! `GET /api/cluster` (admin only): the nodes, leases with their epochs, and placement of every
//! session, read from the database (see [`crate::cluster::ClusterReport`]); on a host whose
//! cluster mode is off, `{"enabled": false, "message": ...}` saying so.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use super::error::ApiError;
use super::state::ApiState;

/// What `GET /api/cluster` answers: the cluster, or that cluster mode is off.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // a schema only: the handler answers the report or `off_report()`
pub(crate) enum ClusterAnswer {
    On(crate::cluster::ClusterReport),
    Off(ClusterOff),
}

/// [`crate::cluster::off_report`]: cluster mode is off on this host.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct ClusterOff {
    /// `false`.
    enabled: bool,
    /// What single-host mode means and how to turn cluster mode on.
    message: String,
}

/// Cluster mode: every node (capacity, sessions held, last heartbeat, alive or draining),
/// every lease (session, node, epoch, expiry) and the placement of every session, read from the
/// database (any host answers the same). On a host whose cluster mode is off: `enabled: false`
/// and a message saying so. Admin token only.
#[utoipa::path(get, path = "/api/cluster", tag = "cluster", operation_id = "clusterStatus",
    responses(
        (status = 200, description = "The cluster, or that cluster mode is off.", body = ClusterAnswer),
        (status = 503, description = "The database did not answer.", body = super::doc::ErrorBody),
    ))]
pub(crate) async fn status(State(state): State<ApiState>) -> Result<Json<serde_json::Value>, ApiError> {
    let Some(cluster) = state.inner.cluster.get() else {
        return Ok(Json(crate::cluster::off_report()));
    };
    let report = cluster.report().await.map_err(|e| {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, format!("{e}; check the database (database_url)"))
    })?;
    Ok(Json(serde_json::to_value(report).expect("serializable")))
}
