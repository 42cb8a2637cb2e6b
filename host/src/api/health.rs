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

pub(crate) async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// 200 when ready, 503 with the reasons otherwise; the same shape either way.
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
