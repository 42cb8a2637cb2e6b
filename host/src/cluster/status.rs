//! What `GET /api/cluster` and `vigil cluster status` show: every node (capacity, sessions
//! held, last heartbeat, alive or draining), every lease (session, node, epoch, expiry) and
//! the placement of every session in the store (which node runs it, its status), all read
//! from the database so that any host answers the same.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::{db, leases, nodes, now_ms, Cluster, ClusterError, LeaseRow, NodeRow};

/// The cluster as one host sees it in the database.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct ClusterReport {
    /// `true` (cluster mode is on on the host that answers).
    pub enabled: bool,
    /// The node id of the host that answers.
    pub node: String,
    pub lease_ttl_ms: i64,
    /// The database's clock when this was read (Unix ms), to judge the times below.
    pub now_ms: i64,
    pub nodes: Vec<NodeView>,
    pub leases: Vec<LeaseView>,
    /// Every session in the store, with the node whose live lease runs it (`None`: waiting
    /// for a host with room).
    pub placement: Vec<Placement>,
}

/// One node of [`ClusterReport`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[schema(as = ClusterNode)]
pub struct NodeView {
    pub id: String,
    pub max_sessions: i64,
    /// Live leases it holds.
    pub held: i64,
    pub heartbeat_ms: i64,
    /// How long ago its last heartbeat was.
    pub heartbeat_age_ms: i64,
    /// Heartbeat younger than the lease TTL.
    pub alive: bool,
    /// Draining (SIGTERM): it claims nothing more and gives its sessions up.
    pub draining: bool,
}

/// One lease of [`ClusterReport`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[schema(as = ClusterLease)]
pub struct LeaseView {
    pub session: String,
    /// `None`: released.
    #[schema(required = true)]
    pub node: Option<String>,
    pub epoch: i64,
    pub expires_ms: i64,
    /// Unexpired and held.
    pub live: bool,
}

/// Where one session runs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[schema(as = ClusterPlacement)]
pub struct Placement {
    pub session: String,
    /// The node holding its live lease; `None` when none does.
    #[schema(required = true)]
    pub node: Option<String>,
    /// The epoch of its lease (0: never leased).
    pub epoch: i64,
    /// Its status as last written to the store.
    pub status: String,
}

impl Cluster {
    /// Reads [`ClusterReport`] from the database.
    pub async fn report(&self) -> Result<ClusterReport, ClusterError> {
        let pool = self.inner.store.pool();
        let now: i64 = sqlx::query(concat!("SELECT ", now_ms!()))
            .fetch_one(pool)
            .await
            .map_err(db("reading the database clock"))?
            .get(0);
        let node_rows: Vec<NodeRow> = nodes::all(pool, self.ttl_ms()).await?;
        let lease_rows: Vec<LeaseRow> = leases::all(pool).await?;
        let rows = sqlx::query("SELECT id, status FROM sessions ORDER BY id")
            .fetch_all(pool)
            .await
            .map_err(db("reading the sessions"))?;
        let placement = rows
            .iter()
            .map(|r| {
                let session: String = r.get(0);
                let lease = lease_rows.iter().find(|l| l.session == session);
                Placement {
                    node: lease.filter(|l| l.live).and_then(|l| l.node.clone()),
                    epoch: lease.map(|l| l.epoch).unwrap_or(0),
                    status: r.get(1),
                    session,
                }
            })
            .collect();
        Ok(ClusterReport {
            enabled: true,
            node: self.inner.node.clone(),
            lease_ttl_ms: self.ttl_ms(),
            now_ms: now,
            nodes: node_rows
                .into_iter()
                .map(|n| NodeView {
                    heartbeat_age_ms: (now - n.heartbeat_ms).max(0),
                    id: n.id,
                    max_sessions: n.max_sessions,
                    held: n.held,
                    heartbeat_ms: n.heartbeat_ms,
                    alive: n.alive,
                    draining: n.draining,
                })
                .collect(),
            leases: lease_rows
                .into_iter()
                .map(|l| LeaseView {
                    session: l.session,
                    node: l.node,
                    epoch: l.epoch,
                    expires_ms: l.expires_ms,
                    live: l.live,
                })
                .collect(),
            placement,
        })
    }
}

/// The answer of a host whose cluster mode is off.
pub fn off_report() -> serde_json::Value {
    serde_json::json!({
        "enabled": false,
        "message": "cluster mode is off on this host: it runs every session itself (single-host mode). \
                    To run several hosts on one PostgreSQL, set [cluster] enabled = true and a postgres:// database_url.",
    })
}
