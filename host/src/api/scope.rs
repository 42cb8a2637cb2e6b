//! What a request may reach. The admin token (`VIGIL_API_TOKEN`) reaches everything; an
//! owner token (see [`crate::store::tokens`]) reaches only its owner's sessions: the list
//! (filtered), one session, its QR, its history, backups, sending, restart, backup, restore and
//! log out, `/events` (filtered), silences on their sessions, `/api/me` and `/openapi.json`. Any
//! other route, and a session of
//! someone else (or no session at all), answers 403 naming the scope.

use std::collections::HashMap;

use axum::extract::{FromRequestParts, MatchedPath, Path, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiError;
use super::state::ApiState;
use crate::sessions::SessionId;

/// Who is asking, put on each request by the auth layer.
#[derive(Debug, Clone, PartialEq)]
pub enum Scope {
    /// The host's `VIGIL_API_TOKEN`.
    Admin,
    /// A token of `owner` (its id, to recheck an open event stream).
    Owner { owner: String, token: String },
}

impl Scope {
    /// The owner whose sessions alone this scope reaches; `None` for the admin.
    pub fn owner(&self) -> Option<&str> {
        match self {
            Scope::Admin => None,
            Scope::Owner { owner, .. } => Some(owner),
        }
    }
}

/// Routes an owner token reaches as such (the handlers filter what they answer).
const OWNER_ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/sessions"),
    ("GET", "/events"),
    ("GET", "/api/me"),
    ("GET", "/openapi.json"),
    // Silences on their own sessions only (see `super::silences`).
    ("GET", "/api/silences"),
    ("POST", "/api/silences"),
    ("DELETE", "/api/silences/{id}"),
];

/// Routes on one session an owner token reaches when the session is theirs.
const OWNER_SESSION_ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/sessions/{id}"),
    ("GET", "/api/sessions/{id}/qr"),
    ("GET", "/api/sessions/{id}/backups"),
    ("GET", "/api/sessions/{id}/pairing-code"),
    ("POST", "/api/sessions/{id}/pairing-code"),
    ("POST", "/api/sessions/{id}/logout"),
    ("POST", "/api/sessions/{id}/restart"),
    ("POST", "/api/sessions/{id}/backup"),
    ("POST", "/api/sessions/{id}/restore"),
    ("POST", "/api/sessions/{id}/messages"),
    ("GET", "/api/sessions/{id}/history"),
];

fn listed(list: &[(&str, &str)], method: &Method, route: &str) -> bool {
    list.iter().any(|(m, r)| *m == method.as_str() && *r == route)
}

/// Runs after the auth layer: lets the admin through, and an owner only where their scope
/// reaches.
pub(crate) async fn enforce(State(state): State<ApiState>, req: Request, next: Next) -> Response {
    let Some(Scope::Owner { owner, .. }) = req.extensions().get::<Scope>().cloned() else {
        return next.run(req).await;
    };
    let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string()).unwrap_or_default();
    let method = req.method().clone();
    if listed(OWNER_ROUTES, &method, &route) {
        return next.run(req).await;
    }
    if !listed(OWNER_SESSION_ROUTES, &method, &route) {
        return forbidden(format!(
            "this token is owner {owner}'s (scope: owner {owner}): it reaches only their sessions \
             (GET /api/sessions, /api/sessions/{{id}}/..., /events); {method} {} needs the admin token \
             (VIGIL_API_TOKEN)",
            req.uri().path()
        ));
    }
    let (mut parts, body) = req.into_parts();
    let id = match Path::<HashMap<String, String>>::from_request_parts(&mut parts, &state).await {
        Ok(Path(p)) => p.get("id").cloned().unwrap_or_default(),
        Err(_) => String::new(),
    };
    let req = Request::from_parts(parts, body);
    // A malformed id is nobody's: the handler says what is wrong with it.
    if SessionId::parse(&id).is_err() {
        return next.run(req).await;
    }
    match state.owner_of(&id).await {
        Ok(Some(o)) if o == owner => next.run(req).await,
        Ok(_) => forbidden(format!(
            "this token is owner {owner}'s (scope: owner {owner}): session `{id}` is not theirs; \
             list theirs with GET /api/sessions"
        )),
        Err(e) => e.into_response(),
    }
}

fn forbidden(message: String) -> Response {
    ApiError::new(StatusCode::FORBIDDEN, message).into_response()
}

impl ApiState {
    /// The owner of session `id`: the session's own record, else the link set through the
    /// API (`PUT /api/owners/{email}`), else `[owners."<email>"] sessions` in the config —
    /// the order the alerts use.
    pub(crate) async fn owner_of(&self, id: &str) -> Result<Option<String>, ApiError> {
        if let Some(o) =
            SessionId::parse(id).ok().and_then(|id| self.inner.sessions.get(&id).ok()).and_then(|i| i.owner)
        {
            return Ok(Some(o));
        }
        if let Some(o) = self.inner.store.session_owner(id).await? {
            return Ok(Some(o));
        }
        Ok(self.inner.config_owners.get(id).cloned())
    }

    /// Whether `scope` reaches session `id` (an owner's own session, or any for the admin).
    pub(crate) async fn reaches(&self, scope: &Scope, id: &str) -> bool {
        match scope.owner() {
            None => true,
            Some(want) => matches!(self.owner_of(id).await, Ok(Some(o)) if o == want),
        }
    }
}

/// What `GET /api/me` answers.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // a schema only: the handler answers `json!`
pub(crate) struct Me {
    scope: MeScope,
    /// An owner token's owner.
    #[schema(required = false)]
    owner: String,
    /// An owner token's id.
    #[schema(required = false)]
    token: String,
}

#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
enum MeScope {
    Admin,
    Owner,
}

/// The scope of the token used: the admin, or an owner (whose sessions alone it reaches).
#[utoipa::path(get, path = "/api/me", tag = "owners", operation_id = "me",
    responses((status = 200, description = "The scope.", body = Me)))]
pub(crate) async fn me(axum::Extension(scope): axum::Extension<Scope>) -> Json<Value> {
    Json(match scope {
        Scope::Admin => json!({ "scope": "admin" }),
        Scope::Owner { owner, token } => json!({ "scope": "owner", "owner": owner, "token": token }),
    })
}
