//! The bearer token: `Authorization: Bearer <token>` on every route but `/healthz`, or
//! `?token=` on `/events` (browsers cannot set headers on a WebSocket). Compared in constant
//! time.

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::server::TOKEN_ENV;
use super::state::ApiState;

/// Lets the request through when it carries the token; 401 with the reason otherwise.
pub(crate) async fn require_token(State(state): State<ApiState>, req: Request, next: Next) -> Response {
    let Some(expected) = state.inner.token.as_deref() else {
        return unauthorized(format!(
            "the API is locked: the host has no token; set {TOKEN_ENV} in its environment, restart it, and send \
             `Authorization: Bearer <token>`"
        ));
    };
    let header_token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .map(str::to_string);
    let query_token = if req.uri().path() == "/events" { query_token(req.uri().query()) } else { None };
    let Some(given) = header_token.or(query_token) else {
        return unauthorized(format!(
            "missing token: send `Authorization: Bearer <token>` with the value of {TOKEN_ENV}"
        ));
    };
    if bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
        next.run(req).await
    } else {
        unauthorized(format!("wrong token: send `Authorization: Bearer <token>` with the value of {TOKEN_ENV}"))
    }
}

fn query_token(query: Option<&str>) -> Option<String> {
    let uri = axum::http::Uri::try_from(format!("/?{}", query?)).ok()?;
    let pairs = axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&uri).ok()?.0;
    pairs.into_iter().find(|(k, _)| k == "token").map(|(_, v)| v)
}

fn unauthorized(message: String) -> Response {
    let mut r = ApiError::new(StatusCode::UNAUTHORIZED, message).into_response();
    r.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
    r
}
