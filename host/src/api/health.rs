//! `/healthz` (the process answers; no token) and `/readyz` (the store answers and every
//! session that should run has a browser).

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::state::ApiState;
use crate::sessions::SessionStatus;

/// What `/healthz` answers.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // a schema only: the handler answers `json!`
pub(crate) struct Alive {
    status: AliveStatus,
}

#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
enum AliveStatus {
    Ok,
}

/// What `/readyz` answers, ready or not.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // a schema only: the handler answers `json!`
pub(crate) struct Ready {
    ready: bool,
    store: StoreState,
    /// Each session: whether this host runs its browser.
    sessions: BTreeMap<String, RunState>,
    /// Why it is not ready (only when it is not).
    #[schema(required = false)]
    reasons: Vec<String>,
}

#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
enum StoreState {
    Ok,
    Unreachable,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
enum RunState {
    #[schema(rename = "running")]
    Running,
    #[schema(rename = "not running")]
    NotRunning,
}

/// The process answers (no token needed).
#[utoipa::path(get, path = "/healthz", tag = "health", operation_id = "healthz",
    responses((status = 200, description = "Alive.", body = Alive)))]
pub(crate) async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Ready: the store answers and every session that should run has a browser.
///
/// 200 when ready, 503 with the reasons otherwise; the same shape either way.
#[utoipa::path(get, path = "/readyz", tag = "health", operation_id = "readyz", responses(
    (status = 200, description = "Ready.", body = Ready),
    (status = 503, description = "Not ready; `reasons` says why.", body = Ready),
))]
pub(crate) async fn readyz(State(state): State<ApiState>) -> (StatusCode, Json<Value>) {
    let mut reasons = Vec::new();
    let store = match tokio::time::timeout(Duration::from_secs(2), state.inner.store.ping()).await {
        Ok(Ok(_)) => "ok".to_string(),
        Ok(Err(e)) => {
            reasons.push(format!("the store does not answer: {e}"));
            "unreachable".to_string()
        }
        Err(_) => {
            reasons.push("the store did not answer within 2s".to_string());
            "unreachable".to_string()
        }
    };
    let mut sessions = BTreeMap::new();
    match state.inner.sessions.list().await {
        Ok(list) => {
            for s in list {
                // Sessions stopped or logged out on purpose are not expected to run.
                let should_run = !matches!(s.status, SessionStatus::Stopped | SessionStatus::LoggedOut);
                if should_run && !s.running {
                    reasons.push(format!("session `{}` is {} but has no browser", s.id, s.status));
                }
                sessions.insert(s.id, if s.running { "running" } else { "not running" });
            }
        }
        Err(e) => reasons.push(format!("cannot list the sessions: {e}")),
    }
    let ready = reasons.is_empty();
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let mut body = json!({ "ready": ready, "store": store, "sessions": sessions });
    if !ready {
        body["reasons"] = json!(reasons);
    }
    (status, Json(body))
}
