//! `/api/sessions/...`: list, create, get, delete; the QR; log out, restart; backups;
//! sending a message.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::error::{ApiError, JsonBody, PathArgs, QueryArgs};
use super::qr;
use super::scope::Scope;
use super::state::ApiState;
use crate::sessions::{phone, BackupInfo, SessionId, SessionInfo, SessionStatus};

/// A session as the API shows it: what behaviours see, plus the QR on screen.
#[derive(Serialize)]
pub(crate) struct SessionView {
    #[serde(flatten)]
    info: SessionInfo,
    /// The QR text while the page shows one (status `qr`), else `null`.
    qr: Option<String>,
    /// The pairing code (link with phone number) while the page shows one, else `null`.
    pairing_code: Option<String>,
    /// The last measurement of the session's browser (memory, CPU), while it runs.
    resources: Option<crate::sessions::Resources>,
}

impl ApiState {
    fn view(&self, mut info: SessionInfo, owners: &std::collections::BTreeMap<String, String>) -> SessionView {
        if info.owner.is_none() {
            info.owner = owners.get(info.id.as_str()).cloned();
        }
        let qr = self.inner.sessions.qr(&info.id).ok().flatten();
        let pairing_code = self.inner.sessions.pairing_code_shown(&info.id);
        let resources = self.inner.sessions.resources(&info.id);
        SessionView { info, qr, pairing_code, resources }
    }

    async fn owners_map(&self) -> std::collections::BTreeMap<String, String> {
        match self.inner.store.session_owners().await {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!("API: cannot read the sessions' owners: {e}");
                Default::default()
            }
        }
    }

    async fn one(&self, id: &SessionId) -> Result<SessionView, ApiError> {
        let info = match super::forward::stored_sessions(self).await {
            // Cluster mode: the store's record, wherever the session runs.
            Some(all) => {
                all?.into_iter().find(|i| i.id == *id).ok_or(crate::sessions::SessionError::NotFound(id.into()))?
            }
            None => self.inner.sessions.get(id)?,
        };
        let owner = match info.owner {
            Some(_) => None,
            None => self.inner.store.session_owner(id).await.ok().flatten(),
        };
        let mut owners = std::collections::BTreeMap::new();
        if let Some(o) = owner {
            owners.insert(id.to_string(), o);
        }
        Ok(self.view(info, &owners))
    }
}

/// Every session; for an owner token, only the owner's.
pub(crate) async fn list(
    State(state): State<ApiState>,
    Extension(scope): Extension<Scope>,
) -> Result<Json<Vec<SessionView>>, ApiError> {
    let owners = state.owners_map().await;
    let list = match super::forward::stored_sessions(&state).await {
        Some(all) => all?, // cluster mode: every session in the store, wherever it runs
        None => state.inner.sessions.list().await?,
    };
    let views = list.into_iter().map(|i| state.view(i, &owners));
    Ok(Json(match scope.owner() {
        None => views.collect(),
        Some(me) => views
            .filter(|v| {
                v.info.owner.as_deref().or(state.inner.config_owners.get(v.info.id.as_str()).map(String::as_str))
                    == Some(me)
            })
            .collect(),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateSession {
    id: String,
    label: Option<String>,
    #[serde(default = "yes")]
    start: bool,
}

fn yes() -> bool {
    true
}

pub(crate) async fn create(
    State(state): State<ApiState>,
    JsonBody(body): JsonBody<CreateSession>,
) -> Result<(StatusCode, Json<SessionView>), ApiError> {
    let id = SessionId::parse(&body.id)?;
    let label = body.label.as_deref().map(str::trim).filter(|l| !l.is_empty());
    let info = state.inner.sessions.create(&id, label, body.start).await?;
    Ok((StatusCode::CREATED, Json(state.view(info, &Default::default()))))
}

pub(crate) async fn get(
    State(state): State<ApiState>,
    PathArgs(id): PathArgs<String>,
) -> Result<Json<SessionView>, ApiError> {
    let id = SessionId::parse(&id)?;
    Ok(Json(state.one(&id).await?))
}

pub(crate) async fn delete(
    State(state): State<ApiState>,
    PathArgs(id): PathArgs<String>,
) -> Result<StatusCode, ApiError> {
    let id = SessionId::parse(&id)?;
    state.inner.sessions.remove(&id).await?;
    if let Err(e) = state.inner.store.unlink_session(&id).await {
        tracing::warn!(session = %id, "the session is deleted but its owner link is not: {e}");
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub(crate) struct QrQuery {
    format: Option<String>,
}

pub(crate) async fn qr(
    State(state): State<ApiState>,
    PathArgs(id): PathArgs<String>,
    QueryArgs(q): QueryArgs<QrQuery>,
) -> Result<Response, ApiError> {
    let id = SessionId::parse(&id)?;
    let format = q.format.as_deref().unwrap_or("png");
    if !matches!(format, "png" | "svg" | "text") {
        return Err(ApiError::bad_request(format!(
            "unknown QR format `{}`: use png, svg or text",
            format.escape_debug()
        )));
    }
    let Some(text) = state.inner.sessions.qr(&id)? else {
        let status = state.inner.sessions.get(&id)?.status;
        let hint = match status {
            SessionStatus::Ready => "it is linked already".to_string(),
            SessionStatus::Stopped | SessionStatus::LoggedOut | SessionStatus::Error => {
                format!("it is not running: start it with POST /api/sessions/{id}/restart")
            }
            _ => "try again in a moment, once its status is `qr`".to_string(),
        };
        return Err(ApiError::not_found(format!("session `{id}` is not waiting for a scan (status {status}): {hint}")));
    };
    let out = match format {
        "png" => ([(header::CONTENT_TYPE, "image/png")], qr::png(&text).map_err(ApiError::internal)?).into_response(),
        "svg" => {
            ([(header::CONTENT_TYPE, "image/svg+xml")], qr::svg(&text).map_err(ApiError::internal)?).into_response()
        }
        _ => (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            crate::sessions::qr::render(&text).map_err(ApiError::internal)?,
        )
            .into_response(),
    };
    Ok(out)
}

pub(crate) async fn logout(
    State(state): State<ApiState>,
    PathArgs(id): PathArgs<String>,
) -> Result<Json<SessionView>, ApiError> {
    let id = SessionId::parse(&id)?;
    state.inner.sessions.logout(&id).await?;
    Ok(Json(state.one(&id).await?))
}

pub(crate) async fn restart(
    State(state): State<ApiState>,
    PathArgs(id): PathArgs<String>,
) -> Result<Json<SessionView>, ApiError> {
    let id = SessionId::parse(&id)?;
    state.inner.sessions.restart(&id, "asked through the API").await?;
    Ok(Json(state.one(&id).await?))
}

pub(crate) async fn backup(
    State(state): State<ApiState>,
    PathArgs(id): PathArgs<String>,
) -> Result<(StatusCode, Json<BackupInfo>), ApiError> {
    let id = SessionId::parse(&id)?;
    Ok((StatusCode::CREATED, Json(state.inner.sessions.backup_now(&id).await?)))
}

pub(crate) async fn backups(
    State(state): State<ApiState>,
    PathArgs(id): PathArgs<String>,
) -> Result<Json<Vec<BackupInfo>>, ApiError> {
    let id = SessionId::parse(&id)?;
    Ok(Json(state.inner.sessions.backups(&id)?))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RestoreBody {
    backup: Option<String>,
}

/// The body is optional: none (or `{}`) restores the newest backup.
pub(crate) async fn restore(
    State(state): State<ApiState>,
    PathArgs(id): PathArgs<String>,
    body: Bytes,
) -> Result<Json<BackupInfo>, ApiError> {
    let id = SessionId::parse(&id)?;
    let body: RestoreBody = if body.iter().all(u8::is_ascii_whitespace) {
        RestoreBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            if e.is_data() {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("the request body does not have the expected fields: {e}"),
                )
            } else {
                ApiError::bad_request(format!("the request body is not valid JSON: {e}"))
            }
        })?
    };
    Ok(Json(state.inner.sessions.restore(&id, body.backup.as_deref()).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SendBody {
    to: String,
    text: String,
    /// Idempotency key: a second request with the same key sends nothing and answers the
    /// first message's id.
    key: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PairingCodeBody {
    /// The phone number of the account to link, international format.
    phone: String,
}

/// `POST /api/sessions/{id}/pairing-code {"phone": "+34 600 000 000"}` → `{"code": "ABCD1234"}`.
pub(crate) async fn pairing_code(
    State(state): State<ApiState>,
    PathArgs(id): PathArgs<String>,
    JsonBody(body): JsonBody<PairingCodeBody>,
) -> Result<Json<Value>, ApiError> {
    let id = SessionId::parse(&id)?;
    phone::person_wid(&body.phone)?;
    state.inner.sessions.get(&id)?;
    let code = state.inner.sessions.pairing_code(&id, &body.phone).await?;
    Ok(Json(json!({ "code": code })))
}

pub(crate) async fn send(
    State(state): State<ApiState>,
    PathArgs(id): PathArgs<String>,
    JsonBody(body): JsonBody<SendBody>,
) -> Result<Json<Value>, ApiError> {
    let id = SessionId::parse(&id)?;
    phone::to_wid(&body.to)?;
    if body.text.trim().is_empty() {
        return Err(ApiError::bad_request("`text` is empty: write the message to send"));
    }
    state.inner.sessions.get(&id)?;
    let msg = state.inner.sessions.send_text(&id, &body.to, &body.text, body.key.as_deref()).await?;
    Ok(Json(json!({ "id": msg })))
}
