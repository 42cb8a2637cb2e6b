//! A loaded version of a behaviour, whatever its binding: what the manager, the runner, the
//! traces and the status board need from a rhai [`Script`] or a WASM [`Plugin`]. The manager
//! swaps versions behind [`Current`]; everything else only sees this trait.

use std::path::Path;
use std::sync::Arc;

use super::host_calls::HostCalls;
use super::input::Input;
use super::rhai::{Script, ScriptError};
use super::trace::Outcome;
use super::trigger::TriggerDecl;
use super::wasm::{Plugin, Runtime};
use crate::config::Limits;

/// One version of one behaviour, its top level (or `init`) run, ready to call handlers.
pub trait Loaded: Send + Sync {
    /// Its view of the host API (grants, trace records).
    fn api(&self) -> &Arc<HostCalls>;
    /// The triggers its top level declared.
    fn decls(&self) -> &[TriggerDecl];
    /// Runs `handler` for `input` (a timer fire or an event). Blocking: call from a blocking
    /// thread. Never panics; a trap or a limit is an [`Outcome`].
    fn call(&self, handler: &str, input: &Input) -> Outcome;
    /// Stops the running handler as soon as possible (shutdown past its grace time).
    fn cut(&self);
    /// For plugins: `compiled` or `cache`, where its machine code came from.
    fn compiled(&self) -> Option<&'static str> {
        None
    }
}

/// Which binding a file is for, by its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Binding {
    Rhai,
    Wasm,
}

impl Binding {
    /// `None` also for `*.d.rhai`: rhai definition files for editors (`scripts/vigil.d.rhai`,
    /// written by `vigil defs`) are no behaviours.
    pub(crate) fn of(path: &Path) -> Option<Binding> {
        let definitions = path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(".d.rhai"));
        match path.extension().and_then(|e| e.to_str()) {
            Some("rhai") if !definitions => Some(Binding::Rhai),
            Some("wasm") => Some(Binding::Wasm),
            _ => None,
        }
    }
}

/// Where compiled plugins are cached under the data folder.
pub(crate) fn wasm_cache_dir(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("cache").join("wasm")
}

/// Loads one version from the file's bytes; plugins are compiled through the compile cache in
/// `cache_dir` (none: no caching). Blocking: call from a blocking thread.
pub(crate) fn load(
    path: &Path,
    bytes: Vec<u8>,
    api: Arc<HostCalls>,
    limits: Limits,
    cache_dir: Option<&Path>,
) -> Result<Arc<dyn Loaded>, ScriptError> {
    match Binding::of(path) {
        Some(Binding::Rhai) => {
            let source = String::from_utf8(bytes).map_err(|e| ScriptError {
                path: path.to_path_buf(),
                line: None,
                column: None,
                message: format!("not UTF-8 text: {e}"),
            })?;
            Ok(Arc::new(Script::load(path, &source, api, limits)?))
        }
        Some(Binding::Wasm) => {
            let runtime = Runtime::shared().map_err(|e| ScriptError {
                path: path.to_path_buf(),
                line: None,
                column: None,
                message: format!("the WASM runtime cannot start: {e}"),
            })?;
            Ok(Arc::new(Plugin::load(&runtime, path, &bytes, api, limits, cache_dir)?))
        }
        None => Err(ScriptError {
            path: path.to_path_buf(),
            line: None,
            column: None,
            message: "not a behaviour: use a .rhai script or a .wasm component".into(),
        }),
    }
}

impl Loaded for Script {
    fn api(&self) -> &Arc<HostCalls> {
        Script::api(self)
    }
    fn decls(&self) -> &[TriggerDecl] {
        &self.decls
    }
    fn call(&self, handler: &str, input: &Input) -> Outcome {
        Script::call(self, handler, input)
    }
    fn cut(&self) {
        Script::cut(self)
    }
}
