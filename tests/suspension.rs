//! A broken behaviour costs almost nothing: failures in a row suspend it (its triggers stop
//! firing) with a backoff that doubles across a streak; a fix on disk or the API resumes it at
//! once; one email per streak; a fire due while the previous run of its trigger still goes is
//! skipped, not queued; and a real `vigil run` with the looping, memory-hungry, trapping and
//! grant-less fixture plugins settles to almost no CPU and almost no log lines.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::broadcast;
use vigil::clock::Clock;
use vigil::events::Event;
use vigil::sessions::memory::MemorySessions;
use vigil::store::Store;
use vigil::HostParts;
use vigil_tests::broken::BrokenHost;
use vigil_tests::smtp::{decoded, SmtpServer};
use vigil_tests::{about, is, TestHost};

const W: Duration = Duration::from_secs(20);

/// Records every event of `rx` from now on.
fn record(mut rx: broadcast::Receiver<Event>) -> Arc<Mutex<Vec<Event>>> {
    let all: Arc<Mutex<Vec<Event>>> = Default::default();
    let sink = all.clone();
    tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(e) => sink.lock().unwrap().push(e),
                Err(broadcast::error::RecvError::Lagged(n)) => panic!("the recorder lagged by {n} events"),
                Err(_) => return,
            }
        }
    });
    all
}

fn named(all: &Arc<Mutex<Vec<Event>>>, name: &str, behaviour: &str) -> Vec<Event> {
    of(&all.lock().unwrap(), name, behaviour)
}

fn of(events: &[Event], name: &str, behaviour: &str) -> Vec<Event> {
    events.iter().filter(|e| about(e, name, behaviour)).cloned().collect()
}

/// Polls `all` until `pred` holds for the events so far.
async fn until(all: &Arc<Mutex<Vec<Event>>>, within: Duration, what: &str, pred: impl Fn(&[Event]) -> bool) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if pred(&all.lock().unwrap()) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out after {within:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const BROKEN: &str = r#"every("200ms", "tick"); fn tick() { throw "broken on purpose" }"#;

#[tokio::test]
async fn a_suspended_behaviour_stops_firing_and_runs_again_at_once_when_fixed_on_disk() {
    let mut h = TestHost::start(&[("bad", BROKEN)], "[limits]\nsuspend_after = 3\nsuspend_backoff = \"1h\"\n").await;
    let rx = std::mem::replace(&mut h.events, h.host.bus().subscribe());
    let all = record(rx);
    until(&all, W, "the suspension", |ev| !of(ev, "behaviour.suspended", "bad").is_empty()).await;
    let s = named(&all, "behaviour.suspended", "bad").remove(0);
    let errors = named(&all, "behaviour.error", "bad");
    assert_eq!(errors.len(), 3, "suspended at the third failure in a row");
    eprintln!(
        "third failure → suspension: {} µs between their events",
        (s.at - errors[2].at).num_microseconds().unwrap_or_default()
    );
    assert_eq!((s.data["name"].as_str(), s.data["failures"].as_u64()), (Some("bad"), Some(3)), "{}", s.data);
    assert!(s.data["last_error"].as_str().unwrap().contains("broken on purpose"), "{}", s.data);
    let until_at: chrono::DateTime<chrono::Utc> = serde_json::from_value(s.data["until"].clone()).unwrap();
    let backoff = (until_at - s.at).num_seconds();
    assert!((3590..=3600).contains(&backoff), "suspended for the 1h backoff: {}", s.data);
    let v = h.view("bad");
    assert_eq!(v.suspended.as_ref().map(|s| s.failures), Some(3), "{:?}", v.suspended);
    // Its triggers stop: no run for a second, and the fires are counted as skipped.
    let runs = v.runs;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let v = h.view("bad");
    assert_eq!(v.runs, runs, "no run while suspended");
    assert!(v.skipped_suspended >= 3, "skipped while suspended: {}", v.skipped_suspended);
    assert_eq!(named(&all, "behaviour.error", "bad").len(), 3);
    // Fixed on disk: resumed at once, and the next fire runs the fix.
    let fixed_at = Instant::now();
    vigil_tests::write_in_place(&h.script("bad"), r#"every("200ms", "tick"); fn tick() { emit("fixed") }"#);
    until(&all, W, "the fix running", |ev| ev.iter().any(|e| is(e, "fixed", "bad"))).await;
    let resumed = named(&all, "behaviour.resumed", "bad");
    assert_eq!(resumed.len(), 1, "{resumed:?}");
    assert_eq!(resumed[0].data["why"], "file_changed");
    eprintln!("fixed file → first good run: {:?}", fixed_at.elapsed());
    assert!(fixed_at.elapsed() < Duration::from_secs(2), "the fix ran {:?} after the save", fixed_at.elapsed());
    let v = h.view("bad");
    assert!(v.suspended.is_none() && v.consecutive_failures == 0, "{:?} {}", v.suspended, v.consecutive_failures);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn the_backoff_doubles_across_a_streak_up_to_its_cap_and_a_success_starts_over() {
    let parts = HostParts {
        clock: Clock::starting_at("2027-01-04T10:00:00Z".parse().unwrap()),
        sessions: Arc::new(MemorySessions::new()),
        store: Some(Store::memory().await),
        watch: false,
        bus: None,
    };
    // Fails while kv `broken` is unset or true; `emit("fix")` from outside is not possible on a
    // paused host without files, so the script fails its first runs and then heals itself.
    let script = r#"
every("10s", "tick");
fn tick() {
    let n = kv_get("n", 0) + 1;
    kv_set("n", n);
    if n <= 9 { throw "failing run " + n }
    if n >= 12 { throw "broken again" }
}
"#;
    let config = "[limits]\nsuspend_after = 2\nsuspend_backoff = \"1m\"\nsuspend_backoff_max = \"4m\"\n";
    let mut h = TestHost::start_with(&[("flaky", script)], config, parts).await;
    let rx = std::mem::replace(&mut h.events, h.host.bus().subscribe());
    let all = record(rx);
    tokio::time::sleep(Duration::from_secs(3 * 3600)).await;
    let suspensions = named(&all, "behaviour.suspended", "flaky");
    let backoffs: Vec<u64> = suspensions.iter().map(|e| e.data["backoff_ms"].as_u64().unwrap() / 1000).collect();
    let streaks: Vec<u64> = suspensions.iter().map(|e| e.data["streak"].as_u64().unwrap()).collect();
    // Runs 1–2 fail → 1 min; each trial (3..=9) fails → 2, 4, 4, 4, 4, 4, 4 min; runs 10–11
    // succeed (the streak ends); 12–13 fail → a new streak at 1 min; its trials 2, 4, … min.
    assert_eq!(&backoffs[..9], &[60, 120, 240, 240, 240, 240, 240, 240, 60], "{backoffs:?}");
    assert_eq!(&streaks[..9], &[1, 2, 3, 4, 5, 6, 7, 8, 1], "{streaks:?}");
    for e in &suspensions {
        let until_at: chrono::DateTime<chrono::Utc> = serde_json::from_value(e.data["until"].clone()).unwrap();
        assert_eq!((until_at - e.at).num_milliseconds() / 1000, e.data["backoff_ms"].as_i64().unwrap() / 1000);
    }
    // Each trial came with `behaviour.resumed` (backoff) and ran at the first fire after `until`.
    let resumed = named(&all, "behaviour.resumed", "flaky");
    assert!(resumed.iter().all(|e| e.data["why"] == "backoff"), "{resumed:?}");
    for w in suspensions.windows(2).take(7) {
        let gap = (w[1].at - w[0].at).num_seconds();
        let backoff = w[0].data["backoff_ms"].as_i64().unwrap() / 1000;
        assert!(gap >= backoff && gap <= backoff + 10, "suspended again {gap}s after a {backoff}s backoff");
    }
    h.stop().await;
}

fn smtp_config(port: u16) -> String {
    let templates = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/templates");
    format!(
        "[smtp]\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"plain\"\nfrom = \"vigil <vigil@example.com>\"\nretry_min = \"200ms\"\nretry_max = \"1s\"\n\
         [alerts]\nto = [\"ops@example.com\"]\ntemplates_dir = {templates:?}\n\
         [limits]\nsuspend_after = 2\nsuspend_backoff = \"300ms\"\nsuspend_backoff_max = \"300ms\"\n"
    )
}

#[tokio::test]
async fn one_suspension_email_per_streak() {
    let smtp = SmtpServer::start(0);
    let mut h =
        TestHost::start(&[("bad", r#"every("100ms", "tick"); fn tick() { throw "v1" }"#)], &smtp_config(smtp.port))
            .await;
    let rx = std::mem::replace(&mut h.events, h.host.bus().subscribe());
    let all = record(rx);
    // A streak of four suspensions (each trial fails again): one email.
    until(&all, W, "four suspensions", |ev| of(ev, "behaviour.suspended", "bad").len() >= 4).await;
    until(&all, W, "the email sent", |ev| ev.iter().any(|e| e.name == "email.sent")).await;
    let msgs = smtp.wait_for(1, W);
    let m = decoded(&msgs[0]);
    assert!(m.contains("To: ops@example.com"), "{m}");
    assert!(m.contains("«bad»") && m.contains("v1"), "{m}");
    until(&all, W, "two more suspensions", |ev| of(ev, "behaviour.suspended", "bad").len() >= 6).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(smtp.messages().len(), 1, "one email for the whole streak");
    // A fix ends the streak; broken again → a new streak, a second email.
    vigil_tests::write_in_place(&h.script("bad"), r#"every("100ms", "tick"); fn tick() { emit("ok") }"#);
    until(&all, W, "a good run", |ev| ev.iter().any(|e| is(e, "ok", "bad"))).await;
    let before = named(&all, "behaviour.suspended", "bad").len();
    vigil_tests::write_in_place(&h.script("bad"), r#"every("100ms", "tick"); fn tick() { throw "v2" }"#);
    until(&all, W, "the second streak", |ev| of(ev, "behaviour.suspended", "bad").len() >= before + 3).await;
    until(&all, W, "the second email sent", |ev| ev.iter().filter(|e| e.name == "email.sent").count() >= 2).await;
    let msgs = smtp.wait_for(2, W);
    let second = decoded(&msgs[1]);
    assert!(second.contains("v2"), "{second}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(smtp.messages().len(), 2, "one email per streak");
    h.stop().await;
}

#[tokio::test]
async fn fires_due_during_a_long_run_are_skipped_and_counted_not_queued() {
    let script = r#"
every("200ms", "slow");
fn slow(ev) {
    let started = now_ms();
    while now_ms() - started < 1000 { }
    emit("ran", #{ late: started - ev.scheduled_ms });
}
"#;
    let config = "[behaviours.slow.limits]\nmax_operations = 100000000000\nmax_cpu_share = \"100%\"\n";
    let mut h = TestHost::start(&[("slow", script)], config).await;
    let rx = std::mem::replace(&mut h.events, h.host.bus().subscribe());
    let all = record(rx);
    until(&all, W, "four runs", |ev| ev.iter().filter(|e| is(e, "ran", "slow")).count() >= 4).await;
    let lates: Vec<i64> =
        all.lock().unwrap().iter().filter(|e| is(e, "ran", "slow")).map(|e| e.data["late"].as_i64().unwrap()).collect();
    let v = h.view("slow");
    eprintln!(
        "runs {}, fires skipped {}, each run's start after its fire's schedule (ms): {lates:?}",
        v.runs, v.skipped_overlap
    );
    // Queued fires would start later and later (each ~800 ms more); skipped ones never do.
    assert!(lates.iter().all(|l| *l < 400), "a run started long after its fire: {lates:?}");
    assert!(v.skipped_overlap >= 3 * 3, "about four fires skipped per run: {}", v.skipped_overlap);
    assert!(v.suspended.is_none(), "max_cpu_share 100 % never suspends it");
    h.stop().await;
}

/// The figure to print and bound: seconds of the measurement window (`VIGIL_TEST_SUSPENDED_WINDOW`,
/// default 30).
fn window() -> Duration {
    let s = std::env::var("VIGIL_TEST_SUSPENDED_WINDOW").ok().and_then(|s| s.parse().ok()).unwrap_or(30);
    Duration::from_secs(s)
}

#[test]
fn broken_plugins_in_a_running_host_are_suspended_and_then_cost_almost_nothing() {
    // 1 s runs so the loop fails five times quickly; a CPU share that five of them cannot pass
    // even on a loaded machine (the CPU share's own suspension is in the bench and unit tests).
    let config =
        "[limits]\nrun_budget = \"1s\"\nmax_cpu_share = \"50%\"\n[behaviours.hog.limits]\nmax_memory = 16777216\n";
    let host = BrokenHost::start(&vigil_tests::vigil_bin(), config);
    let t0 = Instant::now();
    let all_suspended = |s: &serde_json::Value| {
        vigil_tests::broken::BROKEN.iter().all(|(name, _)| {
            s["behaviours"].as_array().into_iter().flatten().any(|b| b["name"] == *name && !b["suspended"].is_null())
        })
    };
    host.wait_until(Duration::from_secs(60), "every broken plugin suspended", all_suspended);
    eprintln!("all four broken plugins suspended {:?} after start", t0.elapsed());
    for (name, _) in vigil_tests::broken::BROKEN {
        let b = host.behaviour(name).unwrap();
        assert_eq!(b["suspended"]["failures"], 5, "{name}: {}", b["suspended"]);
    }
    let m = host.measure(window());
    eprintln!("after suspension: {m}");
    assert!(m.cpu_share < 0.05, "host CPU after suspension: {m}");
    for (name, per_min) in &m.lines_per_min {
        assert!(*per_min < 10.0, "{name} logs {per_min:.0} lines/min: {m}\n{}", host.tail(30));
    }
    // The healthy timer throughout (from start, through the failures, after suspension): on
    // time within 100 ms. On a shared 2-core CI machine another process can delay a wake-up, so
    // the bound is on 95 % of the fires, and every fire must be within 1 s (no queueing).
    let late = host.lateness();
    let mut sorted: Vec<i64> = late.iter().map(|(_, l)| *l).collect();
    sorted.sort();
    let worst = sorted.last().copied().unwrap_or(i64::MAX);
    let p95 = sorted.get(sorted.len() * 95 / 100).copied().unwrap_or(i64::MAX);
    let slow: Vec<String> = late
        .iter()
        .filter(|(_, l)| *l >= 100)
        .map(|(at, l)| format!("{l} ms at {:.1} s", (*at - t0).as_secs_f64()))
        .collect();
    eprintln!(
        "healthy 1 s timer: {} fires, 95 % within {p95} ms, the latest {worst} ms; 100 ms or more: {slow:?}",
        late.len()
    );
    assert!(late.len() as u64 >= t0.elapsed().as_secs() - 5, "the healthy timer fired {} times", late.len());
    assert!(p95 < 100 && worst < 1000, "healthy fires ran late: {slow:?}");
    // Every failure is still in the traces; the log has the repeated error once.
    let lines = host.lines();
    for (name, _) in vigil_tests::broken::BROKEN {
        let b = host.behaviour(name).unwrap();
        assert!(b["traces"].as_array().unwrap().len() >= 5, "{b}");
        let failed =
            lines.iter().filter(|l| l.behaviour() == Some(name) && l.message().starts_with("handler failed")).count();
        assert_eq!(failed, 1, "{name}: its five identical errors are logged once\n{}", host.tail(40));
    }
}

#[tokio::test]
async fn the_api_shows_a_suspension_resumes_it_and_the_metrics_count_it() {
    use vigil_tests::api::{ApiHost, TOKEN};
    let config = "[limits]\nsuspend_after = 2\nsuspend_backoff = \"30m\"\n";
    let mut h =
        ApiHost::start_with(&[("bad", BROKEN), ("good", r#"every("1h", "tick"); fn tick() { }"#)], Some(TOKEN), config)
            .await;
    let rx = std::mem::replace(&mut h.test.events, h.test.host.bus().subscribe());
    let all = record(rx);
    until(&all, W, "the suspension", |ev| !of(ev, "behaviour.suspended", "bad").is_empty()).await;
    let v: serde_json::Value = h.get("/api/behaviours/bad").send().await.unwrap().json().await.unwrap();
    assert_eq!(v["status"], "suspended", "{v}");
    assert_eq!(v["suspended"]["failures"], 2, "{v}");
    assert!(v["suspended"]["until"].is_string(), "{v}");
    let metrics = h.get("/metrics").send().await.unwrap().text().await.unwrap();
    for line in [
        "vigil_behaviour_suspended{behaviour=\"bad\"} 1",
        "vigil_behaviour_suspended{behaviour=\"good\"} 0",
        "vigil_behaviour_suspensions_total{behaviour=\"bad\"} 1",
    ] {
        assert!(metrics.lines().any(|l| l == line), "no `{line}` in:\n{metrics}");
    }
    assert!(metrics.contains("vigil_behaviour_cpu_seconds_total{behaviour=\"bad\"} "), "{metrics}");
    // Resumed by the API: answered with the view, and `behaviour.resumed` says why.
    let r = h.post("/api/behaviours/bad/resume").send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert!(v["suspended"].is_null(), "{v}");
    until(&all, W, "behaviour.resumed", |ev| ev.iter().any(|e| about(e, "behaviour.resumed", "bad"))).await;
    assert_eq!(named(&all, "behaviour.resumed", "bad")[0].data["why"], "api");
    // The trial run fails: suspended again at once, for twice as long.
    until(&all, W, "the second suspension", |ev| of(ev, "behaviour.suspended", "bad").len() == 2).await;
    assert_eq!(named(&all, "behaviour.suspended", "bad")[1].data["backoff_ms"], 3_600_000);
    // Not suspended, or not there: a clear refusal.
    let r = h.post("/api/behaviours/good/resume").send().await.unwrap();
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("not suspended"));
    let r = h.post("/api/behaviours/nope/resume").send().await.unwrap();
    assert_eq!(r.status(), 404);
    h.stop().await;
}

#[tokio::test]
async fn without_its_template_the_suspension_email_is_a_plain_built_in_text() {
    let smtp = SmtpServer::start(0);
    let empty = tempfile::tempdir().unwrap();
    let config = smtp_config(smtp.port).replace(
        &format!("templates_dir = {:?}", std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/templates")),
        &format!("templates_dir = {:?}", empty.path()),
    );
    let mut h = TestHost::start(&[("bad", BROKEN)], &config).await;
    let rx = std::mem::replace(&mut h.events, h.host.bus().subscribe());
    let all = record(rx);
    // (smtp.wait_for blocks the thread: wait on the event first, so the host runs meanwhile.)
    until(&all, W, "the email sent", |ev| ev.iter().any(|e| e.name == "email.sent")).await;
    let m = decoded(&smtp.wait_for(1, W)[0]);
    assert!(m.contains("Subject: [vigil] behaviour `bad` suspended"), "{m}");
    assert!(m.contains("broken on purpose") && m.contains("POST /api/behaviours/bad/resume"), "{m}");
    h.stop().await;
}
