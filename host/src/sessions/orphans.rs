//! Orphan session folders: `data_dir/sessions/<id>` with no session record and no browser,
//! e.g. left behind when the host died between deleting a session's record and its folder.
//! The `cleanup` behaviour removes them through the host API (`remove_orphan_folders`).
//!
//! What is never removed, whatever the caller passes:
//! - anything outside the sessions folder, or the sessions folder itself when it is a symlink;
//! - an entry whose name is not a valid session id ([`SessionId`](super::SessionId));
//! - a symlink (it is never followed: `symlink_metadata`, and `remove_dir_all` does not follow
//!   symlinks inside the folder either);
//! - the folder of a known session (the caller's list: every session with a record, running
//!   or not);
//! - a folder changed less than `min_age` ago (a session being added right now has its folder
//!   before its record);
//! - a folder whose profile a Chromium still uses (another host, or one left by a killed host).

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::chromium;
use super::id::SessionId;

/// What [`remove_orphans`] did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Swept {
    /// The ids whose folders were removed, sorted.
    pub removed: Vec<String>,
    /// Folders that looked orphaned but could not be removed: `path: why`.
    pub failed: Vec<String>,
}

/// Removes the orphan folders of `sessions_dir`: entries named like a session id, real
/// folders (not symlinks), not in `known`, unchanged for at least `min_age` (by their
/// modification time against the operating system's clock, the clock that wrote it), and with
/// no Chromium on their profile. A missing `sessions_dir` has no orphans.
pub fn remove_orphans(sessions_dir: &Path, known: &BTreeSet<String>, min_age: Duration) -> Result<Swept, String> {
    match std::fs::symlink_metadata(sessions_dir) {
        Ok(m) if m.file_type().is_symlink() => {
            return Err(format!(
                "{} is a symlink: orphan folders are only removed from a real folder (mount the volume at the \
                 data folder itself instead of linking its sessions folder)",
                sessions_dir.display()
            ))
        }
        Ok(m) if !m.is_dir() => {
            return Err(format!("{} is not a folder: move that file away", sessions_dir.display()));
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Swept::default()),
        Err(e) => return Err(format!("cannot read {}: {e}", sessions_dir.display())),
    }
    let entries =
        std::fs::read_dir(sessions_dir).map_err(|e| format!("cannot read {}: {e}", sessions_dir.display()))?;
    let now = SystemTime::now();
    let mut out = Swept::default();
    for entry in entries.flatten() {
        let Some(id) = entry.file_name().to_str().map(str::to_string) else { continue };
        if SessionId::parse(&id).is_err() || known.contains(&id) {
            continue;
        }
        let path = sessions_dir.join(&id);
        // Not followed: a symlink is neither a folder here nor removed.
        let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
        if !meta.file_type().is_dir() {
            continue;
        }
        let age = meta.modified().ok().and_then(|m| now.duration_since(m).ok()).unwrap_or(Duration::ZERO);
        if age < min_age {
            continue;
        }
        if let Some(p) = chromium::strays(&path.join("profile")).first() {
            tracing::warn!(
                session = %id,
                pid = p.pid,
                "the folder {} has no session record but a Chromium uses its profile: kept",
                path.display()
            );
            continue;
        }
        match std::fs::remove_dir_all(&path) {
            Ok(()) => out.removed.push(id),
            Err(e) => out.failed.push(format!("{}: {e}", path.display())),
        }
    }
    out.removed.sort();
    Ok(out)
}

/// [`remove_orphans`] off the async threads, for the [`Sessions`](super::Sessions) impls:
/// `known` is every session with a record. What it removed is logged.
pub(crate) async fn sweep(
    sessions_dir: &Path,
    known: BTreeSet<String>,
    min_age: Duration,
) -> Result<Swept, super::SessionError> {
    let dir = sessions_dir.to_path_buf();
    let swept = tokio::task::spawn_blocking(move || remove_orphans(&dir, &known, min_age))
        .await
        .map_err(|e| super::SessionError::BadInput(format!("removing orphan folders: {e}")))?
        .map_err(super::SessionError::BadInput)?;
    if !swept.removed.is_empty() {
        tracing::warn!(
            "removed orphan session folders (no session record) under {}: {}",
            sessions_dir.display(),
            swept.removed.join(", ")
        );
    }
    Ok(swept)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn age(path: &Path, by: Duration) {
        let f = std::fs::File::open(path).unwrap();
        f.set_modified(SystemTime::now() - by).unwrap();
    }

    #[test]
    fn only_old_unknown_real_folders_named_like_ids_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let sessions = dir.path().join("sessions");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(outside.join("keep")).unwrap();
        for name in ["orphan", "known", "fresh", "Not-An-Id", "has.dot"] {
            std::fs::create_dir_all(sessions.join(name).join("profile")).unwrap();
        }
        std::fs::write(sessions.join("afile"), "x").unwrap();
        std::os::unix::fs::symlink(&outside, sessions.join("linked")).unwrap();
        for name in ["orphan", "known", "Not-An-Id", "has.dot"] {
            age(&sessions.join(name), Duration::from_secs(7200));
        }
        let known: BTreeSet<String> = ["known".to_string()].into();
        let swept = remove_orphans(&sessions, &known, Duration::from_secs(3600)).unwrap();
        assert_eq!(swept, Swept { removed: vec!["orphan".into()], failed: vec![] });
        assert!(!sessions.join("orphan").exists());
        for kept in ["known", "fresh", "Not-An-Id", "has.dot", "afile", "linked"] {
            assert!(std::fs::symlink_metadata(sessions.join(kept)).is_ok(), "{kept} kept");
        }
        assert!(outside.join("keep").exists(), "nothing through the symlink");
        assert_eq!(remove_orphans(&dir.path().join("none"), &known, Duration::ZERO).unwrap(), Swept::default());
    }

    #[test]
    fn a_symlinked_sessions_folder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("real/orphan")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("real"), dir.path().join("sessions")).unwrap();
        let e = remove_orphans(&dir.path().join("sessions"), &BTreeSet::new(), Duration::ZERO).unwrap_err();
        assert!(e.contains("is a symlink"), "{e}");
        assert!(dir.path().join("real/orphan").exists());
    }
}
