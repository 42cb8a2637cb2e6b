//! Runtime benchmarks (rerun with `cargo bench -p vigil-tests --bench runtime`):
//! 1. handler invocation overhead from a timer fire (median), on a paused clock so only the
//!    host's own work is timed: scheduler wake → channel → runner → blocking thread → rhai
//!    call → `emit` → event received;
//! 2. edit-to-live: file written → new version active (`behaviour.reloaded`), median and p99
//!    over 100 edits, with the default debounce and a short one;
//! 3. process RSS idle with 20 behaviours loaded.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use vigil::clock::Clock;
use vigil::sessions::NoSessions;
use vigil::store::Store;
use vigil::{Host, HostParts};
use vigil_tests::{about, config_in, wait_for, write_in_place};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn invocation_overhead() {
    tokio::time::pause();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("scripts")).unwrap();
    std::fs::write(dir.path().join("scripts/tick.rhai"), "every(\"1s\", \"tick\"); fn tick() { emit(\"t\") }").unwrap();
    let config = config_in(dir.path(), "");
    let shutdown = CancellationToken::new();
    let parts = HostParts {
        clock: Clock::starting_at("2027-01-01T00:00:00Z".parse().unwrap()),
        sessions: Arc::new(NoSessions),
        store: Some(Store::memory().await),
        watch: false,
        bus: None,
    };
    let host = Host::start(config, parts, shutdown.clone()).await.unwrap();
    let mut rx = host.bus().subscribe();
    let n = 2000;
    let mut gaps = Vec::with_capacity(n);
    let mut last = None;
    let mut got = 0;
    while got < n + 1 {
        let e = rx.recv().await.unwrap();
        if e.name != "t" {
            continue;
        }
        let now = Instant::now();
        if let Some(l) = last {
            gaps.push(now - l);
        }
        last = Some(now);
        got += 1;
    }
    gaps.sort();
    println!(
        "handler invocation from a timer fire ({n} fires, paused clock): median {:.1} µs, p99 {:.1} µs",
        percentile(&gaps, 0.5).as_secs_f64() * 1e6,
        percentile(&gaps, 0.99).as_secs_f64() * 1e6
    );
    shutdown.cancel();
    host.wait().await.unwrap();
    tokio::time::resume();
}

async fn edit_to_live(debounce: &str) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("scripts")).unwrap();
    let path = dir.path().join("scripts/live.rhai");
    let src = |i: usize| format!("every(\"55m..65m\", \"tick\"); fn tick() {{ emit(\"v\", #{{ v: {i} }}) }}");
    std::fs::write(&path, src(0)).unwrap();
    let config = config_in(dir.path(), &format!("reload_debounce = \"{debounce}\"\n"));
    let shutdown = CancellationToken::new();
    let host = Host::start(config, HostParts::default(), shutdown.clone()).await.unwrap();
    let mut rx = host.bus().subscribe();
    let mut lat = Vec::new();
    for i in 1..=100 {
        let t0 = Instant::now();
        write_in_place(&path, &src(i));
        wait_for(&mut rx, Duration::from_secs(10), "reload", |e| about(e, "behaviour.reloaded", "live")).await;
        lat.push(t0.elapsed());
    }
    lat.sort();
    println!(
        "edit-to-live, debounce {debounce} (100 edits): median {:.1} ms, p99 {:.1} ms",
        percentile(&lat, 0.5).as_secs_f64() * 1e3,
        percentile(&lat, 0.99).as_secs_f64() * 1e3
    );
    shutdown.cancel();
    host.wait().await.unwrap();
}

async fn rss_with_20() {
    let before = vigil_tests::rss_kib("self");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("scripts")).unwrap();
    for i in 0..20 {
        let src = format!(
            r#"
const MESSAGES = ["uno", "dos", "tres", "cuatro", "cinco"];
every("55m..65m", "tick", #{{ first: "1m..10m" }});
cron("0 2 * * *", "nightly");
on("session.*", "changed");
fn tick() {{ let m = pick(MESSAGES); log("would send " + m); kv_set("last", m); }}
fn nightly() {{ log("nightly {i}") }}
fn changed(ev) {{ kv_set("last_event", ev.event) }}
"#
        );
        std::fs::write(dir.path().join(format!("scripts/b{i:02}.rhai")), src).unwrap();
    }
    let config = config_in(dir.path(), "");
    let shutdown = CancellationToken::new();
    let host = Host::start(config, HostParts::default(), shutdown.clone()).await.unwrap();
    assert_eq!(host.behaviours().len(), 20);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = vigil_tests::rss_kib("self");
    println!(
        "RSS with 20 behaviours loaded, idle: {:.1} MiB (process before the host: {:.1} MiB, host's share: {:.1} MiB)",
        after as f64 / 1024.0,
        before as f64 / 1024.0,
        (after.saturating_sub(before)) as f64 / 1024.0
    );
    shutdown.cancel();
    host.wait().await.unwrap();
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` would pass nothing else: run anyway.
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        rss_with_20().await;
        edit_to_live("150ms").await;
        edit_to_live("10ms").await;
    });
    drop(rt);
    // tokio's paused clock needs a current-thread runtime.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(invocation_overhead());
}
