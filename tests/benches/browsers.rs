//! What a session costs with each browser (rerun with
//! `cargo bench -p vigil-tests --bench browsers`; Chromium's figures do not depend on the
//! host's build, so `--profile dev` gives the same table faster). For N sessions on the
//! simulator, with `chromium` and with `chromium-headless-shell`, and for the switch sets in
//! `VIGIL_BENCH_SWITCHES` (`;`-separated sets of space-separated switches, default: none and a
//! few the anchors ship): PSS per session (the whole process tree, as the host measures it),
//! this process's RSS (host + simulator), time to all `ready` after a host restart on linked
//! profiles, and Chromium `kill -9` → `ready` again, with where that time goes (from the host's
//! events). `VIGIL_BENCH_N` = `3` or e.g. `3,10,20`; `VIGIL_BENCH_BROWSERS` =
//! `chromium-headless-shell` for the headless shell only (e.g. for N = 20);
//! `VIGIL_BENCH_SETTLE` = seconds between all `ready` and the PSS figure (default 5; e.g. 180
//! to see idle pages after a few minutes). The simulator syncs in
//! [`vigil_tests::SIM_SYNC_DELAY`] (0.3 s, the real default is 1.5 s): issue 12's goal for
//! kill -9 → `ready` is that delay + 0.7 s, printed before the table. Tried and not kept (N = 10,
//! headless shell, 180 s idle, two trials): a garbage collection through CDP every 30 s
//! (`HeapProfiler.collectGarbage`) 81–82 MiB per session vs 83 without; a critical
//! `Memory.simulatePressureNotification` 83; both 81 — under 3 %, within a run's spread.

use std::time::{Duration, Instant};
use vigil_tests::sid;

use vigil::sessions::chromium::tree_usage;
use vigil::sessions::SessionStatus;
use vigil_tests::{rss_kib, sessions_toml_for, simulator, wait_for, SessionsHost, CHROMIUM, HEADLESS_SHELL};

fn ids(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("b{i:02}")).collect()
}

async fn all_ready(h: &SessionsHost, ids: &[String], within: Duration) {
    let t0 = Instant::now();
    while !ids.iter().all(|id| h.sessions.info(&sid(id)).unwrap().status == SessionStatus::Ready) {
        assert!(t0.elapsed() < within, "not all ready within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn one(exe: &str, n: usize, switches: &str) {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let ids = ids(n);
    let list: Vec<String> = switches.split_whitespace().map(|s| format!("{s:?}")).collect();
    let extra = format!("start_concurrency = 4\nsend_rate = \"\"\nextra_switches = [{}]", list.join(", "));
    let config = sessions_toml_for(exe, sim.https_port(), &extra);
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let mut h = SessionsHost::start(dir.path(), &[], &config, &refs).await;
    for (i, id) in ids.iter().enumerate() {
        h.link(&sim, id, &format!("346000002{i:02}")).await;
    }
    for id in &ids {
        h.settle(id).await;
    }
    h.stop().await;

    let t0 = Instant::now();
    let mut h = SessionsHost::start(dir.path(), &[], &config, &[]).await;
    all_ready(&h, &ids, Duration::from_secs(180)).await;
    let to_ready = t0.elapsed();
    // Let the pages settle, then measure (`VIGIL_BENCH_SETTLE`, seconds; default 5).
    let settle = std::env::var("VIGIL_BENCH_SETTLE").ok().and_then(|s| s.parse().ok()).unwrap_or(5);
    tokio::time::sleep(Duration::from_secs(settle)).await;
    let pss: Vec<u64> =
        ids.iter().map(|id| tree_usage(h.sessions.chromium_pid(&sid(id)).unwrap()).pss_bytes / 1_048_576).collect();
    let avg = pss.iter().sum::<u64>() / n as u64;
    let rss = rss_kib("self") / 1024;

    let mut kills = Vec::new();
    let mut steps: Vec<[f64; 5]> = Vec::new();
    for _ in 0..3 {
        let pid = h.sessions.chromium_pid(&sid(&ids[0])).unwrap();
        let t0 = Instant::now();
        let wall0 = chrono::Utc::now();
        // SAFETY: plain syscall on the Chromium this host started.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        // Where the time goes, from the host's own events (their `at`, wall time): the death
        // seen, the restart backoff over (status `starting` again), the browser started and
        // the page navigated (`session.restarted`), the bridge's first word (`session.state`),
        // synced (`session.ready`).
        let of = |e: &vigil::events::Event| (e.at - wall0).num_microseconds().unwrap_or(0) as f64 / 1e6;
        let mine = |e: &vigil::events::Event| e.data["session"] == ids[0].as_str();
        let crashed =
            wait_for(&mut h.events, Duration::from_secs(30), "crash", |e| e.name == "session.crashed" && mine(e)).await;
        let starting = wait_for(&mut h.events, Duration::from_secs(30), "starting", |e| {
            e.name == "session.status" && e.data["status"] == "starting" && mine(e)
        })
        .await;
        let mut marks = [of(&crashed), of(&starting), f64::NAN, f64::NAN, f64::NAN];
        loop {
            let e = wait_for(&mut h.events, Duration::from_secs(30), "ready", |e| {
                mine(e) && matches!(e.name.as_str(), "session.restarted" | "session.state" | "session.ready")
            })
            .await;
            match e.name.as_str() {
                "session.restarted" => marks[2] = of(&e),
                "session.state" if marks[3].is_nan() => marks[3] = of(&e),
                "session.ready" => {
                    marks[4] = of(&e);
                    break;
                }
                _ => {}
            }
        }
        kills.push(t0.elapsed());
        steps.push(marks);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    kills.sort();
    steps.sort_by(|a, b| a[4].total_cmp(&b[4]));
    let m = steps[1];
    let breakdown = format!(
        "seen {:.2} · backoff {:.2} · browser+page {:.2} · bridge {:.2} · sync {:.2}",
        m[0],
        m[1] - m[0],
        m[2] - m[1],
        m[3] - m[2],
        m[4] - m[3].max(m[2])
    );
    let name = if exe == CHROMIUM { "chromium" } else { "headless-shell" };
    let sw = if switches.is_empty() { "(none)" } else { switches };
    println!(
        "| {name} | {n} | {sw} | {avg} (min {}, max {}) | {rss} | {:.1} s | {:.2} s | {breakdown} |",
        pss.iter().min().unwrap(),
        pss.iter().max().unwrap(),
        to_ready.as_secs_f64(),
        kills[1].as_secs_f64()
    );
    h.stop().await;
    sim.stop().await;
}

fn main() {
    let ns: Vec<usize> = std::env::var("VIGIL_BENCH_N")
        .unwrap_or_else(|_| "3".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let sets: Vec<String> = std::env::var("VIGIL_BENCH_SWITCHES")
        .unwrap_or_else(|_| {
            ";--renderer-process-limit=1;--disk-cache-size=1;--disable-site-isolation-trials;--no-zygote".into()
        })
        .split(';')
        .map(|s| s.trim().to_string())
        .collect();
    // `VIGIL_BENCH_BROWSERS`: which of the two (`chromium,chromium-headless-shell`, the default).
    let browsers: Vec<String> = std::env::var("VIGIL_BENCH_BROWSERS")
        .unwrap_or_else(|_| "chromium,chromium-headless-shell".into())
        .split(',')
        .map(|s| s.trim().to_string())
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        println!("load average before: {}", std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim());
        let sync = vigil_tests::SIM_SYNC_DELAY.as_secs_f64();
        println!("simulator sync delay {sync:.2} s: goal kill -9 → ready ≤ {:.2} s", sync + 0.7);
        println!("| browser | N | switches | PSS per session, MiB | bench RSS (host + simulator), MiB | restart → all ready | kill -9 → ready (median of 3) | kill -9 → ready, s (the median run) |");
        println!("|---|---|---|---|---|---|---|---|");
        for &n in &ns {
            for exe in [CHROMIUM, HEADLESS_SHELL] {
                if !browsers.iter().any(|b| exe.ends_with(b.as_str())) {
                    continue;
                }
                // The switch sets on the headless shell (the default); the full browser as it is.
                let sets: Vec<&str> = if exe == CHROMIUM { vec![""] } else { sets.iter().map(String::as_str).collect() };
                for sw in sets {
                    one(exe, n, sw).await;
                }
            }
        }
        println!("load average after: {}", std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim());
    });
}
