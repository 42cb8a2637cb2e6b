//! One loaded version of a plugin: its `Store` (memory limiter, epoch deadline), its instance,
//! `init`, and the handlers.
//!
//! Every call gets the behaviour's `run_budget` as an epoch deadline and runs under its
//! `max_memory`; a call past either, a trap, or a cut at shutdown ends that call only, and is
//! turned into a trace [`Outcome`] naming what stopped it. A trap leaves a component instance
//! unusable, so after one the plugin gets a fresh instance in a fresh store (memory reset,
//! `init` not run again: its triggers are still registered). State that must survive lives in
//! the host's kv, as for scripts.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use wasmtime::component::Component;
use wasmtime::{ResourceLimiter, Store, UpdateDeadline};

use super::bindings::exports::vigil::host::plugin as guest;
use super::bindings::{check_version, Behaviour};
use super::runtime::{CacheUse, Runtime};
use crate::behaviours::host_calls::HostCalls;
use crate::behaviours::input::{Input, TimerFire};
use crate::behaviours::loaded::Loaded;
use crate::behaviours::rhai::ScriptError;
use crate::behaviours::trace::Outcome;
use crate::behaviours::trigger::TriggerDecl;
use crate::config::Limits;
use crate::duration::format_duration;
use crate::events::Event;

/// What stopped a call, when it was the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Budget,
    Memory { wanted: usize },
    Shutdown,
}

/// Refuses memory growth past `max` (the call then traps), and remembers that it did.
struct MemoryLimit {
    max: usize,
    breached: Option<usize>,
}

impl ResourceLimiter for MemoryLimit {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.max {
            self.breached = Some(desired);
            return Err(wasmtime::format_err!(
                "memory limit: growing to {desired} bytes, past max_memory ({})",
                self.max
            ));
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

/// The data of a plugin's store: its API and the limits of the running call.
pub(crate) struct State {
    pub(crate) api: Arc<HostCalls>,
    limit: MemoryLimit,
    deadline: Option<Instant>,
    cut: Arc<AtomicBool>,
    stopped: Option<Stop>,
}

struct Instance {
    store: Store<State>,
    bindings: Behaviour,
}

/// A loaded plugin version.
pub struct Plugin {
    api: Arc<HostCalls>,
    path: PathBuf,
    runtime: Arc<Runtime>,
    component: Component,
    limits: Limits,
    cut: Arc<AtomicBool>,
    /// `None` after a failed re-instantiation (each call then reports it).
    instance: Mutex<Option<Instance>>,
    /// How the component was obtained (tests and benchmarks check the cache).
    pub cache: CacheUse,
    /// The triggers `init` declared.
    pub decls: Vec<TriggerDecl>,
}

impl Plugin {
    /// Compiles (or takes from the cache), checks the WIT version, instantiates, runs `init`.
    /// Blocking: call from a blocking thread.
    pub fn load(
        runtime: &Arc<Runtime>,
        path: &Path,
        bytes: &[u8],
        api: Arc<HostCalls>,
        limits: Limits,
        cache_dir: Option<&Path>,
    ) -> Result<Plugin, ScriptError> {
        let fail = |message: String| ScriptError { path: path.to_path_buf(), line: None, column: None, message };
        let (component, cache) = runtime
            .compile(bytes, cache_dir)
            .map_err(|e| fail(format!("not a valid WASM component: {}", first_line(&e))))?;
        check_version(&runtime.engine, &component).map_err(|m| fail(format!("refused: {m}")))?;
        let cut = Arc::new(AtomicBool::new(false));
        let mut instance = instantiate(runtime, &component, &api, &limits, &cut)
            .map_err(|e| fail(format!("cannot instantiate: {}", first_line(&e))))?;
        let result = run(&mut instance, &limits, |b, s| b.vigil_host_plugin().call_init(s));
        let decls = api.take_declared();
        api.end_run(); // init's calls are not a run
        match classify(&mut instance.store, result, &limits) {
            Outcome::Ok => {}
            other => return Err(fail(format!("init failed: {}", other.summary()))),
        }
        Ok(Plugin {
            api,
            path: path.to_path_buf(),
            runtime: runtime.clone(),
            component,
            limits,
            cut,
            instance: Mutex::new(Some(instance)),
            cache,
            decls,
        })
    }
}

fn instantiate(
    runtime: &Runtime,
    component: &Component,
    api: &Arc<HostCalls>,
    limits: &Limits,
    cut: &Arc<AtomicBool>,
) -> wasmtime::Result<Instance> {
    let state = State {
        api: api.clone(),
        limit: MemoryLimit { max: limits.max_memory, breached: None },
        deadline: None,
        cut: cut.clone(),
        stopped: None,
    };
    let mut store = Store::new(&runtime.engine, state);
    store.limiter(|s| &mut s.limit);
    store.epoch_deadline_callback(|mut cx| {
        let s = cx.data_mut();
        if s.cut.load(Ordering::Relaxed) {
            s.stopped = Some(Stop::Shutdown);
            return Ok(UpdateDeadline::Interrupt);
        }
        match s.deadline {
            Some(d) if Instant::now() >= d => {
                s.stopped = Some(Stop::Budget);
                Ok(UpdateDeadline::Interrupt)
            }
            _ => Ok(UpdateDeadline::Continue(1)),
        }
    });
    store.set_epoch_deadline(1);
    let bindings = Behaviour::instantiate(&mut store, component, &runtime.linker)?;
    Ok(Instance { store, bindings })
}

/// Runs `f` under the call's deadline and a fresh memory-breach record.
fn run<R>(
    instance: &mut Instance,
    limits: &Limits,
    f: impl FnOnce(&Behaviour, &mut Store<State>) -> wasmtime::Result<R>,
) -> wasmtime::Result<R> {
    let data = instance.store.data_mut();
    data.deadline = Some(Instant::now() + limits.run_budget.0);
    data.stopped = None;
    data.limit.breached = None;
    instance.store.set_epoch_deadline(1);
    let out = f(&instance.bindings, &mut instance.store);
    instance.store.data_mut().deadline = None;
    out
}

/// Turns a call's result into an outcome: the guest's own error, a limit, or a trap.
fn classify(store: &mut Store<State>, result: wasmtime::Result<Result<(), String>>, limits: &Limits) -> Outcome {
    let e = match result {
        Ok(Ok(())) => return Outcome::Ok,
        Ok(Err(message)) => return Outcome::Error { message, line: None, column: None },
        Err(e) => e,
    };
    let data = store.data();
    let stop = data.stopped.or(data.limit.breached.map(|wanted| Stop::Memory { wanted }));
    match stop {
        Some(Stop::Budget) => Outcome::Stopped {
            limit: format!("run_budget ({})", format_duration(limits.run_budget.0)),
            message: "the call ran past its deadline and was interrupted".into(),
            line: None,
            column: None,
        },
        Some(Stop::Memory { wanted }) => Outcome::Stopped {
            limit: format!("max_memory ({} bytes)", limits.max_memory),
            message: format!("the plugin tried to grow its memory to {wanted} bytes"),
            line: None,
            column: None,
        },
        Some(Stop::Shutdown) => Outcome::Stopped {
            limit: "shutdown".into(),
            message: "cut: the host is shutting down".into(),
            line: None,
            column: None,
        },
        None => Outcome::Error { message: format!("trap: {}", trap_text(&e)), line: None, column: None },
    }
}

/// The error's first line and, when there is one, the innermost wasm frames (a few).
fn trap_text(e: &wasmtime::Error) -> String {
    let mut text = e.to_string();
    if let Some(bt) = e.downcast_ref::<wasmtime::WasmBacktrace>() {
        let frames: Vec<String> =
            bt.frames().iter().take(4).filter_map(|f| f.func_name().map(|n| n.to_string())).collect();
        if !frames.is_empty() {
            text.push_str(&format!(" (in {})", frames.join(" < ")));
        }
    }
    if let Some(cause) = e.chain().nth(1) {
        text.push_str(&format!(": {cause}"));
    }
    text
}

fn first_line(e: &wasmtime::Error) -> String {
    format!("{e:#}").lines().next().unwrap_or_default().to_string()
}

fn timer_fire(t: &TimerFire) -> guest::TimerFire {
    guest::TimerFire {
        trigger: t.trigger.clone(),
        scheduled: t.scheduled.timestamp(),
        fired: t.fired.timestamp(),
        catch_up: t.catch_up,
    }
}

fn guest_event(e: &Event) -> guest::Event {
    guest::Event { event: e.name.clone(), source: e.source.clone(), at: e.at.timestamp(), data: e.data.to_string() }
}

impl Loaded for Plugin {
    fn api(&self) -> &Arc<HostCalls> {
        &self.api
    }

    fn decls(&self) -> &[TriggerDecl] {
        &self.decls
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::Relaxed);
    }

    fn compiled(&self) -> Option<&'static str> {
        Some(match self.cache {
            CacheUse::Compiled => "compiled",
            CacheUse::Cached => "cache",
        })
    }

    fn call(&self, handler: &str, input: &Input) -> Outcome {
        let mut slot = self.instance.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            match instantiate(&self.runtime, &self.component, &self.api, &self.limits, &self.cut) {
                Ok(i) => *slot = Some(i),
                Err(e) => {
                    return Outcome::Error {
                        message: format!("{}: cannot instantiate again: {}", self.path.display(), first_line(&e)),
                        line: None,
                        column: None,
                    }
                }
            }
        }
        let instance = slot.as_mut().expect("instance present");
        let result = match input {
            Input::Event(e) => {
                let ev = guest_event(e);
                run(instance, &self.limits, |b, s| b.vigil_host_plugin().call_on_event(s, handler, &ev))
            }
            Input::Timer(t) => {
                let fire = timer_fire(t);
                run(instance, &self.limits, |b, s| b.vigil_host_plugin().call_on_timer(s, handler, &fire))
            }
        };
        let trapped = result.is_err();
        let outcome = classify(&mut instance.store, result, &self.limits);
        if trapped {
            // A trapped instance cannot be entered again: the next call gets a fresh one.
            *slot = None;
        }
        outcome
    }
}
