//! Profile care before launch: stale `Singleton*` locks (Chromium refuses a profile whose lock
//! names another host, exit 21) and the critical files (the origin's IndexedDB and Local
//! Storage), which make a linked session come back without a QR.

use std::path::Path;

/// The lock files Chromium leaves in a profile.
pub const LOCKS: [&str; 3] = ["SingletonLock", "SingletonSocket", "SingletonCookie"];

/// What [`remove_locks`] found.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Locks {
    /// The lock files removed.
    pub removed: Vec<String>,
    /// What `SingletonLock` pointed to (`hostname-pid`), if it existed.
    pub owner: Option<String>,
}

/// Removes the `Singleton*` locks of `profile` (symlinks, maybe dangling). Call it only when no
/// Chromium of ours runs on the profile.
pub fn remove_locks(profile: &Path) -> std::io::Result<Locks> {
    let mut out = Locks::default();
    for name in LOCKS {
        let path = profile.join(name);
        match std::fs::symlink_metadata(&path) {
            Ok(_) => {
                if name == "SingletonLock" {
                    out.owner = std::fs::read_link(&path).ok().map(|t| t.display().to_string());
                }
                std::fs::remove_file(&path)?;
                out.removed.push(name.to_string());
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// The state of a profile's critical files.
#[derive(Debug, Clone, PartialEq)]
pub enum Health {
    /// All there and readable.
    Intact,
    /// None there: a profile that never held a linked account.
    Empty,
    /// Some missing or unreadable: why.
    Damaged(String),
}

/// Checks the critical folders (LevelDB databases) of `profile`: each must exist with a
/// readable `CURRENT` naming a `MANIFEST-*` that exists and is not empty.
pub fn check(profile: &Path, critical: &[&str]) -> Health {
    let mut problems = Vec::new();
    let mut present = 0;
    for rel in critical {
        let dir = profile.join(rel);
        if !dir.exists() {
            problems.push(format!("{rel} is missing"));
            continue;
        }
        present += 1;
        if let Err(why) = check_leveldb(&dir) {
            problems.push(format!("{rel}: {why}"));
        }
    }
    if present == 0 {
        Health::Empty
    } else if problems.is_empty() {
        Health::Intact
    } else {
        Health::Damaged(problems.join("; "))
    }
}

fn check_leveldb(dir: &Path) -> Result<(), String> {
    let current = std::fs::read_to_string(dir.join("CURRENT")).map_err(|e| format!("CURRENT unreadable ({e})"))?;
    let manifest = current.trim();
    if !manifest.starts_with("MANIFEST-") || manifest.contains('/') {
        return Err(format!("CURRENT does not name a manifest ({manifest:.40})"));
    }
    match std::fs::metadata(dir.join(manifest)) {
        Ok(m) if m.len() > 0 => Ok(()),
        Ok(_) => Err(format!("{manifest} is empty")),
        Err(e) => Err(format!("{manifest} unreadable ({e})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leveldb(dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("CURRENT"), "MANIFEST-000001\n").unwrap();
        std::fs::write(dir.join("MANIFEST-000001"), b"m").unwrap();
    }

    #[test]
    fn stale_locks_are_removed_even_when_dangling() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("other-host-4242", dir.path().join("SingletonLock")).unwrap();
        std::os::unix::fs::symlink("/tmp/nowhere/socket", dir.path().join("SingletonSocket")).unwrap();
        let l = remove_locks(dir.path()).unwrap();
        assert_eq!(l.removed, ["SingletonLock", "SingletonSocket"]);
        assert_eq!(l.owner.as_deref(), Some("other-host-4242"));
        assert!(std::fs::symlink_metadata(dir.path().join("SingletonLock")).is_err());
        assert_eq!(remove_locks(dir.path()).unwrap(), Locks::default());
    }

    #[test]
    fn health() {
        let dir = tempfile::tempdir().unwrap();
        let critical = ["a/db", "b/db"];
        assert_eq!(check(dir.path(), &critical), Health::Empty);
        leveldb(&dir.path().join("a/db"));
        assert!(matches!(check(dir.path(), &critical), Health::Damaged(w) if w.contains("b/db is missing")));
        leveldb(&dir.path().join("b/db"));
        assert_eq!(check(dir.path(), &critical), Health::Intact);
        std::fs::write(dir.path().join("b/db/CURRENT"), "garbage").unwrap();
        assert!(matches!(check(dir.path(), &critical), Health::Damaged(w) if w.contains("does not name")));
    }
}
