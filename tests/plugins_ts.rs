//! TypeScript plugins (plugins/sdk-ts), built from source by `plugins/build` like the Rust ones:
//!
//! - the SDK's checked-in types are what plugins/wit/ generates (a WIT change without
//!   regenerated types fails here);
//! - the TypeScript keepalive fires within its ranges and sends through the first connected
//!   session, and gives the Rust keepalive's schedule for the same seed (`vigil test`);
//! - an endless loop, a memory bomb, a throw and a call without its grant are stopped or refused
//!   and reported while the host and a healthy plugin go on;
//! - a plugin probing for files, the environment or the network finds nothing, and one built
//!   with its engine's WASI imports is refused;
//! - `vigil new plugin x --lang ts` → its build → `vigil check` passes and `vigil test` runs it.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::plugins::{keepalive_keeps_its_schedule, paused_parts, KEEPALIVE, MISBEHAVING, PULSE};
use vigil::sessions::memory::MemorySessions;
use vigil::sessions::SessionStatus;
use vigil_tests::{about, built_plugin, is, vigil_command as vigil, TestHost};

const W: Duration = Duration::from_secs(60);

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

#[test]
fn the_sdk_types_are_generated_from_the_wit() {
    built_plugin("keepalive-ts"); // installs the SDK's npm packages
    let out = std::process::Command::new("node")
        .arg(repo().join("plugins/sdk-ts/scripts/gen-types.mjs"))
        .arg("--check")
        .output()
        .expect("node runs");
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    // The check can fail: a declaration that differs from the generated one is reported.
    let dir = tempfile::tempdir().unwrap();
    let types = dir.path().join("types");
    copy_dir(&repo().join("plugins/sdk-ts/types"), &types);
    let clock = types.join("interfaces/vigil-host-clock.d.ts");
    let text = std::fs::read_to_string(&clock).unwrap().replace("now(): number", "now(): string");
    std::fs::write(&clock, text).unwrap();
    let out = std::process::Command::new("node")
        .arg(repo().join("plugins/sdk-ts/scripts/gen-types.mjs"))
        .args(["--check", "--types"])
        .arg(&types)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("vigil-host-clock.d.ts") && stderr.contains("npm run types"),
        "{stderr}"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[tokio::test(start_paused = true)]
async fn the_typescript_keepalive_fires_within_its_ranges_and_sends_through_the_first_connected_session() {
    let sessions = Arc::new(MemorySessions::new());
    sessions.add("conflicted", SessionStatus::Ready, "CONFLICT");
    sessions.add("main", SessionStatus::Ready, "CONNECTED");
    let h = TestHost::start_with_plugins(
        &[],
        &[("keepalive", "keepalive-ts")],
        KEEPALIVE,
        paused_parts(sessions.clone()).await,
    )
    .await;
    keepalive_keeps_its_schedule(&h, &sessions).await;
    h.stop().await;
}

/// `vigil test <file> --for 6h --start … ` with `seed = 11`, as the lines it prints.
fn vigil_test(dir: &Path, file: &Path) -> Vec<String> {
    let out = vigil(dir, &["test", file.to_str().unwrap(), "--for", "6h", "--start", "2027-01-04T10:00:00Z"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    stdout.lines().skip(1).map(str::to_string).collect()
}

#[test]
fn vigil_test_gives_the_typescript_and_the_rust_keepalive_the_same_schedule() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("vigil.toml"),
        "seed = 11\n[behaviours.keepalive]\ngrants = [\"sessions.read\", \"sessions.send\"]\n\
         [behaviours.keepalive.params]\nto = \"+34 600 000 000\"\n",
    )
    .unwrap();
    // The same behaviour name (the seed of its RNG is the config's seed and the name).
    for (sub, built) in [("rust", "keepalive"), ("ts", "keepalive-ts")] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        std::fs::copy(built_plugin(built), dir.path().join(sub).join("keepalive.wasm")).unwrap();
    }
    let rust = vigil_test(dir.path(), &dir.path().join("rust/keepalive.wasm"));
    let ts = vigil_test(dir.path(), &dir.path().join("ts/keepalive.wasm"));
    let sends: Vec<&String> = rust.iter().filter(|l| l.contains("send_text main -> 34600000000@c.us")).collect();
    assert!((5..=7).contains(&sends.len()), "{rust:#?}");
    assert_eq!(rust, ts, "the same list of what it would do");
    // Another seed, another schedule: the lists are not equal by construction.
    std::fs::write(
        dir.path().join("vigil.toml"),
        std::fs::read_to_string(dir.path().join("vigil.toml")).unwrap().replace("seed = 11", "seed = 12"),
    )
    .unwrap();
    assert_ne!(vigil_test(dir.path(), &dir.path().join("ts/keepalive.wasm")), rust);
}

#[tokio::test(start_paused = true)]
async fn javascript_reads_the_host_clock_and_the_seeded_rng() {
    let mut seen = Vec::new();
    for _ in 0..2 {
        let mut parts = paused_parts(Arc::new(MemorySessions::new())).await;
        let bus = vigil::events::EventBus::new();
        let mut rx = bus.subscribe();
        parts.bus = Some(bus);
        let h = TestHost::start_with_plugins(&[], &[("clock", "clock-ts")], "seed = 5\n", parts).await;
        let e = vigil_tests::wait_for(&mut rx, Duration::from_secs(120), "the read", |e| is(e, "clock.read", "clock"))
            .await;
        let d = &e.data;
        // The paused clock started at 10:00:00 and the first fire is one minute later.
        assert_eq!(d["newDate"], "2027-01-04T10:01:00.000Z", "{d}");
        assert_eq!(d["dateNow"], d["hostNow"], "{d}");
        assert_eq!(d["dateCall"], "string", "{d}");
        assert_eq!(d["parsed"], 1_904_281_689_000i64, "{d}");
        assert_eq!(d["perf"], 0, "the paused clock does not move within a call: {d}");
        let random: Vec<f64> = d["random"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        assert!(random.iter().all(|r| (0.0..1.0).contains(r)) && random[0] != random[1], "{d}");
        // The run's trace is recorded when the call returns, just after the event.
        let mut traces = h.view("clock").traces;
        for _ in 0..200 {
            if !traces.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            traces = h.view("clock").traces;
        }
        let trace = traces.first().cloned().expect("the run's trace");
        assert!(
            trace.calls.iter().any(|c| c.call == "log" && c.detail.contains("console works {\"n\":1}")),
            "{:?}",
            trace.calls
        );
        seen.push(random);
        h.stop().await;
    }
    assert_eq!(seen[0], seen[1], "the same seed, the same Math.random()");
}

/// Waits for the run error of `name` and returns its outcome.
async fn run_error(h: &mut TestHost, name: &str) -> serde_json::Value {
    h.wait_for(W, &format!("{name} being stopped"), |e| about(e, "behaviour.error", name)).await.data["outcome"].clone()
}

#[tokio::test]
async fn misbehaving_typescript_plugins_are_stopped_and_reported_while_the_rest_runs() {
    let mut h = TestHost::start_with_plugins(
        &[PULSE],
        &[
            ("spin", "spin-ts"),
            ("hog", "hog-ts"),
            ("boom", "throw-ts"),
            ("nogrant", "no-grant-ts"),
            ("healthy", "beat-one"),
        ],
        MISBEHAVING,
        Default::default(),
    )
    .await;
    for b in h.host.behaviours() {
        assert!(b.load_error.is_none(), "{}: {:?}", b.name, b.load_error);
    }
    h.wait_for(W, "spin starting", |e| is(e, "spin.started", "spin")).await;
    let outcome = run_error(&mut h, "spin").await;
    assert_eq!(outcome["kind"], "stopped", "{outcome}");
    assert_eq!(outcome["limit"], "run_budget (300ms)", "{outcome}");
    let outcome = run_error(&mut h, "hog").await;
    assert_eq!(outcome["kind"], "stopped", "{outcome}");
    assert_eq!(outcome["limit"], "max_memory (16777216 bytes)", "{outcome}");
    let outcome = run_error(&mut h, "boom").await;
    assert_eq!(outcome["kind"], "error", "{outcome}");
    assert_eq!(outcome["message"], "boom from TypeScript", "{outcome}");
    let outcome = run_error(&mut h, "nogrant").await;
    let msg = outcome["message"].as_str().unwrap();
    assert!(
        msg.contains("behaviour `nogrant`") && msg.contains("`send_text`") && msg.contains("`sessions.send`"),
        "{msg}"
    );
    for _ in 0..3 {
        h.wait_for(W, "the healthy plugin", |e| is(e, "beat", "healthy")).await;
        h.wait_for(W, "the script", |e| is(e, "pulse", "pulse")).await;
    }
    for name in ["spin", "hog", "boom", "nogrant"] {
        run_error(&mut h, name).await;
        let v = h.view(name);
        assert!(v.runs >= 2 && v.failures >= 2, "{name}: runs {} failures {}", v.runs, v.failures);
    }
    assert_eq!(h.view("healthy").failures, 0);
    h.stop().await;
}

#[tokio::test]
async fn a_typescript_plugin_finds_no_files_environment_or_network() {
    let mut h = TestHost::start_with_plugins(&[], &[("sandbox", "sandbox-ts")], "", Default::default()).await;
    let e = h.wait_for(W, "the probe", |e| is(e, "sandbox.probed", "sandbox")).await;
    let found = e.data.as_object().unwrap();
    assert!(found.len() >= 12, "{}", e.data);
    for (what, got) in found {
        let got = got.as_str().unwrap();
        assert!(!got.starts_with("got"), "{what}: {got} (all: {})", e.data);
    }
    // The host refuses a component that imports anything else: here the same engine with its
    // WASI imports left in (the SDK's build stubs them out).
    std::fs::copy(built_plugin("wasi-ts"), h.plugin("wasi")).unwrap();
    let e = h.wait_for(W, "the refusal", |e| about(e, "behaviour.error", "wasi")).await;
    let msg = e.data["message"].as_str().unwrap();
    assert!(msg.contains("refused") && msg.contains("imports `wasi:") && msg.contains("no WASI"), "{msg}");
    h.stop().await;
}

#[test]
fn a_new_typescript_plugin_builds_and_passes_vigil_check() {
    built_plugin("keepalive-ts"); // installs the SDK's npm packages
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("vigil.toml"), "").unwrap();
    let sdk = repo().to_str().unwrap().to_string();
    let out = vigil(dir.path(), &["new", "plugin", "x", "--lang", "ts", "--sdk", &sdk]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = vigil(dir.path(), &["new", "script", "y"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let build = std::process::Command::new(dir.path().join("x/build")).output().unwrap();
    assert!(build.status.success(), "{}", String::from_utf8_lossy(&build.stderr));
    std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
    std::fs::copy(dir.path().join("x/x.wasm"), dir.path().join("plugins/x.wasm")).unwrap();
    let out = vigil(dir.path(), &["check"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("plugins/x.wasm: ok, 2 triggers"), "{stdout}");
    assert!(stdout.contains("scripts/y.rhai: ok, 2 triggers"), "{stdout}");
    // And `vigil test` runs both: the tick every 30 minutes, the first after 1–5.
    for file in ["plugins/x.wasm", "scripts/y.rhai"] {
        let lines = vigil_test(dir.path(), &dir.path().join(file));
        let ticks = lines.iter().filter(|l| l.contains(".tick {\"n\":")).count();
        assert!((11..=13).contains(&ticks), "{file}: {lines:#?}");
    }
    // A type error is caught by the build, with its file and line.
    let src = dir.path().join("x/src/x.ts");
    let text = std::fs::read_to_string(&src)
        .unwrap()
        .replace("kvSet('ticks', n);", "kvSet('ticks', n);\n      const s: string = n;");
    std::fs::write(&src, text).unwrap();
    let build = std::process::Command::new(dir.path().join("x/build")).output().unwrap();
    let stderr = String::from_utf8_lossy(&build.stderr);
    assert!(!build.status.success() && stderr.contains("x.ts(") && stderr.contains("TS2322"), "{stderr}");
}
