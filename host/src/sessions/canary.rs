//! `vigil doctor --canary`: opens the configured site in a throwaway profile with the bridge,
//! and reports what the bridge's canary found — every internal there (the bridge installed), or
//! which are missing. Nothing of a session is touched.

use std::time::Duration;

use super::browser::{Browser, Signal};
use super::settings::Settings;
use crate::config::Config;
use crate::sites::whatsapp::{Bridge, PageEvent};

/// The page load plus the bridge's own wait for late modules (20 s), with a margin.
const WITHIN: Duration = Duration::from_secs(50);

/// What the canary found.
#[derive(Debug, Clone, PartialEq)]
pub enum CanaryReport {
    /// Every internal the bridge needs is there.
    Compatible { version: Option<String> },
    /// These are missing (or of the wrong kind).
    Incompatible { version: Option<String>, missing: Vec<String>, problems: Vec<String> },
}

/// Opens the site of `config` in a temporary profile and waits for the canary's verdict.
pub async fn probe(config: &Config) -> Result<CanaryReport, String> {
    let settings = Settings::from_config(config).map_err(|e| e.to_string())?;
    let bridge = Bridge::load(settings.bridge.as_deref()).map_err(|e| e.to_string())?;
    let profile = tempfile::Builder::new()
        .prefix("vigil-canary-")
        .tempdir()
        .map_err(|e| format!("cannot make a temporary profile: {e}"))?;
    let spec = settings.launch_spec(profile.path());
    let mut browser = Browser::launch(&spec, &bridge.source, &settings.url).await?;
    let verdict = tokio::time::timeout(WITHIN, async {
        loop {
            match browser.next().await {
                Signal::Died(why) => return Err(format!("the browser died: {why}")),
                Signal::Page(payload) => match PageEvent::parse(&payload) {
                    Ok(PageEvent::Hello { version, .. }) => return Ok(CanaryReport::Compatible { version }),
                    Ok(PageEvent::Incompatible { version, missing, problems, .. }) => {
                        return Ok(CanaryReport::Incompatible { version, missing, problems })
                    }
                    _ => continue,
                },
            }
        }
    })
    .await
    .unwrap_or_else(|_| Err(format!("{} did not load the app within {WITHIN:?}", settings.url)));
    browser.close(Duration::from_secs(5)).await;
    verdict
}
