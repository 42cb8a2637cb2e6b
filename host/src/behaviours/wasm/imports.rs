//! The host side of the WIT imports. Each function converts its arguments, calls the same
//! [`Api`] method the rhai binding calls (grant check, trace record, error naming the
//! behaviour), and converts the result. Nothing here panics: every failure is a WIT `error`.

use std::time::Duration;

use super::bindings::vigil::host::{alerts, clock, config, email, events, host, kv, log, sessions, triggers, types};
use super::plugin::State;
use crate::behaviours::api::{Api, HostError, DEFAULT_PAGE_TIMEOUT};
use crate::behaviours::trigger::TriggerKind;
use crate::duration::parse_duration;
use crate::scheduler::{Missed, TriggerSpec};

type Error = types::Error;

fn error(e: HostError) -> Error {
    let kind = match e {
        HostError::NotGranted { .. } => types::ErrorKind::NotGranted,
        HostError::Session { .. } => types::ErrorKind::Session,
        HostError::Invalid { .. } => types::ErrorKind::Invalid,
        HostError::Store { .. } => types::ErrorKind::Store,
        HostError::Alert { .. } => types::ErrorKind::Alert,
    };
    Error { kind, message: e.to_string() }
}

fn invalid(api: &Api, call: &str, message: impl std::fmt::Display) -> Error {
    Error { kind: types::ErrorKind::Invalid, message: format!("behaviour `{}`: {call}: {message}", api.name()) }
}

fn timeout(api: &Api, call: &str, t: Option<String>) -> Result<Duration, Error> {
    match t {
        None => Ok(DEFAULT_PAGE_TIMEOUT),
        Some(t) => parse_duration(&t).map_err(|e| invalid(api, call, e)),
    }
}

fn json(api: &Api, call: &str, text: &str) -> Result<serde_json::Value, Error> {
    serde_json::from_str(text).map_err(|e| invalid(api, call, format!("not JSON: {e}")))
}

impl types::Host for State {}

impl log::Host for State {
    fn log(&mut self, level: log::Level, message: String) {
        let level = match level {
            log::Level::Debug => "debug",
            log::Level::Info => "info",
            log::Level::Warn => "warn",
            log::Level::Error => "error",
        };
        self.api.log(level, &message)
    }
}

impl clock::Host for State {
    fn now(&mut self) -> i64 {
        self.api.now().timestamp()
    }

    fn now_ms(&mut self) -> i64 {
        self.api.now().timestamp_millis()
    }

    fn duration(&mut self, text: String) -> Result<u64, Error> {
        parse_duration(&text).map(|d| d.as_secs()).map_err(|e| invalid(&self.api, "duration", e))
    }

    fn random(&mut self, min: i64, max: i64) -> Result<i64, Error> {
        self.api.random(min, max).map_err(error)
    }

    fn pick(&mut self, items: Vec<String>) -> Option<String> {
        let i = self.api.pick_index(items.len())?;
        items.into_iter().nth(i)
    }
}

impl config::Host for State {
    fn config(&mut self, key: String) -> Option<String> {
        self.api.config(&key).map(|v| v.to_string())
    }
}

impl kv::Host for State {
    fn kv_get(&mut self, key: String) -> Result<Option<String>, Error> {
        Ok(self.api.kv_get(&key).map_err(error)?.map(|v| v.to_string()))
    }

    fn kv_set(&mut self, key: String, value: String) -> Result<(), Error> {
        let v = json(&self.api, "kv_set", &value)?;
        self.api.kv_set(&key, v).map_err(error)
    }

    fn kv_delete(&mut self, key: String) -> Result<bool, Error> {
        self.api.kv_delete(&key).map_err(error)
    }
}

impl events::Host for State {
    fn emit(&mut self, event: String, data: String) -> Result<(), Error> {
        let v = json(&self.api, "emit", &data)?;
        self.api.emit(&event, v).map_err(error)
    }
}

impl triggers::Host for State {
    fn every(&mut self, spec: String, handler: String, first: Option<String>) -> Result<(), Error> {
        let spec = TriggerSpec::every(&spec, first.as_deref()).map_err(|e| invalid(&self.api, "every", e))?;
        self.api.declare("every", TriggerKind::Timer(spec), &handler, None).map_err(error)
    }

    fn cron(&mut self, expr: String, handler: String, tz: Option<String>, missed: Option<String>) -> Result<(), Error> {
        let tz = tz.unwrap_or_else(|| self.api.default_tz().name().to_string());
        let missed = match missed {
            None => Missed::Skip,
            Some(m) => m.parse::<Missed>().map_err(|e| invalid(&self.api, "cron", e))?,
        };
        let spec = TriggerSpec::cron(&expr, &tz, missed).map_err(|e| invalid(&self.api, "cron", e))?;
        self.api.declare("cron", TriggerKind::Timer(spec), &handler, None).map_err(error)
    }

    fn after(&mut self, delay: String, handler: String) -> Result<(), Error> {
        let spec = TriggerSpec::after(&delay).map_err(|e| invalid(&self.api, "after", e))?;
        self.api.declare("after", TriggerKind::Timer(spec), &handler, None).map_err(error)
    }

    fn on(&mut self, pattern: String, handler: String) -> Result<(), Error> {
        if pattern.is_empty() || pattern.contains(char::is_whitespace) {
            return Err(invalid(
                &self.api,
                "on",
                format!("bad event pattern `{pattern}`: use a name (`session.ready`), a prefix (`session.*`) or `*`"),
            ));
        }
        self.api.declare("on", TriggerKind::Event(pattern), &handler, None).map_err(error)
    }
}

impl sessions::Host for State {
    fn sessions(&mut self) -> Result<Vec<sessions::Session>, Error> {
        Ok(self
            .api
            .sessions()
            .map_err(error)?
            .into_iter()
            .map(|s| sessions::Session {
                id: s.id,
                label: s.label,
                phone: s.phone,
                status: s.status.as_str().to_string(),
                wa_state: s.wa_state,
                last_seen: s.last_seen.map(|t| t.timestamp()),
                owner: s.owner,
                error: s.error,
                running: s.running,
            })
            .collect())
    }

    fn state(&mut self, id: String, timeout_: Option<String>) -> Result<String, Error> {
        let t = timeout(&self.api, "state", timeout_)?;
        self.api.state(&id, t).map_err(error)
    }

    fn resources(&mut self, id: String) -> Result<String, Error> {
        self.api.resources(&id).map(|v| v.to_string()).map_err(error)
    }

    fn ping(&mut self, id: String, timeout_: Option<String>) -> Result<u64, Error> {
        let t = timeout(&self.api, "ping", timeout_)?;
        self.api.ping(&id, t).map(|d| d.as_millis() as u64).map_err(error)
    }

    fn send_text(&mut self, id: String, to: String, text: String, key: Option<String>) -> Result<String, Error> {
        self.api.send_text(&id, &to, &text, key.as_deref()).map_err(error)
    }

    fn activity(&mut self, id: String) -> Result<(), Error> {
        self.api.activity(&id).map_err(error)
    }

    fn restart(&mut self, id: String, reason: String) -> Result<(), Error> {
        self.api.restart(&id, &reason).map_err(error)
    }

    fn mark(&mut self, id: String, status: String, reason: String) -> Result<(), Error> {
        self.api.mark(&id, &status, &reason).map_err(error)
    }

    fn touch(&mut self, id: String) -> Result<(), Error> {
        self.api.touch(&id).map_err(error)
    }

    fn pairing_code(&mut self, id: String, phone: String) -> Result<String, Error> {
        self.api.pairing_code(&id, &phone).map_err(error)
    }

    fn backup(&mut self, id: String) -> Result<String, Error> {
        self.api.backup(&id).map_err(error)
    }

    fn remove_orphan_folders(&mut self, min_age: String) -> Result<Vec<String>, Error> {
        let d = parse_duration(&min_age).map_err(|e| invalid(&self.api, "remove_orphan_folders", e))?;
        self.api.remove_orphan_folders(d).map_err(error)
    }
}

impl alerts::Host for State {
    fn raise(
        &mut self,
        key: String,
        severity: String,
        template: String,
        vars: String,
        repeat_after: String,
    ) -> Result<String, Error> {
        let vars = json(&self.api, "raise", &vars)?;
        let repeat = parse_duration(&repeat_after).map_err(|e| invalid(&self.api, "raise", e))?;
        self.api.raise(&key, &severity, &template, vars, repeat).map(str::to_string).map_err(error)
    }

    fn resolve(&mut self, key: String) -> Result<bool, Error> {
        self.api.resolve(&key).map_err(error)
    }
}

impl email::Host for State {
    fn email(&mut self, to: String, template: String, vars: String) -> Result<i64, Error> {
        let vars = json(&self.api, "email", &vars)?;
        self.api.email(&to, &template, vars).map_err(error)
    }
}

impl host::Host for State {
    fn health(&mut self) -> Result<String, Error> {
        self.api.health().map(|v| v.to_string()).map_err(error)
    }

    fn prune_events(&mut self, older_than: String) -> Result<u64, Error> {
        let d = parse_duration(&older_than).map_err(|e| invalid(&self.api, "prune_events", e))?;
        self.api.prune_events(d).map_err(error)
    }
}
