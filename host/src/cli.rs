//! The command line: `vigil run` (default), `vigil check`, `vigil doctor`, `vigil behaviours`,
//! `vigil session add|list|remove|logout`, `vigil backup`, `vigil restore`, `vigil test`,
//! `vigil new script|plugin`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use tokio_util::sync::CancellationToken;

use crate::behaviours::status::Snapshot;
use crate::clock::Clock;
use crate::config::{self, Config};
use crate::events::EventBus;
use crate::host::snapshot_path;
use crate::sessions::{SessionError, SessionManager, Sessions};

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
        sessions: Vec<String>,
    },
    /// Validate the config and compile every script; non-zero exit on any problem.
    Check,
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
        action: crate::cli_cluster::ClusterAction,
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
        id: String,
    },
    /// Restore a session's WhatsApp storage from a backup, after checking it; the session must
    /// not be running.
    Restore {
        /// The session id.
        id: String,
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
        id: String,
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
        id: String,
    },
    /// Log a session out of WhatsApp (the phone loses this linked device). The host must not
    /// be running it.
    Logout {
        /// The session id.
        id: String,
    },
    /// Link a session by phone number instead of a QR: prints the code to type on the phone
    /// and waits until it is linked. The host must not be running it.
    Link {
        /// The session id.
        id: String,
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
        action: crate::cli_tokens::TokenAction,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log_format, cli.log_filter.as_deref());
    // `vigil test` runs on tokio's paused clock, which needs a current-thread runtime.
    let builder = match cli.command {
        Some(Command::Test { .. }) => tokio::runtime::Builder::new_current_thread().enable_all().build(),
        _ => tokio::runtime::Builder::new_multi_thread().enable_all().build(),
    };
    let rt = match builder {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vigil: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(dispatch(cli))
}

fn init_tracing(format: LogFormat, filter: Option<&str>) {
    use tracing_subscriber::EnvFilter;
    let filter = match filter {
        Some(f) => EnvFilter::new(f),
        // chromiumoxide's protocol types are older than Debian's Chromium: it warns about every
        // event it cannot parse, which is noise, not news.
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,chromiumoxide=error")),
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Pretty => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

async fn dispatch(cli: Cli) -> ExitCode {
    match cli.command.unwrap_or(Command::Run) {
        Command::Run => {
            let config = match load_config(cli.config.as_deref()) {
                Some(c) => c,
                None => return ExitCode::from(2),
            };
            let shutdown = CancellationToken::new();
            tokio::spawn(on_signal(shutdown.clone()));
            match crate::run(config, shutdown).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("vigil: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Demo { listen, data, scripts, chromium, sessions } => {
            for id in &sessions {
                if let Err(e) = crate::sessions::id::check_id(id) {
                    eprintln!("vigil demo: --sessions: {e}");
                    return ExitCode::from(2);
                }
            }
            #[cfg(feature = "demo")]
            {
                let shutdown = CancellationToken::new();
                tokio::spawn(on_signal(shutdown.clone()));
                let opts = crate::demo::DemoOptions { listen, data, scripts, chromium, sessions };
                match crate::demo::run(opts, shutdown).await {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("vigil demo: {e:#}");
                        ExitCode::FAILURE
                    }
                }
            }
            #[cfg(not(feature = "demo"))]
            {
                let _ = (listen, data, scripts, chromium);
                eprintln!(
                    "vigil demo: this vigil was built without the demo (it links no WhatsApp Web simulator): \
                     build it with the `demo` feature, on by default (`cargo run --release -p vigil -- demo`)"
                );
                ExitCode::from(2)
            }
        }
        Command::Check => {
            let report = crate::check::check(cli.config.as_deref(), std::env::vars().collect()).await;
            for n in &report.notes {
                println!("{n}");
            }
            for p in &report.problems {
                println!("{p}");
            }
            if report.problems.is_empty() {
                println!("vigil check: no problems");
                ExitCode::SUCCESS
            } else {
                let n = report.problems.len();
                println!("vigil check: {n} problem{}", if n == 1 { "" } else { "s" });
                ExitCode::FAILURE
            }
        }
        Command::Doctor { canary } => crate::doctor::main(cli.config.as_deref(), canary).await,
        Command::Test { script, duration, sessions, start } => {
            let Some(config) = load_config(cli.config.as_deref()) else { return ExitCode::from(2) };
            let d = match crate::duration::parse_duration(&duration) {
                Ok(d) => d,
                Err(e) => {
                    eprintln!("vigil test: --for: {e}");
                    return ExitCode::from(2);
                }
            };
            let sessions = if sessions.is_empty() { crate::trial::default_sessions() } else { sessions };
            let path = crate::trial::script_path(&config, &script);
            let start = start.unwrap_or_else(chrono::Utc::now);
            match crate::trial::run(&config, &path, d, &sessions, start).await {
                Ok(lines) => {
                    println!(
                        "{} for {duration} from {} ({} pretend session{}):",
                        path.display(),
                        start.format("%Y-%m-%d %H:%M:%S UTC"),
                        sessions.len(),
                        if sessions.len() == 1 { "" } else { "s" }
                    );
                    for l in &lines {
                        let offset = l.at - start;
                        let secs = offset.num_seconds().max(0);
                        println!("  +{:02}:{:02}:{:02}  {}", secs / 3600, secs / 60 % 60, secs % 60, l.what);
                    }
                    if lines.is_empty() {
                        println!("  (nothing)");
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("vigil test: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::New { what } => {
            let made = match what {
                NewWhat::Script { name } => {
                    let Some(config) = load_config(cli.config.as_deref()) else { return ExitCode::from(2) };
                    crate::scaffold::script(&config.scripts_dir, &name).map(|p| {
                        format!("{}\n  try it: vigil test {} --for 6h", p.display(), p.display())
                    })
                }
                NewWhat::Plugin { name, lang, dir, sdk } => {
                    crate::scaffold::plugin(&dir, &name, lang, sdk.as_deref()).map(|p| {
                        let wasm = p.join(format!("{name}.wasm"));
                        format!(
                            "{}\n  build it: {}\n  try it:   vigil test {} --for 6h\n  deploy:   copy {name}.wasm into the plugins folder",
                            p.display(),
                            p.join("build").display(),
                            wasm.display()
                        )
                    })
                }
            };
            match made {
                Ok(text) => {
                    println!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("vigil new: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Cluster { action } => crate::cli_cluster::main(cli.config.as_deref(), action).await,
        Command::Owner { action } => {
            let Some(config) = load_config(cli.config.as_deref()) else { return ExitCode::from(2) };
            match owner(&config, action).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("vigil owner: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Behaviours { json } => {
            let Some(config) = load_config(cli.config.as_deref()) else { return ExitCode::from(2) };
            show_behaviours(&config, json)
        }
        Command::Session { action } => {
            let Some(config) = load_config(cli.config.as_deref()) else { return ExitCode::from(2) };
            // A bad id is refused before anything (the store included) touches the disk.
            let id = match &action {
                SessionAction::Add { id, .. }
                | SessionAction::Remove { id }
                | SessionAction::Logout { id }
                | SessionAction::Link { id, .. } => Some(id),
                SessionAction::List { .. } => None,
            };
            if let Some(Err(e)) = id.map(|id| crate::sessions::check_id(id)) {
                eprintln!("vigil: {e}");
                return ExitCode::FAILURE;
            }
            with_sessions(&config, |m| Box::pin(session_action(m, action))).await
        }
        Command::Backup { id } => {
            let Some(config) = load_config(cli.config.as_deref()) else { return ExitCode::from(2) };
            if let Err(e) = crate::sessions::check_id(&id) {
                eprintln!("vigil: {e}");
                return ExitCode::FAILURE;
            }
            with_sessions(&config, |m| {
                Box::pin(async move {
                    let b = m.backup(&id).await?;
                    println!(
                        "backup of `{id}`: {} ({} files, {} bytes)",
                        b.path.display(),
                        b.files.unwrap_or(0),
                        b.bytes
                    );
                    Ok(())
                })
            })
            .await
        }
        Command::Restore { id, backup } => {
            let Some(config) = load_config(cli.config.as_deref()) else { return ExitCode::from(2) };
            if let Err(e) = crate::sessions::check_id(&id) {
                eprintln!("vigil: {e}");
                return ExitCode::FAILURE;
            }
            with_sessions(&config, |m| {
                Box::pin(async move {
                    let b = m.restore(&id, backup.as_deref()).await?;
                    println!("restored `{id}` from {} ({} files)", b.name, b.files.unwrap_or(0));
                    Ok(())
                })
            })
            .await
        }
    }
}

async fn owner(config: &Config, action: OwnerAction) -> anyhow::Result<()> {
    let open = || crate::store::Store::open(config.database_url.as_deref(), &config.data_dir);
    match action {
        OwnerAction::Set { email, name, timezone } => {
            crate::store::owners::check_owner(&email, timezone.as_deref()).map_err(anyhow::Error::msg)?;
            let o = crate::store::owners::Owner {
                email: email.clone(),
                full_name: name,
                timezone,
                updated: chrono::Utc::now(),
            };
            let store = open().await?;
            store.upsert_owner(&o).await?;
            store.close().await;
            println!("owner {email} saved");
        }
        OwnerAction::List => {
            let store = open().await?;
            for o in store.owners().await? {
                println!("{}  {}  {}", o.email, o.full_name, o.timezone.as_deref().unwrap_or("-"));
            }
            store.close().await;
        }
        OwnerAction::Token { action } => crate::cli_tokens::run(config, action).await?,
    }
    Ok(())
}

type SessionsResult<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), SessionError>> + 'a>>;

/// Opens the sessions (starting none), runs `f`, closes them.
async fn with_sessions(config: &Config, f: impl FnOnce(&SessionManager) -> SessionsResult<'_>) -> ExitCode {
    let store = match crate::store::Store::open(config.database_url.as_deref(), &config.data_dir).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("vigil: {e}");
            return ExitCode::FAILURE;
        }
    };
    let records: std::sync::Arc<dyn crate::sessions::SessionRecords> = std::sync::Arc::new(store.clone());
    let manager = match SessionManager::open(config, EventBus::new(), Clock::system(), Some(records)).await {
        Ok(m) => m,
        Err(e) => {
            eprintln!("vigil: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = f(&manager).await;
    manager.shutdown().await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vigil: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn session_action(m: &SessionManager, action: SessionAction) -> Result<(), SessionError> {
    match action {
        SessionAction::Add { id, label } => {
            m.add(&id, label.as_deref()).await?;
            println!("added session `{id}`: start the host (`vigil run`) and scan its QR to link it");
        }
        SessionAction::List { json, backups } => {
            let list = m.list().await?;
            if json {
                let mut out = Vec::new();
                for s in &list {
                    let mut v = serde_json::to_value(s).expect("serializable");
                    v["in_use_by_pid"] = in_use(m, &s.id).map(Into::into).unwrap_or(serde_json::Value::Null);
                    if backups {
                        v["backups"] = serde_json::to_value(m.backups(&s.id)?).expect("serializable");
                    }
                    out.push(v);
                }
                println!("{}", serde_json::to_string_pretty(&out).expect("serializable"));
                return Ok(());
            }
            if list.is_empty() {
                println!("no sessions: add one with `vigil session add <id>`");
            }
            for s in &list {
                let running = match in_use(m, &s.id) {
                    Some(pid) => format!("  (Chromium pid {pid})"),
                    None => String::new(),
                };
                println!(
                    "{}  {}{}  {}  {}  {}{}",
                    s.id,
                    s.status,
                    s.wa_state.as_deref().map(|w| format!(" ({w})")).unwrap_or_default(),
                    s.phone.as_deref().map(|p| format!("+{p}")).unwrap_or_else(|| "-".into()),
                    s.label.as_deref().unwrap_or("-"),
                    s.last_seen.map(|t| t.format("last seen %Y-%m-%d %H:%M UTC").to_string()).unwrap_or_default(),
                    running
                );
                if let Some(e) = &s.error {
                    println!("  ! {e}");
                }
                if backups {
                    for b in m.backups(&s.id)? {
                        println!("  backup {}  {} bytes", b.name, b.bytes);
                    }
                }
            }
        }
        SessionAction::Remove { id } => {
            m.remove(&id).await?;
            println!("removed session `{id}` (record, profile and backups)");
        }
        SessionAction::Logout { id } => {
            m.logout(&id).await?;
            println!("session `{id}` is logged out of WhatsApp");
        }
        SessionAction::Link { id, phone } => {
            if let Some(pid) = in_use(m, &id) {
                return Err(SessionError::Conflict {
                    id,
                    message: format!("a running host has it open (Chromium pid {pid}): use POST /api/sessions/{{id}}/pairing-code there"),
                });
            }
            crate::link_cli::link(m, &id, &phone).await?;
        }
    }
    Ok(())
}

/// The pid of a Chromium running on the session's profile (a running host's).
fn in_use(m: &SessionManager, id: &str) -> Option<i32> {
    let profile = m.settings().session_dir(id).join("profile");
    crate::sessions::chromium::strays(&profile).first().map(|p| p.pid)
}

fn load_config(path: Option<&std::path::Path>) -> Option<Config> {
    match config::load(path, std::env::vars()) {
        Ok((c, _)) => Some(c),
        Err(e) => {
            eprintln!("vigil: bad configuration: {e}");
            None
        }
    }
}

/// SIGINT or SIGTERM → graceful shutdown; a second one exits at once.
async fn on_signal(shutdown: CancellationToken) {
    wait_signal().await;
    tracing::info!("signal received: stopping (send it again to exit at once)");
    shutdown.cancel();
    wait_signal().await;
    eprintln!("vigil: second signal: exiting without waiting");
    std::process::exit(130);
}

async fn wait_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

fn show_behaviours(config: &Config, json: bool) -> ExitCode {
    let path = snapshot_path(config);
    let snap: Snapshot = match std::fs::read(&path)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "vigil: no behaviour status at {} ({e}): start the host with `vigil run` (same data_dir)",
                path.display()
            );
            return ExitCode::FAILURE;
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&snap).expect("serializable"));
        return ExitCode::SUCCESS;
    }
    let alive = pid_alive(snap.host_pid);
    println!(
        "host pid {} ({}), status written {}",
        snap.host_pid,
        if alive { "running" } else { "not running: this is its last state" },
        snap.written_at.format("%Y-%m-%d %H:%M:%S UTC")
    );
    if snap.behaviours.is_empty() {
        println!("no behaviours loaded");
    }
    for b in &snap.behaviours {
        println!();
        println!(
            "{}  {}  loaded {}, {} reload{}, {} run{}, {} failure{}",
            b.name,
            b.path.display(),
            b.loaded_at.format("%Y-%m-%d %H:%M:%S"),
            b.reloads,
            plural(b.reloads),
            b.runs,
            plural(b.runs),
            b.failures,
            plural(b.failures)
        );
        if let Some(e) = &b.load_error {
            println!("  ! the file does not load (the previous version runs): {e}");
        }
        if let Some(e) = &b.last_error {
            println!("  ! last error: {e}");
        }
        if let Some(s) = &b.suspended {
            println!(
                "  ! suspended until {} ({} failure{} in a row): POST /api/behaviours/{}/resume, or fix its file",
                s.until.format("%Y-%m-%d %H:%M:%S UTC"),
                s.failures,
                plural(u64::from(s.failures)),
                b.name
            );
        }
        for t in &b.triggers {
            let next = t.next_fire.map(|n| n.format("%Y-%m-%d %H:%M:%S UTC").to_string()).unwrap_or_else(|| "-".into());
            let last = t.last_fired.map(|n| n.format("%H:%M:%S").to_string()).unwrap_or_else(|| "never".into());
            println!("  {}  next {next}  fired {}x, last {last}", t.trigger, t.fires);
        }
        if !b.traces.is_empty() {
            println!("  last runs:");
        }
        for t in b.traces.iter().rev().take(5) {
            let calls: Vec<String> =
                t.calls.iter().map(|c| format!("{}{}", c.call, if c.ok { "" } else { " (failed)" })).collect();
            println!(
                "    {}  {}  {:.1} ms  {}{}",
                t.started.format("%H:%M:%S"),
                t.trigger,
                t.duration_ms,
                t.outcome.summary(),
                if calls.is_empty() { String::new() } else { format!("  [{}]", calls.join(", ")) }
            );
        }
    }
    ExitCode::SUCCESS
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn pid_alive(pid: u32) -> bool {
    #[cfg(unix)]
    {
        // SAFETY: kill with signal 0 only checks that the process exists.
        unsafe { libc::kill(pid as libc::pid_t, 0) == 0 }
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        false
    }
}
