//! The cluster's SQL on a real PostgreSQL (`VIGIL_TEST_POSTGRES_URL`, as tests/run sets; the
//! test is skipped without it outside CI), with a recording stand-in for the session manager:
//! leases spread evenly, a write under a stale epoch is refused, a host that loses its
//! database kills its browsers before its leases expire, and another host takes them over
//! with epoch + 1.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::*;
use crate::config::{ClusterConfig, HumanDuration};
use crate::events::EventBus;
use crate::sessions::{BackupInfo, SessionError, SessionRecord, SessionRecords, SessionStatus};
use crate::store::Store;

#[derive(Default)]
struct Recorder {
    started: Mutex<Vec<String>>,
    killed: Mutex<Vec<(String, Instant)>>,
}

#[async_trait]
impl SessionRunner for Recorder {
    async fn adopt(&self, _: SessionRecord) -> Result<(), SessionError> {
        Ok(())
    }
    fn start(&self, id: &str) -> Result<(), SessionError> {
        self.started.lock().unwrap().push(id.into());
        Ok(())
    }
    async fn stop(&self, _: &str) -> Result<(), SessionError> {
        Ok(())
    }
    fn kill(&self, id: &str) {
        self.killed.lock().unwrap().push((id.into(), Instant::now()));
    }
    fn session_dir(&self, id: &str) -> PathBuf {
        std::env::temp_dir().join("vigil-cluster-test").join(id)
    }
    async fn archive(&self, id: &str) -> Result<BackupInfo, SessionError> {
        Err(SessionError::NoBackup(format!("{id}: none in this test")))
    }
    fn status(&self, _: &str) -> Option<SessionStatus> {
        Some(SessionStatus::Ready)
    }
}

fn sid(id: &str) -> crate::sessions::SessionId {
    id.parse().unwrap()
}

fn fresh_database() -> Option<String> {
    let Ok(admin) = std::env::var("VIGIL_TEST_POSTGRES_URL") else {
        assert!(std::env::var_os("CI").is_none(), "CI must provide VIGIL_TEST_POSTGRES_URL");
        eprintln!("skipped: set VIGIL_TEST_POSTGRES_URL (tests/run does)");
        return None;
    };
    let name = format!("vigil_cluster_u{}", std::process::id());
    let out = std::process::Command::new("psql")
        .arg(&admin)
        .args(["-qc", &format!("CREATE DATABASE {name}")])
        .output()
        .expect("psql runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    Some(format!("{}/{name}", admin.rsplit_once('/').unwrap().0))
}

fn config(node: &str) -> ClusterConfig {
    ClusterConfig {
        enabled: true,
        node_id: Some(node.into()),
        max_sessions: 4,
        lease_ttl: HumanDuration(Duration::from_secs(3)),
        ..ClusterConfig::default()
    }
}

async fn join(url: &str, node: &str) -> (Store, Cluster, Arc<FencedRecords>, Arc<Recorder>) {
    let store = Store::open(Some(url), std::path::Path::new("/nonexistent")).await.unwrap();
    let (records, refused) = FencedRecords::new(store.clone());
    let runner = Arc::new(Recorder::default());
    let cluster =
        Cluster::start(&config(node), store.clone(), &records, refused, runner.clone(), EventBus::new()).await.unwrap();
    (store, cluster, Arc::new(records), runner)
}

async fn until(within: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_spread_fence_on_database_loss_and_move_with_a_new_epoch() {
    let Some(url) = fresh_database() else { return };
    let setup = Store::open(Some(&url), std::path::Path::new("/nonexistent")).await.unwrap();
    assert!(Cluster::check(&config("x"), &Store::memory().await).unwrap_err().to_string().contains("PostgreSQL"));
    for id in ["s1", "s2", "s3", "s4"] {
        setup.upsert(&SessionRecord::new(&sid(id), None, chrono::Utc::now())).await.unwrap();
    }
    let (xs, x, xr, xrun) = join(&url, "x").await;
    let (_ys, y, yr, yrun) = join(&url, "y").await;
    until(Duration::from_secs(10), "two leases each", || x.held().len() == 2 && y.held().len() == 2).await;
    until(Duration::from_secs(5), "x starts its two", || xrun.started.lock().unwrap().len() == 2).await;

    // A host writes only the sessions it holds.
    let theirs = y.held()[0].0.clone();
    let mine = x.held()[0].0.clone();
    let err = xr.upsert(&SessionRecord::new(&sid(&theirs), None, chrono::Utc::now())).await.unwrap_err();
    assert!(err.to_string().contains("refused"), "{err}");
    until(Duration::from_secs(2), "a refused write kills that session here", || {
        xrun.killed.lock().unwrap().iter().any(|(k, _)| *k == theirs)
    })
    .await;
    xr.upsert(&SessionRecord::new(&sid(&mine), Some("x".into()), chrono::Utc::now())).await.unwrap();

    // x loses its database: it kills both browsers before its leases expire.
    let x_held = x.held();
    xs.close().await;
    let lost_at = Instant::now();
    let fenced = |id: &str| xrun.killed.lock().unwrap().iter().any(|(k, at)| k == id && *at >= lost_at);
    until(Duration::from_secs(5), "x fences itself", || x_held.iter().all(|(id, _)| fenced(id))).await;
    let live: i64 =
        sqlx::query_scalar(concat!("SELECT COUNT(*) FROM leases WHERE node = 'x' AND expires_ms > ", now_ms!()))
            .fetch_one(setup.pool())
            .await
            .unwrap();
    assert_eq!(live, 2, "x's browsers died while its leases still held (killed after {:?})", lost_at.elapsed());

    // y takes them over with epoch + 1; a write under x's old epoch is refused.
    until(Duration::from_secs(10), "y holds all four", || y.held().len() == 4).await;
    for (id, epoch) in &x_held {
        let now = y.held().into_iter().find(|(s, _)| s == id).unwrap().1;
        assert_eq!(now, epoch + 1, "{id}");
    }
    until(Duration::from_secs(5), "y starts all four", || yrun.started.lock().unwrap().len() == 4).await;
    let (stale, _) = FencedRecords::new(setup.clone());
    stale.epochs.set(&x_held[0].0, x_held[0].1);
    let err = stale.upsert(&SessionRecord::new(&sid(&x_held[0].0), None, chrono::Utc::now())).await.unwrap_err();
    assert!(err.to_string().contains("stale"), "{err}");
    let epoch: i64 = sqlx::query_scalar("SELECT epoch FROM sessions WHERE id = $1")
        .bind(&mine)
        .fetch_one(setup.pool())
        .await
        .unwrap();
    assert_eq!(epoch, x_held.iter().find(|(s, _)| *s == mine).unwrap().1, "the record keeps x's last good write");
    drop(yr);
    y.drain().await;
    let released: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM leases WHERE node IS NULL").fetch_one(setup.pool()).await.unwrap();
    assert_eq!(released, 4, "a drain releases every lease");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_sessions_land_on_the_least_loaded_host() {
    let Some(url) = fresh_database() else { return };
    let setup = Store::open(Some(&url), std::path::Path::new("/nonexistent")).await.unwrap();
    for id in ["s1", "s2", "s3", "s4"] {
        setup.upsert(&SessionRecord::new(&sid(id), None, chrono::Utc::now())).await.unwrap();
    }
    let (_xs, x, _xr, _xrun) = join(&url, "x").await;
    let (_ys, y, _yr, _yrun) = join(&url, "y").await;
    let (_zs, z, _zr, zrun) = join(&url, "z").await;
    let counts = || [x.held().len(), y.held().len(), z.held().len()];
    // Four on three hosts: 2/1/1 (the tie goes to the smallest id).
    until(Duration::from_secs(10), "four placed", || counts().iter().sum::<usize>() == 4).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(counts(), [2, 1, 1], "spread evenly");

    // Created through x (the most loaded): not claimed by x, but by y at its next round.
    setup.upsert(&SessionRecord::new(&sid("n1"), None, chrono::Utc::now())).await.unwrap();
    assert_eq!(x.place_new("n1").await.unwrap(), None, "x is not the least-loaded");
    until(Duration::from_secs(5), "n1 placed", || y.held().iter().any(|(s, _)| s == "n1")).await;
    // Created through z, now the least-loaded: claimed and started at once, before any round.
    setup.upsert(&SessionRecord::new(&sid("n2"), None, chrono::Utc::now())).await.unwrap();
    assert_eq!(z.place_new("n2").await.unwrap().as_deref(), Some("z"));
    assert!(z.held().iter().any(|(s, e)| s == "n2" && *e == 1));
    until(Duration::from_secs(1), "z starts n2", || zrun.started.lock().unwrap().iter().any(|s| s == "n2")).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(counts(), [2, 2, 2], "still even after two creations");
    let report = x.report().await.unwrap();
    assert_eq!(report.nodes.len(), 3);
    assert!(report.nodes.iter().all(|n| n.alive && n.held == 2), "{report:?}");
    let n2 = report.placement.iter().find(|p| p.session == "n2").unwrap();
    assert_eq!((n2.node.as_deref(), n2.epoch), (Some("z"), 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sent_message_record_carries_the_epoch_and_a_stale_one_is_refused() {
    use crate::sessions::sent_log::SentLog;
    let Some(url) = fresh_database() else { return };
    let store = Store::open(Some(&url), std::path::Path::new("/nonexistent")).await.unwrap();
    store.upsert(&SessionRecord::new(&sid("s1"), None, chrono::Utc::now())).await.unwrap();
    let lease = |epoch: i64, node: &str| {
        sqlx::query(
            "INSERT INTO leases (session_id, node, epoch, expires_ms, acquired_ms) VALUES ('s1', $2, $1, 0, 0)
             ON CONFLICT (session_id) DO UPDATE SET epoch = excluded.epoch, node = excluded.node",
        )
        .bind(epoch)
        .bind(node.to_string())
        .execute(store.pool())
    };
    lease(3, "x").await.unwrap();
    let (records, mut refused) = FencedRecords::new(store.clone());
    let sent = records.sent_log();
    // No lease held here: no send.
    let e = sent.check("s1").await.unwrap_err();
    assert!(e.message.contains("holds no lease"), "{e:?}");
    records.epochs.set("s1", 3);
    sent.check("s1").await.unwrap();
    sent.record("s1", "k1", "msg-1").await.unwrap();
    assert_eq!(sent.find("s1", "k1").await.unwrap().as_deref(), Some("msg-1"));
    assert_eq!(sent.find("s1", "k2").await.unwrap(), None);
    let epoch: i64 = sqlx::query_scalar("SELECT epoch FROM sent_messages WHERE session_id = 's1'")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(epoch, 3, "the record carries the epoch");

    // Another host took s1 over (epoch 4): this host's check and record are refused, and the
    // refusal reaches the kill channel.
    lease(4, "y").await.unwrap();
    let e = sent.check("s1").await.unwrap_err();
    assert!(e.message.contains("epoch 3 is stale"), "{e:?}");
    assert_eq!(refused.try_recv().unwrap(), "s1");
    let e = sent.record("s1", "k2", "msg-2").await.unwrap_err();
    assert!(e.message.contains("stale"), "{e:?}");
    assert_eq!(sent.find("s1", "k2").await.unwrap(), None, "nothing recorded under the stale epoch");
    // The new holder's retry of k1 finds the first send; the keys of one session do not
    // collide with another's.
    let (theirs, _) = FencedRecords::new(store.clone());
    theirs.epochs.set("s1", 4);
    let keys = crate::sessions::sent_keys_for_tests(Arc::new(theirs.sent_log()));
    let again = keys.once::<String, _, _>("s1", Some("k1"), || async { Ok("must-not-send".to_string()) }).await;
    assert_eq!(again.unwrap(), "msg-1", "a retry on the new holder answers the first message id");
    let new = keys.once::<String, _, _>("s1", Some("k3"), || async { Ok("msg-3".to_string()) }).await.unwrap();
    assert_eq!(new, "msg-3");
    let row: (String, i64) = sqlx::query_as(
        "SELECT message_id, epoch FROM sent_messages WHERE session_id = 's1' AND idempotency_key = 'k3'",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(row, ("msg-3".to_string(), 4));
}
