//! Loading `vigil.toml` and the `VIGIL_...` environment overrides.
//!
//! The file is optional. Environment variables map onto keys with `__` between levels:
//! `VIGIL_DATA_DIR=/data` sets `data_dir`, `VIGIL_LIMITS__RUN_BUDGET=5s` sets
//! `limits.run_budget`, `VIGIL_BEHAVIOURS__KEEPALIVE__PARAMS__TO="+34 600 000 000"` sets
//! `behaviours.keepalive.params.to`. A value is read as TOML when it is a boolean, a number
//! (not starting with `+`), an array or an inline table, and as a string otherwise.

use std::fmt;
use std::path::{Path, PathBuf};

use super::model::Config;

/// Environment variables with the `VIGIL_` prefix that are not configuration keys (nor is
/// anything starting with `VIGIL_TEST_`, which the test suite uses).
const NOT_KEYS: &[&str] = &["VIGIL_CONFIG", "VIGIL_LOG", "VIGIL_LOG_FORMAT", "VIGIL_API_TOKEN"];

/// Where a configuration came from, for messages.
#[derive(Debug, Clone)]
pub enum ConfigSource {
    /// No file: embedded defaults (plus the environment).
    Defaults,
    File(PathBuf),
}

/// A configuration problem, located: `vigil.toml:3:1: unknown field `bogus`, ...`.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigError {
    /// The file, or the environment variable, the problem is in.
    pub origin: String,
    /// 1-based line and column in the file, when known.
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// The offending key as written, when known.
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.origin)?;
        if let (Some(l), Some(c)) = (self.line, self.column) {
            write!(f, ":{l}:{c}")?;
        }
        write!(f, ": ")?;
        if let Some(k) = &self.key {
            write!(f, "key `{k}`: ")?;
        }
        write!(f, "{}", self.message)
    }
}

/// Loads the configuration: `path` if given (it must exist), else `./vigil.toml` if present,
/// else the defaults; then the environment `env` (pass `std::env::vars()`).
pub fn load(
    path: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<(Config, ConfigSource), ConfigError> {
    let (text, source) = match path {
        Some(p) => match std::fs::read_to_string(p) {
            Ok(t) => (t, ConfigSource::File(p.to_path_buf())),
            Err(e) => {
                return Err(ConfigError {
                    origin: p.display().to_string(),
                    line: None,
                    column: None,
                    key: None,
                    message: format!(
                        "cannot read the config file: {e} (check the path given by --config or VIGIL_CONFIG)"
                    ),
                })
            }
        },
        None => {
            let p = Path::new("vigil.toml");
            match std::fs::read_to_string(p) {
                Ok(t) => (t, ConfigSource::File(p.to_path_buf())),
                Err(_) => (String::new(), ConfigSource::Defaults),
            }
        }
    };
    let origin = match &source {
        ConfigSource::File(p) => p.display().to_string(),
        ConfigSource::Defaults => "<defaults>".to_string(),
    };
    let config = parse_with_env(&text, &origin, env)?;
    Ok((config, source))
}

/// Parses `text` (named `origin` in errors) and lays the environment over it.
pub(crate) fn parse_with_env(
    text: &str,
    origin: &str,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, ConfigError> {
    // First the file alone, so its errors carry a line and column.
    toml::from_str::<Config>(text).map_err(|e| located(text, origin, &e))?;
    let file: toml::Table = toml::from_str(text).map_err(|e| located(text, origin, &e))?;
    let mut table: toml::Table = toml::from_str(DEFAULTS).expect("embedded defaults parse");
    merge(&mut table, file.clone());
    if file.get("smtp").and_then(|s| s.get("password")).is_some() {
        let line = text.lines().position(|l| l.trim_start().starts_with("password")).map(|i| i + 1);
        return Err(ConfigError {
            origin: origin.to_string(),
            line,
            column: line.map(|_| 1),
            key: Some("smtp.password".into()),
            message: "secrets do not go in the file: remove it and set the environment variable VIGIL_SMTP__PASSWORD"
                .into(),
        });
    }

    let env: Vec<(String, String)> = env.into_iter().collect();
    let mut overrides: Vec<(String, String)> = env
        .iter()
        .filter(|(k, _)| k.starts_with("VIGIL_") && !k.starts_with("VIGIL_TEST_") && !NOT_KEYS.contains(&k.as_str()))
        .cloned()
        .collect();
    overrides.sort();
    for (var, raw) in overrides {
        let path: Vec<String> = var["VIGIL_".len()..].split("__").map(|s| s.to_ascii_lowercase()).collect();
        let key = path.join(".");
        let env_err = |message: String| ConfigError {
            origin: format!("environment variable {var}"),
            line: None,
            column: None,
            key: Some(key.clone()),
            message,
        };
        if path.iter().any(|p| p.is_empty()) {
            return Err(env_err(
                "empty key segment: separate levels with a double underscore, e.g. VIGIL_LIMITS__RUN_BUDGET".into(),
            ));
        }
        let mut candidate = table.clone();
        insert(&mut candidate, &path, env_value(&raw)).map_err(env_err)?;
        // Each override is checked alone, so an error names the variable that caused it.
        toml::Value::Table(candidate.clone()).try_into::<Config>().map_err(|e| env_err(e.message().to_string()))?;
        table = candidate;
    }
    let mut config = toml::Value::Table(table).try_into::<Config>().map_err(|e| ConfigError {
        origin: origin.to_string(),
        line: None,
        column: None,
        key: None,
        message: e.message().to_string(),
    })?;
    webhook_secrets(&mut config, origin, &env)?;
    Ok(config)
}

/// Reads each webhook's secret from the environment variable its `secret_env` names, and
/// checks its URL.
fn webhook_secrets(config: &mut Config, origin: &str, env: &[(String, String)]) -> Result<(), ConfigError> {
    for (i, hook) in config.webhooks.iter_mut().enumerate() {
        let err = |key: &str, message: String| ConfigError {
            origin: origin.to_string(),
            line: None,
            column: None,
            key: Some(format!("webhooks[{i}].{key}")),
            message,
        };
        if !(hook.url.starts_with("https://") || hook.url.starts_with("http://")) {
            return Err(err(
                "url",
                format!(
                    "`{}` is not an http(s) URL: give the receiver's full address, e.g. https://hooks.example.com/vigil",
                    hook.url
                ),
            ));
        }
        let Some(name) = &hook.secret_env else { continue };
        match env.iter().rev().find(|(k, _)| k == name) {
            Some((_, v)) if !v.is_empty() => hook.secret = Some(super::model::Secret(v.clone())),
            _ => {
                return Err(err(
                    "secret_env",
                    format!(
                        "the environment variable {name} (the webhook's signing secret for {}) is not set or empty: \
                         set it, or remove secret_env to send unsigned requests",
                        hook.url
                    ),
                ))
            }
        }
    }
    Ok(())
}

/// The defaults laid under every file: the default behaviours' grants and parameters.
pub const DEFAULTS: &str = include_str!("defaults.toml");

/// Lays `over` onto `base`: tables merge key by key, anything else replaces.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

fn insert(table: &mut toml::Table, path: &[String], value: toml::Value) -> Result<(), String> {
    let (last, parents) = path.split_last().expect("non-empty path");
    let mut t = table;
    for p in parents {
        let entry = t.entry(p.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        t = entry.as_table_mut().ok_or_else(|| format!("`{p}` is not a table, so it cannot hold `{last}`"))?;
    }
    t.insert(last.clone(), value);
    Ok(())
}

fn env_value(raw: &str) -> toml::Value {
    let trimmed = raw.trim();
    if !trimmed.starts_with('+') {
        if let Ok(mut t) = toml::from_str::<toml::Table>(&format!("v = {trimmed}")) {
            if let Some(v) = t.remove("v") {
                if !matches!(v, toml::Value::String(_) | toml::Value::Datetime(_)) {
                    return v;
                }
            }
        }
    }
    toml::Value::String(raw.to_string())
}

fn located(text: &str, origin: &str, e: &toml::de::Error) -> ConfigError {
    let (line, column, key) = match e.span() {
        Some(span) => {
            let (l, c) = line_col(text, span.start);
            let snippet = text.get(span.clone()).map(|s| s.trim().trim_matches('"').to_string());
            (Some(l), Some(c), snippet.filter(|s| !s.is_empty() && !s.contains('\n') && s.len() < 80))
        }
        None => (None, None, None),
    };
    ConfigError { origin: origin.to_string(), line, column, key, message: e.message().trim().to_string() }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map(|i| before.len() - i).unwrap_or(before.len() + 1);
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Capability;
    use std::time::Duration;

    fn env(vars: &[(&str, &str)]) -> Vec<(String, String)> {
        vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn no_file_gives_the_defaults() {
        let c = parse_with_env("", "<defaults>", env(&[])).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("./data"));
        assert_eq!(c.scripts_dir, PathBuf::from("./scripts"));
        assert_eq!(c.plugins_dir, PathBuf::from("./plugins"));
        assert_eq!(c.limits.run_budget.0, Duration::from_secs(10));
        let k = c.behaviour("keepalive");
        assert_eq!(k.grants, vec![Capability::SessionsRead, Capability::SessionsSend]);
        assert_eq!(k.params["every"].as_str(), Some("55m..65m"));
        assert!(k.params.get("to").is_none(), "no default number");
    }

    #[test]
    fn the_file_is_laid_over_the_defaults_key_by_key() {
        let c = parse_with_env(
            "[behaviours.keepalive.params]\nto = \"+34 600 000 000\"\nevery = \"30m..40m\"\n",
            "vigil.toml",
            env(&[]),
        )
        .unwrap();
        let k = c.behaviour("keepalive");
        assert_eq!(k.grants, vec![Capability::SessionsRead, Capability::SessionsSend], "grants kept");
        assert_eq!(
            (k.params["to"].as_str(), k.params["every"].as_str(), k.params["first"].as_str()),
            (Some("+34 600 000 000"), Some("30m..40m"), Some("1m..10m"))
        );
        let c = parse_with_env("[behaviours.keepalive]\ngrants = []\n", "vigil.toml", env(&[])).unwrap();
        assert!(c.behaviour("keepalive").grants.is_empty(), "a list replaces the default list");
    }

    #[test]
    fn unknown_key_is_located_and_named() {
        let text = "data_dir = \"/d\"\n\n[limits]\nmax_operations = 10\nbogus_key = 3\n";
        let e = parse_with_env(text, "vigil.toml", env(&[])).unwrap_err();
        assert_eq!((e.line, e.column), (Some(5), Some(1)), "{e}");
        assert_eq!(e.key.as_deref(), Some("bogus_key"));
        let shown = e.to_string();
        assert!(shown.starts_with("vigil.toml:5:1: key `bogus_key`: unknown field `bogus_key`"), "{shown}");
        assert!(shown.contains("max_operations"), "lists the valid keys: {shown}");
    }

    #[test]
    fn bad_values_name_the_fix() {
        let e = parse_with_env("timezone = \"Europe/Madird\"\n", "vigil.toml", env(&[])).unwrap_err();
        assert_eq!(e.line, Some(1));
        assert!(e.message.contains("unknown timezone `Europe/Madird`"), "{e}");
        let e = parse_with_env("[behaviours.k]\ngrants = [\"sessions.sned\"]\n", "vigil.toml", env(&[])).unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(e.message.contains("unknown capability `sessions.sned`"), "{e}");
        let e = parse_with_env("[limits]\nrun_budget = \"5x\"\n", "vigil.toml", env(&[])).unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(e.message.contains("5x"), "{e}");
    }

    #[test]
    fn suspension_settings_take_a_share_as_a_percentage_or_a_fraction() {
        use crate::config::Share;
        let c = parse_with_env(
            "[limits]\nsuspend_after = 3\nmax_cpu_share = \"2.5%\"\n[behaviours.k.limits]\nmax_cpu_share = 0.5\n",
            "vigil.toml",
            env(&[("VIGIL_LIMITS__SUSPEND_BACKOFF", "30s")]),
        )
        .unwrap();
        assert_eq!((c.limits.suspend_after, c.limits.max_cpu_share), (3, Share(250)));
        assert_eq!(c.limits.suspend_backoff.0, Duration::from_secs(30));
        assert_eq!(c.limits.with(&c.behaviour("k").limits).max_cpu_share, Share(5000));
        assert_eq!(Config::default().limits.max_cpu_share.to_string(), "10%");
        let e = parse_with_env("[limits]\nmax_cpu_share = \"150%\"\n", "vigil.toml", env(&[])).unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(e.message.contains("at most 100 %"), "{e}");
        let e = parse_with_env("[limits]\nmax_cpu_share = \"ten\"\n", "vigil.toml", env(&[])).unwrap_err();
        assert!(e.message.contains("bad share `ten`") && e.message.contains("\"10%\""), "{e}");
    }

    #[test]
    fn environment_overrides_every_level() {
        let text = "[behaviours.keepalive]\ngrants = [\"sessions.read\"]\n[behaviours.keepalive.params]\nto = \"x\"\n";
        let c = parse_with_env(
            text,
            "vigil.toml",
            env(&[
                ("VIGIL_DATA_DIR", "/data"),
                ("VIGIL_LIMITS__RUN_BUDGET", "5s"),
                ("VIGIL_LIMITS__MAX_OPERATIONS", "1000"),
                ("VIGIL_BEHAVIOURS__KEEPALIVE__PARAMS__TO", "+34 600 000 000"),
                ("VIGIL_BEHAVIOURS__KEEPALIVE__GRANTS", "[\"sessions.read\", \"sessions.send\"]"),
                ("VIGIL_CONFIG", "ignored.toml"),
                ("HOME", "/root"),
            ]),
        )
        .unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/data"));
        assert_eq!(c.limits.run_budget.0, Duration::from_secs(5));
        assert_eq!(c.limits.max_operations, 1000);
        let k = c.behaviour("keepalive");
        assert_eq!(k.params["to"].as_str(), Some("+34 600 000 000"));
        assert_eq!(k.grants, vec![Capability::SessionsRead, Capability::SessionsSend]);
    }

    #[test]
    fn a_bad_environment_value_names_the_variable() {
        let e = parse_with_env("", "vigil.toml", env(&[("VIGIL_LIMITS__RUN_BUDGET", "soon")])).unwrap_err();
        assert_eq!(e.origin, "environment variable VIGIL_LIMITS__RUN_BUDGET");
        assert!(e.to_string().contains("soon"), "{e}");
        let e = parse_with_env("", "vigil.toml", env(&[("VIGIL_NOPE", "1")])).unwrap_err();
        assert!(e.to_string().contains("unknown field `nope`"), "{e}");
    }

    #[test]
    fn the_smtp_password_comes_only_from_the_environment() {
        let e = parse_with_env("[smtp]\nhost = \"h\"\npassword = \"hunter2\"\n", "vigil.toml", env(&[])).unwrap_err();
        assert_eq!(e.line, Some(3));
        assert!(e.to_string().contains("VIGIL_SMTP__PASSWORD"), "{e}");
        let c = parse_with_env("[smtp]\nhost = \"h\"\n", "vigil.toml", env(&[("VIGIL_SMTP__PASSWORD", "hunter2")]))
            .unwrap();
        assert_eq!(c.smtp.password.as_deref(), Some("hunter2"));
    }

    #[test]
    fn the_example_config_is_the_defaults() {
        let example =
            parse_with_env(include_str!("../../../vigil.example.toml"), "vigil.example.toml", env(&[])).unwrap();
        let defaults = parse_with_env("", "<defaults>", env(&[])).unwrap();
        assert_eq!(serde_json::to_value(&example).unwrap(), serde_json::to_value(&defaults).unwrap());
    }

    #[test]
    fn a_missing_explicit_file_is_an_error() {
        let e = load(Some(Path::new("/nonexistent/vigil.toml")), env(&[])).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/vigil.toml"), "{e}");
    }
}
