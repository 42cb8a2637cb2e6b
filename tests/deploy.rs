//! The deployment files, checked without a Docker engine or Railway: `nixpacks.toml` parses and
//! builds and starts vigil with Chromium and a volume at /data; the `Dockerfile` passes a lint
//! (hadolint when it is installed, and always the rules below); `.dockerignore` keeps build
//! output and state out of the context. `vigil doctor` itself runs in `tests/cli.rs`.

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(name: &str) -> String {
    std::fs::read_to_string(repo().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn nixpacks_builds_vigil_and_starts_it_with_chromium_and_the_data_volume() {
    let t: toml::Table = toml::from_str(&read("nixpacks.toml")).expect("nixpacks.toml parses");
    let strings = |v: &toml::Value| -> Vec<String> {
        v.as_array().expect("an array").iter().map(|s| s.as_str().expect("strings").to_string()).collect()
    };
    let setup = &t["phases"]["setup"];
    assert!(strings(&setup["nixPkgs"]).iter().any(|p| p == "chromium"), "Chromium from nixpkgs");
    assert!(strings(&setup["aptPkgs"]).iter().any(|p| p == "fonts-liberation"), "fonts");
    let build = strings(&t["phases"]["build"]["cmds"]).join(" && ");
    assert!(build.contains("cargo build --release") && build.contains("-p vigil"), "{build}");
    assert!(build.contains("/usr/local/bin/vigil"), "the binary on PATH for the start command: {build}");
    let start = t["start"]["cmd"].as_str().expect("start.cmd");
    assert!(start.ends_with("vigil run"), "{start}");
    assert!(start.contains("VIGIL_API__LISTEN=0.0.0.0:${PORT:-8080}"), "{start}");
    let vars = t["variables"].as_table().expect("[variables]");
    assert_eq!(vars["VIGIL_DATA_DIR"].as_str(), Some("/data"));
    for (k, _) in vars {
        assert!(!k.contains("PASSWORD") && !k.contains("TOKEN") && !k.contains("SECRET"), "no secret in the file: {k}");
    }
}

/// A Dockerfile instruction: keyword (upper case), arguments, line.
#[derive(Debug)]
struct Instruction {
    keyword: String,
    args: String,
    line: usize,
}

/// Splits a Dockerfile into instructions: comments and blank lines dropped, `\` continuations
/// joined.
fn parse_dockerfile(text: &str) -> Vec<Instruction> {
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if pending.is_none() && (line.is_empty() || line.starts_with('#')) {
            continue;
        }
        if pending.is_some() && line.starts_with('#') {
            continue;
        }
        let (start, mut acc) = pending.take().unwrap_or((i + 1, String::new()));
        match line.strip_suffix('\\') {
            Some(part) => {
                acc.push_str(part.trim());
                acc.push(' ');
                pending = Some((start, acc));
            }
            None => {
                acc.push_str(line);
                let (kw, args) = acc.split_once(char::is_whitespace).unwrap_or((&acc, ""));
                out.push(Instruction { keyword: kw.to_ascii_uppercase(), args: args.trim().to_string(), line: start });
            }
        }
    }
    assert!(pending.is_none(), "the Dockerfile ends in a continuation");
    out
}

const KNOWN: [&str; 18] = [
    "FROM",
    "RUN",
    "CMD",
    "LABEL",
    "EXPOSE",
    "ENV",
    "ADD",
    "COPY",
    "ENTRYPOINT",
    "VOLUME",
    "USER",
    "WORKDIR",
    "ARG",
    "ONBUILD",
    "STOPSIGNAL",
    "HEALTHCHECK",
    "SHELL",
    "MAINTAINER",
];

#[test]
fn the_dockerfile_passes_the_lint() {
    let text = read("Dockerfile");
    let all = parse_dockerfile(&text);
    for i in &all {
        assert!(KNOWN.contains(&i.keyword.as_str()), "line {}: unknown instruction {}", i.line, i.keyword);
        assert_ne!(i.keyword, "MAINTAINER", "line {}: deprecated, use LABEL", i.line);
    }
    let froms: Vec<&Instruction> = all.iter().filter(|i| i.keyword == "FROM").collect();
    assert_eq!(froms.len(), 2, "multi-stage: a builder and a runtime");
    for f in &froms {
        let image = f.args.split_whitespace().next().unwrap();
        let tag = image.split_once(':').map(|(_, t)| t);
        assert!(tag.is_some() || image.contains("@sha256:"), "line {}: pin `{image}` to a tag", f.line);
        assert_ne!(tag, Some("latest"), "line {}: `{image}`: never `latest`", f.line);
    }
    assert!(froms[0].args.starts_with("rust:1-bookworm AS "), "{}", froms[0].args);
    assert_eq!(froms[1].args, "debian:bookworm-slim");
    // The runtime stage: everything after the last FROM.
    let last_from = all.iter().rposition(|i| i.keyword == "FROM").unwrap();
    let runtime = &all[last_from..];
    let of = |kw: &'static str| runtime.iter().filter(move |i| i.keyword == kw);
    let installs: String = of("RUN").map(|i| i.args.as_str()).collect::<Vec<_>>().join(" ");
    for pkg in ["chromium-headless-shell", "fonts-liberation", "ca-certificates", "tini"] {
        assert!(installs.split_whitespace().any(|w| w == pkg), "the runtime installs {pkg}: {installs}");
    }
    assert!(installs.contains("--no-install-recommends") && installs.contains("rm -rf /var/lib/apt/lists"));
    let user = of("USER").next_back().expect("a USER in the runtime stage");
    let name = user.args.split(':').next().unwrap();
    assert!(name != "root" && name != "0", "line {}: runs as root", user.line);
    assert!(installs.contains("useradd") && installs.contains(name), "the user `{name}` is created");
    let health = of("HEALTHCHECK").next().expect("a HEALTHCHECK");
    assert!(health.args.contains("http://127.0.0.1:8080/healthz"), "{}", health.args);
    let tool = health.args.split(" CMD ").nth(1).and_then(|c| c.split_whitespace().next()).expect("HEALTHCHECK CMD");
    assert!(installs.split_whitespace().any(|w| w == tool), "the health check's `{tool}` is installed in the image");
    assert!(of("VOLUME").any(|i| i.args == "/data"), "VOLUME /data");
    assert!(of("EXPOSE").any(|i| i.args == "8080"), "EXPOSE 8080");
    assert!(of("COPY").any(|i| i.args.starts_with("scripts/ ")), "the default behaviours are in the image");
    assert!(of("COPY").any(|i| i.args.starts_with("--from=build ")), "the binary comes from the builder");
    let env: String = of("ENV").map(|i| i.args.as_str()).collect::<Vec<_>>().join(" ");
    assert!(env.contains("VIGIL_DATA_DIR=/data"), "{env}");
    let entry = of("ENTRYPOINT").next_back().expect("an ENTRYPOINT");
    let entry: Vec<String> = serde_json::from_str(&entry.args).expect("ENTRYPOINT in exec (JSON) form");
    assert!(entry[0].ends_with("tini"), "{entry:?}");
    let cmd = of("CMD").next_back().expect("a CMD");
    let cmd: Vec<String> = serde_json::from_str(&cmd.args).expect("CMD in exec (JSON) form");
    assert_eq!(cmd, ["vigil", "run"]);

    // hadolint, when the machine has it, on top; without it the test says it was skipped.
    match std::process::Command::new("hadolint").arg(repo().join("Dockerfile")).output() {
        Ok(out) => assert!(
            out.status.success(),
            "hadolint:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => println!(
            "hadolint skipped ({e}): only the rules above were checked; install hadolint to lint the Dockerfile too"
        ),
    }
}

/// `NAME=value` pairs of the Dockerfile's ENV lines (the `KEY=VALUE ...` form).
fn dockerfile_env(text: &str) -> Vec<(String, String)> {
    parse_dockerfile(text)
        .into_iter()
        .filter(|i| i.keyword == "ENV")
        .flat_map(|i| {
            i.args
                .split_whitespace()
                .map(|kv| kv.split_once('=').expect("ENV in KEY=VALUE form"))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Loads the configuration with `env` as its only environment; the error as text.
fn load_with(env: Vec<(String, String)>) -> Result<vigil::config::Config, String> {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("vigil.toml");
    std::fs::write(&empty, "").unwrap();
    vigil::config::load(Some(&empty), env).map(|(c, _)| c).map_err(|e| e.to_string())
}

#[test]
fn the_variables_the_deploy_files_set_are_configuration_keys_vigil_accepts() {
    // The API (`[api]`) is built on another branch: its variables are checked once this
    // host's configuration has the section.
    let has_api = serde_json::to_value(vigil::config::Config::default()).unwrap().get("api").is_some();
    let keep = |k: &str| k.starts_with("VIGIL_") && (has_api || !k.starts_with("VIGIL_API__"));
    let docker: Vec<_> = dockerfile_env(&read("Dockerfile")).into_iter().filter(|(k, _)| keep(k)).collect();
    assert!(docker.iter().any(|(k, _)| k == "VIGIL_DATA_DIR"));
    let config = load_with(docker).unwrap_or_else(|e| panic!("the Dockerfile's ENV: {e}"));
    assert_eq!(config.data_dir, Path::new("/data"));
    assert_eq!(config.sessions.chromium, Path::new("/usr/bin/chromium-headless-shell"));
    let t: toml::Table = toml::from_str(&read("nixpacks.toml")).unwrap();
    let mut nix: Vec<(String, String)> = t["variables"]
        .as_table()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().expect("string variables").to_string()))
        .collect();
    // The start command's own assignments, with Railway's PORT.
    for word in t["start"]["cmd"].as_str().unwrap().split_whitespace() {
        if let Some((k, v)) = word.split_once('=') {
            nix.push((k.to_string(), v.replace("${PORT:-8080}", "8080")));
        }
    }
    let nix: Vec<_> = nix.into_iter().filter(|(k, _)| keep(k) || !k.starts_with("VIGIL_")).collect();
    let config = load_with(nix).unwrap_or_else(|e| panic!("nixpacks.toml's variables: {e}"));
    assert_eq!(config.data_dir, Path::new("/data"));
}

#[test]
fn the_docker_context_leaves_out_build_output_and_state_but_keeps_what_the_build_reads() {
    let ignore = read(".dockerignore");
    let lines: Vec<&str> = ignore.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
    for must in ["target/", "data/", "plugins/target"] {
        assert!(lines.contains(&must), ".dockerignore lacks {must}: {lines:?}");
    }
    for needed in ["host", "scripts", "plugins/wit", "tests", "Cargo.toml", "Cargo.lock"] {
        assert!(repo().join(needed).exists(), "{needed} is missing from the repository");
        assert!(!lines.iter().any(|l| l.trim_end_matches('/') == needed), "{needed} is read by the build but ignored");
    }
}

#[test]
fn the_dockerfile_parser_joins_continuations_and_skips_comments() {
    let parsed = parse_dockerfile("# c\nFROM a:1 AS b\n\nRUN x \\\n    # inner\n    && y\ncmd [\"z\"]\n");
    let seen: Vec<(&str, &str, usize)> = parsed.iter().map(|i| (i.keyword.as_str(), i.args.as_str(), i.line)).collect();
    assert_eq!(seen, [("FROM", "a:1 AS b", 2), ("RUN", "x && y", 4), ("CMD", "[\"z\"]", 7)]);
}

/// The production build (the Dockerfile's and nixpacks' `--no-default-features`) links no test
/// equipment: no simulator, no self-signed certificates, no tokio test clock. The default build
/// (the demo, `vigil test`) does, so the check can tell them apart.
#[test]
fn the_production_build_links_no_test_equipment() {
    let tree = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO"))
            .args(["tree", "--locked", "-p", "vigil", "-e", "normal", "-f", "{p} {f}"])
            .args(args)
            .current_dir(repo())
            .output()
            .expect("cargo tree runs");
        assert!(out.status.success(), "cargo tree: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    const TEST_EQUIPMENT: [&str; 4] = ["wa-sim", "rcgen", "axum-server", "test-util"];
    let production = tree(&["--no-default-features"]);
    for part in TEST_EQUIPMENT {
        assert!(!production.contains(part), "the production build links {part}");
    }
    let default = tree(&[]);
    assert!(TEST_EQUIPMENT.iter().all(|p| default.contains(p)), "the default build has the demo and `vigil test`");
    for file in ["Dockerfile", "nixpacks.toml"] {
        assert!(
            read(file).contains("cargo build --release --locked -p vigil --no-default-features"),
            "{file} builds the production binary"
        );
    }
}
