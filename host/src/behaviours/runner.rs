//! One task per behaviour: it receives timer fires and events, runs the handler of the
//! current version (a rhai script or a WASM plugin) on a blocking thread, and records a trace. A handler that fails or
//! passes a limit is reported; the next fire runs as usual.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::loaded::Loaded;
use super::status::Board;
use super::trace::{Outcome, Trace};
use super::trigger::TriggerKind;
use crate::events::{Event, EventBus};
use crate::scheduler::{Fire, Scheduler, TimerId};

/// An event delivered to a behaviour for one of its `on` triggers.
#[derive(Debug, Clone)]
pub(crate) struct EventJob {
    pub event: Event,
    pub key: String,
    pub handler: String,
}

/// The current version of a behaviour, swapped on reload.
pub(crate) type Current = Arc<RwLock<Arc<dyn Loaded>>>;

pub(crate) struct Runner {
    pub name: String,
    pub current: Current,
    pub fires: mpsc::Receiver<Fire>,
    pub fire_tx: mpsc::Sender<Fire>,
    pub events: mpsc::Receiver<EventJob>,
    pub scheduler: Scheduler,
    pub board: Board,
    pub bus: EventBus,
    /// Ends the runner (unload).
    pub stop: CancellationToken,
    /// Host shutdown: the running handler gets `grace`, then is cut.
    pub shutdown: CancellationToken,
    pub grace: Duration,
}

struct Job {
    trigger: String,
    handler: String,
    event: serde_json::Value,
    depth: u32,
}

impl Runner {
    pub(crate) async fn run(mut self) {
        // One-shots added by handlers (`after` inside a handler): key → handler.
        let mut dynamic: HashMap<String, (TimerId, String)> = HashMap::new();
        let mut dyn_seq = 0u64;
        loop {
            let job = tokio::select! {
                biased;
                _ = self.stop.cancelled() => break,
                _ = self.shutdown.cancelled() => break,
                Some(fire) = self.fires.recv() => {
                    let handler = self.handler_for(&fire.key).or_else(|| dynamic.remove(&*fire.key).map(|(_, h)| h));
                    let Some(handler) = handler else {
                        tracing::debug!(behaviour = %self.name, trigger = %fire.key, "fire for a trigger this version no longer has");
                        continue;
                    };
                    Job {
                        trigger: fire.key.to_string(),
                        handler,
                        depth: 0,
                        event: serde_json::json!({
                            "kind": "timer",
                            "trigger": &*fire.key,
                            "scheduled": fire.scheduled.timestamp(),
                            "fired": fire.fired.timestamp(),
                            "catch_up": fire.catch_up,
                        }),
                    }
                }
                Some(ev) = self.events.recv() => Job {
                    trigger: ev.key,
                    handler: ev.handler,
                    depth: ev.event.depth,
                    event: serde_json::json!({
                        "kind": "event",
                        "event": ev.event.name,
                        "source": ev.event.source,
                        "at": ev.event.at.timestamp(),
                        "data": ev.event.data,
                    }),
                },
                else => break,
            };
            let one_shots = self.execute(job).await;
            for decl in one_shots {
                if let TriggerKind::Timer(spec) = decl.kind {
                    dyn_seq += 1;
                    let key = format!("{spec} -> {} #{dyn_seq}", decl.handler);
                    let id = self.scheduler.add(&self.name, &key, spec, self.fire_tx.clone()).await;
                    dynamic.insert(key, (id, decl.handler));
                }
            }
        }
        for (id, _) in dynamic.into_values() {
            self.scheduler.cancel(id);
        }
    }

    fn handler_for(&self, key: &str) -> Option<String> {
        let script = self.current.read().expect("current script").clone();
        script.decls().iter().find(|d| d.key() == key).map(|d| d.handler.clone())
    }

    /// Runs one handler; returns the one-shot triggers it added.
    async fn execute(&self, job: Job) -> Vec<super::trigger::TriggerDecl> {
        let script = self.current.read().expect("current script").clone();
        let started = script.api().now();
        let t0 = Instant::now();
        let s = script.clone();
        let (handler, event, depth) = (job.handler.clone(), job.event, job.depth);
        let mut join = tokio::task::spawn_blocking(move || {
            s.api().begin_run(depth);
            let outcome = s.call(&handler, event);
            let (calls, dropped, one_shots) = s.api().end_run();
            (outcome, calls, dropped, one_shots)
        });
        let shutdown = self.shutdown.clone();
        let grace = self.grace;
        let joined = tokio::select! {
            r = &mut join => r,
            _ = async { shutdown.cancelled().await; tokio::time::sleep(grace).await } => {
                script.cut();
                join.await
            }
        };
        let (outcome, calls, calls_dropped, one_shots) = match joined {
            Ok(r) => r,
            Err(e) => (
                Outcome::Error { message: format!("the handler's thread failed: {e}"), line: None, column: None },
                Vec::new(),
                0,
                Vec::new(),
            ),
        };
        let duration = t0.elapsed();
        if !outcome.is_ok() {
            let summary = outcome.summary();
            tracing::error!(behaviour = %self.name, trigger = %job.trigger, handler = %job.handler, "handler failed: {summary}");
            self.bus.publish(Event {
                name: "behaviour.error".into(),
                source: "host".into(),
                at: script.api().now(),
                data: serde_json::json!({
                    "behaviour": self.name,
                    "phase": "run",
                    "trigger": job.trigger,
                    "handler": job.handler,
                    "outcome": outcome,
                }),
                depth: job.depth + 1,
            });
        } else {
            tracing::debug!(behaviour = %self.name, trigger = %job.trigger, ms = duration.as_secs_f64() * 1e3, "handler ran");
        }
        self.board.record_run(
            &self.name,
            Trace {
                trigger: job.trigger,
                handler: job.handler,
                started,
                duration_ms: duration.as_secs_f64() * 1e3,
                calls,
                calls_dropped,
                outcome,
            },
        );
        one_shots
    }
}
