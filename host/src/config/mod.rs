//! `vigil.toml`: the one configuration tree, its defaults, and how it is loaded.
//!
//! - [`model`]: the serde tree. Every field's `///` doc is the user reference (the README's
//!   config section and `vigil.example.toml` mirror it).
//! - [`load`]: reads the file (optional), applies `VIGIL_...` environment overrides, and turns
//!   every problem into a [`ConfigError`] that names the file, line, column and key.

mod cluster;
mod history;
pub(crate) mod load;
mod model;

pub use cluster::ClusterConfig;
pub use history::HistoryConfig;

pub use load::{load, ConfigError, ConfigSource, DEFAULTS};
pub use model::{
    AlertsConfig, ApiConfig, BehaviourConfig, ByteSize, Capability, Config, HumanDuration, Limits, LimitsOverride,
    OwnerConfig, Secret, SessionsConfig, Share, SiteKind, SmtpConfig, SmtpSecurity, TimeZone, WebhookConfig,
};
