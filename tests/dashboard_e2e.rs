//! The dashboard of a running `vigil demo`, in real Chromium: the two demo sessions are shown
//! `ready`, a session added through the dashboard's own form shows its QR, each session's
//! history is plotted (status, memory, messages), the behaviours are listed; a screenshot is
//! written and its path printed. With an owner's token the same page shows that owner's
//! session only and hides the admin's parts.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use chromiumoxide::browser::{Browser, BrowserConfig};
use chromiumoxide::page::ScreenshotParams;
use futures_util::StreamExt;
use vigil_tests::smtp::free_port;
use vigil_tests::{assert_no_leftovers, CHROMIUM};

const TOKEN: &str = "dashboard-test-token";

/// Evaluates `js` in `page` until it returns `true`, or panics naming `what` and the last value.
async fn until(page: &chromiumoxide::Page, within: Duration, what: &str, js: &str) {
    let start = Instant::now();
    let mut last = serde_json::Value::Null;
    while start.elapsed() < within {
        if let Ok(v) = page.evaluate_expression(js).await {
            last = v.value().cloned().unwrap_or_default();
            if last == serde_json::Value::Bool(true) {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{what}: not within {within:?}; last value {last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_shows_the_demo_dashboard_with_ready_sessions_and_a_qr() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let data = dir.path().join("data");
    let mut demo = vigil_tests::demo_command(dir.path(), port, &data, TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vigil demo starts");
    // Keep its output flowing (and visible when the test fails).
    for out in [
        demo.stdout.take().map(|o| Box::new(o) as Box<dyn std::io::Read + Send>),
        demo.stderr.take().map(|e| Box::new(e) as _),
    ]
    .into_iter()
    .flatten()
    {
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                eprintln!("demo| {line}");
            }
        });
    }

    let profile = dir.path().join("viewer");
    let config = BrowserConfig::builder()
        .chrome_executable(CHROMIUM)
        .user_data_dir(&profile)
        .no_sandbox()
        .window_size(1280, 1000)
        .launch_timeout(Duration::from_secs(30))
        .request_timeout(Duration::from_secs(30))
        .args([
            "disable-gpu",
            "disable-background-networking",
            "disable-component-update",
            "disable-sync",
            "no-first-run",
        ])
        .build()
        .unwrap();
    let (mut browser, mut handler) = Browser::launch(config).await.expect("Chromium launches");
    let handler = tokio::spawn(async move { while handler.next().await.is_some() {} });

    // The demo's port opens once its sessions are up; until then the page would not load.
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed() < Duration::from_secs(90), "the demo never listened on {port}");
        assert!(demo.try_wait().unwrap().is_none(), "the demo exited early");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let page = browser.new_page(format!("http://127.0.0.1:{port}/#token={TOKEN}")).await.expect("the dashboard opens");

    let status = |id: &str| format!("document.querySelector('[data-session=\"{id}\"]')?.dataset.status");
    until(
        &page,
        Duration::from_secs(90),
        "both demo sessions shown ready",
        &format!("{} === 'ready' && {} === 'ready'", status("alpha"), status("beta")),
    )
    .await;
    // The token left the address bar once read.
    let href: String = page.evaluate_expression("location.href").await.unwrap().into_value().unwrap();
    assert!(!href.contains(TOKEN), "{href}");

    // A session added through the dashboard's form is not linked by the demo's phone: its QR shows.
    page.evaluate_expression(
        "document.querySelector('#add-id').value = 'unlinked'; document.querySelector('#add-form').requestSubmit(); true",
    )
    .await
    .unwrap();
    until(
        &page,
        Duration::from_secs(90),
        "the unlinked session's QR shown",
        "(() => { const i = document.querySelector('[data-session=\"unlinked\"] img.qr-code'); \
         return !!i && i.dataset.loaded === '1' && i.naturalWidth > 0; })()",
    )
    .await;
    // The session's details render as a list of terms, not as text of nested arrays.
    until(
        &page,
        Duration::from_secs(10),
        "alpha's details",
        "(() => { const t = document.querySelector('[data-session=\"alpha\"] dl').textContent; \
         return t.includes('+34600000001') && !t.includes('[object'); })()",
    )
    .await;
    // What each browser costs: its memory and a sparkline of the samples (every 5 s in the demo).
    until(
        &page,
        Duration::from_secs(45),
        "alpha's memory figure and sparkline",
        "(() => { const m = document.querySelector('[data-session=\"alpha\"] [data-role=\"memory\"]'); \
         const p = m && m.querySelector('svg.sparkline polyline'); \
         return !!p && /^[1-9][0-9]* MB/.test(m.textContent) && p.getAttribute('points').split(' ').length >= 2; })()",
    )
    .await;
    // Each session's history, plotted from GET /api/sessions/{id}/history (memory one point per
    // 10 s in the demo): its status over time ending ready, its memory over a few points, and
    // the keepalive's messages of this hour (sent through the first ready session).
    until(
        &page,
        Duration::from_secs(60),
        "alpha's history plots with data",
        "(() => { const h = document.querySelector('[data-session=\"alpha\"] [data-role=\"history\"]'); if (!h) return false; \
         const bands = [...h.querySelectorAll('[data-role=\"status-timeline\"] rect')]; \
         const mem = h.querySelector('[data-role=\"memory-plot\"] polyline.mem-avg'); \
         const sent = [...document.querySelectorAll('[data-role=\"messages-plot\"] rect.msg-sent')]; \
         return bands.length >= 1 && bands[bands.length - 1].dataset.status === 'ready' \
           && !!mem && mem.getAttribute('points').trim().split(' ').length >= 3 \
           && sent.length >= 1 && Number(sent[sent.length - 1].dataset.sent) >= 1; })()",
    )
    .await;
    until(
        &page,
        Duration::from_secs(30),
        "the behaviours listed",
        "document.querySelectorAll('#behaviours tbody tr').length >= 8",
    )
    .await;
    until(
        &page,
        Duration::from_secs(30),
        "the live events connected",
        "document.querySelector('#live').textContent === 'live'",
    )
    .await;

    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let path = shots.join("dashboard.png");
    page.save_screenshot(ScreenshotParams::builder().full_page(true).build(), &path).await.expect("a screenshot");
    assert!(std::fs::metadata(&path).unwrap().len() > 10_000, "the screenshot is an image of the page");
    println!("dashboard screenshot: {}", path.display());

    // With an owner's token, the dashboard shows that owner's session only, and none of the
    // admin's parts.
    let http = vigil_tests::http_client();
    let api = format!("http://127.0.0.1:{port}");
    let body = serde_json::json!({"name": "Ana", "sessions": ["alpha"]});
    let r = http.put(format!("{api}/api/owners/ana@example.com")).bearer_auth(TOKEN).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r =
        http.post(format!("{api}/api/owners/ana@example.com/tokens")).bearer_auth(TOKEN).json(&serde_json::json!({}));
    let t: serde_json::Value = r.send().await.unwrap().json().await.unwrap();
    let owner_token = t["token"].as_str().unwrap();
    let owner_page = browser.new_page(format!("{api}/#token={owner_token}")).await.expect("the dashboard opens");
    until(
        &owner_page,
        Duration::from_secs(30),
        "ana's dashboard: alpha only, no admin parts",
        &format!(
            "{} === 'ready' && !document.querySelector('[data-session=\"beta\"]') \
             && document.querySelector('#scope').textContent === 'owner ana@example.com' \
             && document.querySelector('#behaviours').closest('section').hidden \
             && document.querySelector('#add-form').hidden \
             && document.querySelector('#live').textContent === 'live'",
            status("alpha")
        ),
    )
    .await;
    let _ = owner_page.close().await;

    let _ = browser.close().await;
    let _ = browser.wait().await;
    handler.abort();
    // SIGTERM: the demo stops its browsers and the simulator and exits 0.
    unsafe { libc::kill(demo.id() as i32, libc::SIGTERM) };
    let start = Instant::now();
    let code = loop {
        if let Some(code) = demo.try_wait().unwrap() {
            break code;
        }
        assert!(start.elapsed() < Duration::from_secs(40), "the demo did not stop on SIGTERM");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(code.success(), "the demo exits 0 on SIGTERM: {code:?}");
    assert_no_leftovers(&data.display().to_string(), Duration::from_secs(10)).await;
}
