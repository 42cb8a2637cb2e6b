//! `vigil check`: validates the config, and compiles and loads every script (top level
//! included) and every plugin (compiled, version-checked, `init` run) in a sandbox with no
//! sessions and a throwaway store. Every problem is reported with its file (and line, for
//! scripts).

use std::path::Path;

use crate::behaviours::host_calls::{HostCalls, Services};
use crate::behaviours::loaded::{load, wasm_cache_dir};
use crate::behaviours::valid_name;
use crate::config::{self, Config};
use crate::host::{plugin_files, script_files};

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
    check_behaviours(&config, &mut report).await;
    report.problems.extend(crate::alerts::templates::check_dir(&config.templates_dir()));
    report
}

async fn check_behaviours(config: &Config, report: &mut Report) {
    let mut files = Vec::new();
    for (dir, list, what) in [
        (&config.scripts_dir, script_files(&config.scripts_dir), "scripts"),
        (&config.plugins_dir, plugin_files(&config.plugins_dir), "plugins"),
    ] {
        match list {
            Ok(f) if f.is_empty() => report.notes.push(format!("{}: no {what}", dir.display())),
            Ok(f) => files.extend(f),
            Err(e) => report.problems.push(format!("{e:#}")),
        }
    }
    let defaults: toml::Table = toml::from_str(crate::config::DEFAULTS).expect("embedded defaults parse");
    let default_names: Vec<&String> =
        defaults.get("behaviours").and_then(|b| b.as_table()).map(|t| t.keys().collect()).unwrap_or_default();
    for name in config.behaviours.keys().filter(|n| !default_names.contains(n)) {
        if !files.iter().any(|f| f.file_stem().and_then(|s| s.to_str()) == Some(name)) {
            report.notes.push(format!(
                "[behaviours.{name}]: no {}/{name}.rhai or {}/{name}.wasm to apply it to",
                config.scripts_dir.display(),
                config.plugins_dir.display()
            ));
        }
    }
    // Compiled plugins go to the host's cache when the data folder exists (a warm start).
    let cache = config.data_dir.exists().then(|| wasm_cache_dir(&config.data_dir));
    let mut names: std::collections::BTreeMap<String, std::path::PathBuf> = Default::default();
    let svc = Services::sandbox(config).await;
    for path in files {
        let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
        if !valid_name(&name) {
            report.problems.push(format!("{}: bad file name: use letters, digits, `_` and `-` only", path.display()));
            continue;
        }
        if let Some(first) = names.insert(name.clone(), path.clone()) {
            report.problems.push(format!(
                "{}: the behaviour `{name}` is also {}: the host loads only the first; rename one",
                path.display(),
                first.display()
            ));
        }
        let section = config.behaviour(&name);
        let source = match std::fs::read(&path) {
            Ok(s) => s,
            Err(e) => {
                report.problems.push(format!("{}: cannot read: {e}", path.display()));
                continue;
            }
        };
        let api = HostCalls::new(&name, section.grants.clone(), &section.params, svc.clone());
        let limits = config.limits.with(&section.limits);
        let (p, cache) = (path.clone(), cache.clone());
        let loaded = tokio::task::spawn_blocking(move || {
            load(&p, source, api, limits, cache.as_deref()).map(|v| v.decls().len())
        });
        match loaded.await {
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
