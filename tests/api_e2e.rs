//! The HTTP API over real Chromium on the simulator: a session created through the API links
//! by the QR it serves, sends a message, and a WhatsApp state change reaches a WebSocket
//! client at once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;
use vigil_tests::api::{serve, TOKEN};
use vigil_tests::{assert_no_leftovers, sessions_toml, simulator, SessionsHost};
use wa_sim::WaState;

const ME: &str = "34600000001";

/// GETs `/api/sessions/api1` until `pred` holds, failing after `within`.
async fn session_until(
    http: &reqwest::Client,
    url: &str,
    within: Duration,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let s: Value =
            http.get(format!("{url}/api/sessions/api1")).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
        if pred(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "{what} not within {within:?}: {s}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_created_through_the_api_links_sends_and_streams_its_state() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let h = SessionsHost::start(dir.path(), &[], &sessions_toml(sim.https_port(), ""), &[]).await;
    let url = serve(&h.host, Arc::new(h.sessions.clone()), Some(TOKEN), h.shutdown.clone()).await;
    let http = vigil_tests::http_client();

    let r = http
        .post(format!("{url}/api/sessions"))
        .bearer_auth(TOKEN)
        .json(&json!({"id": "api1", "label": "API"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let s: Value = r.json().await.unwrap();
    assert_eq!(s["status"], "starting", "started by default: {s}");

    let s = session_until(&http, &url, Duration::from_secs(40), "a QR", |s| s["status"] == "qr" && s["qr"].is_string())
        .await;
    let qr = s["qr"].as_str().unwrap().to_string();
    for (format, ctype) in [("png", "image/png"), ("svg", "image/svg+xml"), ("text", "text/plain; charset=utf-8")] {
        let r =
            http.get(format!("{url}/api/sessions/api1/qr?format={format}")).bearer_auth(TOKEN).send().await.unwrap();
        assert_eq!(r.status(), 200, "{format}");
        assert_eq!(r.headers()["content-type"], ctype);
        assert!(r.bytes().await.unwrap().len() > 200, "{format}");
    }

    sim.client().scan(Some(&qr), Some(ME)).await.expect("the scan is accepted");
    let s = session_until(&http, &url, Duration::from_secs(20), "ready", |s| s["status"] == "ready").await;
    assert_eq!(s["phone"], ME);
    assert_eq!(s["qr"], Value::Null);
    let r = http.get(format!("{url}/api/sessions/api1/qr")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status(), 404, "no QR once linked");

    let r = http
        .post(format!("{url}/api/sessions/api1/messages"))
        .bearer_auth(TOKEN)
        .json(&json!({"to": "+34 600 000 002", "text": "hola desde la API"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let messages = sim.client().messages().await.unwrap();
    let m = messages.iter().find(|m| m.id == id).unwrap_or_else(|| panic!("{id} not in {messages:?}"));
    assert_eq!(
        (m.from.as_str(), m.to.as_str(), m.body.as_str()),
        ("34600000001@c.us", "34600000002@c.us", "hola desde la API")
    );

    // A state forced in the simulator reaches a subscribed WebSocket client.
    let ws_url = format!("{}/events?session=api1&token={TOKEN}", url.replacen("http://", "ws://", 1));
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
    let t0 = Instant::now();
    sim.client().force_state(WaState::Conflict, Some(ME)).await.unwrap();
    let event = loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("the CONFLICT state reaches the WebSocket within 5s")
            .unwrap()
            .unwrap();
        let Message::Text(text) = msg else { continue };
        let e: Value = serde_json::from_str(&text).unwrap();
        if e["name"] == "session.state" && e["data"]["state"] == "CONFLICT" {
            break e;
        }
    };
    let latency = t0.elapsed();
    println!("force_state(CONFLICT) → WebSocket client: {:.1} ms", latency.as_secs_f64() * 1e3);
    assert_eq!(event["data"]["session"], "api1");
    assert!(latency < Duration::from_secs(5), "{latency:?}");
    let s =
        session_until(&http, &url, Duration::from_secs(10), "wa_state CONFLICT", |s| s["wa_state"] == "CONFLICT").await;
    assert_eq!(s["id"], "api1");

    let r = http.get(format!("{url}/metrics")).bearer_auth(TOKEN).send().await.unwrap();
    let text = r.text().await.unwrap();
    assert!(text.contains("vigil_messages_sent_total{session=\"api1\"} 1"), "{text}");

    let r = http.delete(format!("{url}/api/sessions/api1")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert!(!dir.path().join("data/sessions/api1").exists(), "the session's folder is gone");
    drop(ws);
    h.stop().await;
    sim.stop().await;
    assert_no_leftovers(&dir.path().display().to_string(), Duration::from_secs(10)).await;
}
