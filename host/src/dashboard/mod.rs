//! The dashboard: four static files (the page, its style, its script, the history plots)
//! compiled into the binary (no build step), served without
//! the token because they hold no data — every piece of data comes from the API, which asks
//! for it. The page takes the token from `#token=…` once (the demo prints such a link) or from
//! a form, and keeps it in the browser's localStorage.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

const INDEX: &str = include_str!("index.html");
const APP: &str = include_str!("app.js");
const HISTORY: &str = include_str!("history.js");
const STYLE: &str = include_str!("style.css");

/// The page's security policy: its own scripts only, QR images from blob URLs, the API and
/// the events WebSocket on the same host.
const CSP: &str = "default-src 'self'; img-src 'self' blob: data:; connect-src 'self' ws: wss:; \
                   style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'";

fn file(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        body,
    )
        .into_response()
}

/// `/` and `/dashboard/*`, mergeable into the API's router whatever its state.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|| async { file("text/html; charset=utf-8", INDEX) }))
        .route("/dashboard/app.js", get(|| async { file("text/javascript; charset=utf-8", APP) }))
        .route("/dashboard/history.js", get(|| async { file("text/javascript; charset=utf-8", HISTORY) }))
        .route("/dashboard/style.css", get(|| async { file("text/css; charset=utf-8", STYLE) }))
}
