//! `/api/behaviours`: every loaded behaviour (kind, status, last error, triggers with their
//! next fire times, traces, suspension); reloading one now; resuming a suspended one.

use axum::extract::State;
use axum::Json;
use serde::Serialize;

use super::error::{ApiError, PathArgs};
use super::state::ApiState;
use crate::behaviours::status::BehaviourView;
use crate::behaviours::{is_plugin, valid_name};

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Behaviour)]
pub(crate) struct View {
    /// `script` (rhai) or `plugin` (WASM).
    #[schema(value_type = Kind)]
    kind: &'static str,
    /// `ok`; `failing` (its last run failed); `suspended` (its triggers do not fire until
    /// `suspended.until`); `load_error` (the file on disk does not load, the version before it
    /// keeps running).
    #[schema(value_type = Status)]
    status: &'static str,
    #[serde(flatten)]
    view: BehaviourView,
}

/// A behaviour's kind.
#[derive(utoipa::ToSchema)]
#[schema(as = BehaviourKind, rename_all = "snake_case")]
#[allow(dead_code)]
enum Kind {
    Script,
    Plugin,
}

/// A behaviour's state.
#[derive(utoipa::ToSchema)]
#[schema(as = BehaviourStatus, rename_all = "snake_case")]
#[allow(dead_code)]
enum Status {
    Ok,
    Failing,
    LoadError,
    Suspended,
}

const BAD_NAME: &str = "Bad behaviour name.";

fn view(v: BehaviourView) -> View {
    let kind = if is_plugin(&v.path) { "plugin" } else { "script" };
    let status = if v.load_error.is_some() {
        "load_error"
    } else if v.suspended.is_some() {
        "suspended"
    } else if v.traces.last().is_some_and(|t| !t.outcome.is_ok()) {
        "failing"
    } else {
        "ok"
    };
    View { kind, status, view: v }
}

fn find(state: &ApiState, name: &str) -> Result<BehaviourView, ApiError> {
    if !valid_name(name) {
        return Err(ApiError::bad_request(format!(
            "bad behaviour name `{}`: a behaviour is named after its file (letters, digits, `_`, `-`)",
            name.escape_debug()
        )));
    }
    state.inner.behaviours.board().views().into_iter().find(|v| v.name == name).ok_or_else(|| {
        ApiError::not_found(format!(
            "no behaviour `{name}`: put scripts/{name}.rhai or plugins/{name}.wasm in place, or list them with GET /api/behaviours"
        ))
    })
}

/// Every loaded behaviour.
#[utoipa::path(get, path = "/api/behaviours", tag = "behaviours", operation_id = "listBehaviours",
    responses((status = 200, description = "The behaviours.", body = Vec<View>)))]
pub(crate) async fn list(State(state): State<ApiState>) -> Json<Vec<View>> {
    Json(state.inner.behaviours.board().views().into_iter().map(view).collect())
}

/// One behaviour.
#[utoipa::path(get, path = "/api/behaviours/{name}", tag = "behaviours", operation_id = "getBehaviour",
    params(("name" = String, Path, description = "The behaviour's name (its file's, without the extension).")),
    responses(
        (status = 200, description = "The behaviour.", body = View),
        (status = 400, description = BAD_NAME, body = super::doc::ErrorBody),
        (status = 404, description = "No such behaviour.", body = super::doc::ErrorBody),
    ))]
pub(crate) async fn get(
    State(state): State<ApiState>,
    PathArgs(name): PathArgs<String>,
) -> Result<Json<View>, ApiError> {
    Ok(Json(view(find(&state, &name)?)))
}

/// Re-reads the behaviour's file now (what the watcher does on a change) and answers the new
/// view; a file that no longer loads keeps the old version running and shows `load_error`.
/// Re-read the behaviour's file now; a file that does not load keeps the old version running
/// (status load_error).
#[utoipa::path(post, path = "/api/behaviours/{name}/reload", tag = "behaviours", operation_id = "reloadBehaviour",
    params(("name" = String, Path, description = "The behaviour's name (its file's, without the extension).")),
    responses(
        (status = 200, description = "The behaviour after.", body = View),
        (status = 400, description = BAD_NAME, body = super::doc::ErrorBody),
        (status = 404, description = "No such behaviour, or its file is gone.", body = super::doc::ErrorBody),
    ))]
pub(crate) async fn reload(
    State(state): State<ApiState>,
    PathArgs(name): PathArgs<String>,
) -> Result<Json<View>, ApiError> {
    let before = find(&state, &name)?;
    state.inner.behaviours.sync(before.path.clone()).await;
    state.inner.behaviours.board().views().into_iter().find(|v| v.name == name).map(|v| Json(view(v))).ok_or_else(
        || ApiError::not_found(format!("behaviour `{name}` was unloaded: its file {} is gone", before.path.display())),
    )
}

/// End the behaviour's suspension now: its triggers fire again and the next run is a trial (a
/// failure suspends it again with the next backoff). `behaviour.resumed` is emitted.
#[utoipa::path(post, path = "/api/behaviours/{name}/resume", tag = "behaviours", operation_id = "resumeBehaviour",
    params(("name" = String, Path, description = "The behaviour's name (its file's, without the extension).")),
    responses(
        (status = 200, description = "The behaviour after: `suspended` is null.", body = View),
        (status = 400, description = BAD_NAME, body = super::doc::ErrorBody),
        (status = 404, description = "No such behaviour.", body = super::doc::ErrorBody),
        (status = 409, description = "The behaviour is not suspended.", body = super::doc::ErrorBody),
    ))]
pub(crate) async fn resume(
    State(state): State<ApiState>,
    PathArgs(name): PathArgs<String>,
) -> Result<Json<View>, ApiError> {
    find(&state, &name)?;
    let gone = || ApiError::not_found(format!("behaviour `{name}` is not loaded (its file is gone or does not load)"));
    match state.inner.behaviours.resume(&name).await {
        Err(crate::behaviours::NotLoaded) => Err(gone()),
        Ok(None) => Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            format!(
                "behaviour `{name}` is not suspended: nothing to resume (GET /api/behaviours/{name} shows its state)"
            ),
        )),
        Ok(Some(_)) => state
            .inner
            .behaviours
            .board()
            .views()
            .into_iter()
            .find(|v| v.name == name)
            .map(|v| Json(view(v)))
            .ok_or_else(gone),
    }
}
