//! `vigil check`: validates the config, and compiles and loads every script (top level
//! included) in a sandbox with no sessions and a throwaway store. Every problem is reported
//! with its file and line.

use std::path::Path;
use std::sync::Arc;

use crate::behaviours::api::{Api, Services};
use crate::behaviours::rhai::Script;
use crate::behaviours::valid_name;
use crate::clock::Clock;
use crate::config::{self, Config};
use crate::events::EventBus;
use crate::host::{plugin_files, script_files};
use crate::sessions::NoSessions;
use crate::store::Store;

/// What `vigil check` found.
#[derive(Debug, Default)]
pub struct Report {
    /// `location: message` lines, one per problem.
    pub problems: Vec<String>,
    /// Lines about what is fine or was not checked.
    pub notes: Vec<String>,
}

/// Checks the config at `path` (or the default one) and the scripts it points to.
pub async fn check(path: Option<&Path>, env: Vec<(String, String)>) -> Report {
    let mut report = Report::default();
    let config = match config::load(path, env) {
        Ok((c, source)) => {
            report.notes.push(match source {
                config::ConfigSource::File(p) => format!("{}: ok", p.display()),
                config::ConfigSource::Defaults => "no vigil.toml: using the defaults".to_string(),
            });
            c
        }
        Err(e) => {
            report.problems.push(format!("{e}"));
            // Go on with the defaults so script problems are reported too.
            Config::default()
        }
    };
    check_scripts(&config, &mut report).await;
    report.problems.extend(crate::alerts::templates::check_dir(&config.templates_dir()));
    for p in plugin_files(&config.plugins_dir) {
        report.notes.push(format!("{}: not checked: WASM plugins are not supported yet", p.display()));
    }
    report
}

async fn check_scripts(config: &Config, report: &mut Report) {
    let files = match script_files(&config.scripts_dir) {
        Ok(f) => f,
        Err(e) => {
            report.problems.push(format!("{e:#}"));
            return;
        }
    };
    if files.is_empty() {
        report.notes.push(format!("{}: no scripts", config.scripts_dir.display()));
    }
    let defaults: toml::Table = toml::from_str(crate::config::DEFAULTS).expect("embedded defaults parse");
    let default_names: Vec<&String> =
        defaults.get("behaviours").and_then(|b| b.as_table()).map(|t| t.keys().collect()).unwrap_or_default();
    for name in config.behaviours.keys().filter(|n| !default_names.contains(n)) {
        if !files.iter().any(|f| f.file_stem().and_then(|s| s.to_str()) == Some(name)) {
            report
                .notes
                .push(format!("[behaviours.{name}]: no {}/{name}.rhai to apply it to", config.scripts_dir.display()));
        }
    }
    let store = Store::memory().await;
    let svc = Services {
        clock: Clock::system(),
        alerts: Arc::new(crate::alerts::Alerts::new(
            store.clone(),
            config.alerts.clone(),
            config.templates_dir(),
            Arc::new(NoSessions),
            Clock::system(),
            config.timezone.0,
        )),
        store,
        sessions: Arc::new(NoSessions),
        bus: EventBus::new(),
        rt: tokio::runtime::Handle::current(),
        default_tz: config.timezone.0,
        seed: Some(0),
        data_dir: config.data_dir.clone(),
    };
    for path in files {
        let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
        if !valid_name(&name) {
            report.problems.push(format!("{}: bad file name: use letters, digits, `_` and `-` only", path.display()));
            continue;
        }
        let section = config.behaviour(&name);
        let source = match std::fs::read_to_string(&path) {
            Ok(s) => s,
            Err(e) => {
                report.problems.push(format!("{}: cannot read: {e}", path.display()));
                continue;
            }
        };
        let api = Api::new(&name, section.grants.clone(), &section.params, svc.clone());
        let limits = config.limits.with(&section.limits);
        let p = path.clone();
        match tokio::task::spawn_blocking(move || Script::load(&p, &source, api, limits).map(|s| s.decls.len())).await {
            Ok(Ok(n)) => report.notes.push(format!(
                "{}: ok, {n} trigger{}{}",
                path.display(),
                if n == 1 { "" } else { "s" },
                if section.enabled { "" } else { " (disabled in the config)" }
            )),
            Ok(Err(e)) => report.problems.push(e.to_string()),
            Err(e) => report.problems.push(format!("{}: the checker failed: {e}", path.display())),
        }
    }
}
