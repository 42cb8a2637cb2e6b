//! Debounced file watching (notify), shared by the behaviours' watcher (`scripts/`,
//! `plugins/`) and the bridge file's: editors write in bursts, many save by writing a temp file
//! and renaming it over the original, so a burst of changes becomes one batch of paths once the
//! folder has been quiet for `reload_debounce` (or at most [`MAX_DELAY`] after the burst began).
//! The quiet time runs on tokio's clock.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The longest a burst of changes can postpone its batch.
pub const MAX_DELAY: Duration = Duration::from_secs(2);

/// Watches `dirs` (not their subfolders) until `shutdown` and sends, per burst of changes, the
/// set of changed paths that `wanted` accepts, once `debounce` passed without another change.
/// Returns once the watches are set up; the receiver closes when the watching ends.
pub fn watch(
    dirs: &[&Path],
    wanted: impl Fn(&Path) -> bool + Send + 'static,
    debounce: Duration,
    shutdown: CancellationToken,
) -> notify::Result<mpsc::Receiver<BTreeSet<PathBuf>>> {
    let (tx, mut rx) = mpsc::channel::<PathBuf>(256);
    // notify reports absolute paths; hand them back under each folder as the caller named it
    // (`./scripts/x.rhai`, as loaded at start), or a relative `scripts_dir` would see every
    // change as a second file of the same name.
    let named: Vec<(PathBuf, PathBuf)> =
        dirs.iter().map(|d| (std::fs::canonicalize(d).unwrap_or_else(|_| d.to_path_buf()), d.to_path_buf())).collect();
    let as_named = move |p: PathBuf| -> PathBuf {
        let (Some(parent), Some(name)) = (p.parent(), p.file_name()) else { return p };
        let parent = std::fs::canonicalize(parent).unwrap_or_else(|_| parent.to_path_buf());
        match named.iter().find(|(canon, _)| *canon == parent) {
            Some((_, given)) => given.join(name),
            None => p,
        }
    };
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| match res {
        // Reading a file (loading it) is no change.
        Ok(ev) if matches!(ev.kind, notify::EventKind::Access(_)) => {}
        Ok(ev) => {
            for p in ev.paths {
                let p = as_named(p);
                if wanted(&p) {
                    let _ = tx.blocking_send(p);
                }
            }
        }
        Err(e) => tracing::warn!("file watcher: {e}"),
    })?;
    for dir in dirs {
        watcher.watch(dir, RecursiveMode::NonRecursive)?;
    }
    let (batches, out) = mpsc::channel::<BTreeSet<PathBuf>>(16);
    tokio::spawn(async move {
        let _watcher = watcher; // dropped (and so stopped) when this task ends
        loop {
            let first = tokio::select! {
                _ = shutdown.cancelled() => return,
                p = rx.recv() => match p { Some(p) => p, None => return },
            };
            let mut batch = BTreeSet::from([first]);
            let burst_end = tokio::time::Instant::now() + MAX_DELAY;
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(debounce) => break,
                    _ = tokio::time::sleep_until(burst_end) => break,
                    p = rx.recv() => match p { Some(p) => { batch.insert(p); } None => break },
                }
            }
            if batches.send(batch).await.is_err() {
                return;
            }
        }
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio_util::sync::CancellationToken;

    #[tokio::test]
    async fn changes_come_under_the_folder_as_it_was_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("scripts")).unwrap();
        let named = dir.path().join("x/../scripts");
        std::fs::create_dir(dir.path().join("x")).unwrap();
        let stop = CancellationToken::new();
        let mut rx = super::watch(&[named.as_path()], |_| true, Duration::from_millis(50), stop.clone()).unwrap();
        std::fs::write(dir.path().join("scripts/a.rhai"), "// a").unwrap();
        let batch = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.expect("a batch").unwrap();
        assert_eq!(batch.into_iter().collect::<Vec<_>>(), vec![named.join("a.rhai")]);
        stop.cancel();
    }

    #[tokio::test]
    async fn a_burst_of_writes_is_one_batch() {
        let dir = tempfile::tempdir().unwrap();
        let stop = CancellationToken::new();
        let debounce = Duration::from_millis(300);
        let mut rx =
            super::watch(&[dir.path()], |p| p.extension().is_some_and(|e| e == "js"), debounce, stop.clone()).unwrap();
        let (a, b) = (dir.path().join("a.js"), dir.path().join("b.js"));
        for i in 0..20 {
            std::fs::write(if i % 2 == 0 { &a } else { &b }, format!("// {i}")).unwrap();
            std::fs::write(dir.path().join("ignored.txt"), "x").unwrap();
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let batch = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.expect("a batch").unwrap();
        assert_eq!(batch.into_iter().collect::<Vec<_>>(), vec![a.clone(), b]);
        // Nothing more from that burst, even after several quiet periods.
        assert!(tokio::time::timeout(debounce * 4, rx.recv()).await.is_err(), "a second batch from one burst");
        // A later change is a batch of its own.
        std::fs::write(&a, "// later").unwrap();
        let later = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.expect("a batch").unwrap();
        assert_eq!(later.into_iter().collect::<Vec<_>>(), vec![a]);
        stop.cancel();
    }
}
