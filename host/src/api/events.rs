//! `GET /events`: the event bus as a WebSocket, one JSON text message per event
//! (`{"name","source","at","data"}`).
//!
//! `?session=<id>` keeps the events of that session (`data.session == id`) and the events
//! that belong to no session (behaviour loads and errors, emails, bridge reloads): a
//! dashboard watching one session still sees the host around it. A client that falls more
//! than the bus's buffer behind gets `{"name":"events.lagged","data":{"missed":N}}` and goes
//! on from the newest events; it is never dropped silently.
//!
//! An owner token streams only the events of that owner's sessions, and its stream is closed
//! (code 4401) within seconds of the token being revoked.
//!
//! Cluster mode: the stream carries the events of every host (through the shared event log and
//! `LISTEN/NOTIFY`, see [`crate::cluster::bus`]), in id order, each with its `id`. A client
//! that reconnects, to this host or another, passes the last id it saw as `?after=<id>` (or
//! the `Last-Event-ID` header) and first gets every stored event after it, then the live
//! ones, none twice. A client that falls behind catches up from the store instead of losing
//! events. `after` is refused in single-host mode (its events carry no id).

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use super::error::{ApiError, QueryArgs};
use super::scope::Scope;
use super::state::ApiState;
use crate::events::Event;
use crate::sessions::SessionId;

/// How often an owner's open stream checks that their token still stands.
pub(super) const TOKEN_RECHECK: std::time::Duration = std::time::Duration::from_secs(2);

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct EventsQuery {
    /// Only this session's events, plus the events of no session (behaviours, emails).
    #[param(pattern = "^[a-z0-9][a-z0-9_-]{0,62}$")]
    session: Option<String>,
    /// Cluster mode only (refused with 400 otherwise): first replay every stored event with an
    /// id above this one (of every host), then stream the live ones, none twice. Pass the `id`
    /// of the last event seen to resume without gaps after a reconnect, to this host or another.
    #[param(minimum = 0)]
    after: Option<i64>,
    /// The token, for clients that cannot set headers (browsers); checked by the auth layer.
    #[allow(dead_code)]
    token: Option<String>,
}

/// One WebSocket text message of `/events`: an event, with its `id` in cluster mode.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[allow(dead_code)] // a schema only: the stream writes `Event`s (see `events_feed` for the id)
pub(crate) struct EventMessage {
    #[schema(inline)]
    #[serde(flatten)]
    event: Event,
    /// Cluster mode: the event's id in the shared log (pass it as `after` to resume).
    #[schema(required = false, minimum = 1)]
    id: i64,
}

/// Live events as a WebSocket: one JSON text message per event.
///
/// A client that falls behind gets `{"name":"events.lagged","data":{"missed":N}}`. In cluster
/// mode the stream carries the events of every host, in id order, each with its `id`; a client
/// that falls behind catches up from the store. The 101 answer's schema is that of each
/// message on the socket (OpenAPI has no WebSocket messages).
#[utoipa::path(get, path = "/events", tag = "events", operation_id = "events",
    params(
        EventsQuery,
        ("Last-Event-ID" = Option<i64>, Header, minimum = 0, nullable = false,
            description = "Cluster mode: the same as `after` (the query parameter wins when both are given); \
                ignored in single-host mode."),
    ),
    responses(
        (status = 101, description = "Switching to the WebSocket; each message is an Event.", body = EventMessage),
        (status = 400, description = "Not a WebSocket request, a bad session id, a bad Last-Event-ID, or `after` in \
            single-host mode.", body = super::doc::ErrorBody),
        (status = 426, description = "Not a WebSocket upgrade.", body = super::doc::ErrorBody),
    ),
)]

pub(crate) async fn events(
    State(state): State<ApiState>,
    Extension(scope): Extension<Scope>,
    QueryArgs(q): QueryArgs<EventsQuery>,
    headers: axum::http::HeaderMap,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    if let Some(id) = &q.session {
        if let Err(e) = SessionId::parse(id) {
            return ApiError::from(e).into_response();
        }
        if let Some(owner) = scope.owner() {
            if !state.reaches(&scope, id).await {
                return ApiError::new(
                    StatusCode::FORBIDDEN,
                    format!("this token is owner {owner}'s (scope: owner {owner}): session `{id}` is not theirs"),
                )
                .into_response();
            }
        }
    }
    let ws = match ws {
        Ok(ws) => ws,
        Err(r) => {
            return ApiError::new(
                r.status(),
                format!("/events is a WebSocket: connect with a WebSocket client ({})", r.body_text()),
            )
            .into_response()
        }
    };
    if let Some(feed) = state.inner.feed.get() {
        let header = headers.get("last-event-id").map(|v| v.to_str().map(|s| s.trim().parse::<i64>()));
        let after = match (q.after, header) {
            (Some(a), _) if a < 0 => {
                return ApiError::bad_request(format!(
                    "after={a}: event ids start at 1; send the `id` of the last event seen"
                ))
                .into_response()
            }
            (Some(a), _) => Some(a),
            (None, None) => None,
            (None, Some(Ok(Ok(id)))) => Some(id),
            (None, Some(_)) => {
                return ApiError::bad_request(
                    "the Last-Event-ID header is not an event id: send the `id` of the last event seen",
                )
                .into_response()
            }
        };
        // Subscribe before the upgrade completes, so nothing stored after the 101 is missed.
        let rx = feed.subscribe();
        let feed = feed.clone();
        return ws.on_upgrade(move |socket| {
            super::events_feed::stream(socket, feed, rx, after.unwrap_or(-1), q.session, scope, state)
        });
    }
    if q.after.is_some() {
        return ApiError::bad_request(
            "`after` resumes from an event id, which events carry in cluster mode only ([cluster] enabled): connect \
             without it",
        )
        .into_response();
    }
    // Subscribe before the upgrade completes, so nothing published after the 101 is missed.
    let rx = state.inner.bus.subscribe();
    ws.on_upgrade(move |socket| stream(socket, rx, q.session, scope, state))
}

pub(super) fn wanted(data: &serde_json::Value, session: Option<&str>) -> bool {
    match (session, data.get("session").and_then(|s| s.as_str())) {
        (Some(want), Some(got)) => want == got,
        _ => true,
    }
}

/// For an owner token: only events of their sessions (none of the host's own).
pub(super) async fn owned(state: &ApiState, scope: &Scope, data: &serde_json::Value) -> bool {
    if scope.owner().is_none() {
        return true;
    }
    match data.get("session").and_then(|s| s.as_str()) {
        Some(id) => state.reaches(scope, id).await,
        None => false,
    }
}

/// For an owner token: has it been revoked since the stream opened?
pub(super) async fn revoked(state: &ApiState, scope: &Scope) -> bool {
    match scope {
        Scope::Owner { token, .. } => !matches!(state.inner.store.owner_token_live(token).await, Ok(true)),
        _ => false,
    }
}

/// The close frame of a stream whose owner token was revoked.
pub(super) fn revoked_close() -> Message {
    Message::Close(Some(axum::extract::ws::CloseFrame { code: 4401, reason: "the owner token was revoked".into() }))
}

async fn stream(
    socket: WebSocket,
    mut rx: tokio::sync::broadcast::Receiver<Event>,
    session: Option<String>,
    scope: Scope,
    state: ApiState,
) {
    let (mut tx, mut incoming) = socket.split();
    let stop = state.inner.shutdown.clone();
    // An owner's stream ends soon after their token is revoked.
    let mut recheck = tokio::time::interval(TOKEN_RECHECK);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let text = tokio::select! {
            _ = stop.cancelled() => break,
            _ = recheck.tick(), if matches!(scope, Scope::Owner { .. }) => {
                if revoked(&state, &scope).await {
                    let _ = tx.send(revoked_close()).await;
                    return;
                }
                continue;
            },
            msg = incoming.next() => match msg {
                // Pings are answered by axum; anything else from the client is ignored.
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => continue,
            },
            r = rx.recv() => match r {
                Ok(e) if wanted(&e.data, session.as_deref()) && owned(&state, &scope, &e.data).await => {
                    serde_json::to_string(&e).expect("events serialize")
                }
                Ok(_) => continue,
                Err(RecvError::Lagged(n)) => json!({
                    "name": "events.lagged",
                    "source": "host",
                    "at": state.inner.clock.now(),
                    "data": { "missed": n },
                })
                .to_string(),
                Err(RecvError::Closed) => break,
            },
        };
        if tx.send(Message::Text(text.into())).await.is_err() {
            return;
        }
    }
    let _ = tx.send(Message::Close(None)).await;
}
