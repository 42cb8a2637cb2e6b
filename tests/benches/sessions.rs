//! Session benchmarks with real Chromium and the simulator (rerun with
//! `cargo bench -p vigil-tests --bench sessions`):
//! 1. `vigil run` (the binary) to N = 1, 5, 10 sessions `ready`, from linked profiles;
//! 2. at 10 sessions: the host's RSS without Chromium, and Chromium's RSS per session (the
//!    whole process group);
//! 3. crash → detected and crash → ready again after `kill -9` of a session's Chromium;
//! 4. `send_text` → recorded by the simulator (median).

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use vigil_tests::sid;

use vigil::sessions::{SessionStatus, Sessions};
use vigil_tests::{processes_mentioning, sessions_toml, simulator, vigil_command, wait_for, SessionsHost};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ids(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("s{i:02}")).collect()
}

/// Links sessions `ids` on `dir` (in-process host) and leaves them stopped with their storage
/// on disk.
async fn prepare(dir: &Path, sim: &wa_sim::Simulator, ids: &[String]) {
    let config = sessions_toml(sim.https_port(), "start_concurrency = 4");
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let mut h = SessionsHost::start(dir, &[], &config, &refs).await;
    for (i, id) in ids.iter().enumerate() {
        h.link(sim, id, &format!("346000001{i:02}")).await;
    }
    for id in ids {
        h.settle(id).await;
    }
    h.stop().await;
}

/// Every session of `dir` `ready` in its record, written after `after`.
fn all_ready(dir: &Path, ids: &[String], after: chrono::DateTime<chrono::Utc>) -> bool {
    ids.iter().all(|id| {
        let path = dir.join("data/sessions").join(id).join("session.json");
        std::fs::read(path).ok().and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok()).is_some_and(|v| {
            v["status"] == "ready"
                && v["updated_at"]
                    .as_str()
                    .and_then(|t| t.parse::<chrono::DateTime<chrono::Utc>>().ok())
                    .is_some_and(|t| t > after)
        })
    })
}

async fn run_to_ready(n: usize) -> (Duration, Option<(u64, Vec<u64>)>) {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let ids = ids(n);
    prepare(dir.path(), &sim, &ids).await;
    let config = format!("data_dir = \"./data\"\nscripts_dir = \"./scripts\"\n{}", sessions_toml(sim.https_port(), ""));
    std::fs::write(dir.path().join("vigil.toml"), config).unwrap();
    let t0 = Instant::now();
    let after = chrono::Utc::now();
    let mut run = vigil_command(dir.path(), &["run"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    while !all_ready(dir.path(), &ids, after) {
        assert!(t0.elapsed() < Duration::from_secs(180), "not all ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = t0.elapsed();
    let mem = if n == 10 {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let host = vigil_tests::rss_kib(&run.id().to_string());
        let mut per = Vec::new();
        for id in &ids {
            let profile = dir.path().join("data/sessions").join(id).join("profile");
            let leader = processes_mentioning(&format!("--user-data-dir={}", profile.display()))
                .into_iter()
                .map(|p| p.pid)
                .min()
                .unwrap();
            per.push(vigil::sessions::chromium::group_rss(leader) / 1024);
        }
        Some((host, per))
    } else {
        None
    };
    // SAFETY: plain syscall on our child.
    unsafe { libc::kill(run.id() as i32, libc::SIGTERM) };
    let _ = run.wait();
    sim.stop().await;
    (took, mem)
}

async fn crashes_and_sends() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let config = sessions_toml(sim.https_port(), "restart_budget = 100\nrestart_backoff = \"50ms\"\nsend_rate = \"\"");
    let mut h = SessionsHost::start(dir.path(), &[], &config, &["main"]).await;
    h.link(&sim, "main", "34600000001").await;
    h.settle("main").await;

    let mut sends = Vec::new();
    for i in 0..30 {
        let t0 = Instant::now();
        let id = h.sessions.send_text(&sid("main"), "34600000002@c.us", &format!("bench {i}"), None).await.unwrap();
        loop {
            if sim.client().messages().await.unwrap().iter().any(|m| m.id == id) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        sends.push(t0.elapsed());
    }

    let (mut detect, mut ready) = (Vec::new(), Vec::new());
    for _ in 0..10 {
        let pid = loop {
            if let Some(p) = h.sessions.chromium_pid(&sid("main")) {
                break p;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let t0 = Instant::now();
        // SAFETY: plain syscall on the Chromium this host started.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        wait_for(&mut h.events, Duration::from_secs(30), "crash", |e| e.name == "session.crashed").await;
        detect.push(t0.elapsed());
        wait_for(&mut h.events, Duration::from_secs(30), "ready", |e| e.name == "session.ready").await;
        ready.push(t0.elapsed());
        assert_eq!(h.sessions.info(&sid("main")).unwrap().status, SessionStatus::Ready);
    }
    println!("send_text → recorded by the simulator: median {:?} (30 sends)", median(sends));
    println!("kill -9 → detected: median {:?}, max {:?}", median(detect.clone()), detect.iter().max().unwrap());
    println!("kill -9 → ready again: median {:?}, max {:?}", median(ready.clone()), ready.iter().max().unwrap());
    let _ = h.sessions.state(&sid("main"), Duration::from_secs(5)).await.unwrap();
    h.stop().await;
    sim.stop().await;
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        for n in [1, 5, 10] {
            let (took, mem) = run_to_ready(n).await;
            println!("vigil run → {n} session(s) ready (linked profiles): {took:?}");
            if let Some((host, per)) = mem {
                let avg = per.iter().sum::<u64>() / per.len() as u64;
                println!(
                    "at 10 sessions: host RSS {} MiB; Chromium RSS per session avg {avg} MiB (min {}, max {})",
                    host / 1024,
                    per.iter().min().unwrap(),
                    per.iter().max().unwrap()
                );
            }
        }
        crashes_and_sends().await;
    });
}
