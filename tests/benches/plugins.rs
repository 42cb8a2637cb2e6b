//! WASM plugin benchmarks (rerun with `cargo bench -p vigil-tests --bench plugins`; the
//! plugins are built from source first, as in the tests):
//! 1. host → plugin call overhead: a direct call of a handler that returns at once, and one
//!    that makes one host call (`emit`), median over 20,000 calls each;
//! 2. the same through the whole pipeline on a paused clock (scheduler wake → runner →
//!    blocking thread → wasm → `emit` → event received), comparable with the rhai figure of
//!    `--bench runtime`;
//! 3. plugin load time (compile + instantiate + `init`): cold (no cache) and from the
//!    on-disk compile cache, median of 10;
//! 4. memory per loaded plugin: RSS growth over 50 loaded instances of the keepalive example;
//! 5. edit-to-live: a replaced `.wasm` written → the new version active
//!    (`behaviour.reloaded`), median and p99 over 30 replacements, default debounce and 10ms.
//!
//! 1, 3 and 4 are measured for the Rust plugins and their TypeScript twins (plugins/sdk-ts:
//! QuickJS components): `beat-one` vs `beat-ts`, `keepalive` vs `keepalive-ts`.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use vigil::behaviours::host_calls::{HostCalls, Services};
use vigil::behaviours::input::{Input, TimerFire};
use vigil::behaviours::wasm::{Plugin, Runtime};
use vigil::behaviours::Loaded;
use vigil::clock::Clock;
use vigil::config::Limits;
use vigil::sessions::NoSessions;
use vigil::store::Store;
use vigil::{Host, HostParts};
use vigil_tests::{about, built_plugin, config_in, wait_for};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

async fn services() -> Services {
    Services::sandbox(&vigil::config::Config::default()).await
}

fn load(rt: &Arc<Runtime>, file: &Path, name: &str, cache: Option<&Path>) -> Plugin {
    let bytes = std::fs::read(file).unwrap();
    let svc = tokio::runtime::Handle::current().block_on(services());
    let api = HostCalls::new(name, Vec::new(), &toml::Table::new(), svc);
    Plugin::load(rt, file, &bytes, api, Limits::default(), cache).unwrap_or_else(|e| panic!("{e}"))
}

async fn call_overhead(rt: Arc<Runtime>, fixture: &str) {
    let file = built_plugin(fixture);
    let out = tokio::task::block_in_place(|| {
        let plugin = load(&rt, &file, "beat", None);
        let at = chrono::DateTime::UNIX_EPOCH;
        let fire = Input::Timer(TimerFire { trigger: "t".into(), scheduled: at, fired: at, catch_up: false });
        let mut out = Vec::new();
        for handler in ["hourly", "beat"] {
            let mut lat = Vec::with_capacity(20_000);
            for _ in 0..20_000 {
                let t0 = Instant::now();
                let outcome = plugin.call(handler, &fire);
                lat.push(t0.elapsed());
                assert!(outcome.is_ok(), "{outcome:?}");
            }
            lat.sort();
            out.push((handler, percentile(&lat, 0.5), percentile(&lat, 0.99)));
        }
        out
    });
    for (handler, p50, p99) in out {
        let what = if handler == "hourly" { "empty handler" } else { "handler with one host call (emit)" };
        println!(
            "host → plugin call ({fixture}), {what} (20000 calls): median {:.2} µs, p99 {:.2} µs",
            p50.as_secs_f64() * 1e6,
            p99.as_secs_f64() * 1e6
        );
    }
}

async fn pipeline_overhead() {
    tokio::time::pause();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
    std::fs::copy(built_plugin("beat-one"), dir.path().join("plugins/beat.wasm")).unwrap();
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
    let (mut gaps, mut last, mut got) = (Vec::with_capacity(n), None, 0);
    while got < n + 1 {
        let e = rx.recv().await.unwrap();
        if e.name != "beat" {
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
        "plugin handler invocation from a timer fire ({n} fires, paused clock): median {:.1} µs, p99 {:.1} µs",
        percentile(&gaps, 0.5).as_secs_f64() * 1e6,
        percentile(&gaps, 0.99).as_secs_f64() * 1e6
    );
    shutdown.cancel();
    host.wait().await.unwrap();
    tokio::time::resume();
}

async fn load_times(rt: Arc<Runtime>) {
    for name in ["keepalive", "session-status", "keepalive-ts", "session-status-ts"] {
        let file = built_plugin(name);
        let size = std::fs::metadata(&file).unwrap().len();
        let cache = tempfile::tempdir().unwrap();
        let (cold, warm) = tokio::task::block_in_place(|| {
            let (mut cold, mut warm) = (Vec::new(), Vec::new());
            load(&rt, &file, name, Some(cache.path())); // fills the cache
            for _ in 0..10 {
                let t0 = Instant::now();
                load(&rt, &file, name, None);
                cold.push(t0.elapsed());
                let t0 = Instant::now();
                let p = load(&rt, &file, name, Some(cache.path()));
                warm.push(t0.elapsed());
                assert_eq!(p.cache, vigil::behaviours::wasm::CacheUse::Cached);
            }
            cold.sort();
            warm.sort();
            (percentile(&cold, 0.5), percentile(&warm, 0.5))
        });
        println!(
            "load {name}.wasm ({} KiB): cold (compile) median {:.1} ms, from the cache median {:.1} ms",
            size / 1024,
            ms(cold),
            ms(warm)
        );
    }
}

async fn memory_per_plugin(rt: Arc<Runtime>, fixture: &str) {
    let file = built_plugin(fixture);
    let cache = tempfile::tempdir().unwrap();
    let plugins = tokio::task::block_in_place(|| {
        let _ = load(&rt, &file, "warm", Some(cache.path()));
        let before = vigil_tests::rss_kib("self");
        let plugins: Vec<Plugin> = (0..50).map(|i| load(&rt, &file, &format!("k{i}"), Some(cache.path()))).collect();
        let after = vigil_tests::rss_kib("self");
        println!(
            "memory per loaded plugin ({fixture}, 50 loaded from the cache): {:.0} KiB RSS each",
            (after.saturating_sub(before)) as f64 / 50.0
        );
        plugins
    });
    drop(plugins);
}

async fn edit_to_live(debounce: &str) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
    let path = dir.path().join("plugins/live.wasm");
    let versions = [std::fs::read(built_plugin("beat-one")).unwrap(), std::fs::read(built_plugin("beat-two")).unwrap()];
    std::fs::write(&path, &versions[0]).unwrap();
    let config = config_in(dir.path(), &format!("reload_debounce = \"{debounce}\"\n"));
    let shutdown = CancellationToken::new();
    let host = Host::start(config, HostParts::default(), shutdown.clone()).await.unwrap();
    let mut rx = host.bus().subscribe();
    let mut lat = Vec::new();
    for i in 1..=30 {
        let t0 = Instant::now();
        std::fs::write(&path, &versions[i % 2]).unwrap();
        wait_for(&mut rx, Duration::from_secs(10), "reload", |e| about(e, "behaviour.reloaded", "live")).await;
        lat.push(t0.elapsed());
    }
    lat.sort();
    println!(
        "edit-to-live of a replaced .wasm, debounce {debounce} (30 replacements, from the cache after the first two): median {:.1} ms, p99 {:.1} ms",
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99))
    );
    shutdown.cancel();
    host.wait().await.unwrap();
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let wasm = rt.block_on(async {
        built_plugin("beat-one"); // build before timing anything
        let wasm = Runtime::shared().unwrap();
        memory_per_plugin(wasm.clone(), "keepalive").await;
        memory_per_plugin(wasm.clone(), "keepalive-ts").await;
        call_overhead(wasm.clone(), "beat-one").await;
        call_overhead(wasm.clone(), "beat-ts").await;
        wasm
    });
    // A paused clock needs the current-thread runtime.
    let paused = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    paused.block_on(pipeline_overhead());
    rt.block_on(async {
        load_times(wasm).await;
        edit_to_live("150ms").await;
        edit_to_live("10ms").await;
    });
}
