//! Webhooks in cluster mode: the deliveries wait in the shared PostgreSQL, and every host with
//! the same `[[webhooks]]` receiver drains that one queue. Each delivery must still be sent
//! by one host at a time: a host claims the receiver's oldest due row (a claim column with an
//! expiry, taken in one UPDATE) before it POSTs it.
//! - the real `vigil run` binary twice, hosts a and b in cluster mode on one real PostgreSQL,
//!   one real HTTP receiver (axum on 127.0.0.1): while the receiver answers 503 both hosts
//!   retry the same five deliveries; once it answers 200 each arrives exactly once, in order;
//! - the claims on the store: a claimed row is not claimed by another host until its claim
//!   expires, the old claimant's late outcome is then refused, and a host restarted under
//!   the same node id takes its own claims back at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;
use vigil::store::webhooks::NewDelivery;
use vigil::store::Store;
use vigil_tests::cluster::{free_port, logs, one, spawn_with, until, Node};
use vigil_tests::pg::fresh_database;

// Emits `test.n` 1..=5 once (kv, in the shared store, remembers it).
use crate::webhooks_durable::BURST;

/// What the receiver got: (delivery id, `data.i`, the status it answered).
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<(String, i64, u16)>>>,
    /// The status to answer.
    answer: Arc<AtomicU16>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let id = headers.get("x-vigil-delivery").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let v: Value = serde_json::from_slice(&body).unwrap_or_default();
    let status = r.answer.load(Ordering::SeqCst);
    r.got.lock().unwrap().push((id, v["data"]["i"].as_i64().unwrap_or(-1), status));
    StatusCode::from_u16(status).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hosts_on_one_postgres_send_each_delivery_once_in_order() {
    let Some(db) = fresh_database() else { return };
    let t0 = std::time::Instant::now();
    let receiver = Receiver::default();
    receiver.answer.store(503, Ordering::SeqCst);
    let app = axum::Router::new().route("/hook", axum::routing::post(receive)).with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let hook_port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let root = tempfile::tempdir().unwrap();
    let mut nodes = Vec::new();
    for name in ["a", "b"] {
        let dir = root.path().join(name);
        std::fs::create_dir_all(dir.join("scripts")).unwrap();
        let toml = format!(
            "data_dir = \"./data\"\nscripts_dir = \"./scripts\"\nplugins_dir = \"./plugins\"\n\
             [cluster]\nenabled = true\nnode_id = \"{name}\"\nmax_sessions = 1\nlease_ttl = \"6s\"\n\
             [[webhooks]]\nurl = \"http://127.0.0.1:{hook_port}/hook\"\nevents = [\"test.\"]\n\
             retry_min = \"100ms\"\nretry_max = \"300ms\"\nattempts = 1000\ntimeout = \"2s\"\n"
        );
        std::fs::write(dir.join("vigil.toml"), toml).unwrap();
        nodes.push(Node { name: name.into(), dir, child: None });
    }
    // Only a emits; b sends what a queued.
    std::fs::write(nodes[0].dir.join("scripts/burst.rhai"), BURST).unwrap();
    // The schema first (one migration run), then the hosts.
    let out = vigil_tests::vigil_command(&nodes[1].dir, &["session", "list"])
        .env("VIGIL_DATABASE_URL", &db)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let env = |port: u16| vec![("VIGIL_API__LISTEN", format!("127.0.0.1:{port}"))];
    spawn_with(&mut nodes[0], &db, env(free_port()));
    let pending = || one(&db, "SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending'");
    until(Duration::from_secs(60), "a's five deliveries pending", || (pending() == "5").then_some(())).await;
    spawn_with(&mut nodes[1], &db, env(free_port()));
    until(Duration::from_secs(60), "b up", || {
        std::fs::read_to_string(nodes[1].dir.join("run.log")).ok()?.contains("webhook ready").then_some(())
    })
    .await;
    // Both hosts retry the oldest delivery against the 503s for a while.
    let n503 = || receiver.got.lock().unwrap().iter().filter(|g| g.2 == 503).count();
    let before = n503();
    until(Duration::from_secs(20), "retries while both hosts run", || (n503() >= before + 10).then_some(())).await;
    assert_eq!(pending(), "5", "nothing delivered yet\n{}", logs(&nodes));

    eprintln!("{:?}: both hosts retried the five deliveries; the receiver answers 200 now", t0.elapsed());
    receiver.answer.store(200, Ordering::SeqCst);
    until(Duration::from_secs(30), "every delivery taken", || (pending() == "0").then_some(())).await;
    tokio::time::sleep(Duration::from_secs(2)).await; // a second copy would have come by now
    let got = receiver.got.lock().unwrap().clone();
    let ok: Vec<&(String, i64, u16)> = got.iter().filter(|g| g.2 == 200).collect();
    let order: Vec<i64> = ok.iter().map(|g| g.1).collect();
    assert_eq!(order, [1, 2, 3, 4, 5], "every event once, in order: {ok:?}\n{}", logs(&nodes));
    let mut per_id: HashMap<&str, usize> = HashMap::new();
    for g in &ok {
        *per_id.entry(g.0.as_str()).or_default() += 1;
    }
    assert!(per_id.values().all(|&n| n == 1), "one X-Vigil-Delivery accepted twice: {ok:?}");
    // No two attempts of one delivery overlapped: a delivery answered 200 is never tried again.
    for (i, g) in got.iter().enumerate() {
        if g.2 == 200 {
            assert!(!got[i + 1..].iter().any(|h| h.0 == g.0), "{} tried again after its 200: {got:?}", g.0);
        }
    }
    eprintln!("{:?}: delivered", t0.elapsed());
    vigil_tests::cluster::stop_all(&mut nodes);
    eprintln!("{:?}: stopped", t0.elapsed());
}

#[tokio::test]
async fn a_claimed_delivery_is_not_claimed_twice_until_its_claim_expires() {
    let Some(db) = fresh_database() else { return };
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(Some(&db), dir.path()).await.unwrap();
    let url = "http://127.0.0.1:9/hook";
    let t0: chrono::DateTime<chrono::Utc> = "2027-01-01T00:00:00Z".parse().unwrap();
    let s = chrono::Duration::seconds;
    for (id, body) in [("d1", "{\"i\":1}"), ("d2", "{\"i\":2}")] {
        let d = NewDelivery { receiver: url, id, event: "test.n", body };
        store.queue_webhook(d, t0, 100).await.unwrap();
    }
    let claim = std::time::Duration::from_secs(30);
    let first = store.claim_webhook(url, "a", t0, claim).await.unwrap();
    let row = first.delivery().expect("a claims the oldest").clone();
    assert_eq!(row.id, "d1");
    // b neither takes d1 nor skips ahead to d2 (one receiver gets its events in order).
    let b = store.claim_webhook(url, "b", t0 + s(29), claim).await.unwrap();
    assert!(b.delivery().is_none(), "b waits while a's claim holds: {b:?}");
    // a died mid-attempt: past the claim, b takes d1 over; a's late outcome is refused.
    let b = store.claim_webhook(url, "b", t0 + s(31), claim).await.unwrap();
    assert_eq!(b.delivery().map(|d| d.id.as_str()), Some("d1"), "b takes an expired claim over");
    let late = store.webhook_failed(row.row, "a", "answered 503", Some(t0 + s(32))).await.unwrap();
    assert!(!late, "the old claimant's outcome is refused");
    assert_eq!(one(&db, "SELECT claimed_by FROM webhook_deliveries WHERE delivery = 'd1'"), "b");
    // b's retry releases the row; a restarted under its node id takes its own claim back at once.
    assert!(store.webhook_failed(row.row, "b", "answered 503", Some(t0 + s(31))).await.unwrap());
    let a = store.claim_webhook(url, "a", t0 + s(31), claim).await.unwrap();
    assert_eq!(a.delivery().map(|d| d.id.as_str()), Some("d1"));
    let a2 = store.claim_webhook(url, "a", t0 + s(32), claim).await.unwrap();
    assert_eq!(a2.delivery().map(|d| d.id.as_str()), Some("d1"), "a's own claim is a's again");
    store.webhook_delivered(row.row).await.unwrap();
    let next = store.claim_webhook(url, "b", t0 + s(33), claim).await.unwrap();
    assert_eq!(next.delivery().map(|d| d.id.as_str()), Some("d2"));
}
