//! `vigil.toml`: the one configuration tree, its defaults, and how it is loaded.
//!
//! - [`model`]: the root, [`Config`]. Every field's `///` doc is the user reference (the
//!   README's config section and `vigil.example.toml` mirror it).
//! - one file per section: `api`, `alerts`, `behaviours`, `cluster`, `limits`, `owners`,
//!   `sessions`, `smtp`, `webhooks`.
//! - `values`: the value types the file is written in (durations, sizes, shares, timezones,
//!   secrets).
//! - [`schema`]: the JSON Schema of the file, generated from these types (`vigil schema`).
//! - [`load`]: reads the file (optional), applies `VIGIL_...` environment overrides, and turns
//!   every problem into a [`ConfigError`] that names the file, line, column and key.

mod alerts;
mod api;
mod behaviours;
mod cluster;
mod escalation;
mod history;
mod limits;
pub(crate) mod load;
mod model;
mod owners;
pub mod schema;
mod sessions;
mod smtp;
mod values;
mod webhooks;

pub use alerts::AlertsConfig;
pub use api::ApiConfig;
pub use behaviours::BehaviourConfig;
pub use cluster::ClusterConfig;
pub use escalation::{EscalateAfter, EscalationConfig};
pub use history::HistoryConfig;
pub use limits::{Limits, LimitsOverride};
pub use owners::OwnerConfig;
pub use sessions::{SessionsConfig, SiteKind};
pub use smtp::{SmtpConfig, SmtpSecurity};
pub use values::{ByteSize, HumanDuration, Secret, Share, TimeZone};
pub use webhooks::WebhookConfig;

/// Re-exported from where it now lives, [`crate::behaviours::Capability`].
pub use crate::behaviours::Capability;
pub use load::{load, ConfigError, ConfigSource, DEFAULTS};
pub use model::Config;
