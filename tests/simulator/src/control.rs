//! The control API (plain HTTP on its own loopback port): the "phone" and the "network" that
//! tests and the demo drive. Routes and shapes are those of `shared/SIMULATOR.md`; errors answer
//! `{"error": "..."}` with 400 (bad input), 404 (nothing matches) or 409 (wrong moment).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;

use crate::control_types::{
    EnterCodeRequest, ErrorBody, FaultRequest, IncomingRequest, LogoutRequest, ScanRequest, StateRequest,
};
use crate::hub::{Hub, HubError};
use crate::site::SiteRequest;

/// The router of the control API.
pub(crate) fn router(hub: Arc<Hub>) -> Router {
    Router::new()
        .route("/status", get(status))
        .route("/scan", post(scan))
        .route("/messages", get(messages))
        .route("/incoming", post(incoming))
        .route("/state", post(force_state))
        .route("/logout-from-phone", post(logout_from_phone))
        .route("/fault", post(fault))
        .route("/site", get(site).post(set_site))
        .route("/enter-code", post(enter_code))
        .route("/rotate-adv", post(rotate_adv))
        .with_state(hub)
}

struct ApiError(StatusCode, String);

impl From<HubError> for ApiError {
    fn from(e: HubError) -> Self {
        let status = match e {
            HubError::BadRequest(_) => StatusCode::BAD_REQUEST,
            HubError::NotFound(_) => StatusCode::NOT_FOUND,
            HubError::Conflict(_) => StatusCode::CONFLICT,
        };
        ApiError(status, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(ErrorBody { error: self.1 })).into_response()
    }
}

/// A JSON body; an empty body is the request's default (every field optional).
fn body<T: DeserializeOwned + Default>(bytes: &Bytes) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    required_body(bytes)
}

fn required_body<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| ApiError(StatusCode::BAD_REQUEST, format!("bad JSON body: {e}")))
}

async fn status(State(hub): State<Arc<Hub>>) -> Response {
    Json(hub.status()).into_response()
}

async fn scan(State(hub): State<Arc<Hub>>, bytes: Bytes) -> Result<Response, ApiError> {
    let r: ScanRequest = body(&bytes)?;
    Ok(Json(hub.scan(r.qr.as_deref(), r.me.as_deref())?).into_response())
}

async fn messages(State(hub): State<Arc<Hub>>) -> Response {
    Json(hub.messages()).into_response()
}

async fn incoming(State(hub): State<Arc<Hub>>, bytes: Bytes) -> Result<Response, ApiError> {
    let r: IncomingRequest = required_body(&bytes)?;
    Ok(Json(hub.incoming(r)?).into_response())
}

async fn force_state(State(hub): State<Arc<Hub>>, bytes: Bytes) -> Result<Response, ApiError> {
    let r: StateRequest = required_body(&bytes)?;
    Ok(Json(hub.force_state(r.state, r.me.as_deref())?).into_response())
}

async fn logout_from_phone(State(hub): State<Arc<Hub>>, bytes: Bytes) -> Result<Response, ApiError> {
    let r: LogoutRequest = body(&bytes)?;
    Ok(Json(hub.logout_from_phone(r.me.as_deref())?).into_response())
}

async fn fault(State(hub): State<Arc<Hub>>, bytes: Bytes) -> Result<Response, ApiError> {
    let r: FaultRequest = required_body(&bytes)?;
    Ok(Json(hub.set_fault(r.kind, r.ms)).into_response())
}

async fn site(State(hub): State<Arc<Hub>>) -> Response {
    Json(hub.site()).into_response()
}

async fn set_site(State(hub): State<Arc<Hub>>, bytes: Bytes) -> Result<Response, ApiError> {
    let r: SiteRequest = body(&bytes)?;
    Ok(Json(hub.set_site(&r)).into_response())
}

async fn enter_code(State(hub): State<Arc<Hub>>, bytes: Bytes) -> Result<Response, ApiError> {
    let r: EnterCodeRequest = required_body(&bytes)?;
    Ok(Json(hub.enter_code(&r.code)?).into_response())
}

async fn rotate_adv(State(hub): State<Arc<Hub>>) -> Response {
    Json(hub.rotate_adv()).into_response()
}
