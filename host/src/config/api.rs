//! `[api]`: the HTTP API (see [`crate::api`]).

use serde::{Deserialize, Serialize};

use super::values::ByteSize;

/// `[api]`: the HTTP API. Its bearer token comes only from the environment
/// (`VIGIL_API_TOKEN`); without one every route but `/healthz` answers 401.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Serve the API. Default `true`.
    pub enabled: bool,
    /// Address and port to listen on. Default `127.0.0.1:8080` (this machine only); on
    /// Railway set `VIGIL_API__LISTEN=0.0.0.0:8080`.
    pub listen: String,
    /// The largest request body accepted, in bytes or with a unit (`64KiB`, `1MiB`);
    /// larger ones get 413. Default `64KiB`.
    pub max_body: ByteSize,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self { enabled: true, listen: "127.0.0.1:8080".into(), max_body: ByteSize(64 * 1024) }
    }
}
