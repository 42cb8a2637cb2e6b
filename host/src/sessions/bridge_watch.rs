//! Watches the bridge file of `sessions.bridge`: when it changes, the manager re-injects it into
//! every running page (no browser restarts). Debounced by `reload_debounce` through the same
//! watcher as the behaviours ([`crate::fswatch`]), since editors write in bursts.

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::manager::SessionManager;

pub(crate) fn spawn(path: &Path, manager: SessionManager, stop: CancellationToken) {
    let debounce = manager.settings().reload_debounce;
    on_change(path, debounce, stop, move || {
        let manager = manager.clone();
        async move {
            if let Err(e) = manager.reload_bridge().await {
                tracing::error!("the bridge was not reloaded (the previous one stays): {e}");
            }
        }
    });
}

/// Calls `reload` once per burst of changes to the file `path` until `stop`.
fn on_change<F, Fut>(path: &Path, debounce: Duration, stop: CancellationToken, mut reload: F)
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(dir) = path.parent().map(|d| if d.as_os_str().is_empty() { Path::new(".") } else { d }) else { return };
    let Some(name) = path.file_name().map(|n| n.to_os_string()) else { return };
    let wanted = move |p: &Path| p.file_name() == Some(name.as_os_str());
    let mut batches = match crate::fswatch::watch(&[dir], wanted, debounce, stop.clone()) {
        Ok(rx) => rx,
        Err(e) => {
            tracing::error!("cannot watch the bridge file {}: {e}", path.display());
            return;
        }
    };
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                b = batches.recv() => match b { Some(_) => reload().await, None => return },
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use tokio_util::sync::CancellationToken;

    #[tokio::test]
    async fn a_burst_of_writes_reloads_the_bridge_once_after_reload_debounce() {
        let dir = tempfile::tempdir().unwrap();
        let bridge = dir.path().join("bridge.js");
        std::fs::write(&bridge, "// 0").unwrap();
        let reloads = Arc::new(AtomicUsize::new(0));
        let (tx, mut rx) = tokio::sync::mpsc::channel(16);
        let stop = CancellationToken::new();
        // A debounce longer than the old hard-coded 200 ms: a burst with 250 ms gaps is one burst.
        let debounce = Duration::from_millis(600);
        let counter = reloads.clone();
        super::on_change(&bridge, debounce, stop.clone(), move || {
            counter.fetch_add(1, Ordering::SeqCst);
            let tx = tx.clone();
            async move {
                let _ = tx.send(()).await;
            }
        });
        for i in 1..=6 {
            std::fs::write(&bridge, format!("// {i}")).unwrap();
            std::fs::write(dir.path().join("other.js"), "not the bridge").unwrap();
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.expect("one reload").unwrap();
        tokio::time::sleep(debounce * 3).await;
        assert_eq!(reloads.load(Ordering::SeqCst), 1, "one burst of writes, one reload");
        stop.cancel();
    }
}
