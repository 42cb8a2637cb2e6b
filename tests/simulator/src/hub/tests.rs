use super::*;

fn options() -> Options {
    Options { qr_interval: Duration::from_secs(20), qr_refs: 3, ..Options::default() }
}

fn keys() -> QrKeys {
    QrKeys { noise: "bm9pc2U=".into(), identity: "aWRlbnRpdHk=".into(), adv: "YWR2".into(), platform: "1".into() }
}

fn hello(token: Option<&str>, me: Option<&str>) -> Hello {
    Hello {
        browser_id: "b1".into(),
        token: token.map(str::to_owned),
        me: me.map(str::to_owned),
        post_logout: false,
        keys: keys(),
        version: String::new(),
        user_agent: String::new(),
        webdriver: false,
    }
}

fn paired(hub: &Arc<Hub>, me: &str) -> (String, String, mpsc::Receiver<Push>) {
    let w = hub.hello(hello(None, None));
    let mut rx = hub.take_events(&w.page).unwrap();
    hub.scan(None, Some(me)).unwrap();
    match rx.try_recv().unwrap() {
        Push::Paired { token, .. } => (w.page, token, rx),
        other => panic!("expected paired, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn qr_rotates_through_the_refs_then_goes_idle() {
    let hub = Hub::new(&options());
    let w = hub.hello(hello(None, None));
    assert_eq!(w.mode, "qr");
    let first = w.reference.unwrap();
    let mut rx = hub.take_events(&w.page).unwrap();
    let qr0 = hub.status().pages[0].qr.clone().unwrap();
    assert_eq!(qr0, format!("{first},bm9pc2U=,aWRlbnRpdHk=,YWR2,1"));

    let mut refs = vec![first];
    for _ in 0..2 {
        match rx.recv().await.unwrap() {
            Push::Ref { reference } => refs.push(reference),
            other => panic!("expected a ref, got {other:?}"),
        }
    }
    refs.dedup();
    assert_eq!(refs.len(), 3, "each ref is new");
    assert_eq!(rx.recv().await.unwrap(), Push::Idle);
    assert_eq!(hub.status().pages[0].qr, None, "an idle page shows no QR");
    assert!(matches!(hub.scan(Some(&qr0), None), Err(HubError::Conflict(_))));
}

#[tokio::test(start_paused = true)]
async fn rotation_takes_the_configured_interval() {
    let hub = Hub::new(&options());
    let w = hub.hello(hello(None, None));
    let mut rx = hub.take_events(&w.page).unwrap();
    let start = Instant::now();
    rx.recv().await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(20));
}

#[tokio::test(start_paused = true)]
async fn scan_of_an_old_ref_is_refused_and_the_current_one_pairs() {
    let hub = Hub::new(&options());
    let w = hub.hello(hello(None, None));
    let mut rx = hub.take_events(&w.page).unwrap();
    let old = hub.status().pages[0].qr.clone().unwrap();
    rx.recv().await.unwrap();
    let current = hub.status().pages[0].qr.clone().unwrap();
    assert_ne!(old, current);
    assert!(matches!(hub.scan(Some(&old), None), Err(HubError::Conflict(_))));
    assert!(matches!(hub.scan(Some("nope"), None), Err(HubError::NotFound(_))));
    let r = hub.scan(Some(&current), Some("34600000005@c.us")).unwrap();
    assert_eq!(r.me, "34600000005");
    assert!(matches!(rx.recv().await.unwrap(), Push::Paired { me, .. } if me == "34600000005"));
    // Pairing stops the rotation: nothing more arrives for this session.
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert!(rx.try_recv().is_err());
}

#[tokio::test]
async fn a_valid_token_restores_and_a_revoked_one_shows_the_qr() {
    let hub = Hub::new(&options());
    let (_, token, _) = paired(&hub, "34600000001");
    let w = hub.hello(hello(Some(&token), Some("34600000001@c.us")));
    assert_eq!((w.mode, w.me.as_deref()), ("restore", Some("34600000001")));
    let w = hub.hello(hello(Some(&token), Some("34600000002")));
    assert_eq!((w.mode, w.revoked), ("qr", true), "token of another account");

    assert_eq!(hub.logout_from_phone(Some("34600000001")).unwrap().revoked, 1);
    let w = hub.hello(hello(Some(&token), Some("34600000001")));
    assert_eq!((w.mode, w.revoked), ("qr", true));
}

#[tokio::test]
async fn after_a_phone_logout_the_new_qr_keeps_the_page_keys() {
    let hub = Hub::new(&options());
    let (page, _, _) = paired(&hub, "34600000001");
    hub.logout_from_phone(None).unwrap();
    let reference = hub.refresh_qr(&page).unwrap();
    let qr = hub.status().pages[0].qr.clone().unwrap();
    assert_eq!(qr, format!("{reference},bm9pc2U=,aWRlbnRpdHk=,YWR2,1"));
    hub.scan(Some(&qr), None).unwrap();
}

#[tokio::test]
async fn post_logout_revokes_the_token() {
    let hub = Hub::new(&options());
    let (_, token, _) = paired(&hub, "34600000001");
    let mut h = hello(Some(&token), Some("34600000001"));
    h.post_logout = true;
    assert_eq!(hub.hello(h).mode, "qr");
    assert_eq!(hub.hello(hello(Some(&token), Some("34600000001"))).mode, "qr");
}

#[tokio::test]
async fn sends_are_recorded_with_the_sender_and_acked() {
    let hub = Hub::new(&Options { ack_delay: Duration::from_millis(1), ..options() });
    let (page, _, mut rx) = paired(&hub, "34600000001");
    hub.send(&page, "m1".into(), "34600000002@c.us".into(), "hi".into(), None).unwrap();
    let sent = hub.messages();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].from.as_str(), sent[0].to.as_str(), sent[0].body.as_str()),
        ("34600000001@c.us", "34600000002@c.us", "hi")
    );
    let ack = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
    assert_eq!(ack.unwrap().unwrap(), Push::Ack { id: "m1".into(), ack: 2 });

    hub.set_fault(FaultKind::DropSends, None);
    hub.send(&page, "m2".into(), "34600000002".into(), "lost".into(), None).unwrap();
    assert_eq!(hub.messages().len(), 1, "dropped sends are not recorded");
}

#[tokio::test]
async fn an_unlinked_page_cannot_send() {
    let hub = Hub::new(&options());
    let w = hub.hello(hello(None, None));
    let r = hub.send(&w.page, "m".into(), "1@c.us".into(), "x".into(), None);
    assert!(matches!(r, Err(HubError::Conflict(_))));
}

#[tokio::test]
async fn incoming_for_an_absent_account_waits_for_it() {
    let hub = Hub::new(&options());
    let r = hub
        .incoming(IncomingRequest {
            from: "34600000009".into(),
            body: "hello".into(),
            to: Some("34600000001".into()),
            ciphertext_ms: None,
        })
        .unwrap();
    assert!(r.queued);
    let (_, _, mut rx) = paired(&hub, "34600000001");
    assert!(matches!(
        rx.try_recv().unwrap(),
        Push::Incoming { from, body, .. } if from == "34600000009@c.us" && body == "hello"
    ));
    let none = hub.incoming(IncomingRequest { from: "x".into(), body: "b".into(), to: None, ciphertext_ms: None });
    assert!(matches!(none, Err(HubError::BadRequest(_))));
}

#[tokio::test(start_paused = true)]
async fn an_account_open_in_two_live_pages_is_an_overlap_and_a_silent_page_is_dropped() {
    let hub = Hub::new(&options());
    let (older, token, mut rx) = paired(&hub, "34600000001");
    assert_eq!(hub.status().overlaps, 0);
    let newer = hub.hello(hello(Some(&token), Some("34600000001")));
    assert_eq!(newer.mode, "restore");
    assert_eq!(hub.status().overlaps, 1, "two live pages with one account");
    assert!(matches!(rx.try_recv(), Ok(Push::State { state: WaState::Conflict })), "the older gets CONFLICT");
    assert!(hub.status().pages.iter().any(|p| p.id == older && p.state == "CONFLICT"));
    // Both fall silent (a frozen machine); the account opens again: they are dropped.
    tokio::time::advance(SILENT + Duration::from_secs(1)).await;
    assert!(hub.alive(&newer.page), "a beat keeps a page alive");
    tokio::time::advance(SILENT + Duration::from_secs(1)).await;
    hub.hello(hello(Some(&token), Some("34600000001")));
    let st = hub.status();
    assert_eq!((st.overlaps, st.silent_dropped), (1, 2), "{st:?}");
    assert!(!hub.alive(&older), "a dropped page is told it is gone");
}

#[tokio::test]
async fn forced_states_reach_only_the_named_account() {
    let hub = Hub::new(&options());
    let (_, _, mut rx1) = paired(&hub, "34600000001");
    let (_, _, mut rx2) = paired(&hub, "34600000002");
    let n = hub.force_state(WaState::Conflict, Some("34600000002")).unwrap();
    assert_eq!(n.pages, 1);
    assert!(rx1.try_recv().is_err());
    assert_eq!(rx2.try_recv().unwrap(), Push::State { state: WaState::Conflict });
    assert!(hub.force_state(WaState::Timeout, Some("34600000099")).is_err());
}

#[tokio::test(start_paused = true)]
async fn a_timed_hang_clears_itself_and_releases_holds() {
    let hub = Hub::new(&options());
    hub.set_fault(FaultKind::Hang, Some(500));
    let start = Instant::now();
    let f = hub.hold(FaultKind::Hang, 10_000).await;
    assert_eq!(f.kind, FaultKind::None);
    assert_eq!(start.elapsed(), Duration::from_millis(500));
    assert_eq!(hub.status().fault.kind, FaultKind::None);
}

#[tokio::test]
async fn a_pairing_code_links_as_its_number_and_old_or_wrong_codes_are_refused() {
    let hub = Hub::new(&options());
    let w = hub.hello(hello(None, None));
    let mut rx = hub.take_events(&w.page).unwrap();
    let first = hub.pairing_code(&w.page, "+34 600 000 005").unwrap();
    assert_eq!(first.len(), 8);
    let second = hub.pairing_code(&w.page, "34600000005").unwrap();
    assert_eq!(hub.status().pages[0].pairing_code.as_deref(), Some(second.as_str()));
    assert!(matches!(hub.enter_code(&first), Err(HubError::Conflict(_))), "a replaced code is refused");
    assert!(matches!(hub.enter_code("ZZZZ-ZZZZ"), Err(HubError::NotFound(_))));
    assert!(matches!(hub.enter_code("123"), Err(HubError::BadRequest(_))));
    assert!(rx.try_recv().is_err(), "nothing linked yet");
    let linked = hub.enter_code(&format!("{}-{}", &second[..4], second[4..].to_lowercase())).unwrap();
    assert_eq!(linked.me, "34600000005");
    assert!(matches!(rx.try_recv().unwrap(), Push::Paired { me, .. } if me == "34600000005"));
    assert!(hub.pairing_code(&w.page, "34600000005").is_err(), "a linked page asks for no code");
}

#[tokio::test(start_paused = true)]
async fn a_pairing_code_expires() {
    let hub = Hub::new(&Options { pairing_code_ttl: Duration::from_secs(180), ..options() });
    let w = hub.hello(hello(None, None));
    let code = hub.pairing_code(&w.page, "34600000005").unwrap();
    tokio::time::advance(Duration::from_secs(181)).await;
    assert!(matches!(hub.enter_code(&code), Err(HubError::Conflict(e)) if e.contains("expired")));
}

#[test]
fn phone_numbers_normalize() {
    assert_eq!(normalize_me("34600000001@c.us").unwrap(), "34600000001");
    assert_eq!(normalize_me("+34 600 000 001").unwrap(), "34600000001");
    assert_eq!(normalize_me("34600000001:12@s.whatsapp.net").unwrap(), "34600000001");
    assert!(normalize_me("abc").is_err());
    assert_eq!(normalize_wid("346@s.whatsapp.net"), "346@c.us");
    assert_eq!(normalize_wid("346"), "346@c.us");
    assert_eq!(normalize_wid("123-456@g.us"), "123-456@g.us");
}
