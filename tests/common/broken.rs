//! A real `vigil run` process with broken plugins in its `plugins/` folder — the fixtures that
//! loop (`spin`), grow their memory (`hog`), trap (`trap`) and call without their grant
//! (`nogrant`), each on a 200 ms timer — and a healthy script whose 1 s timer logs how late
//! each fire ran. Logs are JSON lines (one per event), collected from stderr; CPU time comes
//! from `/proc/<pid>/stat`. Used by the suspension test and the `suspension` bench (which can
//! point at another binary, e.g. main's, with `VIGIL_BENCH_BIN`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{built_plugin, vigil_command};

/// Behaviour name → fixture plugin.
pub const BROKEN: [(&str, &str); 4] = [("spin", "spin"), ("hog", "hog"), ("trap", "trap"), ("nogrant", "no-grant")];

/// Logs how many milliseconds after its scheduled time each fire ran (`scheduled_ms` where the
/// host gives it, else the second-resolution `scheduled`).
pub const HEALTHY: &str = r#"
every("1s", "tick");
fn tick(ev) {
    let scheduled = if "scheduled_ms" in ev { ev.scheduled_ms } else { ev.scheduled * 1000 };
    log("late " + (now_ms() - scheduled));
}
"#;

/// One collected log line, with when it arrived.
#[derive(Debug, Clone)]
pub struct Line {
    pub at: Instant,
    pub json: serde_json::Value,
    pub raw: String,
}

impl Line {
    /// The behaviour the line is about (its `behaviour` field), if any.
    pub fn behaviour(&self) -> Option<&str> {
        self.json.get("behaviour").and_then(|v| v.as_str())
    }

    pub fn message(&self) -> &str {
        self.json.get("message").and_then(|v| v.as_str()).unwrap_or_default()
    }
}

/// A running `vigil run`; SIGTERM (then SIGKILL) when dropped.
pub struct BrokenHost {
    pub dir: tempfile::TempDir,
    child: Child,
    lines: Arc<Mutex<Vec<Line>>>,
}

impl BrokenHost {
    /// Starts `bin run` in a new folder with the broken plugins, the healthy script, and
    /// `config` as its `vigil.toml`.
    pub fn start(bin: &Path, config: &str) -> BrokenHost {
        let dir = tempfile::tempdir().unwrap();
        let (scripts, plugins) = (dir.path().join("scripts"), dir.path().join("plugins"));
        std::fs::create_dir_all(&scripts).unwrap();
        std::fs::create_dir_all(&plugins).unwrap();
        std::fs::write(scripts.join("healthy.rhai"), HEALTHY).unwrap();
        for (name, built) in BROKEN {
            std::fs::copy(built_plugin(built), plugins.join(format!("{name}.wasm"))).unwrap();
        }
        std::fs::write(dir.path().join("vigil.toml"), config).unwrap();
        let mut cmd = vigil_command(dir.path(), &["run"]);
        cmd.env("VIGIL_LOG_FORMAT", "json").stdout(Stdio::null()).stderr(Stdio::piped());
        // A binary given by path (another checkout's) runs as such.
        let mut cmd = if bin == crate::vigil_bin() { cmd } else { retarget(cmd, bin) };
        let mut child = cmd.spawn().expect("vigil run starts");
        let stderr = child.stderr.take().unwrap();
        let lines: Arc<Mutex<Vec<Line>>> = Default::default();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for raw in BufReader::new(stderr).lines().map_while(Result::ok) {
                let json = serde_json::from_str(&raw).unwrap_or(serde_json::Value::Null);
                sink.lock().unwrap().push(Line { at: Instant::now(), json, raw });
            }
        });
        BrokenHost { dir, child, lines }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Every line so far.
    pub fn lines(&self) -> Vec<Line> {
        self.lines.lock().unwrap().clone()
    }

    /// The host's CPU time so far (user + system), from `/proc/<pid>/stat`.
    pub fn cpu_time(&self) -> Duration {
        cpu_time(self.pid())
    }

    /// The status snapshot `vigil behaviours` reads (`data/state/behaviours.json`).
    pub fn snapshot(&self) -> Option<serde_json::Value> {
        let text = std::fs::read_to_string(self.dir.path().join("data/state/behaviours.json")).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// The behaviour `name` in the snapshot.
    pub fn behaviour(&self, name: &str) -> Option<serde_json::Value> {
        self.snapshot()?["behaviours"].as_array()?.iter().find(|b| b["name"] == name).cloned()
    }

    /// Waits until `pred` holds for the snapshot, or panics naming `what`.
    pub fn wait_until(&self, within: Duration, what: &str, pred: impl Fn(&serde_json::Value) -> bool) {
        let deadline = Instant::now() + within;
        loop {
            if self.snapshot().is_some_and(|s| pred(&s)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {within:?} waiting for {what}; last lines:\n{}",
                self.tail(20)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The last `n` lines, for failure messages.
    pub fn tail(&self, n: usize) -> String {
        let lines = self.lines();
        lines[lines.len().saturating_sub(n)..].iter().map(|l| l.raw.as_str()).collect::<Vec<_>>().join("\n")
    }

    /// Measures for `window`: the host's CPU share of one core, and the lines logged per
    /// behaviour in that time.
    pub fn measure(&self, window: Duration) -> Measure {
        let (t0, cpu0) = (Instant::now(), self.cpu_time());
        std::thread::sleep(window);
        let (t1, cpu1) = (Instant::now(), self.cpu_time());
        let elapsed = t1 - t0;
        let lines: Vec<Line> = self.lines().into_iter().filter(|l| l.at >= t0 && l.at < t1).collect();
        let per_min = |name: &str| {
            let n = lines
                .iter()
                .filter(|l| l.behaviour() == Some(name) || l.message().contains(&format!("{name}.wasm")))
                .count();
            n as f64 * 60.0 / elapsed.as_secs_f64()
        };
        Measure {
            window: elapsed,
            cpu_share: (cpu1 - cpu0).as_secs_f64() / elapsed.as_secs_f64(),
            lines_per_min: BROKEN.iter().map(|(name, _)| (name.to_string(), per_min(name))).collect(),
            all_lines_per_min: lines.len() as f64 * 60.0 / elapsed.as_secs_f64(),
        }
    }

    /// How late (ms) each healthy fire ran, from its `late N` lines, with when it was logged.
    pub fn lateness(&self) -> Vec<(Instant, i64)> {
        self.lines()
            .iter()
            .filter(|l| l.behaviour() == Some("healthy"))
            .filter_map(|l| Some((l.at, l.message().strip_prefix("late ")?.parse().ok()?)))
            .collect()
    }
}

impl Drop for BrokenHost {
    fn drop(&mut self) {
        unsafe { libc::kill(self.pid(), libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What [`BrokenHost::measure`] saw.
#[derive(Debug, Clone)]
pub struct Measure {
    pub window: Duration,
    /// CPU time over wall time: 0.05 is 5 % of one core.
    pub cpu_share: f64,
    /// Log lines per minute about each broken behaviour.
    pub lines_per_min: Vec<(String, f64)>,
    /// Every log line, per minute.
    pub all_lines_per_min: f64,
}

impl std::fmt::Display for Measure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "host CPU {:.1} % of one core over {:.1} s; log lines/min:",
            self.cpu_share * 100.0,
            self.window.as_secs_f64()
        )?;
        for (name, n) in &self.lines_per_min {
            write!(f, " {name} {n:.0},")?;
        }
        write!(f, " all {:.0}", self.all_lines_per_min)
    }
}

/// User + system CPU time of process `pid`, from `/proc/<pid>/stat`.
pub fn cpu_time(pid: i32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rfind(')').map(|i| &stat[i + 2..]).unwrap_or_default();
    // Fields after the command: state is field 3; utime and stime are fields 14 and 15.
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = [11, 12].iter().filter_map(|i| f.get(*i)?.parse::<u64>().ok()).sum();
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Duration::from_secs_f64(ticks as f64 / hz)
}

/// The same command with another program.
fn retarget(cmd: std::process::Command, bin: &Path) -> std::process::Command {
    let mut c = std::process::Command::new(bin);
    c.args(cmd.get_args());
    if let Some(d) = cmd.get_current_dir() {
        c.current_dir(d);
    }
    for (k, v) in cmd.get_envs() {
        // An older binary does not know this key (and its host has a script anyway).
        if k == "VIGIL_DEFAULT_SCRIPTS" {
            continue;
        }
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    c.stdout(Stdio::null()).stderr(Stdio::piped());
    c
}

/// The binary the bench measures: `VIGIL_BENCH_BIN`, else this checkout's.
pub fn bench_bin() -> PathBuf {
    std::env::var_os("VIGIL_BENCH_BIN").map(PathBuf::from).unwrap_or_else(crate::vigil_bin)
}
