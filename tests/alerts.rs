//! Alerts end to end with a real SMTP server process (aiosmtpd): the email arrives with its
//! fields; a server that is down and comes back gets it exactly once; a host killed with
//! `kill -9` while mail waits in the outbox delivers it after restart, exactly once.

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
