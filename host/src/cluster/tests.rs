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
        setup.upsert(&SessionRecord::new(id, None, chrono::Utc::now())).await.unwrap();
    }
    let (xs, x, xr, xrun) = join(&url, "x").await;
    let (_ys, y, yr, yrun) = join(&url, "y").await;
    until(Duration::from_secs(10), "two leases each", || x.held().len() == 2 && y.held().len() == 2).await;
    until(Duration::from_secs(5), "x starts its two", || xrun.started.lock().unwrap().len() == 2).await;

    // A host writes only the sessions it holds.
    let theirs = y.held()[0].0.clone();
    let mine = x.held()[0].0.clone();
    let err = xr.upsert(&SessionRecord::new(&theirs, None, chrono::Utc::now())).await.unwrap_err();
    assert!(err.to_string().contains("refused"), "{err}");
    until(Duration::from_secs(2), "a refused write kills that session here", || {
        xrun.killed.lock().unwrap().iter().any(|(k, _)| *k == theirs)
    })
    .await;
    xr.upsert(&SessionRecord::new(&mine, Some("x".into()), chrono::Utc::now())).await.unwrap();

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
    let err = stale.upsert(&SessionRecord::new(&x_held[0].0, None, chrono::Utc::now())).await.unwrap_err();
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
