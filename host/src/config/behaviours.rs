//! `[behaviours.<name>]`: one section per behaviour (see [`crate::behaviours`]).

use serde::{Deserialize, Serialize};

use super::limits::LimitsOverride;
use crate::behaviours::Capability;

/// `[behaviours.<name>]`: a behaviour's switch, grants, parameters and limits.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct BehaviourConfig {
    /// `false` keeps the file on disk but does not load it. Default `true`.
    pub enabled: bool,
    /// Capabilities this behaviour may use, e.g. `["sessions.read", "sessions.send"]`.
    /// A host call without its capability fails with an error naming both.
    pub grants: Vec<Capability>,
    /// Free-form parameters the behaviour reads with `config("key")`, e.g. `to = "+34 600 000 000"`.
    #[schemars(with = "serde_json::Map<String, serde_json::Value>")]
    pub params: toml::Table,
    /// Overrides of the global `[limits]` for this behaviour only.
    pub limits: LimitsOverride,
}

impl Default for BehaviourConfig {
    fn default() -> Self {
        Self { enabled: true, grants: Vec::new(), params: toml::Table::new(), limits: LimitsOverride::default() }
    }
}
