//! WASM plugins, built from source (`plugins/build`) and run by a real host with the real
//! file watcher — except the keepalive test, which runs on a paused clock.
//!
//! - the example keepalive fires within its ranges and sends through the sessions trait;
//! - the example session-status reporter counts `session.*` events and summarises hourly;
//! - an endless loop, a memory bomb and a trap are stopped and reported while the host and a
//!   healthy plugin go on; a call without its grant names the plugin and the capability;
//! - replace → the next fire runs the new version, its unchanged timer keeps its schedule;
//!   a corrupt file → the old version keeps running and the error is reported; delete →
//!   unloaded; a slow copy is not reported as broken; an unknown WIT major version is refused.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use vigil::clock::Clock;
use vigil::events::Event;
use vigil::sessions::memory::MemorySessions;
use vigil::sessions::SessionStatus;
use vigil::store::Store;
use vigil::{Host, HostParts};
use vigil_tests::{about, built_plugin, config_in, is, TestHost};

const W: Duration = Duration::from_secs(20);

/// A host on a paused clock with `sessions` and an in-memory store (shared with plugins_ts).
pub(crate) async fn paused_parts(sessions: Arc<MemorySessions>) -> HostParts {
    HostParts {
        clock: Clock::starting_at("2027-01-04T10:00:00Z".parse().unwrap()),
        sessions,
        store: Some(Store::memory().await),
        watch: false,
        bus: None,
    }
}

/// The keepalive's grants and target number (Rust and TypeScript).
pub(crate) const KEEPALIVE: &str = r#"
[behaviours.keepalive]
grants = ["sessions.read", "sessions.send"]
[behaviours.keepalive.params]
to = "+34 600 000 000"
"#;

/// The keepalive's messages, in the Rust and the TypeScript example alike.
pub(crate) const MESSAGES: [&str; 4] =
    ["✅ Comprobación de conexión", "🟢 Conexión activa", "👋 Sigo aquí", "🔄 Mantener sesión"];

#[tokio::test(start_paused = true)]
async fn keepalive_fires_within_its_ranges_and_sends_through_the_first_connected_session() {
    let sessions = Arc::new(MemorySessions::new());
    sessions.add("idle", SessionStatus::Qr, "UNPAIRED");
    sessions.add("conflicted", SessionStatus::Ready, "CONFLICT"); // ready, listed first, not connected
    sessions.add("main", SessionStatus::Ready, "CONNECTED");
    let h = TestHost::start_with_plugins(
        &[],
        &[("keepalive", "keepalive")],
        KEEPALIVE,
        paused_parts(sessions.clone()).await,
    )
    .await;
    keepalive_keeps_its_schedule(&h, &sessions).await;
    h.stop().await;
}

/// Six virtual hours of the keepalive plugin loaded in `h` (on a paused clock, with a CONNECTED
/// session `main`): the first fire after 1–10 min, then every 55–65 min, each sending one of
/// [`MESSAGES`] through `main`; then, with no connected session, a fire that skips and sends
/// nothing. The Rust and the TypeScript keepalive are held to this one check.
pub(crate) async fn keepalive_keeps_its_schedule(h: &TestHost, sessions: &MemorySessions) {
    let view = h.view("keepalive");
    assert!(view.load_error.is_none(), "{:?}", view.load_error);
    let t0 = view.loaded_at;
    tokio::time::sleep(Duration::from_secs(6 * 3600)).await;
    let view = h.view("keepalive");
    let starts: Vec<_> = view.traces.iter().map(|t| t.started).collect();
    assert!((5..=7).contains(&starts.len()), "fires in 6 h: {starts:?}");
    let first = (starts[0] - t0).num_seconds();
    assert!((60..=600).contains(&first), "first fire after {first}s");
    for w in starts.windows(2) {
        let gap = (w[1] - w[0]).num_seconds();
        assert!((55 * 60..=65 * 60).contains(&gap), "gap of {gap}s");
    }
    let sent = sessions.sent();
    assert_eq!(sent.len(), starts.len(), "one send per fire: {:?}", view.traces);
    for s in &sent {
        assert_eq!((s.session.as_str(), s.to.as_str()), ("main", "34600000000@c.us"));
        assert!(MESSAGES.contains(&s.text.as_str()), "{}", s.text);
    }
    for t in &view.traces {
        assert!(t.outcome.is_ok(), "{:?}", t.outcome);
        assert!(t.calls.iter().any(|c| c.call == "send_text" && c.ok), "{:?}", t.calls);
    }
    // No connected session: the next fire skips with a warning and sends nothing.
    sessions.set_wa_state("main", "CONFLICT");
    tokio::time::sleep(Duration::from_secs(66 * 60)).await;
    let view = h.view("keepalive");
    let last = view.traces.last().unwrap();
    assert!(last.outcome.is_ok(), "{:?}", last.outcome);
    assert!(last.calls.iter().any(|c| c.call == "log" && c.detail.contains("skipped")), "{:?}", last.calls);
    assert_eq!(sessions.sent().len(), sent.len(), "nothing sent without a connected session");
}

#[tokio::test(start_paused = true)]
async fn keepalive_without_a_target_number_fails_clearly() {
    let sessions = Arc::new(MemorySessions::new());
    sessions.add("main", SessionStatus::Ready, "CONNECTED");
    let config = "[behaviours.keepalive]\ngrants = [\"sessions.read\", \"sessions.send\"]\n";
    let mut h =
        TestHost::start_with_plugins(&[], &[("keepalive", "keepalive")], config, paused_parts(sessions.clone()).await)
            .await;
    let e = h.wait_for(Duration::from_secs(3600), "the run error", |e| about(e, "behaviour.error", "keepalive")).await;
    let msg = e.data["outcome"]["message"].as_str().unwrap();
    assert!(msg.contains("[behaviours.keepalive.params]") && msg.contains("to ="), "{msg}");
    assert!(sessions.sent().is_empty());
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn session_status_counts_state_changes_and_summarises_hourly() {
    let sessions = Arc::new(MemorySessions::new());
    let mut h =
        TestHost::start_with_plugins(&[], &[("session-status", "session-status")], "", paused_parts(sessions).await)
            .await;
    let publish = |h: &TestHost, name: &str| {
        h.host.bus().publish(Event {
            name: name.into(),
            source: "main".into(),
            at: chrono::Utc::now(),
            data: serde_json::json!({"session": "main"}),
            depth: 0,
        })
    };
    for name in ["session.ready", "session.disconnected", "session.ready", "message.in"] {
        publish(&h, name);
    }
    let e = h.wait_for(Duration::from_secs(2 * 3600), "the summary", |e| e.name == "session-status.summary").await;
    assert_eq!(e.source, "session-status");
    assert_eq!(e.data["counts"], serde_json::json!({"session.ready": 2, "session.disconnected": 1}), "{}", e.data);
    assert_eq!(e.data["total"], 3);
    // Counting starts again after a summary.
    publish(&h, "session.qr");
    let e = h.wait_for(Duration::from_secs(2 * 3600), "the next summary", |e| e.name == "session-status.summary").await;
    assert_eq!(e.data["counts"], serde_json::json!({"session.qr": 1}), "{}", e.data);
    h.stop().await;
}

/// Waits for the run error of `name` and returns its outcome.
async fn run_error(h: &mut TestHost, name: &str) -> serde_json::Value {
    h.wait_for(W, &format!("{name} being stopped"), |e| about(e, "behaviour.error", name)).await.data["outcome"].clone()
}

/// Limits for the misbehaving fixtures (Rust and TypeScript): each run is stopped on its own;
/// suspension (tests/suspension.rs) is switched off so that the bad plugins go on failing for as
/// long as a test waits on them.
pub(crate) const MISBEHAVING: &str = r#"
[limits]
suspend_after = 0
max_cpu_share = "100%"
[behaviours.spin.limits]
run_budget = "300ms"
[behaviours.hog.limits]
max_memory = 16777216
"#;

/// A healthy script that goes on beside the misbehaving plugins.
pub(crate) const PULSE: (&str, &str) = ("pulse", r#"every("100ms", "beat"); fn beat() { emit("pulse") }"#);

#[tokio::test]
async fn misbehaving_plugins_are_stopped_and_reported_while_the_rest_runs() {
    let mut h = TestHost::start_with_plugins(
        &[PULSE],
        &[("spin", "spin"), ("hog", "hog"), ("trap", "trap"), ("healthy", "beat-one")],
        MISBEHAVING,
        Default::default(),
    )
    .await;
    // The endless loop: interrupted at its deadline.
    h.wait_for(W, "spin starting", |e| is(e, "spin.started", "spin")).await;
    let t0 = Instant::now();
    let outcome = run_error(&mut h, "spin").await;
    let took = t0.elapsed();
    assert_eq!(outcome["kind"], "stopped", "{outcome}");
    assert_eq!(outcome["limit"], "run_budget (300ms)", "{outcome}");
    assert!(took >= Duration::from_millis(250) && took < Duration::from_secs(2), "stopped after {took:?}");
    eprintln!("endless loop stopped {took:?} after it started (run_budget 300ms)");
    // The memory bomb: stopped at the limit.
    let outcome = run_error(&mut h, "hog").await;
    assert_eq!(outcome["kind"], "stopped", "{outcome}");
    assert_eq!(outcome["limit"], "max_memory (16777216 bytes)", "{outcome}");
    // The trap: reported as such.
    let outcome = run_error(&mut h, "trap").await;
    assert_eq!(outcome["kind"], "error", "{outcome}");
    assert!(outcome["message"].as_str().unwrap().starts_with("trap:"), "{outcome}");
    // Everyone else goes on, and the bad ones' next triggers fire (and fail) again.
    for _ in 0..3 {
        h.wait_for(W, "the healthy plugin", |e| is(e, "beat", "healthy")).await;
        h.wait_for(W, "the script", |e| is(e, "pulse", "pulse")).await;
    }
    for name in ["spin", "hog", "trap"] {
        run_error(&mut h, name).await;
        let v = h.view(name);
        assert!(v.runs >= 2 && v.failures >= 2, "{name}: runs {} failures {}", v.runs, v.failures);
        // Each run fails the same way: after a trap the next call gets a fresh instance
        // (a trapped one could not be entered again and would fail differently).
        let how = |o: &vigil::behaviours::trace::Outcome| match o {
            vigil::behaviours::trace::Outcome::Stopped { limit, .. } => limit.clone(),
            other => other.summary(),
        };
        let first = how(&v.traces[0].outcome);
        assert!(v.traces.iter().all(|t| how(&t.outcome) == first), "{name}: {:?}", v.traces);
    }
    assert_eq!(h.view("healthy").failures, 0);
    h.stop().await;
}

#[tokio::test]
async fn a_call_without_its_grant_names_the_plugin_and_the_capability() {
    let mut h = TestHost::start_with_plugins(&[], &[("nogrant", "no-grant")], "", Default::default()).await;
    let outcome = run_error(&mut h, "nogrant").await;
    let msg = outcome["message"].as_str().unwrap();
    assert!(
        msg.contains("behaviour `nogrant`") && msg.contains("`send_text`") && msg.contains("`sessions.send`"),
        "{msg}"
    );
    let trace = h.view("nogrant").traces.last().cloned().unwrap();
    assert_eq!((trace.calls[0].call.as_str(), trace.calls[0].ok), ("send_text", false));
    h.stop().await;
}

async fn beat_version(h: &mut TestHost) -> i64 {
    h.wait_for(W, "a beat", |e| is(e, "beat", "beat")).await.data["v"].as_i64().unwrap()
}

fn hourly_next_fire(h: &TestHost) -> Option<chrono::DateTime<chrono::Utc>> {
    h.view("beat").triggers.iter().find(|t| t.trigger == "every 1h -> hourly").expect("hourly listed").next_fire
}

#[tokio::test]
async fn replacing_a_plugin_runs_the_new_version_at_the_next_fire() {
    let mut h = TestHost::start_with_plugins(&[], &[("beat", "beat-one")], "", Default::default()).await;
    assert_eq!(beat_version(&mut h).await, 1);
    let hourly = hourly_next_fire(&h).expect("scheduled");
    std::fs::copy(built_plugin("beat-two"), h.plugin("beat")).unwrap();
    h.wait_for(W, "the reload", |e| about(e, "behaviour.reloaded", "beat")).await;
    assert_eq!(beat_version(&mut h).await, 2, "the next fire runs the new version");
    assert_eq!(hourly_next_fire(&h), Some(hourly), "an unchanged trigger keeps its next fire");
    h.stop().await;
}

#[tokio::test]
async fn a_corrupt_plugin_keeps_the_old_version_and_is_reported() {
    let mut h = TestHost::start_with_plugins(&[], &[("beat", "beat-one")], "", Default::default()).await;
    assert_eq!(beat_version(&mut h).await, 1);
    let mut bytes = std::fs::read(built_plugin("beat-two")).unwrap();
    bytes.truncate(bytes.len() / 2);
    std::fs::write(h.plugin("beat"), &bytes).unwrap();
    let e = h.wait_for(W, "the load error", |e| about(e, "behaviour.error", "beat")).await;
    assert_eq!(e.data["phase"], "load");
    assert!(e.data["message"].as_str().unwrap().contains("not a valid WASM component"), "{}", e.data);
    for _ in 0..3 {
        assert_eq!(beat_version(&mut h).await, 1, "the old version keeps firing");
    }
    let shown = h.view("beat").load_error.expect("the load error is shown");
    assert!(shown.contains("beat.wasm"), "{shown}");
    h.stop().await;
}

#[tokio::test]
async fn deleting_a_plugin_unloads_it() {
    let mut h = TestHost::start_with_plugins(&[], &[("beat", "beat-one")], "", Default::default()).await;
    assert_eq!(beat_version(&mut h).await, 1);
    std::fs::remove_file(h.plugin("beat")).unwrap();
    h.wait_for(W, "the unload", |e| about(e, "behaviour.unloaded", "beat")).await;
    assert!(h.host.behaviours().iter().all(|b| b.name != "beat"));
    assert!(h.host.scheduler().timers(Some("beat")).is_empty(), "its timers are cancelled");
    let quiet = tokio::time::timeout(Duration::from_secs(1), h.wait_for(W, "no beat", |e| is(e, "beat", "beat"))).await;
    assert!(quiet.is_err(), "no fire after the delete");
    h.stop().await;
}

#[tokio::test]
async fn a_plugin_copied_in_slowly_loads_once_complete_and_is_not_reported_broken() {
    let mut h = TestHost::start_with_plugins(&[], &[], "", Default::default()).await;
    let bytes = std::fs::read(built_plugin("beat-two")).unwrap();
    let path = h.plugin("beat");
    // Chunks 250 ms apart: longer than the 150 ms debounce, so only the settle check holds
    // the half-written file back.
    let writer = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut f = std::fs::File::create(&path).unwrap();
        for chunk in bytes.chunks(bytes.len() / 6 + 1) {
            f.write_all(chunk).unwrap();
            f.flush().unwrap();
            std::thread::sleep(Duration::from_millis(250));
        }
    });
    let e = h
        .wait_for(W, "the load", |e| about(e, "behaviour.loaded", "beat") || about(e, "behaviour.error", "beat"))
        .await;
    assert_eq!(e.name, "behaviour.loaded", "a half-copied file was reported: {}", e.data);
    writer.await.unwrap();
    assert_eq!(beat_version(&mut h).await, 2);
    h.stop().await;
}

#[tokio::test]
async fn a_plugin_built_for_an_unknown_major_version_is_refused_clearly() {
    let mut h = TestHost::start_with_plugins(&[], &[], "", Default::default()).await;
    std::fs::copy(built_plugin("future-wit"), h.plugin("future")).unwrap();
    let e = h.wait_for(W, "the refusal", |e| about(e, "behaviour.error", "future")).await;
    let msg = e.data["message"].as_str().unwrap();
    assert!(msg.contains("vigil:host@1.0.0") && msg.contains("vigil:host@0.1"), "{msg}");
    assert!(h.view("future").load_error.unwrap().contains("future.wasm: refused"));
    h.stop().await;
}

#[tokio::test]
async fn a_restart_loads_compiled_plugins_from_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
    std::fs::copy(built_plugin("beat-one"), dir.path().join("plugins/beat.wasm")).unwrap();
    let cache = dir.path().join("data/cache/wasm");
    for round in 0..2 {
        let shutdown = CancellationToken::new();
        let host = Host::start(config_in(dir.path(), ""), HostParts::default(), shutdown.clone()).await.unwrap();
        assert!(host.behaviours().iter().any(|b| b.name == "beat" && b.load_error.is_none()), "round {round}");
        let files: Vec<_> = std::fs::read_dir(&cache).unwrap().filter_map(|e| e.ok()).map(|e| e.path()).collect();
        assert_eq!(files.len(), 1, "one compiled component: {files:?}");
        assert!(files[0].extension().is_some_and(|e| e == "cwasm"));
        let cached = host.behaviours().iter().find(|b| b.name == "beat").unwrap().compiled.clone();
        assert_eq!(cached.as_deref(), Some(if round == 0 { "compiled" } else { "cache" }), "round {round}");
        shutdown.cancel();
        host.wait().await.unwrap();
    }
}
