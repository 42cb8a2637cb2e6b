//! One version of one script: compiled, its top level run, ready to call handlers.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rhai::{CallFnOptions, Dynamic, Engine, EvalAltResult, Position, Scope, AST};

use super::engine::{build, RunDeadline};
use crate::behaviours::host_calls::HostCalls;
use crate::behaviours::input::Input;
use crate::behaviours::trace::Outcome;
use crate::behaviours::trigger::TriggerDecl;
use crate::config::Limits;

/// A script that does not load: where and why. Shown as `scripts/x.rhai:3:5: message`.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ScriptError {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
            if let Some(c) = self.column {
                write!(f, ":{c}")?;
            }
        }
        write!(f, ": {}", self.message)
    }
}

/// A loaded script version.
pub struct Script {
    api: Arc<HostCalls>,
    engine: Engine,
    ast: AST,
    /// The top level's variables, visible to handlers; rewound after each call.
    scope: Mutex<Scope<'static>>,
    /// Handler name → number of parameters (0 or 1).
    handlers: HashMap<String, usize>,
    budget: Arc<RunDeadline>,
    limits: Limits,
    /// The triggers its top level declared.
    pub decls: Vec<TriggerDecl>,
}

impl Script {
    /// Compiles `source` and runs its top level. Blocking: call from a blocking thread.
    pub fn load(path: &Path, source: &str, api: Arc<HostCalls>, limits: Limits) -> Result<Script, ScriptError> {
        let budget = Arc::new(RunDeadline::default());
        let engine = build(&api, &limits, &budget);
        let located = |pos: Position, message: String| ScriptError {
            path: path.to_path_buf(),
            line: pos.line(),
            column: pos.position(),
            message,
        };
        let ast = engine.compile(source).map_err(|e| located(e.1, format!("syntax error: {}", e.0)))?;
        let mut scope = Scope::new();
        budget.start(limits.run_budget.0);
        let top = engine.run_ast_with_scope(&mut scope, &ast);
        budget.stop();
        let decls = api.take_declared();
        api.end_run(); // the top level's calls are not a run
        if let Err(e) = top {
            let (message, pos) = describe(&e);
            return Err(located(pos, format!("the top level failed: {message}")));
        }
        let handlers: HashMap<String, usize> =
            ast.iter_functions().map(|f| (f.name.to_string(), f.params.len())).collect();
        for d in &decls {
            match handlers.get(&d.handler) {
                Some(n) if *n <= 1 => {}
                Some(n) => {
                    return Err(ScriptError {
                        path: path.to_path_buf(),
                        line: d.line,
                        column: None,
                        message: format!(
                            "handler `{}` takes {n} parameters; a handler takes one (the event) or none: `fn {}(ev) {{ ... }}`",
                            d.handler, d.handler
                        ),
                    })
                }
                None => {
                    return Err(ScriptError {
                        path: path.to_path_buf(),
                        line: d.line,
                        column: None,
                        message: format!(
                            "`{}` names the handler `{}`, which this script does not define: add `fn {}(ev) {{ ... }}`",
                            d.key(),
                            d.handler,
                            d.handler
                        ),
                    })
                }
            }
        }
        Ok(Script { api, engine, ast, scope: Mutex::new(scope), handlers, budget, limits, decls })
    }

    pub fn api(&self) -> &Arc<HostCalls> {
        &self.api
    }

    pub fn has_handler(&self, name: &str) -> bool {
        self.handlers.contains_key(name)
    }

    /// Cuts the running handler (shutdown past its grace time).
    pub fn cut(&self) {
        self.budget.cut.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Calls `handler` with `input` as a map (if it takes a parameter). Blocking.
    pub fn call(&self, handler: &str, input: &Input) -> Outcome {
        let Some(&params) = self.handlers.get(handler) else {
            return Outcome::Error {
                message: format!("handler `{handler}` is not defined in this version of the script"),
                line: None,
                column: None,
            };
        };
        let arg = rhai::serde::to_dynamic(input.to_map()).unwrap_or(Dynamic::UNIT);
        let mut scope = self.scope.lock().expect("script scope");
        let opts = CallFnOptions::new().eval_ast(false).rewind_scope(true);
        self.budget.start(self.limits.run_budget.0);
        let result = if params == 1 {
            self.engine.call_fn_with_options::<Dynamic>(opts, &mut scope, &self.ast, handler, (arg,))
        } else {
            self.engine.call_fn_with_options::<Dynamic>(opts, &mut scope, &self.ast, handler, ())
        };
        self.budget.stop();
        match result {
            Ok(_) => Outcome::Ok,
            Err(e) => outcome_of(&e, &self.limits),
        }
    }
}

/// The innermost error (rhai wraps errors raised inside functions) and its position.
fn innermost(e: &EvalAltResult) -> &EvalAltResult {
    match e {
        EvalAltResult::ErrorInFunctionCall(_, _, inner, _) | EvalAltResult::ErrorInModule(_, inner, _) => {
            innermost(inner)
        }
        _ => e,
    }
}

fn describe(e: &EvalAltResult) -> (String, Position) {
    let inner = innermost(e);
    let message = match inner {
        EvalAltResult::ErrorRuntime(v, _) => v.to_string(),
        EvalAltResult::ErrorTerminated(token, _) => format!("stopped: the {token} limit was reached"),
        other => {
            let mut s = other.to_string();
            // rhai appends " (line x, position y)"; we show the position ourselves.
            if let Some(i) = s.rfind(" (line ") {
                s.truncate(i);
            }
            s
        }
    };
    (message, inner.position())
}

fn outcome_of(e: &EvalAltResult, limits: &Limits) -> Outcome {
    let (message, pos) = describe(e);
    let (line, column) = (pos.line(), pos.position());
    let limit = match innermost(e) {
        EvalAltResult::ErrorTooManyOperations(_) => Some(format!("max_operations ({})", limits.max_operations)),
        EvalAltResult::ErrorStackOverflow(_) => Some(format!("max_call_depth ({})", limits.max_call_depth)),
        EvalAltResult::ErrorDataTooLarge(what, _) => Some(if what.contains("tring") {
            format!("max_string_size ({} bytes)", limits.max_string_size)
        } else if what.contains("rray") {
            format!("max_array_size ({})", limits.max_array_size)
        } else if what.contains("ap") {
            format!("max_map_size ({})", limits.max_map_size)
        } else {
            what.to_string()
        }),
        EvalAltResult::ErrorTerminated(token, _) => Some(match token.to_string().as_str() {
            "run_budget" => format!("run_budget ({})", crate::duration::format_duration(limits.run_budget.0)),
            t => t.to_string(),
        }),
        _ => None,
    };
    match limit {
        Some(limit) => Outcome::Stopped { limit, message, line, column },
        None => Outcome::Error { message, line, column },
    }
}
