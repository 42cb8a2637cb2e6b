//! The simulator's figures, measured with real Chromium (ignored by default):
//! `cargo nextest run -p wa-sim --test bench --run-ignored only --no-capture`.
//!
//! - page load → `UNPAIRED`: from opening a tab on the URL to the state seen by a 10 ms poll;
//! - `POST /scan` → `CONNECTED`: from the scan request to the page's `change:state` answer;
//! - the RSS of a `wa-sim` process serving 10 connected pages (one Chromium, 10 tabs).

mod common;

use std::io::BufRead as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Chromium, WaPage, WAIT};
use wa_sim::{ControlClient, Ready};

const PAGES: usize = 10;

struct SimProcess(Child);

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

async fn until_unpaired(tab: &WaPage) -> Duration {
    let start = Instant::now();
    loop {
        let state = tab
            .eval_within::<Option<String>>(
                "window.require?.('WAWebSocketModel')?.Socket.state ?? null",
                Duration::from_secs(2),
            )
            .await;
        if matches!(&state, Ok(Some(s)) if s == "UNPAIRED") {
            return start.elapsed();
        }
        assert!(start.elapsed() < WAIT, "no UNPAIRED: {state:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn summary(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mean = samples.iter().map(|d| ms(*d)).sum::<f64>() / samples.len() as f64;
    println!(
        "{name}: n={} min={:.0} ms median={:.0} ms mean={mean:.0} ms max={:.0} ms",
        samples.len(),
        ms(samples[0]),
        ms(samples[samples.len() / 2]),
        ms(samples[samples.len() - 1]),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with --run-ignored only --no-capture"]
async fn bench_load_scan_and_rss() {
    // WA_SIM_BIN picks another build (e.g. target/release/wa-sim) to measure.
    let bin = std::env::var("WA_SIM_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_wa-sim").to_owned());
    let mut child = Command::new(bin)
        .args(["--qr-interval-ms", "60000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("wa-sim starts");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).expect("the ready line");
    let sim = SimProcess(child);
    let ready: Ready = serde_json::from_str(&line).expect("a ready line");
    let control = ControlClient::new(format!("http://127.0.0.1:{}", ready.control));
    let idle_rss = rss_kib(sim.0.id());
    let switches = vec![
        format!("--host-resolver-rules=MAP web.whatsapp.com 127.0.0.1:{}, MAP * ~NOTFOUND", ready.https),
        "--ignore-certificate-errors".to_owned(),
    ];

    let profile = tempfile::tempdir().unwrap();
    let browser = Chromium::launch_with(&switches, profile.path()).await;
    let mut tabs = vec![];
    let mut loads = vec![];
    for _ in 0..PAGES {
        let start = Instant::now();
        let tab = browser.open("https://web.whatsapp.com/").await;
        let _ = until_unpaired(&tab).await;
        loads.push(start.elapsed());
        tabs.push(tab);
    }

    let mut scans = vec![];
    for (i, tab) in tabs.iter().enumerate() {
        let qr = tab.qr().await;
        let me = format!("346000001{i:02}");
        let start = Instant::now();
        control.scan(Some(&qr), Some(&me)).await.expect("scan");
        tab.wait_state("CONNECTED").await;
        scans.push(start.elapsed());
    }
    for tab in &tabs {
        tab.wait_synced().await;
    }
    let status = control.status().await.unwrap();
    let connected = status.pages.iter().filter(|p| p.state == "CONNECTED" && p.has_synced).count();
    assert_eq!(connected, PAGES);
    let rss = rss_kib(sim.0.id());

    summary("page load -> UNPAIRED", loads);
    summary("POST /scan -> CONNECTED", scans);
    println!("wa-sim RSS: idle {idle_rss} KiB; with {PAGES} connected pages {rss} KiB");
    browser.close().await;
}
