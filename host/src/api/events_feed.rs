//! `/events` in cluster mode: the [`Feed`] of every host's events, each with its `id`, after
//! a replay from the store of what came after the client's last id (see `events`).

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::broadcast::error::RecvError;

use super::events::{owned, revoked, revoked_close, wanted, TOKEN_RECHECK};
use super::scope::Scope;
use super::state::ApiState;
use crate::cluster::bus::PAGE;
use crate::cluster::Feed;
use crate::store::events::StoredEvent;

type Sink = SplitSink<WebSocket, Message>;

/// Why a stream ends early.
enum End {
    /// The client is gone.
    Gone,
    /// The store could not be read: closed with 1011, the client resumes from its last id.
    Store(String),
}

/// Sends `e` if this client wants it.
async fn send(
    tx: &mut Sink,
    e: &StoredEvent,
    session: Option<&str>,
    scope: &Scope,
    state: &ApiState,
) -> Result<(), End> {
    if !wanted(&e.data, session) || !owned(state, scope, &e.data).await {
        return Ok(());
    }
    let text = serde_json::to_string(e).expect("events serialize");
    tx.send(Message::Text(text.into())).await.map_err(|_| End::Gone)
}

/// Sends every stored event after `*last` (moving it on).
async fn catch_up(
    tx: &mut Sink,
    feed: &Feed,
    last: &mut i64,
    session: Option<&str>,
    scope: &Scope,
    state: &ApiState,
) -> Result<(), End> {
    loop {
        let rows = feed.after(*last).await.map_err(|e| End::Store(e.to_string()))?;
        let full = rows.len() as i64 == PAGE;
        for e in rows {
            *last = e.id;
            send(tx, &e, session, scope, state).await?;
        }
        if !full {
            return Ok(());
        }
    }
}

/// Streams `feed` to `socket`: first the stored events after `after` (none when it is -1:
/// live events only), then each live one once.
pub(super) async fn stream(
    socket: WebSocket,
    feed: Feed,
    mut rx: tokio::sync::broadcast::Receiver<StoredEvent>,
    after: i64,
    session: Option<String>,
    scope: Scope,
    state: ApiState,
) {
    let (mut tx, mut incoming) = socket.split();
    let session = session.as_deref();
    let mut last = after;
    let mut recheck = tokio::time::interval(TOKEN_RECHECK);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let stop = state.inner.shutdown.clone();
    let mut end = if after >= 0 { catch_up(&mut tx, &feed, &mut last, session, &scope, &state).await } else { Ok(()) };
    while end.is_ok() {
        end = tokio::select! {
            _ = stop.cancelled() => break,
            _ = recheck.tick(), if matches!(scope, Scope::Owner { .. }) => {
                if revoked(&state, &scope).await {
                    let _ = tx.send(revoked_close()).await;
                    return;
                }
                Ok(())
            },
            msg = incoming.next() => match msg {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => Ok(()),
            },
            r = rx.recv() => match r {
                // Live events only (no `after`): from the first one on.
                Ok(e) if last < 0 || e.id > last => {
                    last = e.id;
                    send(&mut tx, &e, session, &scope, &state).await
                }
                Ok(_) => Ok(()),
                // Fell behind the feed: the store has every event, catch up from there.
                Err(RecvError::Lagged(_)) if last >= 0 => catch_up(&mut tx, &feed, &mut last, session, &scope, &state).await,
                Err(RecvError::Lagged(_)) => Ok(()),
                Err(RecvError::Closed) => break,
            },
        };
    }
    match end {
        Err(End::Gone) => {}
        Err(End::Store(e)) => {
            tracing::warn!("/events: cannot read the stored events, closing the stream: {e}");
            let reason = "cannot read the stored events: reconnect with ?after=<last id>".into();
            let _ = tx.send(Message::Close(Some(CloseFrame { code: 1011, reason }))).await;
        }
        Ok(()) => {
            let _ = tx.send(Message::Close(None)).await;
        }
    }
}
