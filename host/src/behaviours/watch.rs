//! Watching `scripts/` and `plugins/` for changes ([`crate::fswatch`]), debounced: editors write in bursts,
//! many save by writing a temp file and renaming it over the original, and a `.wasm` may be
//! copied in slowly. Only `*.rhai` and `*.wasm` names count; the manager decides from the file
//! on disk (exists → load/reload, gone → unload) and skips files whose content did not change.
//!
//! A plugin is handed over only once it has settled: its size and modification time are the
//! same before and after one more debounce. A file still growing waits for the next round.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

use super::loaded::Binding;
use super::manager::Behaviours;

/// Is this a behaviour file — `*.rhai` or `*.wasm`, not an editor's temp or backup file?
pub fn is_behaviour_file(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else { return false };
    !name.starts_with('.') && Binding::of(path).is_some()
}

/// Is this a rhai script (`*.rhai`, not a temp file)?
pub fn is_script(path: &Path) -> bool {
    is_behaviour_file(path) && Binding::of(path) == Some(Binding::Rhai)
}

/// Is this a WASM plugin (`*.wasm`, not a temp file)?
pub fn is_plugin(path: &Path) -> bool {
    is_behaviour_file(path) && Binding::of(path) == Some(Binding::Wasm)
}

type Stamp = Option<(u64, SystemTime)>;

fn stamp(path: &Path) -> Stamp {
    let m = std::fs::metadata(path).ok()?;
    Some((m.len(), m.modified().ok()?))
}

/// Watches `dirs` until `shutdown`, sending changed behaviour files to `behaviours` after
/// `debounce` of quiet (through [`crate::fswatch`]). Returns once the watches are set up.
pub(crate) fn spawn(
    dirs: &[&Path],
    debounce: Duration,
    behaviours: Behaviours,
    shutdown: CancellationToken,
) -> notify::Result<()> {
    let mut batches = crate::fswatch::watch(dirs, is_behaviour_file, debounce, shutdown.clone())?;
    tokio::spawn(async move {
        // Plugins that were still being written, for the next round.
        let mut pending: BTreeSet<PathBuf> = BTreeSet::new();
        loop {
            // With nothing unsettled, wait for a change; else look again after one debounce.
            let batch = tokio::select! {
                _ = shutdown.cancelled() => return,
                b = batches.recv() => match b { Some(b) => b, None => return },
                _ = tokio::time::sleep(debounce), if !pending.is_empty() => BTreeSet::new(),
            };
            pending.extend(batch);
            // Plugins: settled only if size and mtime hold for one more debounce.
            let plugins: BTreeMap<PathBuf, Stamp> =
                pending.iter().filter(|p| is_plugin(p)).map(|p| (p.clone(), stamp(p))).collect();
            if !plugins.is_empty() {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(debounce) => {}
                }
            }
            let mut unsettled = BTreeSet::new();
            for p in std::mem::take(&mut pending) {
                if plugins.get(&p).is_some_and(|before| *before != stamp(&p)) {
                    tracing::debug!(path = %p.display(), "still being written; waiting for it to settle");
                    unsettled.insert(p);
                } else {
                    behaviours.notify(p).await;
                }
            }
            pending = unsettled;
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{is_behaviour_file, is_plugin, is_script};
    use std::path::Path;

    #[test]
    fn only_rhai_and_wasm_files_count() {
        assert!(is_script(Path::new("scripts/keepalive.rhai")));
        assert!(!is_script(Path::new("scripts/vigil.d.rhai")), "definitions for editors are no behaviour");
        assert!(!is_script(Path::new("scripts/.keepalive.rhai.swp")));
        assert!(!is_script(Path::new("scripts/keepalive.rhai~")));
        assert!(!is_script(Path::new("scripts/4913")));
        assert!(!is_script(Path::new("scripts/.#keepalive.rhai")));
        assert!(is_plugin(Path::new("plugins/keepalive.wasm")));
        assert!(!is_plugin(Path::new("plugins/.keepalive.wasm.part")));
        assert!(!is_plugin(Path::new("plugins/keepalive.rhai")));
        assert!(!is_behaviour_file(Path::new("plugins/keepalive.wasm.tmp")));
        assert!(!is_behaviour_file(Path::new("plugins/Cargo.toml")));
    }
}
