//! Alert and store benchmarks (rerun: `cargo bench -p vigil-tests --bench alerts`; needs
//! `python3 -m aiosmtpd`, and `VIGIL_TEST_POSTGRES_URL` for the PostgreSQL figure):
//! 1. per-email latency to a local SMTP server: lettre's own pooled transport, vigil's mailer
//!    (its own TCP_NODELAY connection), and Python's smtplib, 200 emails each;
//! 2. outbox throughput: 500 queued alerts through the worker to the server (emails/s);
//! 3. store write latency per event, SQLite (file, WAL) and PostgreSQL.

use std::time::{Duration, Instant};

use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use vigil::alerts::mailer::Mailer;
use vigil::config::{SmtpConfig, SmtpSecurity};
use vigil::store::alerts::Email;
use vigil::store::Store;
use vigil_tests::smtp::SmtpServer;

const N: usize = 200;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn email(i: usize) -> Email {
    Email { to: "ops@example.com".into(), subject: format!("bench {i}"), text: "x".repeat(2000), html: None }
}

async fn lettre_transport(port: u16) -> Duration {
    let t = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1").port(port).build();
    let mut lat = Vec::new();
    for i in 0..N {
        let m = Message::builder()
            .from("vigil <vigil@example.com>".parse().unwrap())
            .to("ops@example.com".parse().unwrap())
            .subject(format!("bench {i}"))
            .body("x".repeat(2000))
            .unwrap();
        let t0 = Instant::now();
        t.send(m).await.unwrap();
        lat.push(t0.elapsed());
    }
    median(lat)
}

async fn vigil_mailer(port: u16) -> Duration {
    let c = SmtpConfig {
        host: Some("127.0.0.1".into()),
        port: Some(port),
        security: SmtpSecurity::Plain,
        from: Some("vigil <vigil@example.com>".into()),
        ..SmtpConfig::default()
    };
    let mut m = Mailer::new(&c).unwrap();
    let mut lat = Vec::new();
    for i in 0..N {
        let t0 = Instant::now();
        m.send(&email(i), &format!("bench-{i}")).await.unwrap();
        lat.push(t0.elapsed());
    }
    median(lat)
}

fn smtplib(port: u16) -> f64 {
    let script = format!(
        "import smtplib,time,statistics\ns=smtplib.SMTP('127.0.0.1',{port})\nl=[]\nfor i in range({N}):\n t=time.perf_counter(); s.sendmail('vigil@example.com',['ops@example.com'],'Subject: b\\r\\n\\r\\n'+('x'*98+'\\r\\n')*20); l.append(time.perf_counter()-t)\nprint(statistics.median(l)*1000)"
    );
    let out = std::process::Command::new("python3").arg("-c").arg(script).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(f64::NAN)
}

async fn outbox_throughput() {
    let smtp = SmtpServer::start(0);
    let dir = tempfile::tempdir().unwrap();
    let config = vigil_tests::config_in(
        dir.path(),
        &format!(
            "[smtp]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"plain\"\nfrom = \"vigil <vigil@example.com>\"\n[alerts]\nto = [\"ops@example.com\"]\ntemplates_dir = {:?}\n",
            smtp.port,
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/templates")
        ),
    );
    // Queue first (no worker yet), then start a host and time the drain.
    let store = Store::open(None, &dir.path().join("data")).await.unwrap();
    let n = 500;
    for i in 0..n {
        store.queue_email(&format!("b{i}"), &email(i), chrono::Utc::now()).await.unwrap();
    }
    store.close().await;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let t0 = Instant::now();
    let host = vigil::Host::start(config, vigil::HostParts::default(), shutdown.clone()).await.unwrap();
    smtp.wait_for(n, Duration::from_secs(300));
    let took = t0.elapsed();
    println!(
        "outbox throughput: {n} emails in {:.2} s = {:.0} emails/s",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64()
    );
    shutdown.cancel();
    host.wait().await.unwrap();
}

async fn store_latency(label: &str, store: Store) {
    let mut lat = Vec::new();
    for i in 0..500 {
        let e = vigil::events::Event {
            name: "bench".into(),
            source: "host".into(),
            at: chrono::Utc::now(),
            data: serde_json::json!({"i": i}),
            depth: 0,
        };
        let t0 = Instant::now();
        store.append_events(&[e]).await.unwrap();
        lat.push(t0.elapsed());
    }
    let mut kv = Vec::new();
    for i in 0..500 {
        let t0 = Instant::now();
        store.kv_set("bench", "k", serde_json::json!(i)).await.unwrap();
        kv.push(t0.elapsed());
    }
    println!(
        "store write latency, {label}: event {:.3} ms, kv_set {:.3} ms (median of 500)",
        ms(median(lat)),
        ms(median(kv))
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let smtp = SmtpServer::start(0);
        println!("per email to a local SMTP server ({N} emails, median):");
        println!("  lettre pooled transport: {:.2} ms", ms(lettre_transport(smtp.port).await));
        println!("  vigil mailer (TCP_NODELAY): {:.2} ms", ms(vigil_mailer(smtp.port).await));
        println!("  python smtplib: {:.2} ms", smtplib(smtp.port));
        drop(smtp);
        outbox_throughput().await;
        let dir = tempfile::tempdir().unwrap();
        store_latency("SQLite (file, WAL)", Store::open(None, dir.path()).await.unwrap()).await;
        match vigil_tests::pg::fresh_database() {
            Some(url) => {
                store_latency("PostgreSQL (local, fsync off)", Store::open(Some(&url), dir.path()).await.unwrap()).await
            }
            None => println!("store write latency, PostgreSQL: skipped (no VIGIL_TEST_POSTGRES_URL)"),
        }
    });
}
