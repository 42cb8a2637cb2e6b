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
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Session)]
pub(crate) struct SessionView {
    #[serde(flatten)]
    #[schema(value_type = crate::sessions::SessionInfo)]
    info: SessionInfo,
    /// The QR text while the page shows one (status `qr`), else `null`.
    #[schema(required = true)]
    qr: Option<String>,
    /// The pairing code (link with phone number) while the page shows one, else `null`.
    #[schema(required = true)]
    pairing_code: Option<String>,
    /// The last measurement of the session's browser (memory, CPU), while it runs.
    #[schema(value_type = Option<crate::sessions::Resources>)]
    #[schema(required = true)]
    resources: Option<crate::sessions::Resources>,
}

const BAD_ID: &str = "Bad session id (ids are 1-63 of a-z 0-9 _ -, starting with a letter or digit) or bad input.";

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

/// Every session.
///
/// For an owner token, only the owner's.
#[utoipa::path(get, path = "/api/sessions", tag = "sessions", operation_id = "listSessions",
    responses((status = 200, description = "The sessions.", body = Vec<SessionView>)))]
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

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewSession)]
pub(crate) struct CreateSession {
    #[schema(pattern = "^[a-z0-9][a-z0-9_-]{0,62}$")]
    id: String,
    label: Option<String>,
    /// Start it now.
    #[serde(default = "yes")]
    #[schema(default = true)]
    start: bool,
}

fn yes() -> bool {
    true
}

/// Create a session (and start it unless start is false).
#[utoipa::path(post, path = "/api/sessions", tag = "sessions", operation_id = "createSession",
    request_body = CreateSession,
    responses(
        (status = 201, description = "Created.", body = SessionView),
        (status = 400, description = BAD_ID, body = super::doc::ErrorBody),
        (status = 409, description = "A session with this id exists.", body = super::doc::ErrorBody),
        super::doc::JsonBodyErrors,
    ))]
pub(crate) async fn create(
    State(state): State<ApiState>,
    JsonBody(body): JsonBody<CreateSession>,
) -> Result<(StatusCode, Json<SessionView>), ApiError> {
    let id = SessionId::parse(&body.id)?;
    let label = body.label.as_deref().map(str::trim).filter(|l| !l.is_empty());
    let info = state.inner.sessions.create(&id, label, body.start).await?;
    Ok((StatusCode::CREATED, Json(state.view(info, &Default::default()))))
}

/// One session.
#[utoipa::path(get, path = "/api/sessions/{id}", tag = "sessions", operation_id = "getSession",
    params(("id" = String, Path, description = "The session id.")),
    responses(
        (status = 200, description = "The session.", body = SessionView),
        (status = 400, description = BAD_ID, body = super::doc::ErrorBody),
        (status = 404, description = "No such session.", body = super::doc::ErrorBody),
    ))]
pub(crate) async fn get(
    State(state): State<ApiState>,
    PathArgs(id): PathArgs<String>,
) -> Result<Json<SessionView>, ApiError> {
    let id = SessionId::parse(&id)?;
    Ok(Json(state.one(&id).await?))
}

/// Stop a session and delete it with its profile and backups.
#[utoipa::path(delete, path = "/api/sessions/{id}", tag = "sessions", operation_id = "deleteSession",
    params(("id" = String, Path, description = "The session id.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 400, description = BAD_ID, body = super::doc::ErrorBody),
        (status = 404, description = "No such session.", body = super::doc::ErrorBody),
        (status = 409, description = "A browser this host does not run uses the profile.", body = super::doc::ErrorBody),
    ))]
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

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct QrQuery {
    /// `png` (the default), `svg` or `text` (the QR drawn with block characters).
    #[param(value_type = Option<QrFormat>, inline)]
    format: Option<String>,
}

/// The QR as a PNG image.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // a schema only: `qr::png` makes the bytes
#[schema(value_type = String, format = Binary)]
pub(crate) struct Png(Vec<u8>);

/// The QR's formats.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case", default = "png")]
#[allow(dead_code)]
pub(crate) enum QrFormat {
    Png,
    Svg,
    Text,
}

/// The QR to scan, while the session waits for one.
#[utoipa::path(get, path = "/api/sessions/{id}/qr", tag = "sessions", operation_id = "sessionQr",
    params(("id" = String, Path, description = "The session id."), QrQuery),
    responses(
        (status = 200, description = "The QR.", content(
            (Png = "image/png"), (String = "image/svg+xml"), (String = "text/plain"),
        )),
        (status = 400, description = "Bad session id or format.", body = super::doc::ErrorBody),
        (status = 404, description = "No such session, or it is not waiting for a scan.", body = super::doc::ErrorBody),
    ))]
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

/// Log the session out of WhatsApp (the phone loses this linked device).
#[utoipa::path(post, path = "/api/sessions/{id}/logout", tag = "sessions", operation_id = "logoutSession",
    params(("id" = String, Path, description = "The session id.")),
    responses(
        (status = 200, description = "The session after.", body = SessionView),
        (status = 400, description = BAD_ID, body = super::doc::ErrorBody),
        (status = 404, description = "No such session.", body = super::doc::ErrorBody),
        (status = 409, description = "A browser this host does not run uses the profile.", body = super::doc::ErrorBody),
        (status = 500, description = "The page failed to log out.", body = super::doc::ErrorBody),
        (status = 504, description = "The page did not answer.", body = super::doc::ErrorBody),
    ))]
pub(crate) async fn logout(
    State(state): State<ApiState>,
    PathArgs(id): PathArgs<String>,
) -> Result<Json<SessionView>, ApiError> {
    let id = SessionId::parse(&id)?;
    state.inner.sessions.logout(&id).await?;
    Ok(Json(state.one(&id).await?))
}

/// Restart the session's browser (start it when it is not running).
#[utoipa::path(post, path = "/api/sessions/{id}/restart", tag = "sessions", operation_id = "restartSession",
    params(("id" = String, Path, description = "The session id.")),
    responses(
        (status = 200, description = "The session after.", body = SessionView),
        (status = 400, description = BAD_ID, body = super::doc::ErrorBody),
        (status = 404, description = "No such session.", body = super::doc::ErrorBody),
        (status = 500, description = "The restart failed.", body = super::doc::ErrorBody),
        (status = 504, description = "The restart took too long.", body = super::doc::ErrorBody),
    ))]
pub(crate) async fn restart(
    State(state): State<ApiState>,
    PathArgs(id): PathArgs<String>,
) -> Result<Json<SessionView>, ApiError> {
    let id = SessionId::parse(&id)?;
    state.inner.sessions.restart(&id, "asked through the API").await?;
    Ok(Json(state.one(&id).await?))
}

/// Back up the session's profile now.
#[utoipa::path(post, path = "/api/sessions/{id}/backup", tag = "sessions", operation_id = "backupSession",
    params(("id" = String, Path, description = "The session id.")),
    responses(
        (status = 201, description = "The backup.", body = crate::sessions::BackupInfo),
        (status = 400, description = BAD_ID, body = super::doc::ErrorBody),
        (status = 404, description = "No such session.", body = super::doc::ErrorBody),
        (status = 500, description = "The backup failed (e.g. the profile was never linked).", body = super::doc::ErrorBody),
    ))]
pub(crate) async fn backup(
    State(state): State<ApiState>,
    PathArgs(id): PathArgs<String>,
) -> Result<(StatusCode, Json<BackupInfo>), ApiError> {
    let id = SessionId::parse(&id)?;
    Ok((StatusCode::CREATED, Json(state.inner.sessions.backup_now(&id).await?)))
}

/// The session's backups, oldest first.
#[utoipa::path(get, path = "/api/sessions/{id}/backups", tag = "sessions", operation_id = "listBackups",
    params(("id" = String, Path, description = "The session id.")),
    responses(
        (status = 200, description = "The backups.", body = Vec<crate::sessions::BackupInfo>),
        (status = 400, description = BAD_ID, body = super::doc::ErrorBody),
        (status = 404, description = "No such session.", body = super::doc::ErrorBody),
    ))]
pub(crate) async fn backups(
    State(state): State<ApiState>,
    PathArgs(id): PathArgs<String>,
) -> Result<Json<Vec<BackupInfo>>, ApiError> {
    let id = SessionId::parse(&id)?;
    Ok(Json(state.inner.sessions.backups(&id)?))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Restore)]
pub(crate) struct RestoreBody {
    /// The backup's name, as GET /api/sessions/{id}/backups lists them; the newest when unset.
    backup: Option<String>,
}

/// Restore a backup of the session (the newest by default, else one named as GET
/// /api/sessions/{id}/backups lists them): verified first (a corrupt one is refused, nothing
/// changed), then, on the host running the session, the session is stopped, the backup
/// installed and the session started again, each step a `session.restore` event.
///
/// The body is optional: none (or `{}`) restores the newest backup.
#[utoipa::path(post, path = "/api/sessions/{id}/restore", tag = "sessions", operation_id = "restoreSession",
    params(("id" = String, Path, description = "The session id.")),
    request_body(content = Option<RestoreBody>, content_type = "application/json"),
    responses(
        (status = 200, description = "The restored backup.", body = crate::sessions::BackupInfo),
        (status = 400, description = "Bad session id, bad input, or a corrupt backup (refused before anything \
            changed).", body = super::doc::ErrorBody),
        (status = 404, description = "No such session or backup.", body = super::doc::ErrorBody),
        (status = 409, description = "Another process (another host) runs the session's profile.", body = super::doc::ErrorBody),
        (status = 413, description = "The body is over [api] max_body.", body = super::doc::ErrorBody),
        (status = 422, description = "The body has a wrong field.", body = super::doc::ErrorBody),
        (status = 500, description = "The backup cannot be installed.", body = super::doc::ErrorBody),
    ))]
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

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Message)]
pub(crate) struct SendBody {
    /// The recipient's phone number, international format.
    to: String,
    text: String,
    /// Idempotency key: a second request with the same key sends nothing and answers the
    /// first message's id.
    key: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PairingCodeRequest)]
pub(crate) struct PairingCodeBody {
    /// The phone number of the account to link, international format.
    phone: String,
}

/// What `pairing_code` answers.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // a schema only: the handler answers `json!`
pub(crate) struct PairingCode {
    /// The code to type on the phone.
    #[schema(min_length = 8, max_length = 8)]
    code: String,
}

/// Link the session by phone number: ask the site for a pairing code.
///
/// `POST /api/sessions/{id}/pairing-code {"phone": "+34 600 000 000"}` → `{"code": "ABCD1234"}`.
/// The code is renewed while the session is not linked (event session.pairing_code).
#[utoipa::path(post, path = "/api/sessions/{id}/pairing-code", tag = "sessions", operation_id = "requestPairingCode",
    params(("id" = String, Path, description = "The session id.")),
    request_body = PairingCodeBody,
    responses(
        (status = 200, description = "The code to type on the phone.", body = PairingCode),
        (status = 400, description = "Bad session id, or a phone number that is not a person's number (named in \
            the error).", body = super::doc::ErrorBody),
        (status = 404, description = "No such session.", body = super::doc::ErrorBody),
        (status = 409, description = "The session is linked already, or not on its linking screen.", body = super::doc::ErrorBody),
        super::doc::JsonBodyErrors,
        (status = 500, description = "The page failed to give a code.", body = super::doc::ErrorBody),
        (status = 504, description = "The page did not answer.", body = super::doc::ErrorBody),
    ))]
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

/// What `send` answers.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // a schema only: the handler answers `json!`
pub(crate) struct MessageId {
    /// The message's id.
    id: String,
}

/// Send a text message.
#[utoipa::path(post, path = "/api/sessions/{id}/messages", tag = "sessions", operation_id = "sendMessage",
    params(("id" = String, Path, description = "The session id.")),
    request_body = SendBody,
    responses(
        (status = 200, description = "Sent.", body = MessageId),
        (status = 400, description = "Bad session id, bad phone number or empty text.", body = super::doc::ErrorBody),
        (status = 404, description = "No such session.", body = super::doc::ErrorBody),
        (status = 409, description = "The session is not ready.", body = super::doc::ErrorBody),
        super::doc::JsonBodyErrors,
        (status = 429, description = "Over a send limit (sessions.send_rate, sessions.new_contacts_per_day); the \
            error names it.", body = super::doc::ErrorBody),
        (status = 500, description = "The page failed to send.", body = super::doc::ErrorBody),
        (status = 504, description = "The page did not answer.", body = super::doc::ErrorBody),
    ))]
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
