//! `vigil doctor`: is this machine ready to run the host? One line per check, `✓` or `✗`,
//! and for each failure what to do. Meant for a fresh deploy (Railway, Docker) and for CI.
//!
//! Checks: the Chromium executable runs (`--version`); fonts exist (pages render text with
//! them); the data folder can be created and written; the store opens; the SMTP server answers
//! with its `220` greeting (when `[smtp] host` is set); the scripts and plugins folders can be
//! read; and (informative) which laid-out default scripts and templates differ from this
//! version's defaults.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::AsyncBufReadExt;

use crate::config::{Config, SmtpSecurity};

/// How long a check that talks to another program or server may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// One check's result.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    /// What was found (✓) or what went wrong (✗), naming the thing and where it is.
    pub detail: String,
    /// What to do about a failure.
    pub fix: Option<String>,
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", if self.ok { "✓" } else { "✗" }, self.name, self.detail)?;
        if let Some(fix) = &self.fix {
            write!(f, "\n    fix: {fix}")?;
        }
        Ok(())
    }
}

fn pass(name: &'static str, detail: impl Into<String>) -> Check {
    Check { name, ok: true, detail: detail.into(), fix: None }
}

fn fail(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
    Check { name, ok: false, detail: detail.into(), fix: Some(fix.into()) }
}

/// `vigil doctor`: loads the config (from `path`, else as `vigil run` would), runs the checks,
/// prints them; failure when any failed.
pub async fn main(path: Option<&Path>, canary: bool) -> std::process::ExitCode {
    let config = match crate::config::load(path, std::env::vars()) {
        Ok((c, _)) => c,
        Err(e) => {
            println!("✗ config: {e}\n    fix: correct the file or the environment variable it names");
            return std::process::ExitCode::FAILURE;
        }
    };
    let mut checks = doctor(&config).await;
    if canary {
        checks.push(site_canary(&config).await);
    }
    for c in &checks {
        println!("{c}");
    }
    let failed = checks.iter().filter(|c| !c.ok).count();
    if failed == 0 {
        println!("vigil doctor: all {} checks passed", checks.len());
        std::process::ExitCode::SUCCESS
    } else {
        println!("vigil doctor: {failed} of {} checks failed", checks.len());
        std::process::ExitCode::FAILURE
    }
}

/// Runs every check against `config`.
pub async fn doctor(config: &Config) -> Vec<Check> {
    vec![
        chromium(&config.sessions.chromium).await,
        fonts().await,
        data_folder(&config.data_dir),
        store(config).await,
        smtp(config).await,
        folder("scripts", &config.scripts_dir, true),
        folder("plugins", &config.plugins_dir, false),
        default_files(config),
    ]
}

/// Which laid-out default behaviours and templates differ from this version's (after an
/// upgrade, or an edit): informative, never a failure — the user's files are theirs.
fn default_files(config: &Config) -> Check {
    use crate::bundled::Drift;
    const NAME: &str = "default scripts";
    let all = crate::bundled::compare(config);
    let of = |d: Drift| all.iter().filter(|(_, x)| *x == d).map(|(p, _)| p.display().to_string()).collect::<Vec<_>>();
    let (differ, missing) = (of(Drift::Differs), of(Drift::Missing));
    if missing.len() == all.len() {
        return pass(NAME, format!("none laid out in {} (your own behaviours only)", config.scripts_dir.display()));
    }
    let mut detail =
        format!("{} of {} are this version's defaults", all.len() - differ.len() - missing.len(), all.len());
    if !differ.is_empty() {
        detail.push_str(&format!(
            "; {} differ{} from them (edited, or laid out by another version; kept as they are — see the new ones with \
             `vigil init <empty folder>`): {}",
            differ.len(),
            if differ.len() == 1 { "s" } else { "" },
            differ.join(", ")
        ));
    }
    if !missing.is_empty() {
        detail.push_str(&format!("; {} not there: {}", missing.len(), missing.join(", ")));
    }
    pass(NAME, detail)
}

/// The bridge's canary on the configured site (`--canary`), in a throwaway profile.
async fn site_canary(config: &Config) -> Check {
    const NAME: &str = "site canary";
    use crate::sessions::canary::{probe, CanaryReport};
    let site = match config.sessions.site {
        crate::config::SiteKind::Real => "https://web.whatsapp.com/".to_string(),
        crate::config::SiteKind::Simulator => {
            format!("the simulator on port {}", config.sessions.simulator_port.unwrap_or_default())
        }
    };
    match probe(config).await {
        Ok(CanaryReport::Compatible { version }) => pass(
            NAME,
            format!("{site} (WhatsApp Web {}) has every internal the bridge needs", version.as_deref().unwrap_or("?")),
        ),
        Ok(CanaryReport::Incompatible { version, missing, problems }) => fail(
            NAME,
            format!(
                "{site} (WhatsApp Web {}) lacks: {} ({})",
                version.as_deref().unwrap_or("?"),
                missing.join(", "),
                problems.join("; ")
            ),
            "the site changed: update vigil, or put a fixed bridge at sessions.bridge (VIGIL_SESSIONS__BRIDGE)",
        ),
        Err(e) => fail(
            NAME,
            format!("cannot run the canary on {site}: {e}"),
            "check that this machine reaches the site and that the chromium check passes",
        ),
    }
}

/// `name` as a path, or looked up in `PATH` when it has no `/`.
fn find_executable(name: &Path) -> Option<PathBuf> {
    if name.components().count() > 1 {
        return name.is_file().then(|| name.to_path_buf());
    }
    std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join(name)).find(|p| p.is_file())
}

async fn chromium(setting: &Path) -> Check {
    const NAME: &str = "chromium";
    let exe = &crate::sessions::executable::choose(setting);
    let fix = format!(
        "install it (Debian: `apt-get install -y chromium-headless-shell`, the lighter one, or `chromium`) or point \
         sessions.chromium (VIGIL_SESSIONS__CHROMIUM) at the executable; now it is `{}`",
        setting.display()
    );
    let Some(path) = find_executable(exe) else {
        return fail(NAME, format!("`{}` not found (as a path or in PATH)", exe.display()), fix);
    };
    let run = tokio::process::Command::new(&path).arg("--version").kill_on_drop(true).output();
    match tokio::time::timeout(TIMEOUT, run).await {
        Err(_) => fail(NAME, format!("{} --version did not finish within {TIMEOUT:?}", path.display()), fix),
        Ok(Err(e)) => fail(NAME, format!("cannot run {}: {e}", path.display()), fix),
        Ok(Ok(out)) if !out.status.success() => fail(
            NAME,
            format!(
                "{} --version failed ({}): {}",
                path.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            fix,
        ),
        Ok(Ok(out)) => {
            let real = crate::sessions::chromium::resolve_wrapper(&path);
            let via = if real != path { format!(", runs {}", real.display()) } else { String::new() };
            let why = if setting == Path::new(crate::sessions::executable::AUTO) {
                "chosen by sessions.chromium = \"auto\""
            } else {
                "set by sessions.chromium"
            };
            pass(
                NAME,
                format!(
                    "{}, the {} ({}{via}; {why})",
                    String::from_utf8_lossy(&out.stdout).trim(),
                    crate::sessions::executable::kind(&path),
                    path.display()
                ),
            )
        }
    }
}

async fn fonts() -> Check {
    const NAME: &str = "fonts";
    let fix = "install fonts for Chromium to render pages with: `apt-get install -y fonts-liberation`";
    let fc = tokio::process::Command::new("fc-list").kill_on_drop(true).output();
    if let Ok(Ok(out)) = tokio::time::timeout(TIMEOUT, fc).await {
        let n = String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.trim().is_empty()).count();
        if out.status.success() && n > 0 {
            return pass(NAME, format!("{n} fonts (fc-list)"));
        }
    }
    let n = count_files(Path::new("/usr/share/fonts"), 4);
    if n > 0 {
        pass(NAME, format!("{n} font files in /usr/share/fonts"))
    } else {
        fail(NAME, "no fonts: fc-list lists none and /usr/share/fonts is empty or missing", fix)
    }
}

fn count_files(dir: &Path, depth: u32) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else { return 0 };
    rd.flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() && depth > 0 => count_files(&e.path(), depth - 1),
            Ok(t) if t.is_file() => 1,
            _ => 0,
        })
        .sum()
}

fn data_folder(dir: &Path) -> Check {
    const NAME: &str = "data folder";
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    let fix = format!(
        "data_dir (VIGIL_DATA_DIR) must be a folder this user (uid {uid}) can write: `mkdir -p {0} && chown -R {uid} {0}`, \
         or mount a volume there (Railway: a volume at /data with VIGIL_DATA_DIR=/data; Docker: -v vigil-data:/data)",
        dir.display()
    );
    if let Err(e) = std::fs::create_dir_all(dir) {
        return fail(NAME, format!("cannot create {}: {e}", dir.display()), fix);
    }
    let probe = dir.join(format!(".vigil-doctor-{}", std::process::id()));
    if let Err(e) = std::fs::write(&probe, b"probe") {
        return fail(NAME, format!("cannot write in {}: {e}", dir.display()), fix);
    }
    if let Err(e) = std::fs::remove_file(&probe) {
        return fail(NAME, format!("cannot remove {} after writing it: {e}", probe.display()), fix);
    }
    let free = crate::fsutil::free_bytes(dir).map(|b| format!(", {} MB free", b / 1_000_000)).unwrap_or_default();
    pass(NAME, format!("{} is writable{free}", dir.display()))
}

async fn store(config: &Config) -> Check {
    const NAME: &str = "store";
    let what = match &config.database_url {
        Some(u) => crate::store::redact(u),
        None => format!("SQLite {}", config.data_dir.join("vigil.db").display()),
    };
    let fix = match &config.database_url {
        Some(_) => {
            "check database_url (VIGIL_DATABASE_URL): host, port, user, password, database, and that the server \
                    accepts connections from here"
                .to_string()
        }
        None => "the SQLite file lives in the data folder: fix the data folder first".to_string(),
    };
    let open = async {
        let s = crate::store::Store::open(config.database_url.as_deref(), &config.data_dir).await?;
        let ping = s.ping().await;
        s.close().await;
        ping
    };
    match tokio::time::timeout(TIMEOUT * 3, open).await {
        Err(_) => fail(NAME, format!("{what} did not open within {:?}", TIMEOUT * 3), fix),
        Ok(Err(e)) => fail(NAME, format!("{what}: {e}"), fix),
        Ok(Ok(d)) => pass(NAME, format!("{what} opens ({:.1} ms round trip)", d.as_secs_f64() * 1e3)),
    }
}

async fn smtp(config: &Config) -> Check {
    const NAME: &str = "smtp";
    let Some(host) = &config.smtp.host else {
        return pass(NAME, "skipped: no [smtp] host, alert emails wait in the outbox until one is set");
    };
    let port = config.smtp.port.unwrap_or_else(|| config.smtp.security.default_port());
    let addr = format!("{host}:{port}");
    let fix = format!(
        "check [smtp] host and port (VIGIL_SMTP__HOST, VIGIL_SMTP__PORT; now {addr}), that the server runs and that \
         this machine may reach it (firewalls often block outgoing 25; use 587)"
    );
    let conn = match tokio::time::timeout(TIMEOUT, tokio::net::TcpStream::connect(&addr)).await {
        Err(_) => return fail(NAME, format!("no connection to {addr} within {TIMEOUT:?}"), fix),
        Ok(Err(e)) => return fail(NAME, format!("cannot connect to {addr}: {e}"), fix),
        Ok(Ok(c)) => c,
    };
    if config.smtp.security == SmtpSecurity::Tls {
        return pass(
            NAME,
            format!("{addr} accepts connections (implicit TLS: the greeting comes after the handshake)"),
        );
    }
    let mut line = String::new();
    let mut reader = tokio::io::BufReader::new(conn);
    match tokio::time::timeout(TIMEOUT, reader.read_line(&mut line)).await {
        Err(_) => fail(NAME, format!("{addr} sent no greeting within {TIMEOUT:?}"), fix),
        Ok(Err(e)) => fail(NAME, format!("{addr}: cannot read the greeting: {e}"), fix),
        Ok(Ok(_)) if line.starts_with("220") => pass(NAME, format!("{addr} answers: {}", line.trim())),
        Ok(Ok(_)) => fail(NAME, format!("{addr} answered `{}`, not an SMTP 220 greeting", line.trim()), fix),
    }
}

fn folder(name: &'static str, dir: &Path, required: bool) -> Check {
    let ext = if name == "scripts" { "rhai" } else { "wasm" };
    match std::fs::read_dir(dir) {
        Ok(rd) => {
            let n = rd.flatten().filter(|e| e.path().extension().is_some_and(|x| x == ext)).count();
            pass(name, format!("{} is readable: {n} .{ext} file{}", dir.display(), if n == 1 { "" } else { "s" }))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
            pass(name, format!("{} does not exist: no plugins (it is created at start)", dir.display()))
        }
        Err(e) => fail(
            name,
            format!("cannot read {}: {e}", dir.display()),
            format!(
                "put the behaviours' folder there (the repository's `{name}/`, e.g. COPY {name}/ in a Dockerfile) or \
                 point {name}_dir (VIGIL_{}_DIR) at it",
                name.to_uppercase()
            ),
        ),
    }
}
