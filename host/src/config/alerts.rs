//! `[alerts]`: default recipients, templates, the login URL (see [`crate::alerts`]).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `[alerts]`: who is told, and with what.
#[derive(Debug, Clone, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// Recipients of alerts about sessions without an owner, and of host alerts.
    pub to: Vec<String>,
    /// The link in disconnection emails where the owner links the session again.
    pub login_url: Option<String>,
    /// Email templates. Default `scripts_dir/templates`.
    pub templates_dir: Option<PathBuf>,
    /// Alerts still open a while after their first email, sent again to a second list.
    pub escalation: super::EscalationConfig,
}
