//! Shared helpers for vigil's integration tests and benchmarks: a host on a temp folder, event
//! waits with deadlines, the two ways editors save a file, the `vigil` binary, and the WASM
//! plugins built from `plugins/` and `tests/fixtures/plugins/`.

pub mod api;
pub mod broken;
pub mod cluster;
pub mod pg;
pub mod recorder;
pub mod smtp;
pub mod tcp_proxy;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use vigil::config::Config;
use vigil::events::Event;
use vigil::{Host, HostParts};

/// A session id for a test (panics on a bad one: the test's own typo).
pub fn sid(id: &str) -> vigil::sessions::SessionId {
    vigil::sessions::SessionId::parse(id).unwrap_or_else(|e| panic!("{e}"))
}

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

/// A `vigil` command in `dir` with `args`, logging at info, with no `VIGIL_*` variable of the
/// test's environment, and its HTTP API on a free port (`VIGIL_API__LISTEN=127.0.0.1:0`), so
/// tests running `vigil run` side by side do not fight over 8080. The bundled default
/// behaviours are not laid out (`VIGIL_DEFAULT_SCRIPTS=false`): a test's scripts folder holds
/// exactly what the test wrote, even when that is nothing (remove the variable to test them).
pub fn vigil_command(dir: &Path, args: &[&str]) -> std::process::Command {
    let mut c = std::process::Command::new(vigil_bin());
    c.current_dir(dir).args(args).env_remove("RUST_LOG").env("VIGIL_LOG", "info");
    for (k, _) in std::env::vars() {
        if k.starts_with("VIGIL_") && k != "VIGIL_LOG" {
            c.env_remove(k);
        }
    }
    c.env("VIGIL_API__LISTEN", "127.0.0.1:0").env("VIGIL_DEFAULT_SCRIPTS", "false");
    c
}

/// The `vigil` binary, built once per test process if needed.
pub fn vigil_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        // tests/run builds the binary once, before the tests, and names its copy here.
        if let Some(bin) = std::env::var_os("VIGIL_TEST_BIN").map(PathBuf::from) {
            assert!(bin.exists(), "VIGIL_TEST_BIN names {}, which does not exist", bin.display());
            return bin;
        }
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

// ----- sessions: the simulator, a host with real Chromium sessions, processes --------------

/// Debian's Chromium.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Debian's old headless mode (`chromium-headless-shell`): a wrapper script that runs the
/// binary as its child.
pub const HEADLESS_SHELL: &str = "/usr/bin/chromium-headless-shell";

/// How long [`simulator`]'s page takes to sync after it connects (the real default is 1.5 s).
pub const SIM_SYNC_DELAY: Duration = Duration::from_millis(300);

/// A simulator with the real page timings, except a QR that never rotates mid-test and a
/// short sync ([`SIM_SYNC_DELAY`]) and ack.
pub async fn simulator() -> wa_sim::Simulator {
    let options = wa_sim::Options {
        qr_interval: Duration::from_secs(120),
        sync_delay: SIM_SYNC_DELAY,
        ack_delay: Duration::from_millis(100),
        ..wa_sim::Options::default()
    };
    wa_sim::Simulator::start(options).await.expect("the simulator starts")
}

/// A `[sessions]` section for the simulator on `https_port`, fast timings, `extra` lines
/// added inside the section.
pub fn sessions_toml(https_port: u16, extra: &str) -> String {
    sessions_toml_for(CHROMIUM, https_port, extra)
}

/// [`sessions_toml`] with another Chromium executable.
pub fn sessions_toml_for(chromium: &str, https_port: u16, extra: &str) -> String {
    format!(
        "[sessions]\nchromium = {chromium:?}\nsite = \"simulator\"\nsimulator_port = {https_port}\n\
         restart_backoff_max = \"1s\"\nlaunch_timeout = \"40s\"\n\
         stop_timeout = \"10s\"\nsend_timeout = \"10s\"\n{extra}\n"
    )
}

/// A host with real Chromium sessions on `dir` (kept across restarts of the host).
pub struct SessionsHost {
    pub host: Host,
    pub sessions: vigil::sessions::SessionManager,
    pub events: broadcast::Receiver<Event>,
    /// Every event since the host was created (counts that no wait has drained).
    pub log: recorder::Recorder,
    pub shutdown: CancellationToken,
}

impl SessionsHost {
    /// Writes `scripts`, then starts a host on `dir` with `config_toml` and starts every
    /// known session (like `vigil run`). `add` sessions are added first when missing.
    pub async fn start(dir: &Path, scripts: &[(&str, &str)], config_toml: &str, add: &[&str]) -> SessionsHost {
        Self::start_with(dir, scripts, config_toml, add, false).await
    }

    /// As [`SessionsHost::start`], with the file watcher on: scripts and plugins dropped into
    /// `dir` later are loaded, replaced and unloaded live.
    pub async fn start_watching(dir: &Path, config_toml: &str, add: &[&str]) -> SessionsHost {
        Self::start_with(dir, &[], config_toml, add, true).await
    }

    async fn start_with(
        dir: &Path,
        scripts: &[(&str, &str)],
        config_toml: &str,
        add: &[&str],
        watch: bool,
    ) -> SessionsHost {
        init_tracing();
        let scripts_dir = dir.join("scripts");
        std::fs::create_dir_all(&scripts_dir).unwrap();
        for (name, src) in scripts {
            std::fs::write(scripts_dir.join(format!("{name}.rhai")), src).unwrap();
        }
        let config = config_in(dir, config_toml);
        let bus = vigil::events::EventBus::new();
        let events = bus.subscribe();
        let log = recorder::Recorder::start(bus.subscribe());
        let clock = vigil::clock::Clock::system();
        let sessions = vigil::sessions::SessionManager::open(&config, bus.clone(), clock.clone(), None)
            .await
            .unwrap_or_else(|e| panic!("sessions open: {e}"));
        for id in add {
            if sessions.info(&sid(id)).is_err() {
                sessions.add(&sid(id), None).await.unwrap();
            }
        }
        let shutdown = CancellationToken::new();
        let parts =
            HostParts { clock, sessions: std::sync::Arc::new(sessions.clone()), store: None, watch, bus: Some(bus) };
        let host = Host::start(config, parts, shutdown.clone()).await.expect("host starts");
        sessions.start_all();
        SessionsHost { host, sessions, events, log, shutdown }
    }

    /// Waits for the host event `name` about session `id`.
    pub async fn event(&mut self, within: Duration, name: &str, id: &str) -> Event {
        wait_for(&mut self.events, within, &format!("{name} of `{id}`"), |e| e.name == name && e.data["session"] == id)
            .await
    }

    /// Waits until session `id` has `status` (checked on every event and every 100 ms).
    pub async fn wait_status(&mut self, id: &str, status: vigil::sessions::SessionStatus, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let info = self.sessions.info(&sid(id)).unwrap();
            if info.status == status {
                return;
            }
            if tokio::time::Instant::now() >= deadline {
                panic!("session `{id}` is {} ({:?}), not {status}, after {within:?}", info.status, info.error);
            }
            let _ = tokio::time::timeout(Duration::from_millis(100), self.events.recv()).await;
        }
    }

    /// Links session `id` as phone `me`: waits for its QR, scans it through the simulator,
    /// waits for `ready`.
    pub async fn link(&mut self, sim: &wa_sim::Simulator, id: &str, me: &str) {
        let qr = match self.sessions.qr(&sid(id)) {
            Some(qr) => qr,
            None => {
                let e = self.event(Duration::from_secs(40), "session.qr", id).await;
                e.data["qr"].as_str().unwrap().to_string()
            }
        };
        assert_eq!(qr.split(',').count(), 5, "a whatsapp-web.js QR: {qr}");
        assert_eq!(self.sessions.qr(&sid(id)).as_deref(), Some(qr.as_str()));
        sim.client().scan(Some(&qr), Some(me)).await.expect("the scan is accepted");
        self.wait_status(id, vigil::sessions::SessionStatus::Ready, Duration::from_secs(20)).await;
    }

    /// Waits until what the page stored at linking is on disk (Chromium writes Local Storage
    /// a few seconds late; a `kill -9` before that loses the link, as it would on the real
    /// site): a backup waits for exactly that.
    pub async fn settle(&self, id: &str) {
        self.sessions.backup(&sid(id)).await.unwrap_or_else(|e| panic!("backup of `{id}`: {e}"));
    }

    /// Graceful stop: behaviours, then every browser.
    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.host.wait()).await.expect("host stops in time").unwrap();
        tokio::time::timeout(Duration::from_secs(30), self.sessions.shutdown()).await.expect("sessions stop in time");
    }
}

/// Logs under `RUST_LOG` (shown for failed tests), once per test binary.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// A process seen in /proc.
#[derive(Debug, Clone)]
pub struct Proc {
    pub pid: i32,
    pub ppid: i32,
    pub state: char,
    pub cmdline: String,
}

/// Every process whose command line mentions `needle` (e.g. a test's temp folder).
pub fn processes_mentioning(needle: &str) -> Vec<Proc> {
    all_processes().into_iter().filter(|p| p.cmdline.contains(needle)).collect()
}

/// Zombie children of this process.
pub fn zombie_children() -> Vec<Proc> {
    let me = std::process::id() as i32;
    all_processes().into_iter().filter(|p| p.state == 'Z' && p.ppid == me).collect()
}

fn all_processes() -> Vec<Proc> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        let Some(close) = stat.rfind(')') else { continue };
        let mut f = stat[close + 2..].split_whitespace();
        let state = f.next().and_then(|s| s.chars().next()).unwrap_or('?');
        let ppid = f.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
            .unwrap_or_default();
        out.push(Proc { pid, ppid, state, cmdline });
    }
    out
}

/// Waits until no process mentions `needle` and no child of ours is a zombie.
pub async fn assert_no_leftovers(needle: &str, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let left = processes_mentioning(needle);
        let zombies = zombie_children();
        if left.is_empty() && zombies.is_empty() {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("left behind after {within:?}: processes {left:#?}, zombies {zombies:#?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The session's profile folder under a host data folder.
pub fn profile_of(dir: &Path, id: &str) -> PathBuf {
    dir.join("data/sessions").join(id).join("profile")
}

/// Resident memory of process `pid` (`"self"` for this one) in KiB, from `/proc`; 0 if unknown.
pub fn rss_kib(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A reqwest client for the tests (with the crypto provider reqwest needs, see
/// `vigil::webhooks::install_crypto_provider`).
pub fn http_client() -> reqwest::Client {
    vigil::webhooks::install_crypto_provider();
    reqwest::Client::new()
}

/// Starts `vigil demo` in `dir` on `127.0.0.1:port` with `data` as its data folder, the
/// repository's `scripts/`, Debian's Chromium and the API token `token`; stdout and stderr are
/// left to the caller (`Stdio` defaults of `Command`).
pub fn demo_command(dir: &Path, port: u16, data: &Path, token: &str) -> std::process::Command {
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts");
    let listen = format!("127.0.0.1:{port}");
    let mut c = vigil_command(
        dir,
        &[
            "demo",
            "--listen",
            &listen,
            "--data",
            data.to_str().expect("a UTF-8 path"),
            "--scripts",
            scripts.to_str().expect("a UTF-8 path"),
            "--chromium",
            CHROMIUM,
        ],
    );
    c.env("VIGIL_API_TOKEN", token);
    c
}
