//! API errors: `{"error": "<sentence>"}` with a status, and extractors whose rejections are
//! such errors (a malformed body says what serde said, an oversized one says the limit).

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::sessions::SessionError;

/// An error answered to a client.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(status = %self.status, "API: {}", self.message);
        }
        (self.status, axum::Json(json!({ "error": self.message }))).into_response()
    }
}

impl From<SessionError> for ApiError {
    fn from(e: SessionError) -> Self {
        let status = match &e {
            SessionError::NotFound(_) | SessionError::NoBackup(_) => StatusCode::NOT_FOUND,
            SessionError::BadInput(_) => StatusCode::BAD_REQUEST,
            SessionError::Exists(_) | SessionError::Conflict { .. } | SessionError::NotReady { .. } => {
                StatusCode::CONFLICT
            }
            SessionError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            SessionError::Limited { .. } => StatusCode::TOO_MANY_REQUESTS,
            SessionError::Failed { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let message = match &e {
            SessionError::NotFound(id) => {
                format!(
                    "no session `{id}`: list the sessions with GET /api/sessions, or create it with POST /api/sessions"
                )
            }
            _ => e.to_string(),
        };
        ApiError::new(status, message)
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, format!("{e}; check the database (database_url)"))
    }
}

/// A JSON body, rejected as an [`ApiError`]: 400 for bad JSON, 422 for a wrong shape (serde's
/// message), 413 over `[api] max_body`, 415 without `Content-Type: application/json`.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(JsonBody(v)),
            Err(r) => Err(json_rejection(r)),
        }
    }
}

fn json_rejection(r: JsonRejection) -> ApiError {
    let status = r.status();
    let message = match &r {
        JsonRejection::JsonDataError(_) => {
            format!("the request body does not have the expected fields: {}", r.body_text())
        }
        JsonRejection::JsonSyntaxError(_) => format!("the request body is not valid JSON: {}", r.body_text()),
        JsonRejection::MissingJsonContentType(_) => {
            "the request body must be JSON: send the header `Content-Type: application/json`".to_string()
        }
        _ if status == StatusCode::PAYLOAD_TOO_LARGE => {
            "the request body is too large: it is over the limit set by [api] max_body (VIGIL_API__MAX_BODY)".into()
        }
        _ => format!("cannot read the request body: {}", r.body_text()),
    };
    ApiError::new(status, message)
}

/// Query parameters, rejected as a 400 [`ApiError`] naming the parameter.
pub struct QueryArgs<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryArgs<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(QueryArgs(v)),
            Err(r @ QueryRejection::FailedToDeserializeQueryString(_)) => {
                Err(ApiError::bad_request(format!("bad query parameters: {}", r.body_text())))
            }
            Err(r) => Err(ApiError::bad_request(r.body_text())),
        }
    }
}

/// Path parameters, rejected as a 400 [`ApiError`].
pub struct PathArgs<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathArgs<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(PathArgs(v)),
            Err(r @ PathRejection::FailedToDeserializePathParams(_)) => {
                Err(ApiError::bad_request(format!("bad path: {}", r.body_text())))
            }
            Err(r) => Err(ApiError::new(r.status(), r.body_text())),
        }
    }
}
