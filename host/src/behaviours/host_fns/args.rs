//! A call's arguments as the bindings converted them (JSON values, `None` where left out), and
//! the accessors the declarations read them with: each checks the type, applies the declared
//! default and names the argument in its error, for both bindings at once.

use std::time::Duration;

use serde_json::Value;

use super::HostFn;
use crate::behaviours::host_calls::{HostCalls, HostError};
use crate::duration::parse_duration;

/// The arguments of one call.
pub(crate) struct Args<'a> {
    pub(super) api: &'a HostCalls,
    pub(super) f: &'static HostFn,
    pub(super) values: Vec<Option<Value>>,
    /// The script line of the call, when the binding knows it (rhai).
    pub(super) line: Option<usize>,
}

/// How a value's type reads in an error (rhai's words, which WIT users also understand).
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "()",
        Value::Bool(_) => "a bool",
        Value::Number(n) if n.is_f64() => "a decimal number",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "a map",
    }
}

impl<'a> Args<'a> {
    pub(crate) fn api(&self) -> &'a HostCalls {
        self.api
    }

    /// The call's name, for errors and records.
    pub(crate) fn call(&self) -> &'static str {
        self.f.name
    }

    pub(crate) fn line(&self) -> Option<usize> {
        self.line
    }

    /// An `invalid` error of this call.
    pub(crate) fn invalid(&self, message: impl Into<String>) -> HostError {
        self.api.invalid(self.f.name, message)
    }

    fn wrong(&self, i: usize, expected: &str, v: &Value) -> HostError {
        self.invalid(format!("argument `{}` must be {expected}, not {}", self.f.args[i].name, kind(v)))
    }

    /// Argument `i`, or its declared default (parsed as JSON, or as text when it is not JSON).
    fn value(&self, i: usize) -> Option<Value> {
        match self.values.get(i).cloned().flatten() {
            Some(v) => Some(v),
            None => {
                self.f.args[i].default.map(|d| serde_json::from_str(d).unwrap_or_else(|_| Value::String(d.to_string())))
            }
        }
    }

    fn required(&self, i: usize) -> Result<Value, HostError> {
        self.value(i).ok_or_else(|| self.invalid(format!("argument `{}` is missing", self.f.args[i].name)))
    }

    /// A text argument.
    pub(crate) fn str(&self, i: usize) -> Result<String, HostError> {
        match self.required(i)? {
            Value::String(s) => Ok(s),
            v => Err(self.wrong(i, "a string", &v)),
        }
    }

    /// A text argument that may be left out (and has no default).
    pub(crate) fn opt_str(&self, i: usize) -> Result<Option<String>, HostError> {
        match self.value(i) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(self.wrong(i, "a string", &v)),
        }
    }

    /// A duration (`"5m"`), its default when left out.
    pub(crate) fn duration(&self, i: usize) -> Result<Duration, HostError> {
        let text = self.str(i)?;
        parse_duration(&text).map_err(|e| self.invalid(format!("argument `{}`: {e}", self.f.args[i].name)))
    }

    /// A phone number: a string, or an integer (`34600000000`) taken as its digits.
    pub(crate) fn phone(&self, i: usize) -> Result<String, HostError> {
        match self.required(i)? {
            Value::String(s) => Ok(s),
            Value::Number(n) if n.is_i64() || n.is_u64() => Ok(n.to_string()),
            v => Err(self.wrong(i, "a string such as \"+34 600 000 000\"", &v)),
        }
    }

    pub(crate) fn int(&self, i: usize) -> Result<i64, HostError> {
        match self.required(i)? {
            Value::Number(n) if n.is_i64() => Ok(n.as_i64().unwrap_or_default()),
            v => Err(self.wrong(i, "an integer", &v)),
        }
    }

    /// Any value; its default when left out.
    pub(crate) fn json(&self, i: usize) -> Result<Value, HostError> {
        self.required(i)
    }

    /// A list.
    pub(crate) fn items(&self, i: usize) -> Result<Vec<Value>, HostError> {
        match self.required(i)? {
            Value::Array(a) => Ok(a),
            v => Err(self.wrong(i, "an array", &v)),
        }
    }
}
