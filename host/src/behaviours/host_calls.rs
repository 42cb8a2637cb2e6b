//! The host API as Rust functions, binding-neutral: what each host function does once its
//! declaration ([`super::host_fns`]) has checked the grant and the arguments. Every call is
//! recorded in the running trace and returns a [`HostError`] that names the behaviour and what
//! it tried — host functions never panic. The bindings reach these only through the
//! declarations, so no call skips its grant check.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::trace::{CallRecord, MAX_CALLS};
use super::trigger::{TriggerDecl, TriggerKind};
use crate::alerts::Alerts;
use crate::clock::Clock;
use crate::config::Capability;
use crate::events::{Event, EventBus, MAX_EVENT_DEPTH};
use crate::scheduler::TriggerSpec;
use crate::sessions::{SessionError, SessionId, SessionInfo, SessionStatus, Sessions};
use crate::store::Store;

/// What host calls fail with.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error(
        "behaviour `{behaviour}` may not call `{call}`: it needs the capability `{capability}`; \
         grant it in vigil.toml under [behaviours.{behaviour}] with grants = [\"{capability}\"]"
    )]
    NotGranted { behaviour: String, call: &'static str, capability: Capability },
    #[error("behaviour `{behaviour}`: {call}: {source}")]
    Session { behaviour: String, call: &'static str, source: SessionError },
    #[error("behaviour `{behaviour}`: {call}: {message}")]
    Invalid { behaviour: String, call: &'static str, message: String },
    #[error("behaviour `{behaviour}`: {call}: {message}")]
    Store { behaviour: String, call: &'static str, message: String },
    #[error("behaviour `{behaviour}`: {call}: {message}")]
    Alert { behaviour: String, call: &'static str, message: String },
}

/// The host's services, shared by every behaviour.
#[derive(Clone)]
pub struct Services {
    pub clock: Clock,
    pub store: Store,
    pub alerts: Arc<Alerts>,
    pub sessions: Arc<dyn Sessions>,
    pub bus: EventBus,
    /// Runs the async services from the blocking threads scripts run on.
    pub rt: tokio::runtime::Handle,
    /// Timezone of cron triggers that name none.
    pub default_tz: chrono_tz::Tz,
    pub seed: Option<u64>,
    /// The data volume (for `health`'s free space).
    pub data_dir: std::path::PathBuf,
}

impl Services {
    /// Services with no sessions, a throwaway in-memory store and no SMTP, on the current
    /// runtime: for `vigil check`, tests and benchmarks.
    pub async fn sandbox(config: &crate::config::Config) -> Services {
        let store = Store::memory().await;
        let sessions: Arc<dyn Sessions> = Arc::new(crate::sessions::NoSessions);
        Services {
            clock: Clock::system(),
            alerts: Arc::new(Alerts::new(
                store.clone(),
                config.alerts.clone(),
                config.templates_dir(),
                sessions.clone(),
                Clock::system(),
                config.timezone.0,
            )),
            store,
            sessions,
            bus: EventBus::new(),
            rt: tokio::runtime::Handle::current(),
            default_tz: config.timezone.0,
            seed: Some(0),
            data_dir: config.data_dir.clone(),
        }
    }
}

/// Where a behaviour is: running its top level, or a handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Loading,
    Running { event_depth: u32 },
}

struct RunState {
    phase: Phase,
    /// Triggers registered by the top level (loading) or one-shots added by a handler.
    declared: Vec<TriggerDecl>,
    calls: Vec<CallRecord>,
    calls_dropped: usize,
}

/// One behaviour's view of the host API.
pub struct HostCalls {
    name: Arc<str>,
    grants: Vec<Capability>,
    params: serde_json::Map<String, serde_json::Value>,
    svc: Services,
    rng: Mutex<StdRng>,
    run: Mutex<RunState>,
}

impl HostCalls {
    pub fn new(name: &str, grants: Vec<Capability>, params: &toml::Table, svc: Services) -> Arc<HostCalls> {
        let rng = match svc.seed {
            Some(seed) => StdRng::seed_from_u64(seed ^ fnv1a(name.as_bytes())),
            None => StdRng::from_entropy(),
        };
        let params = serde_json::to_value(params).ok().and_then(|v| v.as_object().cloned()).unwrap_or_default();
        Arc::new(HostCalls {
            name: name.into(),
            grants,
            params,
            svc,
            rng: Mutex::new(rng),
            run: Mutex::new(RunState {
                phase: Phase::Loading,
                declared: Vec::new(),
                calls: Vec::new(),
                calls_dropped: 0,
            }),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The host's services, for the runner's own work (the suspension alert); never handed to a
    /// behaviour, which reaches the host only through the capability-checked functions below.
    pub(crate) fn services(&self) -> &Services {
        &self.svc
    }

    /// The run's bookkeeping. A run that panicked while holding the lock leaves it poisoned;
    /// the bookkeeping stays usable (host functions never panic).
    fn run_state(&self) -> std::sync::MutexGuard<'_, RunState> {
        self.run.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    // ----- bookkeeping used by the runner -------------------------------------------------

    /// Starts a handler run: clears the recorded calls.
    pub(crate) fn begin_run(&self, event_depth: u32) {
        let mut r = self.run_state();
        r.phase = Phase::Running { event_depth };
        r.calls.clear();
        r.calls_dropped = 0;
        r.declared.clear();
    }

    /// Ends a run: the calls it made and the one-shot triggers it added.
    pub(crate) fn end_run(&self) -> (Vec<CallRecord>, usize, Vec<TriggerDecl>) {
        let mut r = self.run_state();
        (std::mem::take(&mut r.calls), std::mem::take(&mut r.calls_dropped), std::mem::take(&mut r.declared))
    }

    fn record(&self, call: &str, detail: String, ok: bool) {
        let mut r = self.run_state();
        if r.calls.len() < MAX_CALLS {
            r.calls.push(CallRecord { call: call.into(), detail, ok });
        } else {
            r.calls_dropped += 1;
        }
    }

    /// Refuses a call without its grant (recorded in the trace); [`super::host_fns`] asks it.
    pub(crate) fn require(&self, call: &'static str, capability: Capability) -> Result<(), HostError> {
        if self.grants.contains(&capability) {
            Ok(())
        } else {
            self.record(call, format!("refused: needs `{capability}`"), false);
            Err(HostError::NotGranted { behaviour: self.name.to_string(), call, capability })
        }
    }

    /// An `invalid` error of `call`: the one place the behaviour's name is put before the message.
    pub(crate) fn invalid(&self, call: &'static str, message: impl Into<String>) -> HostError {
        HostError::Invalid { behaviour: self.name.to_string(), call, message: message.into() }
    }

    fn session_call<T>(
        &self,
        call: &'static str,
        detail: String,
        fut: impl std::future::Future<Output = Result<T, SessionError>>,
    ) -> Result<T, HostError> {
        let out = self.svc.rt.block_on(fut);
        self.record(call, detail, out.is_ok());
        out.map_err(|source| HostError::Session { behaviour: self.name.to_string(), call, source })
    }

    // ----- triggers ---------------------------------------------------------------------

    /// `every`, `cron`, `after`, `on`. Timers other than `after` and event subscriptions are
    /// registered by the top level only.
    pub(crate) fn declare(
        &self,
        call: &'static str,
        kind: TriggerKind,
        handler: &str,
        line: Option<usize>,
    ) -> Result<(), HostError> {
        let mut r = self.run_state();
        let one_shot = matches!(kind, TriggerKind::Timer(TriggerSpec::After { .. }));
        if r.phase != Phase::Loading && !one_shot {
            return Err(self.invalid(
                call,
                format!("`{call}` registers a trigger and only works at the top level of the script, not inside a handler (only `after` does)"),
            ));
        }
        r.declared.push(TriggerDecl { kind, handler: handler.to_string(), line });
        Ok(())
    }

    /// The triggers the top level declared; called once after loading.
    pub(crate) fn take_declared(&self) -> Vec<TriggerDecl> {
        std::mem::take(&mut self.run_state().declared)
    }

    pub(crate) fn default_tz(&self) -> chrono_tz::Tz {
        self.svc.default_tz
    }

    // ----- clock, randomness, log, config -------------------------------------------------

    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.svc.clock.now()
    }

    /// A uniform integer in `[min, max]`.
    pub(crate) fn random(&self, min: i64, max: i64) -> Result<i64, HostError> {
        if min > max {
            return Err(
                self.invalid("random", format!("the range {min}..{max} is backwards: give the smaller number first"))
            );
        }
        Ok(self.rng.lock().unwrap_or_else(std::sync::PoisonError::into_inner).gen_range(min..=max))
    }

    /// A uniform index below `len` (for `pick`); `None` when `len` is 0.
    pub(crate) fn pick_index(&self, len: usize) -> Option<usize> {
        (len > 0).then(|| self.rng.lock().unwrap_or_else(std::sync::PoisonError::into_inner).gen_range(0..len))
    }

    pub(crate) fn log(&self, level: &str, message: &str) {
        let b = &*self.name;
        match level {
            "error" => tracing::error!(behaviour = b, "{message}"),
            "warn" | "warning" => tracing::warn!(behaviour = b, "{message}"),
            "debug" => tracing::debug!(behaviour = b, "{message}"),
            _ => tracing::info!(behaviour = b, "{message}"),
        }
        self.record("log", truncate(message, 120), true);
    }

    /// `config(key)`: the behaviour's own `[behaviours.<name>.params]`.
    pub(crate) fn config(&self, key: &str) -> Option<serde_json::Value> {
        self.params.get(key).cloned()
    }

    // ----- kv --------------------------------------------------------------------------

    pub(crate) fn kv_get(&self, key: &str) -> Result<Option<serde_json::Value>, HostError> {
        let out = self.svc.rt.block_on(self.svc.store.kv_get(&self.name, key));
        self.record("kv_get", key.to_string(), out.is_ok());
        out.map_err(|e| HostError::Store { behaviour: self.name.to_string(), call: "kv_get", message: e.to_string() })
    }

    pub(crate) fn kv_set(&self, key: &str, value: serde_json::Value) -> Result<(), HostError> {
        let out = self.svc.rt.block_on(self.svc.store.kv_set(&self.name, key, value));
        self.record("kv_set", key.to_string(), out.is_ok());
        out.map_err(|e| HostError::Store { behaviour: self.name.to_string(), call: "kv_set", message: e.to_string() })
    }

    pub(crate) fn kv_delete(&self, key: &str) -> Result<bool, HostError> {
        let out = self.svc.rt.block_on(self.svc.store.kv_delete(&self.name, key));
        self.record("kv_delete", key.to_string(), out.is_ok());
        out.map_err(|e| HostError::Store {
            behaviour: self.name.to_string(),
            call: "kv_delete",
            message: e.to_string(),
        })
    }

    // ----- events ----------------------------------------------------------------------

    /// `emit(event, data)`: publishes on the event bus, one level deeper than the event that
    /// triggered this run (dropped past [`MAX_EVENT_DEPTH`]).
    pub(crate) fn emit(&self, name: &str, data: serde_json::Value) -> Result<(), HostError> {
        if name.is_empty() || name.contains(char::is_whitespace) || name.contains('*') {
            return Err(self.invalid(
                "emit",
                format!("bad event name `{name}`: use a dotted name without spaces or `*`, e.g. `keepalive.sent`"),
            ));
        }
        let depth = match self.run_state().phase {
            Phase::Running { event_depth } => event_depth + 1,
            Phase::Loading => 1,
        };
        if depth > MAX_EVENT_DEPTH {
            tracing::warn!(
                behaviour = &*self.name,
                event = name,
                "event dropped: handlers triggered each other more than {MAX_EVENT_DEPTH} deep"
            );
            self.record("emit", format!("{name} dropped (too deep)"), false);
            return Ok(());
        }
        self.svc.bus.publish(Event { name: name.into(), source: self.name.to_string(), at: self.now(), data, depth });
        self.record("emit", name.to_string(), true);
        Ok(())
    }

    // ----- sessions --------------------------------------------------------------------

    pub(crate) fn sessions(&self) -> Result<Vec<SessionInfo>, HostError> {
        self.session_call("sessions", String::new(), self.svc.sessions.list())
    }

    // A behaviour's session ids come in as strings: each call parses its id (a bad one is
    // the call's error, recorded like any other).

    pub(crate) fn state(&self, id: &str, timeout: Duration) -> Result<String, HostError> {
        let s = &self.svc.sessions;
        self.session_call("state", id.to_string(), async { s.state(&SessionId::parse(id)?, timeout).await })
    }

    pub(crate) fn ping(&self, id: &str, timeout: Duration) -> Result<Duration, HostError> {
        let s = &self.svc.sessions;
        self.session_call("ping", id.to_string(), async { s.ping(&SessionId::parse(id)?, timeout).await })
    }

    /// `resources(id)`: the last measurement of the session's browser, `null` when none.
    pub(crate) fn resources(&self, id: &str) -> Result<serde_json::Value, HostError> {
        let sessions = self.svc.sessions.clone();
        let known = async {
            let id = SessionId::parse(id)?;
            if sessions.list().await?.iter().any(|s| s.id == id) {
                Ok(sessions.resources(&id))
            } else {
                Err(SessionError::NotFound(id.into()))
            }
        };
        let r = self.session_call("resources", id.to_string(), known)?;
        Ok(r.map(|r| serde_json::to_value(r).unwrap_or_default()).unwrap_or(serde_json::Value::Null))
    }

    pub(crate) fn send_text(&self, id: &str, to: &str, text: &str, key: Option<&str>) -> Result<String, HostError> {
        let wid = crate::sessions::phone::to_wid(to).map_err(|source| HostError::Session {
            behaviour: self.name.to_string(),
            call: "send_text",
            source,
        })?;
        self.session_call("send_text", format!("{id} -> {wid}: {}", truncate(text, 60)), async {
            self.svc.sessions.send_text(&SessionId::parse(id)?, &wid, text, key).await
        })
    }

    pub(crate) fn activity(&self, id: &str) -> Result<(), HostError> {
        let s = &self.svc.sessions;
        self.session_call("activity", id.to_string(), async { s.activity(&SessionId::parse(id)?).await })
    }

    pub(crate) fn restart(&self, id: &str, reason: &str) -> Result<(), HostError> {
        let s = &self.svc.sessions;
        let call = async { s.restart(&SessionId::parse(id)?, reason).await };
        self.session_call("restart", format!("{id}: {reason}"), call)
    }

    pub(crate) fn mark(&self, id: &str, status: &str, reason: &str) -> Result<(), HostError> {
        let status: SessionStatus = status.parse().map_err(|source| HostError::Session {
            behaviour: self.name.to_string(),
            call: "mark",
            source,
        })?;
        let s = &self.svc.sessions;
        let call = async { s.mark(&SessionId::parse(id)?, status, reason).await };
        self.session_call("mark", format!("{id} -> {status}: {reason}"), call)
    }

    /// `pairing_code(id, phone)`: starts linking the session by phone number; the code to
    /// type on the phone (renewed while unlinked: `session.pairing_code`).
    pub(crate) fn pairing_code(&self, id: &str, phone: &str) -> Result<String, HostError> {
        let s = &self.svc.sessions;
        let call = async { s.pairing_code(&SessionId::parse(id)?, phone).await };
        self.session_call("pairing_code", format!("{id} for {phone}"), call)
    }

    pub(crate) fn backup(&self, id: &str) -> Result<String, HostError> {
        let s = &self.svc.sessions;
        self.session_call("backup", id.to_string(), async { s.backup(&SessionId::parse(id)?).await })
    }

    /// `remove_orphan_folders(min_age)`: removes the session folders that belong to no session
    /// ([`Sessions::remove_orphan_folders`]: only the sessions know their folders); returns
    /// their ids. A host that runs no browsers knows no folders and removes nothing.
    pub(crate) fn remove_orphan_folders(&self, min_age: Duration) -> Result<Vec<String>, HostError> {
        const CALL: &str = "remove_orphan_folders";
        let swept = match self.svc.rt.block_on(self.svc.sessions.remove_orphan_folders(min_age)) {
            Ok(Some(s)) => s,
            Ok(None) => {
                self.record(CALL, "skipped: this host runs no sessions, so it cannot tell an orphan".into(), true);
                return Ok(Vec::new());
            }
            Err(source) => {
                self.record(CALL, source.to_string(), false);
                return Err(HostError::Session { behaviour: self.name.to_string(), call: CALL, source });
            }
        };
        let detail = if swept.removed.is_empty() { "none".to_string() } else { swept.removed.join(", ") };
        self.record(CALL, detail, swept.failed.is_empty());
        if !swept.failed.is_empty() {
            return Err(HostError::Invalid {
                behaviour: self.name.to_string(),
                call: CALL,
                message: format!(
                    "removed {:?} but could not remove {}: check the folders' owner and permissions (the host's user \
                     must be able to write them)",
                    swept.removed,
                    swept.failed.join("; ")
                ),
            });
        }
        Ok(swept.removed)
    }

    pub(crate) fn touch(&self, id: &str) -> Result<(), HostError> {
        let s = &self.svc.sessions;
        self.session_call("touch", id.to_string(), async { s.touch(&SessionId::parse(id)?).await })
    }
}

impl HostCalls {
    // ----- alerts, email, host --------------------------------------------------------

    fn alert_call<T>(
        &self,
        call: &'static str,
        detail: String,
        fut: impl std::future::Future<Output = Result<T, crate::alerts::AlertError>>,
    ) -> Result<T, HostError> {
        let out = self.svc.rt.block_on(fut);
        self.record(call, detail, out.is_ok());
        out.map_err(|e| HostError::Alert { behaviour: self.name.to_string(), call, message: e.to_string() })
    }

    /// `raise(key, severity, template, vars, repeat_after)`: `queued` or `deduplicated`.
    pub(crate) fn raise(
        &self,
        key: &str,
        severity: &str,
        template: &str,
        vars: serde_json::Value,
        repeat_after: Duration,
    ) -> Result<&'static str, HostError> {
        let out = self.alert_call(
            "raise",
            format!("{key} ({severity}, {template})"),
            self.svc.alerts.raise(key, severity, template, &vars, repeat_after),
        )?;
        Ok(match out {
            crate::store::alerts::Raised::Queued { .. } => "queued",
            crate::store::alerts::Raised::Deduplicated { .. } => "deduplicated",
        })
    }

    /// `resolve(key)`: whether a "resolved" notice was queued.
    pub(crate) fn resolve(&self, key: &str) -> Result<bool, HostError> {
        self.alert_call("resolve", key.to_string(), self.svc.alerts.resolve(key))
    }

    /// `email(to, template, vars)`: a templated email; `to` empty → the default recipients.
    pub(crate) fn email(&self, to: &str, template: &str, vars: serde_json::Value) -> Result<i64, HostError> {
        let to = (!to.is_empty()).then_some(to);
        self.alert_call(
            "email",
            format!("{template} -> {}", to.unwrap_or("(default)")),
            self.svc.alerts.email(to, template, &vars, None),
        )
    }

    /// `health()`: the store's round trip and the data volume's free space.
    pub(crate) fn health(&self) -> Result<serde_json::Value, HostError> {
        let store = self.svc.rt.block_on(self.svc.store.ping());
        let free = crate::fsutil::free_bytes(&self.svc.data_dir);
        self.record("health", String::new(), true);
        Ok(serde_json::json!({
            "store_ok": store.is_ok(),
            "store_ms": store.as_ref().map(|d| d.as_secs_f64() * 1e3).unwrap_or(-1.0),
            "store_error": store.err().map(|e| e.to_string()),
            "disk_free_bytes": free.map(|b| b as i64).unwrap_or(-1),
        }))
    }

    /// `prune_events(older_than)`: deletes stored events older than that; returns how many.
    pub(crate) fn prune_events(&self, older_than: Duration) -> Result<u64, HostError> {
        let before = self.now() - chrono::Duration::from_std(older_than).unwrap_or_default();
        let out = self.svc.rt.block_on(self.svc.store.prune_events(before));
        self.record("prune_events", format!("before {before}"), out.is_ok());
        out.map_err(|e| HostError::Store {
            behaviour: self.name.to_string(),
            call: "prune_events",
            message: e.to_string(),
        })
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    }
}

/// A stable 64-bit hash (seeds must not depend on the process's random hasher).
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ *b as u64).wrapping_mul(0x0100_0000_01b3))
}
