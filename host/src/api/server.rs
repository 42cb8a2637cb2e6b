//! The router (every route, the auth layer, the body limit) and the server loop.

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{delete, get, post, put};
use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::error::ApiError;
use super::state::ApiState;
use super::{
    alerts, auth, behaviours, cluster, events, forward, health, history, metrics, owners, scope, sessions, silences,
    tokens, webhooks,
};

/// The environment variable the bearer token comes from (never a file, never a default).
pub const TOKEN_ENV: &str = "VIGIL_API_TOKEN";

/// The token from the environment (`None` when unset or empty).
pub fn token_from_env() -> Option<String> {
    std::env::var(TOKEN_ENV).ok().map(|t| t.trim().to_string()).filter(|t| !t.is_empty())
}

/// The OpenAPI document (hand-written; a test checks it names every route).
pub const OPENAPI: &str = include_str!("openapi.json");

/// Every route, with the token check on all but `/healthz`.
pub fn router(state: ApiState) -> Router {
    let protected = Router::new()
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::metrics))
        .route("/openapi.json", get(openapi))
        .route("/events", get(events::events))
        .route("/api/sessions", get(sessions::list).post(sessions::create))
        .route("/api/sessions/{id}", get(sessions::get).delete(sessions::delete))
        .route("/api/sessions/{id}/qr", get(sessions::qr))
        .route("/api/sessions/{id}/pairing-code", post(sessions::pairing_code))
        .route("/api/sessions/{id}/logout", post(sessions::logout))
        .route("/api/sessions/{id}/restart", post(sessions::restart))
        .route("/api/sessions/{id}/backup", post(sessions::backup))
        .route("/api/sessions/{id}/backups", get(sessions::backups))
        .route("/api/sessions/{id}/restore", post(sessions::restore))
        .route("/api/sessions/{id}/messages", post(sessions::send))
        .route("/api/sessions/{id}/history", get(history::history))
        .route("/api/owners", get(owners::list))
        .route("/api/owners/{email}", put(owners::put).delete(owners::delete))
        .route("/api/owners/{email}/tokens", get(tokens::list).post(tokens::create).delete(tokens::revoke_all))
        .route("/api/owners/{email}/tokens/{token}", delete(tokens::revoke))
        .route("/api/owners/{email}/tokens/{token}/rotate", post(tokens::rotate))
        .route("/api/me", get(scope::me))
        .route("/api/behaviours", get(behaviours::list))
        .route("/api/behaviours/{name}", get(behaviours::get))
        .route("/api/behaviours/{name}/reload", post(behaviours::reload))
        .route("/api/behaviours/{name}/resume", post(behaviours::resume))
        .route("/api/alerts", get(alerts::ledger))
        .route("/api/alerts/outbox", get(alerts::outbox))
        .route("/api/webhooks/deliveries", get(webhooks::deliveries))
        .route("/api/silences", get(silences::list).post(silences::create))
        .route("/api/silences/{id}", delete(silences::expire))
        .route("/api/cluster", get(cluster::status))
        // Layers run outside in: the token first, then what its scope reaches, then (cluster
        // mode) control calls for sessions another host runs go there.
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), forward::to_holder))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), scope::enforce))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), auth::require_token));
    let max_body = state.inner.max_body;
    Router::new()
        .route("/healthz", get(health::healthz))
        .merge(protected)
        // The dashboard's static files: no data in them, so no token (see `crate::dashboard`).
        .merge(crate::dashboard::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state)
}

async fn openapi() -> impl axum::response::IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], OPENAPI)
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("no route {}: see GET /openapi.json for the routes", uri.path()))
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed on {}: see GET /openapi.json for the routes", uri.path()),
    )
}

/// Serves the API on `listener` until `shutdown`; in-flight requests finish first.
pub async fn serve(state: ApiState, listener: TcpListener, shutdown: CancellationToken) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    if state.inner.token.is_none() {
        tracing::warn!(%addr, "HTTP API listening, but locked: set {TOKEN_ENV} to use it (only /healthz answers)");
    } else {
        tracing::info!(%addr, "HTTP API listening");
    }
    axum::serve(listener, router(state)).with_graceful_shutdown(async move { shutdown.cancelled_owned().await }).await
}
