//! The host functions, each declared once: its name, its arguments with their types and what
//! leaving one out means, its return, the capability it needs and its documentation, and the
//! one function that validates the arguments, applies the defaults and calls [`HostCalls`].
//!
//! The bindings only convert: the rhai binding (`rhai/engine.rs`) registers every shape of
//! call a declaration allows, turns rhai values into [`Args`] and the [`Out`] back; the WASM
//! binding (`wasm/imports.rs`) does the same for the WIT's typed values. A test checks every
//! declaration against `plugins/wit/` (arity, optional arguments, types) and the rhai engine
//! against the declarations; `vigil defs` writes `scripts/vigil.d.rhai` and the README's host
//! API table from them.
//!
//! Adding a host function: one [`HostFn`] in a table of [`table`], one line in its WIT
//! interface (and its import in `wasm/imports.rs`, which the WIT's generated trait demands).
//!
//! - [`args`]: [`Args`], the converted arguments and their checked accessors.
//! - [`table`], [`table_sessions`]: the declarations.
//! - [`docs`]: the rhai signatures, `scripts/vigil.d.rhai` and the README table.

pub(crate) mod args;
pub(crate) mod docs;
mod table;
mod table_sessions;
#[cfg(test)]
mod tests;

pub(crate) use args::Args;
pub(crate) use table::*;
pub(crate) use table_sessions::*;

use super::host_calls::{HostCalls, HostError};
use crate::config::Capability;

/// The type of an argument or a return, as both bindings see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ty {
    /// Text. WIT `string`; rhai string.
    Str,
    /// A duration such as `"5m"` or `"1h30m"`, parsed here. WIT `string`; rhai string.
    Duration,
    /// A phone number such as `"+34 600 000 000"`. WIT `string`; rhai string or integer.
    Phone,
    /// WIT `s64`; rhai integer.
    Int,
    /// A count that is never negative. WIT `u64`; rhai integer.
    Count,
    /// WIT `bool`; rhai bool.
    Bool,
    /// Any value. WIT `json` (JSON text); rhai any value (maps, arrays, strings, numbers).
    Json,
    /// A log level: `debug`, `info`, `warn`, `error`. WIT enum `level`; rhai string.
    Level,
    /// A list of values to choose from. WIT `list<string>`; rhai array.
    Items,
    /// An element of [`Ty::Items`]. WIT `string`; rhai the element.
    Item,
    /// A list of names. WIT `list<string>`; rhai array of strings.
    Names,
    /// The sessions. WIT `list<session>`; rhai array of maps (see [`SessionRecord`]).
    Sessions,
}

impl Ty {
    /// How the type reads in rhai (signatures, `vigil.d.rhai`, the README).
    pub(crate) fn rhai(self) -> &'static str {
        match self {
            Ty::Str | Ty::Duration | Ty::Level | Ty::Phone => "String",
            Ty::Int | Ty::Count => "int",
            Ty::Bool => "bool",
            Ty::Json | Ty::Item => "?",
            Ty::Items | Ty::Names | Ty::Sessions => "Array",
        }
    }
}

/// What leaving an argument out means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Presence {
    /// Always given.
    Required,
    /// May be left out at the end of the call. WIT `option<T>`.
    Optional,
    /// A key of rhai's trailing options map (`#{tz: "UTC"}`). WIT `option<T>`.
    Named,
    /// Always given in WIT; rhai may leave it out (see [`Arg::default`]).
    RhaiOptional,
}

/// One argument.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Arg {
    /// rhai spelling; WIT's is kebab-case (`repeat_after` ↔ `repeat-after`).
    pub name: &'static str,
    pub ty: Ty,
    pub presence: Presence,
    /// What a left-out argument is (`"5s"`, `"{}"`); `None`: none, the call decides.
    pub default: Option<&'static str>,
}

pub(crate) const fn req(name: &'static str, ty: Ty) -> Arg {
    Arg { name, ty, presence: Presence::Required, default: None }
}

pub(crate) const fn opt(name: &'static str, ty: Ty, default: Option<&'static str>) -> Arg {
    Arg { name, ty, presence: Presence::Optional, default }
}

pub(crate) const fn named(name: &'static str, ty: Ty, default: Option<&'static str>) -> Arg {
    Arg { name, ty, presence: Presence::Named, default }
}

pub(crate) const fn rhai_opt(name: &'static str, ty: Ty, default: &'static str) -> Arg {
    Arg { name, ty, presence: Presence::RhaiOptional, default: Some(default) }
}

/// What a call returns besides its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ret {
    /// Nothing. WIT: no result, or `result<_, error>` when fallible.
    Unit,
    /// A value. WIT `T` / `result<T, error>`.
    Value(Ty),
    /// A value or nothing. WIT `option<T>` / `result<option<T>, error>`; rhai `()`, or the
    /// trailing `default` argument rhai may add when `rhai_default`.
    Maybe(Ty),
}

/// One host function.
pub(crate) struct HostFn {
    /// rhai spelling (`send_text`); WIT's is `send-text`.
    pub name: &'static str,
    /// The WIT interface it is in.
    pub interface: &'static str,
    pub args: &'static [Arg],
    pub ret: Ret,
    /// Whether it can fail: WIT `result<_, error>`; rhai throws.
    pub fallible: bool,
    /// rhai: a trailing `default` argument returned instead of `()` (`config(key, 5)`).
    pub rhai_default: bool,
    /// The grant it needs (`None`: every behaviour may call it).
    pub capability: Option<Capability>,
    /// What it does, for people (rhai spelling): the README's table and `vigil.d.rhai` show it.
    pub doc: &'static str,
    /// Validates, applies the defaults, calls [`HostCalls`].
    pub call: fn(&Args) -> Result<Out, HostError>,
}

/// What a declaration leaves out: no arguments, no value, fallible, no rhai `default`, no grant.
pub(crate) const BASE: HostFn = HostFn {
    name: "",
    interface: "",
    args: &[],
    ret: Ret::Unit,
    fallible: true,
    rhai_default: false,
    capability: None,
    doc: "",
    call: |a| Err(a.invalid("declared without a call (a host bug)")),
};

/// A call's result, converted by each binding.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Out {
    Unit,
    /// Nothing ([`Ret::Maybe`]).
    Nothing,
    Bool(bool),
    Int(i64),
    Count(u64),
    Str(String),
    Json(serde_json::Value),
    Names(Vec<String>),
    Sessions(Vec<SessionRecord>),
}

/// One session as behaviours see it: the mapping from [`crate::sessions::SessionInfo`],
/// once. rhai gets every field as a map; the WIT record has all but the site versions.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub(crate) struct SessionRecord {
    pub id: String,
    pub label: Option<String>,
    pub phone: Option<String>,
    pub status: String,
    pub wa_state: Option<String>,
    /// Unix seconds.
    pub last_seen: Option<i64>,
    pub owner: Option<String>,
    pub error: Option<String>,
    pub running: bool,
    pub site_version: Option<String>,
    pub healthy_site_version: Option<String>,
}

impl From<crate::sessions::SessionInfo> for SessionRecord {
    fn from(s: crate::sessions::SessionInfo) -> Self {
        SessionRecord {
            id: s.id.into_string(),
            label: s.label,
            phone: s.phone,
            status: s.status.as_str().to_string(),
            wa_state: s.wa_state,
            last_seen: s.last_seen.map(|t| t.timestamp()),
            owner: s.owner,
            error: s.error,
            running: s.running,
            site_version: s.site_version,
            healthy_site_version: s.healthy_site_version,
        }
    }
}

/// Every host function.
pub(crate) fn all() -> impl Iterator<Item = &'static HostFn> {
    table::ALL.iter().chain(table_sessions::ALL.iter()).copied()
}

/// The declaration named `name` (rhai spelling).
#[cfg(test)]
pub(crate) fn get(name: &str) -> Option<&'static HostFn> {
    all().find(|f| f.name == name)
}

impl HostFn {
    /// Checks the grant, then runs the call. `values[i]` is argument `i` (`None`: left out).
    pub(crate) fn invoke(
        &'static self,
        api: &HostCalls,
        values: Vec<Option<serde_json::Value>>,
        line: Option<usize>,
    ) -> Result<Out, HostError> {
        if let Some(capability) = self.capability {
            api.require(self.name, capability)?;
        }
        if values.len() != self.args.len() {
            return Err(api.invalid(
                self.name,
                format!("takes {} arguments, the binding passed {} (a host bug)", self.args.len(), values.len()),
            ));
        }
        (self.call)(&Args { api, f: self, values, line })
    }

    /// The argument named `name`'s position.
    pub(crate) fn position(&self, name: &str) -> Option<usize> {
        self.args.iter().position(|a| a.name == name)
    }

    /// The WIT spelling of the name.
    pub(crate) fn wit_name(&self) -> String {
        self.name.replace('_', "-")
    }
}
