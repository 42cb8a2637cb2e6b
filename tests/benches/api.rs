//! HTTP API benchmarks on loopback (rerun: `cargo bench -p vigil-tests --bench api`), against a
//! host with 20 in-memory sessions (the API's own cost, not Chromium's):
//! 1. `GET /api/sessions` and `POST /api/sessions/{id}/messages`: 50 concurrent clients for
//!    10 s each — p50, p99, requests/s;
//! 2. event fan-out: 100 WebSocket clients on `/events`; 200 events published one at a time,
//!    latency from publish to each client's receipt — p50, p99, max.
//!
//! Measured (release, 2 cores shared by server and clients, quiet machine, 2026-11-29):
//! `GET /api/sessions` 10.3k req/s, p50 4.7 ms, p99 8.9 ms; `POST …/messages` 19.5k req/s,
//! p50 2.5 ms, p99 4.7 ms; fan-out to 100 WebSocket clients p50 2.6 ms, p99 4.3 ms, max 8.2 ms.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use vigil::events::Event;
use vigil::sessions::SessionStatus;
use vigil_tests::api::{ApiHost, TOKEN};

const CLIENTS: usize = 50;
const FOR: Duration = Duration::from_secs(10);
const WS_CLIENTS: usize = 100;
const EVENTS: usize = 200;

fn pct(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e3
}

async fn load(h: &Arc<ApiHost>, what: &str, post: bool) {
    let mut tasks = Vec::new();
    let start = Instant::now();
    for c in 0..CLIENTS {
        let h = h.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut i = 0u64;
            while start.elapsed() < FOR {
                let t0 = Instant::now();
                let r = if post {
                    let body = json!({"to": "+34 600 000 002", "text": format!("bench {c}-{i}")});
                    h.post(&format!("/api/sessions/s{}/messages", c % 20)).json(&body).send().await
                } else {
                    h.get("/api/sessions").send().await
                };
                let r = r.expect("the request is answered");
                assert!(r.status().is_success(), "{}", r.status());
                r.bytes().await.unwrap();
                lat.push(t0.elapsed());
                i += 1;
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let secs = start.elapsed().as_secs_f64();
    all.sort();
    println!(
        "{what}: {CLIENTS} clients, {:.0} s: {} requests, {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms",
        secs,
        all.len(),
        all.len() as f64 / secs,
        pct(&all, 0.5),
        pct(&all, 0.99)
    );
}

async fn fan_out(h: &Arc<ApiHost>) {
    let mut clients = Vec::new();
    for _ in 0..WS_CLIENTS {
        let (ws, _) = tokio_tungstenite::connect_async(h.ws_url(&format!("?token={TOKEN}"))).await.unwrap();
        clients.push(ws);
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Duration>(WS_CLIENTS * EVENTS);
    let epoch = Instant::now();
    for mut ws in clients {
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut seen = 0;
            while seen < EVENTS {
                let Some(Ok(Message::Text(t))) = ws.next().await else { continue };
                let v: serde_json::Value = serde_json::from_str(&t).unwrap();
                if v["name"] != "bench.tick" {
                    continue;
                }
                let sent = Duration::from_nanos(v["data"]["t"].as_u64().unwrap());
                tx.send(epoch.elapsed() - sent).await.unwrap();
                seen += 1;
            }
        });
    }
    drop(tx);
    for i in 0..EVENTS {
        let t = epoch.elapsed().as_nanos() as u64;
        h.test.host.bus().publish(Event {
            name: "bench.tick".into(),
            source: "bench".into(),
            at: chrono::Utc::now(),
            data: json!({ "t": t, "i": i }),
            depth: 0,
        });
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut lat = Vec::new();
    while let Some(d) = rx.recv().await {
        lat.push(d);
    }
    lat.sort();
    println!(
        "events fan-out: {WS_CLIENTS} WebSocket clients × {EVENTS} events ({} deliveries): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        lat.len(),
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        lat.last().unwrap().as_secs_f64() * 1e3
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let h = ApiHost::start(&[], Some(TOKEN)).await;
        for i in 0..20 {
            h.sessions.add(&format!("s{i}"), SessionStatus::Ready, "CONNECTED");
        }
        let h = Arc::new(h);
        println!("cores: {}", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0));
        load(&h, "GET /api/sessions (20 sessions)", false).await;
        load(&h, "POST /api/sessions/{id}/messages", true).await;
        fan_out(&h).await;
        match Arc::try_unwrap(h) {
            Ok(h) => h.stop().await,
            Err(_) => panic!("clients still hold the host"),
        }
    });
}
