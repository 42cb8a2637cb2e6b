//! The configuration tree's root: `vigil.toml` itself. Each section is its own file beside
//! this one; defaults make `vigil run` work with no file at all.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{AlertsConfig, ApiConfig, BehaviourConfig, Limits, OwnerConfig, SessionsConfig, SmtpConfig, WebhookConfig};
// The value types, here too so that a section file may `use super::model::HumanDuration`.
pub use super::values::{HumanDuration, Secret, TimeZone};

/// The whole of `vigil.toml`.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where vigil keeps its state (browser profiles, backups, the store, status snapshots).
    /// Default `./data`. On Railway, mount a volume and point this at it (`/data`).
    pub data_dir: PathBuf,
    /// The folder of rhai behaviours, one `<name>.rhai` per behaviour. Default `./scripts`.
    pub scripts_dir: PathBuf,
    /// When `scripts_dir` is missing or empty at `vigil run`, lay out the default behaviours
    /// and email templates bundled in the binary there (saying so in the log), then run them.
    /// Files that exist are never overwritten. Default `true`; `false` keeps the folder empty.
    pub default_scripts: bool,
    /// The folder of WASM component behaviours. Default `./plugins`.
    pub plugins_dir: PathBuf,
    /// IANA timezone for cron triggers that name none (e.g. `Europe/Madrid`). Default `UTC`.
    pub timezone: TimeZone,
    /// How long to wait after a file change (a script, a plugin, the `sessions.bridge` file)
    /// before reloading it (editors write in bursts).
    /// Default `150ms`.
    pub reload_debounce: HumanDuration,
    /// On SIGINT/SIGTERM, how long running handlers may go on before they are cut. Default `10s`.
    pub shutdown_grace: HumanDuration,
    /// Seed for every random choice the host makes (jitter, `random`, `pick`). Unset in
    /// production; tests set it to make runs repeatable.
    pub seed: Option<u64>,
    /// The store: unset → SQLite at `data_dir/vigil.db`; `postgres://USER:PASSWORD@HOST/DB` →
    /// PostgreSQL (e.g. Supabase). Put a URL with a password in `VIGIL_DATABASE_URL`.
    pub database_url: Option<String>,
    /// Limits applied to every behaviour run, unless its own section overrides them.
    pub limits: Limits,
    /// The SMTP server alerts are sent through. Unset host → emails wait in the outbox.
    pub smtp: SmtpConfig,
    /// Alert emails: default recipients, templates, the login URL they point to.
    pub alerts: AlertsConfig,
    /// One section per behaviour, named after its file stem: `[behaviours.keepalive]`.
    pub behaviours: BTreeMap<String, BehaviourConfig>,
    /// Session owners by email: `[owners."ana@example.com"] name = "Ana"`. Written to the store
    /// at start (`vigil owner set` does the same from the command line).
    pub owners: BTreeMap<String, OwnerConfig>,
    /// The WhatsApp sessions: Chromium, the site, restarts, backups, timeouts.
    pub sessions: SessionsConfig,
    /// The HTTP API: REST, the WebSocket event stream, health and metrics.
    pub api: ApiConfig,
    /// Where events are POSTed as they happen, one `[[webhooks]]` per receiver.
    pub webhooks: Vec<WebhookConfig>,
    /// Several hosts on one PostgreSQL: leases, fencing, snapshots (off by default).
    pub cluster: super::ClusterConfig,
    /// Each session's history (status, messages per hour, memory): how long, how fine.
    pub history: super::HistoryConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            scripts_dir: PathBuf::from("./scripts"),
            default_scripts: true,
            plugins_dir: PathBuf::from("./plugins"),
            timezone: TimeZone(chrono_tz::UTC),
            reload_debounce: HumanDuration(Duration::from_millis(150)),
            shutdown_grace: HumanDuration(Duration::from_secs(10)),
            seed: None,
            database_url: None,
            limits: Limits::default(),
            smtp: SmtpConfig::default(),
            alerts: AlertsConfig::default(),
            behaviours: BTreeMap::new(),
            owners: BTreeMap::new(),
            sessions: SessionsConfig::default(),
            api: ApiConfig::default(),
            webhooks: Vec::new(),
            cluster: super::ClusterConfig::default(),
            history: super::HistoryConfig::default(),
        }
    }
}

impl Config {
    /// Where email templates live: `[alerts] templates_dir`, else `scripts_dir/templates`.
    pub fn templates_dir(&self) -> PathBuf {
        self.alerts.templates_dir.clone().unwrap_or_else(|| self.scripts_dir.join("templates"))
    }

    /// The section of behaviour `name`, or the defaults when the file has none.
    pub fn behaviour(&self, name: &str) -> BehaviourConfig {
        self.behaviours.get(name).cloned().unwrap_or_default()
    }
}
