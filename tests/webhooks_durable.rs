//! Durable webhooks, with the real `vigil run` binary: events whose receiver is down wait in
//! the store; the host is killed with `kill -9` and started again; once the receiver comes up
//! every event arrives, in order, each once, with the delivery id it had before the crash.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;
use vigil_tests::api::TOKEN;

/// Emits `test.n` 1..=5 once per data folder (kv remembers it across restarts).
pub(crate) const BURST: &str = r#"
after("100ms", "burst");
fn burst() {
    if kv_get("sent", false) { return; }
    kv_set("sent", true);
    for i in 1..6 { emit("test.n", #{ i: i }); }
}
"#;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

type Got = Arc<Mutex<Vec<(String, i64)>>>;

async fn receive(State(got): State<Got>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let id = headers.get("x-vigil-delivery").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let v: Value = serde_json::from_slice(&body).unwrap_or_default();
    got.lock().unwrap().push((id, v["data"]["i"].as_i64().unwrap_or(-1)));
    StatusCode::OK
}

fn start_host(dir: &std::path::Path, api: u16) -> std::process::Child {
    vigil_tests::vigil_command(dir, &["run"])
        .env("VIGIL_API_TOKEN", TOKEN)
        .env("VIGIL_API__LISTEN", format!("127.0.0.1:{api}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("vigil run starts")
}

async fn deliveries(http: &reqwest::Client, api: u16) -> Option<Vec<Value>> {
    let r = http.get(format!("http://127.0.0.1:{api}/api/webhooks/deliveries")).bearer_auth(TOKEN).send().await.ok()?;
    r.json().await.ok()
}

/// Polls `f` every 100 ms until it answers `Some`, failing after `within`.
async fn until<T, F: std::future::Future<Output = Option<T>>>(
    within: Duration,
    what: &str,
    mut f: impl FnMut() -> F,
) -> T {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out after {within:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_down_across_a_kill_9_gets_every_event_after_in_order_once() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("scripts")).unwrap();
    std::fs::write(dir.path().join("scripts/burst.rhai"), BURST).unwrap();
    let hook_port = free_port();
    std::fs::write(
        dir.path().join("vigil.toml"),
        format!(
            "[[webhooks]]\nurl = \"http://127.0.0.1:{hook_port}/hook\"\nevents = [\"test.\"]\n\
             retry_min = \"200ms\"\nretry_max = \"500ms\"\nattempts = 1000\ntimeout = \"2s\"\n"
        ),
    )
    .unwrap();
    let http = vigil_tests::http_client();
    let api = free_port();
    let mut host = start_host(dir.path(), api);

    // The receiver is down: the five wait in the store, the oldest retried (one receiver gets
    // its events in order, so the others wait behind it).
    let before = until(Duration::from_secs(60), "5 pending deliveries, the first retried", || async {
        let d = deliveries(&http, api).await?;
        (d.len() == 5 && d.iter().all(|x| x["status"] == "pending") && d[0]["attempts"].as_i64() >= Some(2))
            .then_some(d)
    })
    .await;
    let ids_before: Vec<String> = before.iter().map(|d| d["id"].as_str().unwrap().to_string()).collect();
    assert!(before[0]["last_error"].as_str().is_some_and(|e| !e.is_empty()), "{before:?}");

    // kill -9, and start again on the same folder.
    unsafe { libc::kill(host.id() as i32, libc::SIGKILL) };
    tokio::task::spawn_blocking(move || host.wait()).await.unwrap().unwrap();
    let api = free_port();
    let mut host = start_host(dir.path(), api);
    let after = until(Duration::from_secs(60), "the restarted host's API", || deliveries(&http, api)).await;
    let ids_after: Vec<String> = after.iter().map(|d| d["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids_after, ids_before, "the same deliveries wait after the crash");
    assert!(after[0]["attempts"].as_i64() >= before[0]["attempts"].as_i64(), "the retries go on: {after:?}");

    // The receiver comes up: everything arrives, in order, once, with the ids from before.
    let got: Got = Arc::default();
    let app = axum::Router::new().route("/hook", axum::routing::post(receive)).with_state(got.clone());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", hook_port)).await.unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    until(Duration::from_secs(30), "5 events at the receiver", || async {
        (got.lock().unwrap().len() >= 5).then_some(())
    })
    .await;
    until(Duration::from_secs(10), "no delivery waiting", || async {
        deliveries(&http, api).await.filter(|d| d.is_empty()).map(|_| ())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await; // a second copy would have come by now
    let got = got.lock().unwrap().clone();
    let order: Vec<i64> = got.iter().map(|(_, i)| *i).collect();
    assert_eq!(order, [1, 2, 3, 4, 5], "every event, in order, none twice: {got:?}");
    let ids: Vec<String> = got.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(ids, ids_before, "each with the X-Vigil-Delivery it had before the crash");

    unsafe { libc::kill(host.id() as i32, libc::SIGTERM) };
    let status = tokio::task::spawn_blocking(move || host.wait()).await.unwrap().unwrap();
    assert!(status.success(), "{status:?}");
}
