//! What the control API does to a page, as the page shows it: forced states, logouts, faults.

mod common;

use std::time::{Duration, Instant};

use common::{eventually, init_tracing, options, simulator, Chromium, TestResult};
use wa_sim::{FaultKind, WaState};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_forced_conflict_shows_and_takeover_reconnects() -> TestResult {
    init_tracing();
    let sim = simulator(options()).await;
    let profile = tempfile::tempdir()?;
    let browser = Chromium::launch(&sim, profile.path()).await;
    browser.pair(&sim.client(), "34600000001").await;

    let affected = sim.client().force_state(WaState::Conflict, Some("34600000001")).await?;
    assert_eq!(affected.pages, 1);
    browser.wait_state("CONFLICT").await;
    let _: bool = browser.eval("(window.require('WAWebSocketModel').Socket.takeover(), true)").await;
    browser.wait_state("CONNECTED").await;

    let affected = sim.client().force_state(WaState::Timeout, None).await?;
    assert_eq!(affected.pages, 1);
    browser.wait_state("TIMEOUT").await;
    assert!(sim.client().force_state(WaState::Conflict, Some("34600000099")).await.is_err(), "no page of that account");
    browser.close().await;
    sim.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_logout_from_phone_unpairs_and_shows_a_new_qr() -> TestResult {
    init_tracing();
    let sim = simulator(options()).await;
    let profile = tempfile::tempdir()?;
    let browser = Chromium::launch(&sim, profile.path()).await;
    let old_qr = browser.wait_qr().await;
    browser.pair(&sim.client(), "34600000001").await;

    let affected = sim.client().logout_from_phone(Some("34600000001")).await?;
    assert_eq!((affected.pages, affected.revoked), (1, 1));
    let new_qr = browser.wait_qr().await;
    assert_ne!(new_qr, old_qr);
    assert_eq!(browser.me().await, None);
    let status = sim.client().status().await?;
    assert!(status.accounts.is_empty(), "the device token is revoked: {:?}", status.accounts);
    assert_eq!(status.pages[0].qr.as_deref(), Some(new_qr.as_str()));

    // The revoked pairing does not come back after a restart either.
    browser.close().await;
    let browser = Chromium::launch(&sim, profile.path()).await;
    browser.wait_qr().await;
    browser.close().await;
    sim.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_socket_logout_navigates_to_post_logout() -> TestResult {
    init_tracing();
    let sim = simulator(options()).await;
    let profile = tempfile::tempdir()?;
    let browser = Chromium::launch(&sim, profile.path()).await;
    browser.pair(&sim.client(), "34600000001").await;
    let before: String = browser.eval("location.href").await;
    assert!(!before.contains("post_logout"));

    let _: bool = browser
        .eval(
            r#"(async () => {
                await window.require('WAWebSocketModel').Socket.logout();
                return true;
            })()"#,
        )
        .await;
    let url = eventually("the navigation to post_logout=1", || async {
        let url = browser.eval_within::<String>("location.href", Duration::from_secs(2)).await.ok()?;
        url.contains("post_logout=1").then_some(url)
    })
    .await;
    assert_eq!(url, "https://web.whatsapp.com/?post_logout=1");
    browser.wait_loaded().await;
    browser.wait_qr().await;
    assert_eq!(browser.me().await, None);
    let status = sim.client().status().await?;
    assert!(status.accounts.is_empty());
    browser.close().await;
    sim.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_hang_stops_the_page_answering_until_cleared() -> TestResult {
    init_tracing();
    let sim = simulator(options()).await;
    let profile = tempfile::tempdir()?;
    let browser = Chromium::launch(&sim, profile.path()).await;
    browser.wait_qr().await;
    let ok: Result<i64, String> = browser.eval_within("1 + 1", Duration::from_secs(2)).await;
    assert_eq!(ok, Ok(2));

    sim.client().fault(FaultKind::Hang, None).await?;
    tokio::time::sleep(Duration::from_millis(300)).await; // the push reaches the page
    let hung: Result<String, String> =
        browser.eval_within("window.require('WAWebSocketModel').Socket.state", Duration::from_secs(3)).await;
    assert_eq!(hung, Err("no answer within 3s".to_owned()));
    assert_eq!(sim.client().status().await?.fault.kind, FaultKind::Hang);

    sim.client().fault(FaultKind::None, None).await?;
    let start = Instant::now();
    let state: Result<String, String> =
        browser.eval_within("window.require('WAWebSocketModel').Socket.state", Duration::from_secs(5)).await;
    assert_eq!(state.as_deref(), Ok("UNPAIRED"));
    assert!(start.elapsed() < Duration::from_secs(3), "answered {:?} after the fault cleared", start.elapsed());

    // A timed hang ends by itself.
    sim.client().fault(FaultKind::Hang, Some(1500)).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(browser.eval_within::<i64>("1", Duration::from_millis(500)).await.is_err());
    let answered: Result<i64, String> = browser.eval_within("1", Duration::from_secs(5)).await;
    assert_eq!(answered, Ok(1));
    browser.close().await;
    sim.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_slow_answers_late_and_drop_sends_never_deliver() -> TestResult {
    init_tracing();
    let sim = simulator(options()).await;
    let profile = tempfile::tempdir()?;
    let browser = Chromium::launch(&sim, profile.path()).await;
    browser.pair(&sim.client(), "34600000001").await;

    sim.client().fault(FaultKind::Slow, Some(1000)).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let start = Instant::now();
    for _ in 0..3 {
        let v: Result<i64, String> = browser.eval_within("1", Duration::from_secs(5)).await;
        assert_eq!(v, Ok(1), "a slow page still answers");
    }
    let took = start.elapsed();
    assert!(took > Duration::from_millis(1500), "three calls took only {took:?}");
    sim.client().fault(FaultKind::None, None).await?;
    let start = Instant::now();
    for _ in 0..3 {
        let _: i64 = browser.eval("1").await;
    }
    assert!(start.elapsed() < Duration::from_millis(1500), "fast again");

    sim.client().fault(FaultKind::DropSends, None).await?;
    // Ten times the ack delay: long enough for an ack 2 that would come.
    let sent = browser.send_text_waiting("34600000002@c.us", "lost", 2, Duration::from_secs(2)).await?;
    assert_eq!(sent.result, "OK", "the send is accepted");
    assert_eq!(sent.ack, 1, "but never delivered (acks seen: {:?})", sent.acks);
    assert!(sim.client().messages().await?.is_empty());

    sim.client().fault(FaultKind::None, None).await?;
    let sent = browser.send_text("34600000002@c.us", "delivered", 2).await?;
    assert_eq!(sent.ack, 2);
    let bodies: Vec<String> = sim.client().messages().await?.into_iter().map(|m| m.body).collect();
    assert_eq!(bodies, ["delivered"]);
    browser.close().await;
    sim.stop().await;
    Ok(())
}
