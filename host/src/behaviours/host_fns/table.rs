//! The declarations of the host functions that need no session: logging, the clock, config,
//! kv, events, triggers, alerts, email and housekeeping (the sessions' are in
//! [`super::table_sessions`]).

use super::Ty::*;
use super::{named, req, rhai_opt, HostFn, Out, Ret, BASE};
use crate::behaviours::trigger::TriggerKind;
use crate::config::Capability;
use crate::scheduler::{Missed, TriggerSpec};

pub(super) static ALL: &[&HostFn] = &[
    &LOG,
    &NOW,
    &NOW_MS,
    &DURATION,
    &RANDOM,
    &PICK,
    &CONFIG,
    &KV_GET,
    &KV_SET,
    &KV_DELETE,
    &EMIT,
    &EVERY,
    &CRON,
    &AFTER,
    &ON,
    &RAISE,
    &RESOLVE,
    &EMAIL,
    &HEALTH,
    &PRUNE_EVENTS,
];

pub(crate) static LOG: HostFn = HostFn {
    name: "log",
    interface: "log",
    args: &[rhai_opt("level", Level, "info"), req("message", Str)],
    fallible: false,
    doc: "Writes `message` to the host's log at `level` (`debug`, `info` (the default), `warn`, `error`), \
          tagged with the behaviour's name, and records it in the run's trace. `print` logs at `info`.",
    call: |a| {
        a.api().log(&a.str(0)?, &a.str(1)?);
        Ok(Out::Unit)
    },
    ..BASE
};

pub(crate) static NOW: HostFn = HostFn {
    name: "now",
    interface: "clock",
    ret: Ret::Value(Int),
    fallible: false,
    doc: "Now, as Unix seconds (the host's clock: paused in tests).",
    call: |a| Ok(Out::Int(a.api().now().timestamp())),
    ..BASE
};

pub(crate) static NOW_MS: HostFn = HostFn {
    name: "now_ms",
    interface: "clock",
    ret: Ret::Value(Int),
    fallible: false,
    doc: "Now, as Unix milliseconds.",
    call: |a| Ok(Out::Int(a.api().now().timestamp_millis())),
    ..BASE
};

pub(crate) static DURATION: HostFn = HostFn {
    name: "duration",
    interface: "clock",
    args: &[req("text", Duration)],
    ret: Ret::Value(Count),
    doc: "The number of seconds in a duration: `\"30s\"`, `\"2m\"`, `\"1h30m\"`, `\"5d\"`. Fails on text that is \
          not a duration.",
    call: |a| Ok(Out::Count(a.duration(0)?.as_secs())),
    ..BASE
};

pub(crate) static RANDOM: HostFn = HostFn {
    name: "random",
    interface: "clock",
    args: &[req("min", Int), req("max", Int)],
    ret: Ret::Value(Int),
    doc: "A uniform integer in `[min, max]`, both included (seeded when `seed` is set). Fails when `min > max`.",
    call: |a| Ok(Out::Int(a.api().random(a.int(0)?, a.int(1)?)?)),
    ..BASE
};

pub(crate) static PICK: HostFn = HostFn {
    name: "pick",
    interface: "clock",
    args: &[req("items", Items)],
    ret: Ret::Maybe(Item),
    fallible: false,
    doc: "A uniformly chosen element of `items`; `()` when the array is empty.",
    call: |a| {
        let items = a.items(0)?;
        Ok(match a.api().pick_index(items.len()) {
            Some(i) => Out::Json(items.into_iter().nth(i).unwrap_or_default()),
            None => Out::Nothing,
        })
    },
    ..BASE
};

pub(crate) static CONFIG: HostFn = HostFn {
    name: "config",
    interface: "config",
    args: &[req("key", Str)],
    ret: Ret::Maybe(Json),
    fallible: false,
    rhai_default: true,
    doc: "The behaviour's parameter `key` (`[behaviours.<name>.params]` in vigil.toml); `()` when unset, or \
          `default` when given.",
    call: |a| Ok(a.api().config(&a.str(0)?).map_or(Out::Nothing, Out::Json)),
    ..BASE
};

pub(crate) static KV_GET: HostFn = HostFn {
    name: "kv_get",
    interface: "kv",
    args: &[req("key", Str)],
    ret: Ret::Maybe(Json),
    rhai_default: true,
    doc: "The value this behaviour stored under `key` (persisted: it survives reloads and restarts); `()` when \
          none, or `default` when given.",
    call: |a| Ok(a.api().kv_get(&a.str(0)?)?.map_or(Out::Nothing, Out::Json)),
    ..BASE
};

pub(crate) static KV_SET: HostFn = HostFn {
    name: "kv_set",
    interface: "kv",
    args: &[req("key", Str), req("value", Json)],
    doc: "Stores `value` (anything JSON can hold) under `key`, replacing what was there. Keys are private to the \
          behaviour.",
    call: |a| {
        a.api().kv_set(&a.str(0)?, a.json(1)?)?;
        Ok(Out::Unit)
    },
    ..BASE
};

pub(crate) static KV_DELETE: HostFn = HostFn {
    name: "kv_delete",
    interface: "kv",
    args: &[req("key", Str)],
    ret: Ret::Value(Bool),
    doc: "Removes `key`; `true` if it existed.",
    call: |a| Ok(Out::Bool(a.api().kv_delete(&a.str(0)?)?)),
    ..BASE
};

pub(crate) static EMIT: HostFn = HostFn {
    name: "emit",
    interface: "events",
    args: &[req("event", Str), rhai_opt("data", Json, "{}")],
    doc: "Publishes `event` (a dotted name without spaces or `*`, e.g. `keepalive.sent`) with `data` (a map, \
          default `#{}`) as coming from this behaviour. Events that handlers emit to each other are dropped past \
          a depth of 8.",
    call: |a| {
        a.api().emit(&a.str(0)?, a.json(1)?)?;
        Ok(Out::Unit)
    },
    ..BASE
};

/// Registers the timer trigger `spec` for handler argument `handler`.
fn timer(
    a: &super::Args,
    spec: Result<TriggerSpec, impl std::fmt::Display>,
    handler: usize,
) -> Result<Out, super::HostError> {
    let spec = spec.map_err(|e| a.invalid(e.to_string()))?;
    a.api().declare(a.call(), TriggerKind::Timer(spec), &a.str(handler)?, a.line())?;
    Ok(Out::Unit)
}

pub(crate) static EVERY: HostFn = HostFn {
    name: "every",
    interface: "triggers",
    args: &[req("spec", Str), req("handler", Str), named("first", Str, None)],
    doc: "Runs `handler` at a jittered interval: `spec` is `\"55m..65m\"` or `\"1h\"`; the first fire comes after \
          `first` (`\"1m..10m\"`) when given, else after one interval. Top level only.",
    call: |a| timer(a, TriggerSpec::every(&a.str(0)?, a.opt_str(2)?.as_deref()), 1),
    ..BASE
};

pub(crate) static CRON: HostFn = HostFn {
    name: "cron",
    interface: "triggers",
    args: &[req("expr", Str), req("handler", Str), named("tz", Str, None), named("missed", Str, Some("skip"))],
    doc: "Runs `handler` on a cron expression (`\"0 2 * * *\"`, 5 or 6 fields) in timezone `tz` (IANA, default \
          the host's `timezone`); `missed` is `\"skip\"` (default) or `\"run_once\"`: what to do about fires missed \
          while the host was down. Top level only.",
    call: |a| {
        let tz = a.opt_str(2)?.unwrap_or_else(|| a.api().default_tz().name().to_string());
        let missed = a.str(3)?.parse::<Missed>().map_err(|e| a.invalid(e.to_string()))?;
        timer(a, TriggerSpec::cron(&a.str(0)?, &tz, missed), 1)
    },
    ..BASE
};

pub(crate) static AFTER: HostFn = HostFn {
    name: "after",
    interface: "triggers",
    args: &[req("delay", Str), req("handler", Str)],
    doc: "Runs `handler` once, `delay` (`\"5m\"`) from now; also from inside a handler.",
    call: |a| timer(a, TriggerSpec::after(&a.str(0)?), 1),
    ..BASE
};

pub(crate) static ON: HostFn = HostFn {
    name: "on",
    interface: "triggers",
    args: &[req("pattern", Str), req("handler", Str)],
    doc: "Runs `handler` for every event whose name matches `pattern`: exact (`session.ready`), a prefix \
          (`session.*`) or everything (`*`). Top level only.",
    call: |a| {
        let pattern = a.str(0)?;
        if pattern.is_empty() || pattern.contains(char::is_whitespace) {
            return Err(a.invalid(format!(
                "bad event pattern `{pattern}`: use a name (`session.ready`), a prefix (`session.*`) or `*`"
            )));
        }
        a.api().declare("on", TriggerKind::Event(pattern), &a.str(1)?, a.line())?;
        Ok(Out::Unit)
    },
    ..BASE
};

pub(crate) static RAISE: HostFn = HostFn {
    name: "raise",
    interface: "alerts",
    args: &[
        req("key", Str),
        req("severity", Str),
        req("template", Str),
        req("vars", Json),
        req("repeat_after", Duration),
    ],
    ret: Ret::Value(Str),
    capability: Some(Capability::Alerts),
    doc: "Records alert `key` and queues its email (template `template` in `scripts/templates/`, rendered with \
          `vars`, a map; a `session` entry names the session, whose owner is the recipient), unless it was sent \
          less than `repeat_after` (`\"24h\"`) ago and not resolved since. `severity` is `info`, `warning` or \
          `critical`. Returns `\"queued\"` or `\"deduplicated\"`.",
    call: |a| {
        let raised = a.api().raise(&a.str(0)?, &a.str(1)?, &a.str(2)?, a.json(3)?, a.duration(4)?)?;
        Ok(Out::Str(raised.to_string()))
    },
    ..BASE
};

pub(crate) static RESOLVE: HostFn = HostFn {
    name: "resolve",
    interface: "alerts",
    args: &[req("key", Str)],
    ret: Ret::Value(Bool),
    capability: Some(Capability::Alerts),
    doc: "Marks alert `key` resolved; when it had fired, a \"resolved\" notice is queued. Returns whether one was.",
    call: |a| Ok(Out::Bool(a.api().resolve(&a.str(0)?)?)),
    ..BASE
};

pub(crate) static EMAIL: HostFn = HostFn {
    name: "email",
    interface: "email",
    args: &[req("to", Str), req("template", Str), req("vars", Json)],
    ret: Ret::Value(Int),
    capability: Some(Capability::Email),
    doc: "Queues a templated email that is no alert: template `template` rendered with `vars` (a map) to `to`, \
          or to the `[alerts] to` recipients when `to` is `\"\"`. Returns the outbox id.",
    call: |a| Ok(Out::Int(a.api().email(&a.str(0)?, &a.str(1)?, a.json(2)?)?)),
    ..BASE
};

pub(crate) static HEALTH: HostFn = HostFn {
    name: "health",
    interface: "host",
    ret: Ret::Value(Json),
    capability: Some(Capability::Host),
    doc: "The host's health as a map: `store_ok`, `store_ms` (the store's round trip), `store_error`, \
          `disk_free_bytes` (-1 when unknown).",
    call: |a| Ok(Out::Json(a.api().health()?)),
    ..BASE
};

pub(crate) static PRUNE_EVENTS: HostFn = HostFn {
    name: "prune_events",
    interface: "host",
    args: &[req("older_than", Duration)],
    ret: Ret::Value(Count),
    capability: Some(Capability::Host),
    doc: "Deletes stored events older than `older_than` (`\"30d\"`); returns how many.",
    call: |a| Ok(Out::Count(a.api().prune_events(a.duration(0)?)?)),
    ..BASE
};
