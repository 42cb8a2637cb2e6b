//! WhatsApp Web as it is today (issue 10), end to end: real Chromium on the simulator set to
//! each behaviour of the current site — async ADV secret, `logout_from_bridge` only, ciphertext
//! messages, late modules, missing modules (the canary), a new version on the next load, and
//! linking by pairing code.

use std::sync::Arc;
use std::time::{Duration, Instant};
use vigil_tests::sid;

use serde_json::{json, Value};
use tokio::sync::broadcast;
use vigil::events::Event;
use vigil::sessions::{SessionStatus, Sessions};
use vigil_tests::api::{serve, TOKEN};
use vigil_tests::smtp::{decoded, SmtpServer};
use vigil_tests::{assert_no_leftovers, sessions_toml, simulator, wait_for, SessionsHost};
use wa_sim::{IncomingRequest, SiteRequest};

const W: Duration = Duration::from_secs(30);
const ME: &str = "34600000001";

/// Every event of `rx` so far (the receiver was taken before anything happened).
fn recorded(rx: &mut broadcast::Receiver<Event>, all: &mut Vec<Event>) {
    while let Ok(e) = rx.try_recv() {
        all.push(e);
    }
}

fn adv_of(qr: &str) -> String {
    qr.split(',').nth(3).unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_current_site_async_adv_ciphertext_link_preview_and_logout_from_bridge() {
    let sim = simulator().await;
    sim.client()
        .set_site(&SiteRequest { adv_async: Some(true), logout_from_bridge_only: Some(true), ..Default::default() })
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut h = SessionsHost::start(dir.path(), &[], &sessions_toml(sim.https_port(), ""), &["main"]).await;
    let mut all_rx = h.host.bus().subscribe();

    // The QR's fourth field is the awaited secret, the one the phone expects.
    let qr = h.event(W, "session.qr", "main").await.data["qr"].as_str().unwrap().to_string();
    assert!(!qr.contains("[object Promise]"), "{qr}");
    let shown = sim.client().status().await.unwrap().pages[0].qr.clone().expect("the page shows a QR");
    assert_eq!(qr, shown, "the bridge's QR is the page's");

    // The page looks like a desktop browser.
    let page = sim.client().status().await.unwrap().pages[0].clone();
    assert!(!page.user_agent.contains("HeadlessChrome") && page.user_agent.contains("Chrome/"), "{}", page.user_agent);
    assert!(!page.webdriver, "navigator.webdriver is false");

    // The secret changes while the QR shows: a new QR, and a scan with it links.
    sim.client().rotate_adv().await.unwrap();
    let new_qr = wait_for(&mut h.events, W, "a QR with the new secret", |e| {
        e.name == "session.qr" && e.data["qr"].as_str().is_some_and(|q| adv_of(q) != adv_of(&qr))
    })
    .await
    .data["qr"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(Some(new_qr.clone()), sim.client().status().await.unwrap().pages[0].qr);
    sim.client().scan(Some(&new_qr), Some(ME)).await.expect("the scan with the new secret links");
    h.wait_status("main", SessionStatus::Ready, W).await;

    // A ciphertext message that decrypts after 500 ms: one message.in, with its body.
    let incoming = sim
        .client()
        .incoming_with(&IncomingRequest {
            from: "34600000009@c.us".into(),
            body: "cifrado al principio".into(),
            to: Some(ME.into()),
            ciphertext_ms: Some(500),
        })
        .await
        .unwrap();
    wait_for(&mut h.events, W, "the decrypted message", |e| e.name == "message.in").await;
    let plain = sim.client().incoming("34600000009@c.us", "en claro", Some(ME)).await.unwrap();
    wait_for(&mut h.events, W, "the plain message", |e| e.name == "message.in" && e.data["body"] == "en claro").await;

    // A text with a URL goes through the link-preview path and reaches the server.
    let id = h.sessions.send_text(&sid("main"), "+34 600 000 002", "mira https://example.com", None).await.unwrap();
    let sent = sim.client().messages().await.unwrap();
    let m = sent.iter().find(|m| m.id == id).expect("the simulator recorded the message");
    assert_eq!(m.body, "mira https://example.com");
    assert_eq!(m.link_preview.as_deref(), Some("https://example.com"), "sent through WAWebLinkPreviewChatAction");
    // A group is refused, naming it.
    let e =
        h.sessions.send_text(&sid("main"), "120363000000000000-1@g.us", "hola", None).await.unwrap_err().to_string();
    assert!(e.contains("120363000000000000-1@g.us") && e.contains("not supported"), "{e}");

    // Logout from the phone, announced as logout_from_bridge only: logged_out within 2 s.
    let t0 = Instant::now();
    sim.client().logout_from_phone(Some(ME)).await.unwrap();
    let out = h.event(Duration::from_secs(2), "session.logged_out", "main").await;
    println!("figure: logout from the phone → logged_out: {} ms", t0.elapsed().as_millis());
    assert!(out.data["reason"].as_str().unwrap().contains("logout_from_bridge"), "{out:?}");

    let mut all = Vec::new();
    recorded(&mut all_rx, &mut all);
    let ins: Vec<&Event> = all.iter().filter(|e| e.name == "message.in").collect();
    assert_eq!(ins.len(), 2, "each message once: {ins:?}");
    assert!(ins.iter().all(|e| !e.data["body"].as_str().unwrap_or_default().is_empty()), "no empty body: {ins:?}");
    assert!(ins[0].data["id"].as_str().unwrap().ends_with(&incoming.id), "{:?}", ins[0]);
    assert_eq!(ins[0].data["body"], "cifrado al principio");
    assert!(ins[1].data["id"].as_str().unwrap().ends_with(&plain.id), "{:?}", ins[1]);
    h.stop().await;
    sim.stop().await;
    assert_no_leftovers(&dir.path().display().to_string(), Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modules_registered_late_still_make_the_session_ready_without_a_restart() {
    let sim = simulator().await;
    sim.client().set_site(&SiteRequest { late_modules_ms: Some(3000), ..Default::default() }).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    // A behaviour links the session by phone number as soon as the linking screen shows.
    let linker = r#"
on("session.qr", "link");
fn link(ev) {
    if kv_get("asked", false) { return; }
    kv_set("asked", true);
    let code = pairing_code(ev.data.session, config("phone"));
    emit("linking", #{ code: code });
}
"#;
    let config = format!(
        "{}[behaviours.linker]\ngrants = [\"sessions.control\"]\n[behaviours.linker.params]\nphone = \"+34 600 000 007\"\n",
        sessions_toml(sim.https_port(), "")
    );
    let mut h = SessionsHost::start(dir.path(), &[("linker", linker)], &config, &["main"]).await;
    let mut all_rx = h.host.bus().subscribe();
    let linking = wait_for(&mut h.events, W, "the behaviour's pairing code", |e| e.name == "linking").await;
    let code = linking.data["code"].as_str().unwrap().to_string();
    assert_eq!(code.len(), 8, "{code}");
    sim.client().enter_code(&code).await.expect("the behaviour's code links");
    h.wait_status("main", SessionStatus::Ready, W).await;
    assert_eq!(h.sessions.info(&sid("main")).unwrap().phone.as_deref(), Some("34600000007"));
    let mut all = Vec::new();
    recorded(&mut all_rx, &mut all);
    let bad: Vec<&Event> = all
        .iter()
        .filter(|e| matches!(e.name.as_str(), "session.restarted" | "session.crashed" | "site.incompatible"))
        .collect();
    assert!(bad.is_empty(), "ready without a restart: {bad:?}");
    h.stop().await;
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_module_is_site_incompatible_once_per_version_and_a_new_version_is_tracked() {
    let sim = simulator().await;
    let smtp = SmtpServer::start(0);
    let v1 = sim.client().site().await.unwrap().version;
    sim.client()
        .set_site(&SiteRequest { missing_modules: Some(vec!["WAWebCollections".into()]), ..Default::default() })
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "{}[smtp]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"plain\"\nfrom = \"vigil <vigil@example.com>\"\n\
         [alerts]\nlogin_url = \"https://vigil.example.com/settings\"\ntemplates_dir = {:?}\n\
         [owners.\"ana@example.com\"]\nname = \"Ana\"\nsessions = [\"main\"]\n",
        sessions_toml(sim.https_port(), ""),
        smtp.port,
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/templates")
    );
    let monitor =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/monitor.rhai"))
            .unwrap();
    let t0 = Instant::now();
    let mut h = SessionsHost::start(dir.path(), &[("monitor", &monitor)], &config, &["main"]).await;
    let mut all_rx = h.host.bus().subscribe();
    let url = serve(&h.host, Arc::new(h.sessions.clone()), Some(TOKEN), h.shutdown.clone()).await;
    let http = vigil_tests::http_client();

    let e = h.event(W * 2, "site.incompatible", "main").await;
    println!("figure: session start (page load) → site.incompatible: {} ms", t0.elapsed().as_millis());
    assert_eq!(e.data["version"], v1.as_str());
    let missing: Vec<&str> = e.data["missing"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
    assert!(missing.contains(&"WAWebCollections.Msg") && missing.contains(&"WAWebCollections.Chat"), "{missing:?}");
    assert!(!missing.iter().any(|m| m.starts_with("WAWebCmd")), "only what is missing: {missing:?}");
    h.wait_status("main", SessionStatus::Error, W).await;
    let info = h.sessions.info(&sid("main")).unwrap();
    assert!(info.error.as_deref().unwrap().contains("WAWebCollections.Msg"), "{:?}", info.error);
    let mail = decoded(&smtp.wait_for(1, W)[0]);
    for field in ["To: ana@example.com", "Hola Ana", v1.as_str(), "- WAWebCollections.Msg"] {
        assert!(mail.contains(field), "missing {field:?} in:\n{mail}");
    }

    // A second page load of the same version: reported again, no second email.
    h.sessions.restart(&sid("main"), "test: reload").await.unwrap();
    wait_for(&mut h.events, W * 2, "the second site.incompatible", |e| e.name == "site.incompatible").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(smtp.messages().len(), 1, "one email per site version");

    // The site moves to a new version (with the module back): tracked, and the session recovers.
    let v2 = "2.3000.1099999999";
    sim.client()
        .set_site(&SiteRequest { version: Some(v2.into()), missing_modules: Some(vec![]), ..Default::default() })
        .await
        .unwrap();
    h.sessions.restart(&sid("main"), "test: the new version").await.unwrap();
    let changed = h.event(W, "site.version_changed", "main").await;
    assert_eq!(changed.data["from"], v1.as_str());
    assert_eq!(changed.data["to"], v2);
    h.wait_status("main", SessionStatus::Qr, W).await;
    let s: Value =
        http.get(format!("{url}/api/sessions/main")).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
    assert_eq!(s["site_version"], v2, "{s}");
    let metrics = http.get(format!("{url}/metrics")).bearer_auth(TOKEN).send().await.unwrap().text().await.unwrap();
    let line = format!("vigil_session_site_info{{session=\"main\",version=\"{v2}\"}} 1");
    assert!(metrics.contains(&line), "{line} not in /metrics");

    let mut all = Vec::new();
    recorded(&mut all_rx, &mut all);
    assert_eq!(all.iter().filter(|e| e.name == "site.incompatible").count(), 2, "once per page load");
    assert_eq!(all.iter().filter(|e| e.name == "site.version_changed").count(), 1);
    assert_eq!(smtp.messages().len(), 1);
    h.stop().await;
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pairing_code_links_without_a_qr_and_wrong_or_replaced_codes_are_refused() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let h = SessionsHost::start(dir.path(), &[], &sessions_toml(sim.https_port(), "pairing_code_renew = \"3s\""), &[])
        .await;
    let mut all_rx = h.host.bus().subscribe();
    let url = serve(&h.host, Arc::new(h.sessions.clone()), Some(TOKEN), h.shutdown.clone()).await;
    let http = vigil_tests::http_client();
    let post = |path: &str, body: Value| http.post(format!("{url}{path}")).bearer_auth(TOKEN).json(&body).send();

    assert_eq!(post("/api/sessions", json!({"id": "pc"})).await.unwrap().status(), 201);
    let deadline = Instant::now() + W;
    while h.sessions.info(&sid("pc")).unwrap().status != SessionStatus::Qr {
        assert!(Instant::now() < deadline, "no linking screen");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let bad = post("/api/sessions/pc/pairing-code", json!({"phone": "600 abc"})).await.unwrap();
    assert_eq!(bad.status(), 400);
    let text = bad.text().await.unwrap();
    assert!(text.contains("600 abc") && text.contains("+34 600 000 000"), "{text}");

    let t0 = Instant::now();
    let r = post("/api/sessions/pc/pairing-code", json!({"phone": "+34 600 000 005"})).await.unwrap();
    assert_eq!(r.status(), 200);
    let first = r.json::<Value>().await.unwrap()["code"].as_str().unwrap().to_string();
    println!("figure: pairing-code request → code: {} ms", t0.elapsed().as_millis());
    assert_eq!(first.len(), 8, "{first}");
    assert_eq!(sim.client().status().await.unwrap().pages[0].pairing_code.as_deref(), Some(first.as_str()));
    let s: Value =
        http.get(format!("{url}/api/sessions/pc")).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
    assert_eq!(s["pairing_code"], first.as_str(), "{s}");

    // A wrong code is refused and the session stays unlinked.
    let wrong = sim.client().enter_code("ZZZZ-ZZZZ").await.unwrap_err().to_string();
    assert!(wrong.contains("no page shows that pairing code"), "{wrong}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(h.sessions.info(&sid("pc")).unwrap().status, SessionStatus::Qr);

    // Renewed as the site renews it: the old code is refused, the new one links.
    let mut rx = h.host.bus().subscribe();
    let renewed = wait_for(&mut rx, W, "a renewed pairing code", |e| {
        e.name == "session.pairing_code" && e.data["code"].as_str().is_some_and(|c| c != first)
    })
    .await
    .data["code"]
        .as_str()
        .unwrap()
        .to_string();
    let replaced = sim.client().enter_code(&first).await.unwrap_err().to_string();
    assert!(replaced.contains("replaced"), "{replaced}");
    let t1 = Instant::now();
    let current = sim.client().status().await.unwrap().pages[0].pairing_code.clone().unwrap();
    assert_eq!(h.sessions.pairing_code_shown(&sid("pc")), Some(current.clone()), "the host shows the page's code");
    assert!(current == renewed || renewed.len() == 8);
    sim.client().enter_code(&current).await.expect("the current code links");
    let deadline = Instant::now() + W;
    while h.sessions.info(&sid("pc")).unwrap().status != SessionStatus::Ready {
        assert!(Instant::now() < deadline, "not ready: {:?}", h.sessions.info(&sid("pc")).unwrap());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("figure: code entered → ready: {} ms", t1.elapsed().as_millis());
    assert_eq!(h.sessions.info(&sid("pc")).unwrap().phone.as_deref(), Some("34600000005"));

    let mut all = Vec::new();
    recorded(&mut all_rx, &mut all);
    assert!(all.iter().filter(|e| e.name == "session.pairing_code").count() >= 2, "renewed");
    h.stop().await;
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vigil_session_link_prints_the_code_and_waits_until_the_phone_entered_it() {
    use std::io::{BufRead, BufReader};
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "data_dir = {:?}\nscripts_dir = {:?}\n{}",
        dir.path().join("data"),
        dir.path().join("scripts"),
        sessions_toml(sim.https_port(), "")
    );
    std::fs::write(dir.path().join("vigil.toml"), toml).unwrap();
    let add = vigil_tests::vigil_command(dir.path(), &["session", "add", "cli"]).output().unwrap();
    assert!(add.status.success(), "{}", String::from_utf8_lossy(&add.stderr));
    let bad =
        vigil_tests::vigil_command(dir.path(), &["session", "link", "cli", "--phone", "12@g.us"]).output().unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("12@g.us"), "{}", String::from_utf8_lossy(&bad.stderr));

    let mut child = vigil_tests::vigil_command(dir.path(), &["session", "link", "cli", "--phone", "+34 600 000 008"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(64);
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.blocking_send(line).is_err() {
                return;
            }
        }
    });
    let mut lines = Vec::new();
    let code = loop {
        let line = tokio::time::timeout(Duration::from_secs(60), rx.recv())
            .await
            .expect("a code within 60 s")
            .expect("output");
        lines.push(line.clone());
        let t = line.trim();
        if t.len() == 9 && t.as_bytes()[4] == b'-' {
            break t.to_string();
        }
    };
    assert!(lines.iter().any(|l| l.contains("Link with phone number")), "{lines:?}");
    sim.client().enter_code(&code).await.expect("the printed code links");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("vigil session link did not end within 60 s after the code: {lines:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    while let Ok(Some(l)) = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
        lines.push(l);
    }
    assert!(status.success(), "{lines:?}");
    assert!(lines.iter().any(|l| l.contains("linked as +34600000008")), "{lines:?}");
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vigil_doctor_canary_names_what_the_site_lacks() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let scripts = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts");
    let toml = format!(
        "data_dir = {:?}\nscripts_dir = {scripts:?}\n{}",
        dir.path().join("data"),
        sessions_toml(sim.https_port(), "")
    );
    std::fs::write(dir.path().join("vigil.toml"), toml).unwrap();
    let path = dir.path().to_path_buf();
    let run = move || {
        let out = vigil_tests::vigil_command(&path, &["doctor", "--canary"]).output().unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let (ok, text) = tokio::task::spawn_blocking(run.clone()).await.unwrap();
    assert!(ok, "{text}");
    assert!(text.contains("✓ site canary") && text.contains("has every internal the bridge needs"), "{text}");

    sim.client()
        .set_site(&SiteRequest { missing_modules: Some(vec!["WAWebCmd".into()]), ..Default::default() })
        .await
        .unwrap();
    let t0 = Instant::now();
    let (ok, text) = tokio::task::spawn_blocking(run).await.unwrap();
    println!("figure: vigil doctor --canary on a changed site: {} ms", t0.elapsed().as_millis());
    assert!(!ok, "{text}");
    assert!(text.contains("✗ site canary") && text.contains("lacks: WAWebCmd.Cmd"), "{text}");
    sim.stop().await;
}
