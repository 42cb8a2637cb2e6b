//! `[limits]` and `[behaviours.<name>.limits]`: what one behaviour run may consume.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::values::{HumanDuration, Share};

/// `[limits]`: what one behaviour run may consume before it is stopped and reported.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Script operations per run (rhai's operation counter). Default 5,000,000.
    pub max_operations: u64,
    /// Nested function calls. Default 64.
    pub max_call_depth: usize,
    /// Bytes in one string. Default 1,048,576 (1 MiB).
    pub max_string_size: usize,
    /// Items in one array. Default 100,000.
    pub max_array_size: usize,
    /// Entries in one object map. Default 100,000.
    pub max_map_size: usize,
    /// Wall-clock time per run, host calls included. Default `10s`. For WASM plugins this is
    /// the epoch deadline of each call (`init` included).
    pub run_budget: HumanDuration,
    /// Bytes of linear memory one WASM plugin may grow to; growing past it stops the call.
    /// Default 67,108,864 (64 MiB). Not used by rhai scripts (see the size limits above).
    pub max_memory: usize,
    /// Runs that fail in a row (a thrown error, a trap, a limit stop, a missing grant) before
    /// the behaviour is suspended: its triggers stop firing until the backoff ends, its file
    /// changes, or `POST /api/behaviours/{name}/resume`. Default 5; 0 never suspends.
    pub suspend_after: u32,
    /// How long the first suspension of a streak lasts; each further suspension before a
    /// successful run doubles it, up to `suspend_backoff_max`. Default `1m`.
    pub suspend_backoff: HumanDuration,
    /// The longest suspension. Default `1h`.
    pub suspend_backoff_max: HumanDuration,
    /// The share of one core a behaviour's runs may take (their wall time, averaged over the
    /// last minute) before it is suspended as above: `"10%"` (default) or `0.1`; `"100%"`
    /// never suspends a behaviour that runs one handler at a time. A single run longer than
    /// this share of a minute (6 s at 10 %) passes it.
    pub max_cpu_share: Share,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_operations: 5_000_000,
            max_call_depth: 64,
            max_string_size: 1 << 20,
            max_array_size: 100_000,
            max_map_size: 100_000,
            run_budget: HumanDuration(Duration::from_secs(10)),
            max_memory: 64 << 20,
            suspend_after: 5,
            suspend_backoff: HumanDuration(Duration::from_secs(60)),
            suspend_backoff_max: HumanDuration(Duration::from_secs(3600)),
            max_cpu_share: Share(1000),
        }
    }
}

/// `[behaviours.<name>.limits]`: any subset of `[limits]`.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsOverride {
    pub max_operations: Option<u64>,
    pub max_call_depth: Option<usize>,
    pub max_string_size: Option<usize>,
    pub max_array_size: Option<usize>,
    pub max_map_size: Option<usize>,
    pub run_budget: Option<HumanDuration>,
    pub max_memory: Option<usize>,
    pub suspend_after: Option<u32>,
    pub suspend_backoff: Option<HumanDuration>,
    pub suspend_backoff_max: Option<HumanDuration>,
    pub max_cpu_share: Option<Share>,
}

impl Limits {
    /// These limits with `o`'s fields laid over them.
    pub fn with(self, o: &LimitsOverride) -> Limits {
        Limits {
            max_operations: o.max_operations.unwrap_or(self.max_operations),
            max_call_depth: o.max_call_depth.unwrap_or(self.max_call_depth),
            max_string_size: o.max_string_size.unwrap_or(self.max_string_size),
            max_array_size: o.max_array_size.unwrap_or(self.max_array_size),
            max_map_size: o.max_map_size.unwrap_or(self.max_map_size),
            run_budget: o.run_budget.unwrap_or(self.run_budget),
            max_memory: o.max_memory.unwrap_or(self.max_memory),
            suspend_after: o.suspend_after.unwrap_or(self.suspend_after),
            suspend_backoff: o.suspend_backoff.unwrap_or(self.suspend_backoff),
            suspend_backoff_max: o.suspend_backoff_max.unwrap_or(self.suspend_backoff_max),
            max_cpu_share: o.max_cpu_share.unwrap_or(self.max_cpu_share),
        }
    }
}
