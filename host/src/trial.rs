//! `vigil test <script> --for <duration>`: runs one behaviour on a paused clock against
//! in-memory sessions and lists what it would have done — messages, restarts, marks, emails,
//! events, errors — with their times, so an edited script can be checked before it is deployed.
//! Nothing leaves the process: no browser, no SMTP, a throwaway in-memory store.

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
    let name = script.file_stem().and_then(|s| s.to_str()).context("the script has no file name")?.to_string();
    if script.extension().is_none_or(|e| e != "rhai") {
        bail!("{}: `vigil test` runs rhai scripts (<name>.rhai)", script.display());
    }
    let source = std::fs::read_to_string(script).with_context(|| format!("cannot read {}", script.display()))?;
    let dir = tempfile::tempdir().context("cannot make a temp folder")?;
    let scripts = dir.path().join("scripts");
    std::fs::create_dir_all(&scripts)?;
    std::fs::write(scripts.join(format!("{name}.rhai")), source)?;
    let mut config = config.clone();
    config.alerts.templates_dir = Some(config.templates_dir());
    config.scripts_dir = scripts;
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

/// The script path for `name` or a path.
pub fn script_path(config: &Config, arg: &str) -> PathBuf {
    let p = PathBuf::from(arg);
    if p.exists() || arg.contains('/') || arg.ends_with(".rhai") {
        p
    } else {
        config.scripts_dir.join(format!("{arg}.rhai"))
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
}
