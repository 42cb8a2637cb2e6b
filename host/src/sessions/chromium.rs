//! One Chromium process: spawned by us (not by chromiumoxide) so that it leads its own process
//! group, dies with the host (`PR_SET_PDEATHSIG`), and its whole group can be killed; then
//! chromiumoxide connects to its DevTools address.
//!
//! Dying with the host, whatever the executable: a wrapper script that runs the browser as its
//! child (Debian's `/usr/bin/chromium-headless-shell` does not `exec`) would take the death
//! signal alone and leave the browser running. So [`resolve_wrapper`] reads such a script and
//! launches the binary it runs, and every launch also gets a watchdog (a `sh` blocked reading
//! a pipe only the host holds): when the host dies, by any signal, the pipe closes and the
//! watchdog kills the browser's whole process group, grandchildren included.
//!
//! No zombies: the host makes itself a child subreaper, so the helpers of a killed Chromium
//! (zygote, renderers, …) are re-parented to it, and [`sweep`] reaps the ones that belong to a
//! Chromium group we launched. The main process is reaped by tokio (`Child::wait`).

use std::collections::{HashSet, VecDeque};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// How many lines of Chromium's stderr are kept for error messages.
const TAIL_LINES: usize = 30;

/// Why Chromium could not be started.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("cannot run Chromium `{exe}`: {source} (install it, or set sessions.chromium to its path)")]
    Spawn { exe: PathBuf, source: std::io::Error },
    #[error("Chromium exited during start ({status}){hint}; its last words: {tail}")]
    Exited { status: String, hint: &'static str, tail: String },
    #[error("Chromium did not print its DevTools address within {0:?}")]
    Timeout(Duration),
}

/// What to launch.
#[derive(Debug, Clone)]
pub struct LaunchSpec {
    pub executable: PathBuf,
    pub profile: PathBuf,
    /// Every switch, with its leading `--`.
    pub switches: Vec<String>,
    pub timeout: Duration,
}

/// A running (or dead, not yet dropped) Chromium process and its group.
pub struct ChromiumProcess {
    pub child: Child,
    pub pid: i32,
    tail: Arc<Mutex<VecDeque<String>>>,
    /// Kills the group if the host dies (see the module's doc); `None` if `sh` is missing.
    watchdog: Option<Watchdog>,
}

/// A `sh` that kills a process group once its stdin (a pipe only the host holds) closes.
struct Watchdog {
    child: Child,
    /// Held, never written: the host's death closes it.
    _pipe: Option<tokio::process::ChildStdin>,
}

impl Watchdog {
    fn spawn(pgid: i32) -> Option<Watchdog> {
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c")
            .arg("read _ ; kill -s KILL -- -\"$0\"")
            .arg(pgid.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            // Its own group: a Ctrl-C to the host's terminal does not reach it.
            .process_group(0);
        match cmd.spawn() {
            Ok(mut child) => {
                let pipe = child.stdin.take();
                Some(Watchdog { child, _pipe: pipe })
            }
            Err(e) => {
                tracing::warn!(pgid, "cannot start the watchdog of Chromium's process group (/bin/sh: {e}): a browser run by a wrapper script may outlive a killed host");
                None
            }
        }
    }

    /// Stops the watchdog without letting it act (the group is dealt with by us).
    fn disarm(&mut self) {
        let _ = self.child.start_kill();
    }
}

impl ChromiumProcess {
    /// Spawns Chromium and waits for its DevTools websocket address.
    pub async fn spawn(spec: &LaunchSpec) -> Result<(ChromiumProcess, String), LaunchError> {
        become_subreaper();
        let executable = resolve_wrapper(&spec.executable);
        let mut cmd = Command::new(&executable);
        cmd.arg(format!("--user-data-dir={}", spec.profile.display()))
            .arg("--remote-debugging-port=0")
            .args(&spec.switches)
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .process_group(0);
        #[cfg(target_os = "linux")]
        {
            // SAFETY: only async-signal-safe calls between fork and exec.
            let parent = std::process::id() as libc::pid_t;
            unsafe {
                cmd.pre_exec(move || {
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    if libc::getppid() != parent {
                        // The host died between fork and prctl.
                        libc::_exit(1);
                    }
                    Ok(())
                });
            }
        }
        let mut child = cmd.spawn().map_err(|source| LaunchError::Spawn { exe: spec.executable.clone(), source })?;
        let pid = child.id().map(|p| p as i32).unwrap_or(0);
        register_group(pid);
        let watchdog = if pid > 0 { Watchdog::spawn(pid) } else { None };
        let stderr = child.stderr.take().expect("stderr is piped");
        let tail: Arc<Mutex<VecDeque<String>>> = Arc::default();
        let (url_tx, url_rx) = tokio::sync::oneshot::channel::<String>();
        let tail2 = tail.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            let mut url_tx = Some(url_tx);
            // Keep reading to the end, so Chromium never blocks on a full pipe.
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(rest) = line.split("DevTools listening on ").nth(1) {
                    if let Some(tx) = url_tx.take() {
                        let _ = tx.send(rest.trim().to_string());
                    }
                }
                let mut t = tail2.lock().expect("tail");
                if t.len() == TAIL_LINES {
                    t.pop_front();
                }
                t.push_back(line);
            }
        });
        let mut process = ChromiumProcess { child, pid, tail, watchdog };
        let outcome = tokio::select! {
            url = url_rx => url.ok(),
            status = process.child.wait() => {
                let status = status.map(|s| describe(&s)).unwrap_or_else(|e| e.to_string());
                let code = process.child.try_wait().ok().flatten().and_then(|s| s.code());
                // Let the stderr reader catch the last lines.
                tokio::time::sleep(Duration::from_millis(50)).await;
                let hint = if code == Some(21) {
                    ": the profile is locked by another Chromium (maybe on another host); vigil removes stale locks, so another browser still uses this profile"
                } else {
                    ""
                };
                return Err(LaunchError::Exited { status, hint, tail: process.tail() });
            }
            _ = tokio::time::sleep(spec.timeout) => None,
        };
        match outcome {
            Some(url) => Ok((process, url)),
            None => Err(LaunchError::Timeout(spec.timeout)),
        }
    }

    /// The last lines Chromium wrote on stderr.
    pub fn tail(&self) -> String {
        let t = self.tail.lock().expect("tail");
        let lines: Vec<&str> = t.iter().rev().take(5).map(String::as_str).collect();
        if lines.is_empty() {
            "(nothing)".into()
        } else {
            lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
        }
    }

    /// SIGKILL to the whole process group (the browser and all its helpers).
    pub fn kill_group(&self) {
        kill_group(self.pid);
    }

    /// Waits up to `within` for the main process to exit (and reaps it).
    pub async fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        tokio::time::timeout(within, self.child.wait()).await.ok().and_then(|r| r.ok())
    }

    /// Kills the group, reaps the main process, and sweeps its helpers.
    pub async fn kill_and_reap(&mut self) {
        self.kill_group();
        let _ = self.wait_exit(Duration::from_secs(5)).await;
        sweep_soon();
    }
}

impl Drop for ChromiumProcess {
    fn drop(&mut self) {
        // First, so that it never acts on a group id the system may hand out again.
        if let Some(w) = self.watchdog.as_mut() {
            w.disarm();
        }
        if matches!(self.child.try_wait(), Ok(None)) {
            self.kill_group();
        } else {
            // The main process is gone; its helpers may not be.
            kill_group(self.pid);
        }
        sweep_soon();
    }
}

/// The executable to launch for `exe` (a path, or a name looked up in `PATH`): when it is a
/// shell script that runs an absolute binary with `"$@"` as its child (no `exec`), that
/// binary, so the death signal reaches the browser itself. A script that `exec`s, or one
/// this cannot read, is launched as it is (the watchdog covers it).
pub fn resolve_wrapper(exe: &Path) -> PathBuf {
    let path = find_in_path(exe).unwrap_or_else(|| exe.to_path_buf());
    let Ok(bytes) = std::fs::read(&path) else { return path };
    if !bytes.starts_with(b"#!") || bytes.len() > 64 * 1024 {
        return path;
    }
    let text = String::from_utf8_lossy(&bytes);
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') || !line.contains("$@") {
            continue;
        }
        let mut words = line.split_whitespace();
        let (execs, cmd) = match words.next() {
            Some("exec") => (true, words.next()),
            first => (false, first),
        };
        let Some(cmd) = cmd.map(|c| c.trim_matches('"')) else { continue };
        if !cmd.starts_with('/') || !is_elf(Path::new(cmd)) {
            continue;
        }
        return if execs { path } else { PathBuf::from(cmd) };
    }
    path
}

/// `name` itself when it has a `/`, else the first match in `PATH`.
pub fn find_in_path(name: &Path) -> Option<PathBuf> {
    if name.components().count() > 1 {
        return name.is_file().then(|| name.to_path_buf());
    }
    std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join(name)).find(|p| p.is_file())
}

fn is_elf(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut magic)).is_ok() && magic == *b"\x7fELF"
}

/// "exit code 21", "killed by signal 9".
pub fn describe(status: &ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(s)) => format!("killed by signal {s}"),
        _ => status.to_string(),
    }
}

fn kill_group(pgid: i32) {
    if pgid > 1 && pgid != own_pgid() {
        // SAFETY: plain syscall; a group that is gone gives ESRCH, which is fine.
        unsafe {
            libc::killpg(pgid, libc::SIGKILL);
        }
    }
}

fn own_pgid() -> i32 {
    // SAFETY: plain syscall.
    unsafe { libc::getpgrp() }
}

/// Process groups of the Chromiums this host launched.
fn groups() -> &'static Mutex<HashSet<i32>> {
    static G: OnceLock<Mutex<HashSet<i32>>> = OnceLock::new();
    G.get_or_init(Default::default)
}

fn register_group(pgid: i32) {
    if pgid > 0 {
        groups().lock().expect("groups").insert(pgid);
    }
}

/// Makes this process the reaper of its orphaned descendants (Linux), once.
fn become_subreaper() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        #[cfg(target_os = "linux")]
        // SAFETY: plain prctl on our own process.
        unsafe {
            libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1);
        }
    });
}

/// One process as /proc shows it.
#[derive(Debug, Clone)]
struct ProcStat {
    pid: i32,
    comm: String,
    state: char,
    ppid: i32,
    pgrp: i32,
}

fn read_stat(pid: i32) -> Option<ProcStat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) S ppid pgrp ..."; comm may hold spaces and parentheses.
    let comm = text[text.find('(')? + 1..text.rfind(')')?].to_string();
    let rest = &text[text.rfind(')')? + 2..];
    let mut f = rest.split_whitespace();
    let state = f.next()?.chars().next()?;
    let ppid = f.next()?.parse().ok()?;
    let pgrp = f.next()?.parse().ok()?;
    Some(ProcStat { pid, comm, state, ppid, pgrp })
}

fn all_pids() -> Vec<i32> {
    std::fs::read_dir("/proc")
        .map(|rd| rd.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect())
        .unwrap_or_default()
}

/// Reaps the zombies re-parented to us (we are a subreaper) that come from Chromium: members
/// of a group we launched, or Chromium's detached crash handlers (`chrome_crashpad_handler`
/// leaves the group with `setsid`). Never a group leader we launched: tokio reaps those.
/// Forgets groups with no process left.
pub fn sweep() {
    let me = std::process::id() as i32;
    let known: HashSet<i32> = groups().lock().expect("groups").clone();
    let mut alive_groups = HashSet::new();
    for pid in all_pids() {
        let Some(st) = read_stat(pid) else { continue };
        let ours = known.contains(&st.pgrp);
        if ours {
            alive_groups.insert(st.pgrp);
        }
        let chromium_like = st.comm.starts_with("chrom");
        if st.state == 'Z' && st.ppid == me && !known.contains(&st.pid) && (ours || chromium_like) {
            // SAFETY: reaps one specific zombie child that no one else waits for.
            unsafe {
                libc::waitpid(st.pid, std::ptr::null_mut(), libc::WNOHANG);
            }
        }
    }
    groups().lock().expect("groups").retain(|g| alive_groups.contains(g));
}

/// Sweeps now and a few times over the next seconds (helpers take a moment to die).
pub fn sweep_soon() {
    if tokio::runtime::Handle::try_current().is_err() {
        sweep();
        return;
    }
    tokio::spawn(async {
        for ms in [20u64, 200, 1000, 3000] {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            tokio::task::spawn_blocking(sweep).await.ok();
        }
    });
}

/// Processes (other than us) whose command line uses `profile` as their user data dir: a
/// Chromium left behind by a host that was killed.
/// A relative user data dir is read from the process's own working folder, so a browser of
/// another host with the same relative path elsewhere is not one of ours.
pub fn strays(profile: &Path) -> Vec<ProcInfo> {
    let profile = std::path::absolute(profile).unwrap_or_else(|_| profile.to_path_buf());
    let me = std::process::id() as i32;
    let mut out = Vec::new();
    for pid in all_pids() {
        if pid == me {
            continue;
        }
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else { continue };
        let uses_profile = cmdline.split(|b| *b == 0).any(|arg| {
            let Some(dir) = arg.strip_prefix(b"--user-data-dir=") else { return false };
            let dir = Path::new(std::ffi::OsStr::from_bytes(dir));
            if dir.is_absolute() {
                return dir == profile;
            }
            std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd.join(dir) == profile)
        });
        if uses_profile {
            if let Some(st) = read_stat(pid) {
                if st.state != 'Z' {
                    out.push(ProcInfo { pid, pgrp: st.pgrp });
                }
            }
        }
    }
    out
}

/// A process found in /proc.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcInfo {
    pub pid: i32,
    pub pgrp: i32,
}

/// Kills the [`strays`] of `profile` (and their groups) and waits up to 5 s until they are
/// gone. Returns how many there were.
pub async fn kill_strays(profile: &Path) -> usize {
    let found = strays(profile);
    if found.is_empty() {
        return 0;
    }
    let own = own_pgid();
    for p in &found {
        // SAFETY: plain syscalls on processes that run a Chromium on our profile.
        unsafe {
            if p.pgrp > 1 && p.pgrp != own {
                libc::killpg(p.pgrp, libc::SIGKILL);
            }
            libc::kill(p.pid, libc::SIGKILL);
        }
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !strays(profile).is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    found.len()
}

/// The resident memory (RSS, bytes) of a process group: Chromium and its helpers.
pub fn group_rss(pgid: i32) -> u64 {
    let page = 4096u64;
    let mut total = 0;
    for pid in all_pids() {
        if read_stat(pid).is_some_and(|s| s.pgrp == pgid && s.state != 'Z') {
            if let Ok(statm) = std::fs::read_to_string(format!("/proc/{pid}/statm")) {
                total += statm.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0) * page;
            }
        }
    }
    total
}

/// What a process tree costs now: the sum over the group led by `pgid` and every descendant
/// of its leader (Chromium's crash handler leaves the group).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TreeUsage {
    /// Proportional set size (`Pss` of `/proc/<pid>/smaps_rollup`), bytes: shared pages
    /// divided among their users, so the figures of sessions add up.
    pub pss_bytes: u64,
    /// User + system CPU time since each process started (`/proc/<pid>/stat`), seconds.
    pub cpu_seconds: f64,
    /// How many processes.
    pub processes: u32,
}

/// [`TreeUsage`] of the Chromium whose group leader is `pgid` (blocking: reads /proc).
pub fn tree_usage(pgid: i32) -> TreeUsage {
    let procs: Vec<ProcStat> = all_pids().into_iter().filter_map(read_stat).filter(|s| s.state != 'Z').collect();
    let mut members: HashSet<i32> = procs.iter().filter(|s| s.pgrp == pgid).map(|s| s.pid).collect();
    // Descendants of the members, to a fixed point (a tree is shallow).
    loop {
        let before = members.len();
        for s in &procs {
            if members.contains(&s.ppid) {
                members.insert(s.pid);
            }
        }
        if members.len() == before {
            break;
        }
    }
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let mut u = TreeUsage::default();
    for pid in members {
        let pss = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok().and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("Pss:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        });
        let cpu = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok().and_then(|t| {
            // Fields after "(comm) ": state is index 0, utime 11, stime 12.
            let f: Vec<&str> = t[t.rfind(')')? + 2..].split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        });
        if let Some(kb) = pss {
            u.pss_bytes += kb * 1024;
            u.processes += 1;
        }
        u.cpu_seconds += cpu.unwrap_or(0) as f64 / ticks;
    }
    u
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_usage_of_our_own_group_is_counted() {
        let u = tree_usage(own_pgid());
        assert!(u.processes >= 1 && u.pss_bytes > 1024 * 1024, "{u:?}");
        assert!(u.cpu_seconds >= 0.0);
        assert_eq!(tree_usage(i32::MAX - 7), TreeUsage::default(), "no such group");
    }

    #[test]
    fn reads_its_own_stat() {
        let me = std::process::id() as i32;
        let st = read_stat(me).expect("own stat");
        assert_eq!(st.pid, me);
        assert_eq!(st.pgrp, own_pgid());
        assert!(st.state == 'R' || st.state == 'S');
    }

    #[tokio::test]
    async fn a_missing_executable_names_the_fix() {
        let spec = LaunchSpec {
            executable: "/nonexistent/chromium".into(),
            profile: "/tmp/x".into(),
            switches: vec![],
            timeout: Duration::from_secs(1),
        };
        let e = ChromiumProcess::spawn(&spec).await.err().unwrap().to_string();
        assert!(e.contains("sessions.chromium"), "{e}");
    }
}
