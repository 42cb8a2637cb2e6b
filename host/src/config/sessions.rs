//! `[sessions]`: how sessions run (see [`crate::sessions`]).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::values::HumanDuration;

/// `[sessions]`: how sessions run. One Chromium per session, on `data_dir/sessions/<id>/profile`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, schemars::JsonSchema)]
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
    /// Backoff between restarts after crashes: the first crash after the session was ready
    /// restarts it at once; a crash before it is ready again waits this, the next twice as
    /// long, and so on up to `restart_backoff_max` (0, 1s, 2s, 4s … by default). Default `1s`.
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SiteKind {
    /// https://web.whatsapp.com/ itself.
    Real,
    /// The local simulator (tests, demo).
    Simulator,
}
