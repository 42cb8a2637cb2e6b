//! `/api/owners/{email}/tokens`: the admin makes, lists, rotates and revokes an owner's API
//! tokens (owner tokens never reach these routes). A token is in the answer of the call that
//! makes it and nowhere else.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

use super::error::{ApiError, JsonBody, PathArgs};
use super::state::ApiState;
use crate::store::owners::check_owner;
use crate::store::tokens::{NewToken, TokenInfo};

const MAX_LABEL: usize = 100;

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = OwnerTokenInput)]
pub(crate) struct CreateToken {
    /// What the token is for (`"ana's dashboard"`).
    #[schema(max_length = 100)]
    label: Option<String>,
}

async fn existing_owner(state: &ApiState, email: &str) -> Result<(), ApiError> {
    check_owner(email, None).map_err(ApiError::bad_request)?;
    match state.inner.store.owner(email).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::not_found(format!(
            "no owner `{email}`: create them first with PUT /api/owners/{email} (or `vigil owner set`)"
        ))),
    }
}

fn check_token_id(id: &str) -> Result<(), ApiError> {
    if id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "bad token id `{}`: a token id is 16 hex digits, as GET /api/owners/{{email}}/tokens lists them",
            id.escape_debug()
        )))
    }
}

/// Make an API token for the owner: it reaches only their sessions. Shown once. Admin token only.
#[utoipa::path(post, path = "/api/owners/{email}/tokens", tag = "owners", operation_id = "createOwnerToken",
    params(("email" = String, Path, description = "The owner's email.")),
    request_body = CreateToken,
    responses(
        (status = 201, description = "The new token.", body = NewToken),
        (status = 400, description = "Bad email or label.", body = super::doc::ErrorBody),
        (status = 404, description = "No such owner, or no such live token.", body = super::doc::ErrorBody),
        (status = 413, description = "The body is over [api] max_body.", body = super::doc::ErrorBody),
        (status = 415, description = "The body is not JSON (Content-Type).", body = super::doc::ErrorBody),
        (status = 422, description = "The body has a wrong field.", body = super::doc::ErrorBody),
    ))]
pub(crate) async fn create(
    State(state): State<ApiState>,
    PathArgs(email): PathArgs<String>,
    JsonBody(body): JsonBody<CreateToken>,
) -> Result<(StatusCode, Json<NewToken>), ApiError> {
    existing_owner(&state, &email).await?;
    let label = body.label.as_deref().map(str::trim).filter(|l| !l.is_empty());
    if let Some(l) = label {
        if l.chars().count() > MAX_LABEL || l.chars().any(char::is_control) {
            return Err(ApiError::bad_request(format!(
                "bad `label`: at most {MAX_LABEL} characters, no control characters"
            )));
        }
    }
    let new = state.inner.store.create_owner_token(&email, label, state.inner.clock.now()).await?;
    tracing::info!(owner = %email, token = %new.info.id, "owner token created");
    Ok((StatusCode::CREATED, Json(new)))
}

/// The owner's API tokens, live and revoked (never the tokens themselves). Admin token only.
#[utoipa::path(get, path = "/api/owners/{email}/tokens", tag = "owners", operation_id = "listOwnerTokens",
    params(("email" = String, Path, description = "The owner's email.")),
    responses(
        (status = 200, description = "The tokens, oldest first.", body = Vec<TokenInfo>),
        (status = 400, description = "Bad email or token id.", body = super::doc::ErrorBody),
        (status = 404, description = "No such owner, or no such live token.", body = super::doc::ErrorBody),
    ))]
pub(crate) async fn list(
    State(state): State<ApiState>,
    PathArgs(email): PathArgs<String>,
) -> Result<Json<Vec<TokenInfo>>, ApiError> {
    existing_owner(&state, &email).await?;
    Ok(Json(state.inner.store.owner_tokens(&email).await?))
}

/// Revoke every live token of the owner, at once. Admin token only.
#[utoipa::path(delete, path = "/api/owners/{email}/tokens", tag = "owners", operation_id = "revokeOwnerTokens",
    params(("email" = String, Path, description = "The owner's email.")),
    responses(
        (status = 204, description = "Revoked."),
        (status = 400, description = "Bad email or token id.", body = super::doc::ErrorBody),
        (status = 404, description = "No such owner, or no such live token.", body = super::doc::ErrorBody),
    ))]
pub(crate) async fn revoke_all(
    State(state): State<ApiState>,
    PathArgs(email): PathArgs<String>,
) -> Result<StatusCode, ApiError> {
    existing_owner(&state, &email).await?;
    let n = state.inner.store.revoke_owner_tokens(&email, state.inner.clock.now()).await?;
    tracing::info!(owner = %email, revoked = n, "owner tokens revoked");
    Ok(StatusCode::NO_CONTENT)
}

fn no_live_token(email: &str, id: &str) -> ApiError {
    ApiError::not_found(format!(
        "owner `{email}` has no live token `{id}`: list their tokens with GET /api/owners/{email}/tokens"
    ))
}

/// Revoke one token, at once. Admin token only.
#[utoipa::path(delete, path = "/api/owners/{email}/tokens/{token}", tag = "owners", operation_id = "revokeOwnerToken",
    params(("email" = String, Path, description = "The owner's email."), ("token" = String, Path, description = "The token's id (the part after `vot_`, as lists show it).")),
    responses(
        (status = 204, description = "Revoked."),
        (status = 400, description = "Bad email or token id.", body = super::doc::ErrorBody),
        (status = 404, description = "No such owner, or no such live token.", body = super::doc::ErrorBody),
    ))]
pub(crate) async fn revoke(
    State(state): State<ApiState>,
    PathArgs((email, id)): PathArgs<(String, String)>,
) -> Result<StatusCode, ApiError> {
    existing_owner(&state, &email).await?;
    check_token_id(&id)?;
    if state.inner.store.revoke_owner_token(&email, &id, state.inner.clock.now()).await? {
        tracing::info!(owner = %email, token = %id, "owner token revoked");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(no_live_token(&email, &id))
    }
}

/// Replace a token by a new one with the same label; the old one stops working now. Admin
/// token only.
#[utoipa::path(post, path = "/api/owners/{email}/tokens/{token}/rotate", tag = "owners",
    operation_id = "rotateOwnerToken",
    params(("email" = String, Path, description = "The owner's email."), ("token" = String, Path, description = "The token's id (the part after `vot_`, as lists show it).")),
    responses(
        (status = 201, description = "The replacement.", body = NewToken),
        (status = 400, description = "Bad email or token id.", body = super::doc::ErrorBody),
        (status = 404, description = "No such owner, or no such live token.", body = super::doc::ErrorBody),
    ))]
pub(crate) async fn rotate(
    State(state): State<ApiState>,
    PathArgs((email, id)): PathArgs<(String, String)>,
) -> Result<(StatusCode, Json<NewToken>), ApiError> {
    existing_owner(&state, &email).await?;
    check_token_id(&id)?;
    match state.inner.store.rotate_owner_token(&email, &id, state.inner.clock.now()).await? {
        Some(new) => {
            tracing::info!(owner = %email, old = %id, token = %new.info.id, "owner token rotated");
            Ok((StatusCode::CREATED, Json(new)))
        }
        None => Err(no_live_token(&email, &id)),
    }
}
