//! The TypeScript keepalive, built from source, dropped into a running host's plugins folder
//! with a real Chromium session on the simulator: it loads, its message is recorded by the
//! simulator, it is replaced live when the file changes, and unloaded when the file is deleted.

use std::time::Duration;

use vigil_tests::{about, built_plugin, sessions_toml, simulator, wait_for, SessionsHost};

const W: Duration = Duration::from_secs(40);
const ME: &str = "34600000001";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e2e_typescript_keepalive_dropped_in_sends_is_replaced_and_unloaded() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
    let config = format!(
        "{}[behaviours.keepalive]\ngrants = [\"sessions.read\", \"sessions.send\"]\n\
         [behaviours.keepalive.params]\nto = \"+34 600 000 002\"\nevery = \"2s\"\nfirst = \"1s\"\n",
        sessions_toml(sim.https_port(), "")
    );
    let mut h = SessionsHost::start_watching(dir.path(), &config, &["main"]).await;
    h.link(&sim, "main", ME).await;
    let plugin = dir.path().join("plugins/keepalive.wasm");
    std::fs::copy(built_plugin("keepalive-ts"), &plugin).unwrap();
    wait_for(&mut h.events, W, "the load", |e| about(e, "behaviour.loaded", "keepalive")).await;
    // Sent through the ready session: the simulator has it, from the linked phone to `to`.
    let deadline = tokio::time::Instant::now() + W;
    let m = loop {
        let messages = sim.client().messages().await.unwrap();
        if let Some(m) = messages.into_iter().find(|m| m.to == "34600000002@c.us") {
            break m;
        }
        assert!(tokio::time::Instant::now() < deadline, "no keepalive message reached the simulator");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(m.from, "34600000001@c.us");
    let source = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/examples/keepalive-ts/src/keepalive-ts.ts"),
    )
    .unwrap();
    assert!(source.contains(&format!("'{}'", m.body)), "one of its messages: {}", m.body);
    // Replaced live: another build under the same name (the session-status plugin).
    std::fs::copy(built_plugin("session-status-ts"), &plugin).unwrap();
    wait_for(&mut h.events, W, "the reload", |e| about(e, "behaviour.reloaded", "keepalive")).await;
    let view = h.host.behaviours().into_iter().find(|b| b.name == "keepalive").unwrap();
    assert!(view.triggers.iter().any(|t| t.trigger == "every 1h -> summary"), "{:?}", view.triggers);
    assert!(view.triggers.iter().all(|t| !t.trigger.contains("-> keepalive")), "{:?}", view.triggers);
    // Deleted: unloaded, its timers gone.
    std::fs::remove_file(&plugin).unwrap();
    wait_for(&mut h.events, W, "the unload", |e| about(e, "behaviour.unloaded", "keepalive")).await;
    assert!(h.host.behaviours().iter().all(|b| b.name != "keepalive"));
    assert!(h.host.scheduler().timers(Some("keepalive")).is_empty());
    h.stop().await;
    sim.stop().await;
}
