//! A host with in-memory sessions and its HTTP API on `127.0.0.1:0`, and a client for it.

use std::sync::Arc;

use vigil::api::ApiState;
use vigil::sessions::memory::MemorySessions;
use vigil::sessions::SessionControl;
use vigil::HostParts;

use crate::TestHost;

/// The token the API hosts of the tests use.
pub const TOKEN: &str = "test-token-7f3a";

/// Serves the API of `host` over `sessions` on a free port until `shutdown`; returns
/// `http://127.0.0.1:<port>`.
pub async fn serve(
    host: &vigil::Host,
    sessions: Arc<dyn SessionControl>,
    token: Option<&str>,
    shutdown: tokio_util::sync::CancellationToken,
) -> String {
    let max_body = host.config().api.max_body.0 as usize;
    let state = ApiState::for_host(host, sessions, token.map(str::to_string), max_body, shutdown.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(vigil::api::serve(state, listener, shutdown));
    url
}

/// A running host (memory sessions, `scripts`) with its API served on a free port.
pub struct ApiHost {
    pub test: TestHost,
    pub sessions: Arc<MemorySessions>,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    pub http: reqwest::Client,
}

impl ApiHost {
    /// `token`: what the host has in `VIGIL_API_TOKEN` (`None`: unset).
    pub async fn start(scripts: &[(&str, &str)], token: Option<&str>) -> ApiHost {
        Self::start_with(scripts, token, "").await
    }

    pub async fn start_with(scripts: &[(&str, &str)], token: Option<&str>, config_toml: &str) -> ApiHost {
        let sessions = Arc::new(MemorySessions::new());
        let parts = HostParts { sessions: sessions.clone(), watch: false, ..HostParts::default() };
        let test = TestHost::start_with(scripts, config_toml, parts).await;
        let url = serve(&test.host, sessions.clone(), token, test.shutdown.clone()).await;
        ApiHost { test, sessions, url, http: crate::http_client() }
    }

    /// Publishes a test event on the host's bus.
    pub fn publish(&self, name: &str, data: serde_json::Value) {
        self.test.host.bus().publish(vigil::events::Event {
            name: name.into(),
            source: "test".into(),
            at: chrono::Utc::now(),
            data,
            depth: 0,
        });
    }

    /// `method path` with the test token.
    pub fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}{path}", self.url)).bearer_auth(TOKEN)
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.req(reqwest::Method::GET, path)
    }

    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.req(reqwest::Method::POST, path)
    }

    /// `ws://…/events` + `query`.
    pub fn ws_url(&self, query: &str) -> String {
        format!("{}/events{query}", self.url.replacen("http://", "ws://", 1))
    }

    pub async fn stop(self) {
        self.test.stop().await;
    }
}
