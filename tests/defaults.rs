//! The bundled defaults: `vigil run` in an empty folder lays out and runs the default
//! behaviours, `vigil check` accepts them, an edit (or a removal) survives the next start,
//! `vigil doctor` names the files that differ; `vigil init` lays out a folder and never
//! overwrites a file.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use vigil_tests::vigil_command as vigil;

/// `vigil run` in `dir` with the bundled defaults on (the helper turns them off), its log in
/// `dir/../<log>`.
fn run(dir: &Path, log: &Path) -> Child {
    let log = std::fs::File::create(log).unwrap();
    let mut cmd = vigil(dir, &["run"]);
    cmd.env_remove("VIGIL_DEFAULT_SCRIPTS").stdout(Stdio::null()).stderr(log);
    cmd.spawn().unwrap()
}

/// Waits until the running host (pid `pid`) shows `n` loaded behaviours; returns their names.
fn loaded(dir: &Path, pid: u32, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = vigil(dir, &["behaviours", "--json"]).output().unwrap();
        let snap: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let list = snap["behaviours"].as_array().cloned().unwrap_or_default();
        if snap["host_pid"] == pid && list.len() == n {
            for b in &list {
                assert!(b["load_error"].is_null(), "{} did not load: {}", b["name"], b["load_error"]);
            }
            return list.iter().map(|b| b["name"].as_str().unwrap().to_string()).collect();
        }
        assert!(Instant::now() < deadline, "never {n} behaviours loaded; last snapshot:\n{snap:#}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn stop(mut child: Child) {
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let t0 = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(t0.elapsed() < Duration::from_secs(20), "vigil did not stop within 20 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn stems(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_suffix(".rhai").map(String::from))
        // `vigil.d.rhai` is the editors' definitions file, no behaviour.
        .filter(|n| !n.ends_with(".d"))
        .collect();
    v.sort();
    v
}

#[test]
fn run_in_an_empty_folder_lays_out_and_runs_the_default_behaviours_and_keeps_edits() {
    let top = tempfile::tempdir().unwrap();
    let dir = top.path().join("srv");
    std::fs::create_dir(&dir).unwrap();
    let (log1, log2) = (top.path().join("run1.log"), top.path().join("run2.log"));
    let scripts = dir.join("scripts");
    let repo_scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts");

    let first = run(&dir, &log1);
    let defaults = stems(&repo_scripts);
    assert_eq!(defaults.len(), 9, "the seed's layers: {defaults:?}");
    let mut names = loaded(&dir, first.id(), defaults.len());
    names.sort();
    assert_eq!(names, defaults, "the running behaviours are the bundled defaults");
    for (name, text) in
        [("keepalive.rhai", "scripts/keepalive.rhai"), ("disconnected.txt", "scripts/templates/disconnected.txt")]
    {
        let laid = std::fs::read_to_string(dir.join(text)).unwrap_or_else(|e| panic!("{name} laid out: {e}"));
        let repo = std::fs::read_to_string(repo_scripts.join("..").join(text)).unwrap();
        assert_eq!(laid, repo, "{name} is the repository's");
    }
    let check = vigil(&dir, &["check"]).output().unwrap();
    let said = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success() && said.contains("vigil check: no problems"), "check refuses the layout:\n{said}");

    // The user edits one default and removes another, then restarts.
    let edited = format!(
        "{}\n// mine: every 2h is enough here\n",
        std::fs::read_to_string(scripts.join("keepalive.rhai")).unwrap()
    );
    std::fs::write(scripts.join("keepalive.rhai"), &edited).unwrap();
    std::fs::remove_file(scripts.join("cleanup.rhai")).unwrap();
    stop(first);
    let log = std::fs::read_to_string(&log1).unwrap();
    assert!(log.contains("the scripts folder was missing or empty: laid out"), "the first start says so:\n{log}");

    let second = run(&dir, &log2);
    loaded(&dir, second.id(), defaults.len() - 1);
    stop(second);
    assert_eq!(std::fs::read_to_string(scripts.join("keepalive.rhai")).unwrap(), edited, "the edit survives");
    assert!(!scripts.join("cleanup.rhai").exists(), "a removed default stays removed");
    let log = std::fs::read_to_string(&log2).unwrap();
    assert!(!log.contains("laid out"), "nothing is laid out in a folder that has files:\n{log}");

    let doctor = vigil(&dir, &["doctor"]).output().unwrap();
    let said = String::from_utf8_lossy(&doctor.stdout);
    let line = said.lines().find(|l| l.contains("default scripts:")).unwrap_or_else(|| panic!("no line:\n{said}"));
    assert!(line.contains("21 of 23 are this version's defaults"), "{line}");
    assert!(line.contains("1 differs") && line.contains("keepalive.rhai"), "{line}");
    assert!(line.contains("1 not there") && line.contains("cleanup.rhai"), "{line}");
}

#[test]
fn init_lays_out_a_folder_check_accepts_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let out = vigil(dir.path(), &["init"]).output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}{}", String::from_utf8_lossy(&out.stderr));
    assert!(said.contains("vigil init: wrote 25 files in ."), "{said}");
    let example = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../vigil.example.toml")).unwrap();
    assert_eq!(std::fs::read_to_string(dir.path().join("vigil.toml")).unwrap(), example);
    assert!(std::fs::read_to_string(dir.path().join("vigil.schema.json")).unwrap().contains("\"reload_debounce\""));
    assert_eq!(stems(&dir.path().join("scripts")).len(), 9);
    assert!(dir.path().join("scripts/templates/disconnected.subject").is_file());
    let check = vigil(dir.path(), &["check"]).output().unwrap();
    let said = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success() && said.contains("vigil check: no problems"),
        "check refuses the init folder:\n{said}"
    );

    // A folder with the user's own files: they are kept, the rest is laid out.
    let mine = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(mine.path().join("scripts")).unwrap();
    std::fs::write(mine.path().join("vigil.toml"), "# mine\n").unwrap();
    std::fs::write(mine.path().join("scripts/keepalive.rhai"), "// mine\n").unwrap();
    let out = vigil(mine.path(), &["init"]).output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("kept ./vigil.toml (it exists; not overwritten)"), "{said}");
    assert!(said.contains("kept ./scripts/keepalive.rhai"), "{said}");
    assert!(said.contains("wrote 23 files in ., kept 2 that existed"), "{said}");
    assert_eq!(std::fs::read_to_string(mine.path().join("vigil.toml")).unwrap(), "# mine\n");
    assert_eq!(std::fs::read_to_string(mine.path().join("scripts/keepalive.rhai")).unwrap(), "// mine\n");
    assert!(mine.path().join("scripts/heartbeat.rhai").is_file());
}
