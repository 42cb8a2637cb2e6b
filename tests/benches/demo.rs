//! `vigil demo` as a user runs it: time until both demo sessions are `ready`, then the host's
//! resident memory while the default behaviours run on their demo timings.
//!
//! `cargo bench -p vigil-tests --bench demo` (release binary). `DEMO_SECONDS` (default 60)
//! sets how long memory is sampled, once a second.

use std::process::Stdio;
use std::time::{Duration, Instant};

use vigil_tests::smtp::free_port;
use vigil_tests::{http_client, processes_mentioning, rss_kib};

const TOKEN: &str = "demo-bench-token";

#[tokio::main]
async fn main() {
    let seconds: u64 = std::env::var("DEMO_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(60);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    vigil_tests::vigil_bin(); // built (if needed) before the clock starts
    let started = Instant::now();
    let mut demo = vigil_tests::demo_command(dir.path(), port, &data, TOKEN)
        .env("VIGIL_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("vigil demo starts");
    let pid = demo.id().to_string();

    let http = http_client();
    let url = format!("http://127.0.0.1:{port}/api/sessions");
    let ready_after = loop {
        assert!(started.elapsed() < Duration::from_secs(120), "the demo's sessions never became ready");
        assert!(demo.try_wait().unwrap().is_none(), "the demo exited early");
        if let Ok(r) = http.get(&url).bearer_auth(TOKEN).send().await {
            if let Ok(list) = r.json::<Vec<serde_json::Value>>().await {
                if list.len() == 2 && list.iter().all(|s| s["status"] == "ready") {
                    break started.elapsed();
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    let mut host = Vec::new();
    let mut chromium = Vec::new();
    for _ in 0..seconds {
        tokio::time::sleep(Duration::from_secs(1)).await;
        host.push(rss_kib(&pid));
        // Every Chromium process of the demo's two sessions (their profiles are under `data`).
        chromium.push(
            processes_mentioning(&data.display().to_string()).iter().map(|p| rss_kib(&p.pid.to_string())).sum::<u64>(),
        );
    }
    let sent = http
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let sends: Vec<&str> = sent.lines().filter(|l| l.starts_with("vigil_messages_sent_total")).collect();

    unsafe { libc::kill(demo.id() as i32, libc::SIGTERM) };
    let _ = demo.wait();
    host.sort_unstable();
    chromium.sort_unstable();
    let mib = |k: u64| k as f64 / 1024.0;
    println!("vigil demo: both sessions ready {:.2} s after start", ready_after.as_secs_f64());
    println!(
        "host RSS over {seconds} s: min {:.1} MiB, median {:.1} MiB, max {:.1} MiB",
        mib(host[0]),
        mib(host[host.len() / 2]),
        mib(host[host.len() - 1])
    );
    println!(
        "Chromium (2 sessions, every process, RSS summed — shared pages counted twice): median {:.0} MiB",
        mib(chromium[chromium.len() / 2])
    );
    println!("sends during the run: {sends:?}");
}
