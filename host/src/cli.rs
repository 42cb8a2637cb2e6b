//! The command line: `vigil run` (default), `vigil check`, `vigil behaviours`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use tokio_util::sync::CancellationToken;

use crate::behaviours::status::Snapshot;
use crate::config::{self, Config};
use crate::host::snapshot_path;

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
    /// Log filter, RUST_LOG style (`info`, `vigil=debug,warn`). Default: $RUST_LOG, else `info`.
    #[arg(long = "log", global = true, env = "VIGIL_LOG")]
    pub log_filter: Option<String>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the host (the default).
    Run,
    /// Validate the config and compile every script; non-zero exit on any problem.
    Check,
    /// Run one behaviour on a paused clock against pretend sessions and list what it would do.
    Test {
        /// The script: a path, or a behaviour name in scripts_dir (`keepalive`).
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
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
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
    }
}

async fn owner(config: &Config, action: OwnerAction) -> anyhow::Result<()> {
    let store = crate::store::Store::open(config.database_url.as_deref(), &config.data_dir).await?;
    match action {
        OwnerAction::Set { email, name, timezone } => {
            if !email.contains('@') || email.contains(char::is_whitespace) {
                anyhow::bail!("`{email}` is not an email address (e.g. ana@example.com)");
            }
            if let Some(tz) = &timezone {
                tz.parse::<chrono_tz::Tz>().map_err(|_| {
                    anyhow::anyhow!("unknown timezone `{tz}`: use an IANA name such as `Europe/Madrid`")
                })?;
            }
            let o = crate::store::owners::Owner {
                email: email.clone(),
                full_name: name,
                timezone,
                updated: chrono::Utc::now(),
            };
            store.upsert_owner(&o).await?;
            println!("owner {email} saved");
        }
        OwnerAction::List => {
            for o in store.owners().await? {
                println!("{}  {}  {}", o.email, o.full_name, o.timezone.as_deref().unwrap_or("-"));
            }
        }
    }
    store.close().await;
    Ok(())
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
