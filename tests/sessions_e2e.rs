//! Sessions end to end: real Chromium on the simulator, driven by the host and by behaviours.

use std::path::Path;
use std::time::Duration;
use vigil_tests::sid;

use vigil::sessions::{SessionStatus, Sessions};
use vigil_tests::{assert_no_leftovers, profile_of, sessions_toml, simulator, wait_for, SessionsHost};
use wa_sim::{FaultKind, WaState};

const W: Duration = Duration::from_secs(20);
const ME: &str = "34600000001";

/// Nothing of `dir` is left running once the test is done.
async fn no_leftovers(dir: &Path) {
    assert_no_leftovers(&dir.display().to_string(), Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_session_links_by_qr_and_a_behaviour_sends() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let sender = r#"
on("session.ready", "greet");
fn greet(ev) {
    let id = send_text(ev.data.session, config("to"), "hola desde vigil");
    emit("greeted", #{ id: id });
}
"#;
    let config = format!(
        "{}[behaviours.sender]\ngrants = [\"sessions.read\", \"sessions.send\"]\n[behaviours.sender.params]\nto = \"+34 600 000 002\"\n",
        sessions_toml(sim.https_port(), "")
    );
    let mut h = SessionsHost::start(dir.path(), &[("sender", sender)], &config, &["main"]).await;
    h.link(&sim, "main", ME).await;
    let greeted = wait_for(&mut h.events, W, "the behaviour's send", |e| e.name == "greeted").await;
    let id = greeted.data["id"].as_str().unwrap().to_string();
    let messages = sim.client().messages().await.unwrap();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0].id, id);
    assert_eq!(messages[0].from, "34600000001@c.us");
    assert_eq!(messages[0].to, "34600000002@c.us");
    assert_eq!(messages[0].body, "hola desde vigil");
    let ack = wait_for(&mut h.events, W, "ack 2 of the message", |e| {
        e.name == "message.ack" && e.data["id"] == id.as_str() && e.data["ack"] == 2
    })
    .await;
    assert_eq!(ack.data["session"], "main");
    assert_eq!(h.sessions.state(&sid("main"), W).await.unwrap(), "CONNECTED");
    let info = h.sessions.info(&sid("main")).unwrap();
    assert_eq!(info.phone.as_deref(), Some(ME));
    assert!(info.running);
    assert!(h.sessions.ping(&sid("main"), W).await.unwrap() < Duration::from_secs(2));
    h.sessions.activity(&sid("main")).await.unwrap();

    // The same idempotency key sends once.
    let a = h.sessions.send_text(&sid("main"), "34600000003@c.us", "once", Some("k1")).await.unwrap();
    let b = h.sessions.send_text(&sid("main"), "34600000003@c.us", "once", Some("k1")).await.unwrap();
    assert_eq!(a, b);
    assert_eq!(sim.client().messages().await.unwrap().len(), 2);
    // ... also when the two sends run at the same time.
    let main = sid("main");
    let (c, d) = tokio::join!(
        h.sessions.send_text(&main, "34600000003@c.us", "together", Some("k2")),
        h.sessions.send_text(&main, "34600000003@c.us", "together", Some("k2")),
    );
    assert_eq!(c.unwrap(), d.unwrap());
    assert_eq!(sim.client().messages().await.unwrap().len(), 3, "concurrent sends with one key send once");

    // Incoming messages are events.
    sim.client().incoming("34600000009@c.us", "¿estás?", Some(ME)).await.unwrap();
    let msg = h.event(W, "message.in", "main").await;
    assert_eq!(msg.data["from"], "34600000009@c.us");
    assert_eq!(msg.data["body"], "¿estás?");

    h.stop().await;
    assert_eq!(
        vigil::sessions::records::SessionRecords::load_all(&vigil::sessions::JsonRecords::new(
            &dir.path().join("data/sessions")
        ))
        .await
        .unwrap()[0]
            .status,
        SessionStatus::Stopped
    );
    sim.stop().await;
    no_leftovers(dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linked_session_comes_back_ready_without_a_qr_after_a_restart_and_a_stale_lock() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let config = sessions_toml(sim.https_port(), "");
    let mut h = SessionsHost::start(dir.path(), &[], &config, &["main"]).await;
    h.link(&sim, "main", ME).await;
    assert!(h.log.count_of("session.qr", "main") >= 1, "the recorder sees the QR of a first link");
    h.stop().await;

    // Restart of the host: ready again, no QR.
    let mut h = SessionsHost::start(dir.path(), &[], &config, &[]).await;
    h.wait_status("main", SessionStatus::Ready, W).await;
    assert_eq!(h.log.count_of("session.qr", "main"), 0, "no QR after a restart of the host");
    assert_eq!(h.sessions.state(&sid("main"), W).await.unwrap(), "CONNECTED");
    h.stop().await;

    // A lock left by a Chromium on another host: removed, and the session starts anyway.
    let lock = profile_of(dir.path(), "main").join("SingletonLock");
    std::os::unix::fs::symlink("other-host.example-4242", &lock).unwrap();
    let mut h = SessionsHost::start(dir.path(), &[], &config, &[]).await;
    let removed = h.event(W, "session.locks_removed", "main").await;
    assert_eq!(removed.data["owner"], "other-host.example-4242");
    h.wait_status("main", SessionStatus::Ready, W).await;
    assert_eq!(h.log.count_of("session.qr", "main"), 0, "no QR after a restart");
    h.stop().await;
    sim.stop().await;
    no_leftovers(dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_indexeddb_is_restored_from_the_last_backup_and_a_corrupt_backup_is_refused() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let config = sessions_toml(sim.https_port(), "backups_keep = 2");
    let mut h = SessionsHost::start(dir.path(), &[], &config, &["main"]).await;
    h.link(&sim, "main", ME).await;
    // A backup while the session runs; the session stays ready.
    let b = h.sessions.backup(&sid("main")).await.unwrap();
    assert!(b.files.unwrap() >= 4, "{b:?}");
    let held = h.event(W, "session.backup", "main").await;
    assert!(held.data["held_ms"].as_u64().unwrap() < 2000, "{}", held.data);
    assert_eq!(h.sessions.state(&sid("main"), W).await.unwrap(), "CONNECTED");
    for _ in 0..2 {
        h.sessions.backup(&sid("main")).await.unwrap();
    }
    assert_eq!(h.sessions.backups(&sid("main")).unwrap().len(), 2, "only the last 2 are kept");
    h.stop().await;

    let profile = profile_of(dir.path(), "main");
    let idb = profile.join(vigil::sites::whatsapp::CRITICAL_PATHS[0]);
    assert!(idb.is_dir(), "{} exists", idb.display());
    std::fs::remove_dir_all(&idb).unwrap();
    let mut h = SessionsHost::start(dir.path(), &[], &config, &[]).await;
    let restored = h.event(W, "session.profile_restored", "main").await;
    assert!(restored.data["reason"].as_str().unwrap().contains("missing"), "{}", restored.data);
    h.wait_status("main", SessionStatus::Ready, W).await;
    assert_eq!(h.log.count_of("session.qr", "main"), 0, "no QR after the restore");
    // While it runs, a restore is refused.
    let e = h.sessions.restore(&sid("main"), None).await.unwrap_err().to_string();
    assert!(e.contains("running"), "{e}");
    h.stop().await;

    // A corrupt backup is refused and the profile is left as it was.
    let newest = h_backups(dir.path()).pop().unwrap();
    let mut bytes = std::fs::read(&newest).unwrap();
    let mid = bytes.len() / 2;
    for x in &mut bytes[mid..mid + 32] {
        *x ^= 0x5a;
    }
    std::fs::write(&newest, bytes).unwrap();
    let before = snapshot(&profile);
    let config_all = vigil_tests::config_in(dir.path(), &config);
    let m = vigil::sessions::SessionManager::open(
        &config_all,
        vigil::events::EventBus::new(),
        vigil::clock::Clock::system(),
        None,
    )
    .await
    .unwrap();
    let name = newest.file_name().unwrap().to_str().unwrap().to_string();
    let e = m.restore(&sid("main"), Some(&name)).await.unwrap_err().to_string();
    assert!(e.contains("corrupt") && e.contains("nothing was changed"), "{e}");
    assert_eq!(snapshot(&profile), before, "the profile is untouched");
    // The older, intact backup restores.
    m.restore(&sid("main"), None).await.unwrap_err();
    let older = h_backups(dir.path())[0].file_name().unwrap().to_str().unwrap().to_string();
    let ok = m.restore(&sid("main"), Some(&older)).await.unwrap();
    assert_eq!(ok.name, older);
    m.shutdown().await;
    sim.stop().await;
    no_leftovers(dir.path()).await;
}

fn h_backups(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir.join("data/sessions/main/backups"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".tar.zst"))
        .collect();
    v.sort();
    v
}

/// Every file under the critical folders with its content.
fn snapshot(profile: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for root in vigil::sites::whatsapp::CRITICAL_PATHS {
        let mut stack = vec![profile.join(root)];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push((p.display().to_string(), std::fs::read(&p).unwrap_or_default()));
                }
            }
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflict_logout_from_the_phone_and_a_hung_page_set_status_and_raise_events() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let config = sessions_toml(sim.https_port(), "ping_interval = \"300ms\"\nping_timeout = \"1s\"");
    let mut h = SessionsHost::start(dir.path(), &[], &config, &["main"]).await;
    h.link(&sim, "main", ME).await;
    let control = sim.client();

    control.force_state(WaState::Conflict, Some(ME)).await.unwrap();
    let d = h.event(W, "session.disconnected", "main").await;
    assert_eq!(d.data["state"], "CONFLICT");
    assert_eq!(h.sessions.info(&sid("main")).unwrap().status, SessionStatus::Disconnected);
    assert_eq!(h.sessions.info(&sid("main")).unwrap().wa_state.as_deref(), Some("CONFLICT"));
    control.force_state(WaState::Connected, Some(ME)).await.unwrap();
    h.event(W, "session.ready", "main").await;

    // A hung page: the watchdog's ping times out.
    control.fault(FaultKind::Hang, None).await.unwrap();
    let d = h.event(W, "session.disconnected", "main").await;
    assert_eq!(d.data["reason"], "unresponsive", "{}", d.data);
    assert_eq!(h.sessions.info(&sid("main")).unwrap().status, SessionStatus::Disconnected);
    let e = h.sessions.ping(&sid("main"), Duration::from_millis(500)).await.unwrap_err();
    assert!(matches!(e, vigil::sessions::SessionError::Timeout { .. }), "{e}");
    control.fault(FaultKind::None, None).await.unwrap();
    h.event(W, "session.ready", "main").await;
    assert_eq!(h.sessions.info(&sid("main")).unwrap().status, SessionStatus::Ready);

    // Unlinked from the phone.
    control.logout_from_phone(Some(ME)).await.unwrap();
    let out = h.event(W, "session.logged_out", "main").await;
    assert!(out.data["reason"].as_str().unwrap().contains("unlinked"), "{}", out.data);
    h.event(W, "session.qr", "main").await;
    assert_eq!(
        h.sessions.info(&sid("main")).unwrap().status,
        SessionStatus::LoggedOut,
        "a new QR does not hide the logout"
    );
    let e = h.sessions.send_text(&sid("main"), "34600000002", "x", None).await.unwrap_err();
    assert!(matches!(e, vigil::sessions::SessionError::NotReady { .. }), "{e}");
    // Linking again makes it ready. (The phone scans the newest QR: the simulator cannot
    // match the text of a QR shown after a logout from the phone.)
    assert!(h.sessions.qr(&sid("main")).is_some());
    control.scan(None, Some(ME)).await.unwrap();
    h.wait_status("main", SessionStatus::Ready, W).await;
    h.stop().await;
    sim.stop().await;
    no_leftovers(dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_bridge_file_is_reinjected_without_restarting_the_browser() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let bridge = dir.path().join("bridge.js");
    std::fs::write(&bridge, vigil::sites::whatsapp::bridge::BUILT_IN).unwrap();
    let config = sessions_toml(sim.https_port(), &format!("bridge = {:?}", bridge));
    let mut h = SessionsHost::start(dir.path(), &[], &config, &["main"]).await;
    h.link(&sim, "main", ME).await;
    let pid = h.sessions.chromium_pid(&sid("main")).unwrap();
    let patched = vigil::sites::whatsapp::bridge::BUILT_IN
        .replace("state: () => (loaded() ? socket().state : 'LOADING')", "state: () => 'PATCHED-' + socket().state");
    assert_ne!(patched, vigil::sites::whatsapp::bridge::BUILT_IN, "the patch applies");
    std::fs::write(&bridge, patched).unwrap();
    let reloaded = wait_for(&mut h.events, W, "bridge.reloaded", |e| e.name == "bridge.reloaded").await;
    assert_eq!(reloaded.data["pages"], 1);
    assert_eq!(h.sessions.state(&sid("main"), W).await.unwrap(), "PATCHED-CONNECTED");
    assert_eq!(h.sessions.chromium_pid(&sid("main")), Some(pid), "the same browser");
    // The new bridge keeps pushing events: a forced state still arrives once (no double
    // subscription left by the old copy).
    sim.client().force_state(WaState::Conflict, Some(ME)).await.unwrap();
    h.event(W, "session.disconnected", "main").await;
    let conflict = |e: &vigil::events::Event| e.name == "session.state" && e.data["state"] == "CONFLICT";
    let states = h.log.count_after(1, W, Duration::from_millis(500), conflict).await;
    assert_eq!(states, 1, "one state event per change");
    // A broken file keeps the previous bridge.
    std::fs::write(&bridge, "console.log('not a bridge')").unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(h.sessions.state(&sid("main"), W).await.unwrap(), "PATCHED-CONFLICT");
    h.stop().await;
    sim.stop().await;
    no_leftovers(dir.path()).await;
}
