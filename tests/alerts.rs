//! Alerts end to end with a real SMTP server process (aiosmtpd): the email arrives with its
//! fields; a server that is down and comes back gets it exactly once; a host killed with
//! `kill -9` while mail waits in the outbox delivers it after restart, exactly once; the real
//! `scripts/monitor.rhai` sends its inactivity email once, not again within 24 h even across a
//! host restart, and again after 24 h.

use std::process::Stdio;
use std::time::{Duration, Instant};

use vigil_tests::smtp::{decoded, free_port, SmtpServer};
use vigil_tests::{about, vigil_command, TestHost};

const W: Duration = Duration::from_secs(20);

fn templates() -> String {
    format!("{:?}", std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/templates"))
}

fn config(port: u16) -> String {
    format!(
        "[smtp]\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"plain\"\nfrom = \"vigil <vigil@example.com>\"\nretry_min = \"200ms\"\nretry_max = \"1s\"\n\
         [alerts]\nto = [\"ops@example.com\"]\nlogin_url = \"https://vigil.example.com/settings\"\ntemplates_dir = {}\n\
         [behaviours.raiser]\ngrants = [\"alerts\"]\n",
        templates()
    )
}

const RAISER: &str = r#"
after("10ms", "fire");
fn fire() {
    let r = raise("disconnected:main", "critical", "disconnected", #{ session: "main", reason: "Sesión desconectada (prueba)" }, "24h");
    emit("raised", #{ result: r });
}
"#;

#[tokio::test]
async fn a_raised_alert_reaches_the_smtp_server_with_the_seed_fields() {
    let smtp = SmtpServer::start(0);
    let mut h = TestHost::start(&[("raiser", RAISER)], &config(smtp.port)).await;
    let r = h.wait_for(W, "the raise", |e| e.name == "raised").await;
    assert_eq!(r.data["result"], "queued");
    h.wait_for(W, "email.sent", |e| e.name == "email.sent").await;
    let msgs = smtp.wait_for(1, W);
    let m = decoded(&msgs[0]);
    assert!(m.contains("To: ops@example.com"), "{m}");
    assert!(m.contains("From: vigil <vigil@example.com>"), "{m}");
    for field in [
        "Hola Usuario",
        "\"main\"",
        "N/A",
        "Motivo: Sesión desconectada (prueba)",
        "Hora: ",
        "https://vigil.example.com/settings",
    ] {
        assert!(m.contains(field), "missing {field:?}:\n{m}");
    }
    assert!(m.contains("Content-Type: text/html"), "has an HTML part");
    h.stop().await;
}

#[tokio::test]
async fn an_smtp_server_that_comes_back_gets_the_email_exactly_once() {
    let port = free_port();
    let mut h = TestHost::start(&[("raiser", RAISER)], &config(port)).await;
    let failed = h.wait_for(W, "a failed attempt", |e| e.name == "email.failed").await;
    assert!(failed.data["error"].as_str().unwrap().contains("SMTP"), "{}", failed.data);
    let smtp = SmtpServer::start(port);
    h.wait_for(W, "email.sent", |e| e.name == "email.sent").await;
    assert_eq!(smtp.wait_for(1, W).len(), 1);
    // Several retry periods later, still one.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(smtp.messages().len(), 1, "sent exactly once");
    let out = h.host.store().outbox(10).await.unwrap();
    assert_eq!(out.len(), 1);
    assert!(out[0].sent.is_some() && out[0].attempts >= 2, "{:?}", out[0]);
    h.stop().await;
}

#[test]
fn a_host_killed_with_mail_in_the_outbox_delivers_it_after_restart_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let scripts = dir.path().join("scripts");
    std::fs::create_dir_all(&scripts).unwrap();
    std::fs::write(scripts.join("raiser.rhai"), RAISER).unwrap();
    let port = free_port();
    let base = format!(
        "data_dir = {:?}\nscripts_dir = {:?}\n[alerts]\nto = [\"ops@example.com\"]\ntemplates_dir = {}\n[behaviours.raiser]\ngrants = [\"alerts\"]\n",
        dir.path().join("data"),
        scripts,
        templates()
    );
    // First run: no SMTP server configured, so the email waits in the outbox.
    std::fs::write(dir.path().join("vigil.toml"), &base).unwrap();
    let log = dir.path().join("first.log");
    let mut first = vigil_command(dir.path(), &["run"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let db = dir.path().join("data/vigil.db");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let deadline = Instant::now() + W * 3;
    loop {
        let queued = db.exists()
            && rt.block_on(async {
                let s = vigil::store::Store::open(None, &dir.path().join("data")).await.unwrap();
                let n = s.outbox(10).await.unwrap().len();
                s.close().await;
                n
            }) == 1;
        if queued {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the email never reached the outbox; the host said:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    // Second run: the server is up; the restarted behaviour raises again (deduplicated).
    let smtp = SmtpServer::start(port);
    let with_smtp = base.replace(
        "[alerts]",
        &format!("[smtp]\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"plain\"\nfrom = \"vigil <vigil@example.com>\"\n[alerts]"),
    );
    std::fs::write(dir.path().join("vigil.toml"), with_smtp).unwrap();
    let mut second = vigil_command(dir.path(), &["run"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    smtp.wait_for(1, W);
    std::thread::sleep(Duration::from_secs(2));
    unsafe { libc::kill(second.id() as i32, libc::SIGTERM) };
    assert!(second.wait().unwrap().success());
    assert_eq!(smtp.messages().len(), 1, "exactly once");
    let out = rt.block_on(async {
        vigil::store::Store::open(None, &dir.path().join("data")).await.unwrap().ledger().await.unwrap()
    });
    assert_eq!((out[0].sent_count, out[0].raised_count), (1, 2), "raised twice, sent once");
}

#[tokio::test]
async fn a_behaviour_without_the_alerts_grant_cannot_raise() {
    let smtp = SmtpServer::start(0);
    let mut h =
        TestHost::start(&[("raiser", RAISER)], &config(smtp.port).replace("grants = [\"alerts\"]", "grants = []"))
            .await;
    let e = h.wait_for(W, "the refusal", |e| about(e, "behaviour.error", "raiser")).await;
    let msg = e.data["outcome"]["message"].as_str().unwrap();
    assert!(msg.contains("`raise`") && msg.contains("`alerts`"), "{msg}");
    h.stop().await;
}

/// One host of the restart test: the real `scripts/monitor.rhai` (every 10 min) on a paused
/// clock that starts at `at`, with a ready session last seen six days before `t0`, on the
/// SQLite file store in `dir/data`. Runs 11 virtual minutes (at least one check), stops, and
/// returns the inactivity emails in the outbox and the ledger's `(raised, sent)` counts.
async fn monitor_host_run(
    dir: &std::path::Path,
    t0: chrono::DateTime<chrono::Utc>,
    at: chrono::DateTime<chrono::Utc>,
) -> (usize, (i64, i64)) {
    use vigil::sessions::{memory::MemorySessions, SessionStatus};
    let scripts = dir.join("scripts");
    std::fs::create_dir_all(&scripts).unwrap();
    let monitor = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/monitor.rhai");
    std::fs::copy(monitor, scripts.join("monitor.rhai")).unwrap();
    let config = vigil_tests::config_in(
        dir,
        &format!(
            "[alerts]\nto = [\"ops@example.com\"]\nlogin_url = \"https://vigil.example.com/settings\"\ntemplates_dir = {}\n\
             [behaviours.monitor.params]\nevery = \"10m\"\n",
            templates()
        ),
    );
    let clock = vigil::clock::Clock::starting_at(at);
    let sessions = std::sync::Arc::new(MemorySessions::with_clock(clock.clone()));
    sessions.add("idle", SessionStatus::Ready, "CONNECTED");
    sessions.set_last_seen("idle", t0 - chrono::TimeDelta::days(6));
    let store = vigil::store::Store::open_on_paused_clock(None, &dir.join("data")).await.unwrap();
    let parts = vigil::HostParts { clock, sessions, store: Some(store.clone()), watch: false, bus: None };
    let shutdown = tokio_util::sync::CancellationToken::new();
    let host = vigil::Host::start(config, parts, shutdown.clone()).await.expect("host starts");
    assert!(host.behaviours()[0].load_error.is_none(), "{:?}", host.behaviours()[0].load_error);
    tokio::time::sleep(Duration::from_secs(11 * 60)).await;
    let runs = host.behaviours()[0].traces.len();
    assert!(runs >= 1, "monitor ran at least once in this host");
    shutdown.cancel();
    host.wait().await.unwrap();
    let emails = store.outbox(100).await.unwrap();
    let inactivity = emails.iter().filter(|e| e.email.text.contains("Sesión inactiva por ")).count();
    assert_eq!(inactivity, emails.len(), "only inactivity emails: {emails:?}");
    let ledger = store.alert("inactive:idle").await.unwrap().expect("a ledger entry for inactive:idle");
    store.close().await;
    (inactivity, (ledger.raised_count, ledger.sent_count))
}

#[tokio::test(start_paused = true)]
async fn the_inactivity_email_is_sent_once_not_again_within_24h_across_a_restart_and_again_after() {
    let dir = tempfile::tempdir().unwrap();
    let t0: chrono::DateTime<chrono::Utc> = "2027-01-04T10:00:00Z".parse().unwrap();
    let (emails, (raised, _)) = monitor_host_run(dir.path(), t0, t0).await;
    assert_eq!(emails, 1, "host #1: one inactivity email");
    assert!(raised >= 1);
    let (emails, (raised2, _)) = monitor_host_run(dir.path(), t0, t0 + chrono::TimeDelta::hours(1)).await;
    assert_eq!(emails, 1, "host #2 an hour later, same store: still one");
    assert!(raised2 > raised, "host #2 raised it again ({raised2} > {raised}) and the ledger deduplicated it");
    let (emails, (_, sent)) = monitor_host_run(dir.path(), t0, t0 + chrono::TimeDelta::hours(25)).await;
    assert_eq!((emails, sent), (2, 2), "host #3 25 h later: the second email");
}

/// Cluster mode: several hosts on one PostgreSQL drain one outbox. Two outbox workers, each with
/// its own connection pool and SMTP connection, on one real PostgreSQL and one real SMTP server:
/// every queued email arrives exactly once (each attempt is claimed in the store first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hosts_on_one_database_send_each_email_once() {
    use vigil::alerts::{mailer::Mailer, outbox};
    use vigil::config::{SmtpConfig, SmtpSecurity};
    use vigil::store::{alerts::Email, Store};

    let Some(url) = vigil_tests::pg::fresh_database() else { return };
    let smtp = SmtpServer::start(0);
    let dir = tempfile::tempdir().unwrap();
    let a = Store::open(Some(&url), dir.path()).await.unwrap();
    let b = Store::open(Some(&url), dir.path()).await.unwrap();
    const N: usize = 12;
    let clock = vigil::clock::Clock::system();
    for i in 0..N {
        let email = Email {
            to: "ops@example.com".into(),
            subject: format!("email {i}"),
            text: format!("body {i}"),
            html: None,
        };
        a.queue_email(&format!("key-{i}"), &email, clock.now()).await.unwrap();
    }
    let config = SmtpConfig {
        host: Some("127.0.0.1".into()),
        port: Some(smtp.port),
        security: SmtpSecurity::Plain,
        from: Some("vigil <vigil@example.com>".into()),
        ..SmtpConfig::default()
    };
    let backoff = outbox::Backoff { min: Duration::from_millis(200), max: Duration::from_secs(1) };
    let stop = tokio_util::sync::CancellationToken::new();
    let workers: Vec<_> = [a.clone(), b.clone()]
        .into_iter()
        .map(|store| {
            tokio::spawn(outbox::run(
                store,
                Mailer::new(&config).unwrap(),
                clock.clone(),
                backoff,
                Default::default(),
                vigil::events::EventBus::new(),
                stop.clone(),
            ))
        })
        .collect();
    tokio::task::block_in_place(|| smtp.wait_for(N, W));
    // Both workers have looked at the outbox again meanwhile; still N.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.cancel();
    for w in workers {
        w.await.unwrap();
    }
    let msgs = smtp.messages();
    let mut subjects: Vec<String> = msgs
        .iter()
        .filter_map(|m| decoded(m).lines().find(|l| l.starts_with("Subject: ")).map(str::to_string))
        .collect();
    subjects.sort();
    let before = subjects.len();
    subjects.dedup();
    assert_eq!((before, subjects.len()), (N, N), "each email exactly once: {subjects:?}");
    let out = a.outbox(50).await.unwrap();
    assert!(out.iter().all(|e| e.sent.is_some()), "all marked sent");
}
