//! Restore through the API of the host that runs the session, on real Chromium and the
//! simulator: a corrupt archive is refused (4xx) with the session still running in the same
//! browser and its files unchanged; a good backup is verified, the session stopped, the backup
//! installed and the session started again — each step an event — and it comes back `ready`
//! with no QR.

use std::sync::Arc;
use std::time::Duration;
use vigil_tests::sid;

use serde_json::{json, Value};
use vigil::sessions::SessionStatus;
use vigil_tests::api::{serve, TOKEN};
use vigil_tests::{profile_of, sessions_toml, simulator, SessionsHost};

/// Every file under the profile's `Default/` with its size and modification time.
fn snapshot(dir: &std::path::Path) -> Vec<(String, u64, std::time::SystemTime)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.join("Default")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let m = e.metadata().unwrap();
            if m.is_dir() {
                stack.push(e.path());
            } else {
                out.push((e.path().display().to_string(), m.len(), m.modified().unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_on_the_running_host_brings_a_linked_session_back_without_a_qr() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let mut h = SessionsHost::start(dir.path(), &[], &sessions_toml(sim.https_port(), ""), &["r1"]).await;
    h.link(&sim, "r1", "34600000007").await;
    h.settle("r1").await; // the backup to restore
    let url = serve(&h.host, Arc::new(h.sessions.clone()), Some(TOKEN), h.shutdown.clone()).await;
    let http = vigil_tests::http_client();
    let backups: Value = http
        .get(format!("{url}/api/sessions/r1/backups"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let good = backups[0]["name"].as_str().unwrap().to_string();
    let restore =
        |body: Value| http.post(format!("{url}/api/sessions/r1/restore")).bearer_auth(TOKEN).json(&body).send();

    // A corrupt archive: refused, the same browser goes on, the files are untouched.
    let backups_dir = dir.path().join("data/sessions/r1/backups");
    std::fs::write(backups_dir.join("r1-corrupt.tar.zst"), b"not an archive at all").unwrap();
    let pid = h.sessions.chromium_pid(&sid("r1")).expect("a browser");
    let before = snapshot(&profile_of(dir.path(), "r1"));
    let r = restore(json!({"backup": "r1-corrupt.tar.zst"})).await.unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("corrupt"), "{body}");
    assert_eq!(h.sessions.chromium_pid(&sid("r1")), Some(pid), "the session was not stopped");
    assert_eq!(h.sessions.info(&sid("r1")).unwrap().status, SessionStatus::Ready);
    assert_eq!(snapshot(&profile_of(dir.path(), "r1")), before, "no file changed");
    // Only the session's own backups, by name: no path to another file.
    let other = backups_dir.join(&good).display().to_string();
    let r = restore(json!({"backup": other})).await.unwrap();
    assert_eq!(r.status(), 404, "a path is not a backup name");

    // The good one: every step an event, then ready again, without a QR.
    let mut events = h.host.bus().subscribe();
    let r = restore(json!({"backup": good})).await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    h.wait_status("r1", SessionStatus::Ready, Duration::from_secs(60)).await;
    let mut steps = Vec::new();
    let mut qr = 0;
    while let Ok(e) = events.try_recv() {
        if e.data["session"] != "r1" {
            continue;
        }
        if e.name == "session.restore" {
            steps.push(e.data["step"].as_str().unwrap().to_string());
        }
        if e.name == "session.qr" {
            qr += 1;
        }
    }
    assert_eq!(steps, ["verified", "stopped", "restored", "started"]);
    assert_eq!(qr, 0, "linked again without a QR");
    assert_ne!(h.sessions.chromium_pid(&sid("r1")), Some(pid), "a new browser");
    h.stop().await;
}
