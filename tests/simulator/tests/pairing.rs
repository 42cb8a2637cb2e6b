//! Loading, the QR screen and pairing, in real Chromium.

mod common;

use std::time::{Duration, Instant};

use common::{init_tracing, options, simulator, Chromium, TestResult};
use wa_sim::{Options, DEFAULT_VERSION};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_load_shows_a_rotating_qr_then_goes_idle() -> TestResult {
    init_tracing();
    let interval = Duration::from_millis(2000);
    let sim = simulator(Options { qr_interval: interval, qr_refs: 3, ..options() }).await;
    let profile = tempfile::tempdir()?;
    let browser = Chromium::launch(&sim, profile.path()).await;
    let loaded = Instant::now();

    let version: String = browser.eval("window.Debug.VERSION").await;
    assert_eq!(version, DEFAULT_VERSION);
    let qr = browser.wait_qr().await;
    assert_eq!(browser.state().await, "UNPAIRED");
    let fields: Vec<&str> = qr.split(',').collect();
    assert_eq!(fields.len(), 5, "five comma-separated fields: {qr}");
    assert!(fields.iter().all(|f| !f.is_empty()), "no empty field: {qr}");
    assert!(fields[0].starts_with("2@"), "a ref: {qr}");
    assert_eq!(fields[4], "1", "DEVICE_PLATFORM");
    let status = sim.client().status().await?;
    assert_eq!(status.pages.len(), 1);
    assert_eq!(status.pages[0].qr.as_deref(), Some(qr.as_str()), "the server knows the QR shown");

    // The next ref arrives as a change:ref after the interval, with the same keys.
    let next: String = browser
        .eval(
            r#"new Promise((resolve, reject) => {
                const Conn = window.require('WAWebConnModel').Conn;
                setTimeout(() => reject(new Error('no new ref')), 10000);
                Conn.on('change:ref', (_c, ref) => resolve(ref));
            })"#,
        )
        .await;
    let rotated = loaded.elapsed();
    assert_ne!(next, fields[0]);
    let qr2 = browser.qr().await;
    assert_eq!(qr2.split(',').skip(1).collect::<Vec<_>>(), fields[1..].to_vec());
    assert!(rotated >= interval - Duration::from_millis(700), "rotated after {rotated:?}");

    // After the third ref's interval: UNPAIRED_IDLE.
    browser.wait_state("UNPAIRED_IDLE").await;
    let idle_after = loaded.elapsed();
    assert!(idle_after >= interval * 3 - Duration::from_millis(700), "idle after {idle_after:?}");
    assert!(idle_after < interval * 3 + Duration::from_secs(3), "idle after {idle_after:?}");
    // The page reports its state to the server a moment later (a request of its own).
    let reported = Instant::now();
    let status = loop {
        let status = sim.client().status().await?;
        if status.pages[0].state == "UNPAIRED_IDLE" || reported.elapsed() > Duration::from_secs(5) {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status.pages[0].state, "UNPAIRED_IDLE");
    assert_eq!(status.pages[0].qr, None);
    assert!(sim.client().scan(Some(&qr2), None).await.is_err(), "an expired QR cannot be scanned");

    // /status lists the modules the page was asked for.
    for module in ["WAWebSocketModel", "WAWebConnModel", "WABase64", "WAWebSignalStoreApi"] {
        assert!(status.required_modules.iter().any(|m| m == module), "{module} in {:?}", status.required_modules);
    }
    browser.close().await;
    sim.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_scan_pairs_then_syncs_after_the_delay() -> TestResult {
    init_tracing();
    let sim = simulator(options()).await;
    let profile = tempfile::tempdir()?;
    let browser = Chromium::launch(&sim, profile.path()).await;
    let qr = browser.wait_qr().await;
    assert_eq!(browser.me().await, None);

    // Subscribe first, as clients do, and record every transition with its time.
    let _: bool = browser
        .eval(
            r#"(() => {
                const S = window.require('WAWebSocketModel').Socket;
                window.seen = [];
                S.on('change:state', (_s, state) => window.seen.push([state, S.hasSynced, performance.now()]));
                S.on('change:hasSynced', (_s, v) => window.seen.push(['hasSynced=' + v, v, performance.now()]));
                return true;
            })()"#,
        )
        .await;
    let scanned = sim.client().scan(Some(&qr), Some("34600000001")).await?;
    assert_eq!(scanned.me, "34600000001");
    browser.wait_synced().await;

    let seen: Vec<(String, bool, f64)> = browser.eval("window.seen").await;
    let names: Vec<&str> = seen.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(names, ["PAIRING", "CONNECTED", "hasSynced=true"]);
    assert!(!seen[1].1, "hasSynced is still false when CONNECTED");
    let sync_ms = seen[2].2 - seen[1].2;
    assert!((1400.0..4000.0).contains(&sync_ms), "hasSynced flipped {sync_ms} ms after CONNECTED");
    assert_eq!(browser.me().await.as_deref(), Some("34600000001@c.us"));
    let conn_wid: String = browser.eval("window.require('WAWebConnModel').Conn.serialize().wid._serialized").await;
    assert_eq!(conn_wid, "34600000001@c.us");

    let status = sim.client().status().await?;
    assert_eq!(status.pages[0].state, "CONNECTED");
    assert!(status.pages[0].has_synced);
    assert_eq!(status.pages[0].me.as_deref(), Some("34600000001"));
    assert_eq!(status.accounts.len(), 1);
    assert!(status.accounts[0].connected);
    browser.close().await;
    sim.stop().await;
    Ok(())
}
