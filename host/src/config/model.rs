//! The configuration tree. Defaults make `vigil run` work with no file at all.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::duration::{format_duration, parse_duration};

/// The whole of `vigil.toml`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where vigil keeps its state (browser profiles, backups, the store, status snapshots).
    /// Default `./data`. On Railway, mount a volume and point this at it (`/data`).
    pub data_dir: PathBuf,
    /// The folder of rhai behaviours, one `<name>.rhai` per behaviour. Default `./scripts`.
    pub scripts_dir: PathBuf,
    /// The folder of WASM component behaviours. Default `./plugins`.
    pub plugins_dir: PathBuf,
    /// IANA timezone for cron triggers that name none (e.g. `Europe/Madrid`). Default `UTC`.
    pub timezone: TimeZone,
    /// How long to wait after a file change before reloading (editors write in bursts).
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

/// `[api]`: the HTTP API. Its bearer token comes only from the environment
/// (`VIGIL_API_TOKEN`); without one every route but `/healthz` answers 401.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
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

/// A size in bytes, written as a number or with a unit: `65536`, `64KiB`, `1MiB`, `1MB`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl FromStr for ByteSize {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: u64 =
            num.parse().map_err(|_| format!("bad size `{s}`: write bytes or a number with a unit, e.g. `64KiB`"))?;
        let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "kib" => 1 << 10,
            "mib" => 1 << 20,
            "gib" => 1 << 30,
            "kb" => 1_000,
            "mb" => 1_000_000,
            "gb" => 1_000_000_000,
            u => return Err(format!("bad size `{s}`: unknown unit `{u}` (use B, KiB, MiB, GiB, KB, MB or GB)")),
        };
        n.checked_mul(mult).map(ByteSize).ok_or_else(|| format!("bad size `{s}`: too large"))
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(ByteSize(n)),
            Raw::S(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// `[[webhooks]]`: a receiver of events. Each matching event is POSTed as JSON
/// `{"name", "source", "at", "data"}` with the headers `X-Vigil-Event`, `X-Vigil-Delivery` (the
/// same on every retry of one event) and, with a secret, `X-Vigil-Signature: sha256=<hex
/// HMAC-SHA256 of the body>`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookConfig {
    /// The receiver, `https://...` (or `http://...` on a private network). Required.
    pub url: String,
    /// Event-name prefixes to send, e.g. `["session.", "monitor.disconnected"]`. Default: every
    /// event.
    pub events: Vec<String>,
    /// The NAME of the environment variable that holds the signing secret, e.g.
    /// `"VIGIL_WEBHOOK_SECRET"`; the secret itself never goes in the file. Unset: requests are
    /// not signed.
    pub secret_env: Option<String>,
    /// The secret, read from `secret_env` when the configuration is loaded.
    #[serde(skip)]
    pub secret: Option<Secret>,
    /// First retry after a failed delivery (connection error, 5xx, 429); doubles up to
    /// `retry_max`. Default `1s`.
    pub retry_min: HumanDuration,
    /// Longest wait between retries. Default `5m`.
    pub retry_max: HumanDuration,
    /// Attempts per event, the first included, before it is given up with a warning. Default 8.
    pub attempts: u32,
    /// How long one attempt may take. Default `10s`.
    pub timeout: HumanDuration,
    /// Events waiting for this receiver at most; past it the oldest is dropped with a warning.
    /// Default 1000.
    pub queue: usize,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            events: Vec::new(),
            secret_env: None,
            secret: None,
            retry_min: HumanDuration(Duration::from_secs(1)),
            retry_max: HumanDuration(Duration::from_secs(300)),
            attempts: 8,
            timeout: HumanDuration(Duration::from_secs(10)),
            queue: 1000,
        }
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

/// A secret from the environment; never printed.
#[derive(Clone, PartialEq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// `[owners."<email>"]`: who is told when their sessions need attention.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OwnerConfig {
    /// Full name, used in emails ("Hola Ana").
    pub name: String,
    /// IANA timezone for the times in their emails. Default: the top-level `timezone`.
    pub timezone: Option<TimeZone>,
    /// The sessions they own (session ids).
    pub sessions: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            scripts_dir: PathBuf::from("./scripts"),
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

/// `[sessions]`: how sessions run. One Chromium per session, on `data_dir/sessions/<id>/profile`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SessionsConfig {
    /// The Chromium (or Chrome) executable: a path, or a name looked up in `PATH`; `auto`
    /// (the default) = `chromium-headless-shell` when it is installed (Debian's old headless
    /// mode: about half the memory per session), else `chromium`. `vigil doctor` says which.
    pub chromium: PathBuf,
    /// Run Chromium headless (no window). Default `true`; servers have no display.
    pub headless: bool,
    /// Run Chromium without its sandbox (`--no-sandbox`), which it needs when run as root, as
    /// in most containers. Default `true`.
    pub no_sandbox: bool,
    /// More Chromium switches, added after vigil's own, e.g. `["--lang=es"]`. The leading `--`
    /// is optional.
    pub extra_switches: Vec<String>,
    /// Which WhatsApp Web to open: `real` (https://web.whatsapp.com/) or `simulator` (the
    /// local simulator of the tests and the demo, which maps the host name to
    /// `127.0.0.1:<simulator_port>` and accepts its self-signed certificate). Default `real`.
    pub site: SiteKind,
    /// The simulator's HTTPS port, needed when `site = "simulator"` (usually set at run time:
    /// `VIGIL_SESSIONS__SIMULATOR_PORT`).
    pub simulator_port: Option<u16>,
    /// Where the page's script bridge comes from: unset = the one built into vigil; a path =
    /// that file, re-read and re-injected into running pages when it changes.
    pub bridge: Option<PathBuf>,
    /// How many sessions start at the same time when the host starts. Default 4.
    pub start_concurrency: usize,
    /// Restart budget: at most this many restarts after crashes within `restart_window`; one
    /// more crash sets the session to `error` and raises `session.error`. Default 5.
    pub restart_budget: u32,
    /// The window of the restart budget. Default `10m`.
    pub restart_window: HumanDuration,
    /// Delay before the first restart after a crash; it doubles with each crash that comes
    /// before the session was ready again. Default `1s`.
    pub restart_backoff: HumanDuration,
    /// The longest delay between restarts. Default `1m`.
    pub restart_backoff_max: HumanDuration,
    /// How many backups to keep per session (`data_dir/sessions/<id>/backups`). Default 7.
    pub backups_keep: usize,
    /// How long Chromium may take to start and load the page. Default `30s`.
    pub launch_timeout: HumanDuration,
    /// How long `send_text` waits for the server's ack. Default `30s`.
    pub send_timeout: HumanDuration,
    /// How often the host pings each page to learn that it stopped answering. Default `30s`.
    pub ping_interval: HumanDuration,
    /// A page that does not answer a ping within this is `disconnected` (`session.disconnected`
    /// with reason `unresponsive`) until it answers again. Default `10s`.
    pub ping_timeout: HumanDuration,
    /// On stop or shutdown, how long each browser may take to close cleanly (its profile is
    /// flushed) before it is killed. Default `10s`.
    pub stop_timeout: HumanDuration,
    /// Present the page as a desktop browser, as independent clients do: a desktop user agent
    /// (not `HeadlessChrome`) and `--disable-blink-features=AutomationControlled` (so
    /// `navigator.webdriver` is false). Default `true`.
    pub desktop: bool,
    /// The user agent when `desktop` is on. Default: a desktop Chrome on Linux
    /// (`Mozilla/5.0 (X11; Linux x86_64) … Chrome/… Safari/537.36`).
    pub user_agent: Option<String>,
    /// How often a pairing code (link with phone number) is renewed while the page is not
    /// linked yet; the site's own codes last about 3 minutes. Default `3m`.
    pub pairing_code_renew: HumanDuration,
    /// How often each session's browser (its whole process tree) is measured: memory (PSS)
    /// and CPU time, shown in `/metrics`, the API, the dashboard and `resources(id)`.
    /// Default `30s`.
    pub resources_interval: HumanDuration,
    /// The most messages one session sends, as `"<count>/<sec|min|hour|day>"`, e.g.
    /// `"20/min"`, whoever sends them (API, behaviours, keepalive). A send over it waits for
    /// its turn up to `send_timeout`, then fails naming this limit. `""` = no limit.
    /// Default `"20/min"`.
    pub send_rate: String,
    /// How many sends may go at once before `send_rate` spaces them out (the bucket's size).
    /// Default: the count of `send_rate`.
    pub send_burst: Option<u32>,
    /// The most messages per day (a sliding 24 h) one session sends to numbers it never wrote
    /// to before; over it a send fails naming this limit. 0 = no limit. Default 50.
    pub new_contacts_per_day: u32,
}

impl Default for SessionsConfig {
    fn default() -> Self {
        Self {
            chromium: PathBuf::from("auto"),
            headless: true,
            no_sandbox: true,
            extra_switches: Vec::new(),
            site: SiteKind::Real,
            simulator_port: None,
            bridge: None,
            start_concurrency: 4,
            restart_budget: 5,
            restart_window: HumanDuration(Duration::from_secs(600)),
            restart_backoff: HumanDuration(Duration::from_secs(1)),
            restart_backoff_max: HumanDuration(Duration::from_secs(60)),
            backups_keep: 7,
            launch_timeout: HumanDuration(Duration::from_secs(30)),
            send_timeout: HumanDuration(Duration::from_secs(30)),
            ping_interval: HumanDuration(Duration::from_secs(30)),
            ping_timeout: HumanDuration(Duration::from_secs(10)),
            stop_timeout: HumanDuration(Duration::from_secs(10)),
            desktop: true,
            user_agent: None,
            pairing_code_renew: HumanDuration(Duration::from_secs(180)),
            resources_interval: HumanDuration(Duration::from_secs(30)),
            send_rate: "20/min".into(),
            send_burst: None,
            new_contacts_per_day: 50,
        }
    }
}

/// `sessions.site`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SiteKind {
    /// https://web.whatsapp.com/ itself.
    Real,
    /// The local simulator (tests, demo).
    Simulator,
}

/// `[behaviours.<name>]`: a behaviour's switch, grants, parameters and limits.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BehaviourConfig {
    /// `false` keeps the file on disk but does not load it. Default `true`.
    pub enabled: bool,
    /// Capabilities this behaviour may use, e.g. `["sessions.read", "sessions.send"]`.
    /// A host call without its capability fails with an error naming both.
    pub grants: Vec<Capability>,
    /// Free-form parameters the behaviour reads with `config("key")`, e.g. `to = "+34 600 000 000"`.
    pub params: toml::Table,
    /// Overrides of the global `[limits]` for this behaviour only.
    pub limits: LimitsOverride,
}

impl Default for BehaviourConfig {
    fn default() -> Self {
        Self { enabled: true, grants: Vec::new(), params: toml::Table::new(), limits: LimitsOverride::default() }
    }
}

/// `[smtp]`: the server alerts go through.
#[derive(Debug, Clone, Deserialize, Serialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
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

/// `[alerts]`: who is told, and with what.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// Recipients of alerts about sessions without an owner, and of host alerts.
    pub to: Vec<String>,
    /// The link in disconnection emails where the owner links the session again.
    pub login_url: Option<String>,
    /// Email templates. Default `scripts_dir/templates`.
    pub templates_dir: Option<PathBuf>,
}

/// `[limits]`: what one behaviour run may consume before it is stopped and reported.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
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
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
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

/// What a behaviour may be granted. Calls that change nothing outside the behaviour (`log`,
/// `now`, `random`, `config`, its own `kv_*`, `emit`, trigger registration) need no grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Capability {
    /// `sessions()`, `state`, `ping`: read sessions and ask their pages.
    SessionsRead,
    /// `send_text`: send WhatsApp messages.
    SessionsSend,
    /// `activity`, `restart`, `mark`, `touch`, `backup`, `remove_orphan_folders`: act on sessions.
    SessionsControl,
    /// `raise`, `resolve`: alerts to session owners, deduplicated in the ledger.
    Alerts,
    /// `email`: a templated email that is no alert.
    Email,
    /// `health`, `prune_events`: host housekeeping.
    Host,
}

impl Capability {
    pub const ALL: [Capability; 6] = [
        Capability::SessionsRead,
        Capability::SessionsSend,
        Capability::SessionsControl,
        Capability::Alerts,
        Capability::Email,
        Capability::Host,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Capability::SessionsRead => "sessions.read",
            Capability::SessionsSend => "sessions.send",
            Capability::SessionsControl => "sessions.control",
            Capability::Alerts => "alerts",
            Capability::Email => "email",
            Capability::Host => "host",
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Capability {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Capability::ALL.into_iter().find(|c| c.as_str() == s).ok_or_else(|| {
            let all: Vec<_> = Capability::ALL.iter().map(|c| format!("`{c}`")).collect();
            format!("unknown capability `{s}`: use one of {}", all.join(", "))
        })
    }
}

impl<'de> Deserialize<'de> for Capability {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for Capability {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A duration written the humane way in the file: `"30s"`, `"2m"`, `"1h"`, `"5d"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_duration(&s).map(HumanDuration).map_err(serde::de::Error::custom)
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(self.0))
    }
}

/// A share of one core, in basis points (1/10 000): written `"10%"`, `"2.5%"` or `0.1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Share(pub u32);

impl Share {
    /// As a fraction: 0.1 for 10 %.
    pub fn fraction(self) -> f64 {
        f64::from(self.0) / 10_000.0
    }

    fn from_fraction(f: f64) -> Result<Share, String> {
        if !(f > 0.0 && f <= 1.0) {
            return Err(format!(
                "a share of one core must be more than 0 and at most 100 % (`\"10%\"` or 0.1), not {f}"
            ));
        }
        Ok(Share((f * 10_000.0).round().max(1.0) as u32))
    }
}

impl FromStr for Share {
    type Err = String;
    fn from_str(s: &str) -> Result<Share, String> {
        let bad = || format!("bad share `{s}`: write a percentage such as `\"10%\"`, or a fraction such as 0.1");
        match s.trim().strip_suffix('%') {
            Some(p) => Share::from_fraction(p.trim().parse::<f64>().map_err(|_| bad())? / 100.0),
            None => Share::from_fraction(s.trim().parse::<f64>().map_err(|_| bad())?),
        }
    }
}

impl fmt::Display for Share {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", f64::from(self.0) / 100.0)
    }
}

impl<'de> Deserialize<'de> for Share {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(f64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(f) => Share::from_fraction(f),
            Raw::Text(s) => s.parse(),
        }
        .map_err(serde::de::Error::custom)
    }
}

impl Serialize for Share {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// An IANA timezone name, checked when the file is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeZone(pub chrono_tz::Tz);

impl<'de> Deserialize<'de> for TimeZone {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse::<chrono_tz::Tz>().map(TimeZone).map_err(|_| {
            serde::de::Error::custom(format!(
                "unknown timezone `{s}`: use an IANA name such as `Europe/Madrid` or `UTC`"
            ))
        })
    }
}

impl Serialize for TimeZone {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.name())
    }
}
