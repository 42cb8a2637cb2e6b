//! Building a script's engine: limits, the wall-clock budget, and the host functions — every
//! shape of call each declaration of [`host_fns`] allows, with its doc comment (so
//! `Engine::definitions` can write `scripts/vigil.d.rhai`). The functions here only convert:
//! rhai values to the declaration's arguments, its result back to a rhai value.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use rhai::packages::{Package, StandardPackage};
use rhai::{Dynamic, Engine, EvalAltResult, FuncRegistration, Module, NativeCallContext, Shared};

use crate::behaviours::host_calls::{HostCalls, HostError};
use crate::behaviours::host_fns::docs::Param;
use crate::behaviours::host_fns::{self, HostFn, Out};
use crate::config::Limits;

type RhaiResult<T> = Result<T, Box<EvalAltResult>>;

/// The wall-clock budget of the current run, checked from rhai's progress callback.
#[derive(Default)]
pub(crate) struct RunDeadline {
    deadline: Mutex<Option<Instant>>,
    /// Set on shutdown once the grace time is over: the run is cut.
    pub(crate) cut: AtomicBool,
}

impl RunDeadline {
    pub(crate) fn start(&self, budget: Duration) {
        *self.deadline.lock().expect("budget") = Some(Instant::now() + budget);
    }

    pub(crate) fn stop(&self) {
        *self.deadline.lock().expect("budget") = None;
    }

    fn exceeded(&self) -> Option<&'static str> {
        if self.cut.load(Ordering::Relaxed) {
            return Some("shutdown");
        }
        match *self.deadline.lock().expect("budget") {
            Some(d) if Instant::now() >= d => Some("run_budget"),
            _ => None,
        }
    }
}

fn std_package() -> Shared<Module> {
    static PKG: OnceLock<Shared<Module>> = OnceLock::new();
    PKG.get_or_init(|| StandardPackage::new().as_shared_module()).clone()
}

/// An engine for one script version of behaviour `api.name()`.
pub(crate) fn build(api: &Arc<HostCalls>, limits: &Limits, budget: &Arc<RunDeadline>) -> Engine {
    let mut e = Engine::new_raw();
    e.register_global_module(std_package());
    e.set_max_operations(limits.max_operations);
    e.set_max_call_levels(limits.max_call_depth);
    e.set_max_string_size(limits.max_string_size);
    e.set_max_array_size(limits.max_array_size);
    e.set_max_map_size(limits.max_map_size);
    e.set_max_expr_depths(128, 64);
    e.disable_symbol("eval");
    let b = budget.clone();
    e.on_progress(move |ops| if ops % 256 == 0 { b.exceeded().map(Dynamic::from) } else { None });
    let a = api.clone();
    e.on_print(move |s| a.log("info", s));
    let a = api.clone();
    e.on_debug(move |s, _, _| a.log("debug", s));
    register(&mut e, api);
    e
}

/// The engine's host functions as rhai's metadata lists them (`state(id: String, timeout:
/// String) -> String`), for the parity test.
#[cfg(test)]
pub(crate) fn host_signatures(api: &Arc<HostCalls>) -> Vec<String> {
    let e = build(api, &Limits::default(), &Arc::new(RunDeadline::default()));
    e.gen_fn_signatures(false)
}

/// `scripts/vigil.d.rhai`: the host functions with their docs, as rhai's definitions.
pub(crate) fn definitions(api: &Arc<HostCalls>) -> String {
    let e = build(api, &Limits::default(), &Arc::new(RunDeadline::default()));
    e.definitions().include_standard_packages(false).single_file()
}

fn err(ctx: &NativeCallContext, e: HostError) -> Box<EvalAltResult> {
    EvalAltResult::ErrorRuntime(e.to_string().into(), ctx.call_position()).into()
}

/// A rhai value as the declaration's argument.
fn to_json(ctx: &NativeCallContext, api: &HostCalls, f: &HostFn, d: &Dynamic) -> RhaiResult<serde_json::Value> {
    rhai::serde::from_dynamic::<serde_json::Value>(d)
        .map_err(|e| err(ctx, api.invalid(f.name, format!("a {} cannot be passed to the host: {e}", d.type_name()))))
}

fn to_dynamic(v: serde_json::Value) -> Dynamic {
    rhai::serde::to_dynamic(v).unwrap_or(Dynamic::UNIT)
}

/// Runs declaration `f` with the arguments of one call of shape `shape`.
fn call(
    ctx: NativeCallContext,
    api: &HostCalls,
    f: &'static HostFn,
    shape: &[Param],
    given: Vec<Dynamic>,
) -> RhaiResult<Dynamic> {
    let mut values = vec![None; f.args.len()];
    let mut default = Dynamic::UNIT;
    for (param, d) in shape.iter().zip(given) {
        match param {
            Param::Arg(i) => values[*i] = Some(to_json(&ctx, api, f, &d)?),
            Param::Default => default = d,
            Param::Options => {
                let Some(map) = d.try_cast::<rhai::Map>() else {
                    let known = f.option_names().join(", ");
                    return Err(err(
                        &ctx,
                        api.invalid(f.name, format!("the last argument is the options map `#{{{known}}}`")),
                    ));
                };
                for (k, v) in map {
                    let Some(i) = f.position(&k).filter(|&i| f.args[i].presence == host_fns::Presence::Named) else {
                        let known = f.option_names().join(", ");
                        return Err(err(
                            &ctx,
                            api.invalid(f.name, format!("unknown option `{k}`: known options are {known}")),
                        ));
                    };
                    values[i] = Some(to_json(&ctx, api, f, &v)?);
                }
            }
        }
    }
    let out = f.invoke(api, values, ctx.call_position().line()).map_err(|e| err(&ctx, e))?;
    Ok(match out {
        Out::Unit => Dynamic::UNIT,
        Out::Nothing => default,
        Out::Bool(b) => b.into(),
        Out::Int(n) => n.into(),
        Out::Count(n) => i64::try_from(n).unwrap_or(i64::MAX).into(),
        Out::Str(s) => s.into(),
        Out::Json(v) => to_dynamic(v),
        Out::Names(names) => names.into_iter().map(Dynamic::from).collect::<rhai::Array>().into(),
        Out::Sessions(list) => to_dynamic(serde_json::to_value(list).unwrap_or_default()),
    })
}

/// Registers every shape of every declared host function, with its metadata.
fn register(e: &mut Engine, api: &Arc<HostCalls>) {
    for f in host_fns::all() {
        for shape in f.rhai_shapes() {
            let reg = FuncRegistration::new(f.name).with_params_info(f.params_info(&shape)).with_comments(f.comments());
            let (a, s) = (api.clone(), shape.clone());
            type D = Dynamic;
            match shape.len() {
                0 => reg.register_into_engine(e, move |x: NativeCallContext| call(x, &a, f, &s, vec![])),
                1 => reg.register_into_engine(e, move |x: NativeCallContext, p0: D| call(x, &a, f, &s, vec![p0])),
                2 => reg.register_into_engine(e, move |x: NativeCallContext, p0: D, p1: D| {
                    call(x, &a, f, &s, vec![p0, p1])
                }),
                3 => reg.register_into_engine(e, move |x: NativeCallContext, p0: D, p1: D, p2: D| {
                    call(x, &a, f, &s, vec![p0, p1, p2])
                }),
                4 => reg.register_into_engine(e, move |x: NativeCallContext, p0: D, p1: D, p2: D, p3: D| {
                    call(x, &a, f, &s, vec![p0, p1, p2, p3])
                }),
                5 => reg.register_into_engine(e, move |x: NativeCallContext, p0: D, p1: D, p2: D, p3: D, p4: D| {
                    call(x, &a, f, &s, vec![p0, p1, p2, p3, p4])
                }),
                n => {
                    tracing::error!(
                        "host function `{}` has a call shape of {n} parameters; the rhai binding takes up to 5",
                        f.name
                    );
                    continue;
                }
            };
        }
    }
}
