//! The command line's arguments: what clap parses.

use super::*;

#[derive(Parser, Debug)]
#[command(
    name = "vigil",
    version,
    about = "Keeps WhatsApp Web sessions alive and watched; policies are hot-reloaded scripts"
)]
pub struct Cli {
    /// The config file. Default: ./vigil.toml if it exists, else the built-in defaults.
    #[arg(long, global = true, env = "VIGIL_CONFIG")]
    pub config: Option<PathBuf>,
    /// Log format.
    #[arg(long, global = true, value_enum, default_value = "pretty", env = "VIGIL_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// Log filter, RUST_LOG style (`info`, `vigil=debug,warn`). Default: $RUST_LOG, else
    /// `info,chromiumoxide=error`.
    #[arg(long = "log", global = true, env = "VIGIL_LOG")]
    pub log_filter: Option<String>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the host (the default).
    Run,
    /// Write `scripts/vigil.d.rhai`, the host functions with their docs for editors (see host/src/cli/defs.rs).
    Defs(crate::cli::defs::DefsArgs),
    /// Run the demo: the WhatsApp Web simulator, a host with two demo sessions that a pretend
    /// phone links, the default behaviours on short timings, and the dashboard.
    Demo {
        /// Where the dashboard and the API listen.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// Keep the demo's data here (default: a temporary folder, removed at exit).
        #[arg(long)]
        data: Option<PathBuf>,
        /// The behaviours to run.
        #[arg(long, default_value = "scripts")]
        scripts: PathBuf,
        /// The Chromium executable (`auto`: chromium-headless-shell when installed, else chromium).
        #[arg(long, default_value = "auto", env = "VIGIL_SESSIONS__CHROMIUM")]
        chromium: String,
        /// The demo sessions (comma-separated ids).
        #[arg(long, value_delimiter = ',', default_value = "alpha,beta")]
        sessions: Vec<crate::sessions::SessionId>,
    },
    /// Validate the config and compile every script; non-zero exit on any problem.
    Check,
    /// Lay out a folder to run vigil in: vigil.toml, its schema, the default scripts and email
    /// templates. Files that exist are kept.
    Init(crate::cli::init::InitArgs),
    /// Print (or write with --out) the JSON Schema of vigil.toml, for editors.
    Schema(crate::cli::schema::SchemaArgs),
    /// Check this machine: Chromium, fonts, the data folder, the store, SMTP, the folders.
    Doctor {
        /// Also open the configured site in a throwaway profile and print the bridge's canary:
        /// whether every page internal the bridge needs is there (needs the site reachable).
        #[arg(long)]
        canary: bool,
    },
    /// Run one behaviour — a rhai script or a WASM plugin — on a paused clock against pretend
    /// sessions and list what it would do.
    Test {
        /// The behaviour: a path to a `.rhai` or `.wasm` file, or a name in scripts_dir or
        /// plugins_dir (`keepalive`).
        script: String,
        /// How much (virtual) time to run, e.g. `6h`, `3d`.
        #[arg(long = "for", default_value = "24h")]
        duration: String,
        /// A pretend session `id[:status[:wa_state]]`; repeat for more. Default `main:ready:CONNECTED`.
        #[arg(long = "session")]
        sessions: Vec<crate::trial::FakeSession>,
        /// Virtual start time (RFC 3339). Default: now.
        #[arg(long)]
        start: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Lay out a new behaviour: a commented starting point that `vigil check` accepts and
    /// `vigil test` runs.
    New {
        #[command(subcommand)]
        what: NewWhat,
    },
    /// Cluster mode: the nodes, leases and placement, from the running host.
    Cluster {
        #[command(subcommand)]
        action: crate::cli::cluster::ClusterAction,
    },
    /// Session owners: who is emailed about their sessions.
    Owner {
        #[command(subcommand)]
        action: OwnerAction,
    },
    /// Show the loaded behaviours of the running host: triggers, next fires, last runs.
    Behaviours {
        /// Print the snapshot as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Add, list, remove or log out sessions (one WhatsApp account each).
    Session {
        #[command(subcommand)]
        action: SessionAction,
    },
    /// Back up a session's WhatsApp storage now (kept in data/sessions/<id>/backups).
    Backup {
        /// The session id.
        id: crate::sessions::SessionId,
    },
    /// Alert silences on the running host: hold a session's (or some alerts') emails a while.
    Silence {
        #[command(subcommand)]
        action: crate::cli::silence::SilenceAction,
    },
    /// Restore a session's WhatsApp storage from a backup, after checking it; the session must
    /// not be running.
    Restore {
        /// The session id.
        id: crate::sessions::SessionId,
        /// The backup's file name (see `vigil session list --backups`); default the newest.
        backup: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum NewWhat {
    /// A rhai script, `<scripts_dir>/NAME.rhai`.
    Script {
        /// The behaviour's name (letters, digits, `_`, `-`).
        name: String,
    },
    /// A plugin project, `<dir>/NAME/`, whose `build` makes `NAME.wasm`.
    Plugin {
        /// The behaviour's name (letters, digits, `_`, `-`).
        name: String,
        /// The language.
        #[arg(long, value_enum)]
        lang: crate::scaffold::Lang,
        /// Where to create the project folder.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// A vigil checkout (or its plugins/sdk-ts / plugins/sdk). Default: found in `dir` or
        /// its parents.
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum SessionAction {
    /// Add a session; `vigil run` then opens it and shows its QR to link it.
    Add {
        /// Lowercase letters, digits, `_` and `-` (e.g. `sales-1`).
        id: crate::sessions::SessionId,
        /// A name for people.
        #[arg(long)]
        label: Option<String>,
    },
    /// List the sessions and their last known status.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Also list each session's backups.
        #[arg(long)]
        backups: bool,
    },
    /// Remove a session: its record, profile and backups. The host must not be running it.
    Remove {
        /// The session id.
        id: crate::sessions::SessionId,
    },
    /// Log a session out of WhatsApp (the phone loses this linked device). The host must not
    /// be running it.
    Logout {
        /// The session id.
        id: crate::sessions::SessionId,
    },
    /// Link a session by phone number instead of a QR: prints the code to type on the phone
    /// and waits until it is linked. The host must not be running it.
    Link {
        /// The session id.
        id: crate::sessions::SessionId,
        /// The account's phone number, international format (e.g. `+34 600 000 000`).
        #[arg(long)]
        phone: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum OwnerAction {
    /// Add or change an owner.
    Set {
        /// Their email address.
        email: String,
        /// Their full name, used in emails.
        #[arg(long)]
        name: String,
        /// IANA timezone for the times in their emails (e.g. Europe/Madrid).
        #[arg(long)]
        timezone: Option<String>,
    },
    /// List the owners.
    List,
    /// The owner's API tokens: each reaches only their sessions.
    Token {
        #[command(subcommand)]
        action: crate::cli::tokens::TokenAction,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}
