//! Traces: what each handler run did (trigger, start, duration, host calls, outcome), the last
//! [`KEEP`] per behaviour, like Home Assistant's automation traces.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Traces kept per behaviour.
pub const KEEP: usize = 20;
/// Host calls recorded per trace; further calls are counted, not listed.
pub const MAX_CALLS: usize = 50;

/// One host call made by a run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct CallRecord {
    /// The host function, as the script names it (`send_text`).
    pub call: String,
    /// Short summary of the arguments or the result.
    pub detail: String,
    pub ok: bool,
}

/// How a run ended.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    /// The script failed (a thrown error, a failed host call it did not catch).
    Error {
        message: String,
        line: Option<usize>,
        column: Option<usize>,
    },
    /// A limit stopped it (operations, call depth, sizes, wall-clock budget, shutdown).
    Stopped {
        limit: String,
        message: String,
        line: Option<usize>,
        column: Option<usize>,
    },
}

impl Outcome {
    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Ok)
    }

    /// One line for logs and `vigil behaviours`.
    pub fn summary(&self) -> String {
        let at = |line: &Option<usize>, column: &Option<usize>| match (line, column) {
            (Some(l), Some(c)) => format!(" (line {l}, column {c})"),
            _ => String::new(),
        };
        match self {
            Outcome::Ok => "ok".into(),
            Outcome::Error { message, line, column } => format!("error{}: {message}", at(line, column)),
            Outcome::Stopped { limit, message, line, column } => {
                format!("stopped by the {limit} limit{}: {message}", at(line, column))
            }
        }
    }
}

/// One handler run.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Trace {
    /// The trigger, e.g. `every 55m..65m -> tick` or `on session.ready -> greet`.
    pub trigger: String,
    pub handler: String,
    pub started: DateTime<Utc>,
    pub duration_ms: f64,
    pub calls: Vec<CallRecord>,
    /// Calls beyond [`MAX_CALLS`], not listed.
    pub calls_dropped: usize,
    pub outcome: Outcome,
}

/// The last [`KEEP`] traces of one behaviour.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TraceLog {
    traces: VecDeque<Trace>,
}

impl TraceLog {
    pub fn push(&mut self, t: Trace) {
        if self.traces.len() == KEEP {
            self.traces.pop_front();
        }
        self.traces.push_back(t);
    }

    /// Oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Trace> {
        self.traces.iter()
    }

    pub fn len(&self) -> usize {
        self.traces.len()
    }

    pub fn is_empty(&self) -> bool {
        self.traces.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_twenty() {
        let mut log = TraceLog::default();
        for i in 0..25 {
            log.push(Trace {
                trigger: format!("t{i}"),
                handler: "h".into(),
                started: Utc::now(),
                duration_ms: 0.0,
                calls: vec![],
                calls_dropped: 0,
                outcome: Outcome::Ok,
            });
        }
        assert_eq!(log.len(), KEEP);
        assert_eq!(log.iter().next().unwrap().trigger, "t5");
        assert_eq!(log.iter().last().unwrap().trigger, "t24");
    }
}
