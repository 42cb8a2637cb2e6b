//! Broken plugins in a running host: what they cost. Starts `vigil run` (this checkout's, or
//! `VIGIL_BENCH_BIN`, e.g. main's, for the "before" figure) with the looping, memory-hungry,
//! trapping and grant-less fixture plugins plus a healthy 1 s script, on the default limits
//! (what a new user has), lets it settle for `VIGIL_BENCH_WARMUP` seconds (default 20), then
//! prints the host's CPU share of one core (from /proc) and the log lines per minute per
//! broken behaviour over `VIGIL_BENCH_WINDOW` seconds (default 30), and how late the healthy
//! timer ran.
//!
//!   cargo bench -p vigil-tests --bench suspension
//!   VIGIL_BENCH_BIN=/path/to/main/target/debug/vigil cargo bench -p vigil-tests --bench suspension

use std::time::Duration;

use vigil_tests::broken::{bench_bin, BrokenHost};

fn secs(var: &str, default: u64) -> Duration {
    Duration::from_secs(std::env::var(var).ok().and_then(|s| s.parse().ok()).unwrap_or(default))
}

fn main() {
    let bin = bench_bin();
    let (warmup, window) = (secs("VIGIL_BENCH_WARMUP", 20), secs("VIGIL_BENCH_WINDOW", 30));
    println!("binary {}, default limits, warm-up {warmup:?}", bin.display());
    let host = BrokenHost::start(&bin, "");
    std::thread::sleep(warmup);
    let m = host.measure(window);
    println!("{m}");
    let late: Vec<i64> = host.lateness().into_iter().map(|(_, l)| l).collect();
    let worst = late.iter().max().copied().unwrap_or_default();
    println!("healthy 1 s timer: {} fires, the latest {worst} ms after its schedule", late.len());
    if let Some(s) = host.snapshot() {
        for b in s["behaviours"].as_array().into_iter().flatten() {
            println!("  {}: runs {}, failures {}, suspended {}", b["name"], b["runs"], b["failures"], b["suspended"]);
        }
    }
}
