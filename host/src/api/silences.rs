//! `/api/silences`: silences that hold alert emails while they last (see
//! [`crate::alerts::holds`]). The admin silences anything; an owner token silences its own
//! sessions only (`{matcher: {session}}`), sees and expires only those silences.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::error::{ApiError, JsonBody, PathArgs};
use super::scope::Scope;
use super::state::ApiState;
use crate::store::silences::{Matcher, Silence};

/// The longest a silence may last.
const MAX_DAYS: i64 = 366;
const MAX_REASON: usize = 500;
const MAX_PREFIX: usize = 200;
/// How long an ended silence stays in the list.
const RECENT_HOURS: i64 = 24;

/// A silence as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Silence)]
pub(crate) struct SilenceView {
    #[serde(flatten)]
    silence: Silence,
    /// `active` or `expired`.
    #[schema(value_type = SilenceState)]
    state: &'static str,
}

#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
enum SilenceState {
    Active,
    Expired,
}

/// The body `create` reads (by hand, to name each mistake: see [`SHAPE`]).
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SilenceInput)]
#[allow(dead_code)] // a schema only
pub(crate) struct SilenceInput {
    matcher: Matcher,
    /// A span from now (`2h`, `30m`, `1d`) or an instant (RFC 3339).
    until: String,
    /// Why (shown with the silence and in the ledger).
    reason: String,
}

fn view(s: Silence, now: DateTime<Utc>) -> SilenceView {
    let state = if s.is_active(now) { "active" } else { "expired" };
    SilenceView { silence: s, state }
}

const SHAPE: &str =
    "a silence is {\"matcher\": {\"session\": \"<id>\"} or {\"alert\": \"<alert key or prefix>\"}, \"until\": \"2h\" or \
     \"2027-01-04T18:00:00Z\", \"reason\": \"<why>\"}";

fn bad(message: String) -> ApiError {
    ApiError::bad_request(message)
}

fn forbidden(owner: &str, what: String) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, format!("this token is owner {owner}'s (scope: owner {owner}): {what}"))
}

fn matcher(v: Option<&Value>) -> Result<Matcher, ApiError> {
    let Some(v) = v else {
        return Err(bad(format!("`matcher` is missing: {SHAPE}")));
    };
    let Some(m) = v.as_object() else {
        return Err(bad(format!("`matcher` must be an object: {SHAPE}")));
    };
    if let Some(k) = m.keys().find(|k| *k != "session" && *k != "alert") {
        return Err(bad(format!(
            "unknown matcher field `{}`: use `matcher.session` (a session id) or `matcher.alert` (an alert key or \
             prefix)",
            k.escape_debug()
        )));
    }
    let text = |field: &str| -> Result<Option<String>, ApiError> {
        match m.get(field) {
            None => Ok(None),
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.trim().to_string())),
            Some(_) => Err(bad(format!("`matcher.{field}` must be a non-empty string"))),
        }
    };
    match (text("session")?, text("alert")?) {
        (Some(id), None) => {
            crate::sessions::SessionId::parse(&id).map_err(|e| bad(format!("`matcher.session`: {e}")))?;
            Ok(Matcher::Session(id))
        }
        (None, Some(prefix)) => {
            if prefix.chars().count() > MAX_PREFIX || prefix.chars().any(|c| c.is_control() || c.is_whitespace()) {
                return Err(bad(format!(
                    "bad `matcher.alert`: an alert key or prefix (`disconnected`, `inactive:main`), at most \
                     {MAX_PREFIX} characters without spaces"
                )));
            }
            Ok(Matcher::Alert(prefix))
        }
        (Some(_), Some(_)) => {
            Err(bad("`matcher` has both `session` and `alert`: give one (make two silences for both)".into()))
        }
        (None, None) => Err(bad(format!("`matcher` is empty: {SHAPE}"))),
    }
}

/// `until`: an RFC 3339 time, or a duration from `now`.
fn until(v: Option<&Value>, now: DateTime<Utc>) -> Result<DateTime<Utc>, ApiError> {
    let text = match v {
        None => return Err(bad(format!("`until` is missing: {SHAPE}"))),
        Some(Value::String(s)) => s.trim().to_string(),
        Some(_) => return Err(bad("`until` must be a string: a duration from now (`2h`) or an RFC 3339 time".into())),
    };
    let at = match DateTime::parse_from_rfc3339(&text) {
        Ok(t) => t.with_timezone(&Utc),
        Err(_) => match crate::duration::parse_duration(&text) {
            Ok(d) => chrono::Duration::from_std(d)
                .ok()
                .and_then(|d| now.checked_add_signed(d))
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
            Err(_) => {
                return Err(bad(format!(
                    "bad `until` `{}`: give a duration from now (`2h`, `30m`, `1d`) or an RFC 3339 time \
                     (`2027-01-04T18:00:00Z`)",
                    text.escape_debug()
                )))
            }
        },
    };
    if at <= now {
        return Err(bad(format!(
            "`until` {} is not in the future (it is {} now): give a later time or a duration such as `2h`",
            at.to_rfc3339(),
            now.to_rfc3339()
        )));
    }
    if at > now + chrono::Duration::days(MAX_DAYS) {
        return Err(bad(format!("`until` is more than {MAX_DAYS} days away: silence for less, and again later")));
    }
    Ok(at)
}

fn reason(v: Option<&Value>) -> Result<String, ApiError> {
    match v {
        Some(Value::String(s)) if !s.trim().is_empty() => {
            let r = s.trim();
            if r.chars().count() > MAX_REASON || r.chars().any(|c| c.is_control() && c != '\n') {
                return Err(bad(format!("bad `reason`: at most {MAX_REASON} characters, no control characters")));
            }
            Ok(r.to_string())
        }
        Some(Value::String(_)) => Err(bad("`reason` is empty: say why, e.g. \"the phone is being repaired\"".into())),
        Some(_) => Err(bad("`reason` must be a string saying why".into())),
        None => Err(bad(format!("`reason` is missing: {SHAPE}"))),
    }
}

fn created_by(scope: &Scope) -> String {
    match scope.owner() {
        None => "admin".to_string(),
        Some(o) => format!("owner {o}"),
    }
}

/// Whether `scope` may see and expire `s`: the admin any; an owner those on their sessions.
async fn reaches(state: &ApiState, scope: &Scope, s: &Silence) -> bool {
    match (&s.matcher, scope.owner()) {
        (_, None) => true,
        (Matcher::Session(id), Some(_)) => state.reaches(scope, id).await,
        (Matcher::Alert(_), Some(_)) => false,
    }
}

/// Silence a session's alerts, or alerts by key or key prefix, until a time: their emails
/// (escalations too) are held in the ledger (`silenced`) and sent when the silence ends if the
/// alert is still open. An owner token silences its own sessions only.
#[utoipa::path(post, path = "/api/silences", tag = "alerts", operation_id = "createSilence",
    request_body = SilenceInput,
    responses(
        (status = 201, description = "The silence.", body = SilenceView),
        (status = 400, description = "A bad field (the message names it and the fix): unknown session, `until` in \
            the past, empty reason, unknown matcher field, bad JSON.", body = super::doc::ErrorBody),
        (status = 413, description = "The body is over [api] max_body.", body = super::doc::ErrorBody),
        (status = 415, description = "The body is not JSON (Content-Type).", body = super::doc::ErrorBody),
    ))]
pub(crate) async fn create(
    State(state): State<ApiState>,
    Extension(scope): Extension<Scope>,
    JsonBody(body): JsonBody<Value>,
) -> Result<(StatusCode, Json<SilenceView>), ApiError> {
    let body = match &body {
        Value::Object(m) => m,
        _ => return Err(bad(format!("the body must be a JSON object: {SHAPE}"))),
    };
    if let Some(k) = body.keys().find(|k| !["matcher", "until", "reason"].contains(&k.as_str())) {
        return Err(bad(format!(
            "unknown field `{}`: a silence has `matcher`, `until` and `reason`",
            k.escape_debug()
        )));
    }
    let now = state.inner.clock.now();
    let m = matcher(body.get("matcher"))?;
    let ends = until(body.get("until"), now)?;
    let why = reason(body.get("reason"))?;
    match (&m, scope.owner()) {
        (Matcher::Session(id), None) => {
            let known = crate::sessions::SessionId::parse(id).is_ok_and(|id| state.inner.sessions.get(&id).is_ok())
                || state.owner_of(id).await?.is_some();
            if !known {
                return Err(bad(format!(
                    "`matcher.session`: no session `{id}`: list the sessions with GET /api/sessions"
                )));
            }
        }
        (Matcher::Session(id), Some(owner)) => {
            if !state.reaches(&scope, id).await {
                return Err(forbidden(
                    owner,
                    format!(
                        "session `{id}` is not theirs, so it cannot silence it; list theirs with GET /api/sessions"
                    ),
                ));
            }
        }
        (Matcher::Alert(_), Some(owner)) => {
            return Err(forbidden(
                owner,
                "an owner token silences its own sessions only ({\"matcher\": {\"session\": \"<id>\"}}); a silence by \
                 alert key needs the admin token (VIGIL_API_TOKEN)"
                    .into(),
            ))
        }
        (Matcher::Alert(_), None) => {}
    }
    let s = state.inner.store.create_silence(&m, &why, &created_by(&scope), now, ends).await?;
    tracing::info!(silence = s.id, matcher = ?s.matcher, until = %s.ends, by = %s.created_by, "silence made");
    state.inner.alerts.silences_changed();
    Ok((StatusCode::CREATED, Json(view(s, now))))
}

/// Active silences and those that ended in the last 24 h, newest first. An owner token sees
/// those on its own sessions.
#[utoipa::path(get, path = "/api/silences", tag = "alerts", operation_id = "listSilences",
    responses((status = 200, description = "Silences.", body = Vec<SilenceView>)))]
pub(crate) async fn list(
    State(state): State<ApiState>,
    Extension(scope): Extension<Scope>,
) -> Result<Json<Vec<SilenceView>>, ApiError> {
    let now = state.inner.clock.now();
    let mut out = Vec::new();
    for s in state.inner.store.silences_ending_after(now - chrono::Duration::hours(RECENT_HOURS)).await? {
        if reaches(&state, &scope, &s).await {
            out.push(view(s, now));
        }
    }
    Ok(Json(out))
}

/// End a silence now; the emails it held go out if their alerts are still open. An ended
/// silence is answered as it is.
#[utoipa::path(delete, path = "/api/silences/{id}", tag = "alerts", operation_id = "expireSilence",
    params(("id" = String, Path, description = "The silence's id, as GET /api/silences lists them.")),
    responses(
        (status = 200, description = "The silence, ended.", body = SilenceView),
        (status = 400, description = "Bad silence id.", body = super::doc::ErrorBody),
        (status = 404, description = "No such silence.", body = super::doc::ErrorBody),
    ))]
pub(crate) async fn expire(
    State(state): State<ApiState>,
    Extension(scope): Extension<Scope>,
    PathArgs(id): PathArgs<String>,
) -> Result<Json<SilenceView>, ApiError> {
    let n: i64 = id.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
        bad(format!(
            "bad silence id `{}`: a silence id is a number, as GET /api/silences lists them",
            id.escape_debug()
        ))
    })?;
    let not_found = || ApiError::not_found(format!("no silence {n}: list them with GET /api/silences"));
    let s = state.inner.store.silence(n).await?.ok_or_else(not_found)?;
    if let Some(owner) = scope.owner() {
        if !reaches(&state, &scope, &s).await {
            return Err(forbidden(owner, format!("silence {n} is not on one of their sessions")));
        }
    }
    let now = state.inner.clock.now();
    let s = state.inner.store.expire_silence(n, &created_by(&scope), now).await?.ok_or_else(not_found)?;
    tracing::info!(silence = n, by = %created_by(&scope), "silence expired");
    state.inner.alerts.silences_changed();
    Ok(Json(view(s, now)))
}
