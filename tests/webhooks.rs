//! Webhooks against a real HTTP receiver on 127.0.0.1 (axum): events published on a running
//! host's bus arrive signed (the signature verifies with the secret from the environment); a
//! receiver answering 500 twice gets the event on the third attempt, exactly once more, and
//! later events after it, in order; a 400 is not retried; only the configured prefixes are sent;
//! a stuck receiver holds up neither the bus nor the host and loses its oldest waiting events.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use vigil::events::Event;
use vigil::{Host, HostParts};

const W: Duration = Duration::from_secs(20);

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Got {
    event: String,
    delivery: String,
    signature: Option<String>,
    body: Vec<u8>,
    status: u16,
}

#[derive(Clone, Default)]
struct Receiver {
    /// Statuses to answer, in order; 200 once they run out.
    statuses: Arc<Mutex<VecDeque<u16>>>,
    got: Arc<Mutex<Vec<Got>>>,
    arrived: Arc<Notify>,
    /// When set, the first request is answered only once `release` is notified.
    hold_first: Arc<std::sync::atomic::AtomicBool>,
    release: Arc<Notify>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let status = r.statuses.lock().unwrap().pop_front().unwrap_or(200);
    r.got.lock().unwrap().push(Got {
        event: h("x-vigil-event").unwrap_or_default(),
        delivery: h("x-vigil-delivery").unwrap_or_default(),
        signature: h("x-vigil-signature"),
        body: body.to_vec(),
        status,
    });
    let first = r.got.lock().unwrap().len() == 1;
    r.arrived.notify_waiters();
    if first && r.hold_first.load(std::sync::atomic::Ordering::SeqCst) {
        r.release.notified().await;
    }
    StatusCode::from_u16(status).unwrap()
}

impl Receiver {
    /// A receiver on 127.0.0.1:<free port> answering `statuses` first; returns its URL.
    async fn start(statuses: &[u16]) -> (Receiver, String) {
        let r = Receiver::default();
        r.statuses.lock().unwrap().extend(statuses);
        let app = axum::Router::new().route("/hook", axum::routing::post(receive)).with_state(r.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (r, url)
    }

    fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests arrived.
    async fn wait_for(&self, n: usize) -> Vec<Got> {
        let deadline = tokio::time::Instant::now() + W;
        loop {
            let arrived = self.arrived.notified();
            let got = self.got();
            if got.len() >= n {
                return got;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                panic!("the receiver got {} requests, not {n}, within {W:?}: {got:?}", got.len());
            }
        }
    }
}

/// A host with `hooks` (TOML `[[webhooks]]` entries) and the environment `env`.
async fn host(hooks: &str, env: &[(&str, &str)]) -> (tempfile::TempDir, Host, CancellationToken) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vigil.toml");
    let text = format!(
        "data_dir = {:?}\nscripts_dir = {:?}\nplugins_dir = {:?}\n{hooks}",
        dir.path().join("data"),
        dir.path().join("scripts"),
        dir.path().join("plugins")
    );
    std::fs::write(&path, text).unwrap();
    let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
    let (config, _) = vigil::config::load(Some(&path), env).unwrap_or_else(|e| panic!("config: {e}"));
    let shutdown = CancellationToken::new();
    let parts = HostParts { watch: false, ..HostParts::default() };
    let host = Host::start(config, parts, shutdown.clone()).await.expect("host starts");
    (dir, host, shutdown)
}

fn publish(host: &Host, name: &str, data: serde_json::Value) {
    host.bus().publish(Event { name: name.into(), source: "test".into(), at: chrono::Utc::now(), data, depth: 0 });
}

fn hook(url: &str, extra: &str) -> String {
    format!("[[webhooks]]\nurl = {url:?}\nretry_min = \"50ms\"\nretry_max = \"200ms\"\n{extra}\n")
}

async fn stop(host: Host, shutdown: CancellationToken) {
    shutdown.cancel();
    tokio::time::timeout(W, host.wait()).await.expect("host stops in time").unwrap();
}

#[tokio::test]
async fn an_event_arrives_as_json_with_a_signature_that_verifies_with_the_secret() {
    let (r, url) = Receiver::start(&[]).await;
    let (_dir, host, shutdown) = host(
        &hook(&url, "events = [\"session.\"]\nsecret_env = \"HOOK_SECRET\""),
        &[("HOOK_SECRET", "s3cret-from-env")],
    )
    .await;
    publish(&host, "session.ready", serde_json::json!({ "session": "main" }));
    let got = r.wait_for(1).await;
    let g = &got[0];
    assert_eq!(g.event, "session.ready");
    assert_eq!(g.delivery.len(), 32, "a 128-bit hex delivery id: {}", g.delivery);
    let mut mac = Hmac::<Sha256>::new_from_slice(b"s3cret-from-env").unwrap();
    mac.update(&g.body);
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(g.signature.as_deref(), Some(format!("sha256={hex}").as_str()), "signed with the secret");
    let mut wrong = Hmac::<Sha256>::new_from_slice(b"another secret").unwrap();
    wrong.update(&g.body);
    assert!(wrong.verify_slice(&hex_decode(&g.signature.clone().unwrap()[7..])).is_err());
    let body: serde_json::Value = serde_json::from_slice(&g.body).unwrap();
    assert_eq!(body["name"], "session.ready");
    assert_eq!(body["source"], "test");
    assert_eq!(body["data"]["session"], "main");
    assert!(body["at"].as_str().unwrap().parse::<chrono::DateTime<chrono::Utc>>().is_ok(), "{body}");
    assert_eq!(body.as_object().unwrap().len(), 4, "name, source, at, data: {body}");
    stop(host, shutdown).await;
}

fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

#[tokio::test]
async fn a_receiver_failing_twice_gets_the_event_on_the_third_attempt_then_the_next_in_order() {
    let (r, url) = Receiver::start(&[500, 500]).await;
    let (_dir, host, shutdown) = host(&hook(&url, "events = [\"test.\"]"), &[]).await;
    publish(&host, "test.first", serde_json::json!({ "n": 1 }));
    publish(&host, "test.second", serde_json::json!({ "n": 2 }));
    let got = r.wait_for(4).await;
    let seen: Vec<(&str, u16)> = got.iter().map(|g| (g.event.as_str(), g.status)).collect();
    assert_eq!(seen, [("test.first", 500), ("test.first", 500), ("test.first", 200), ("test.second", 200)]);
    assert!(got[..3].iter().all(|g| g.delivery == got[0].delivery), "one delivery id across the retries");
    assert_ne!(got[3].delivery, got[0].delivery);
    // Well past the longest backoff: nothing more.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(r.got().len(), 4, "delivered exactly once");
    let stats = &host.webhooks()[0].stats;
    use std::sync::atomic::Ordering::Relaxed;
    assert_eq!((stats.attempts.load(Relaxed), stats.delivered.load(Relaxed)), (4, 2));
    stop(host, shutdown).await;
}

#[tokio::test]
async fn a_400_is_given_up_at_once_and_the_next_event_still_goes() {
    let (r, url) = Receiver::start(&[400]).await;
    let (_dir, host, shutdown) = host(&hook(&url, "events = [\"test.\"]"), &[]).await;
    publish(&host, "test.rejected", serde_json::json!({}));
    r.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(r.got().len(), 1, "a 400 is not retried");
    publish(&host, "test.accepted", serde_json::json!({}));
    let got = r.wait_for(2).await;
    assert_eq!(got[1].event, "test.accepted");
    use std::sync::atomic::Ordering::Relaxed;
    assert_eq!(host.webhooks()[0].stats.given_up.load(Relaxed), 1);
    stop(host, shutdown).await;
}

#[tokio::test]
async fn only_events_with_a_configured_prefix_are_sent() {
    let (r, url) = Receiver::start(&[]).await;
    let (_dir, host, shutdown) = host(&hook(&url, "events = [\"session.\", \"monitor.disconnected\"]"), &[]).await;
    for name in
        ["behaviour.reloaded", "sessions.other", "session.qr", "monitor.ok", "monitor.disconnected", "session.ready"]
    {
        publish(&host, name, serde_json::json!({}));
    }
    // In order per receiver: once the last wanted one is in, any unwanted one would be too.
    let got = r.wait_for(3).await;
    let names: Vec<&str> = got.iter().map(|g| g.event.as_str()).collect();
    assert_eq!(names, ["session.qr", "monitor.disconnected", "session.ready"]);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(r.got().len(), 3);
    stop(host, shutdown).await;
}

#[tokio::test]
async fn a_stuck_receiver_holds_up_neither_the_bus_nor_the_host_and_loses_its_oldest_waiting_events() {
    let (r, url) = Receiver::start(&[]).await;
    r.hold_first.store(true, std::sync::atomic::Ordering::SeqCst);
    let (_dir, host, shutdown) = host(&hook(&url, "events = [\"test.\"]\nqueue = 2\ntimeout = \"30s\""), &[]).await;
    let mut bus = host.bus().subscribe();
    publish(&host, "test.0", serde_json::json!({}));
    r.wait_for(1).await; // test.0 is in flight, and stuck
    for n in 1..=5 {
        publish(&host, &format!("test.{n}"), serde_json::json!({}));
    }
    // Another subscriber of the bus gets everything at once.
    for n in 0..=5 {
        let e = tokio::time::timeout(W, bus.recv()).await.expect("the bus is not held up").unwrap();
        assert_eq!(e.name, format!("test.{n}"));
    }
    use std::sync::atomic::Ordering::Relaxed;
    let stats = host.webhooks()[0].stats.clone();
    let deadline = tokio::time::Instant::now() + W;
    while stats.dropped.load(Relaxed) < 3 {
        assert!(tokio::time::Instant::now() < deadline, "dropped {}", stats.dropped.load(Relaxed));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    r.release.notify_one();
    let got = r.wait_for(3).await;
    let names: Vec<&str> = got.iter().map(|g| g.event.as_str()).collect();
    assert_eq!(names, ["test.0", "test.4", "test.5"], "the two newest waited, the three oldest were dropped");
    assert_eq!(stats.dropped.load(Relaxed), 3);
    stop(host, shutdown).await;
}

#[test]
fn a_missing_secret_or_a_bad_url_is_a_config_error_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vigil.toml");
    std::fs::write(&path, "[[webhooks]]\nurl = \"https://hooks.example.com/vigil\"\nsecret_env = \"HOOK_SECRET\"\n")
        .unwrap();
    let e = vigil::config::load(Some(&path), Vec::new()).unwrap_err().to_string();
    assert!(e.contains("webhooks[0].secret_env") && e.contains("HOOK_SECRET"), "{e}");
    std::fs::write(&path, "[[webhooks]]\nurl = \"hooks.example.com\"\n").unwrap();
    let e = vigil::config::load(Some(&path), Vec::new()).unwrap_err().to_string();
    assert!(e.contains("webhooks[0].url"), "{e}");
    std::fs::write(&path, "[[webhooks]]\nurl = \"https://hooks.example.com/vigil\"\nsecret = \"inline\"\n").unwrap();
    let e = vigil::config::load(Some(&path), Vec::new()).unwrap_err().to_string();
    assert!(e.contains("unknown field") && e.contains("secret"), "a secret in the file is refused: {e}");
}
