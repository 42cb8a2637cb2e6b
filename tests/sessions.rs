//! Sessions through the `vigil` binary: the session commands, refusals of bad ids (nothing
//! touches the disk), and — with real Chromium — `vigil run` surviving `kill -9`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use vigil_tests::{assert_no_leftovers, sessions_toml, simulator, vigil_command as vigil};

/// Every path under `dir`.
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            out.push(e.path().display().to_string());
            if e.path().is_dir() {
                stack.push(e.path());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_bad_session_id_is_refused_and_nothing_touches_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("vigil.toml"), "data_dir = \"./data\"\n").unwrap();
    let before = tree(dir.path());
    for bad in ["../etc", "../x", "A", "a/b", ""] {
        let out = vigil(dir.path(), &["session", "add", bad]).output().unwrap();
        assert!(!out.status.success(), "{bad} refused");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("bad session id"), "{bad}: {err}");
        for cmd in [&["backup", bad][..], &["restore", bad], &["session", "remove", bad]] {
            let out = vigil(dir.path(), cmd).output().unwrap();
            assert!(!out.status.success(), "{cmd:?} refused");
        }
    }
    let after: Vec<String> =
        tree(dir.path()).into_iter().filter(|p| !p.ends_with("/data") && !p.ends_with("/data/sessions")).collect();
    assert_eq!(after, before, "nothing created but the empty data folder");
    assert!(!dir.path().join("etc").exists() && !dir.path().parent().unwrap().join("x").exists());
}

#[test]
fn sessions_are_added_listed_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("vigil.toml"), "data_dir = \"./data\"\n").unwrap();
    let out = vigil(dir.path(), &["session", "add", "sales-1", "--label", "Sales"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(records(dir.path())[0].id, "sales-1", "the record is in the store");
    let out = vigil(dir.path(), &["session", "add", "sales-1"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    let out = vigil(dir.path(), &["session", "list", "--json"]).output().unwrap();
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list[0]["id"], "sales-1");
    assert_eq!(list[0]["label"], "Sales");
    assert_eq!(list[0]["status"], "stopped");
    let out = vigil(dir.path(), &["backup", "sales-1"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("none of the files"), "{err}");
    let out = vigil(dir.path(), &["restore", "sales-1"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("no backup"), "{err}");
    let out = vigil(dir.path(), &["session", "remove", "sales-1"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!dir.path().join("data/sessions/sales-1").exists());
}

/// The session records in the store of `dir` (SQLite, read while the host may run: WAL).
fn records(dir: &Path) -> Vec<vigil::sessions::SessionRecord> {
    let data = dir.join("data");
    // Its own thread and runtime: callers may be inside a runtime.
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let store = vigil::store::Store::open(None, &data).await.unwrap();
            let all = vigil::sessions::SessionRecords::load_all(&store).await.unwrap();
            store.close().await;
            all
        })
    })
    .join()
    .unwrap()
}

/// Waits until the store says session `id` has `status`, written after `after`.
fn wait_record(dir: &Path, id: &str, status: &str, after: chrono::DateTime<chrono::Utc>, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let now = records(dir).into_iter().find(|r| r.id == id);
        if now.as_ref().is_some_and(|r| r.status.as_str() == status && r.updated_at > after) {
            return;
        }
        assert!(Instant::now() < deadline, "`{id}` not {status} within {within:?}: {now:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `vigil run` in `dir`, its stdout lines sent to the returned receiver.
fn spawn_run(dir: &Path) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("run.log")).unwrap();
    let mut child = vigil(dir, &["run"]).stdout(Stdio::piped()).stderr(log).spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (child, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_vigil_run_comes_back_ready_without_a_qr_after_kill9_and_stops_on_sigterm() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let config = format!("data_dir = \"./data\"\nscripts_dir = \"./scripts\"\n{}", sessions_toml(sim.https_port(), ""));
    std::fs::write(dir.path().join("vigil.toml"), config).unwrap();
    assert!(vigil(dir.path(), &["session", "add", "main"]).status().unwrap().success());

    let (mut run, lines) = spawn_run(dir.path());
    // The QR is printed on the terminal; the phone scans it.
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let line = lines.recv_timeout(deadline.saturating_duration_since(Instant::now())).expect("a QR printed");
        if line.contains("`main` waits to be linked") {
            break;
        }
    }
    let drawing: Vec<String> = (0..10).map(|_| lines.recv_timeout(Duration::from_secs(5)).unwrap()).collect();
    assert!(drawing.iter().any(|l| l.contains('█') || l.contains('▀')), "{drawing:?}");
    sim.client().scan(None, Some("34600000001")).await.unwrap();
    let start = chrono::Utc::now() - chrono::TimeDelta::seconds(60);
    wait_record(dir.path(), "main", "ready", start, Duration::from_secs(30));
    // Let the page's storage reach the disk, as it would long before a real crash.
    tokio::time::sleep(Duration::from_secs(7)).await;

    // kill -9 of the host: its Chromium dies with it, and the next host finds the session.
    run.kill().unwrap();
    run.wait().unwrap();
    let killed = chrono::Utc::now();
    assert_no_leftovers(&dir.path().display().to_string(), Duration::from_secs(10)).await;
    let (mut run, lines) = spawn_run(dir.path());
    wait_record(dir.path(), "main", "ready", killed, Duration::from_secs(40));
    let status = sim.client().status().await.unwrap();
    assert!(status.pages.iter().all(|p| p.qr.is_none()), "no QR shown: {status:?}");
    assert!(lines.try_iter().all(|l| !l.contains("waits to be linked")), "no QR printed");

    // SIGTERM: every browser closes cleanly, the host exits 0 in bounded time.
    let t0 = Instant::now();
    // SAFETY: plain syscall on our child.
    unsafe { libc::kill(run.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(25);
    let code = loop {
        if let Some(s) = run.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "vigil did not stop on SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let log = std::fs::read_to_string(dir.path().join("run.log")).unwrap_or_default();
    assert!(code.success(), "{code:?}; log:\n{log}");
    eprintln!("SIGTERM to exit: {:?}", t0.elapsed());
    wait_record(dir.path(), "main", "stopped", killed, Duration::from_secs(1));
    assert_no_leftovers(&dir.path().display().to_string(), Duration::from_secs(10)).await;
    sim.stop().await;
}
