//! `[owners."<email>"]`: session owners, written to the store at start.

use serde::{Deserialize, Serialize};

use super::values::TimeZone;

/// `[owners."<email>"]`: who is told when their sessions need attention.
#[derive(Debug, Clone, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct OwnerConfig {
    /// Full name, used in emails ("Hola Ana").
    pub name: String,
    /// IANA timezone for the times in their emails. Default: the top-level `timezone`.
    pub timezone: Option<TimeZone>,
    /// The sessions they own (session ids).
    pub sessions: Vec<crate::sessions::SessionId>,
}
