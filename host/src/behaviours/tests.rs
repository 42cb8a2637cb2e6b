//! Behaviours on a paused clock with in-memory sessions: capabilities, handler arguments,
//! top-level values, kv across reloads.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::config::Config;
use crate::events::Event;
use crate::sessions::memory::MemorySessions;
use crate::sessions::SessionStatus;
use crate::state::FileStore;
use crate::{Host, HostParts};

struct T {
    _dir: tempfile::TempDir,
    host: Host,
    sessions: Arc<MemorySessions>,
    events: tokio::sync::broadcast::Receiver<Event>,
    shutdown: CancellationToken,
}

async fn start(script: &str, config: &str) -> T {
    let dir = tempfile::tempdir().unwrap();
    let scripts = dir.path().join("scripts");
    std::fs::create_dir_all(&scripts).unwrap();
    std::fs::write(scripts.join("b.rhai"), script).unwrap();
    let text = format!("data_dir = {:?}\nscripts_dir = {:?}\nseed = 7\n{config}", dir.path().join("data"), scripts);
    let config: Config = crate::config::load::parse_with_env(&text, "vigil.toml", Vec::new()).unwrap();
    let sessions = Arc::new(MemorySessions::new());
    sessions.add("main", SessionStatus::Ready, "CONNECTED");
    let parts = HostParts {
        clock: Clock::starting_at("2027-01-04T10:00:00Z".parse().unwrap()),
        sessions: sessions.clone(),
        store: Some(Arc::new(FileStore::in_memory())),
        watch: false,
        bus: None,
    };
    let shutdown = CancellationToken::new();
    let host = Host::start(config, parts, shutdown.clone()).await.unwrap();
    let events = host.bus().subscribe();
    T { _dir: dir, host, sessions, events, shutdown }
}

impl T {
    async fn next(&mut self, name: &str) -> Event {
        loop {
            let e = tokio::time::timeout(Duration::from_secs(24 * 3600), self.events.recv())
                .await
                .expect("event in time")
                .unwrap();
            if e.name == name {
                return e;
            }
        }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.host.wait().await.unwrap();
    }
}

const SENDER: &str = r#"
every("1m", "send");
fn send() {
    let id = send_text("main", config("to"), "hola");
    emit("sent", #{ id: id });
}
"#;

#[tokio::test(start_paused = true)]
async fn a_call_without_its_grant_fails_naming_behaviour_and_capability() {
    let mut t = start(SENDER, "[behaviours.b.params]\nto = \"+34 600 000 000\"\n").await;
    let e = t.next("behaviour.error").await;
    let msg = e.data["outcome"]["message"].as_str().unwrap().to_string();
    assert!(msg.contains("behaviour `b`") && msg.contains("`send_text`") && msg.contains("`sessions.send`"), "{msg}");
    assert_eq!(e.data["outcome"]["line"], 4, "{}", e.data);
    assert!(t.sessions.sent().is_empty(), "nothing was sent");
    let trace = t.host.behaviours()[0].traces.last().cloned().unwrap();
    assert_eq!(trace.calls[0].call, "send_text");
    assert!(!trace.calls[0].ok);
    t.stop().await;
}

#[tokio::test(start_paused = true)]
async fn once_granted_the_call_works() {
    let mut t = start(
        SENDER,
        "[behaviours.b]\ngrants = [\"sessions.send\"]\n[behaviours.b.params]\nto = \"+34 600 000 000\"\n",
    )
    .await;
    let e = t.next("sent").await;
    assert_eq!(e.data["id"], "mem-1");
    let sent = t.sessions.sent();
    assert_eq!((sent[0].to.as_str(), sent[0].text.as_str()), ("34600000000@c.us", "hola"));
    t.stop().await;
}

#[tokio::test(start_paused = true)]
async fn handlers_get_the_event_and_see_top_level_values() {
    let script = r#"
let greeting = "hi";
const LIMIT = 3;
every("30s", "tick");
on("poke", "poked");
fn tick(ev) { emit("ticked", #{ kind: ev.kind, trigger: ev.trigger, greeting: greeting, limit: LIMIT }); }
fn poked(ev) { emit("got", #{ from: ev.source, n: ev.data.n }); }
"#;
    let mut t = start(script, "").await;
    let e = t.next("ticked").await;
    assert_eq!(e.data["kind"], "timer");
    assert_eq!(e.data["trigger"], "every 30s -> tick");
    assert_eq!(e.data["greeting"], "hi");
    assert_eq!(e.data["limit"], 3);
    t.host.bus().publish(Event {
        name: "poke".into(),
        source: "test".into(),
        at: chrono::Utc::now(),
        data: serde_json::json!({"n": 5}),
        depth: 0,
    });
    let e = t.next("got").await;
    assert_eq!((e.data["from"].as_str(), e.data["n"].as_i64()), (Some("test"), Some(5)));
    t.stop().await;
}

#[tokio::test(start_paused = true)]
async fn kv_survives_a_reload_and_sessions_are_listed() {
    let script = |v: i64| {
        format!(
            r#"
every("1m", "count");
fn count() {{
    let n = kv_get("n", 0) + 1;
    kv_set("n", n);
    let ids = sessions().map(|s| s.id + ":" + s.status);
    emit("counted", #{{ n: n, v: {v}, ids: ids }});
}}
"#
        )
    };
    let mut t = start(&script(1), "[behaviours.b]\ngrants = [\"sessions.read\"]\n").await;
    assert_eq!(t.next("counted").await.data["n"], 1);
    let e = t.next("counted").await;
    assert_eq!((e.data["n"].as_i64(), e.data["ids"][0].as_str()), (Some(2), Some("main:ready")));
    let path = t.host.config().scripts_dir.join("b.rhai");
    std::fs::write(&path, script(2)).unwrap();
    t.host.sync(path).await;
    let e = t.next("counted").await;
    assert_eq!((e.data["n"].as_i64(), e.data["v"].as_i64()), (Some(3), Some(2)));
    t.stop().await;
}

#[tokio::test(start_paused = true)]
async fn handlers_that_emit_to_each_other_stop_at_the_depth_limit() {
    let script = r#"on("ping", "pong"); fn pong(ev) { emit("ping", #{ n: ev.data.n + 1 }); }"#;
    let mut t = start(script, "").await;
    t.host.bus().publish(Event {
        name: "ping".into(),
        source: "test".into(),
        at: chrono::Utc::now(),
        data: serde_json::json!({"n": 0}),
        depth: 0,
    });
    let mut last = 0;
    while let Ok(Ok(e)) = tokio::time::timeout(Duration::from_secs(5), t.events.recv()).await {
        if e.name == "ping" {
            last = e.data["n"].as_i64().unwrap();
        }
    }
    assert_eq!(last, crate::events::MAX_EVENT_DEPTH as i64, "the chain stops at the depth limit");
    t.stop().await;
}

#[tokio::test(start_paused = true)]
async fn after_inside_a_handler_fires_once() {
    let script =
        r#"after("1m", "arm"); fn arm() { after("5m", "later"); emit("armed"); } fn later() { emit("later"); }"#;
    let mut t = start(script, "").await;
    let armed = t.next("armed").await.at;
    let later = t.next("later").await.at;
    assert_eq!((later - armed).num_seconds(), 300);
    let again = tokio::time::timeout(Duration::from_secs(3600), t.next("later")).await;
    assert!(again.is_err(), "a one-shot fires once");
    t.stop().await;
}
