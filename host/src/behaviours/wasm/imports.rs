//! The host side of the WIT imports. Each function only converts: the WIT's typed arguments
//! into the declaration's ([`host_fns`], where the grant check, validation and defaults are,
//! the same as for rhai), and the declaration's result into the WIT's type. Nothing here
//! panics: every failure is a WIT `error`.

use serde_json::Value;

use super::bindings::vigil::host::{alerts, clock, config, email, events, host, kv, log, sessions, triggers, types};
use super::plugin::State;
use crate::behaviours::host_calls::HostError;
use crate::behaviours::host_fns::{self as f, HostFn, Out};

type Error = types::Error;
type Arg = Option<Value>;

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

fn s(text: String) -> Arg {
    Some(Value::String(text))
}

fn o(text: Option<String>) -> Arg {
    text.map(Value::String)
}

fn n(v: i64) -> Arg {
    Some(Value::from(v))
}

impl State {
    /// Runs declaration `f` with `values` (argument `i` at `i`).
    fn call(&self, f: &'static HostFn, values: Vec<Arg>) -> Result<Out, Error> {
        f.invoke(&self.api, values, None).map_err(error)
    }

    /// A `json` argument (JSON text) as its value.
    fn json(&self, f: &'static HostFn, text: &str) -> Result<Arg, Error> {
        serde_json::from_str(text).map(Some).map_err(|e| error(self.api.invalid(f.name, format!("not JSON: {e}"))))
    }

    /// A result that is not the type the WIT declares: a host bug, reported, never a panic.
    fn mismatch<T>(&self, f: &'static HostFn, out: Out) -> Result<T, Error> {
        Err(error(self.api.invalid(f.name, format!("the host returned {out:?}, not the WIT's type (a host bug)"))))
    }

    /// Runs `f` and takes its result as the WIT's type `T`.
    fn typed<T: TryFrom<Out, Error = Out>>(&self, f: &'static HostFn, values: Vec<Arg>) -> Result<T, Error> {
        T::try_from(self.call(f, values)?).or_else(|out| self.mismatch(f, out))
    }

    /// A `json` result as JSON text; `none` for nothing.
    fn json_out(&self, f: &'static HostFn, values: Vec<Arg>) -> Result<Option<String>, Error> {
        match self.call(f, values)? {
            Out::Json(v) => Ok(Some(v.to_string())),
            Out::Nothing => Ok(None),
            out => self.mismatch(f, out),
        }
    }
}

/// The results the WIT takes as they are (a mismatch is handed back, for [`State::mismatch`]).
macro_rules! wit_type {
    ($($t:ty: $p:pat => $v:expr;)*) => {$(
        impl TryFrom<Out> for $t {
            type Error = Out;
            fn try_from(out: Out) -> Result<Self, Out> {
                match out {
                    $p => Ok($v),
                    other => Err(other),
                }
            }
        }
    )*};
}

wit_type! {
    (): Out::Unit => ();
    String: Out::Str(s) => s;
    bool: Out::Bool(b) => b;
    i64: Out::Int(n) => n;
    u64: Out::Count(n) => n;
    Vec<String>: Out::Names(names) => names;
}

/// The value of a call the WIT declares infallible (no grant, no argument that can be wrong):
/// an error would be a host bug, logged, and the neutral value returned.
fn infallible<T: Default>(r: Result<T, Error>) -> T {
    r.unwrap_or_else(|e| {
        tracing::error!("a host function that cannot fail failed: {}", e.message);
        T::default()
    })
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
        infallible(self.typed(&f::LOG, vec![s(level.into()), s(message)]))
    }
}

impl clock::Host for State {
    fn now(&mut self) -> i64 {
        infallible(self.typed(&f::NOW, vec![]))
    }

    fn now_ms(&mut self) -> i64 {
        infallible(self.typed(&f::NOW_MS, vec![]))
    }

    fn duration(&mut self, text: String) -> Result<u64, Error> {
        self.typed(&f::DURATION, vec![s(text)])
    }

    fn random(&mut self, min: i64, max: i64) -> Result<i64, Error> {
        self.typed(&f::RANDOM, vec![n(min), n(max)])
    }

    fn pick(&mut self, items: Vec<String>) -> Option<String> {
        let items = Some(Value::Array(items.into_iter().map(Value::String).collect()));
        match infallible(self.call(&f::PICK, vec![items]).map(Some)) {
            Some(Out::Json(Value::String(s))) => Some(s),
            _ => None,
        }
    }
}

impl config::Host for State {
    fn config(&mut self, key: String) -> Option<String> {
        infallible(self.json_out(&f::CONFIG, vec![s(key)]))
    }
}

impl kv::Host for State {
    fn kv_get(&mut self, key: String) -> Result<Option<String>, Error> {
        self.json_out(&f::KV_GET, vec![s(key)])
    }

    fn kv_set(&mut self, key: String, value: String) -> Result<(), Error> {
        let value = self.json(&f::KV_SET, &value)?;
        self.typed(&f::KV_SET, vec![s(key), value])
    }

    fn kv_delete(&mut self, key: String) -> Result<bool, Error> {
        self.typed(&f::KV_DELETE, vec![s(key)])
    }
}

impl events::Host for State {
    fn emit(&mut self, event: String, data: String) -> Result<(), Error> {
        let data = self.json(&f::EMIT, &data)?;
        self.typed(&f::EMIT, vec![s(event), data])
    }
}

impl triggers::Host for State {
    fn every(&mut self, spec: String, handler: String, first: Option<String>) -> Result<(), Error> {
        self.typed(&f::EVERY, vec![s(spec), s(handler), o(first)])
    }

    fn cron(&mut self, expr: String, handler: String, tz: Option<String>, missed: Option<String>) -> Result<(), Error> {
        self.typed(&f::CRON, vec![s(expr), s(handler), o(tz), o(missed)])
    }

    fn after(&mut self, delay: String, handler: String) -> Result<(), Error> {
        self.typed(&f::AFTER, vec![s(delay), s(handler)])
    }

    fn on(&mut self, pattern: String, handler: String) -> Result<(), Error> {
        self.typed(&f::ON, vec![s(pattern), s(handler)])
    }
}

impl sessions::Host for State {
    fn sessions(&mut self) -> Result<Vec<sessions::Session>, Error> {
        let list = match self.call(&f::SESSIONS, vec![])? {
            Out::Sessions(list) => list,
            out => return self.mismatch(&f::SESSIONS, out),
        };
        Ok(list
            .into_iter()
            .map(|s| sessions::Session {
                id: s.id,
                label: s.label,
                phone: s.phone,
                status: s.status,
                wa_state: s.wa_state,
                last_seen: s.last_seen,
                owner: s.owner,
                error: s.error,
                running: s.running,
            })
            .collect())
    }

    fn state(&mut self, id: String, timeout: Option<String>) -> Result<String, Error> {
        self.typed(&f::STATE, vec![s(id), o(timeout)])
    }

    fn resources(&mut self, id: String) -> Result<String, Error> {
        Ok(self.json_out(&f::RESOURCES, vec![s(id)])?.unwrap_or_else(|| "null".into()))
    }

    fn ping(&mut self, id: String, timeout: Option<String>) -> Result<u64, Error> {
        self.typed(&f::PING, vec![s(id), o(timeout)])
    }

    fn send_text(&mut self, id: String, to: String, text: String, key: Option<String>) -> Result<String, Error> {
        self.typed(&f::SEND_TEXT, vec![s(id), s(to), s(text), o(key)])
    }

    fn activity(&mut self, id: String) -> Result<(), Error> {
        self.typed(&f::ACTIVITY, vec![s(id)])
    }

    fn restart(&mut self, id: String, reason: String) -> Result<(), Error> {
        self.typed(&f::RESTART, vec![s(id), s(reason)])
    }

    fn mark(&mut self, id: String, status: String, reason: String) -> Result<(), Error> {
        self.typed(&f::MARK, vec![s(id), s(status), s(reason)])
    }

    fn touch(&mut self, id: String) -> Result<(), Error> {
        self.typed(&f::TOUCH, vec![s(id)])
    }

    fn pairing_code(&mut self, id: String, phone: String) -> Result<String, Error> {
        self.typed(&f::PAIRING_CODE, vec![s(id), s(phone)])
    }

    fn backup(&mut self, id: String) -> Result<String, Error> {
        self.typed(&f::BACKUP, vec![s(id)])
    }

    fn remove_orphan_folders(&mut self, min_age: String) -> Result<Vec<String>, Error> {
        self.typed(&f::REMOVE_ORPHAN_FOLDERS, vec![s(min_age)])
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
        let vars = self.json(&f::RAISE, &vars)?;
        self.typed(&f::RAISE, vec![s(key), s(severity), s(template), vars, s(repeat_after)])
    }

    fn resolve(&mut self, key: String) -> Result<bool, Error> {
        self.typed(&f::RESOLVE, vec![s(key)])
    }
}

impl email::Host for State {
    fn email(&mut self, to: String, template: String, vars: String) -> Result<i64, Error> {
        let vars = self.json(&f::EMAIL, &vars)?;
        self.typed(&f::EMAIL, vec![s(to), s(template), vars])
    }
}

impl host::Host for State {
    fn health(&mut self) -> Result<String, Error> {
        Ok(self.json_out(&f::HEALTH, vec![])?.unwrap_or_else(|| "null".into()))
    }

    fn prune_events(&mut self, older_than: String) -> Result<u64, Error> {
        self.typed(&f::PRUNE_EVENTS, vec![s(older_than)])
    }
}
