//! `[smtp]`: the server alert emails go through (see [`crate::alerts`]).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::values::HumanDuration;

/// `[smtp]`: the server alerts go through.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    /// Server name, e.g. `smtp.example.com`. Unset: emails are queued, not sent.
    pub host: Option<String>,
    /// Port. Default by `security`: 587 (starttls), 465 (tls), 25 (plain).
    pub port: Option<u16>,
    /// `starttls` (default), `tls`, or `plain` (local servers only: nothing is encrypted).
    pub security: SmtpSecurity,
    /// Login name, if the server wants one. The password comes only from the environment:
    /// `VIGIL_SMTP__PASSWORD`.
    pub username: Option<String>,
    /// Environment only (`VIGIL_SMTP__PASSWORD`); refused in the file.
    #[serde(skip_serializing)]
    #[schemars(skip)]
    pub password: Option<String>,
    /// Sender, e.g. `vigil <vigil@example.com>`.
    pub from: Option<String>,
    /// Per-command timeout. Default `30s`.
    pub timeout: HumanDuration,
    /// First retry after a failed send; doubles up to `retry_max`. Default `5s`.
    pub retry_min: HumanDuration,
    /// Longest wait between retries. Default `10m`.
    pub retry_max: HumanDuration,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            host: None,
            port: None,
            security: SmtpSecurity::Starttls,
            username: None,
            password: None,
            from: None,
            timeout: HumanDuration(Duration::from_secs(30)),
            retry_min: HumanDuration(Duration::from_secs(5)),
            retry_max: HumanDuration(Duration::from_secs(600)),
        }
    }
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    Starttls,
    Tls,
    Plain,
}

impl SmtpSecurity {
    pub fn default_port(self) -> u16 {
        match self {
            SmtpSecurity::Starttls => 587,
            SmtpSecurity::Tls => 465,
            SmtpSecurity::Plain => 25,
        }
    }
}
