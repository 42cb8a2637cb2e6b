//! Sessions end to end: real Chromium on the simulator, driven by the host and by behaviours.

use std::time::Duration;

use vigil::sessions::{SessionStatus, Sessions};
use vigil_tests::{assert_no_leftovers, sessions_toml, simulator, SessionsHost};

const W: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_session_links_by_qr_and_a_behaviour_sends() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let sender = r#"
on("session.ready", "greet");
fn greet(ev) {
    let id = send_text(ev.data.session, config("to"), "hola desde vigil");
    emit("greeted", #{ id: id });
}
"#;
    let config = format!(
        "{}[behaviours.sender]\ngrants = [\"sessions.read\", \"sessions.send\"]\n[behaviours.sender.params]\nto = \"+34 600 000 002\"\n",
        sessions_toml(sim.https_port(), "")
    );
    let mut h = SessionsHost::start(dir.path(), &[("sender", sender)], &config, &["main"]).await;
    h.link(&sim, "main", "34600000001").await;
    let greeted = vigil_tests::wait_for(&mut h.events, W, "the behaviour's send", |e| e.name == "greeted").await;
    let id = greeted.data["id"].as_str().unwrap().to_string();
    let messages = sim.client().messages().await.unwrap();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0].id, id);
    assert_eq!(messages[0].from, "34600000001@c.us");
    assert_eq!(messages[0].to, "34600000002@c.us");
    assert_eq!(messages[0].body, "hola desde vigil");
    assert_eq!(h.sessions.state("main", W).await.unwrap(), "CONNECTED");
    let info = h.sessions.info("main").unwrap();
    assert_eq!(info.phone.as_deref(), Some("34600000001"));
    assert!(h.sessions.ping("main", W).await.unwrap() < Duration::from_secs(2));

    h.stop().await;
    sim.stop().await;
    assert_no_leftovers(&dir.path().display().to_string(), Duration::from_secs(10)).await;
    let _ = SessionStatus::Ready;
}
