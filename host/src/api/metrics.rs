//! `/metrics` in Prometheus text format 0.0.4. Counters come from the event bus (a task
//! counts events by name and session / behaviour), gauges from the sessions at scrape time,
//! run durations from the behaviours' board.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex, Weak};

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use super::error::ApiError;
use super::state::ApiState;
use crate::behaviours::status::DURATION_BUCKETS;
use crate::events::{Event, EventBus};
use crate::sessions::SessionStatus;

/// Distinct event names counted one by one; more (behaviours emit what they like) are counted
/// under `name="other"`.
const MAX_NAMES: usize = 256;

#[derive(Default)]
struct Counts {
    /// Events by name.
    events: BTreeMap<String, u64>,
    /// (event name, session) → count, for the session events below.
    per_session: BTreeMap<(&'static str, String), u64>,
    /// (event name, behaviour) → count.
    per_behaviour: BTreeMap<(&'static str, String), u64>,
    lagged: u64,
}

/// Session events counted per session: (event, metric, help).
const SESSION_COUNTERS: [(&str, &str, &str); 7] = [
    ("session.restarted", "vigil_session_restarts_total", "Browser restarts of the session since the host started."),
    ("session.crashed", "vigil_session_crashes_total", "Browser deaths detected (crash, exit, lost connection)."),
    ("message.sent", "vigil_messages_sent_total", "Messages sent by the session (behaviours and the API)."),
    ("message.in", "vigil_messages_received_total", "Messages received by the session."),
    ("session.disconnected", "vigil_session_disconnections_total", "Times the session was seen disconnected."),
    (
        "message.send_delayed",
        "vigil_send_rate_delayed_total",
        "Sends that waited for their turn under sessions.send_rate.",
    ),
    (
        "message.send_refused",
        "vigil_send_rate_refused_total",
        "Sends refused by a send limit (send_rate or new_contacts_per_day).",
    ),
];

/// Behaviour events counted per behaviour.
const BEHAVIOUR_COUNTERS: [(&str, &str, &str); 3] = [
    ("behaviour.reloaded", "vigil_behaviour_reloads_total", "Successful reloads of the behaviour's file."),
    ("behaviour.loaded", "vigil_behaviour_loads_total", "First loads of the behaviour."),
    ("behaviour.error", "vigil_behaviour_errors_total", "Failed loads and runs of the behaviour."),
];

/// Counters fed by the event bus.
#[derive(Clone)]
pub(crate) struct Metrics {
    counts: Arc<Mutex<Counts>>,
}

impl Metrics {
    /// Subscribes now and counts until `shutdown`, the bus closing, or the metrics being
    /// dropped.
    pub fn start(bus: &EventBus, shutdown: CancellationToken) -> Metrics {
        let counts = Arc::new(Mutex::new(Counts::default()));
        let weak = Arc::downgrade(&counts);
        let rx = bus.subscribe();
        tokio::spawn(count(rx, weak, shutdown));
        Metrics { counts }
    }
}

async fn count(mut rx: tokio::sync::broadcast::Receiver<Event>, counts: Weak<Mutex<Counts>>, stop: CancellationToken) {
    loop {
        let r = tokio::select! {
            _ = stop.cancelled() => return,
            r = rx.recv() => r,
        };
        let Some(counts) = counts.upgrade() else { return };
        let mut c = counts.lock().expect("metrics");
        match r {
            Ok(e) => {
                let known = c.events.len() < MAX_NAMES || c.events.contains_key(&e.name);
                *c.events.entry(if known { e.name.clone() } else { "other".into() }).or_default() += 1;
                if let Some((name, _, _)) = SESSION_COUNTERS.iter().find(|(n, _, _)| *n == e.name) {
                    if let Some(s) = e.data.get("session").and_then(|v| v.as_str()) {
                        *c.per_session.entry((name, s.to_string())).or_default() += 1;
                    }
                }
                if let Some((name, _, _)) = BEHAVIOUR_COUNTERS.iter().find(|(n, _, _)| *n == e.name) {
                    if let Some(b) = e.data.get("behaviour").and_then(|v| v.as_str()) {
                        *c.per_behaviour.entry((name, b.to_string())).or_default() += 1;
                    }
                }
            }
            Err(RecvError::Lagged(n)) => c.lagged += n,
            Err(RecvError::Closed) => return,
        }
    }
}

/// A label value, escaped as the text format wants.
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Prometheus metrics (text format 0.0.4).
#[utoipa::path(get, path = "/metrics", tag = "health", operation_id = "metrics",
    responses((status = 200, description = "Metrics.", body = String, content_type = "text/plain")))]
pub(crate) async fn metrics(State(state): State<ApiState>) -> Result<impl IntoResponse, ApiError> {
    let sessions = state.inner.sessions.list().await?;
    let durations = state.inner.behaviours.board().durations();
    let mut out = String::with_capacity(4096);

    family(&mut out, "vigil_session_state", "gauge", "Our status of each session: 1 for the current one.");
    for s in &sessions {
        for st in SessionStatus::ALL {
            let v = u8::from(s.status == st);
            let _ = writeln!(out, "vigil_session_state{{session=\"{}\",status=\"{st}\"}} {v}", esc(&s.id));
        }
    }
    family(&mut out, "vigil_session_running", "gauge", "1 while this host runs the session's browser.");
    for s in &sessions {
        let _ = writeln!(out, "vigil_session_running{{session=\"{}\"}} {}", esc(&s.id), u8::from(s.running));
    }
    family(&mut out, "vigil_session_site_info", "gauge", "The WhatsApp Web version each session's page runs (1).");
    for s in &sessions {
        if let Some(v) = &s.site_version {
            let _ = writeln!(out, "vigil_session_site_info{{session=\"{}\",version=\"{}\"}} 1", esc(&s.id), esc(v));
        }
    }
    family(&mut out, "vigil_session_crash_restarts", "gauge", "Restarts after crashes, in all (persisted).");
    for s in &sessions {
        let _ = writeln!(out, "vigil_session_crash_restarts{{session=\"{}\"}} {}", esc(&s.id), s.restarts);
    }

    let measured: Vec<_> =
        sessions.iter().filter_map(|s| state.inner.sessions.resources(&s.id).map(|r| (esc(&s.id), r))).collect();
    family(
        &mut out,
        "vigil_session_memory_bytes",
        "gauge",
        "Memory of the session's browser: PSS of its whole process tree, at the last sample.",
    );
    for (id, r) in &measured {
        let _ = writeln!(out, "vigil_session_memory_bytes{{session=\"{id}\"}} {}", r.memory_bytes);
    }
    family(
        &mut out,
        "vigil_session_cpu_seconds_total",
        "counter",
        "CPU time (user + system) of the live processes of the session's browser (resets with a restart).",
    );
    for (id, r) in &measured {
        let _ = writeln!(out, "vigil_session_cpu_seconds_total{{session=\"{id}\"}} {}", r.cpu_seconds);
    }

    let c = {
        let c = state.inner.metrics.counts.lock().expect("metrics");
        (c.events.clone(), c.per_session.clone(), c.per_behaviour.clone(), c.lagged)
    };
    let (events, per_session, per_behaviour, lagged) = c;
    for (event, metric, help) in SESSION_COUNTERS {
        family(&mut out, metric, "counter", help);
        for s in &sessions {
            let n = per_session.get(&(event, s.id.to_string())).copied().unwrap_or(0);
            let _ = writeln!(out, "{metric}{{session=\"{}\"}} {n}", esc(&s.id));
        }
    }
    for (event, metric, help) in BEHAVIOUR_COUNTERS {
        family(&mut out, metric, "counter", help);
        for ((e, b), n) in &per_behaviour {
            if *e == event {
                let _ = writeln!(out, "{metric}{{behaviour=\"{}\"}} {n}", esc(b));
            }
        }
    }
    family(&mut out, "vigil_alert_emails_sent_total", "counter", "Alert emails the SMTP server accepted.");
    let _ = writeln!(out, "vigil_alert_emails_sent_total {}", events.get("email.sent").copied().unwrap_or(0));
    family(&mut out, "vigil_alert_emails_failed_total", "counter", "Failed attempts to send an alert email.");
    let _ = writeln!(out, "vigil_alert_emails_failed_total {}", events.get("email.failed").copied().unwrap_or(0));

    family(&mut out, "vigil_behaviour_run_duration_seconds", "histogram", "Handler run durations.");
    for (name, d) in &durations {
        let b = esc(name);
        let mut cumulative = 0;
        for (i, le) in DURATION_BUCKETS.iter().enumerate() {
            cumulative += d.buckets[i];
            let _ = writeln!(
                out,
                "vigil_behaviour_run_duration_seconds_bucket{{behaviour=\"{b}\",le=\"{le}\"}} {cumulative}"
            );
        }
        let _ =
            writeln!(out, "vigil_behaviour_run_duration_seconds_bucket{{behaviour=\"{b}\",le=\"+Inf\"}} {}", d.count);
        let _ = writeln!(out, "vigil_behaviour_run_duration_seconds_sum{{behaviour=\"{b}\"}} {}", d.sum_seconds);
        let _ = writeln!(out, "vigil_behaviour_run_duration_seconds_count{{behaviour=\"{b}\"}} {}", d.count);
    }

    behaviour_totals(&mut out, state.inner.behaviours.board());

    family(&mut out, "vigil_events_total", "counter", "Events on the host's bus, by name.");
    for (name, n) in &events {
        let _ = writeln!(out, "vigil_events_total{{name=\"{}\"}} {n}", esc(name));
    }
    family(&mut out, "vigil_metrics_events_missed_total", "counter", "Events the metrics counter fell behind on.");
    let _ = writeln!(out, "vigil_metrics_events_missed_total {lagged}");

    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], out))
}

/// CPU time, skipped fires, suspensions (counters kept across reloads) and who is suspended now.
fn behaviour_totals(out: &mut String, board: &crate::behaviours::status::Board) {
    let totals = board.totals();
    family(out, "vigil_behaviour_cpu_seconds_total", "counter", "Wall time inside the behaviour's runs.");
    for (name, t) in &totals {
        let _ = writeln!(out, "vigil_behaviour_cpu_seconds_total{{behaviour=\"{}\"}} {}", esc(name), t.cpu_seconds);
    }
    family(
        out,
        "vigil_behaviour_fires_skipped_total",
        "counter",
        "Fires not run: `overlap` (the previous run of the trigger was still going), `suspended`.",
    );
    for (name, t) in &totals {
        let b = esc(name);
        let _ = writeln!(
            out,
            "vigil_behaviour_fires_skipped_total{{behaviour=\"{b}\",reason=\"overlap\"}} {}",
            t.skipped_overlap
        );
        let _ = writeln!(
            out,
            "vigil_behaviour_fires_skipped_total{{behaviour=\"{b}\",reason=\"suspended\"}} {}",
            t.skipped_suspended + board.paused_skips(name)
        );
    }
    family(out, "vigil_behaviour_suspensions_total", "counter", "Times the behaviour was suspended.");
    for (name, t) in &totals {
        let _ = writeln!(out, "vigil_behaviour_suspensions_total{{behaviour=\"{}\"}} {}", esc(name), t.suspensions);
    }
    family(out, "vigil_behaviour_suspended", "gauge", "1 while the behaviour is suspended.");
    for v in board.views() {
        let _ = writeln!(
            out,
            "vigil_behaviour_suspended{{behaviour=\"{}\"}} {}",
            esc(&v.name),
            u8::from(v.suspended.is_some())
        );
    }
}
