//! The `nodes` table: one row per host, heartbeated every renewal; a node is alive while its
//! heartbeat is younger than the lease TTL.

use serde::Serialize;
use sqlx::{AnyPool, Row};

use super::{db, now_ms, ClusterError};

/// One host of the cluster.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NodeRow {
    pub id: String,
    pub max_sessions: i64,
    pub heartbeat_ms: i64,
    pub draining: bool,
    /// Leases it holds now (unexpired).
    pub held: i64,
    /// Its heartbeat is younger than the TTL.
    pub alive: bool,
}

/// Writes this node's heartbeat (and capacity, draining flag).
pub(crate) async fn heartbeat(pool: &AnyPool, id: &str, max: i64, draining: bool) -> Result<(), ClusterError> {
    sqlx::query(concat!(
        "INSERT INTO nodes (id, max_sessions, started_ms, heartbeat_ms, draining) VALUES ($1, $2, ",
        now_ms!(),
        ", ",
        now_ms!(),
        ", $3) ON CONFLICT (id) DO UPDATE SET max_sessions = excluded.max_sessions, \
         heartbeat_ms = excluded.heartbeat_ms, draining = excluded.draining"
    ))
    .bind(id)
    .bind(max)
    .bind(draining)
    .execute(pool)
    .await
    .map_err(db("heartbeat"))?;
    Ok(())
}

/// Every node, with its live lease count.
pub(crate) async fn all(pool: &AnyPool, ttl_ms: i64) -> Result<Vec<NodeRow>, ClusterError> {
    let rows = sqlx::query(concat!(
        "SELECT n.id, n.max_sessions, n.heartbeat_ms, n.draining, \
         (SELECT COUNT(*) FROM leases l WHERE l.node = n.id AND l.expires_ms > ",
        now_ms!(),
        "), CASE WHEN n.heartbeat_ms > ",
        now_ms!(),
        " - $1 THEN 1 ELSE 0 END FROM nodes n ORDER BY n.id"
    ))
    .bind(ttl_ms)
    .fetch_all(pool)
    .await
    .map_err(db("reading nodes"))?;
    Ok(rows
        .iter()
        .map(|r| NodeRow {
            id: r.get(0),
            max_sessions: r.get(1),
            heartbeat_ms: r.get(2),
            draining: r.get(3),
            held: r.get(4),
            alive: r.get::<i32, _>(5) == 1,
        })
        .collect())
}

/// Removes this node's row (the end of a drain).
pub(crate) async fn remove(pool: &AnyPool, id: &str) -> Result<(), ClusterError> {
    sqlx::query("DELETE FROM nodes WHERE id = $1").bind(id).execute(pool).await.map_err(db("removing the node"))?;
    Ok(())
}
