//! The router (every route, the auth layer, the body limit) and the server loop.

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::{Extension, Router};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::state::ApiState;
use super::{
    alerts, auth, behaviours, cluster, doc, events, forward, health, history, metrics, owners, scope, sessions,
    silences, tokens, webhooks,
};

/// The environment variable the bearer token comes from (never a file, never a default).
pub const TOKEN_ENV: &str = "VIGIL_API_TOKEN";

/// The token from the environment (`None` when unset or empty).
pub fn token_from_env() -> Option<String> {
    std::env::var(TOKEN_ENV).ok().map(|t| t.trim().to_string()).filter(|t| !t.is_empty())
}

/// Every route behind the token layer, each with its operation (`routes!` takes a handler's
/// path and method from its `#[utoipa::path]`: a route cannot be served undocumented).
fn protected_routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(health::readyz))
        .routes(routes!(metrics::metrics))
        .routes(routes!(openapi))
        .routes(routes!(events::events))
        .routes(routes!(sessions::list, sessions::create))
        .routes(routes!(sessions::get, sessions::delete))
        .routes(routes!(sessions::qr))
        .routes(routes!(sessions::pairing_code))
        .routes(routes!(sessions::logout))
        .routes(routes!(sessions::restart))
        .routes(routes!(sessions::backup))
        .routes(routes!(sessions::backups))
        .routes(routes!(sessions::restore))
        .routes(routes!(sessions::send))
        .routes(routes!(history::history))
        .routes(routes!(owners::list))
        .routes(routes!(owners::put, owners::delete))
        .routes(routes!(tokens::list, tokens::create, tokens::revoke_all))
        .routes(routes!(tokens::revoke))
        .routes(routes!(tokens::rotate))
        .routes(routes!(scope::me))
        .routes(routes!(behaviours::list))
        .routes(routes!(behaviours::get))
        .routes(routes!(behaviours::reload))
        .routes(routes!(behaviours::resume))
        .routes(routes!(alerts::ledger))
        .routes(routes!(alerts::outbox))
        .routes(routes!(webhooks::deliveries))
        .routes(routes!(silences::list, silences::create))
        .routes(routes!(silences::expire))
        .routes(routes!(cluster::status))
}

/// The routes without the token.
fn open_routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new().routes(routes!(health::healthz))
}

/// The routes (protected, open) and the OpenAPI document describing both.
fn parts() -> (Router<ApiState>, Router<ApiState>, utoipa::openapi::OpenApi) {
    let (protected, mut doc) = protected_routes().split_for_parts();
    doc::protect(&mut doc);
    let (open, mut open_doc) = open_routes().split_for_parts();
    doc::open(&mut open_doc);
    doc.merge(open_doc);
    (protected, open, doc::finish(doc))
}

/// The OpenAPI document served at `GET /openapi.json`, generated from the routes.
pub fn openapi_json() -> String {
    parts().2.to_pretty_json().expect("the OpenAPI document serializes")
}

/// Every route, with the token check on all but `/healthz`.
pub fn router(state: ApiState) -> Router {
    let (protected, open, doc) = parts();
    let doc = Document(doc.to_pretty_json().expect("the OpenAPI document serializes").into());
    let protected = protected
        // Layers run outside in: the token first, then what its scope reaches, then (cluster
        // mode) control calls for sessions another host runs go there.
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), forward::to_holder))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), scope::enforce))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), auth::require_token));
    let max_body = state.inner.max_body;
    Router::new()
        .merge(open)
        .merge(protected)
        // The dashboard's static files: no data in them, so no token (see `crate::dashboard`).
        .merge(crate::dashboard::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(Extension(doc))
        .with_state(state)
}

/// The document, serialized once per router.
#[derive(Clone)]
struct Document(Arc<str>);

/// This document: every route, generated from the handlers and their types.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "health",
    operation_id = "openapi",
    responses((status = 200, description = "The OpenAPI document.", body = Object, content_type = "application/json"))
)]
async fn openapi(Extension(doc): Extension<Document>) -> impl axum::response::IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], doc.0.to_string())
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("no route {}: see GET /openapi.json for the routes", uri.path()))
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed on {}: see GET /openapi.json for the routes", uri.path()),
    )
}

/// Serves the API on `listener` until `shutdown`; in-flight requests finish first.
pub async fn serve(state: ApiState, listener: TcpListener, shutdown: CancellationToken) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    if state.inner.token.is_none() {
        tracing::warn!(%addr, "HTTP API listening, but locked: set {TOKEN_ENV} to use it (only /healthz answers)");
    } else {
        tracing::info!(%addr, "HTTP API listening");
    }
    axum::serve(listener, router(state)).with_graceful_shutdown(async move { shutdown.cancelled_owned().await }).await
}

#[cfg(test)]
mod tests {
    /// The API's routes go in through `routes!` only, each with its operation: a `.route(...)`
    /// (or `.nest(...)`) here would serve what the OpenAPI document does not describe.
    /// (`every_route_served_is_in_the_document` in tests/api.rs checks the served methods.)
    #[test]
    fn routes_are_added_only_with_their_operations() {
        let source = include_str!("server.rs");
        let code = &source[..source.find("#[cfg(test)]").expect("this module")];
        for call in [".route(", ".route_service(", ".nest(", ".nest_service("] {
            assert!(
                !code.contains(call),
                "server.rs calls `{call}`: add the route with `routes!(handler)` and a #[utoipa::path] on the handler"
            );
        }
        let mut doc = super::parts().2;
        let ids: Vec<_> =
            super::doc::operations_mut(&mut doc).into_iter().filter_map(|(_, _, op)| op.operation_id.clone()).collect();
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(ids.len(), unique.len(), "operation ids are unique: {ids:?}");
    }

    /// Every `$ref` of the document names a component it has.
    #[test]
    fn every_reference_resolves() {
        fn refs<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a str>) {
            match v {
                serde_json::Value::Object(m) => {
                    if let Some(serde_json::Value::String(r)) = m.get("$ref") {
                        out.push(r);
                    }
                    m.values().for_each(|v| refs(v, out));
                }
                serde_json::Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
                _ => {}
            }
        }
        let doc: serde_json::Value = serde_json::from_str(&super::openapi_json()).unwrap();
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(found.len() > 50, "the document uses components: {}", found.len());
        for r in found {
            let pointer = r.strip_prefix('#').unwrap_or_else(|| panic!("{r} is not local"));
            assert!(doc.pointer(pointer).is_some(), "{r} names no component");
        }
    }
}
