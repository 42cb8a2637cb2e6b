//! The store suite, run on SQLite (a file, WAL) and on a real PostgreSQL server.

use std::time::Duration;
use vigil_tests::sid;

use chrono::{DateTime, Utc};
use serde_json::json;
use vigil::store::alerts::{Alert, Email, Raised};
use vigil::store::owners::Owner;
use vigil::store::{Backend, Store};

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn email(to: &str) -> Email {
    Email { to: to.into(), subject: "s".into(), text: "t".into(), html: None }
}

fn alert<'a>(key: &'a str, vars: &'a serde_json::Value, repeat: Duration) -> Alert<'a> {
    Alert {
        key,
        severity: "warning",
        template: "inactive",
        vars,
        repeat_after: repeat,
        email: email("ana@example.com"),
    }
}

async fn kv_and_last_runs(s: Store) {
    assert_eq!(s.kv_get("b", "k").await.unwrap(), None);
    s.kv_set("b", "k", json!({"n": 1, "list": ["a"]})).await.unwrap();
    s.kv_set("b", "k", json!({"n": 2})).await.unwrap();
    s.kv_set("other", "k", json!("x")).await.unwrap();
    assert_eq!(s.kv_get("b", "k").await.unwrap(), Some(json!({"n": 2})));
    assert_eq!(s.kv_get("other", "k").await.unwrap(), Some(json!("x")));
    assert!(s.kv_delete("b", "k").await.unwrap());
    assert!(!s.kv_delete("b", "k").await.unwrap());
    assert_eq!(s.last_run("b", "cron").await.unwrap(), None);
    s.set_last_run("b", "cron", t("2027-03-28T01:00:00Z")).await.unwrap();
    s.set_last_run("b", "cron", t("2027-03-29T00:00:00Z")).await.unwrap();
    assert_eq!(s.last_run("b", "cron").await.unwrap(), Some(t("2027-03-29T00:00:00Z")));
}

async fn alerts_deduplicate_within_the_window(s: Store) {
    let vars = json!({"session": "main"});
    let day = Duration::from_secs(24 * 3600);
    let t0 = t("2027-01-01T10:00:00Z");
    assert!(matches!(s.raise_alert(alert("inactive:main", &vars, day), t0).await.unwrap(), Raised::Queued { .. }));
    let again = s.raise_alert(alert("inactive:main", &vars, day), t0 + chrono::Duration::hours(1)).await.unwrap();
    assert_eq!(again, Raised::Deduplicated { last_sent: t0 });
    let later = s.raise_alert(alert("inactive:main", &vars, day), t0 + chrono::Duration::hours(25)).await.unwrap();
    assert!(matches!(later, Raised::Queued { .. }), "{later:?}");
    let e = s.alert("inactive:main").await.unwrap().unwrap();
    assert_eq!((e.state.as_str(), e.sent_count, e.raised_count), ("firing", 2, 3));
    assert_eq!(e.first_sent, Some(t0));
    assert_eq!(s.outbox(10).await.unwrap().len(), 2);
}

async fn resolve_sends_a_notice_once_and_rearms(s: Store) {
    let vars = json!({"session": "main"});
    let t0 = t("2027-01-01T10:00:00Z");
    assert_eq!(s.resolve_alert("down:main", t0, |_| email("x@example.com")).await.unwrap(), None, "never fired");
    s.raise_alert(alert("down:main", &vars, Duration::from_secs(3600)), t0).await.unwrap();
    let id = s.resolve_alert("down:main", t0, |e| email(&e.recipient)).await.unwrap();
    assert!(id.is_some());
    assert_eq!(s.resolve_alert("down:main", t0, |e| email(&e.recipient)).await.unwrap(), None, "once");
    // Resolved, then raised again within the window: it is a new incident, sent at once.
    let r = s
        .raise_alert(alert("down:main", &vars, Duration::from_secs(3600)), t0 + chrono::Duration::minutes(5))
        .await
        .unwrap();
    assert!(matches!(r, Raised::Queued { .. }), "{r:?}");
    let out = s.outbox(10).await.unwrap();
    assert_eq!(out.len(), 3);
    assert_eq!(out[1].email.to, "ana@example.com");
}

async fn concurrent_raises_queue_one_email(s: Store) {
    let vars = json!({});
    let now = t("2027-01-01T10:00:00Z");
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let s = s.clone();
        let vars = vars.clone();
        tasks.push(tokio::spawn(async move {
            s.raise_alert(alert("race", &vars, Duration::from_secs(3600)), now).await.unwrap()
        }));
    }
    let mut queued = 0;
    for t in tasks {
        if matches!(t.await.unwrap(), Raised::Queued { .. }) {
            queued += 1;
        }
    }
    assert_eq!(queued, 1);
    assert_eq!(s.alert("race").await.unwrap().unwrap().raised_count, 8);
}

async fn outbox_marks_each_email_sent_once(s: Store) {
    let now = t("2027-01-01T10:00:00Z");
    let a = s.queue_email("k1", &email("a@example.com"), now).await.unwrap();
    assert_eq!(s.queue_email("k1", &email("a@example.com"), now).await.unwrap(), a, "idempotent");
    let b = s.queue_email("k2", &email("b@example.com"), now).await.unwrap();
    let due: Vec<i64> = s.outbox_due(now, 10).await.unwrap().iter().map(|e| e.id).collect();
    assert_eq!(due, vec![a, b]);
    s.outbox_failed(b, "connection refused", now + chrono::Duration::seconds(5)).await.unwrap();
    assert_eq!(s.outbox_next_due().await.unwrap(), Some(now));
    assert!(s.outbox_sent(a, now).await.unwrap());
    assert!(!s.outbox_sent(a, now).await.unwrap(), "never marked twice");
    assert!(s.outbox_due(now, 10).await.unwrap().is_empty());
    assert_eq!(s.outbox_next_due().await.unwrap(), Some(now + chrono::Duration::seconds(5)));
    let later = s.outbox_due(now + chrono::Duration::seconds(5), 10).await.unwrap();
    assert_eq!((later[0].id, later[0].attempts, later[0].last_error.as_deref()), (b, 1, Some("connection refused")));
}

async fn events_and_owners(s: Store) {
    let ev = |at: &str, name: &str| vigil::events::Event {
        name: name.into(),
        source: "host".into(),
        at: t(at),
        data: json!({"k": 1}),
        depth: 0,
    };
    s.append_events(&[ev("2027-01-01T00:00:00Z", "old"), ev("2027-02-01T00:00:00Z", "new")]).await.unwrap();
    assert_eq!(s.prune_events(t("2027-01-15T00:00:00Z")).await.unwrap(), 1);
    let left = s.recent_events(10).await.unwrap();
    assert_eq!((left.len(), left[0].name.as_str(), &left[0].data), (1, "new", &json!({"k": 1})));
    let o = Owner {
        email: "ana@example.com".into(),
        full_name: "Ana".into(),
        timezone: Some("Europe/Madrid".into()),
        updated: t("2027-01-01T00:00:00Z"),
    };
    s.upsert_owner(&o).await.unwrap();
    s.upsert_owner(&Owner { full_name: "Ana María".into(), ..o.clone() }).await.unwrap();
    assert_eq!(s.owner("ana@example.com").await.unwrap().unwrap().full_name, "Ana María");
    assert_eq!(s.owners().await.unwrap().len(), 1);
}

async fn sqlite() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(None, dir.path()).await.unwrap();
    assert_eq!(s.backend(), Backend::Sqlite);
    assert!(dir.path().join("vigil.db").exists());
    (s, dir)
}

async fn postgres() -> Option<Store> {
    let url = vigil_tests::pg::fresh_database()?;
    let s = Store::open(Some(&url), std::path::Path::new("/nonexistent")).await.unwrap();
    assert_eq!(s.backend(), Backend::Postgres);
    Some(s)
}

async fn owners_own_sessions_and_are_deleted(s: Store) {
    let now = t("2027-01-01T10:00:00Z");
    for email in ["ana@example.com", "bo@example.com"] {
        let o = Owner { email: email.into(), full_name: "X".into(), timezone: None, updated: now };
        s.upsert_owner(&o).await.unwrap();
    }
    s.set_owner_sessions("ana@example.com", &["main".into(), "sales".into()]).await.unwrap();
    assert_eq!(s.session_owner("main").await.unwrap().as_deref(), Some("ana@example.com"));
    // A session has one owner: giving it to bo takes it from ana; ana's list is replaced.
    s.set_owner_sessions("bo@example.com", &["sales".into()]).await.unwrap();
    s.set_owner_sessions("ana@example.com", &["main".into()]).await.unwrap();
    let links = s.session_owners().await.unwrap();
    assert_eq!(links.get("main").map(String::as_str), Some("ana@example.com"));
    assert_eq!(links.get("sales").map(String::as_str), Some("bo@example.com"));
    s.unlink_session("sales").await.unwrap();
    assert_eq!(s.session_owner("sales").await.unwrap(), None);
    assert!(s.delete_owner("ana@example.com").await.unwrap());
    assert!(!s.delete_owner("ana@example.com").await.unwrap());
    assert_eq!(s.session_owner("main").await.unwrap(), None, "the owner's links go with them");
    assert_eq!(s.owners().await.unwrap().len(), 1);
}

async fn session_records_keep_the_site_versions(s: Store) {
    use vigil::sessions::{SessionRecord, SessionRecords};
    let mut r = SessionRecord::new(&sid("main"), None, t("2027-01-04T10:00:00Z"));
    r.site_version = Some("2.3000.2".into());
    r.healthy_site_version = Some("2.3000.1".into());
    s.upsert(&r).await.unwrap();
    r.site_version = Some("2.3000.3".into());
    s.upsert(&r).await.unwrap();
    let all = s.load_all().await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].site_version.as_deref(), Some("2.3000.3"));
    assert_eq!(all[0].healthy_site_version.as_deref(), Some("2.3000.1"));
}

/// Each session's history: status changes in order, messages summed per hour, memory
/// samples merged per step (mean, max); read from `since`; pruned by age keeping the status
/// a timeline starts in; a removed session's history deleted.
async fn history_is_compact_and_pruned(s: Store) {
    let step = Duration::from_secs(300);
    let at = |m: i64| t("2027-01-01T10:00:00Z") + chrono::Duration::minutes(m);
    s.record_status("main", at(0), "starting", None).await.unwrap();
    s.record_status("main", at(1), "ready", None).await.unwrap();
    s.record_status("main", at(90), "disconnected", Some("phone offline")).await.unwrap();
    s.record_status("other", at(2), "qr", None).await.unwrap();
    for (m, sent, acked) in [(5, 1, 0), (6, 1, 1), (40, 1, 0), (70, 1, 1)] {
        s.count_messages("main", at(m), sent, acked).await.unwrap();
    }
    for (m, mb) in [(0, 100), (2, 300), (4, 200), (7, 150)] {
        s.record_memory("main", at(m) + chrono::Duration::seconds(1), step, mb << 20).await.unwrap();
    }
    let h = s.history("main", at(0)).await.unwrap();
    assert_eq!(h.status_at_since, None);
    let st: Vec<_> = h.status.iter().map(|c| (c.status.as_str(), c.reason.as_deref())).collect();
    assert_eq!(st, [("starting", None), ("ready", None), ("disconnected", Some("phone offline"))]);
    let msgs: Vec<_> = h.messages.iter().map(|m| (m.hour, m.sent, m.acked)).collect();
    assert_eq!(msgs, [(at(0), 3, 1), (at(60), 1, 1)], "per hour");
    let mem: Vec<_> = h.memory.iter().map(|m| (m.at, m.samples, m.avg_bytes >> 20, m.max_bytes >> 20)).collect();
    assert_eq!(mem, [(at(0), 3, 200, 300), (at(5), 1, 150, 150)], "per 5-minute step");
    // From later on: the status then, and only what came after.
    let later = s.history("main", at(30)).await.unwrap();
    assert_eq!(later.status_at_since.as_deref(), Some("ready"));
    assert_eq!(later.status.len(), 1);
    assert!(later.memory.is_empty());
    assert_eq!(later.messages.len(), 2, "the hour `since` is in counts");
    assert_eq!(s.history("other", at(0)).await.unwrap().status.len(), 1, "per session");

    // Pruned before 11:30: main's status before then is kept (the timeline's start), the
    // 10:00 hour and the memory go, the 11:00 hour (not over yet at 11:30) stays.
    let pruned = s.prune_history(at(90)).await.unwrap();
    assert_eq!(pruned, 1 + 1 + 2, "starting, the 10:00 hour, two memory buckets");
    let h = s.history("main", at(0)).await.unwrap();
    let st: Vec<_> = h.status.iter().map(|c| c.status.as_str()).collect();
    assert_eq!(st, ["ready", "disconnected"]);
    assert_eq!(h.messages.len(), 1);
    assert!(h.memory.is_empty());
    assert_eq!(s.history("other", at(0)).await.unwrap().status.len(), 1, "other's only status is kept");

    s.delete_history("main").await.unwrap();
    let h = s.history("main", at(0)).await.unwrap();
    assert!(h.status.is_empty() && h.messages.is_empty() && h.memory.is_empty());
    assert_eq!(s.history("other", at(0)).await.unwrap().status.len(), 1);
}

macro_rules! both {
    ($($name:ident),*) => {
        mod on_sqlite { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { let (s, _d) = super::sqlite().await; super::$name(s).await; } )* }
        mod on_postgres { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { if let Some(s) = super::postgres().await { super::$name(s).await; } } )* }
    };
}

both!(
    kv_and_last_runs,
    alerts_deduplicate_within_the_window,
    resolve_sends_a_notice_once_and_rearms,
    concurrent_raises_queue_one_email,
    outbox_marks_each_email_sent_once,
    events_and_owners,
    owners_own_sessions_and_are_deleted,
    session_records_keep_the_site_versions,
    history_is_compact_and_pruned
);

#[tokio::test]
async fn a_bad_url_is_refused_without_the_password() {
    let e = Store::open(Some("mysql://u:secret@h/db"), std::path::Path::new(".")).await.unwrap_err().to_string();
    assert!(e.contains("sqlite://") && !e.contains("secret"), "{e}");
    let e = Store::open(Some("postgres://u:secret@127.0.0.1:1/db"), std::path::Path::new("."))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("u:***@127.0.0.1:1") && !e.contains("secret"), "{e}");
}

#[tokio::test]
async fn reopening_a_sqlite_file_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(None, dir.path()).await.unwrap();
    s.kv_set("b", "k", json!(1)).await.unwrap();
    s.close().await;
    let s = Store::open(None, dir.path()).await.unwrap();
    assert_eq!(s.kv_get("b", "k").await.unwrap(), Some(json!(1)));
}
