//! `/api/owners`: who is told when their sessions need attention (what `vigil owner set`
//! does, plus which sessions each owns).

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::{ApiError, JsonBody, PathArgs};
use super::state::ApiState;
use crate::sessions::SessionId;
use crate::store::owners::{check_owner, Owner};

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Owner)]
pub(crate) struct OwnerView {
    email: String,
    name: String,
    #[schema(required = true)]
    timezone: Option<String>,
    /// The sessions they own (ids).
    sessions: Vec<String>,
    updated: DateTime<Utc>,
}

fn view(o: Owner, links: &BTreeMap<String, String>) -> OwnerView {
    let sessions = links.iter().filter(|(_, e)| **e == o.email).map(|(s, _)| s.clone()).collect();
    OwnerView { email: o.email, name: o.full_name, timezone: o.timezone, sessions, updated: o.updated }
}

/// Every owner, with the sessions they own.
#[utoipa::path(get, path = "/api/owners", tag = "owners", operation_id = "listOwners",
    responses((status = 200, description = "The owners.", body = Vec<OwnerView>)))]
pub(crate) async fn list(State(state): State<ApiState>) -> Result<Json<Vec<OwnerView>>, ApiError> {
    let store = &state.inner.store;
    let links = store.session_owners().await?;
    Ok(Json(store.owners().await?.into_iter().map(|o| view(o, &links)).collect()))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = OwnerInput)]
pub(crate) struct PutOwner {
    name: String,
    timezone: Option<String>,
    /// Replaces the sessions they own; absent = unchanged.
    sessions: Option<Vec<String>>,
}

/// Add or change an owner (what `vigil owner set` does), and which sessions they own.
#[utoipa::path(put, path = "/api/owners/{email}", tag = "owners", operation_id = "putOwner",
    params(("email" = String, Path, description = "The owner's email.")),
    request_body = PutOwner,
    responses(
        (status = 200, description = "The owner.", body = OwnerView),
        (status = 400, description = "Bad email, timezone, empty name or bad session id.", body = super::doc::ErrorBody),
        (status = 404, description = "A listed session does not exist.", body = super::doc::ErrorBody),
        super::doc::JsonBodyErrors,
    ))]
pub(crate) async fn put(
    State(state): State<ApiState>,
    PathArgs(email): PathArgs<String>,
    JsonBody(body): JsonBody<PutOwner>,
) -> Result<Json<OwnerView>, ApiError> {
    check_owner(&email, body.timezone.as_deref()).map_err(ApiError::bad_request)?;
    let name = body.name.trim();
    if name.is_empty() {
        return Err(ApiError::bad_request("`name` is empty: give the owner's full name, used in their emails"));
    }
    if let Some(ids) = &body.sessions {
        for id in ids {
            state.inner.sessions.get(&SessionId::parse(id)?)?;
        }
    }
    let store = &state.inner.store;
    let owner = Owner {
        email: email.clone(),
        full_name: name.to_string(),
        timezone: body.timezone,
        updated: state.inner.clock.now(),
    };
    store.upsert_owner(&owner).await?;
    if let Some(ids) = &body.sessions {
        store.set_owner_sessions(&email, ids).await?;
    }
    let links = store.session_owners().await?;
    Ok(Json(view(owner, &links)))
}

/// Delete an owner.
#[utoipa::path(delete, path = "/api/owners/{email}", tag = "owners", operation_id = "deleteOwner",
    params(("email" = String, Path, description = "The owner's email.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 400, description = "Bad email.", body = super::doc::ErrorBody),
        (status = 404, description = "No such owner.", body = super::doc::ErrorBody),
    ))]
pub(crate) async fn delete(
    State(state): State<ApiState>,
    PathArgs(email): PathArgs<String>,
) -> Result<StatusCode, ApiError> {
    check_owner(&email, None).map_err(ApiError::bad_request)?;
    if state.inner.store.delete_owner(&email).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("no owner `{email}`: list them with GET /api/owners")))
    }
}
