//! The placement loop of one host: every third of the TTL it heartbeats, renews its leases
//! (a lease not renewed is lost: its browser is killed at once), and claims free leases up to
//! its part of the even spread (`spread`: least-loaded first) within its `max_sessions`. A second
//! task fences: when no renewal succeeded for `ttl - margin` (the database is unreachable, the
//! process was paused), it kills every browser before the leases can expire.
//!
//! The fence counts from the start of the last round that succeeded, not from the moment the
//! database went away: a host cut off kills its browsers `ttl - margin` after that round, so
//! between `ttl - margin - ttl/3` and `ttl - margin` after the cut, and each about `margin`
//! before its leases expire (their `expires_ms` was set by the database a little after the
//! round began). Nothing else stops them first: the session records that fail to be written
//! meanwhile are only logged.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::fence::{load_one, Epochs, FencedRecords};
use super::snapshots::Snapshots;
use super::{leases, nodes, ClusterError, LeaseRow, NodeRow, SessionRunner};
use crate::config::ClusterConfig;
use crate::events::{Event, EventBus};
use crate::sessions::SessionStatus;
use crate::store::{Backend, Store};

/// One host's part in the cluster. Cheap to clone.
#[derive(Clone)]
pub struct Cluster {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub node: String,
    pub max: usize,
    pub ttl: Duration,
    pub store: Store,
    pub epochs: Epochs,
    pub runner: Arc<dyn SessionRunner>,
    pub snapshots: Option<Snapshots>,
    pub snapshot_interval: Duration,
    pub bus: EventBus,
    pub draining: CancellationToken,
    /// Stops the loops (after a drain, or with the host).
    pub stop: CancellationToken,
    /// (session, epoch) already snapshotted after it turned ready.
    pub snapshotted: Mutex<HashSet<(String, i64)>>,
    /// One snapshot at a time per session (a backup's staging folder is per session).
    pub snapshot_turns: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    pub tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Cluster {
    /// Checks the config, then [`FencedRecords`] for the session manager and a function that
    /// starts the cluster once the manager exists.
    pub fn check(config: &ClusterConfig, store: &Store) -> Result<(), ClusterError> {
        if store.backend() != Backend::Postgres {
            return Err(ClusterError::NotPostgres("SQLite"));
        }
        if config.max_sessions == 0 {
            return Err(ClusterError::Config("max_sessions = 0: a host must be able to run one session".into()));
        }
        if config.lease_ttl.0 < Duration::from_secs(3) {
            return Err(ClusterError::Config(format!(
                "lease_ttl = {}: use at least 3s (leases are renewed every third of it)",
                crate::duration::format_duration(config.lease_ttl.0)
            )));
        }
        if let Some(id) = &config.node_id {
            if id.trim().is_empty() {
                return Err(ClusterError::Config(
                    "node_id is empty: name this host, or leave it unset for the hostname".into(),
                ));
            }
        }
        Ok(())
    }

    /// Joins the cluster: registers the node, gives up leases a previous run under the same
    /// id left, and starts the placement and fencing loops.
    pub async fn start(
        config: &ClusterConfig,
        store: Store,
        records: &FencedRecords,
        refused: mpsc::Receiver<String>,
        runner: Arc<dyn SessionRunner>,
        bus: EventBus,
    ) -> Result<Cluster, ClusterError> {
        Self::check(config, &store)?;
        let node = config.node_id.clone().unwrap_or_else(super::hostname);
        let snapshots = match &config.snapshots {
            Some(url) => Some(Snapshots::open(url, store.clone(), config.snapshots_keep)?),
            None => {
                tracing::warn!("[cluster] has no snapshots store: a session that moves to another host needs a new QR");
                None
            }
        };
        nodes::heartbeat(store.pool(), &node, config.max_sessions as i64, false).await?;
        runner.use_sent_log(Arc::new(records.sent_log()));
        let given_up = leases::release_all(store.pool(), &node).await?;
        if given_up > 0 {
            tracing::warn!(node, leases = given_up, "gave up the leases of this node's previous run");
        }
        let cluster = Cluster {
            inner: Arc::new(Inner {
                node: node.clone(),
                max: config.max_sessions,
                ttl: config.lease_ttl.0,
                store,
                epochs: records.epochs.clone(),
                runner,
                snapshots,
                snapshot_interval: config.snapshot_interval.0,
                bus,
                draining: CancellationToken::new(),
                stop: CancellationToken::new(),
                snapshotted: Mutex::new(HashSet::new()),
                snapshot_turns: Mutex::new(HashMap::new()),
                tasks: Mutex::new(Vec::new()),
            }),
        };
        let (valid_tx, valid_rx) = watch::channel(Instant::now() + cluster.inner.ttl);
        let tasks = vec![
            tokio::spawn(cluster.clone().place(valid_tx)),
            tokio::spawn(cluster.clone().fence(valid_rx)),
            tokio::spawn(cluster.clone().on_refused(refused)),
            tokio::spawn(cluster.clone().snapshot_on_ready()),
            tokio::spawn(cluster.clone().snapshot_periodically()),
        ];
        cluster.inner.tasks.lock().expect("tasks").extend(tasks);
        tracing::info!(node, max_sessions = config.max_sessions, ttl = ?cluster.inner.ttl, "joined the cluster");
        cluster.publish("cluster.joined", json!({ "node": node, "max_sessions": config.max_sessions }));
        Ok(cluster)
    }

    pub fn node(&self) -> &str {
        &self.inner.node
    }

    /// The sessions this host holds a lease for, with their epochs.
    pub fn held(&self) -> Vec<(String, i64)> {
        self.inner.epochs.all()
    }

    /// Every node and lease.
    pub async fn status(&self) -> Result<(Vec<NodeRow>, Vec<LeaseRow>), ClusterError> {
        let pool = self.inner.store.pool();
        Ok((nodes::all(pool, self.ttl_ms()).await?, leases::all(pool).await?))
    }

    pub(super) fn ttl_ms(&self) -> i64 {
        self.inner.ttl.as_millis() as i64
    }

    /// Margin of the self-fence: browsers die this long before the leases could expire.
    fn margin(&self) -> Duration {
        (self.inner.ttl / 4).max(Duration::from_millis(750))
    }

    pub(super) fn publish(&self, name: &str, data: serde_json::Value) {
        self.inner.bus.publish(Event {
            name: name.into(),
            source: "host".into(),
            at: crate::clock::Clock::system().now(),
            data,
            depth: 0,
        });
    }

    /// The lease of `id` is gone (lost, fenced): kill the browser, writing nothing.
    fn lose(&self, id: &str, epoch: i64, why: &str) {
        self.inner.epochs.remove(id);
        self.inner.runner.kill(id);
        tracing::warn!(session = id, epoch, node = %self.inner.node, "lease lost ({why}): browser killed");
        self.publish(
            "cluster.lease_lost",
            json!({ "session": id, "epoch": epoch, "node": self.inner.node, "reason": why }),
        );
    }

    async fn place(self, valid: watch::Sender<Instant>) {
        let every = self.inner.ttl / 3;
        let mut first = true;
        loop {
            let sent = Instant::now();
            if let Err(e) = self.round(first).await {
                tracing::warn!(node = %self.inner.node, "cluster round failed: {e}");
            } else {
                // The leases renewed in this round last at least `ttl` from when it began.
                let _ = valid.send(sent + self.inner.ttl);
            }
            first = false;
            tokio::select! {
                _ = self.inner.stop.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
        }
    }

    /// One round: heartbeat, renew, claim. Err: the database did not answer.
    async fn round(&self, first: bool) -> Result<(), ClusterError> {
        let pool = self.inner.store.pool();
        let draining = self.inner.draining.is_cancelled();
        nodes::heartbeat(pool, &self.inner.node, self.inner.max as i64, draining).await?;
        let renewed = leases::renew(pool, &self.inner.node, self.ttl_ms()).await?;
        for (id, epoch) in self.inner.epochs.all() {
            if !renewed.contains(&(id.clone(), epoch)) {
                self.lose(&id, epoch, "not renewed: it expired or another host took it over");
            }
        }
        for (id, epoch) in &renewed {
            if self.inner.epochs.get(id) != Some(*epoch) {
                // Ours in the database but not running here (fenced before): give it up.
                let _ = leases::release(pool, &self.inner.node, id, *epoch).await;
            }
        }
        // The first round only registers the node, so hosts that start together share.
        if draining || first {
            return Ok(());
        }
        let want = self.want().await?;
        for (id, epoch) in leases::claim(pool, &self.inner.node, self.ttl_ms(), want).await? {
            self.inner.epochs.set(&id, epoch);
            tokio::spawn(self.clone().take(id, epoch));
        }
        Ok(())
    }

    /// A lease was claimed: read the record, restore the newest snapshot, start the browser.
    pub(super) async fn take(self, id: String, epoch: i64) {
        let t0 = Instant::now();
        let record = match load_one(&self.inner.store, &id).await {
            Ok(Some(r)) => r,
            Ok(None) => {
                let _ = leases::release(self.inner.store.pool(), &self.inner.node, &id, epoch).await;
                self.inner.epochs.remove(&id);
                return;
            }
            Err(e) => {
                tracing::error!(session = %id, "cannot read the session to take it over: {e}");
                let _ = leases::release(self.inner.store.pool(), &self.inner.node, &id, epoch).await;
                self.inner.epochs.remove(&id);
                return;
            }
        };
        let mut record = record;
        let mut restored = None;
        if let Some(snaps) = &self.inner.snapshots {
            match snaps.restore(&id, &self.inner.runner.session_dir(&id)).await {
                Ok(Some(r)) => {
                    for (key, reason) in &r.refused {
                        tracing::error!(session = %id, key, "snapshot refused: {reason}");
                        self.publish(
                            "session.snapshot_refused",
                            json!({ "session": id, "key": key, "reason": reason }),
                        );
                    }
                    record.linked = true;
                    restored = Some(r);
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(session = %id, "{e}");
                    self.publish("session.snapshot_refused", json!({ "session": id, "reason": e.to_string() }));
                }
            }
        }
        if self.inner.epochs.get(&id) != Some(epoch) {
            return; // lost meanwhile
        }
        if let Err(e) = self.inner.runner.adopt(record).await {
            tracing::error!(session = %id, "cannot take the session over: {e}");
            return;
        }
        if let Some(r) = &restored {
            tracing::info!(session = %id, key = %r.key, bytes = r.bytes, download_ms = r.download_ms, restore_ms = r.restore_ms, "snapshot restored");
            self.publish(
                "session.snapshot_restored",
                json!({ "session": id, "key": r.key, "epoch": r.epoch, "bytes": r.bytes,
                        "download_ms": r.download_ms, "restore_ms": r.restore_ms }),
            );
        }
        if let Err(e) = self.inner.runner.start(&id) {
            tracing::error!(session = %id, "cannot start the session: {e}");
            return;
        }
        tracing::info!(session = %id, epoch, node = %self.inner.node, ms = t0.elapsed().as_millis() as u64, "lease acquired");
        self.publish(
            "cluster.lease_acquired",
            json!({ "session": id, "epoch": epoch, "node": self.inner.node, "restored": restored.is_some(),
                    "prepare_ms": t0.elapsed().as_millis() as u64 }),
        );
    }

    /// Kills every browser once no renewal has succeeded for `ttl - margin`.
    async fn fence(self, mut valid: watch::Receiver<Instant>) {
        loop {
            let deadline = *valid.borrow_and_update() - self.margin();
            tokio::select! {
                _ = self.inner.stop.cancelled() => return,
                _ = valid.changed() => continue,
                _ = tokio::time::sleep_until(deadline) => {}
            }
            if Instant::now() < deadline || valid.has_changed().unwrap_or(false) {
                continue;
            }
            let held = self.inner.epochs.take_all();
            if !held.is_empty() {
                tracing::error!(node = %self.inner.node, sessions = held.len(),
                    "no lease renewal succeeded in time: killing every browser before the leases can expire");
                for (id, epoch) in held {
                    self.lose(&id, epoch, "self-fenced: the leases could not be renewed in time");
                }
            }
            // Wait for a renewal before arming again.
            tokio::select! {
                _ = self.inner.stop.cancelled() => return,
                r = valid.changed() => if r.is_err() { return },
            }
        }
    }

    /// A write was refused for a stale epoch: that session's browser goes at once.
    async fn on_refused(self, mut refused: mpsc::Receiver<String>) {
        loop {
            let id = tokio::select! {
                _ = self.inner.stop.cancelled() => return,
                id = refused.recv() => match id { Some(id) => id, None => return },
            };
            if let Some(epoch) = self.inner.epochs.get(&id) {
                self.lose(&id, epoch, "a write was refused: another host holds a newer epoch");
            } else {
                self.inner.runner.kill(&id);
            }
        }
    }

    /// Takes and uploads a snapshot of `id` under its current epoch.
    pub(super) async fn snapshot(&self, id: &str) -> Result<(), String> {
        let Some(snaps) = &self.inner.snapshots else { return Ok(()) };
        let turn = self.inner.snapshot_turns.lock().expect("snapshot turns").entry(id.to_string()).or_default().clone();
        let _turn = turn.lock().await;
        let Some(epoch) = self.inner.epochs.get(id) else { return Err("this host holds no lease for it".into()) };
        let t0 = Instant::now();
        let archive = self.inner.runner.archive(id).await.map_err(|e| e.to_string())?;
        let archived_ms = t0.elapsed().as_millis() as u64;
        let t1 = Instant::now();
        let row = snaps.upload(id, epoch, &self.inner.node, &archive.path).await.map_err(|e| e.to_string())?;
        let upload_ms = t1.elapsed().as_millis() as u64;
        tracing::info!(session = id, key = %row.key, bytes = row.bytes, archived_ms, upload_ms, "snapshot uploaded");
        self.publish(
            "session.snapshot",
            json!({ "session": id, "key": row.key, "epoch": epoch, "bytes": row.bytes,
                    "archive_ms": archived_ms, "upload_ms": upload_ms }),
        );
        Ok(())
    }

    /// After linking (and after each takeover), a session that turns ready is snapshotted.
    async fn snapshot_on_ready(self) {
        use tokio::sync::broadcast::error::RecvError;
        let mut events = self.inner.bus.subscribe();
        loop {
            let e = tokio::select! {
                _ = self.inner.stop.cancelled() => return,
                e = events.recv() => match e {
                    Ok(e) => e,
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return,
                },
            };
            if e.name != "session.ready" {
                continue;
            }
            let Some(id) = e.data["session"].as_str().map(str::to_string) else { continue };
            let Some(epoch) = self.inner.epochs.get(&id) else { continue };
            if !self.inner.snapshotted.lock().expect("snapshotted").insert((id.clone(), epoch)) {
                continue;
            }
            let me = self.clone();
            tokio::spawn(async move {
                if let Err(e) = me.snapshot(&id).await {
                    tracing::warn!(session = %id, "no snapshot after ready: {e}");
                }
            });
        }
    }

    async fn snapshot_periodically(self) {
        loop {
            tokio::select! {
                _ = self.inner.stop.cancelled() => return,
                _ = tokio::time::sleep(self.inner.snapshot_interval) => {}
            }
            for (id, _) in self.inner.epochs.all() {
                if self.inner.runner.status(&id) == Some(SessionStatus::Ready) {
                    if let Err(e) = self.snapshot(&id).await {
                        tracing::warn!(session = %id, "periodic snapshot failed: {e}");
                    }
                }
            }
        }
    }
}
