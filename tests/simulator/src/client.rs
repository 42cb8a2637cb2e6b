//! A small typed client for the control API, for tests and the host's `vigil demo`.

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::site::{Site, SiteRequest};

use crate::control_types::{
    Affected, EnterCodeRequest, ErrorBody, Fault, FaultKind, FaultRequest, IncomingRequest, IncomingResponse,
    LogoutRequest, Message, ScanRequest, ScanResponse, StateRequest, Status, WaState,
};

/// Why a control call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The request could not be made (simulator not running?).
    #[error("{route}: request failed: {source}")]
    Request {
        /// The route called.
        route: &'static str,
        /// The transport error.
        source: hyper_util::client::legacy::Error,
    },
    /// The answer could not be read.
    #[error("{route}: reading the answer: {source}")]
    Body {
        /// The route called.
        route: &'static str,
        /// The transport error.
        source: hyper::Error,
    },
    /// The simulator refused the call.
    #[error("{route} answered {status}: {message}")]
    Refused {
        /// The route called.
        route: &'static str,
        /// The HTTP status.
        status: u16,
        /// The simulator's `error` text.
        message: String,
    },
    /// The answer was not the JSON expected.
    #[error("{route}: unexpected answer: {source}")]
    Json {
        /// The route called.
        route: &'static str,
        /// The parse error.
        source: serde_json::Error,
    },
}

/// A client for one simulator's control API.
#[derive(Clone, Debug)]
pub struct ControlClient {
    base: String,
    http: Client<HttpConnector, Full<Bytes>>,
}

impl ControlClient {
    /// A client for the control API at `base` (`http://127.0.0.1:PORT`).
    pub fn new(base: impl Into<String>) -> Self {
        ControlClient {
            base: base.into().trim_end_matches('/').to_owned(),
            http: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        route: &'static str,
        body: Option<Vec<u8>>,
    ) -> Result<T, ClientError> {
        let request = Request::builder()
            .method(method)
            .uri(format!("{}{route}", self.base))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .expect("a valid request");
        let response = self.http.request(request).await.map_err(|source| ClientError::Request { route, source })?;
        let status = response.status();
        let bytes =
            response.into_body().collect().await.map_err(|source| ClientError::Body { route, source })?.to_bytes();
        if !status.is_success() {
            let message = serde_json::from_slice::<ErrorBody>(&bytes)
                .map(|e| e.error)
                .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).into_owned());
            return Err(ClientError::Refused { route, status: status.as_u16(), message });
        }
        serde_json::from_slice(&bytes).map_err(|source| ClientError::Json { route, source })
    }

    async fn post<B: Serialize, T: DeserializeOwned>(&self, route: &'static str, body: &B) -> Result<T, ClientError> {
        let body = serde_json::to_vec(body).expect("request types serialize");
        self.call(Method::POST, route, Some(body)).await
    }

    /// `GET /status`.
    pub async fn status(&self) -> Result<Status, ClientError> {
        self.call(Method::GET, "/status", None).await
    }

    /// `POST /scan`: link the page showing `qr` (none = the newest QR) as `me`.
    pub async fn scan(&self, qr: Option<&str>, me: Option<&str>) -> Result<ScanResponse, ClientError> {
        let request = ScanRequest { qr: qr.map(str::to_owned), me: me.map(str::to_owned) };
        self.post("/scan", &request).await
    }

    /// `GET /messages`: what clients sent.
    pub async fn messages(&self) -> Result<Vec<Message>, ClientError> {
        self.call(Method::GET, "/messages", None).await
    }

    /// `POST /incoming`: `from` writes `body` to `to` (none = every linked account).
    pub async fn incoming(&self, from: &str, body: &str, to: Option<&str>) -> Result<IncomingResponse, ClientError> {
        let request = IncomingRequest {
            from: from.to_owned(),
            body: body.to_owned(),
            to: to.map(str::to_owned),
            ciphertext_ms: None,
        };
        self.post("/incoming", &request).await
    }

    /// `POST /incoming` with any fields (a ciphertext message that decrypts later, …).
    pub async fn incoming_with(&self, request: &IncomingRequest) -> Result<IncomingResponse, ClientError> {
        self.post("/incoming", request).await
    }

    /// `GET /site`: the site the next page load gets.
    pub async fn site(&self) -> Result<Site, ClientError> {
        self.call(Method::GET, "/site", None).await
    }

    /// `POST /site`: change the site from the next page load on.
    pub async fn set_site(&self, request: &SiteRequest) -> Result<Site, ClientError> {
        self.post("/site", request).await
    }

    /// `POST /enter-code`: the phone enters a pairing code.
    pub async fn enter_code(&self, code: &str) -> Result<ScanResponse, ClientError> {
        self.post("/enter-code", &EnterCodeRequest { code: code.to_owned() }).await
    }

    /// `POST /rotate-adv`: the ADV secret of the pages on the QR screen changes.
    pub async fn rotate_adv(&self) -> Result<Affected, ClientError> {
        self.call(Method::POST, "/rotate-adv", None).await
    }

    /// `POST /state`: force `state` on the linked pages (of `me`).
    pub async fn force_state(&self, state: WaState, me: Option<&str>) -> Result<Affected, ClientError> {
        let request = StateRequest { state, me: me.map(str::to_owned) };
        self.post("/state", &request).await
    }

    /// `POST /logout-from-phone`.
    pub async fn logout_from_phone(&self, me: Option<&str>) -> Result<Affected, ClientError> {
        let request = LogoutRequest { me: me.map(str::to_owned) };
        self.post("/logout-from-phone", &request).await
    }

    /// `POST /fault`.
    pub async fn fault(&self, kind: FaultKind, ms: Option<u64>) -> Result<Fault, ClientError> {
        self.post("/fault", &FaultRequest { kind, ms }).await
    }
}
