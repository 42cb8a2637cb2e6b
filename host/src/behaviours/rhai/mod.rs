//! The rhai binding of the host API.
//!
//! - [`engine`]: one `Engine` per loaded script version, with the limits and the host
//!   functions registered from their declarations in [`super::host_fns`].
//! - [`script`]: compiling a file, running its top level (which declares triggers), calling a
//!   handler, and turning rhai's errors into located [`ScriptError`]s and trace outcomes.

mod engine;
mod script;

pub use script::{Script, ScriptError};

pub(crate) use engine::definitions;
#[cfg(test)]
pub(crate) use engine::host_signatures;
