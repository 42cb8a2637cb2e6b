//! `vigil test <script|plugin> --for <duration>`: runs one behaviour — a rhai script or a WASM
//! plugin (Rust or TypeScript) — on a paused clock against in-memory sessions and lists what it
//! would have done — messages, restarts, marks, emails, events, errors — with their times, so an
//! edited behaviour can be checked before it is deployed. Nothing leaves the process: no
//! browser, no SMTP, a throwaway in-memory store. The clock and the seeded RNG are the host's
//! for both kinds, so a script and a plugin with the same policy give the same list.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::config::Config;
use crate::events::EventBus;
use crate::sessions::memory::MemorySessions;
use crate::sessions::SessionStatus;
use crate::store::Store;
use crate::{Host, HostParts};

/// A pretend session: `id[:status[:wa_state]]`, e.g. `main:ready:CONNECTED`.
#[derive(Debug, Clone)]
pub struct FakeSession {
    pub id: String,
    pub status: SessionStatus,
    pub wa_state: String,
}

impl std::str::FromStr for FakeSession {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut parts = s.split(':');
        let id = parts.next().filter(|p| !p.is_empty()).ok_or("empty session id")?.to_string();
        let status = match parts.next() {
            Some(st) => st.parse::<SessionStatus>().map_err(|e| e.to_string())?,
            None => SessionStatus::Ready,
        };
        let wa_state = parts.next().unwrap_or("CONNECTED").to_string();
        Ok(FakeSession { id, status, wa_state })
    }
}

/// One thing the behaviour did.
#[derive(Debug, Clone)]
pub struct Line {
    pub at: DateTime<Utc>,
    pub what: String,
}

/// Runs `script` for `duration` of virtual time from `start`. Call on a current-thread runtime.
pub async fn run(
    config: &Config,
    script: &Path,
    duration: Duration,
    sessions: &[FakeSession],
    start: DateTime<Utc>,
) -> anyhow::Result<Vec<Line>> {
    let name = script.file_stem().and_then(|s| s.to_str()).context("the file has no name")?.to_string();
    let kind = match script.extension().and_then(|e| e.to_str()) {
        Some("rhai") => "scripts",
        Some("wasm") => "plugins",
        _ => bail!("{}: `vigil test` runs rhai scripts (<name>.rhai) and WASM plugins (<name>.wasm)", script.display()),
    };
    let source = std::fs::read(script).with_context(|| format!("cannot read {}", script.display()))?;
    let dir = tempfile::tempdir().context("cannot make a temp folder")?;
    let (scripts, plugins) = (dir.path().join("scripts"), dir.path().join("plugins"));
    std::fs::create_dir_all(&scripts)?;
    std::fs::create_dir_all(&plugins)?;
    let ext = if kind == "scripts" { "rhai" } else { "wasm" };
    std::fs::write(dir.path().join(kind).join(format!("{name}.{ext}")), source)?;
    let mut config = config.clone();
    config.alerts.templates_dir = Some(config.templates_dir());
    config.scripts_dir = scripts;
    config.plugins_dir = plugins;
    config.data_dir = dir.path().join("data");
    config.smtp.host = None;
    if config.alerts.to.is_empty() {
        config.alerts.to = vec!["owner@example.com".into()];
    }
    let clock = Clock::starting_at(start);
    let fake = Arc::new(MemorySessions::with_clock(clock.clone()));
    for s in sessions {
        fake.add(&s.id, s.status, &s.wa_state);
        fake.set_last_seen(&s.id, start);
    }
    #[cfg(feature = "trial")]
    tokio::time::pause();
    #[cfg(not(feature = "trial"))]
    let _ = duration;
    #[cfg(not(feature = "trial"))]
    bail!(
        "this vigil was built without `vigil test` (its paused clock is tokio's test clock): \
         build it with the `trial` feature, on by default (`cargo build --release -p vigil`)"
    );
    #[cfg_attr(not(feature = "trial"), allow(unreachable_code))]
    let bus = EventBus::new();
    let mut rx = bus.subscribe();
    let collected = tokio::spawn(async move {
        let mut lines = Vec::new();
        while let Ok(e) = rx.recv().await {
            let what = match e.name.as_str() {
                "behaviour.error" => format!(
                    "ERROR {}",
                    e.data["outcome"]["message"].as_str().or(e.data["message"].as_str()).unwrap_or("")
                ),
                "behaviour.loaded" | "behaviour.unloaded" | "email.sent" | "email.failed" => continue,
                _ => format!("event {} {}", e.name, e.data),
            };
            lines.push(Line { at: e.at, what });
        }
        lines
    });
    let shutdown = CancellationToken::new();
    let parts = HostParts {
        clock: clock.clone(),
        sessions: fake.clone(),
        store: Some(Store::memory().await),
        watch: false,
        bus: Some(bus),
    };
    let host = Host::start(config, parts, shutdown.clone()).await?;
    if let Some(e) = host.behaviours().into_iter().find_map(|b| b.load_error) {
        bail!("{e}");
    }
    tokio::time::sleep(duration).await;
    let outbox = host.store().outbox(10_000).await?;
    shutdown.cancel();
    host.wait().await?;
    let mut lines = collected.await.unwrap_or_default();
    for m in fake.sent() {
        lines.push(Line { at: m.at, what: format!("send_text {} -> {}: {}", m.session, m.to, m.text) });
    }
    for a in fake.actions() {
        lines.push(Line {
            at: a.at,
            what: format!(
                "{} {}{}",
                a.what,
                a.session,
                if a.detail.is_empty() { String::new() } else { format!(": {}", a.detail) }
            ),
        });
    }
    for e in outbox {
        lines.push(Line { at: e.created, what: format!("email to {}: {}", e.email.to, e.email.subject) });
    }
    lines.sort_by_key(|l| l.at);
    Ok(lines)
}

/// Default sessions when none are given.
pub fn default_sessions() -> Vec<FakeSession> {
    vec![FakeSession { id: "main".into(), status: SessionStatus::Ready, wa_state: "CONNECTED".into() }]
}

/// The behaviour's file for `name` (`scripts_dir/<name>.rhai`, else `plugins_dir/<name>.wasm`)
/// or a path.
pub fn script_path(config: &Config, arg: &str) -> PathBuf {
    let p = PathBuf::from(arg);
    if p.exists() || arg.contains('/') || arg.ends_with(".rhai") || arg.ends_with(".wasm") {
        return p;
    }
    let plugin = config.plugins_dir.join(format!("{arg}.wasm"));
    let script = config.scripts_dir.join(format!("{arg}.rhai"));
    if !script.exists() && plugin.exists() {
        plugin
    } else {
        script
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lists_what_the_keepalive_would_do_in_three_hours() {
        let mut config: Config = crate::config::load::parse_with_env(
            "[behaviours.keepalive.params]\nto = \"+34 600 000 000\"\n",
            "vigil.toml",
            Vec::new(),
        )
        .unwrap();
        config.scripts_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts");
        config.seed = Some(3);
        let start = "2027-01-04T10:00:00Z".parse().unwrap();
        let lines = run(
            &config,
            &config.scripts_dir.join("keepalive.rhai"),
            Duration::from_secs(3 * 3600),
            &default_sessions(),
            start,
        )
        .await
        .unwrap();
        let sends: Vec<&Line> =
            lines.iter().filter(|l| l.what.starts_with("send_text main -> 34600000000@c.us")).collect();
        assert!((3..=4).contains(&sends.len()), "{lines:#?}");
        assert!(lines.iter().any(|l| l.what.starts_with("event keepalive.sent")));
        assert!(sends[0].at > start);
        assert!("x:bogus".parse::<FakeSession>().is_err());
        assert_eq!("a:qr:UNPAIRED".parse::<FakeSession>().unwrap().status, SessionStatus::Qr);
    }

    #[tokio::test]
    async fn only_scripts_and_plugins_are_run() {
        let e = run(&Config::default(), Path::new("notes.txt"), Duration::from_secs(60), &[], Utc::now())
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("notes.txt") && e.contains(".rhai") && e.contains(".wasm"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            scripts_dir: dir.path().join("scripts"),
            plugins_dir: dir.path().join("plugins"),
            ..Default::default()
        };
        std::fs::create_dir_all(&config.plugins_dir).unwrap();
        std::fs::write(config.plugins_dir.join("pulse.wasm"), b"").unwrap();
        assert_eq!(script_path(&config, "pulse"), config.plugins_dir.join("pulse.wasm"));
        assert_eq!(script_path(&config, "other"), config.scripts_dir.join("other.rhai"));
    }
}
