//! `[sessions]` resolved for the manager: folders, the full Chromium command line, timings.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::chromium::LaunchSpec;
use super::SessionError;
use crate::config::{Config, SiteKind};
use crate::sites::whatsapp;

/// Switches every session's Chromium gets (servers: no GPU, no background traffic, no prompts).
const BASE_SWITCHES: [&str; 12] = [
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-dev-shm-usage",
    "--disable-breakpad",
    "--disable-extensions",
    "--mute-audio",
    "--password-store=basic",
    "--disable-features=Translate,MediaRouter",
];

#[derive(Debug, Clone)]
pub struct Settings {
    /// `data_dir/sessions`.
    pub dir: PathBuf,
    pub chromium: PathBuf,
    /// Every switch but `--user-data-dir` and `--remote-debugging-port`.
    pub switches: Vec<String>,
    pub url: String,
    pub bridge: Option<PathBuf>,
    /// Quiet time after a change of the bridge file before it is re-injected (`reload_debounce`).
    pub reload_debounce: Duration,
    pub start_concurrency: usize,
    pub restart_budget: u32,
    pub restart_window: Duration,
    pub restart_backoff: Duration,
    pub restart_backoff_max: Duration,
    pub backups_keep: usize,
    pub launch_timeout: Duration,
    pub send_timeout: Duration,
    pub ping_interval: Duration,
    pub ping_timeout: Duration,
    pub stop_timeout: Duration,
    /// How often a pairing code is renewed while the page is unlinked.
    pub pairing_code_renew: Duration,
    pub resources_interval: Duration,
    pub send_rate: Option<super::send_limits::Rate>,
    pub send_burst: Option<u32>,
    pub new_contacts_per_day: u32,
}

impl Settings {
    pub fn from_config(config: &Config) -> Result<Settings, SessionError> {
        let c = &config.sessions;
        let mut switches: Vec<String> = Vec::new();
        if c.headless {
            switches.push("--headless".into());
        }
        if c.no_sandbox {
            switches.push("--no-sandbox".into());
        }
        switches.extend(BASE_SWITCHES.iter().map(|s| s.to_string()));
        match c.site {
            SiteKind::Real => {}
            SiteKind::Simulator => {
                let port = c.simulator_port.ok_or_else(|| {
                    SessionError::BadInput(
                        "sessions.site is `simulator` but sessions.simulator_port is not set: set it in vigil.toml \
                         or with VIGIL_SESSIONS__SIMULATOR_PORT"
                            .into(),
                    )
                })?;
                switches.extend(whatsapp::simulator_switches(port));
            }
        }
        // A desktop browser, not an automated headless one (issue 10): kept apart on purpose.
        switches.extend(super::desktop::switches(c.desktop, c.user_agent.as_deref()));
        for s in &c.extra_switches {
            let s = s.trim();
            if !s.is_empty() {
                switches.push(if s.starts_with("--") { s.to_string() } else { format!("--{s}") });
            }
        }
        Ok(Settings {
            // Absolute, so each browser's `--user-data-dir` names its profile on this machine
            // alone: two hosts run from different folders with the same relative `data_dir`
            // must not take each other's browsers for strays of their own.
            dir: std::path::absolute(config.data_dir.join("sessions"))
                .unwrap_or_else(|_| config.data_dir.join("sessions")),
            chromium: super::executable::choose(&c.chromium),
            switches,
            url: whatsapp::URL.into(),
            bridge: c.bridge.clone(),
            reload_debounce: config.reload_debounce.0,
            start_concurrency: c.start_concurrency.max(1),
            restart_budget: c.restart_budget,
            restart_window: c.restart_window.0,
            restart_backoff: c.restart_backoff.0,
            restart_backoff_max: c.restart_backoff_max.0,
            backups_keep: c.backups_keep.max(1),
            launch_timeout: c.launch_timeout.0,
            send_timeout: c.send_timeout.0,
            ping_interval: c.ping_interval.0,
            ping_timeout: c.ping_timeout.0,
            stop_timeout: c.stop_timeout.0,
            pairing_code_renew: c.pairing_code_renew.0,
            resources_interval: c.resources_interval.0,
            send_rate: super::send_limits::Rate::parse(&c.send_rate).map_err(SessionError::BadInput)?,
            send_burst: c.send_burst,
            new_contacts_per_day: c.new_contacts_per_day,
        })
    }

    pub fn session_dir(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    pub fn launch_spec(&self, profile: &Path) -> LaunchSpec {
        LaunchSpec {
            executable: self.chromium.clone(),
            profile: profile.to_path_buf(),
            switches: self.switches.clone(),
            timeout: self.launch_timeout,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switches_per_site() {
        let mut config = Config::default();
        let s = Settings::from_config(&config).unwrap();
        assert!(s.switches.contains(&"--headless".to_string()));
        assert!(!s.switches.iter().any(|s| s.contains("host-resolver-rules")), "none for the real site");
        config.sessions.site = SiteKind::Simulator;
        let e = Settings::from_config(&config).unwrap_err().to_string();
        assert!(e.contains("VIGIL_SESSIONS__SIMULATOR_PORT"), "{e}");
        config.sessions.simulator_port = Some(4433);
        config.sessions.extra_switches = vec!["lang=es".into(), "--mute-audio".into()];
        let s = Settings::from_config(&config).unwrap();
        assert!(s
            .switches
            .contains(&"--host-resolver-rules=MAP web.whatsapp.com 127.0.0.1:4433, MAP * ~NOTFOUND".into()));
        assert!(s.switches.contains(&"--ignore-certificate-errors".into()));
        assert_eq!(s.switches.last().unwrap(), "--mute-audio");
        assert!(s.switches.contains(&"--lang=es".into()));
    }
}
