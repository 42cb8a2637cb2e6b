//! `[cluster]`: several hosts on one PostgreSQL (see [`crate::cluster`]).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::model::HumanDuration;

/// `[cluster]`: run this host as one of several on one PostgreSQL `database_url`. Each session
/// runs on one host at a time, under a lease with a fencing epoch; profiles move between
/// hosts as snapshots in object storage. Off by default (one host, SQLite or PostgreSQL).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// Turn cluster mode on. Needs a PostgreSQL `database_url`. Default `false`.
    pub enabled: bool,
    /// This host's id in the `nodes` table, unique in the cluster. Default: the machine's
    /// hostname (set `VIGIL_CLUSTER__NODE_ID` when several hosts share a machine).
    pub node_id: Option<String>,
    /// The most sessions this host runs at once. Default 20.
    pub max_sessions: usize,
    /// How long a session's lease lasts without renewal; it is renewed every third of it. A
    /// host that could not renew stops its browsers a quarter of it before the lease expires;
    /// another host takes an expired lease over. Default `15s`.
    pub lease_ttl: HumanDuration,
    /// Where profile snapshots go: `s3://BUCKET/PREFIX` (AWS S3 or any S3-compatible
    /// service; credentials and endpoint from the environment: `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT`, `AWS_ALLOW_HTTP`) or
    /// `file:///shared/folder`. Unset: no snapshots, a session that moves needs a new QR.
    pub snapshots: Option<String>,
    /// How often each running, ready session's snapshot is refreshed (besides after linking
    /// and at every clean stop). Default `10m`.
    pub snapshot_interval: HumanDuration,
    /// How many snapshots to keep per session. Default 5.
    pub snapshots_keep: usize,
    /// The URL other hosts reach this host's API at (`http://10.0.0.5:8080`), written to the
    /// `nodes` table: a control call (send, restart, logout, QR, ...) made through another
    /// host for a session this host holds is forwarded there. Default: `http://` + `[api]
    /// listen` (the hostname when it listens on every address, the bound port when it is 0).
    pub advertise_url: Option<String>,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            enabled: false,
            node_id: None,
            max_sessions: 20,
            lease_ttl: HumanDuration(Duration::from_secs(15)),
            snapshots: None,
            snapshot_interval: HumanDuration(Duration::from_secs(600)),
            snapshots_keep: 5,
            advertise_url: None,
        }
    }
}
