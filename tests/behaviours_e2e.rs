//! The default behaviours of `scripts/` end to end, with real Chromium, the simulator and a
//! real SMTP server: keepalive's message arrives at the simulator; monitor turns a forced
//! `UNPAIRED` into status `error` and the disconnection email; watchdog restarts a hung page,
//! which comes back `ready`. Timings are shortened through `[behaviours.*.params]`.

use std::time::Duration;
use vigil_tests::sid;

use vigil::sessions::SessionStatus;
use vigil_tests::smtp::{decoded, SmtpServer};
use vigil_tests::{sessions_toml, simulator, wait_for, SessionsHost};
use wa_sim::{FaultKind, WaState};

const W: Duration = Duration::from_secs(30);
const ME: &str = "34600000001";

fn script(name: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../scripts/{name}.rhai")))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e2e_keepalive_message_arrives_at_the_simulator() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "{}[behaviours.keepalive.params]\nto = \"+34 600 000 002\"\nevery = \"2s\"\nfirst = \"1s\"\n",
        sessions_toml(sim.https_port(), "")
    );
    let keepalive = script("keepalive");
    let mut h = SessionsHost::start(dir.path(), &[("keepalive", &keepalive)], &config, &["main"]).await;
    h.link(&sim, "main", ME).await;
    let sent = wait_for(&mut h.events, W, "keepalive.sent", |e| e.name == "keepalive.sent").await;
    let text = sent.data["text"].as_str().unwrap().to_string();
    assert!(keepalive.contains(&format!("\"{text}\"")), "one of the seed's messages: {text}");
    let messages = sim.client().messages().await.unwrap();
    let m = messages.iter().find(|m| m.body == text).expect("recorded by the simulator");
    assert_eq!((m.from.as_str(), m.to.as_str()), ("34600000001@c.us", "34600000002@c.us"));
    h.stop().await;
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e2e_monitor_turns_a_forced_unpaired_into_error_and_an_email() {
    let sim = simulator().await;
    let smtp = SmtpServer::start(0);
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "{}[smtp]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"plain\"\nfrom = \"vigil <vigil@example.com>\"\n\
         [alerts]\nlogin_url = \"https://vigil.example.com/settings\"\ntemplates_dir = {:?}\n\
         [owners.\"ana@example.com\"]\nname = \"Ana\"\nsessions = [\"main\"]\n\
         [behaviours.monitor.params]\nevery = \"2s\"\n",
        sessions_toml(sim.https_port(), ""),
        smtp.port,
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/templates")
    );
    let mut h = SessionsHost::start(dir.path(), &[("monitor", &script("monitor"))], &config, &["main"]).await;
    h.link(&sim, "main", ME).await;
    sim.client().force_state(WaState::Unpaired, Some(ME)).await.unwrap();
    wait_for(&mut h.events, W, "monitor.disconnected", |e| e.name == "monitor.disconnected").await;
    h.wait_status("main", SessionStatus::Error, W).await;
    let mail = decoded(&smtp.wait_for(1, W)[0]);
    for field in [
        "To: ana@example.com",
        "Hola Ana",
        "\"main\"",
        "+34600000001",
        "Motivo: WhatsApp dice UNPAIRED",
        "Hora: ",
        "https://vigil.example.com/settings",
    ] {
        assert!(mail.contains(field), "missing {field:?} in:\n{mail}");
    }
    h.stop().await;
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e2e_watchdog_restarts_a_hung_page_and_it_comes_back_ready() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "{}[behaviours.watchdog.params]\nevery = \"2s\"\ntimeout = \"2s\"\n",
        sessions_toml(sim.https_port(), "ping_interval = \"1h\"\n")
    );
    let mut h = SessionsHost::start(dir.path(), &[("watchdog", &script("watchdog"))], &config, &["main"]).await;
    h.link(&sim, "main", ME).await;
    h.settle("main").await;
    sim.client().fault(FaultKind::Hang, None).await.unwrap();
    let r = wait_for(&mut h.events, W, "watchdog.restarted", |e| e.name == "watchdog.restarted").await;
    assert_eq!(r.data["session"], "main");
    sim.client().fault(FaultKind::None, None).await.unwrap();
    h.wait_status("main", SessionStatus::Ready, Duration::from_secs(60)).await;
    assert!(h.sessions.qr(&sid("main")).is_none(), "back without a QR");
    h.stop().await;
    sim.stop().await;
}
