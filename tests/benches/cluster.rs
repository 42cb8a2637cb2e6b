//! Cluster bench: the load lease renewal puts on PostgreSQL. Three in-process cluster hosts
//! (the real placement, renewal and fencing loops; a recording stand-in for the browsers)
//! share 100 sessions on one real PostgreSQL; once all are leased, the database's committed
//! transactions (`pg_stat_database.xact_commit`, every statement of the loops is one) are
//! counted over a window, at lease TTL 15 s and 10 s. Rerun with
//! `VIGIL_TEST_POSTGRES_URL=postgres://USER@HOST:PORT/postgres cargo bench -p vigil-tests --bench cluster`
//! (tests/run starts such a server for the tests; any PostgreSQL you may create databases in).
//! The machine's load average is printed beside the figures.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use vigil::cluster::{Cluster, FencedRecords, SessionRunner};
use vigil::config::{ClusterConfig, HumanDuration};
use vigil::events::EventBus;
use vigil::sessions::{BackupInfo, SessionError, SessionRecord, SessionRecords, SessionStatus};
use vigil::store::Store;

const SESSIONS: usize = 100;
const WINDOW: Duration = Duration::from_secs(30);

struct Simulated;

#[async_trait]
impl SessionRunner for Simulated {
    async fn adopt(&self, _: SessionRecord) -> Result<(), SessionError> {
        Ok(())
    }
    fn start(&self, _: &str) -> Result<(), SessionError> {
        Ok(())
    }
    async fn stop(&self, _: &str) -> Result<(), SessionError> {
        Ok(())
    }
    fn kill(&self, _: &str) {}
    fn session_dir(&self, id: &str) -> PathBuf {
        std::env::temp_dir().join("vigil-cluster-bench").join(id)
    }
    async fn archive(&self, id: &str) -> Result<BackupInfo, SessionError> {
        Err(SessionError::NoBackup(format!("{id}: simulated")))
    }
    fn status(&self, _: &str) -> Option<SessionStatus> {
        Some(SessionStatus::Ready)
    }
}

fn psql(url: &str, q: &str) -> String {
    let out = std::process::Command::new("psql").arg(url).args(["-Atc", q]).output().expect("psql runs");
    assert!(out.status.success(), "{q}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn commits(url: &str) -> i64 {
    psql(url, "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()").parse().unwrap()
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

async fn measure(ttl_s: u64) {
    let url = vigil_tests::pg::fresh_database().expect("set VIGIL_TEST_POSTGRES_URL to a PostgreSQL admin URL");
    let setup = Store::open(Some(&url), Path::new("/nonexistent")).await.unwrap();
    for i in 0..SESSIONS {
        setup
            .upsert(&SessionRecord::new(&vigil_tests::sid(&format!("s{i:03}")), None, chrono::Utc::now()))
            .await
            .unwrap();
    }
    let mut hosts = Vec::new();
    for node in ["a", "b", "c"] {
        let store = Store::open(Some(&url), Path::new("/nonexistent")).await.unwrap();
        let (records, refused) = FencedRecords::new(store.clone());
        let config = ClusterConfig {
            enabled: true,
            node_id: Some(node.into()),
            max_sessions: 50,
            lease_ttl: HumanDuration(Duration::from_secs(ttl_s)),
            ..ClusterConfig::default()
        };
        let c = Cluster::start(&config, store.clone(), &records, refused, Arc::new(Simulated), EventBus::new())
            .await
            .unwrap();
        hosts.push((store, c, records));
    }
    let t0 = Instant::now();
    while hosts.iter().map(|(_, c, _)| c.held().len()).sum::<usize>() < SESSIONS {
        assert!(t0.elapsed() < Duration::from_secs(60), "not all leased within 60s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let placed = t0.elapsed();
    let spread: Vec<usize> = hosts.iter().map(|(_, c, _)| c.held().len()).collect();
    // Past the claims: a steady state of heartbeats and renewals.
    tokio::time::sleep(Duration::from_secs(ttl_s)).await;
    let (before, t) = (commits(&url), Instant::now());
    tokio::time::sleep(WINDOW).await;
    let (after, secs) = (commits(&url), t.elapsed().as_secs_f64());
    // Our own two reads of the counter are in it too; negligible.
    let rate = (after - before) as f64 / secs;
    println!(
        "lease TTL {ttl_s:>2}s, {SESSIONS} sessions on 3 hosts {spread:?} (all leased in {placed:.1?}): \
         {rate:.1} transactions/s on PostgreSQL ({:.2}/s per session); load average {}",
        rate / SESSIONS as f64,
        loadavg()
    );
    for (store, c, _) in hosts {
        c.drain().await;
        store.close().await;
    }
    setup.close().await;
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    for ttl in [15, 10] {
        measure(ttl).await;
    }
}
