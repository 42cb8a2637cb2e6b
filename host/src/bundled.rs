//! The defaults bundled in the binary, so the protection layers run wherever the binary runs
//! (a server without the repository): the default behaviours (`scripts/*.rhai`), the email
//! templates (`scripts/templates/`), and a commented `vigil.toml` with its JSON Schema.
//!
//! - `vigil run` with a missing or empty scripts folder lays the behaviours and templates out
//!   in it (and says so) before it loads them; `default_scripts = false` turns this off.
//! - `vigil init` lays everything out in a folder (see [`crate::cli::init`]).
//! - A file that exists is never written: what the user edited (or removed from a folder
//!   that is not empty) stays as it is. `vigil doctor` says which laid-out files differ from
//!   this version's defaults.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::config::Config;

/// One bundled file: its name in its folder and its text.
#[derive(Debug, Clone, Copy)]
pub struct DefaultFile {
    pub name: &'static str,
    pub text: &'static str,
}

/// The default behaviours, `scripts_dir/<name>.rhai`.
pub const SCRIPTS: &[DefaultFile] = &[
    DefaultFile { name: "activity.rhai", text: include_str!("../../scripts/activity.rhai") },
    DefaultFile { name: "backup.rhai", text: include_str!("../../scripts/backup.rhai") },
    DefaultFile { name: "cleanup.rhai", text: include_str!("../../scripts/cleanup.rhai") },
    DefaultFile { name: "health.rhai", text: include_str!("../../scripts/health.rhai") },
    DefaultFile { name: "heartbeat.rhai", text: include_str!("../../scripts/heartbeat.rhai") },
    DefaultFile { name: "keepalive.rhai", text: include_str!("../../scripts/keepalive.rhai") },
    DefaultFile { name: "memory.rhai", text: include_str!("../../scripts/memory.rhai") },
    DefaultFile { name: "monitor.rhai", text: include_str!("../../scripts/monitor.rhai") },
    DefaultFile { name: "watchdog.rhai", text: include_str!("../../scripts/watchdog.rhai") },
];

/// The email templates, `templates_dir/<name>` (default `scripts_dir/templates`).
pub const TEMPLATES: &[DefaultFile] = &[
    DefaultFile {
        name: "behaviour_suspended.subject",
        text: include_str!("../../scripts/templates/behaviour_suspended.subject"),
    },
    DefaultFile {
        name: "behaviour_suspended.txt",
        text: include_str!("../../scripts/templates/behaviour_suspended.txt"),
    },
    DefaultFile { name: "disconnected.html", text: include_str!("../../scripts/templates/disconnected.html") },
    DefaultFile { name: "disconnected.subject", text: include_str!("../../scripts/templates/disconnected.subject") },
    DefaultFile { name: "disconnected.txt", text: include_str!("../../scripts/templates/disconnected.txt") },
    DefaultFile { name: "health.subject", text: include_str!("../../scripts/templates/health.subject") },
    DefaultFile { name: "health.txt", text: include_str!("../../scripts/templates/health.txt") },
    DefaultFile { name: "inactive.html", text: include_str!("../../scripts/templates/inactive.html") },
    DefaultFile { name: "inactive.subject", text: include_str!("../../scripts/templates/inactive.subject") },
    DefaultFile { name: "inactive.txt", text: include_str!("../../scripts/templates/inactive.txt") },
    DefaultFile { name: "incompatible.subject", text: include_str!("../../scripts/templates/incompatible.subject") },
    DefaultFile { name: "incompatible.txt", text: include_str!("../../scripts/templates/incompatible.txt") },
    DefaultFile { name: "resolved.subject", text: include_str!("../../scripts/templates/resolved.subject") },
    DefaultFile { name: "resolved.txt", text: include_str!("../../scripts/templates/resolved.txt") },
];

/// The commented `vigil.toml` `vigil init` writes: the repository's `vigil.example.toml`.
pub const CONFIG: &str = include_str!("../../vigil.example.toml");

/// Every bundled behaviour and template with where it goes under `config`.
pub fn behaviour_files(config: &Config) -> Vec<(PathBuf, &'static str)> {
    let templates = config.templates_dir();
    let scripts = SCRIPTS.iter().map(|f| (config.scripts_dir.join(f.name), f.text));
    scripts.chain(TEMPLATES.iter().map(|f| (templates.join(f.name), f.text))).collect()
}

/// What [`lay_out`] did.
#[derive(Debug, Default)]
pub struct LaidOut {
    /// Files written.
    pub written: Vec<PathBuf>,
    /// Files that existed and were kept as they are.
    pub kept: Vec<PathBuf>,
}

/// Writes each of `files` that does not exist (creating its folder); an existing file is kept
/// untouched, whatever it holds.
pub fn lay_out(files: &[(PathBuf, &str)]) -> anyhow::Result<LaidOut> {
    let mut done = LaidOut::default();
    for (path, text) in files {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create the folder {}", dir.display()))?;
        }
        // `create_new`: never replaces a file, not even one made a moment ago.
        match std::fs::OpenOptions::new().write(true).create_new(true).open(path) {
            Ok(mut f) => {
                f.write_all(text.as_bytes()).with_context(|| format!("cannot write {}", path.display()))?;
                done.written.push(path.clone());
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => done.kept.push(path.clone()),
            Err(e) => return Err(e).with_context(|| format!("cannot create {}", path.display())),
        }
    }
    Ok(done)
}

/// Is `dir` missing, or a folder with nothing in it (not even a hidden file)?
pub fn is_missing_or_empty(dir: &Path) -> anyhow::Result<bool> {
    match std::fs::read_dir(dir) {
        Ok(mut rd) => Ok(rd.next().is_none()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(e).with_context(|| format!("cannot read the scripts folder {}", dir.display())),
    }
}

/// At `vigil run`: when `scripts_dir` is missing or empty (and `default_scripts` is on), lays
/// out the default behaviours and templates, logging what it did. `None`: nothing to do.
pub fn lay_out_if_empty(config: &Config) -> anyhow::Result<Option<LaidOut>> {
    if !config.default_scripts || !is_missing_or_empty(&config.scripts_dir)? {
        return Ok(None);
    }
    let done = lay_out(&behaviour_files(config))?;
    tracing::info!(
        dir = %config.scripts_dir.display(),
        templates = %config.templates_dir().display(),
        "the scripts folder was missing or empty: laid out {} default files ({} behaviours, {} email templates; \
         {} existing kept). Edit them freely: they are never overwritten (`default_scripts = false` keeps the \
         folder empty)",
        done.written.len(),
        SCRIPTS.len(),
        TEMPLATES.len(),
        done.kept.len(),
    );
    Ok(Some(done))
}

/// How a laid-out file compares with this version's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drift {
    Same,
    /// Edited, or laid out by another version of vigil.
    Differs,
    /// Not there (removed, or never laid out).
    Missing,
}

/// Each bundled behaviour and template under `config`, compared with the file on disk.
pub fn compare(config: &Config) -> Vec<(PathBuf, Drift)> {
    behaviour_files(config)
        .into_iter()
        .map(|(path, text)| {
            let drift = match std::fs::read(&path) {
                Ok(bytes) if bytes == text.as_bytes() => Drift::Same,
                Ok(_) => Drift::Differs,
                Err(_) => Drift::Missing,
            };
            (path, drift)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    /// The names in `dir` (files only), minus editor definition files such as `vigil.d.rhai`.
    fn names(dir: &Path) -> BTreeSet<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .filter(|e| e.path().is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.ends_with(".d.rhai"))
            .collect()
    }

    #[test]
    fn the_bundle_is_the_repositorys_scripts_folder() {
        let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts");
        let bundled: BTreeSet<String> = super::SCRIPTS.iter().map(|f| f.name.to_string()).collect();
        assert_eq!(
            names(&scripts),
            bundled,
            "a default script without its line in host/src/bundled.rs (or one too many)"
        );
        let templates: BTreeSet<String> = super::TEMPLATES.iter().map(|f| f.name.to_string()).collect();
        assert_eq!(names(&scripts.join("templates")), templates, "a template without its line in host/src/bundled.rs");
    }

    #[test]
    fn laying_out_writes_what_is_missing_and_keeps_every_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("s/a.rhai"), dir.path().join("s/t/b.txt"));
        std::fs::create_dir_all(dir.path().join("s")).unwrap();
        std::fs::write(&a, "mine").unwrap();
        let done = super::lay_out(&[(a.clone(), "default a"), (b.clone(), "default b")]).unwrap();
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "mine");
        assert_eq!(std::fs::read_to_string(&b).unwrap(), "default b");
        assert_eq!((done.written, done.kept), (vec![b], vec![a]));
    }
}
