//! Sending and receiving messages, with one and with two accounts, in real Chromium.

mod common;

use common::{eventually, init_tracing, options, simulator, Chromium, TestResult};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_sent_text_is_recorded_and_acked_twice() -> TestResult {
    init_tracing();
    let sim = simulator(options()).await;
    let profile = tempfile::tempdir()?;
    let browser = Chromium::launch(&sim, profile.path()).await;
    browser.pair(&sim, "34600000001").await;

    let sent = browser.send_text("34600000002@c.us", "hola desde vigil", 2).await?;
    assert!(sent.returned_array, "addAndSendMsgToChat returns [addPromise, sendPromise] synchronously");
    assert!(sent.added_as_new, "the message is added to Collections.Msg with isNewMsg");
    assert_eq!(sent.result, "OK");
    assert_eq!(sent.acks, [1, 2]);
    assert_eq!(sent.ack, 2);
    assert!(sent.id.starts_with("true_34600000002@c.us_"), "{}", sent.id);

    let messages = sim.client().messages().await?;
    assert_eq!(messages.len(), 1);
    let m = &messages[0];
    assert_eq!((m.id.as_str(), m.from.as_str(), m.to.as_str()), (sent.id.as_str(), "34600000001@c.us", "34600000002@c.us"));
    assert_eq!(m.body, "hola desde vigil");
    assert!(m.t > 1_600_000_000);

    // The chat was created and holds the message.
    let in_chat: bool = browser
        .eval(&format!(
            "window.require('WAWebCollections').Chat.get('34600000002@c.us').msgs.get({:?}) !== undefined",
            sent.id
        ))
        .await;
    assert!(in_chat);
    browser.close().await;
    sim.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_incoming_message_appears_with_unread_count() -> TestResult {
    init_tracing();
    let sim = simulator(options()).await;
    let profile = tempfile::tempdir()?;
    let browser = Chromium::launch(&sim, profile.path()).await;
    browser.pair(&sim, "34600000001").await;
    let _: bool = browser
        .eval(
            r#"(() => {
                const { Msg, Chat } = window.require('WAWebCollections');
                window.got = { msgs: [], unread: [] };
                Msg.on('add', (msg) => { if (msg.isNewMsg) window.got.msgs.push(msg.serialize()); });
                Chat.on('change:unreadCount', (chat) => window.got.unread.push([chat.id._serialized, chat.unreadCount]));
                return true;
            })()"#,
        )
        .await;
    let r = sim.client().incoming("34600000009@c.us", "¿estás ahí?", None).await?;
    assert_eq!((r.delivered, r.queued), (1, false));

    let (msgs, unread) = eventually("the incoming message", || async {
        let got: serde_json::Value = browser.eval("window.got").await;
        (got["unread"].as_array()?.len() == 1).then(|| (got["msgs"].clone(), got["unread"].clone()))
    })
    .await;
    assert_eq!(msgs.as_array().unwrap().len(), 1);
    assert_eq!(msgs[0]["body"], "¿estás ahí?");
    assert_eq!(msgs[0]["from"]["_serialized"], "34600000009@c.us");
    assert_eq!(msgs[0]["id"]["fromMe"], false);
    assert_eq!(msgs[0]["id"]["id"], r.id.as_str());
    assert_eq!(unread, serde_json::json!([["34600000009@c.us", 1]]));

    // Reading the chat as clients do clears the unread count.
    let unread_after: i64 = browser
        .eval(
            r#"(async () => {
                const chat = window.require('WAWebCollections').Chat.get('34600000009@c.us');
                window.require('WAWebStreamModel').Stream.markAvailable();
                await window.require('WAWebUpdateUnreadChatAction').sendSeen({ chat, threadId: undefined });
                window.require('WAWebStreamModel').Stream.markUnavailable();
                return chat.unreadCount;
            })()"#,
        )
        .await;
    assert_eq!(unread_after, 0);
    browser.close().await;
    sim.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_two_accounts_in_two_profiles_are_told_apart() -> TestResult {
    init_tracing();
    let sim = simulator(options()).await;
    let (profile_a, profile_b) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let a = Chromium::launch(&sim, profile_a.path()).await;
    let b = Chromium::launch(&sim, profile_b.path()).await;
    let (qr_a, qr_b) = (a.wait_qr().await, b.wait_qr().await);
    assert_ne!(qr_a, qr_b);
    sim.client().scan(Some(&qr_b), Some("34600000012")).await?;
    sim.client().scan(Some(&qr_a), Some("34600000011")).await?;
    for browser in [&a, &b] {
        browser.wait_state("CONNECTED").await;
        browser.wait_synced().await;
    }
    assert_eq!(a.me().await.as_deref(), Some("34600000011@c.us"));
    assert_eq!(b.me().await.as_deref(), Some("34600000012@c.us"));

    let sent_a = a.send_text("34600000002@c.us", "from A", 2).await?;
    let sent_b = b.send_text("34600000002@c.us", "from B", 2).await?;
    assert_eq!((sent_a.ack, sent_b.ack), (2, 2));
    let messages = sim.client().messages().await?;
    let from_of = |body: &str| messages.iter().find(|m| m.body == body).map(|m| m.from.clone());
    assert_eq!(from_of("from A").as_deref(), Some("34600000011@c.us"));
    assert_eq!(from_of("from B").as_deref(), Some("34600000012@c.us"));

    // An incoming message for one account reaches only that account's page.
    let r = sim.client().incoming("34600000009@c.us", "solo para B", Some("34600000012")).await?;
    assert_eq!(r.delivered, 1);
    let count = "window.require('WAWebCollections').Msg.filter((m) => !m.id.fromMe).length";
    let in_b: i64 = eventually("B receives", || async { Some(b.eval::<i64>(count).await).filter(|n| *n == 1) }).await;
    assert_eq!(in_b, 1);
    assert_eq!(a.eval::<i64>(count).await, 0);

    let status = sim.client().status().await?;
    let mut accounts: Vec<_> = status.accounts.iter().map(|a| (a.me.as_str(), a.connected)).collect();
    accounts.sort();
    assert_eq!(accounts, [("34600000011", true), ("34600000012", true)]);
    a.close().await;
    b.close().await;
    sim.stop().await;
    Ok(())
}
