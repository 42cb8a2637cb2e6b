//! Watching `scripts/` for changes (notify), debounced: editors write in bursts, and many save
//! by writing a temp file and renaming it over the original. Only `*.rhai` names count; the
//! manager decides from the file on disk (exists → load/reload, gone → unload) and skips files
//! whose content did not change.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::manager::Behaviours;

/// The longest a burst of changes can postpone a reload.
const MAX_DELAY: Duration = Duration::from_secs(2);

/// Is this a behaviour file (not an editor's temp or backup file)?
pub fn is_script(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else { return false };
    !name.starts_with('.') && path.extension().is_some_and(|e| e == "rhai")
}

/// Watches `dir` until `shutdown`, sending changed scripts to `behaviours` after `debounce`
/// of quiet. Returns once the watch is set up.
pub(crate) fn spawn(
    dir: &Path,
    debounce: Duration,
    behaviours: Behaviours,
    shutdown: CancellationToken,
) -> notify::Result<()> {
    let (tx, mut rx) = mpsc::channel::<PathBuf>(256);
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| match res {
        Ok(ev) => {
            for p in ev.paths {
                if is_script(&p) {
                    let _ = tx.blocking_send(p);
                }
            }
        }
        Err(e) => tracing::warn!("file watcher: {e}"),
    })?;
    watcher.watch(dir, RecursiveMode::NonRecursive)?;
    tokio::spawn(async move {
        let _watcher = watcher; // dropped (and so stopped) when this task ends
        let mut pending: BTreeSet<PathBuf> = BTreeSet::new();
        loop {
            let first = tokio::select! {
                _ = shutdown.cancelled() => return,
                p = rx.recv() => match p { Some(p) => p, None => return },
            };
            pending.insert(first);
            let burst_end = tokio::time::Instant::now() + MAX_DELAY;
            loop {
                let quiet = tokio::time::sleep(debounce);
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = quiet => break,
                    _ = tokio::time::sleep_until(burst_end) => break,
                    p = rx.recv() => match p { Some(p) => { pending.insert(p); } None => break },
                }
            }
            for p in std::mem::take(&mut pending) {
                behaviours.notify(p).await;
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::is_script;
    use std::path::Path;

    #[test]
    fn only_rhai_files_count() {
        assert!(is_script(Path::new("scripts/keepalive.rhai")));
        assert!(!is_script(Path::new("scripts/.keepalive.rhai.swp")));
        assert!(!is_script(Path::new("scripts/keepalive.rhai~")));
        assert!(!is_script(Path::new("scripts/4913")));
        assert!(!is_script(Path::new("scripts/.#keepalive.rhai")));
    }
}
