//! Being paired survives a browser restart on the same profile, and only on an intact one.

mod common;

use common::{init_tracing, options, simulator, storage_dirs, Chromium, TestResult};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_restart_on_the_same_profile_comes_back_connected() -> TestResult {
    init_tracing();
    let sim = simulator(options()).await;
    let profile = tempfile::tempdir()?;
    let browser = Chromium::launch(&sim, profile.path()).await;
    browser.pair(&sim.client(), "34600000001").await;
    browser.close().await;
    for dir in storage_dirs(profile.path()) {
        assert!(dir.is_dir(), "{} exists after a clean close", dir.display());
    }

    let browser = Chromium::launch(&sim, profile.path()).await;
    browser.wait_state("CONNECTED").await;
    browser.wait_synced().await;
    assert_eq!(browser.me().await.as_deref(), Some("34600000001@c.us"));
    let status = sim.client().status().await?;
    assert_eq!(status.pages.len(), 1);
    assert_eq!(status.pages[0].qr, None, "no QR was shown");
    assert_eq!(status.pages[0].me.as_deref(), Some("34600000001"));
    // The page can send right away, as the same account.
    let sent = browser.send_text("34600000002@c.us", "after restart", 2).await?;
    assert_eq!(sent.ack, 2);
    assert_eq!(sim.client().messages().await?[0].from, "34600000001@c.us");
    browser.close().await;

    // Wiping the origin's storage loses the pairing: the QR again.
    for dir in storage_dirs(profile.path()) {
        std::fs::remove_dir_all(&dir)?;
    }
    let browser = Chromium::launch(&sim, profile.path()).await;
    let qr = browser.wait_qr().await;
    assert_eq!(qr.split(',').count(), 5);
    assert_eq!(browser.me().await, None);
    browser.close().await;
    sim.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_profile_missing_its_indexeddb_shows_the_qr() -> TestResult {
    init_tracing();
    let sim = simulator(options()).await;
    let profile = tempfile::tempdir()?;
    let browser = Chromium::launch(&sim, profile.path()).await;
    browser.pair(&sim.client(), "34600000001").await;
    browser.close().await;

    // Half a profile (Local Storage kept, IndexedDB lost) is a corrupted one.
    let [indexeddb, _local_storage] = storage_dirs(profile.path());
    std::fs::remove_dir_all(&indexeddb)?;
    let browser = Chromium::launch(&sim, profile.path()).await;
    browser.wait_qr().await;
    assert_eq!(browser.me().await, None);

    // And pairing again works on that profile.
    browser.pair(&sim.client(), "34600000001").await;
    assert_eq!(browser.me().await.as_deref(), Some("34600000001@c.us"));
    browser.close().await;
    sim.stop().await;
    Ok(())
}
