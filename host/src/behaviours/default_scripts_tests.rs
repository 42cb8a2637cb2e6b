//! The default behaviours in `scripts/`, each alone on a paused clock against in-memory
//! sessions, with the original system's numbers.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Timelike, Utc};
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::config::Config;
use crate::events::Event;
use crate::sessions::memory::MemorySessions;
use crate::sessions::SessionStatus;
use crate::store::Store;
use crate::{Host, HostParts};

const START: &str = "2027-01-04T10:00:00Z";

fn repo_scripts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts")
}

struct T {
    _dir: tempfile::TempDir,
    host: Host,
    sessions: Arc<MemorySessions>,
    events: tokio::sync::broadcast::Receiver<Event>,
    shutdown: CancellationToken,
    start: DateTime<Utc>,
}

/// Runs `scripts/<name>.rhai` alone, with `config` laid over the defaults.
async fn run(name: &str, config: &str, setup: impl FnOnce(&MemorySessions)) -> T {
    let dir = tempfile::tempdir().unwrap();
    let scripts = dir.path().join("scripts");
    std::fs::create_dir_all(&scripts).unwrap();
    std::fs::copy(repo_scripts().join(format!("{name}.rhai")), scripts.join(format!("{name}.rhai"))).unwrap();
    let text = format!(
        "data_dir = {:?}\nscripts_dir = {:?}\nseed = 11\n[alerts]\nto = [\"ops@example.com\"]\nlogin_url = \"https://vigil.example.com/settings\"\ntemplates_dir = {:?}\n",
        dir.path().join("data"),
        scripts,
        repo_scripts().join("templates")
    );
    // Top-level keys of `config` must come before any table.
    let top: Vec<&str> = config.lines().take_while(|l| !l.starts_with('[')).collect();
    let tables: Vec<&str> = config.lines().skip_while(|l| !l.starts_with('[')).collect();
    let text = format!("{}\n{text}{}\n", top.join("\n"), tables.join("\n"));
    let config: Config = crate::config::load::parse_with_env(&text, "vigil.toml", Vec::new()).unwrap();
    let start: DateTime<Utc> = START.parse().unwrap();
    let clock = Clock::starting_at(start);
    let sessions = Arc::new(MemorySessions::with_clock(clock.clone()));
    setup(&sessions);
    let parts =
        HostParts { clock, sessions: sessions.clone(), store: Some(Store::memory().await), watch: false, bus: None };
    let shutdown = CancellationToken::new();
    let host = Host::start(config, parts, shutdown.clone()).await.unwrap();
    let events = host.bus().subscribe();
    let view = host.behaviours();
    assert!(view[0].load_error.is_none(), "{:?}", view[0].load_error);
    T { _dir: dir, host, sessions, events, shutdown, start }
}

impl T {
    /// Lets `d` of virtual time pass.
    async fn pass(&self, d: Duration) {
        tokio::time::sleep(d).await;
    }

    fn minutes_since_start(&self, t: DateTime<Utc>) -> f64 {
        (t - self.start).num_milliseconds() as f64 / 60_000.0
    }

    async fn outbox(&self) -> Vec<crate::store::alerts::OutboxEntry> {
        let mut v = self.host.store().outbox(100).await.unwrap();
        v.reverse();
        v
    }

    fn drain(&mut self, name: &str) -> Vec<Event> {
        let mut v = Vec::new();
        while let Ok(e) = self.events.try_recv() {
            if e.name == name {
                v.push(e);
            }
        }
        v
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.host.wait().await.unwrap();
    }
}

fn min(m: u64) -> Duration {
    Duration::from_secs(m * 60)
}

#[tokio::test(start_paused = true)]
async fn keepalive_sends_one_of_the_seed_messages_every_55_to_65_minutes() {
    let t = run("keepalive", "[behaviours.keepalive.params]\nto = \"+34 600 000 000\"\n", |s| {
        s.add("a-conflict", SessionStatus::Ready, "CONFLICT");
        s.add("b-main", SessionStatus::Ready, "CONNECTED");
        s.add("c-qr", SessionStatus::Qr, "UNPAIRED");
    })
    .await;
    t.pass(min(10 + 65 * 20)).await;
    let sent = t.sessions.sent();
    assert!(sent.len() >= 20, "{} sent", sent.len());
    let first = t.minutes_since_start(sent[0].at);
    assert!((1.0..=10.0).contains(&first), "first after {first} min");
    for w in sent.windows(2) {
        let gap = (w[1].at - w[0].at).num_milliseconds() as f64 / 60_000.0;
        assert!((55.0..=65.0).contains(&gap), "gap {gap} min");
    }
    let source = std::fs::read_to_string(repo_scripts().join("keepalive.rhai")).unwrap();
    for m in &sent {
        assert_eq!(
            (m.session.as_str(), m.to.as_str()),
            ("b-main", "34600000000@c.us"),
            "the first ready CONNECTED session"
        );
        assert!(source.contains(&format!("\"{}\"", m.text)), "one of the seed's messages: {}", m.text);
    }
    t.stop().await;
}

#[tokio::test(start_paused = true)]
async fn keepalive_skips_with_a_warning_when_no_session_is_connected_or_no_number_is_set() {
    let mut t = run("keepalive", "[behaviours.keepalive.params]\nto = \"+34 600 000 000\"\n", |s| {
        s.add("a", SessionStatus::Ready, "TIMEOUT");
    })
    .await;
    t.pass(min(11)).await;
    assert!(t.sessions.sent().is_empty());
    assert_eq!(t.drain("keepalive.skipped").len(), 1);
    t.stop().await;
    let t = run("keepalive", "", |s| s.add("a", SessionStatus::Ready, "CONNECTED")).await;
    t.pass(min(11)).await;
    assert!(t.sessions.sent().is_empty(), "no default number");
    let trace = t.host.behaviours()[0].traces.last().cloned().unwrap();
    assert!(trace.calls.iter().any(|c| c.call == "log" && c.detail.contains("no target number")), "{trace:?}");
    t.stop().await;
}

#[tokio::test(start_paused = true)]
async fn heartbeat_touches_sessions_that_answer_every_two_minutes() {
    let t = run("heartbeat", "", |s| {
        s.add("up", SessionStatus::Ready, "CONNECTED");
        s.add("hung", SessionStatus::Ready, "CONNECTED");
        s.set_answering("hung", false);
    })
    .await;
    t.pass(Duration::from_secs(121)).await;
    let seen = t.sessions.info("up").unwrap().last_seen.expect("touched");
    assert_eq!(t.minutes_since_start(seen).round(), 2.0);
    assert!(t.sessions.info("hung").unwrap().last_seen.is_none());
    t.pass(min(2)).await;
    assert_eq!(t.minutes_since_start(t.sessions.info("up").unwrap().last_seen.unwrap()).round(), 4.0);
    t.stop().await;
}

#[tokio::test(start_paused = true)]
async fn watchdog_restarts_a_hung_page_at_once_and_a_wrong_state_after_the_grace_time() {
    let t = run("watchdog", "", |s| {
        s.add("hung", SessionStatus::Ready, "CONNECTED");
        s.set_answering("hung", false);
        s.add("conflict", SessionStatus::Ready, "CONFLICT");
        s.add("unpaired", SessionStatus::Ready, "UNPAIRED");
        s.add("fine", SessionStatus::Ready, "CONNECTED");
    })
    .await;
    t.pass(Duration::from_secs(61)).await;
    let r = t.sessions.actions_of("restart");
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0].session, "hung");
    assert!(r[0].detail.contains("did not answer"), "{}", r[0].detail);
    // CONFLICT: first seen at 1 min; restarted once 3 min have passed (at 4 min), not before.
    t.pass(min(2)).await;
    assert!(t.sessions.actions_of("restart").iter().all(|a| a.session != "conflict"), "not within the grace time");
    t.pass(min(2)).await;
    let c: Vec<_> = t.sessions.actions_of("restart").into_iter().filter(|a| a.session == "conflict").collect();
    assert_eq!(c.len(), 1);
    assert_eq!(t.minutes_since_start(c[0].at).round(), 4.0);
    assert!(t.sessions.actions_of("restart").iter().all(|a| a.session != "unpaired" && a.session != "fine"));
    t.stop().await;
}

#[tokio::test(start_paused = true)]
async fn activity_moves_the_mouse_on_each_ready_session_every_30_seconds() {
    let t = run("activity", "", |s| {
        s.add("a", SessionStatus::Ready, "CONNECTED");
        s.add("b", SessionStatus::Ready, "CONNECTED");
        s.add("q", SessionStatus::Qr, "UNPAIRED");
    })
    .await;
    t.pass(Duration::from_secs(5 * 60 + 1)).await;
    let a = t.sessions.actions_of("activity");
    assert_eq!(a.iter().filter(|x| x.session == "a").count(), 10);
    assert_eq!(a.iter().filter(|x| x.session == "b").count(), 10);
    assert!(a.iter().all(|x| x.session != "q"));
    t.stop().await;
}

#[tokio::test(start_paused = true)]
async fn monitor_emails_inactivity_at_most_once_a_day() {
    let six_days_ago: DateTime<Utc> = "2026-12-29T10:00:00Z".parse().unwrap();
    let t = run("monitor", "", |s| {
        s.add("idle", SessionStatus::Ready, "CONNECTED");
        s.set_last_seen("idle", six_days_ago);
        s.add("busy", SessionStatus::Ready, "CONNECTED");
    })
    .await;
    t.sessions.set_last_seen("busy", t.start);
    t.pass(min(61)).await;
    let out = t.outbox().await;
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].email.to, "ops@example.com");
    assert!(out[0].email.subject.contains("6 días"), "{}", out[0].email.subject);
    assert!(out[0].email.text.contains("Sesión inactiva por 6 días"), "{}", out[0].email.text);
    t.pass(min(60 * 22)).await;
    assert_eq!(t.outbox().await.len(), 1, "not again within 24 h");
    t.pass(min(60 * 2)).await;
    assert_eq!(t.outbox().await.len(), 2, "again after 24 h");
    t.stop().await;
}

#[tokio::test(start_paused = true)]
async fn monitor_marks_a_disconnected_session_error_and_sends_the_seed_fields() {
    let t = run("monitor", "", |s| {
        s.add("gone", SessionStatus::Ready, "UNPAIRED");
        s.add("dead", SessionStatus::Ready, "CONNECTED");
        s.set_answering("dead", false);
        s.add("conflict", SessionStatus::Ready, "CONFLICT");
    })
    .await;
    t.pass(min(61)).await;
    let gone = t.sessions.info("gone").unwrap();
    assert_eq!(gone.status, SessionStatus::Error);
    assert!(gone.error.unwrap().contains("UNPAIRED"));
    assert_eq!(t.sessions.info("dead").unwrap().status, SessionStatus::Error);
    assert_eq!(t.sessions.info("conflict").unwrap().status, SessionStatus::Ready, "page answers: left to the watchdog");
    let out = t.outbox().await;
    assert_eq!(out.len(), 2, "{out:?}");
    let e = out.iter().find(|e| e.email.text.contains("gone")).expect("email about `gone`").email.clone();
    for field in [
        "Hola Usuario",
        "\"gone\"",
        "N/A",
        "Motivo: WhatsApp dice UNPAIRED",
        "Hora: 2027-01-04 11:00 UTC",
        "https://vigil.example.com/settings",
    ] {
        assert!(e.text.contains(field), "missing {field:?} in:\n{}", e.text);
    }
    assert!(e.html.unwrap().contains("<strong>gone</strong>"));
    t.stop().await;
}

#[tokio::test(start_paused = true)]
async fn health_alerts_when_the_disk_is_short_and_reports_every_five_minutes() {
    let mut t = run("health", "[behaviours.health.params]\nmin_free_mb = 1000000000\n", |_| {}).await;
    t.pass(Duration::from_secs(5 * 60 + 1)).await;
    let h = t.drain("health");
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].data["ok"], false);
    let out = t.outbox().await;
    assert_eq!(out.len(), 1);
    assert!(out[0].email.text.contains("MB free on the data volume"), "{}", out[0].email.text);
    t.pass(min(10)).await;
    assert_eq!(t.outbox().await.len(), 1, "repeated at most every 6 h");
    t.stop().await;
}

#[tokio::test(start_paused = true)]
async fn backup_runs_every_night_at_two_in_the_configured_timezone() {
    let t = run("backup", "timezone = \"Europe/Madrid\"\n", |s| {
        s.add("main", SessionStatus::Ready, "CONNECTED");
        s.add("new", SessionStatus::Qr, "UNPAIRED");
    })
    .await;
    t.pass(min(60 * 24 * 3)).await;
    let b = t.sessions.actions_of("backup");
    assert_eq!(b.len(), 3, "{b:?}");
    for x in &b {
        assert_eq!(x.session, "main");
        let local = x.at.with_timezone(&chrono_tz::Europe::Madrid);
        assert_eq!((local.hour(), local.minute()), (2, 0));
    }
    t.stop().await;
}

#[tokio::test(start_paused = true)]
async fn cleanup_stops_a_session_waiting_for_a_scan_too_long() {
    let t = run("cleanup", "", |s| {
        s.add("waiting", SessionStatus::Qr, "UNPAIRED");
        s.add("main", SessionStatus::Ready, "CONNECTED");
    })
    .await;
    t.pass(min(61)).await;
    assert!(t.sessions.actions_of("mark").is_empty(), "first sighting only");
    t.pass(min(60)).await;
    let m = t.sessions.actions_of("mark");
    assert_eq!(m.len(), 1);
    assert!(m[0].session == "waiting" && m[0].detail.starts_with("stopped"), "{m:?}");
    t.stop().await;
}

#[tokio::test(start_paused = true)]
async fn cleanup_removes_session_folders_with_no_session_and_keeps_the_others() {
    let mut t = run("cleanup", "", |s| s.add("main", SessionStatus::Ready, "CONNECTED")).await;
    let sessions_dir = t._dir.path().join("data/sessions");
    t.sessions.own_folders_in(&sessions_dir);
    let two_hours_ago = std::time::SystemTime::now() - Duration::from_secs(2 * 3600);
    for name in ["main", "crashed", "being-added", "Not_An_Id"] {
        std::fs::create_dir_all(sessions_dir.join(name).join("profile/Default")).unwrap();
        std::fs::write(sessions_dir.join(name).join("profile/Default/Preferences"), "{}").unwrap();
        if name != "being-added" {
            std::fs::File::open(sessions_dir.join(name)).unwrap().set_modified(two_hours_ago).unwrap();
        }
    }
    t.pass(min(61)).await;
    assert!(!sessions_dir.join("crashed").exists(), "the orphan is removed");
    assert!(sessions_dir.join("main/profile/Default/Preferences").exists(), "a recorded session's folder is kept");
    assert!(sessions_dir.join("being-added").exists(), "a folder younger than orphan_min_age is kept");
    assert!(sessions_dir.join("Not_An_Id").exists(), "a name that is no session id is never touched");
    let removed = t.drain("cleanup.orphans_removed");
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0].data["sessions"], serde_json::json!(["crashed"]));
    t.stop().await;

    // A host that runs no browsers cannot tell an orphan: nothing is removed.
    let t = run("cleanup", "", |s| s.add("main", SessionStatus::Ready, "CONNECTED")).await;
    let sessions_dir = t._dir.path().join("data/sessions");
    std::fs::create_dir_all(sessions_dir.join("other")).unwrap();
    std::fs::File::open(sessions_dir.join("other")).unwrap().set_modified(two_hours_ago).unwrap();
    t.pass(min(61)).await;
    assert!(sessions_dir.join("other").exists());
    t.stop().await;
}

#[tokio::test(start_paused = true)]
async fn monitor_says_when_the_site_version_changed_since_the_session_was_ready() {
    let t = run("monitor", "", |s| {
        s.add("moved", SessionStatus::Ready, "UNPAIRED");
        s.set_site_versions("moved", Some("2.3000.2"), Some("2.3000.1"));
        s.add("same", SessionStatus::Ready, "UNPAIRED");
        s.set_site_versions("same", Some("2.3000.1"), Some("2.3000.1"));
    })
    .await;
    t.pass(min(61)).await;
    let out = t.outbox().await;
    let moved = out.iter().find(|e| e.email.text.contains("\"moved\"")).expect("email about `moved`");
    assert!(moved.email.text.contains("2.3000.1 → 2.3000.2"), "{}", moved.email.text);
    let same = out.iter().find(|e| e.email.text.contains("\"same\"")).expect("email about `same`");
    assert!(!same.email.text.contains("cambió de versión"), "{}", same.email.text);
    t.stop().await;
}

#[tokio::test(start_paused = true)]
async fn monitor_emails_once_per_site_version_when_the_site_is_incompatible() {
    let t = run("monitor", "", |s| s.add("main", SessionStatus::Error, "")).await;
    let incompatible = |version: &str| Event {
        name: "site.incompatible".into(),
        source: "host".into(),
        at: Utc::now(),
        data: serde_json::json!({
            "session": "main", "version": version, "missing": ["WAWebCmd.Cmd", "WAWebCollections.Msg"],
            "reason": "WhatsApp Web changed",
        }),
        depth: 0,
    };
    t.host.bus().publish(incompatible("2.3000.9"));
    t.pass(Duration::from_secs(1)).await;
    t.host.bus().publish(incompatible("2.3000.9"));
    t.pass(Duration::from_secs(1)).await;
    let out = t.outbox().await;
    assert_eq!(out.len(), 1, "one email per site version: {out:?}");
    let text = &out[0].email.text;
    assert!(
        text.contains("2.3000.9") && text.contains("- WAWebCmd.Cmd") && text.contains("- WAWebCollections.Msg"),
        "{text}"
    );
    t.host.bus().publish(incompatible("2.3000.10"));
    t.pass(Duration::from_secs(1)).await;
    assert_eq!(t.outbox().await.len(), 2, "a new version is news");
    t.stop().await;
}

fn measured(mb: u64, sends_in_flight: u32) -> Option<crate::sessions::Resources> {
    Some(crate::sessions::Resources {
        memory_bytes: mb * 1048576,
        cpu_seconds: 1.0,
        processes: 5,
        sampled_at: START.parse().unwrap(),
        sends_in_flight,
        memory_history: vec![mb * 1048576],
    })
}

#[tokio::test(start_paused = true)]
async fn memory_restarts_once_a_session_over_its_budget_at_a_quiet_moment_and_none_under_it() {
    let mut t = run("memory", "", |s| {
        for id in ["big", "small", "busy"] {
            s.add(id, SessionStatus::Ready, "CONNECTED");
        }
        s.set_resources("big", measured(700, 0));
        s.set_resources("small", measured(150, 0));
        s.set_resources("busy", measured(800, 1));
    })
    .await;
    // Checks every 5 min: over the budget first seen at 5 min, restarted once 15 min have passed.
    t.pass(min(16)).await;
    assert!(t.sessions.actions_of("restart").is_empty(), "not before 15 min over the budget");
    t.pass(min(5)).await;
    let r = t.sessions.actions_of("restart");
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0].session, "big");
    assert!(r[0].detail.contains("700 MB over the budget of 600 MB"), "{}", r[0].detail);
    assert_eq!(t.minutes_since_start(r[0].at).round(), 20.0);
    let ev = t.drain("memory.restarted");
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0].data["session"], "big");
    let traces = t.host.behaviours()[0].traces.clone();
    assert!(
        traces.iter().any(|tr| tr.calls.iter().any(|c| c.call == "restart" && c.detail.contains("budget"))),
        "the trace says why: {traces:?}"
    );
    // After the restart the browser is small again: no second restart; the busy one waits
    // for a quiet moment, then goes.
    t.sessions.set_resources("big", measured(200, 0));
    t.pass(min(30)).await;
    assert_eq!(t.sessions.actions_of("restart").len(), 1, "busy has a send in flight");
    t.sessions.set_resources("busy", measured(800, 0));
    t.pass(min(5)).await;
    let r = t.sessions.actions_of("restart");
    assert_eq!(r.len(), 2, "{r:?}");
    assert_eq!(r[1].session, "busy");
    assert!(r.iter().all(|a| a.session != "small"));
    t.stop().await;
}
