//! The `vigil` binary: `check` reports every problem with its location; `run` stops cleanly on
//! SIGTERM; `behaviours` shows the running host's triggers.

use std::process::Stdio;
use std::time::{Duration, Instant};

use vigil_tests::{built_plugin, vigil_command as vigil};

fn folder(config: &str, scripts: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("scripts")).unwrap();
    for (name, src) in scripts {
        std::fs::write(dir.path().join("scripts").join(name), src).unwrap();
    }
    std::fs::write(dir.path().join("vigil.toml"), config).unwrap();
    dir
}

#[test]
fn check_reports_a_bad_script_and_an_unknown_key_with_their_lines() {
    let dir = folder(
        "data_dir = \"./data\"\n\n[limits]\nmax_operations = 1000\nmax_operatoins = 5\n",
        &[
            ("good.rhai", "every(\"1m\", \"tick\");\nfn tick() { log(\"hi\") }\n"),
            ("bad.rhai", "every(\"1m\", \"tick\");\n\nfn tick() {\n  let x = ;\n}\n"),
        ],
    );
    let out = vigil(dir.path(), &["check"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "non-zero exit expected:\n{stdout}");
    assert!(stdout.contains("vigil.toml:5:1: key `max_operatoins`: unknown field `max_operatoins`"), "{stdout}");
    assert!(stdout.contains("scripts/bad.rhai:4:"), "{stdout}");
    assert!(stdout.contains("scripts/good.rhai: ok, 1 trigger"), "{stdout}");
    assert!(stdout.contains("vigil check: 2 problems"), "{stdout}");
}

#[test]
fn check_compiles_every_plugin_and_reports_each_bad_one_with_its_file() {
    let dir = folder("", &[]);
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::copy(built_plugin("keepalive"), plugins.join("keepalive.wasm")).unwrap();
    std::fs::copy(built_plugin("future-wit"), plugins.join("future.wasm")).unwrap();
    std::fs::write(plugins.join("junk.wasm"), b"\0asm not really").unwrap();
    let out = vigil(dir.path(), &["check"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "non-zero exit expected:\n{stdout}");
    assert!(stdout.contains("plugins/keepalive.wasm: ok, 1 trigger"), "{stdout}");
    assert!(stdout.contains("plugins/future.wasm: refused: it was built against vigil:host@1.0.0"), "{stdout}");
    assert!(stdout.contains("plugins/junk.wasm: not a valid WASM component"), "{stdout}");
    assert!(stdout.contains("vigil check: 2 problems"), "{stdout}");
}

#[test]
fn check_reports_a_handler_that_does_not_exist_and_a_bad_interval() {
    let dir = folder(
        "",
        &[
            ("a.rhai", "every(\"1m\", \"tikc\");\nfn tick() { }\n"),
            ("b.rhai", "\nevery(\"55x..65m\", \"tick\");\nfn tick() { }\n"),
        ],
    );
    let out = vigil(dir.path(), &["check"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(stdout.contains("scripts/a.rhai:1: `every 1m -> tikc` names the handler `tikc`"), "{stdout}");
    assert!(stdout.contains("scripts/b.rhai:2:"), "{stdout}");
    assert!(stdout.contains("55x"), "{stdout}");
}

#[test]
fn check_passes_a_good_folder() {
    let dir = folder(
        "[behaviours.good]\ngrants = [\"sessions.read\"]\n",
        &[("good.rhai", "cron(\"0 2 * * *\", \"nightly\", #{ tz: \"Europe/Madrid\" });\nfn nightly(ev) { }\n")],
    );
    let out = vigil(dir.path(), &["check"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("vigil check: no problems"), "{stdout}");
}

#[test]
fn run_shows_its_behaviours_and_stops_cleanly_on_sigterm() {
    let dir = folder("", &[("pulse.rhai", "every(\"55m..65m\", \"tick\", #{ first: \"1m..10m\" });\nevery(\"200ms\", \"fast\");\nfn tick() { }\nfn fast() { log(\"fast\") }\n")]);
    let mut child = vigil(dir.path(), &["run"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    // Wait until the host has run `fast` at least once and written its status.
    let deadline = Instant::now() + Duration::from_secs(20);
    let shown = loop {
        let out = vigil(dir.path(), &["behaviours"]).output().unwrap();
        let s = String::from_utf8_lossy(&out.stdout).to_string();
        if out.status.success() && s.contains("every 200ms -> fast") && s.contains("  ok") {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "vigil behaviours never showed a run:\n{s}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(shown.contains("(running)"), "{shown}");
    assert!(shown.contains("every 55m..65m (first 1m..10m) -> tick  next 20"), "{shown}");
    // SIGTERM → exit 0, promptly.
    let t0 = Instant::now();
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(t0.elapsed() < Duration::from_secs(15), "vigil did not stop within 15 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "exit status {status:?}");
    let out = vigil(dir.path(), &["behaviours"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("not running"));
}

#[test]
fn a_bad_config_stops_run_with_the_location() {
    let dir = folder("timezone = \"Mars/Olympus\"\n", &[]);
    let out = vigil(dir.path(), &["run"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("vigil.toml:1:12") && stderr.contains("unknown timezone `Mars/Olympus`"), "{stderr}");
}

#[test]
fn the_readme_example_behaviour_passes_check() {
    let readme =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")).unwrap();
    let start = readme.find("```rhai\n").expect("a rhai example in the README") + "```rhai\n".len();
    let example = &readme[start..start + readme[start..].find("```").unwrap()];
    let dir = folder("", &[("pulse.rhai", example)]);
    let out = vigil(dir.path(), &["check"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("scripts/pulse.rhai: ok, 3 triggers"), "{stdout}");
}

/// A folder for `vigil doctor`: the repository's scripts, Debian's Chromium, `extra` TOML.
fn doctor_folder(extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let scripts = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts");
    let config = format!(
        "scripts_dir = {scripts:?}\nplugins_dir = \"./plugins\"\n{extra}\n[sessions]\nchromium = {:?}\n",
        vigil_tests::CHROMIUM
    );
    std::fs::write(dir.path().join("vigil.toml"), config).unwrap();
    dir
}

#[test]
fn doctor_passes_on_this_machine_with_a_fresh_data_folder() {
    let dir = doctor_folder("data_dir = \"./data\"");
    let out = vigil(dir.path(), &["doctor"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "doctor fails here:\n{stdout}{}", String::from_utf8_lossy(&out.stderr));
    for line in
        ["✓ chromium: Chromium ", "✓ fonts: ", "✓ data folder: ", "✓ store: SQLite ", "✓ smtp: skipped", "✓ scripts: "]
    {
        assert!(stdout.contains(line), "missing {line:?}:\n{stdout}");
    }
    assert!(!stdout.contains('✗'), "{stdout}");
    assert!(stdout.contains(".rhai files"), "{stdout}");
    // Which browser the sessions get: the one the config names, ...
    assert!(stdout.contains("the full Chromium (/usr/bin/chromium; set by sessions.chromium)"), "{stdout}");
    // ... and by default ("auto") the headless shell this machine has.
    let auto = tempfile::tempdir().unwrap();
    std::fs::write(auto.path().join("vigil.toml"), "data_dir = \"./data\"\n").unwrap();
    let out = vigil(auto.path(), &["doctor"]).output().unwrap();
    let auto_stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        auto_stdout.contains("the headless shell (/usr/bin/chromium-headless-shell, runs /usr/lib/chromium/chromium-headless-shell; chosen by sessions.chromium = \"auto\")"),
        "{auto_stdout}"
    );
    assert!(dir.path().join("data").is_dir(), "the data folder was created");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("data"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".vigil-doctor"))
        .collect();
    assert!(leftovers.is_empty(), "the probe file is removed");
}

#[test]
fn doctor_fails_naming_a_data_folder_that_is_a_file_and_an_unreachable_smtp_port() {
    let dir = doctor_folder("data_dir = \"./not-a-folder\"");
    std::fs::write(dir.path().join("not-a-folder"), "a regular file").unwrap();
    let port = vigil_tests::smtp::free_port();
    let config = std::fs::read_to_string(dir.path().join("vigil.toml")).unwrap();
    std::fs::write(
        dir.path().join("vigil.toml"),
        format!("{config}[smtp]\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"plain\"\n"),
    )
    .unwrap();
    let out = vigil(dir.path(), &["doctor"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "doctor must fail:\n{stdout}");
    let data = stdout.lines().find(|l| l.starts_with("✗ data folder: ")).unwrap_or_else(|| panic!("{stdout}"));
    assert!(data.contains("not-a-folder"), "names the folder: {data}");
    assert!(stdout.contains("chown"), "says how to fix it:\n{stdout}");
    let smtp = stdout.lines().find(|l| l.starts_with("✗ smtp: ")).unwrap_or_else(|| panic!("{stdout}"));
    assert!(smtp.contains(&format!("127.0.0.1:{port}")), "names the server: {smtp}");
    assert!(stdout.contains("✓ chromium: "), "the other checks still run:\n{stdout}");
    assert!(stdout.contains("checks failed"), "{stdout}");
}
