//! Drain (SIGTERM in cluster mode): stop claiming, then for every session held here close
//! its browser cleanly, upload its snapshot and release its lease, so the other hosts pick it
//! up at their next round — a rolling deploy needs no rescan.

use serde_json::json;
use tokio::time::Instant;

use super::{leases, nodes, Cluster};

impl Cluster {
    /// Drains this host (see the module's doc), then leaves the cluster.
    pub async fn drain(&self) {
        let t0 = Instant::now();
        self.inner.draining.cancel();
        let held = self.held();
        tracing::info!(node = %self.inner.node, sessions = held.len(), "draining");
        let pool = self.inner.store.pool().clone();
        let _ = nodes::heartbeat(&pool, &self.inner.node, self.inner.max as i64, true).await;
        let mut jobs = Vec::new();
        for (id, epoch) in held {
            let me = self.clone();
            let pool = pool.clone();
            jobs.push(tokio::spawn(async move {
                let t = Instant::now();
                if let Err(e) = me.inner.runner.stop(&id).await {
                    tracing::error!(session = %id, "drain: the browser did not close cleanly: {e}");
                }
                let snapshot = me.snapshot(&id).await;
                if let Err(e) = &snapshot {
                    tracing::error!(session = %id, "drain: no snapshot: {e}");
                }
                me.inner.epochs.remove(&id);
                let released = leases::release(&pool, &me.inner.node, &id, epoch).await.unwrap_or(false);
                let ms = t.elapsed().as_millis() as u64;
                tracing::info!(session = %id, epoch, released, ms, "drained");
                me.publish(
                    "cluster.drained",
                    json!({ "session": id, "epoch": epoch, "node": me.inner.node, "ms": ms,
                            "snapshot": snapshot.is_ok(), "released": released }),
                );
            }));
        }
        for j in jobs {
            let _ = j.await;
        }
        self.inner.stop.cancel();
        let tasks: Vec<_> = self.inner.tasks.lock().expect("tasks").drain(..).collect();
        for t in tasks {
            let _ = t.await;
        }
        let _ = nodes::remove(&pool, &self.inner.node).await;
        tracing::info!(node = %self.inner.node, ms = t0.elapsed().as_millis() as u64, "drained and left the cluster");
    }
}
