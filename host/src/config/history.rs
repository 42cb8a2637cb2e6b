//! `[history]`: how long each session's history is kept and how finely its memory is (see
//! [`crate::history`]).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::model::HumanDuration;

/// `[history]`: the time series kept per session in the store (status changes, messages sent
/// and delivered per hour, the browser's memory), served by `GET /api/sessions/{id}/history`
/// and plotted by the dashboard.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct HistoryConfig {
    /// Record the history. Default `true`.
    pub enabled: bool,
    /// How long it is kept; older rows are pruned every hour. Default `30d`.
    pub keep: HumanDuration,
    /// The memory samples (taken every `sessions.resources_interval`) are kept as one point
    /// (mean and max) per this much time. Default `5m` (8 640 points per session in 30 days).
    pub memory_step: HumanDuration,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig {
            enabled: true,
            keep: HumanDuration(Duration::from_secs(30 * 24 * 3600)),
            memory_step: HumanDuration(Duration::from_secs(300)),
        }
    }
}
