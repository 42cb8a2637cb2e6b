//! Building a script's engine: limits, the wall-clock budget, and the host functions.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use rhai::packages::{Package, StandardPackage};
use rhai::{Array, Dynamic, Engine, EvalAltResult, Map, Module, NativeCallContext, Shared};

use crate::behaviours::api::{Api, HostError, DEFAULT_PAGE_TIMEOUT};
use crate::behaviours::trigger::TriggerKind;
use crate::config::Limits;
use crate::duration::parse_duration;
use crate::scheduler::{Missed, TriggerSpec};

type RhaiResult<T> = Result<T, Box<EvalAltResult>>;

/// The wall-clock budget of the current run, checked from rhai's progress callback.
#[derive(Default)]
pub(crate) struct Budget {
    deadline: Mutex<Option<Instant>>,
    /// Set on shutdown once the grace time is over: the run is cut.
    pub(crate) cut: AtomicBool,
}

impl Budget {
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
pub(crate) fn build(api: &Arc<Api>, limits: &Limits, budget: &Arc<Budget>) -> Engine {
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

/// The names of the host functions a script engine offers, read from the engine itself (for
/// the test that every WIT function has its rhai twin and the other way round).
#[cfg(test)]
pub(crate) fn host_function_names(api: &Arc<Api>) -> std::collections::BTreeSet<String> {
    let e = build(api, &Limits::default(), &Arc::new(Budget::default()));
    e.gen_fn_signatures(false).iter().filter_map(|s| s.split('(').next()).map(str::to_string).collect()
}

fn err(ctx: &NativeCallContext, e: HostError) -> Box<EvalAltResult> {
    EvalAltResult::ErrorRuntime(e.to_string().into(), ctx.call_position()).into()
}

fn bad(ctx: &NativeCallContext, api: &Api, call: &str, message: String) -> Box<EvalAltResult> {
    EvalAltResult::ErrorRuntime(format!("behaviour `{}`: {call}: {message}", api.name()).into(), ctx.call_position())
        .into()
}

fn to_json(ctx: &NativeCallContext, api: &Api, call: &str, d: Dynamic) -> RhaiResult<serde_json::Value> {
    rhai::serde::from_dynamic::<serde_json::Value>(&d)
        .map_err(|e| bad(ctx, api, call, format!("value cannot be stored: {e}")))
}

fn to_dynamic(v: serde_json::Value) -> Dynamic {
    rhai::serde::to_dynamic(v).unwrap_or(Dynamic::UNIT)
}

fn timeout_arg(ctx: &NativeCallContext, api: &Api, call: &str, s: &str) -> RhaiResult<Duration> {
    parse_duration(s).map_err(|e| bad(ctx, api, call, e.to_string()))
}

fn line(ctx: &NativeCallContext) -> Option<usize> {
    ctx.call_position().line()
}

fn timer(
    ctx: &NativeCallContext,
    api: &Api,
    call: &'static str,
    spec: Result<TriggerSpec, String>,
    handler: &str,
) -> RhaiResult<()> {
    let spec = spec.map_err(|m| bad(ctx, api, call, m))?;
    api.declare(call, TriggerKind::Timer(spec), handler, line(ctx)).map_err(|e| err(ctx, e))
}

fn opt_str(ctx: &NativeCallContext, api: &Api, call: &str, opts: &Map, key: &str) -> RhaiResult<Option<String>> {
    match opts.get(key) {
        None => Ok(None),
        Some(v) if v.is_string() => Ok(Some(v.clone().into_string().expect("string"))),
        Some(v) => Err(bad(ctx, api, call, format!("option `{key}` must be a string, not {}", v.type_name()))),
    }
}

fn check_opts(ctx: &NativeCallContext, api: &Api, call: &str, opts: &Map, known: &[&str]) -> RhaiResult<()> {
    for k in opts.keys() {
        if !known.contains(&k.as_str()) {
            return Err(bad(ctx, api, call, format!("unknown option `{k}`: known options are {}", known.join(", "))));
        }
    }
    Ok(())
}

fn every(ctx: &NativeCallContext, api: &Api, spec: &str, handler: &str, opts: &Map) -> RhaiResult<()> {
    check_opts(ctx, api, "every", opts, &["first"])?;
    let first = opt_str(ctx, api, "every", opts, "first")?;
    timer(ctx, api, "every", TriggerSpec::every(spec, first.as_deref()).map_err(|e| e.to_string()), handler)
}

fn cron(ctx: &NativeCallContext, api: &Api, expr: &str, handler: &str, opts: &Map) -> RhaiResult<()> {
    check_opts(ctx, api, "cron", opts, &["tz", "missed"])?;
    let tz = opt_str(ctx, api, "cron", opts, "tz")?.unwrap_or_else(|| api.default_tz().name().to_string());
    let missed = match opt_str(ctx, api, "cron", opts, "missed")? {
        None => Missed::Skip,
        Some(m) => m.parse::<Missed>().map_err(|e| bad(ctx, api, "cron", e.to_string()))?,
    };
    timer(ctx, api, "cron", TriggerSpec::cron(expr, &tz, missed).map_err(|e| e.to_string()), handler)
}

fn session_map(s: crate::sessions::SessionInfo) -> Dynamic {
    to_dynamic(serde_json::json!({
        "id": s.id,
        "label": s.label,
        "phone": s.phone,
        "status": s.status.as_str(),
        "wa_state": s.wa_state,
        "last_seen": s.last_seen.map(|t| t.timestamp()),
        "owner": s.owner,
        "error": s.error,
        "running": s.running,
        "site_version": s.site_version,
        "healthy_site_version": s.healthy_site_version,
    }))
}

fn phone_arg(ctx: &NativeCallContext, api: &Api, to: Dynamic) -> RhaiResult<String> {
    if to.is_string() {
        Ok(to.into_string().expect("string"))
    } else if to.is_int() {
        Ok(to.as_int().expect("int").to_string())
    } else {
        Err(bad(
            ctx,
            api,
            "send_text",
            format!("the number must be a string such as \"+34 600 000 000\", not {}", to.type_name()),
        ))
    }
}

/// Registers every host function. Names are the host API's (see `plugins/wit/` once it lands).
fn register(e: &mut Engine, api: &Arc<Api>) {
    // log, clock, randomness, config
    let a = api.clone();
    e.register_fn("log", move |m: &str| a.log("info", m));
    let a = api.clone();
    e.register_fn("log", move |level: &str, m: &str| a.log(level, m));
    let a = api.clone();
    e.register_fn("now", move || a.now().timestamp());
    let a = api.clone();
    e.register_fn("now_ms", move || a.now().timestamp_millis());
    let a = api.clone();
    e.register_fn("duration", move |ctx: NativeCallContext, s: &str| -> RhaiResult<i64> {
        parse_duration(s).map(|d| d.as_secs() as i64).map_err(|x| bad(&ctx, &a, "duration", x.to_string()))
    });
    let a = api.clone();
    e.register_fn("random", move |ctx: NativeCallContext, min: i64, max: i64| -> RhaiResult<i64> {
        a.random(min, max).map_err(|x| err(&ctx, x))
    });
    let a = api.clone();
    e.register_fn("pick", move |items: Array| -> Dynamic {
        a.pick_index(items.len()).map(|i| items[i].clone()).unwrap_or(Dynamic::UNIT)
    });
    let a = api.clone();
    e.register_fn("config", move |key: &str| a.config(key).map(to_dynamic).unwrap_or(Dynamic::UNIT));
    let a = api.clone();
    e.register_fn("config", move |key: &str, default: Dynamic| a.config(key).map(to_dynamic).unwrap_or(default));

    // kv
    let a = api.clone();
    e.register_fn("kv_get", move |ctx: NativeCallContext, key: &str| -> RhaiResult<Dynamic> {
        Ok(a.kv_get(key).map_err(|x| err(&ctx, x))?.map(to_dynamic).unwrap_or(Dynamic::UNIT))
    });
    let a = api.clone();
    e.register_fn("kv_get", move |ctx: NativeCallContext, key: &str, default: Dynamic| -> RhaiResult<Dynamic> {
        Ok(a.kv_get(key).map_err(|x| err(&ctx, x))?.map(to_dynamic).unwrap_or(default))
    });
    let a = api.clone();
    e.register_fn("kv_set", move |ctx: NativeCallContext, key: &str, value: Dynamic| -> RhaiResult<()> {
        let v = to_json(&ctx, &a, "kv_set", value)?;
        a.kv_set(key, v).map_err(|x| err(&ctx, x))
    });
    let a = api.clone();
    e.register_fn("kv_delete", move |ctx: NativeCallContext, key: &str| -> RhaiResult<bool> {
        a.kv_delete(key).map_err(|x| err(&ctx, x))
    });

    // events
    let a = api.clone();
    e.register_fn("emit", move |ctx: NativeCallContext, name: &str| -> RhaiResult<()> {
        a.emit(name, serde_json::Value::Object(Default::default())).map_err(|x| err(&ctx, x))
    });
    let a = api.clone();
    e.register_fn("emit", move |ctx: NativeCallContext, name: &str, data: Dynamic| -> RhaiResult<()> {
        let v = to_json(&ctx, &a, "emit", data)?;
        a.emit(name, v).map_err(|x| err(&ctx, x))
    });
    let a = api.clone();
    e.register_fn("on", move |ctx: NativeCallContext, pattern: &str, handler: &str| -> RhaiResult<()> {
        if pattern.is_empty() || pattern.contains(char::is_whitespace) {
            return Err(bad(
                &ctx,
                &a,
                "on",
                format!("bad event pattern `{pattern}`: use a name (`session.ready`), a prefix (`session.*`) or `*`"),
            ));
        }
        a.declare("on", TriggerKind::Event(pattern.to_string()), handler, line(&ctx)).map_err(|x| err(&ctx, x))
    });

    // timers
    let a = api.clone();
    e.register_fn("every", move |ctx: NativeCallContext, spec: &str, handler: &str| {
        every(&ctx, &a, spec, handler, &Map::new())
    });
    let a = api.clone();
    e.register_fn("every", move |ctx: NativeCallContext, spec: &str, handler: &str, opts: Map| {
        every(&ctx, &a, spec, handler, &opts)
    });
    let a = api.clone();
    e.register_fn("cron", move |ctx: NativeCallContext, expr: &str, handler: &str| {
        cron(&ctx, &a, expr, handler, &Map::new())
    });
    let a = api.clone();
    e.register_fn("cron", move |ctx: NativeCallContext, expr: &str, handler: &str, opts: Map| {
        cron(&ctx, &a, expr, handler, &opts)
    });
    let a = api.clone();
    e.register_fn("after", move |ctx: NativeCallContext, delay: &str, handler: &str| {
        timer(&ctx, &a, "after", TriggerSpec::after(delay).map_err(|x| x.to_string()), handler)
    });

    // sessions
    let a = api.clone();
    e.register_fn("sessions", move |ctx: NativeCallContext| -> RhaiResult<Array> {
        Ok(a.sessions().map_err(|x| err(&ctx, x))?.into_iter().map(session_map).collect())
    });
    let a = api.clone();
    e.register_fn("state", move |ctx: NativeCallContext, id: &str| -> RhaiResult<String> {
        a.state(id, DEFAULT_PAGE_TIMEOUT).map_err(|x| err(&ctx, x))
    });
    let a = api.clone();
    e.register_fn("state", move |ctx: NativeCallContext, id: &str, timeout: &str| -> RhaiResult<String> {
        let t = timeout_arg(&ctx, &a, "state", timeout)?;
        a.state(id, t).map_err(|x| err(&ctx, x))
    });
    let a = api.clone();
    e.register_fn("ping", move |ctx: NativeCallContext, id: &str| -> RhaiResult<i64> {
        a.ping(id, DEFAULT_PAGE_TIMEOUT).map(|d| d.as_millis() as i64).map_err(|x| err(&ctx, x))
    });
    let a = api.clone();
    e.register_fn("ping", move |ctx: NativeCallContext, id: &str, timeout: &str| -> RhaiResult<i64> {
        let t = timeout_arg(&ctx, &a, "ping", timeout)?;
        a.ping(id, t).map(|d| d.as_millis() as i64).map_err(|x| err(&ctx, x))
    });
    let a = api.clone();
    e.register_fn(
        "send_text",
        move |ctx: NativeCallContext, id: &str, to: Dynamic, text: &str| -> RhaiResult<String> {
            let to = phone_arg(&ctx, &a, to)?;
            a.send_text(id, &to, text, None).map_err(|x| err(&ctx, x))
        },
    );
    let a = api.clone();
    e.register_fn(
        "send_text",
        move |ctx: NativeCallContext, id: &str, to: Dynamic, text: &str, key: &str| -> RhaiResult<String> {
            let to = phone_arg(&ctx, &a, to)?;
            a.send_text(id, &to, text, Some(key)).map_err(|x| err(&ctx, x))
        },
    );
    let a = api.clone();
    e.register_fn("activity", move |ctx: NativeCallContext, id: &str| -> RhaiResult<()> {
        a.activity(id).map_err(|x| err(&ctx, x))
    });
    let a = api.clone();
    e.register_fn("restart", move |ctx: NativeCallContext, id: &str, reason: &str| -> RhaiResult<()> {
        a.restart(id, reason).map_err(|x| err(&ctx, x))
    });
    let a = api.clone();
    e.register_fn("mark", move |ctx: NativeCallContext, id: &str, status: &str, reason: &str| -> RhaiResult<()> {
        a.mark(id, status, reason).map_err(|x| err(&ctx, x))
    });
    let a = api.clone();
    e.register_fn("pairing_code", move |ctx: NativeCallContext, id: &str, phone: &str| -> RhaiResult<String> {
        a.pairing_code(id, phone).map_err(|x| err(&ctx, x))
    });
    let a = api.clone();
    e.register_fn("backup", move |ctx: NativeCallContext, id: &str| -> RhaiResult<String> {
        a.backup(id).map_err(|x| err(&ctx, x))
    });

    // alerts, email, host
    let a = api.clone();
    e.register_fn(
        "raise",
        move |ctx: NativeCallContext,
              key: &str,
              severity: &str,
              template: &str,
              vars: Dynamic,
              repeat_after: &str|
              -> RhaiResult<String> {
            let vars = to_json(&ctx, &a, "raise", vars)?;
            let repeat = timeout_arg(&ctx, &a, "raise", repeat_after)?;
            a.raise(key, severity, template, vars, repeat).map(str::to_string).map_err(|x| err(&ctx, x))
        },
    );
    let a = api.clone();
    e.register_fn("resolve", move |ctx: NativeCallContext, key: &str| -> RhaiResult<bool> {
        a.resolve(key).map_err(|x| err(&ctx, x))
    });
    let a = api.clone();
    e.register_fn("email", move |ctx: NativeCallContext, to: &str, template: &str, vars: Dynamic| -> RhaiResult<i64> {
        let vars = to_json(&ctx, &a, "email", vars)?;
        a.email(to, template, vars).map_err(|x| err(&ctx, x))
    });
    let a = api.clone();
    e.register_fn("resources", move |ctx: NativeCallContext, id: &str| -> RhaiResult<Dynamic> {
        a.resources(id).map(to_dynamic).map_err(|x| err(&ctx, x))
    });
    let a = api.clone();
    e.register_fn("health", move |ctx: NativeCallContext| -> RhaiResult<Dynamic> {
        a.health().map(to_dynamic).map_err(|x| err(&ctx, x))
    });
    let a = api.clone();
    e.register_fn("prune_events", move |ctx: NativeCallContext, older_than: &str| -> RhaiResult<i64> {
        let d = timeout_arg(&ctx, &a, "prune_events", older_than)?;
        a.prune_events(d).map(|n| n as i64).map_err(|x| err(&ctx, x))
    });
    let a = api.clone();
    e.register_fn("remove_orphan_folders", move |ctx: NativeCallContext, min_age: &str| -> RhaiResult<Array> {
        let d = timeout_arg(&ctx, &a, "remove_orphan_folders", min_age)?;
        Ok(a.remove_orphan_folders(d).map_err(|x| err(&ctx, x))?.into_iter().map(Dynamic::from).collect())
    });
    let a = api.clone();
    e.register_fn("touch", move |ctx: NativeCallContext, id: &str| -> RhaiResult<()> {
        a.touch(id).map_err(|x| err(&ctx, x))
    });
}
