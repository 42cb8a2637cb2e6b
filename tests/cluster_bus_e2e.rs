//! Cluster mode across hosts, end to end: three `vigil run` processes of the real binary on
//! one real PostgreSQL, each with its API, snapshots in a shared folder, real Chromium
//! against the simulator; two linked sessions, so one host runs none (every host takes one
//! session at most). Then
//! - a WebSocket client on host A (which runs one session) sees the `session.ready` of the
//!   session host B takes over after the host C that ran it was killed with `kill -9`; while
//!   C's lease still stands, a send through A for that session answers 503 naming `c`;
//! - a send made through A's API for that session reaches its page on B (the simulator gets
//!   the message), the answer naming B;
//! - A's client goes away; events happen on A and on B; a client on B that resumes with
//!   `?after=<the last id A's client saw>` gets every stored event after it, of both hosts,
//!   in id order, none twice, then the live ones.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;
use vigil_tests::cluster::{free_port, lease, link_in_turn, logs, one, spawn_with, sql, stop_all, until, Node};
use vigil_tests::pg::fresh_database;
use vigil_tests::{assert_no_leftovers, sessions_toml, simulator, vigil_command};

const TOKEN: &str = "cluster-bus-test-token";
const TTL_S: u64 = 6;

/// Every event a WebSocket client got, with when (Unix ms), from its first on.
type Seen = Arc<Mutex<Vec<(Value, i64)>>>;

async fn watch(port: u16, after: Option<i64>) -> (Seen, tokio::task::JoinHandle<()>) {
    let after = after.map(|a| format!("&after={a}")).unwrap_or_default();
    let url = format!("ws://127.0.0.1:{port}/events?token={TOKEN}{after}");
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("the WebSocket connects");
    let seen: Seen = Arc::default();
    let record = seen.clone();
    let task = tokio::spawn(async move {
        while let Some(Ok(m)) = ws.next().await {
            if let Message::Text(t) = m {
                let v: Value = serde_json::from_str(&t).unwrap();
                record.lock().unwrap().push((v, chrono::Utc::now().timestamp_millis()));
            }
        }
    });
    (seen, task)
}

fn events(seen: &Seen) -> Vec<Value> {
    seen.lock().unwrap().iter().map(|(v, _)| v.clone()).collect()
}

fn ids(events: &[Value]) -> Vec<i64> {
    events.iter().map(|e| e["id"].as_i64().expect("every event has an id in cluster mode")).collect()
}

fn about(e: &Value, name: &str, session: &str) -> bool {
    e["name"] == name && e["data"]["session"] == session
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_cluster_events_and_control_calls_cross_hosts() {
    vigil_tests::init_tracing();
    let Some(db) = fresh_database() else { return };
    let sim = simulator().await;
    let root = tempfile::tempdir().unwrap();
    let snapshots = root.path().join("snapshots");
    std::fs::create_dir_all(&snapshots).unwrap();
    let mut nodes: Vec<Node> = Vec::new();
    let mut ports = Vec::new();
    for name in ["a", "b", "c"] {
        let dir = root.path().join(name);
        std::fs::create_dir_all(dir.join("scripts")).unwrap();
        let port = free_port();
        let toml = format!(
            "data_dir = \"./data\"\nscripts_dir = \"./scripts\"\nplugins_dir = \"./plugins\"\n\
             [api]\nlisten = \"127.0.0.1:{port}\"\n\
             [cluster]\nenabled = true\nnode_id = \"{name}\"\nmax_sessions = 1\nlease_ttl = \"{TTL_S}s\"\n\
             snapshots = \"file://{}\"\nsnapshot_interval = \"1h\"\n{}",
            snapshots.display(),
            sessions_toml(sim.https_port(), "")
        );
        std::fs::write(dir.join("vigil.toml"), toml).unwrap();
        nodes.push(Node { name: name.into(), dir, child: None });
        ports.push(port);
    }
    let ids_ = ["s1", "s2"];
    for id in ids_ {
        let out =
            vigil_command(&nodes[0].dir, &["session", "add", id]).env("VIGIL_DATABASE_URL", &db).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    for (n, port) in nodes.iter_mut().zip(&ports) {
        // The port through the environment too: `vigil_command` sets `VIGIL_API__LISTEN`
        // (a free port), which overrides the file.
        let env = vec![("VIGIL_API_TOKEN", TOKEN.to_string()), ("VIGIL_API__LISTEN", format!("127.0.0.1:{port}"))];
        spawn_with(n, &db, env);
    }
    let placed: Vec<(String, i64)> = until(Duration::from_secs(30), "both sessions leased", || {
        let l: Vec<_> = ids_.iter().filter_map(|id| lease(&db, id)).collect();
        (l.len() == 2).then_some(l)
    })
    .await;
    assert_ne!(placed[0].0, placed[1].0, "one session per host: {placed:?}");
    link_in_turn(&sim, &db, &ids_, "3460000000", &nodes).await;
    until(Duration::from_secs(60), "a snapshot of each session", || {
        let n = one(&db, "SELECT COUNT(DISTINCT session_id) FROM snapshots");
        (n == "2").then_some(())
    })
    .await;
    // Roles: A runs s1 (its WebSocket client watches), C runs s2 (killed), B runs nothing.
    let index = |node: &str| nodes.iter().position(|n| n.name == node).unwrap();
    let (a, c) = (index(&lease(&db, "s1").unwrap().0), index(&lease(&db, "s2").unwrap().0));
    let b = (0..3).find(|i| *i != a && *i != c).unwrap();
    let (name_b, name_c) = (nodes[b].name.clone(), nodes[c].name.clone());
    let epoch = lease(&db, "s2").unwrap().1;
    let phone1 = one(&db, "SELECT phone FROM sessions WHERE id = 's1'");
    let phone2 = one(&db, "SELECT phone FROM sessions WHERE id = 's2'");
    let http = vigil_tests::http_client();
    let send = |port: u16, text: &str| {
        http.post(format!("http://127.0.0.1:{port}/api/sessions/s2/messages"))
            .bearer_auth(TOKEN)
            .json(&json!({ "to": "+34 600 000 099", "text": text }))
            .send()
    };

    // 1. A's client sees s2 come back on B after C is killed.
    let (on_a, task_a) = watch(ports[a], None).await;
    {
        let c = nodes[c].child.as_mut().unwrap();
        c.kill().unwrap();
        c.wait().unwrap();
    }
    nodes[c].child = None;
    let t0 = Instant::now();
    // C's lease stands until it expires: a call for s2 cannot reach it.
    let r = send(ports[a], "while c is gone").await.unwrap();
    let code = r.status();
    let body = r.text().await.unwrap();
    assert_eq!(code, 503, "{body}");
    assert!(body.contains(&format!("node `{name_c}`")), "the 503 names the holder: {body}");
    let ready = until(Duration::from_secs(TTL_S + 40), "A's client sees s2 ready", || {
        events(&on_a).into_iter().find(|e| about(e, "session.ready", "s2"))
    })
    .await;
    eprintln!("kill -9 of {name_c} → A's client sees s2 ready from {name_b}: {:?}", t0.elapsed());
    assert_eq!(lease(&db, "s2"), Some((name_b.clone(), epoch + 1)), "B took s2 over\n{}", logs(&nodes));
    let acquired = events(&on_a).into_iter().find(|e| about(e, "cluster.lease_acquired", "s2")).expect("relayed");
    assert_eq!(acquired["data"]["node"], name_b.as_str());
    assert!(acquired["id"].as_i64() < ready["id"].as_i64(), "in order: {acquired} before {ready}");

    // 2. A send through A reaches s2's page on B.
    let r = send(ports[a], "forwarded through a").await.unwrap();
    let answered = r.headers().get("x-vigil-node").map(|v| v.to_str().unwrap().to_string());
    let code = r.status();
    let body = r.text().await.unwrap();
    assert_eq!(code, 200, "{body}\n{}", logs(&nodes));
    assert_eq!(answered.as_deref(), Some(name_b.as_str()), "B answered");
    let msgs = sim.client().messages().await.unwrap();
    let m = msgs.iter().find(|m| m.body == "forwarded through a").expect("the simulator got the message");
    assert!(m.from.starts_with(&phone2), "sent by s2's account: {m:?}");
    // A read through A answers from the store for the session B runs.
    let got: Value = http
        .get(format!("http://127.0.0.1:{}/api/sessions/s2", ports[a]))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["status"], "ready", "{got}");

    // Relay latency: events that happened on B, as A's client got them.
    let relayed: Vec<i64> = on_a
        .lock()
        .unwrap()
        .iter()
        .filter(|(e, _)| e["data"]["session"] == "s2")
        .filter_map(|(e, got)| {
            let at = chrono::DateTime::parse_from_rfc3339(e["at"].as_str()?).ok()?.timestamp_millis();
            Some(got - at)
        })
        .collect();
    let mut sorted = relayed.clone();
    sorted.sort();
    eprintln!(
        "relay B → A's WebSocket (event time → received), ms: n={} min={} median={} max={}",
        sorted.len(),
        sorted[0],
        sorted[sorted.len() / 2],
        sorted[sorted.len() - 1]
    );

    // 3. A's client goes; events happen on both hosts; a client on B resumes from its last id.
    until(Duration::from_secs(10), "A's client has the message.sent", || {
        events(&on_a).iter().any(|e| about(e, "message.sent", "s2")).then_some(())
    })
    .await;
    task_a.abort();
    let seen_a = events(&on_a);
    let last = *ids(&seen_a).last().unwrap();
    let got = ids(&seen_a);
    assert!(got.windows(2).all(|w| w[0] < w[1]), "A's client: ids in order, none twice: {got:?}");
    for (to, body) in [(phone2.as_str(), "to s2 on b, unseen"), (phone1.as_str(), "to s1 on a, unseen")] {
        sim.client().incoming("34600000009@c.us", body, Some(to)).await.unwrap();
    }
    until(Duration::from_secs(15), "both message.in stored", || {
        let n = one(&db, &format!("SELECT COUNT(*) FROM events WHERE name = 'message.in' AND id > {last}"));
        (n == "2").then_some(())
    })
    .await;
    let (on_b, task_b) = watch(ports[b], Some(last)).await;
    sim.client().incoming("34600000009@c.us", "to s2 on b, live", Some(&phone2)).await.unwrap();
    until(Duration::from_secs(15), "B's client has the live message", || {
        events(&on_b).iter().any(|e| e["name"] == "message.in" && e["data"]["body"] == "to s2 on b, live").then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seen_b = events(&on_b);
    let got = ids(&seen_b);
    let max = *got.last().unwrap();
    let stored: Vec<i64> = sql(&db, &format!("SELECT id FROM events WHERE id > {last} AND id <= {max} ORDER BY id"))
        .into_iter()
        .map(|r| r[0].parse().unwrap())
        .collect();
    assert_eq!(got, stored, "B's client: every stored event after {last}, in order, none twice");
    for s in ["s1", "s2"] {
        let n = seen_b.iter().filter(|e| about(e, "message.in", s)).count();
        assert!(n >= 1, "the missed message.in of {s} is replayed: {seen_b:?}");
    }
    task_b.abort();

    stop_all(&mut nodes);
    let st = sim.client().status().await.unwrap();
    assert_eq!(st.overlaps, 0, "no account open twice: {st:?}");
    assert_no_leftovers(&root.path().display().to_string(), Duration::from_secs(15)).await;
    sim.stop().await;
}
