//! `GET /api/sessions/{id}/history` over a real listener: the host records what its events and
//! the resources sampler say (status changes, messages sent and delivered per hour, memory per
//! step), ignores what a behaviour emits under the same names, answers an owner only for
//! their own sessions, and names the mistake in a bad `since`. Sessions are in memory here; the
//! dashboard e2e test plots the history of real sessions.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use vigil::sessions::{Resources, SessionStatus};
use vigil_tests::api::ApiHost;

fn host_event(h: &ApiHost, name: &str, data: Value) {
    h.test.host.bus().publish(vigil::events::Event {
        name: name.into(),
        source: "host".into(),
        at: chrono::Utc::now(),
        data,
        depth: 0,
    });
}

fn resources(mb: u64) -> Resources {
    Resources {
        memory_bytes: mb << 20,
        cpu_seconds: 1.0,
        processes: 4,
        sampled_at: chrono::Utc::now(),
        sends_in_flight: 0,
        memory_history: vec![],
    }
}

async fn history(h: &ApiHost, token: &str, path: &str) -> (StatusCode, Value) {
    let r = h.http.request(Method::GET, format!("{}{path}", h.url)).bearer_auth(token).send().await.unwrap();
    (r.status(), r.json().await.unwrap())
}

/// Polls main's history until `done` holds, or panics with the last answer.
async fn until(h: &ApiHost, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let (status, v) = history(h, vigil_tests::api::TOKEN, "/api/sessions/main/history?since=1h").await;
        assert_eq!(status, 200, "{v}");
        if done(&v) {
            return v;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{what}: not within 10 s; last answer {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_of_a_session_is_recorded_and_served_to_its_owner_only() {
    let h = ApiHost::start_with(
        &[],
        Some(vigil_tests::api::TOKEN),
        "[sessions]\nresources_interval = \"100ms\"\n[history]\nmemory_step = \"1s\"\n",
    )
    .await;
    h.sessions.add("main", SessionStatus::Ready, "CONNECTED");
    h.sessions.add("other", SessionStatus::Ready, "CONNECTED");

    host_event(&h, "session.status", json!({"session": "main", "status": "starting", "reason": null}));
    host_event(&h, "session.status", json!({"session": "main", "status": "ready", "reason": null}));
    host_event(&h, "session.status", json!({"session": "main", "status": "ready", "reason": null}));
    host_event(&h, "message.sent", json!({"session": "main", "id": "m1", "to": "34600000002@c.us"}));
    for ack in [1, 2, 3] {
        host_event(&h, "message.ack", json!({"session": "main", "id": "m1", "ack": ack}));
    }
    // Delivered before its send's event arrived: counted once, when it does.
    host_event(&h, "message.ack", json!({"session": "main", "id": "m2", "ack": 2}));
    host_event(&h, "message.sent", json!({"session": "main", "id": "m2", "to": "34600000002@c.us"}));
    host_event(&h, "message.ack", json!({"session": "main", "id": "incoming", "ack": 2}));
    // A behaviour's emit of the same names is not history.
    h.publish("message.sent", json!({"session": "main", "id": "fake"}));
    h.publish("session.status", json!({"session": "main", "status": "error"}));
    host_event(&h, "message.sent", json!({"session": "main", "id": "m3", "to": "34600000002@c.us"}));

    h.sessions.set_resources("main", Some(resources(200)));
    until(&h, "the first memory sample", |v| v["memory"].as_array().is_some_and(|m| !m.is_empty())).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    h.sessions.set_resources("main", Some(resources(400)));
    let v = until(&h, "two memory samples and three messages", |v| {
        let samples: i64 = v["memory"].as_array().unwrap().iter().map(|m| m["samples"].as_i64().unwrap()).sum();
        samples == 2 && v["messages"][0]["sent"] == 3
    })
    .await;
    let status: Vec<&str> = v["status"].as_array().unwrap().iter().map(|s| s["status"].as_str().unwrap()).collect();
    assert_eq!(status, ["starting", "ready"], "a repeat is no change, a behaviour's emit no status: {v}");
    assert_eq!(v["messages"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!((v["messages"][0]["sent"].as_i64(), v["messages"][0]["acked"].as_i64()), (Some(3), Some(2)), "{v}");
    let max = v["memory"].as_array().unwrap().iter().map(|m| m["max_bytes"].as_i64().unwrap()).max();
    assert_eq!(max, Some(400 << 20));
    assert_eq!(v["session"], "main");
    assert_eq!(v["status_at_since"], Value::Null);

    // Mistakes, named.
    let admin = vigil_tests::api::TOKEN;
    let (s, e) = history(&h, admin, "/api/sessions/main/history?since=yesterday").await;
    assert_eq!(s, 400);
    assert!(e["error"].as_str().unwrap().contains("bad `since` `yesterday`"), "{e}");
    let (s, e) = history(&h, admin, "/api/sessions/nobody/history").await;
    assert_eq!(s, 404);
    assert!(e["error"].as_str().unwrap().contains("no session `nobody`"), "{e}");
    let (s, _) = history(&h, admin, "/api/sessions/Bad!Id/history").await;
    assert_eq!(s, 400);
    let (s, v) = history(&h, admin, "/api/sessions/main/history?since=2020-01-01T00:00:00Z").await;
    assert_eq!((s, v["status"].as_array().unwrap().len()), (StatusCode::OK, 2));

    // An owner's token reaches their session's history only.
    let r = h.req(Method::PUT, "/api/owners/ana@example.com").json(&json!({"name": "Ana", "sessions": ["main"]}));
    assert_eq!(r.send().await.unwrap().status(), 200);
    let r = h.post("/api/owners/ana@example.com/tokens").json(&json!({})).send().await.unwrap();
    let ana = r.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string();
    let (s, v) = history(&h, &ana, "/api/sessions/main/history").await;
    assert_eq!((s, v["status"].as_array().map(Vec::len)), (StatusCode::OK, Some(2)), "{v}");
    let (s, e) = history(&h, &ana, "/api/sessions/other/history").await;
    assert_eq!(s, 403, "{e}");
    assert!(e["error"].as_str().unwrap().contains("session `other` is not theirs"), "{e}");

    // A removed session's history goes with it.
    host_event(&h, "session.removed", json!({"session": "main"}));
    until(&h, "the history deleted", |v| v["status"].as_array().unwrap().is_empty()).await;
    h.stop().await;
}
