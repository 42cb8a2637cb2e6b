//! The OpenAPI document, generated: each route's operation comes from the `#[utoipa::path]`
//! annotation on its handler (registered with `utoipa_axum::routes!`, so a route cannot be
//! served without its operation), the bodies' schemas from `#[derive(ToSchema)]` on the types
//! the handlers take and answer. What no single handler knows is added here, from the router's
//! own structure: 401 and 403 on every route behind the token layer, and the 503 with
//! `Retry-After` on the control calls [`super::forward`] forwards in cluster mode.

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, Response, ResponseBuilder};
use utoipa::ToSchema;

/// Every error answer: `{"error": "<sentence>"}` naming the thing and the fix.
#[derive(ToSchema)]
#[schema(as = Error)]
#[allow(dead_code)] // a schema only: errors are written by `ApiError`
pub(crate) struct ErrorBody {
    error: String,
}

/// The root of the document: what is not any one route's.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "vigil",
        description = "Keeps WhatsApp Web sessions alive and watched. Every route but /healthz needs \
            `Authorization: Bearer <token>`, the token being the host's VIGIL_API_TOKEN (everything) or an \
            owner token (`vot_…`, made with POST /api/owners/{email}/tokens: that owner's sessions only, 403 \
            elsewhere). Errors are {\"error\": \"...\"}."
    ),
    components(schemas(ErrorBody)),
    tags(
        (name = "health"), (name = "events"), (name = "sessions"), (name = "owners"), (name = "tokens"),
        (name = "behaviours"), (name = "alerts"), (name = "webhooks"), (name = "silences"), (name = "cluster")
    )
)]
pub(crate) struct Root;

fn error_response(description: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new().schema(Some(RefOr::Ref(Ref::from_schema_name("Error")))).build(),
    )
}

fn common(name: &str) -> RefOr<Response> {
    RefOr::Ref(Ref::from_response_name(name))
}

/// Each operation of `doc` with its method (lower case) and path.
pub(crate) fn operations_mut(doc: &mut OpenApi) -> Vec<(&'static str, String, &mut Operation)> {
    let mut out = Vec::new();
    for (path, item) in doc.paths.paths.iter_mut() {
        let ops = [
            ("get", &mut item.get),
            ("put", &mut item.put),
            ("post", &mut item.post),
            ("delete", &mut item.delete),
            ("options", &mut item.options),
            ("head", &mut item.head),
            ("patch", &mut item.patch),
            ("trace", &mut item.trace),
        ];
        for (method, op) in ops {
            if let Some(op) = op.as_mut() {
                out.push((method, path.clone(), op));
            }
        }
    }
    out
}

/// The routes behind the token layer: each needs the bearer token (401 without it, 403 where an
/// owner token's scope does not reach), and each control call may answer 503 in cluster mode.
pub(crate) fn protect(doc: &mut OpenApi) {
    for (method, path, op) in operations_mut(doc) {
        let responses = &mut op.responses.responses;
        responses.entry("401".into()).or_insert_with(|| common("Unauthorized"));
        responses.entry("403".into()).or_insert_with(|| common("Forbidden"));
        if super::forward::is_control(method, &path) {
            responses.entry("503".into()).or_insert_with(|| common("HolderUnavailable"));
            let forwarded = "Cluster mode: when another node holds the session's lease, the call is forwarded \
                to that node with the caller's credentials and its answer returned (header `X-Vigil-Node` \
                names it).";
            op.description = Some(match op.description.take() {
                Some(d) => format!("{d}\n\n{forwarded}"),
                None => forwarded.to_string(),
            });
        }
    }
}

/// The routes outside the token layer: no security requirement.
pub(crate) fn open(doc: &mut OpenApi) {
    for (_, _, op) in operations_mut(doc) {
        op.security = Some(Vec::new());
    }
}

/// The finished document: the root, the routes' operations, the common parts.
pub(crate) fn finish(mut doc: OpenApi) -> OpenApi {
    let root = <Root as utoipa::OpenApi>::openapi();
    doc.info = root.info;
    doc.tags = root.tags;
    let components = doc.components.get_or_insert_with(Default::default);
    components.schemas.extend(root.components.into_iter().flat_map(|c| c.schemas));
    components.security_schemes.insert(
        "bearerAuth".into(),
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some("The value of VIGIL_API_TOKEN, or an owner token (`vot_…`)."))
                .build(),
        ),
    );
    components
        .responses
        .insert("Unauthorized".into(), RefOr::T(error_response("No token, or a wrong or revoked one.").build()));
    components.responses.insert(
        "Forbidden".into(),
        RefOr::T(
            error_response(
                "An owner token, on a route or a session its scope does not reach; the error names the scope.",
            )
            .build(),
        ),
    );
    components.responses.insert(
        "HolderUnavailable".into(),
        RefOr::T(
            error_response(
                "Cluster mode: the node holding the session's lease does not answer, or no node holds it now; \
                 try again after `Retry-After` seconds.",
            )
            .header(
                "Retry-After",
                HeaderBuilder::new()
                    .schema(utoipa::openapi::ObjectBuilder::new().schema_type(utoipa::openapi::Type::Integer))
                    .description(Some("Seconds to wait before trying again."))
                    .build(),
            )
            .build(),
        ),
    );
    doc.security = Some(vec![SecurityRequirement::new("bearerAuth", Vec::<String>::new())]);
    doc
}

/// The answers a `JsonBody` extractor gives a bad body (see `super::error::JsonBody`).
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // a description only: `JsonBody` answers these
pub(crate) enum JsonBodyErrors {
    #[response(status = 413, description = "The body is over [api] max_body.")]
    TooLarge(ErrorBody),
    #[response(status = 415, description = "The body is not JSON (Content-Type).")]
    NotJson(ErrorBody),
    #[response(status = 422, description = "The body lacks a field or has a wrong one.")]
    WrongFields(ErrorBody),
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    /// `value` is valid against the document's component `name`, and has exactly its properties
    /// (a field added to the type but not to its description fails here).
    fn conforms(name: &str, value: Value) {
        let mut doc: Value = serde_json::from_str(&super::super::server::openapi_json()).unwrap();
        let schema = doc["components"]["schemas"][name].clone();
        let described: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
        let mut have: Vec<&String> = value.as_object().unwrap().keys().collect();
        let mut described = described.clone();
        described.sort();
        have.sort();
        assert_eq!(have, described, "{name}: the type's fields and its schema's properties");
        doc["$ref"] = json!(format!("#/components/schemas/{name}"));
        let validator = jsonschema::validator_for(&doc).unwrap();
        let errors: Vec<String> = validator.iter_errors(&value).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{name}: {value} does not conform: {errors:?}");
    }

    /// The types of `crate::sessions` the API answers (their schemas derived on them) describe
    /// what they serialize to.
    #[test]
    fn the_sessions_types_match_their_descriptions() {
        let at = chrono::DateTime::parse_from_rfc3339("2027-01-04T18:00:00Z").unwrap().to_utc();
        let info = crate::sessions::SessionInfo {
            id: crate::sessions::SessionId::parse("main").unwrap(),
            label: None,
            phone: Some("34600000000".into()),
            status: crate::sessions::SessionStatus::LoggedOut,
            wa_state: None,
            last_seen: Some(at),
            owner: None,
            error: None,
            running: true,
            restarts: 2,
            site_version: None,
            healthy_site_version: Some("2.3000.1".into()),
        };
        conforms("SessionInfo", serde_json::to_value(&info).unwrap());
        let backup = crate::sessions::BackupInfo {
            path: "/data/sessions/main/backups/x.tar.zst".into(),
            name: "x.tar.zst".into(),
            bytes: 10,
            files: None,
        };
        conforms("Backup", serde_json::to_value(&backup).unwrap());
        let resources = crate::sessions::Resources {
            memory_bytes: 1,
            cpu_seconds: 0.5,
            processes: 3,
            sampled_at: at,
            sends_in_flight: 0,
            memory_history: vec![1, 2],
        };
        conforms("Resources", serde_json::to_value(&resources).unwrap());
    }
}
