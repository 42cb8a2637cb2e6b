//! Backups of a profile's critical subset (the origin's IndexedDB and Local Storage): a quiet
//! copy, archived as tar + zstd with a manifest of sha256 sums, the last N kept in
//! `data/sessions/<id>/backups/`. Restore checks the whole archive against its manifest before
//! it replaces anything.
//!
//! A copy is "quiet" when no source file changed (size, mtime) while it was copied. From a
//! running browser the host first waits until the files have not changed for a while
//! (Chromium writes Local Storage to disk up to ~5 s after the page did), then freezes the
//! page for the copy itself, so WhatsApp writes nothing meanwhile.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const MANIFEST: &str = "manifest.json";
const FILES: &str = "files/";
const FORMAT: u32 = 1;
/// LevelDB files that are never needed to open a database (and change all the time).
const SKIP: [&str; 3] = ["LOCK", "LOG", "LOG.old"];

/// Errors of backup and restore; each names the session and what to do.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("session `{id}` has no backup to restore (make one with `vigil backup {id}`)")]
    NoBackup { id: String },
    #[error("session `{id}` has no backup `{name}` (list them in {dir})")]
    NotFound { id: String, name: String, dir: String },
    #[error("backup {path} is corrupt: {reason}; nothing was changed — restore another backup (`vigil restore <id> <backup>`)")]
    Corrupt { path: String, reason: String },
    #[error("session `{id}`: the profile has none of the files a backup keeps (was the session ever linked?)")]
    Empty { id: String },
    #[error("session `{id}`: the profile kept changing while it was copied ({attempts} attempts); try again")]
    Unstable { id: String, attempts: usize },
    #[error("session `{id}`: {what}: {source}")]
    Io { id: String, what: String, source: std::io::Error },
}

/// One file in a manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// Relative to the profile folder.
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

/// `manifest.json`, the first entry of every archive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub session: String,
    pub created_at: DateTime<Utc>,
    /// The critical folders the backup covers (relative to the profile).
    pub roots: Vec<String>,
    pub files: Vec<ManifestFile>,
}

/// A backup on disk.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = Backup)]
pub struct BackupInfo {
    #[schema(value_type = String)]
    pub path: PathBuf,
    /// The file name (what `vigil restore <id> <backup>` takes).
    pub name: String,
    pub bytes: u64,
    /// Files inside (known after creating or restoring).
    #[schema(required = true, value_type = Option<u64>)]
    pub files: Option<usize>,
}

/// `data/sessions/<id>/backups`.
pub fn backups_dir(session_dir: &Path) -> PathBuf {
    session_dir.join("backups")
}

/// The backups of a session, oldest first (names sort by time).
pub fn list(session_dir: &Path) -> Vec<BackupInfo> {
    let mut out: Vec<BackupInfo> = std::fs::read_dir(backups_dir(session_dir))
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            if !name.ends_with(".tar.zst") || name.starts_with('.') {
                return None;
            }
            Some(BackupInfo { path: e.path(), bytes: e.metadata().ok()?.len(), name, files: None })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn io(id: &str, what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BackupError {
    let (id, what) = (id.to_string(), what.into());
    move |source| BackupError::Io { id, what, source }
}

/// Files under the critical roots, relative to `profile`, sorted, with their (size, mtime).
fn scan(profile: &Path, roots: &[&str]) -> std::io::Result<BTreeMap<String, (u64, SystemTime)>> {
    let mut out = BTreeMap::new();
    for root in roots {
        let dir = profile.join(root);
        if !dir.exists() {
            continue;
        }
        let mut stack = vec![dir];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d)? {
                let e = e?;
                let ft = e.file_type()?;
                let path = e.path();
                if ft.is_dir() {
                    stack.push(path);
                } else if ft.is_file() {
                    let name = e.file_name();
                    if SKIP.iter().any(|s| name == *s) {
                        continue;
                    }
                    let m = e.metadata()?;
                    let rel = path.strip_prefix(profile).expect("under the profile").to_string_lossy().into_owned();
                    out.insert(rel, (m.len(), m.modified()?));
                }
            }
        }
    }
    Ok(out)
}

/// When a critical file of `profile` last changed (`None`: there is none).
pub fn last_change(profile: &Path, roots: &[&str]) -> Option<SystemTime> {
    scan(profile, roots).ok()?.values().map(|(_, t)| *t).max()
}

/// Copies the critical files of `profile` into `staging` (emptied first), retrying until no
/// file changed during the copy. Fast: plain file copies; run it while the page is frozen.
pub fn snapshot(id: &str, profile: &Path, roots: &[&str], staging: &Path) -> Result<usize, BackupError> {
    const ATTEMPTS: usize = 5;
    for attempt in 0..ATTEMPTS {
        if staging.exists() {
            std::fs::remove_dir_all(staging).map_err(io(id, "clearing the staging folder"))?;
        }
        let before = scan(profile, roots).map_err(io(id, "reading the profile"))?;
        if before.is_empty() {
            return Err(BackupError::Empty { id: id.into() });
        }
        let mut ok = true;
        for rel in before.keys() {
            let to = staging.join(rel);
            std::fs::create_dir_all(to.parent().expect("has a parent"))
                .map_err(io(id, "creating the staging folder"))?;
            match std::fs::copy(profile.join(rel), &to) {
                Ok(_) => {}
                // A LevelDB file compacted away under us: try again.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => ok = false,
                Err(e) => return Err(io(id, format!("copying {rel}"))(e)),
            }
        }
        let after = scan(profile, roots).map_err(io(id, "reading the profile"))?;
        if ok && after == before {
            return Ok(before.len());
        }
        std::thread::sleep(Duration::from_millis(50 * (attempt as u64 + 1)));
    }
    Err(BackupError::Unstable { id: id.into(), attempts: ATTEMPTS })
}

fn sha256_file(path: &Path) -> std::io::Result<(u64, String)> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        h.update(&buf[..n]);
    }
    Ok((size, hex(&h.finalize())))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Archives `staging` (from [`snapshot`]) as a new backup of session `id`, then keeps only the
/// newest `keep` backups. Removes `staging`.
pub fn archive(
    id: &str,
    session_dir: &Path,
    roots: &[&str],
    staging: &Path,
    keep: usize,
    now: DateTime<Utc>,
) -> Result<BackupInfo, BackupError> {
    let files = scan(staging, roots).map_err(io(id, "reading the staging folder"))?;
    let mut manifest = Manifest {
        format: FORMAT,
        session: id.into(),
        created_at: now,
        roots: roots.iter().map(|s| s.to_string()).collect(),
        files: Vec::new(),
    };
    for rel in files.keys() {
        let (size, sha256) = sha256_file(&staging.join(rel)).map_err(io(id, format!("hashing {rel}")))?;
        manifest.files.push(ManifestFile { path: rel.clone(), size, sha256 });
    }
    let dir = backups_dir(session_dir);
    std::fs::create_dir_all(&dir).map_err(io(id, format!("creating {}", dir.display())))?;
    let mut name = format!("{}.tar.zst", now.format("%Y%m%dT%H%M%S%.3fZ"));
    let mut n = 1;
    while dir.join(&name).exists() {
        name = format!("{}-{n}.tar.zst", now.format("%Y%m%dT%H%M%S%.3fZ"));
        n += 1;
    }
    let path = dir.join(&name);
    let tmp = dir.join(format!(".{name}.tmp"));
    let write = || -> std::io::Result<()> {
        let file = std::fs::File::create(&tmp)?;
        let enc = zstd::Encoder::new(file, 3)?;
        let mut tar = tar::Builder::new(enc);
        let json = serde_json::to_vec_pretty(&manifest).expect("a manifest serializes");
        let mut header = tar::Header::new_gnu();
        header.set_size(json.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(now.timestamp().max(0) as u64);
        header.set_cksum();
        tar.append_data(&mut header, MANIFEST, json.as_slice())?;
        for f in &manifest.files {
            tar.append_path_with_name(staging.join(&f.path), format!("{FILES}{}", f.path))?;
        }
        let enc = tar.into_inner()?;
        let file = enc.finish()?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path)
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(id, format!("writing {}", path.display()))(e));
    }
    let _ = std::fs::remove_dir_all(staging);
    let all = list(session_dir);
    if all.len() > keep.max(1) {
        for old in &all[..all.len() - keep.max(1)] {
            if let Err(e) = std::fs::remove_file(&old.path) {
                tracing::warn!(session = %id, backup = %old.path.display(), "cannot remove an old backup: {e}");
            }
        }
    }
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    Ok(BackupInfo { path, name, bytes, files: Some(manifest.files.len()) })
}

/// Finds backup `name` of session `id` (a file name in its backups folder, or a path), or the
/// newest one.
pub fn find(id: &str, session_dir: &Path, name: Option<&str>) -> Result<BackupInfo, BackupError> {
    let all = list(session_dir);
    match name {
        None => all.last().cloned().ok_or_else(|| BackupError::NoBackup { id: id.into() }),
        Some(n) => {
            if let Some(b) = all.iter().find(|b| b.name == n || b.name == format!("{n}.tar.zst")) {
                return Ok(b.clone());
            }
            let p = Path::new(n);
            if p.is_file() {
                let bytes = std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
                let name = p.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
                return Ok(BackupInfo { path: p.to_path_buf(), name, bytes, files: None });
            }
            Err(BackupError::NotFound {
                id: id.into(),
                name: n.into(),
                dir: backups_dir(session_dir).display().to_string(),
            })
        }
    }
}

/// Unpacks `archive` into `staging` and checks every file against the manifest: sizes, sums,
/// nothing missing, nothing extra, no path leaving the folder. Touches nothing else.
pub fn unpack_verified(archive: &Path, staging: &Path) -> Result<Manifest, BackupError> {
    let corrupt = |reason: String| BackupError::Corrupt { path: archive.display().to_string(), reason };
    if staging.exists() {
        std::fs::remove_dir_all(staging).map_err(|e| corrupt(format!("cannot clear {}: {e}", staging.display())))?;
    }
    std::fs::create_dir_all(staging).map_err(|e| corrupt(format!("cannot create {}: {e}", staging.display())))?;
    let file = std::fs::File::open(archive).map_err(|e| corrupt(format!("cannot open it: {e}")))?;
    let dec = zstd::Decoder::new(file).map_err(|e| corrupt(format!("not zstd: {e}")))?;
    let mut tar = tar::Archive::new(dec);
    let mut manifest: Option<Manifest> = None;
    let mut seen: BTreeMap<String, (u64, String)> = BTreeMap::new();
    let entries = tar.entries().map_err(|e| corrupt(format!("not a tar archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| corrupt(format!("unreadable entry: {e}")))?;
        let path = entry.path().map_err(|e| corrupt(format!("bad entry name: {e}")))?.to_string_lossy().into_owned();
        if !entry.header().entry_type().is_file() {
            return Err(corrupt(format!("`{path}` is not a regular file")));
        }
        if path == MANIFEST {
            let mut buf = Vec::new();
            entry.read_to_end(&mut buf).map_err(|e| corrupt(format!("unreadable manifest: {e}")))?;
            manifest = Some(serde_json::from_slice(&buf).map_err(|e| corrupt(format!("bad manifest: {e}")))?);
            continue;
        }
        let Some(rel) = path.strip_prefix(FILES) else {
            return Err(corrupt(format!("unexpected entry `{path}`")));
        };
        if !safe_relative(rel) {
            return Err(corrupt(format!("entry `{path}` leaves the profile folder")));
        }
        let to = staging.join(rel);
        std::fs::create_dir_all(to.parent().expect("has a parent"))
            .map_err(|e| corrupt(format!("cannot unpack: {e}")))?;
        let mut out = std::fs::File::create(&to).map_err(|e| corrupt(format!("cannot unpack: {e}")))?;
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut size = 0u64;
        loop {
            let n = entry.read(&mut buf).map_err(|e| corrupt(format!("`{rel}` is unreadable: {e}")))?;
            if n == 0 {
                break;
            }
            size += n as u64;
            h.update(&buf[..n]);
            out.write_all(&buf[..n]).map_err(|e| corrupt(format!("cannot unpack: {e}")))?;
        }
        out.sync_all().map_err(|e| corrupt(format!("cannot unpack: {e}")))?;
        seen.insert(rel.to_string(), (size, hex(&h.finalize())));
    }
    let manifest = manifest.ok_or_else(|| corrupt("it has no manifest".into()))?;
    if manifest.format != FORMAT {
        return Err(corrupt(format!("manifest format {} (this vigil reads {FORMAT})", manifest.format)));
    }
    if manifest.files.is_empty() {
        return Err(corrupt("the manifest lists no file".into()));
    }
    for f in &manifest.files {
        match seen.remove(&f.path) {
            None => return Err(corrupt(format!("`{}` is missing", f.path))),
            Some((size, sum)) if size != f.size || sum != f.sha256 => {
                return Err(corrupt(format!("`{}` does not match its checksum", f.path)))
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = seen.keys().next() {
        return Err(corrupt(format!("`{extra}` is not in the manifest")));
    }
    for root in &manifest.roots {
        if !safe_relative(root) {
            return Err(corrupt(format!("root `{root}` leaves the profile folder")));
        }
    }
    Ok(manifest)
}

fn safe_relative(p: &str) -> bool {
    let path = Path::new(p);
    !p.is_empty() && path.components().all(|c| matches!(c, Component::Normal(_)))
}

/// Replaces the critical folders of `profile` with those in `staging` (from
/// [`unpack_verified`]): each old folder is moved aside, the new one moved in, and the old
/// ones deleted only when all are in place (rolled back otherwise). Removes `staging`.
pub fn install(id: &str, profile: &Path, staging: &Path, roots: &[String]) -> Result<(), BackupError> {
    let mut moved: Vec<(PathBuf, Option<PathBuf>)> = Vec::new();
    let result = (|| -> std::io::Result<()> {
        for root in roots {
            let target = profile.join(root);
            let aside = target.with_file_name(format!(
                ".{}.vigil-old",
                target.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default()
            ));
            if aside.exists() {
                std::fs::remove_dir_all(&aside)?;
            }
            let had = if target.exists() {
                std::fs::rename(&target, &aside)?;
                Some(aside)
            } else {
                None
            };
            moved.push((target.clone(), had));
            let from = staging.join(root);
            std::fs::create_dir_all(target.parent().expect("has a parent"))?;
            if from.exists() {
                std::fs::rename(&from, &target)?;
            }
        }
        Ok(())
    })();
    match result {
        Ok(()) => {
            for (_, aside) in moved {
                if let Some(a) = aside {
                    let _ = std::fs::remove_dir_all(a);
                }
            }
            let _ = std::fs::remove_dir_all(staging);
            Ok(())
        }
        Err(e) => {
            for (target, aside) in moved.into_iter().rev() {
                let _ = std::fs::remove_dir_all(&target);
                if let Some(a) = aside {
                    let _ = std::fs::rename(a, &target);
                }
            }
            Err(io(id, "replacing the profile's files (rolled back)")(e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOTS: [&str; 2] = ["Default/IDB/db", "Default/LS/leveldb"];

    fn profile(dir: &Path, tag: &str) {
        for root in ROOTS {
            let d = dir.join(root);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("CURRENT"), "MANIFEST-000001\n").unwrap();
            std::fs::write(d.join("MANIFEST-000001"), format!("manifest {tag}")).unwrap();
            std::fs::write(d.join("000003.log"), format!("data {tag} {}", "x".repeat(1000))).unwrap();
            std::fs::write(d.join("LOCK"), "").unwrap();
        }
    }

    fn backup(session: &Path, keep: usize, at: DateTime<Utc>) -> BackupInfo {
        let staging = session.join(".staging");
        snapshot("s", &session.join("profile"), &ROOTS, &staging).unwrap();
        archive("s", session, &ROOTS, &staging, keep, at).unwrap()
    }

    #[test]
    fn round_trip_rotation_and_refusals() {
        let dir = tempfile::tempdir().unwrap();
        let session = dir.path();
        let prof = session.join("profile");
        profile(&prof, "one");
        let t0: DateTime<Utc> = "2030-01-01T00:00:00Z".parse().unwrap();
        let b1 = backup(session, 3, t0);
        assert_eq!(b1.files, Some(6), "LOCK files are skipped");
        profile(&prof, "two");
        for i in 1..=3 {
            backup(session, 3, t0 + chrono::TimeDelta::seconds(i));
        }
        let all = list(session);
        assert_eq!(all.len(), 3, "only the newest 3 are kept");
        assert!(!all.iter().any(|b| b.name == b1.name));

        // Restore the newest over a damaged profile.
        std::fs::remove_dir_all(prof.join(ROOTS[0])).unwrap();
        let newest = find("s", session, None).unwrap();
        let staging = session.join(".restore");
        let m = unpack_verified(&newest.path, &staging).unwrap();
        install("s", &prof, &staging, &m.roots).unwrap();
        assert_eq!(std::fs::read_to_string(prof.join(ROOTS[0]).join("MANIFEST-000001")).unwrap(), "manifest two");
        assert!(!staging.exists());

        // A corrupted archive is refused and nothing is touched.
        let mut bytes = std::fs::read(&newest.path).unwrap();
        let mid = bytes.len() / 2;
        for b in &mut bytes[mid..mid + 16] {
            *b ^= 0xff;
        }
        std::fs::write(&newest.path, &bytes).unwrap();
        let before = std::fs::read(prof.join(ROOTS[1]).join("000003.log")).unwrap();
        let e = unpack_verified(&newest.path, &staging).unwrap_err();
        assert!(matches!(e, BackupError::Corrupt { .. }), "{e}");
        assert!(e.to_string().contains("nothing was changed"), "{e}");
        assert_eq!(std::fs::read(prof.join(ROOTS[1]).join("000003.log")).unwrap(), before);

        assert!(matches!(find("s", session, Some("nope")), Err(BackupError::NotFound { .. })));
        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(find("s", empty.path(), None), Err(BackupError::NoBackup { .. })));
        assert!(matches!(
            snapshot("s", empty.path(), &ROOTS, &empty.path().join("st")),
            Err(BackupError::Empty { .. })
        ));
    }

    #[test]
    fn a_tampered_manifest_sum_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let session = dir.path();
        profile(&session.join("profile"), "one");
        let b = backup(session, 7, Utc::now());
        // Rebuild the archive with one file changed but the manifest kept.
        let staging = session.join(".x");
        let m = unpack_verified(&b.path, &staging).unwrap();
        std::fs::write(staging.join(&m.files[0].path), "evil").unwrap();
        let file = std::fs::File::create(&b.path).unwrap();
        let mut tar = tar::Builder::new(zstd::Encoder::new(file, 1).unwrap().auto_finish());
        let json = serde_json::to_vec(&m).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_size(json.len() as u64);
        h.set_cksum();
        tar.append_data(&mut h, MANIFEST, json.as_slice()).unwrap();
        for f in &m.files {
            tar.append_path_with_name(staging.join(&f.path), format!("{FILES}{}", f.path)).unwrap();
        }
        drop(tar.into_inner().unwrap());
        let e = unpack_verified(&b.path, &session.join(".y")).unwrap_err().to_string();
        assert!(e.contains("does not match its checksum"), "{e}");
    }
}
