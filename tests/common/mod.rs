//! Shared helpers for vigil's integration tests and benchmarks: a host on a temp folder, event
//! waits with deadlines, the two ways editors save a file, the `vigil` binary, and the WASM
//! plugins built from `plugins/` and `tests/fixtures/plugins/`.

pub mod pg;
pub mod smtp;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use vigil::config::Config;
use vigil::events::Event;
use vigil::{Host, HostParts};

/// A host running on its own temp folder (`scripts/`, `data/`), with the real file watcher.
pub struct TestHost {
    pub dir: tempfile::TempDir,
    pub host: Host,
    pub events: broadcast::Receiver<Event>,
    pub shutdown: CancellationToken,
}

impl TestHost {
    /// Writes `scripts` (name, source) and starts a host with `config_toml` laid over paths
    /// in the temp folder.
    pub async fn start(scripts: &[(&str, &str)], config_toml: &str) -> TestHost {
        Self::start_with(scripts, config_toml, HostParts::default()).await
    }

    pub async fn start_with(scripts: &[(&str, &str)], config_toml: &str, mut parts: HostParts) -> TestHost {
        let dir = tempfile::tempdir().expect("temp dir");
        let scripts_dir = dir.path().join("scripts");
        std::fs::create_dir_all(&scripts_dir).unwrap();
        for (name, src) in scripts {
            std::fs::write(scripts_dir.join(format!("{name}.rhai")), src).unwrap();
        }
        let config = config_in(dir.path(), config_toml);
        let shutdown = CancellationToken::new();
        // Subscribe before the host starts, so no event of the first load is missed.
        let bus = parts.bus.get_or_insert_with(vigil::events::EventBus::new).clone();
        let events = bus.subscribe();
        let host = Host::start(config, parts, shutdown.clone()).await.expect("host starts");
        TestHost { dir, host, events, shutdown }
    }

    /// Writes `scripts` and copies the built plugins `plugins` (behaviour name, built plugin
    /// name as in [`built_plugin`]) into `plugins/`, then starts a host.
    pub async fn start_with_plugins(
        scripts: &[(&str, &str)],
        plugins: &[(&str, &str)],
        config_toml: &str,
        parts: HostParts,
    ) -> TestHost {
        let dir = tempfile::tempdir().expect("temp dir");
        let scripts_dir = dir.path().join("scripts");
        let plugins_dir = dir.path().join("plugins");
        std::fs::create_dir_all(&scripts_dir).unwrap();
        std::fs::create_dir_all(&plugins_dir).unwrap();
        for (name, src) in scripts {
            std::fs::write(scripts_dir.join(format!("{name}.rhai")), src).unwrap();
        }
        for (name, built) in plugins {
            std::fs::copy(built_plugin(built), plugins_dir.join(format!("{name}.wasm"))).unwrap();
        }
        let config = config_in(dir.path(), config_toml);
        let shutdown = CancellationToken::new();
        let host = Host::start(config, parts, shutdown.clone()).await.expect("host starts");
        let events = host.bus().subscribe();
        TestHost { dir, host, events, shutdown }
    }

    pub fn script(&self, name: &str) -> PathBuf {
        self.dir.path().join("scripts").join(format!("{name}.rhai"))
    }

    /// `plugins/<name>.wasm` in the host's folder.
    pub fn plugin(&self, name: &str) -> PathBuf {
        self.dir.path().join("plugins").join(format!("{name}.wasm"))
    }

    /// The behaviour `name` as the host shows it (panics if it is not there).
    pub fn view(&self, name: &str) -> vigil::behaviours::status::BehaviourView {
        self.host.behaviours().into_iter().find(|b| b.name == name).unwrap_or_else(|| panic!("no behaviour `{name}`"))
    }

    /// Waits for the first event that satisfies `pred`, failing the test after `within`.
    pub async fn wait_for(&mut self, within: Duration, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
        wait_for(&mut self.events, within, what, pred).await
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(20), self.host.wait()).await.expect("host stops in time").unwrap();
    }
}

/// A config whose folders live under `dir`, with `extra` TOML laid over it.
pub fn config_in(dir: &Path, extra: &str) -> Config {
    let base = format!(
        "data_dir = {:?}\nscripts_dir = {:?}\nplugins_dir = {:?}\n{extra}",
        dir.join("data"),
        dir.join("scripts"),
        dir.join("plugins")
    );
    let path = dir.join("vigil.toml");
    std::fs::write(&path, base).unwrap();
    vigil::config::load(Some(&path), Vec::new()).unwrap_or_else(|e| panic!("test config: {e}")).0
}

/// Waits on `rx` for the first event satisfying `pred`, or panics naming `what`.
pub async fn wait_for(
    rx: &mut broadcast::Receiver<Event>,
    within: Duration,
    what: &str,
    pred: impl Fn(&Event) -> bool,
) -> Event {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Err(_) => panic!("timed out after {within:?} waiting for {what}"),
            Ok(Ok(e)) if pred(&e) => return e,
            Ok(Ok(_)) | Ok(Err(broadcast::error::RecvError::Lagged(_))) => {}
            Ok(Err(e)) => panic!("event bus closed while waiting for {what}: {e}"),
        }
    }
}

/// Is `e` the event `name` from behaviour/source `source`?
pub fn is(e: &Event, name: &str, source: &str) -> bool {
    e.name == name && e.source == source
}

/// Is `e` a host event `name` about behaviour `behaviour`?
pub fn about(e: &Event, name: &str, behaviour: &str) -> bool {
    e.name == name && e.data["behaviour"] == behaviour
}

/// Saves like most editors' plain save: truncate and write in place.
pub fn write_in_place(path: &Path, content: &str) {
    std::fs::write(path, content).unwrap();
}

/// Saves like editors that write a temp file and rename it over the original.
pub fn write_by_rename(path: &Path, content: &str) {
    let tmp = path.with_file_name(format!(".{}.tmp", path.file_name().unwrap().to_string_lossy()));
    std::fs::write(&tmp, content).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// The plugin `name` (`beat-one`, `keepalive`, …) built as a component by `plugins/build`, which
/// runs once per test process (a no-op when nothing changed) and writes each file atomically.
pub fn built_plugin(name: &str) -> PathBuf {
    static DIST: OnceLock<PathBuf> = OnceLock::new();
    let dist = DIST.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/build");
        let out = std::process::Command::new("bash").arg(&script).output().expect("bash runs plugins/build");
        assert!(out.status.success(), "plugins/build failed:\n{}", String::from_utf8_lossy(&out.stderr));
        PathBuf::from(String::from_utf8(out.stdout).expect("utf-8 path").trim())
    });
    let p = dist.join(format!("{name}.wasm"));
    assert!(p.exists(), "plugins/build made no {}", p.display());
    p
}

/// The `vigil` binary, built once per test process if needed.
pub fn vigil_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        // target/<profile>/deps/<test exe> → target/<profile>/vigil
        let exe = std::env::current_exe().expect("test exe");
        let profile_dir = exe.parent().and_then(Path::parent).expect("target dir").to_path_buf();
        let bin = profile_dir.join("vigil");
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
        let mut cmd = std::process::Command::new(env!("CARGO"));
        cmd.args(["build", "-q", "-p", "vigil", "--bin", "vigil", "--manifest-path"]).arg(&manifest);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("cargo runs");
        assert!(status.success(), "building the vigil binary failed");
        assert!(bin.exists(), "no binary at {}", bin.display());
        bin
    })
    .clone()
}
