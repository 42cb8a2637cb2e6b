//! `[[webhooks]]`: receivers of events (see [`crate::webhooks`]).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::values::{HumanDuration, Secret};

/// `[[webhooks]]`: a receiver of events. Each matching event is POSTed as JSON
/// `{"name", "source", "at", "data"}` with the headers `X-Vigil-Event`, `X-Vigil-Delivery` (the
/// same on every retry of one event) and, with a secret, `X-Vigil-Signature: sha256=<hex
/// HMAC-SHA256 of the body>`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookConfig {
    /// The receiver, `https://...` (or `http://...` on a private network). Required.
    pub url: String,
    /// Event-name prefixes to send, e.g. `["session.", "monitor.disconnected"]`. Default: every
    /// event.
    pub events: Vec<String>,
    /// The NAME of the environment variable that holds the signing secret, e.g.
    /// `"VIGIL_WEBHOOK_SECRET"`; the secret itself never goes in the file. Unset: requests are
    /// not signed.
    pub secret_env: Option<String>,
    /// The secret, read from `secret_env` when the configuration is loaded.
    #[serde(skip)]
    pub secret: Option<Secret>,
    /// First retry after a failed delivery (connection error, 5xx, 429); doubles up to
    /// `retry_max`. Default `1s`.
    pub retry_min: HumanDuration,
    /// Longest wait between retries. Default `5m`.
    pub retry_max: HumanDuration,
    /// Attempts per event, the first included, before it is given up with a warning. Default 8.
    pub attempts: u32,
    /// How long one attempt may take. Default `10s`.
    pub timeout: HumanDuration,
    /// Events waiting for this receiver at most; past it the oldest is dropped with a warning.
    /// Default 1000.
    pub queue: usize,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            events: Vec::new(),
            secret_env: None,
            secret: None,
            retry_min: HumanDuration(Duration::from_secs(1)),
            retry_max: HumanDuration(Duration::from_secs(300)),
            attempts: 8,
            timeout: HumanDuration(Duration::from_secs(10)),
            queue: 1000,
        }
    }
}
