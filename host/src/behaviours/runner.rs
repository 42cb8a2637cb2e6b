//! One task per behaviour: it receives timer fires and events, runs the handler of the
//! current version (a rhai script or a WASM plugin) on a blocking thread, and records a trace. A handler that fails or
//! passes a limit is reported; the next fire runs as usual — until failures in a row or too
//! much CPU suspend the behaviour (see [`suspension`](super::suspension)): then fires and
//! events are dropped (and counted) until its backoff ends or it is resumed.
//!
//! A timer fire that came while the previous run of the same trigger was still going is
//! skipped and counted, never queued behind it. Repeated errors are logged once, then
//! summarised once a minute ([`log_dedup`](super::log_dedup)).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::input::{Input, TimerFire};
use super::loaded::Loaded;
use super::log_dedup::{LogDedup, Verdict};
use super::status::Board;
use super::suspension::{Health, Policy, Resume, Suspended};
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
    /// Resume requests from the manager (a changed file, the API).
    pub control: mpsc::Receiver<Control>,
    pub policy: Policy,
    /// `[alerts] to`: who hears of a suspension.
    pub alerts_to: Vec<String>,
}

/// What the manager asks of a runner.
pub(crate) enum Control {
    /// End a suspension now; answers the suspension that ended (`None`: it was not suspended).
    Resume(Resume, Option<oneshot::Sender<Option<Suspended>>>),
}

/// The runner's own state.
#[derive(Default)]
struct State {
    health: Health,
    logs: LogDedup,
    /// The last run of each timer trigger: when it started and ended.
    last_runs: HashMap<String, (tokio::time::Instant, tokio::time::Instant)>,
}

struct Job {
    trigger: String,
    handler: String,
    input: Input,
    depth: u32,
}

impl Runner {
    pub(crate) async fn run(mut self) {
        // One-shots added by handlers (`after` inside a handler): key → handler.
        let mut dynamic: HashMap<String, (TimerId, String)> = HashMap::new();
        let mut dyn_seq = 0u64;
        let mut st = State::default();
        loop {
            let resume_at = st.health.deadline();
            let logs_at = st.logs.next_due();
            let job = tokio::select! {
                biased;
                _ = self.stop.cancelled() => break,
                _ = self.shutdown.cancelled() => break,
                Some(Control::Resume(why, done)) = self.control.recv() => {
                    let ended = self.resume(&mut st, why);
                    if let Some(done) = done {
                        let _ = done.send(ended);
                    }
                    continue;
                }
                _ = sleep_until(resume_at), if resume_at.is_some() => {
                    self.resume(&mut st, Resume::Backoff);
                    continue;
                }
                _ = sleep_until(logs_at), if logs_at.is_some() => {
                    for (error, n) in st.logs.due(tokio::time::Instant::now()) {
                        tracing::error!(behaviour = %self.name, "handler failed, repeated {n} times in the last minute: {error}");
                    }
                    continue;
                }
                Some(fire) = self.fires.recv() => {
                    if st.health.suspended().is_some() {
                        self.board.count(&self.name, |t| t.skipped_suspended += 1);
                        continue;
                    }
                    if st.last_runs.get(&*fire.key).is_some_and(|(start, end)| fire.fired_at >= *start && fire.fired_at < *end) {
                        tracing::debug!(behaviour = %self.name, trigger = %fire.key, "fire skipped: the previous run of this trigger was still going");
                        self.board.count(&self.name, |t| t.skipped_overlap += 1);
                        continue;
                    }
                    let handler = self.handler_for(&fire.key).or_else(|| dynamic.remove(&*fire.key).map(|(_, h)| h));
                    let Some(handler) = handler else {
                        tracing::debug!(behaviour = %self.name, trigger = %fire.key, "fire for a trigger this version no longer has");
                        continue;
                    };
                    Job {
                        trigger: fire.key.to_string(),
                        handler,
                        depth: 0,
                        input: Input::Timer(TimerFire {
                            trigger: fire.key.to_string(),
                            scheduled: fire.scheduled,
                            fired: fire.fired,
                            catch_up: fire.catch_up,
                        }),
                    }
                }
                Some(ev) = self.events.recv() => {
                    if st.health.suspended().is_some() {
                        self.board.count(&self.name, |t| t.skipped_suspended += 1);
                        continue;
                    }
                    Job {
                    trigger: ev.key,
                    handler: ev.handler,
                    depth: ev.event.depth,
                    input: Input::Event(ev.event),
                }},
                else => break,
            };
            let one_shots = self.execute(&mut st, job).await;
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

    /// Ends a suspension (if there is one), reports it, and makes the next run a trial.
    fn resume(&self, st: &mut State, why: Resume) -> Option<Suspended> {
        let ended = st.health.resume()?;
        let skipped = self.scheduler.resume_owner(&self.name);
        self.board.count(&self.name, |t| t.skipped_suspended += skipped);
        tracing::info!(behaviour = %self.name, "resumed ({}): the next run is a trial", why.as_str());
        self.board.update(&self.name, |e| {
            e.health.suspended = None;
            e.health.consecutive_failures = 0;
        });
        self.bus.publish(Event {
            name: "behaviour.resumed".into(),
            source: "host".into(),
            at: self.current.read().expect("current script").api().now(),
            data: serde_json::json!({
                "behaviour": self.name,
                "name": self.name,
                "why": why.as_str(),
                "suspended": ended,
            }),
            depth: 0,
        });
        Some(ended)
    }

    /// A run just suspended the behaviour: log once, tell the bus, raise the alert.
    fn suspended(&self, st: &State, script: &Arc<dyn Loaded>, s: Suspended, depth: u32) {
        let backoff = crate::duration::format_duration(Duration::from_millis(s.backoff_ms));
        tracing::warn!(
            behaviour = %self.name,
            reason = ?s.reason,
            failures = s.failures,
            until = %s.until.to_rfc3339(),
            "suspended for {backoff}: its triggers stop firing until then (or until its file changes, or POST /api/behaviours/{}/resume); last error: {}",
            self.name,
            s.last_error
        );
        // Its timers stop firing (they keep their schedules); events are dropped by the loop.
        self.scheduler.pause_owner(&self.name);
        self.board.count(&self.name, |t| t.suspensions += 1);
        self.board.update(&self.name, |e| e.health.suspended = Some(s.clone()));
        self.bus.publish(Event {
            name: "behaviour.suspended".into(),
            source: "host".into(),
            at: script.api().now(),
            data: serde_json::json!({
                "behaviour": self.name,
                "name": self.name,
                "reason": s.reason,
                "failures": s.failures,
                "last_error": s.last_error,
                "since": s.since,
                "until": s.until,
                "streak": s.streak,
                "backoff_ms": s.backoff_ms,
            }),
            depth: depth + 1,
        });
        let started = st.health.streak_started().unwrap_or(s.since);
        let svc = script.api().services().clone();
        tokio::spawn(super::suspension_alert::raise(svc, self.alerts_to.clone(), self.name.clone(), s, started));
    }

    /// Runs one handler; returns the one-shot triggers it added.
    async fn execute(&self, st: &mut State, job: Job) -> Vec<super::trigger::TriggerDecl> {
        let script = self.current.read().expect("current script").clone();
        let started = script.api().now();
        let t0 = Instant::now();
        let run_start = tokio::time::Instant::now();
        let s = script.clone();
        let is_timer = job.input.is_timer();
        let (handler, input, depth) = (job.handler.clone(), job.input, job.depth);
        let mut join = tokio::task::spawn_blocking(move || {
            s.api().begin_run(depth);
            let outcome = s.call(&handler, &input);
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
        let run_end = tokio::time::Instant::now();
        if is_timer {
            st.last_runs.insert(job.trigger.clone(), (run_start, run_end));
        }
        let error = (!outcome.is_ok()).then(|| outcome.summary());
        if let Some(summary) = &error {
            if st.logs.observe(summary, run_end) == Verdict::Log {
                tracing::error!(behaviour = %self.name, trigger = %job.trigger, handler = %job.handler, "handler failed: {summary}");
            }
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
        let suspended = st.health.record(&self.policy, run_end, script.api().now(), duration, error);
        let health = (st.health.failures(), st.health.cpu_share(run_end));
        self.board.update(&self.name, |e| {
            e.health.consecutive_failures = health.0;
            e.health.cpu_share = health.1;
        });
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
        if let Some(s) = suspended {
            self.suspended(st, &script, s, job.depth);
        }
        one_shots
    }
}

/// Sleeps until `at` (`None`: never; the select branch is disabled then anyway).
async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
