//! The bearer token: `Authorization: Bearer <token>` on every route but `/healthz`, or
//! `?token=` on `/events` (browsers cannot set headers on a WebSocket): the admin token
//! (compared in constant time) or an owner token (`vot_…`, checked against the store). What
//! each reaches is `scope`'s business.

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::store::tokens::{TokenCheck, PREFIX};

use super::error::ApiError;
use super::scope::Scope;
use super::server::TOKEN_ENV;
use super::state::ApiState;

/// Lets the request through when it carries the admin token or a live owner token, with its
/// [`Scope`] as a request extension; 401 with the reason otherwise. An owner token is looked
/// up in the store on every request, so a revoked one is refused at once.
pub(crate) async fn require_token(State(state): State<ApiState>, mut req: Request, next: Next) -> Response {
    let header_token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .map(str::to_string);
    let query_token = if req.uri().path() == "/events" { query_token(req.uri().query()) } else { None };
    let given = header_token.or(query_token);
    let admin = state.inner.token.as_deref();
    if let (Some(expected), Some(g)) = (admin, given.as_deref()) {
        if bool::from(g.as_bytes().ct_eq(expected.as_bytes())) {
            req.extensions_mut().insert(Scope::Admin);
            return next.run(req).await;
        }
    }
    if let Some(given) = given.as_deref().filter(|g| g.starts_with(PREFIX)) {
        match state.inner.store.check_owner_token(given).await {
            Ok(TokenCheck::Owner { owner, id }) => {
                req.extensions_mut().insert(Scope::Owner { owner, token: id });
                return next.run(req).await;
            }
            Ok(TokenCheck::Revoked { id, at }) => {
                return unauthorized(format!(
                "owner token {id} was revoked at {}: ask the admin for a new one (POST /api/owners/{{email}}/tokens)",
                at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ))
            }
            Ok(TokenCheck::Unknown) => {
                return unauthorized(
                    "wrong token: this owner token is not known here; ask the admin for one \
                     (POST /api/owners/{email}/tokens), or send the value of VIGIL_API_TOKEN"
                        .to_string(),
                )
            }
            Err(e) => return ApiError::from(e).into_response(),
        }
    }
    if admin.is_none() {
        return unauthorized(format!(
            "the API is locked: the host has no token; set {TOKEN_ENV} in its environment, restart it, and send \
             `Authorization: Bearer <token>`"
        ));
    }
    if given.is_none() {
        return unauthorized(format!(
            "missing token: send `Authorization: Bearer <token>` with the value of {TOKEN_ENV}"
        ));
    }
    unauthorized(format!("wrong token: send `Authorization: Bearer <token>` with the value of {TOKEN_ENV}"))
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
