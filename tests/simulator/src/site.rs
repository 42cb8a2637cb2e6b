//! How "the site" behaves on the next page load: the version it ships and the behaviours of the
//! current web.whatsapp.com that broke clients when they appeared (shared/SIMULATOR.md, "The
//! current site"). Set at start ([`crate::Options::site`]) and changed at run time with
//! `POST /site`; a change applies from the next page load, as a new site version does.

use serde::{Deserialize, Serialize};

/// Modules registered late by default when [`Site::late_modules_ms`] is set: the ones a client
/// needs after `Socket` (which is there from the start, as on the real site's cold load).
pub const DEFAULT_LATE_MODULES: [&str; 3] = ["WAWebCmd", "WAWebCollections", "WAWebSendMsgChatAction"];

/// The site a page load gets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Site {
    /// `window.Debug.VERSION`.
    pub version: String,
    /// Modules this version does not have: `window.require` throws for them (a "site changed" mode).
    #[serde(default)]
    pub missing_modules: Vec<String>,
    /// Registers [`Site::late_modules`] this many ms after `window.Debug.VERSION` exists (0 = at once).
    #[serde(default)]
    pub late_modules_ms: u64,
    /// The modules registered late (empty = [`DEFAULT_LATE_MODULES`]).
    #[serde(default)]
    pub late_modules: Vec<String>,
    /// `getADVSecretKey()` returns a Promise (`WAWebAdvSignatureApi`'s async getter).
    #[serde(default)]
    pub adv_async: bool,
    /// Logouts are announced on `WAWebCmd.Cmd` as `starting_logout_from_bridge` then
    /// `logout_from_bridge` only (never `logout`), and a logout from the phone reloads the page
    /// after [`Site::logout_reload_ms`] instead of showing a QR at once.
    #[serde(default)]
    pub logout_from_bridge_only: bool,
    /// See [`Site::logout_from_bridge_only`].
    #[serde(default = "default_logout_reload_ms")]
    pub logout_reload_ms: u64,
}

fn default_logout_reload_ms() -> u64 {
    3000
}

impl Site {
    /// The site of today's simulator: `version`, nothing missing, modules at once, a
    /// synchronous ADV getter and the `logout` event.
    pub fn new(version: impl Into<String>) -> Site {
        Site {
            version: version.into(),
            missing_modules: Vec::new(),
            late_modules_ms: 0,
            late_modules: Vec::new(),
            adv_async: false,
            logout_from_bridge_only: false,
            logout_reload_ms: default_logout_reload_ms(),
        }
    }

    /// The late modules, defaults filled in (none when nothing is late).
    pub fn effective_late_modules(&self) -> Vec<String> {
        if self.late_modules_ms == 0 {
            return Vec::new();
        }
        if self.late_modules.is_empty() {
            return DEFAULT_LATE_MODULES.iter().map(|s| s.to_string()).collect();
        }
        self.late_modules.clone()
    }

    /// Applies a `POST /site` request.
    pub fn apply(&mut self, r: &SiteRequest) {
        if let Some(v) = &r.version {
            self.version = v.clone();
        }
        if let Some(v) = &r.missing_modules {
            self.missing_modules = v.clone();
        }
        if let Some(v) = r.late_modules_ms {
            self.late_modules_ms = v;
        }
        if let Some(v) = &r.late_modules {
            self.late_modules = v.clone();
        }
        if let Some(v) = r.adv_async {
            self.adv_async = v;
        }
        if let Some(v) = r.logout_from_bridge_only {
            self.logout_from_bridge_only = v;
        }
        if let Some(v) = r.logout_reload_ms {
            self.logout_reload_ms = v;
        }
    }

    /// What the page script reads (`__WA_SIM_SITE__`).
    pub(crate) fn page_json(&self) -> String {
        serde_json::json!({
            "version": self.version,
            "missing": self.missing_modules,
            "lateMs": self.late_modules_ms,
            "late": self.effective_late_modules(),
            "advAsync": self.adv_async,
            "bridgeLogout": self.logout_from_bridge_only,
            "logoutReloadMs": self.logout_reload_ms,
        })
        .to_string()
    }
}

/// `POST /site`: the fields to change (others stay); applies from the next page load.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteRequest {
    /// See [`Site::version`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// See [`Site::missing_modules`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing_modules: Option<Vec<String>>,
    /// See [`Site::late_modules_ms`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late_modules_ms: Option<u64>,
    /// See [`Site::late_modules`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late_modules: Option<Vec<String>>,
    /// See [`Site::adv_async`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adv_async: Option<bool>,
    /// See [`Site::logout_from_bridge_only`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logout_from_bridge_only: Option<bool>,
    /// See [`Site::logout_reload_ms`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logout_reload_ms: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_changes_only_what_it_names() {
        let mut site = Site::new("2.3000.1");
        site.apply(&SiteRequest { version: Some("2.3000.2".into()), adv_async: Some(true), ..Default::default() });
        assert_eq!(site.version, "2.3000.2");
        assert!(site.adv_async && !site.logout_from_bridge_only);
        assert!(site.effective_late_modules().is_empty());
        site.apply(&SiteRequest { late_modules_ms: Some(3000), ..Default::default() });
        assert_eq!(site.effective_late_modules(), DEFAULT_LATE_MODULES.map(String::from).to_vec());
        assert!(site.page_json().contains("\"lateMs\":3000"));
    }
}
