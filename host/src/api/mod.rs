//! The HTTP API (axum): REST over sessions, owners, behaviours and alerts; the WebSocket
//! event stream; `/healthz`, `/readyz`, `/metrics`; the OpenAPI document. A thin layer over
//! the host: every route delegates to the part that owns the thing.
//!
//! Every route but `/healthz` needs `Authorization: Bearer <token>`, the token coming only
//! from the environment (`VIGIL_API_TOKEN`); `/events` also takes `?token=` (browsers cannot
//! set headers on a WebSocket). Errors are `{"error": "<sentence>"}` with a 4xx status that
//! says whose fault it is.
//!
//! - [`server`]: [`router`] and [`serve`] (bind anything: `127.0.0.1:0` in tests, `8080` in
//!   production).
//! - [`state`]: [`ApiState`], the handles the routes use.
//! - `auth`: the bearer-token check (admin token in constant time, owner tokens by hash).
//! - [`scope`]: what an owner token reaches (their sessions only), and `/api/me`.
//! - `tokens`: `/api/owners/{email}/tokens`, owner tokens made and revoked by the admin.
//! - `error`: [`ApiError`] and the extractors that turn bad requests into it.
//! - `health`: `/healthz`, `/readyz`.
//! - `metrics`: counters fed by the event bus, and `/metrics` (Prometheus text 0.0.4).
//! - `events`: the WebSocket `/events`; `events_feed`: the same in cluster mode (every host's
//!   events, ids, resume with `?after=`).
//! - `forward`: cluster mode: control calls for a session another host runs go to that host.
//! - `cluster`: `GET /api/cluster`, the nodes, leases and placement in cluster mode.
//! - `sessions`: `/api/sessions/...`, with `qr` (PNG, SVG, text); `history`: a session's
//!   status changes, messages per hour and memory.
//! - `owners`, `behaviours`, `alerts`: their `/api/...` routes; `webhooks`: the deliveries
//!   waiting in the store.
//! - `silences`: `/api/silences`, silences that hold alert emails while they last.
//! - `doc`: the OpenAPI document served at `/openapi.json`, generated from the routes'
//!   `#[utoipa::path]` annotations and their types' `ToSchema` (see [`server::openapi_json`]).

mod alerts;
mod auth;
mod behaviours;
mod cluster;
mod doc;
mod error;
mod events;
mod events_feed;
mod forward;
mod health;
mod history;
mod metrics;
mod owners;
mod qr;
pub mod scope;
pub mod server;
mod sessions;
mod silences;
pub mod state;
mod tokens;
mod webhooks;

pub use error::ApiError;
pub use server::{router, serve, token_from_env, TOKEN_ENV};
pub use state::ApiState;
