//! `vigil demo`: the whole of vigil on one machine, with nothing to link by hand.
//!
//! It starts the WhatsApp Web simulator (the one the tests use), then a host whose sessions
//! point at it — two demo sessions on a throwaway data folder — and plays the phone: every QR
//! a demo session shows is scanned through the simulator's control API, so both come up
//! `ready`. The default behaviours of `scripts/` run on shortened timings (keepalive every
//! 20–40 s instead of 55–65 min, and so on), so a change to a script shows within a minute.
//! The dashboard and the API listen on `--listen` (default http://127.0.0.1:8080).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::events::{Event, EventBus};

/// `vigil demo`'s options.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Where the API and the dashboard listen.
    pub listen: SocketAddr,
    /// The data folder; `None`: a temporary one, removed at exit.
    pub data: Option<PathBuf>,
    /// The behaviours to run (the repository's `scripts/` by default).
    pub scripts: PathBuf,
    /// The Chromium executable.
    pub chromium: String,
    /// The demo sessions, linked by the pretend phone.
    pub sessions: Vec<crate::sessions::SessionId>,
}

/// The demo's phone numbers: `34600000001`, `34600000002`, … (placeholders, never real).
fn phone_of(index: usize) -> String {
    format!("3460000{:04}", index + 1)
}

/// The demo's config: the simulator as the site, shortened timings for the default
/// behaviours. Only the simulator's port and the folders change from run to run.
pub fn demo_config_toml(
    data: &std::path::Path,
    scripts: &std::path::Path,
    chromium: &str,
    https_port: u16,
    listen: SocketAddr,
) -> String {
    format!(
        r#"data_dir = {data:?}
scripts_dir = {scripts:?}
plugins_dir = {plugins:?}

[api]
listen = "{listen}"

[sessions]
chromium = {chromium:?}
site = "simulator"
simulator_port = {https_port}
restart_backoff_max = "5s"
resources_interval = "5s"

[history]
memory_step = "10s"

[behaviours.keepalive.params]
to = "+34 600 000 002"
every = "20s..40s"
first = "5s..10s"

[behaviours.heartbeat.params]
every = "20s"

[behaviours.watchdog.params]
every = "15s"
grace = "1m"

[behaviours.activity.params]
every = "10s"

[behaviours.monitor.params]
every = "1m"

[behaviours.health.params]
every = "1m"
min_free_mb = 64

[behaviours.cleanup.params]
every = "5m"
"#,
        plugins = data.join("plugins"),
    )
}

/// Runs the demo until `shutdown`.
pub async fn run(opts: DemoOptions, shutdown: CancellationToken) -> anyhow::Result<()> {
    if !opts.scripts.is_dir() {
        anyhow::bail!(
            "the scripts folder {} does not exist: run `vigil demo` from the repository's root \
             (where scripts/ is), or pass --scripts DIR",
            opts.scripts.display()
        );
    }
    let mut chosen = crate::sessions::executable::choose(std::path::Path::new(&opts.chromium));
    if find_executable(&chosen.to_string_lossy()).is_none() && may_install(&opts.chromium) {
        install_headless_shell().await?;
        chosen = crate::sessions::executable::choose(std::path::Path::new(&opts.chromium));
    }
    let chromium = find_executable(&chosen.to_string_lossy()).ok_or_else(|| {
        anyhow::anyhow!(
            "Chromium not found (`{}`): install Debian's lighter one with `sudo apt-get install -y chromium-headless-shell` (or `chromium`), \
             or pass --chromium PATH",
            opts.chromium
        )
    })?;
    let scripts = std::fs::canonicalize(&opts.scripts)
        .with_context(|| format!("cannot resolve the scripts folder {}", opts.scripts.display()))?;
    let _tmp;
    let data = match &opts.data {
        Some(d) => d.clone(),
        None => {
            _tmp =
                tempfile::Builder::new().prefix("vigil-demo-").tempdir().context("cannot make a temporary folder")?;
            _tmp.path().to_path_buf()
        }
    };
    let sim = wa_sim::Simulator::start(wa_sim::Options {
        qr_interval: Duration::from_secs(60),
        sync_delay: Duration::from_secs(1),
        ack_delay: Duration::from_millis(300),
        ..wa_sim::Options::default()
    })
    .await
    .context("cannot start the WhatsApp Web simulator")?;

    let text = demo_config_toml(&data, &scripts, &chromium.to_string_lossy(), sim.https_port(), opts.listen);
    let config = crate::config::load::parse_with_env(&text, "<demo config>", Vec::new())
        .map_err(|e| anyhow::anyhow!("the demo's config: {e}"))?;

    // The API's token: the environment's, else a fresh one that the dashboard link carries.
    let token = crate::api::token_from_env().unwrap_or_else(random_token);
    let bus = EventBus::new();
    tokio::spawn(play_the_phone(bus.subscribe(), sim.client(), opts.sessions.clone(), shutdown.clone()));
    println!(
        "vigil demo\n  \
         dashboard: http://{listen}/#token={token}\n  \
         API:       http://{listen}/openapi.json with `Authorization: Bearer {token}`\n  \
         data:      {data}{kept}\n  \
         scripts:   {scripts} — edit one (keepalive.rhai sends every 20–40 s) and watch it change\n  \
         simulator: {control} (control API: try `curl -X POST {control}/state -H 'content-type: application/json' -d '{{\"state\":\"UNPAIRED\"}}'`)\n  \
         sessions:  {ids}, linked by the demo's phone\n  \
         Ctrl-C stops everything.",
        data = data.display(),
        kept = if opts.data.is_some() { "" } else { " (temporary, removed at exit)" },
        scripts = scripts.display(),
        control = sim.control_url(),
        ids = opts.sessions.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
        listen = opts.listen,
    );
    let options = crate::host::RunOptions {
        bus: Some(bus),
        add: opts.sessions.iter().map(|id| (id.clone(), Some(format!("Demo {id}")))).collect(),
        api_token: Some(token),
    };
    let result = crate::host::run_with(config, options, shutdown).await;
    sim.stop().await;
    result
}

/// 24 random bytes, hex.
fn random_token() -> String {
    use rand::RngCore;
    let mut b = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `name` as a path, or looked up in `PATH`.
fn find_executable(name: &str) -> Option<PathBuf> {
    let p = std::path::Path::new(name);
    if p.components().count() > 1 {
        return p.is_file().then(|| p.to_path_buf());
    }
    std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join(name)).find(|c| c.is_file())
}

/// The pretend phone: scans the QR of each demo session as soon as it shows one.
async fn play_the_phone(
    mut events: tokio::sync::broadcast::Receiver<Event>,
    control: wa_sim::ControlClient,
    ids: Vec<crate::sessions::SessionId>,
    stop: CancellationToken,
) {
    while let Some((id, qr)) = crate::host::next_qr(&mut events, &stop).await {
        let id = id.as_str();
        let Some(index) = ids.iter().position(|d| d == id) else { continue };
        let me = phone_of(index);
        match control.scan(Some(&qr), Some(&me)).await {
            Ok(_) => tracing::info!(session = id, phone = %me, "the demo's phone scanned the QR"),
            Err(e) => tracing::warn!(session = id, "the demo's phone could not scan the QR: {e}"),
        }
    }
}

/// Whether `vigil demo` installs Chromium itself: the browser is left to it (`auto`), this is
/// root on Debian or Ubuntu (apt-get), so the README's first command does its own set-up.
fn may_install(setting: &str) -> bool {
    // SAFETY: getuid cannot fail.
    let root = unsafe { libc::getuid() } == 0;
    should_install(
        setting,
        root,
        std::path::Path::new("/etc/debian_version").exists(),
        find_executable("apt-get").is_some(),
    )
}

fn should_install(setting: &str, root: bool, debian: bool, apt: bool) -> bool {
    setting == crate::sessions::executable::AUTO && root && debian && apt
}

/// `apt-get install -y chromium-headless-shell`, saying so.
async fn install_headless_shell() -> anyhow::Result<()> {
    println!("vigil demo: no Chromium here; installing Debian's chromium-headless-shell (apt-get update && apt-get install -y chromium-headless-shell)");
    for args in [&["update", "-qq"][..], &["install", "-y", "-qq", "chromium-headless-shell"][..]] {
        let status = tokio::process::Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .await
            .context("cannot run apt-get")?;
        if !status.success() {
            anyhow::bail!(
                "apt-get {} failed ({status}): install Chromium yourself with `apt-get install -y chromium-headless-shell`, \
                 or pass --chromium PATH",
                args.join(" ")
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_demo_installs_chromium_only_as_root_on_debian_when_left_to_pick() {
        assert!(super::should_install("auto", true, true, true));
        assert!(!super::should_install("auto", false, true, true), "not as another user: it prints the command");
        assert!(!super::should_install("auto", true, false, true), "not off Debian/Ubuntu");
        assert!(!super::should_install("/usr/bin/chromium", true, true, true), "not when a browser is named");
    }

    use super::*;

    #[test]
    fn the_demo_config_parses_and_points_at_the_simulator() {
        let text = demo_config_toml(
            std::path::Path::new("/tmp/d"),
            std::path::Path::new("/tmp/s"),
            "chromium",
            4443,
            "127.0.0.1:8080".parse().unwrap(),
        );
        assert_eq!(random_token().len(), 48);
        let c = crate::config::load::parse_with_env(&text, "<demo>", Vec::new()).unwrap();
        assert_eq!(c.sessions.simulator_port, Some(4443));
        assert_eq!(c.api.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.behaviours["keepalive"].params["every"].as_str(), Some("20s..40s"));
        // The default grants still come from the embedded defaults.
        assert!(c.behaviours["keepalive"].grants.contains(&crate::config::Capability::SessionsSend));
        assert_eq!(phone_of(0), "34600000001");
        assert_eq!(phone_of(1), "34600000002");
    }
}
