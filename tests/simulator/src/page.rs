//! The HTTPS side, as `https://web.whatsapp.com/`: the page itself (`/`, `/app.js`) and its
//! same-origin API under `/api/` — hello, the event stream (SSE), state reports, sends, logout
//! and the fault holds.
//!
//! The page's script is `assets/models.js` (Backbone-like models and collections) followed by
//! `assets/app.js` (the modules of `window.require` and the page's life), wrapped in one function.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::{Stream, StreamExt};
use serde::Deserialize;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;

use crate::control_types::{ErrorBody, FaultKind};
use crate::hub::{Hello, Hub, HubError};

const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_JS: &str = concat!(
    "(function () {\n'use strict';\n",
    include_str!("assets/models.js"),
    "\n",
    include_str!("assets/app.js"),
    "\n})();\n"
);

#[derive(Clone)]
struct PageState {
    hub: Arc<Hub>,
    shutdown: CancellationToken,
}

/// The router of `web.whatsapp.com`. The page script is built at each load from the site in
/// force then (its version, missing and late modules, …).
pub(crate) fn router(hub: Arc<Hub>, shutdown: CancellationToken) -> Router {
    let state = PageState { hub, shutdown };
    Router::new()
        .route("/", get(index))
        .route("/app.js", get(app_js))
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route("/api/hello", post(hello))
        .route("/api/events", get(events))
        .route("/api/state", post(report_state))
        .route("/api/alive", post(alive))
        .route("/api/required", post(required))
        .route("/api/send", post(send))
        .route("/api/pairing-code", post(pairing_code))
        .route("/api/keys", post(keys))
        .route("/api/logout", post(logout))
        .route("/api/qr/refresh", post(refresh_qr))
        .route("/api/fault/hold", get(hold))
        .with_state(state)
}

fn no_store(content_type: &'static str, body: impl IntoResponse) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-store")], body).into_response()
}

async fn index() -> Response {
    no_store("text/html; charset=utf-8", Html(INDEX_HTML))
}

async fn app_js(State(s): State<PageState>) -> Response {
    let site = s.hub.site();
    let version = serde_json::to_string(&site.version).unwrap_or_else(|_| "\"0\"".into());
    let js = APP_JS.replace("\"__WA_SIM_VERSION__\"", &version).replace("__WA_SIM_SITE__", &site.page_json());
    no_store("application/javascript; charset=utf-8", js)
}

struct PageError(HubError);

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = match self.0 {
            HubError::BadRequest(_) => StatusCode::BAD_REQUEST,
            HubError::NotFound(_) => StatusCode::NOT_FOUND,
            HubError::Conflict(_) => StatusCode::CONFLICT,
        };
        (status, Json(ErrorBody { error: self.0.to_string() })).into_response()
    }
}

async fn hello(State(s): State<PageState>, Json(hello): Json<Hello>) -> Response {
    Json(s.hub.hello(hello)).into_response()
}

#[derive(Deserialize)]
struct PageQuery {
    page: String,
}

/// Removes the page from the hub when its event stream ends (the tab closed or navigated).
struct StreamGuard {
    hub: Arc<Hub>,
    page: String,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.hub.page_gone(&self.page);
    }
}

async fn events(
    State(s): State<PageState>,
    Query(q): Query<PageQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, StatusCode> {
    let rx = s.hub.take_events(&q.page).ok_or(StatusCode::NOT_FOUND)?;
    let guard = StreamGuard { hub: Arc::clone(&s.hub), page: q.page };
    let stream = ReceiverStream::new(rx)
        .map(move |push| {
            let _alive = &guard;
            let data = serde_json::to_string(&push).unwrap_or_else(|_| "{}".into());
            Ok(Event::default().data(data))
        })
        .take_until(s.shutdown.cancelled_owned());
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(10))))
}

/// The page's beat: 204, or 404 when the server dropped the page (it boots again).
async fn alive(State(s): State<PageState>, Json(q): Json<PageQuery>) -> StatusCode {
    if s.hub.alive(&q.page) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}

#[derive(Deserialize)]
struct StateReport {
    page: String,
    state: String,
    has_synced: bool,
}

async fn report_state(State(s): State<PageState>, Json(r): Json<StateReport>) -> StatusCode {
    s.hub.report_state(&r.page, &r.state, r.has_synced);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct Required {
    names: Vec<String>,
    #[serde(default)]
    unknown: Vec<String>,
}

async fn required(State(s): State<PageState>, Json(r): Json<Required>) -> StatusCode {
    s.hub.report_modules(r.names, r.unknown);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct Send {
    page: String,
    id: String,
    to: String,
    body: String,
    #[serde(default)]
    link_preview: Option<String>,
}

async fn send(State(s): State<PageState>, Json(m): Json<Send>) -> Response {
    match s.hub.send(&m.page, m.id, m.to, m.body, m.link_preview) {
        Ok(t) => Json(serde_json::json!({ "t": t })).into_response(),
        Err(e) => PageError(e).into_response(),
    }
}

async fn logout(State(s): State<PageState>, Json(q): Json<PageQuery>) -> StatusCode {
    s.hub.logout(&q.page);
    StatusCode::NO_CONTENT
}

async fn refresh_qr(State(s): State<PageState>, Json(q): Json<PageQuery>) -> Response {
    match s.hub.refresh_qr(&q.page) {
        Ok(reference) => Json(serde_json::json!({ "ref": reference })).into_response(),
        Err(e) => PageError(e).into_response(),
    }
}

#[derive(Deserialize)]
struct PairingCodeAsk {
    page: String,
    phone: String,
}

async fn pairing_code(State(s): State<PageState>, Json(q): Json<PairingCodeAsk>) -> Response {
    match s.hub.pairing_code(&q.page, &q.phone) {
        Ok(code) => Json(serde_json::json!({ "code": code })).into_response(),
        Err(e) => PageError(e).into_response(),
    }
}

#[derive(Deserialize)]
struct Keys {
    page: String,
    adv: String,
}

async fn keys(State(s): State<PageState>, Json(k): Json<Keys>) -> StatusCode {
    s.hub.set_adv(&k.page, k.adv);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct HoldQuery {
    kind: FaultKind,
    ms: u64,
}

/// The page blocks its main thread on this (a synchronous XHR) while it hangs or is slow.
async fn hold(State(s): State<PageState>, Query(q): Query<HoldQuery>) -> Response {
    Json(s.hub.hold(q.kind, q.ms).await).into_response()
}
