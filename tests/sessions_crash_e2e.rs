//! Crashes of a session's Chromium: `kill -9` is noticed within a second and the session comes
//! back ready without a QR, again and again; the restart budget holds; nothing is left behind.

use std::time::{Duration, Instant};
use vigil_tests::sid;

use vigil::sessions::SessionStatus;
use vigil_tests::{assert_no_leftovers, sessions_toml, simulator, wait_for, SessionsHost};

const W: Duration = Duration::from_secs(30);

fn kill9(pid: i32) {
    // SAFETY: plain syscall on a Chromium this test's host started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0, "kill -9 {pid}");
}

/// The pid of the session's Chromium once it runs (a new one after a restart).
async fn chromium_pid(h: &SessionsHost, id: &str, not: Option<i32>) -> i32 {
    let deadline = Instant::now() + W;
    loop {
        if let Some(pid) = h.sessions.chromium_pid(&sid(id)).filter(|p| Some(*p) != not) {
            return pid;
        }
        assert!(Instant::now() < deadline, "no Chromium for `{id}`");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_kill9_twenty_times_on_three_sessions_all_recover() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let config = sessions_toml(sim.https_port(), "restart_budget = 100\nrestart_backoff = \"50ms\"");
    let ids = ["s1", "s2", "s3"];
    let mut h = SessionsHost::start(dir.path(), &[], &config, &ids).await;
    for (i, id) in ids.iter().enumerate() {
        h.link(&sim, id, &format!("3460000000{}", i + 1)).await;
    }
    for id in ids {
        h.settle(id).await;
    }
    let rounds = 20;
    let mut detect = Vec::new();
    let mut recover = Vec::new();
    let mut recovered = 0;
    for round in 0..rounds {
        let mut killed_at = Vec::new();
        for id in ids {
            let pid = chromium_pid(&h, id, None).await;
            kill9(pid);
            killed_at.push((id, pid, Instant::now()));
        }
        let mut pending: Vec<&str> = ids.to_vec();
        let mut crashed: Vec<&str> = Vec::new();
        let deadline = Instant::now() + W;
        while !pending.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            let e = match tokio::time::timeout(left, h.events.recv()).await {
                Ok(Ok(e)) => e,
                Ok(Err(_)) => continue,
                Err(_) => panic!("round {round}: {pending:?} not ready again within {W:?}"),
            };
            let Some(id) = e.data["session"].as_str() else { continue };
            let Some((_, _, at)) = killed_at.iter().find(|(i, _, _)| *i == id) else { continue };
            match e.name.as_str() {
                "session.crashed" if !crashed.contains(&id) => {
                    crashed.push(ids.iter().find(|i| **i == id).unwrap());
                    detect.push(at.elapsed());
                }
                "session.qr" => panic!("round {round}: `{id}` showed a QR after a crash"),
                "session.ready" if crashed.contains(&id) && pending.contains(&id) => {
                    pending.retain(|p| *p != id);
                    recover.push(at.elapsed());
                    recovered += 1;
                }
                _ => {}
            }
        }
    }
    assert_eq!(recovered, rounds * ids.len(), "every kill recovered");
    detect.sort();
    recover.sort();
    let max_detect = *detect.last().unwrap();
    eprintln!(
        "crash→detect: median {:?}, max {max_detect:?}; crash→ready: median {:?}, max {:?} ({} kills)",
        detect[detect.len() / 2],
        recover[recover.len() / 2],
        recover.last().unwrap(),
        detect.len()
    );
    assert!(max_detect < Duration::from_secs(1), "every crash noticed within 1 s (max {max_detect:?})");
    for id in ids {
        assert_eq!(h.sessions.info(&sid(id)).unwrap().status, SessionStatus::Ready);
    }
    h.stop().await;
    sim.stop().await;
    assert_no_leftovers(&dir.path().display().to_string(), Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_kills_faster_than_the_budget_allows_end_in_error() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let config =
        sessions_toml(sim.https_port(), "restart_budget = 3\nrestart_window = \"10m\"\nrestart_backoff = \"50ms\"");
    let mut h = SessionsHost::start(dir.path(), &[], &config, &["main"]).await;
    h.link(&sim, "main", "34600000001").await;
    h.settle("main").await;
    // Kill every browser as soon as it appears, without waiting for it to be ready.
    let mut last = None;
    let mut kills = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while h.sessions.info(&sid("main")).unwrap().status != SessionStatus::Error {
        assert!(Instant::now() < deadline, "the budget never ran out");
        if let Some(pid) = h.sessions.chromium_pid(&sid("main")).filter(|p| Some(*p) != last) {
            kill9(pid);
            kills += 1;
            last = Some(pid);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(kills, 4, "3 restarts allowed, the 4th death ends it");
    let error = wait_for(&mut h.events, W, "session.error", |e| e.name == "session.error").await;
    assert!(error.data["message"].as_str().unwrap().contains("4 times"), "{}", error.data);
    assert_eq!(h.log.count_of("session.restarted", "main"), 3, "3 restarts, then the budget is spent");
    // It stays down: no browser is started again.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(h.sessions.chromium_pid(&sid("main")), None);
    assert_eq!(h.sessions.info(&sid("main")).unwrap().status, SessionStatus::Error);
    assert_no_leftovers(&dir.path().display().to_string(), Duration::from_secs(10)).await;
    // A restart asked by a behaviour (or a person) brings it back, with a fresh budget.
    vigil::sessions::Sessions::restart(&h.sessions, &sid("main"), "test").await.unwrap();
    h.wait_status("main", SessionStatus::Ready, W).await;
    h.stop().await;
    sim.stop().await;
    assert_no_leftovers(&dir.path().display().to_string(), Duration::from_secs(10)).await;
}
