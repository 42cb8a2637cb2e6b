//! The browser dies with the host, whatever the executable: `kill -9` of the `vigil run`
//! binary leaves no Chromium process behind within 2 s — with the full `chromium` (whose
//! Debian wrapper `exec`s) and with `chromium-headless-shell` (whose wrapper runs the binary
//! as its child) — and the next `vigil run` comes back `ready` without a QR.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use vigil_tests::sid;

use vigil_tests::{
    http_client, processes_mentioning, sessions_toml_for, simulator, vigil_command, CHROMIUM, HEADLESS_SHELL,
};

const IDS: [&str; 2] = ["one", "two"];

const TOKEN: &str = "kill9-test-token";

/// A `vigil run` child, SIGKILLed when dropped (a failed test leaves no host behind).
struct Run(std::process::Child);

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `vigil run` in `dir` with its API on `port`.
fn vigil_run(dir: &Path, port: u16) -> Run {
    let child = vigil_command(dir, &["run"])
        .env("VIGIL_API__LISTEN", format!("127.0.0.1:{port}"))
        .env("VIGIL_API_TOKEN", TOKEN)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join(format!("run-{port}.log"))).unwrap())
        .spawn()
        .unwrap();
    Run(child)
}

async fn all_ready_one(client: &reqwest::Client, api: &str, id: &str) {
    let t0 = Instant::now();
    loop {
        let v: serde_json::Value =
            client.get(format!("{api}/{id}")).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
        if v["status"] == "ready" {
            return;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "`{id}` not ready after its scan: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Waits until the API of `vigil run` on `port` says every session is `ready`; panics when
/// one shows a QR.
async fn all_ready(dir: &Path, port: u16, within: Duration) {
    let client = http_client();
    let t0 = Instant::now();
    loop {
        let got = client.get(format!("http://127.0.0.1:{port}/api/sessions")).bearer_auth(TOKEN).send().await;
        let list: Vec<serde_json::Value> = match got {
            Ok(r) if r.status().is_success() => r.json().await.unwrap(),
            _ => Vec::new(),
        };
        let st: Vec<String> = IDS
            .iter()
            .map(|id| {
                list.iter()
                    .find(|s| s["id"] == *id)
                    .map(|s| s["status"].as_str().unwrap_or("").to_string())
                    .unwrap_or_default()
            })
            .collect();
        assert!(!st.iter().any(|s| s == "qr"), "a session asks for a QR again: {st:?}");
        if st.iter().all(|s| s == "ready") {
            return;
        }
        if t0.elapsed() > within {
            let log = std::fs::read_to_string(dir.join(format!("run-{port}.log"))).unwrap_or_default();
            panic!("not all ready within {within:?}: {st:?}; vigil run said:\n{log}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// pgrp of process `pid`, from /proc.
fn pgrp(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 2..].split_whitespace().nth(2)?.parse().ok()
}

/// Live (not zombie) processes in any of `groups`.
fn in_groups(groups: &[i32]) -> Vec<(i32, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        let Some(close) = stat.rfind(')') else { continue };
        let f: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        let g: i32 = f.get(2).and_then(|v| v.parse().ok()).unwrap_or(0);
        if f.first() != Some(&"Z") && groups.contains(&g) {
            out.push((pid, stat[stat.find('(').unwrap() + 1..close].to_string()));
        }
    }
    out
}

async fn host_kill9_leaves_no_browser(chromium: &str) {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    vigil_tests::config_in(dir.path(), &sessions_toml_for(chromium, sim.https_port(), ""));
    let port = free_port();
    let mut run = vigil_run(dir.path(), port);
    // Link each session through the API of the real binary.
    let client = http_client();
    let api = format!("http://127.0.0.1:{port}/api/sessions");
    let t0 = Instant::now();
    for (i, id) in IDS.iter().enumerate() {
        loop {
            let r = client.post(&api).bearer_auth(TOKEN).json(&serde_json::json!({ "id": id })).send().await;
            if r.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            assert!(t0.elapsed() < Duration::from_secs(30), "the API of vigil run does not answer");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        loop {
            let r = client.get(format!("{api}/{id}")).bearer_auth(TOKEN).send().await.unwrap();
            let v: serde_json::Value = r.json().await.unwrap();
            if v["status"] == "qr" {
                break;
            }
            assert!(t0.elapsed() < Duration::from_secs(90), "no QR for `{id}`: {v}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Its page shows the newest pending QR (the sessions are linked one after the other).
        sim.client().scan(None, Some(&format!("3460000007{i}"))).await.expect("the scan is accepted");
        all_ready_one(&client, &api, id).await;
    }
    all_ready(dir.path(), port, Duration::from_secs(60)).await;
    // What the pages stored at linking is on disk once a backup could be taken.
    for id in IDS {
        let r = client.post(format!("{api}/{id}/backup")).bearer_auth(TOKEN).send().await.unwrap();
        assert!(r.status().is_success(), "backup of `{id}`: {}", r.text().await.unwrap());
    }
    let needle = dir.path().display().to_string();
    let browsers = processes_mentioning(&format!("--user-data-dir={needle}"));
    assert!(browsers.len() >= IDS.len(), "a browser per session: {browsers:#?}");
    let mut groups: Vec<i32> = browsers.iter().filter_map(|p| pgrp(p.pid)).collect();
    groups.sort();
    groups.dedup();
    let before = in_groups(&groups);
    assert!(before.len() > IDS.len(), "browsers with their helpers: {before:?}");

    // SAFETY: plain syscall on our child.
    assert_eq!(unsafe { libc::kill(run.0.id() as i32, libc::SIGKILL) }, 0);
    let t0 = Instant::now();
    let _ = run.0.wait();
    loop {
        let left = in_groups(&groups);
        let mentioning: Vec<_> = processes_mentioning(&needle).into_iter().filter(|p| p.state != 'Z').collect();
        if left.is_empty() && mentioning.is_empty() {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(2),
            "{chromium}: 2 s after the host's kill -9, still running: {left:?} {mentioning:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!("{chromium}: {} processes gone {:?} after the host's kill -9", before.len(), t0.elapsed());

    // The next start links without a QR.
    let port = free_port();
    let mut run = vigil_run(dir.path(), port);
    all_ready(dir.path(), port, Duration::from_secs(60)).await;
    // SAFETY: plain syscall on our child.
    unsafe { libc::kill(run.0.id() as i32, libc::SIGTERM) };
    let _ = run.0.wait();
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_kill9_leaves_no_full_chromium_and_the_next_start_needs_no_qr() {
    host_kill9_leaves_no_browser(CHROMIUM).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_kill9_leaves_no_headless_shell_and_the_next_start_needs_no_qr() {
    host_kill9_leaves_no_browser(HEADLESS_SHELL).await;
}

/// PSS (bytes) of every live process in group `pgid` and their descendants, read here from
/// /proc independently of the host's code.
fn pss_of_group(pgid: i32) -> u64 {
    let mut procs = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        let Some(close) = stat.rfind(')') else { continue };
        let f: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        let (ppid, pgrp): (i32, i32) = (f[1].parse().unwrap_or(0), f[2].parse().unwrap_or(0));
        if f[0] != "Z" {
            procs.push((pid, ppid, pgrp));
        }
    }
    let mut tree: Vec<i32> = procs.iter().filter(|p| p.2 == pgid).map(|p| p.0).collect();
    for _ in 0..4 {
        for p in &procs {
            if tree.contains(&p.1) && !tree.contains(&p.0) {
                tree.push(p.0);
            }
        }
    }
    tree.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok())
        .filter_map(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("Pss:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .sum::<u64>()
        * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_running_session_shows_its_memory_and_cpu_in_the_api_and_metrics_matching_proc() {
    use vigil_tests::api::{serve, TOKEN as API_TOKEN};
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let config = sessions_toml_for(HEADLESS_SHELL, sim.https_port(), "resources_interval = \"1s\"");
    let h = vigil_tests::SessionsHost::start(dir.path(), &[], &config, &IDS).await;
    let url = serve(&h.host, std::sync::Arc::new(h.sessions.clone()), Some(API_TOKEN), h.shutdown.clone()).await;
    let http = http_client();
    let t0 = Instant::now();
    for id in IDS {
        // A sample taken once the page has loaded (the QR shows), then compared with /proc.
        let (figure, proc_figure) = loop {
            let v: serde_json::Value = http
                .get(format!("{url}/api/sessions/{id}"))
                .bearer_auth(API_TOKEN)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let sampled = v["resources"]["sampled_at"].as_str().map(str::to_string);
            if v["status"] == "qr" && sampled.is_some() {
                let pid = h.sessions.chromium_pid(&sid(id)).expect("a running browser");
                let ours = pss_of_group(pid);
                let fig = v["resources"]["memory_bytes"].as_u64().unwrap();
                assert!(v["resources"]["cpu_seconds"].as_f64().unwrap() > 0.0, "{v}");
                assert!(v["resources"]["processes"].as_u64().unwrap() >= 2, "{v}");
                // The figure must be of the settled page: retake until two samples agree.
                let diff = (fig as f64 - ours as f64).abs() / ours as f64;
                if diff <= 0.10 || t0.elapsed() > Duration::from_secs(60) {
                    break (fig, ours);
                }
            }
            assert!(t0.elapsed() < Duration::from_secs(60), "no sample of `{id}`: {v}");
            tokio::time::sleep(Duration::from_millis(300)).await;
        };
        println!("{id}: memory {} MB (API), {} MB (/proc)", figure / 1_000_000, proc_figure / 1_000_000);
        assert!(figure > 20_000_000, "a browser's tree is tens of MB: {figure}");
        let diff = (figure as f64 - proc_figure as f64).abs() / proc_figure as f64;
        assert!(diff <= 0.10, "`{id}`: the API says {figure} B, /proc {proc_figure} B ({:.0} % apart)", diff * 100.0);
    }
    let metrics = http.get(format!("{url}/metrics")).bearer_auth(API_TOKEN).send().await.unwrap().text().await.unwrap();
    for id in IDS {
        for metric in ["vigil_session_memory_bytes", "vigil_session_cpu_seconds_total"] {
            let line = metrics
                .lines()
                .find(|l| l.starts_with(&format!("{metric}{{session=\"{id}\"}} ")))
                .unwrap_or_else(|| panic!("no {metric} for `{id}`:\n{metrics}"));
            let v: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
            assert!(v > 0.0, "{line}");
        }
    }
    h.stop().await;
    sim.stop().await;
}
