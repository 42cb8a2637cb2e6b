//! Watches the bridge file of `sessions.bridge`: when it changes, the manager re-injects it into
//! every running page (no browser restarts). Debounced, since editors write in bursts.

use std::path::Path;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::manager::SessionManager;

const DEBOUNCE: Duration = Duration::from_millis(200);

pub(crate) fn spawn(path: &Path, manager: SessionManager, stop: CancellationToken) {
    let Some(dir) = path.parent().map(|d| if d.as_os_str().is_empty() { Path::new(".") } else { d }) else { return };
    let Some(name) = path.file_name().map(|n| n.to_os_string()) else { return };
    let (tx, mut rx) = mpsc::channel::<()>(16);
    let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(ev) = res {
            if ev.paths.iter().any(|p| p.file_name() == Some(name.as_os_str())) {
                let _ = tx.try_send(());
            }
        }
    });
    let mut watcher = match watcher {
        Ok(w) => w,
        Err(e) => {
            tracing::error!("cannot watch the bridge file {}: {e}", path.display());
            return;
        }
    };
    if let Err(e) = watcher.watch(dir, RecursiveMode::NonRecursive) {
        tracing::error!("cannot watch the bridge file {}: {e}", path.display());
        return;
    }
    tokio::spawn(async move {
        let _watcher = watcher;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                got = rx.recv() => if got.is_none() { return },
            }
            // Quiet for a moment, then reload once.
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(DEBOUNCE) => break,
                    _ = rx.recv() => {}
                }
            }
            if let Err(e) = manager.reload_bridge().await {
                tracing::error!("the bridge was not reloaded (the previous one stays): {e}");
            }
        }
    });
}
