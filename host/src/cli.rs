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

mod args;
mod behaviours;
pub mod cluster;
pub mod defs;
pub mod init;
pub mod link;
mod owners;
pub mod schema;
mod sessions;
pub mod silence;
pub mod tokens;

pub use args::*;
use behaviours::show_behaviours;
use owners::owner;
use sessions::{session_action, with_sessions};

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
                let _ = (listen, data, scripts, chromium, sessions);
                eprintln!(
                    "vigil demo: this vigil was built without the demo (it links no WhatsApp Web simulator): \
                     build it with the `demo` feature, on by default (`cargo run --release -p vigil -- demo`)"
                );
                ExitCode::from(2)
            }
        }
        Command::Defs(args) => crate::cli::defs::main(args).await,
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
        Command::Init(args) => crate::cli::init::main(args),
        Command::Schema(args) => crate::cli::schema::main(args),
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
        Command::Cluster { action } => crate::cli::cluster::main(cli.config.as_deref(), action).await,
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
        Command::Silence { action } => crate::cli::silence::main(load_config(cli.config.as_deref()), action).await,
        Command::Behaviours { json } => {
            let Some(config) = load_config(cli.config.as_deref()) else { return ExitCode::from(2) };
            show_behaviours(&config, json)
        }
        Command::Session { action } => {
            let Some(config) = load_config(cli.config.as_deref()) else { return ExitCode::from(2) };
            // A bad id was refused by the argument parser, before anything (the store
            // included) touched the disk.
            with_sessions(&config, |m| Box::pin(session_action(m, action))).await
        }
        Command::Backup { id } => {
            let Some(config) = load_config(cli.config.as_deref()) else { return ExitCode::from(2) };
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
