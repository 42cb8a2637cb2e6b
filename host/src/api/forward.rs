//! Cluster mode: control calls reach the host that runs the session. A control call (send,
//! restart, logout, QR, pairing code, backup, backups, restore, delete) for a session whose
//! lease another node holds is forwarded to that node's advertised API URL with the caller's
//! credentials, and its answer is returned as it came (with `X-Vigil-Node` naming who
//! answered). When that node does not answer, or no node holds the session right now, the
//! answer is a 503 naming the holder (or saying none holds it), with `Retry-After`. Reads
//! (`GET /api/sessions`, `GET /api/sessions/{id}`) are answered here, from the store.
//!
//! Runs after the token and scope checks; a call already forwarded once is answered where it
//! lands (no second hop). Off in single-host mode.

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::state::ApiState;
use crate::cluster::forward::{ANSWERED_BY, FORWARDED_BY};
use crate::cluster::Holder;
use crate::sessions::{SessionInfo, SessionRecords};

/// How long a caller should wait before trying a call the holder could not take.
const RETRY_AFTER_S: &str = "5";

/// Whether `method` (lower case) on `route` is a control call, forwarded in cluster mode (the
/// OpenAPI document documents its 503 from this).
pub(super) fn is_control(method: &str, route: &str) -> bool {
    match route {
        "/api/sessions/{id}" => method == "delete",
        _ => route.strip_prefix("/api/sessions/{id}/").is_some_and(|rest| {
            matches!(rest, "qr" | "pairing-code" | "logout" | "restart" | "backup" | "backups" | "restore" | "messages")
        }),
    }
}

/// The session a control call is about, when `req` is one.
fn control_target(req: &Request) -> Option<String> {
    let route = req.extensions().get::<MatchedPath>()?.as_str();
    if !is_control(&req.method().as_str().to_ascii_lowercase(), route) {
        return None;
    }
    req.uri().path().split('/').nth(3).map(str::to_string)
}

fn unavailable(message: String) -> Response {
    let mut r = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message).into_response();
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_S));
    r
}

/// The middleware (see the module's doc).
pub(crate) async fn to_holder(State(state): State<ApiState>, req: Request, next: Next) -> Response {
    let Some(forwarder) = state.inner.forward.get() else { return next.run(req).await };
    if req.headers().contains_key(FORWARDED_BY) {
        return next.run(req).await;
    }
    let Some(id) = control_target(&req) else { return next.run(req).await };
    if crate::sessions::SessionId::parse(&id).is_err() {
        return next.run(req).await; // the route names what is wrong with the id
    }
    let (node, url) = match forwarder.holder(&id).await {
        Ok(Holder::Here) => return next.run(req).await,
        Ok(Holder::Node { node, url }) => (node, url),
        Ok(Holder::Nobody) => {
            return match state.inner.store.load_all().await {
                Ok(all) if all.iter().any(|r| r.id == id) => unavailable(format!(
                    "session `{id}` runs on no host right now: no node holds its lease (it is free, or being taken \
                     over after its host stopped, which takes up to the lease TTL plus a restore); try again in a few \
                     seconds"
                )),
                _ => next.run(req).await, // unknown: the route says so
            };
        }
        Err(e) => return unavailable(format!("cannot tell which host runs session `{id}`: {e}")),
    };
    let Some(url) = url else {
        return unavailable(format!(
            "session `{id}` runs on node `{node}`, which advertised no API URL (its [api] is off, or it runs a \
             version without forwarding): make the call there, or give it an API"
        ));
    };
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, state.inner.max_body).await {
        Ok(b) => b,
        Err(e) => return ApiError::bad_request(format!("cannot read the request body: {e}")).into_response(),
    };
    let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    match forwarder.forward(&url, parts.method.clone(), path, &parts.headers, body).await {
        Ok(r) => {
            let mut out = Response::builder().status(r.status().as_u16());
            for (name, value) in r.headers() {
                if matches!(name.as_str(), "content-type" | "retry-after" | "www-authenticate" | "cache-control") {
                    out = out.header(name.as_str(), value.as_bytes());
                }
            }
            out = out.header(ANSWERED_BY, node.as_str());
            match r.bytes().await {
                Ok(b) => out.body(Body::from(b)).unwrap_or_else(|e| ApiError::internal(e.to_string()).into_response()),
                Err(e) => unavailable(format!(
                    "session `{id}` runs on node `{node}` ({url}), whose answer broke off: {e}; the call may or may \
                     not have been made there (a send with a `key` can be repeated safely)"
                )),
            }
        }
        Err(e) => {
            tracing::warn!(session = %id, node = %node, url = %url, "cannot forward a call to the session's holder: {e}");
            unavailable(format!(
                "session `{id}` runs on node `{node}`, whose API at {url} did not answer ({e}): try again in a few \
                 seconds; if that node is gone, another takes the session over once its lease expires"
            ))
        }
    }
}

/// Cluster mode: every session as the store has it, the ones running here as this host
/// sees them (`None` in single-host mode).
pub(crate) async fn stored_sessions(state: &ApiState) -> Option<Result<Vec<SessionInfo>, ApiError>> {
    state.inner.forward.get()?;
    Some(match state.inner.store.load_all().await {
        Ok(records) => Ok(records
            .into_iter()
            .map(|r| match state.inner.sessions.get(&r.id) {
                Ok(info) if info.running => info,
                _ => r.info(false),
            })
            .collect()),
        Err(e) => Err(ApiError::internal(e.to_string())),
    })
}
