//! Cluster mode: several hosts on one PostgreSQL, each session's browser on one host at a time.
//!
//! PostgreSQL coordinates, object storage holds the profiles; nothing here is a consensus of
//! our own. A host runs a session's browser only while it holds the session's lease
//! (`leases`: session, node, epoch, expires_at). Leases are renewed every third of the TTL;
//! a lease that expired (or was released) is claimed by a host with room, least-loaded first,
//! with `FOR UPDATE SKIP LOCKED`, and its epoch grows by one. The epoch is a fencing token:
//! every write about a session carries it and the database refuses it once a newer epoch
//! exists. A host that could not renew kills its browsers a margin before its leases can
//! expire; a host that wakes up with a stale epoch kills its browsers and its writes are
//! refused.
//!
//! # Layout
//! - `nodes`: the `nodes` table: heartbeats, capacity, who is alive.
//! - `leases`: claim, renew, release (SQL).
//! - `fence`: [`FencedRecords`], the session records written only under the current epoch.
//! - `sent`: [`FencedSent`], the sent-message record (idempotency keys) under the epoch.
//! - `placement`: the loop that heartbeats, renews, claims (spread evenly) and self-fences.
//! - `spread`: which host claims which free session (water-filling, least-loaded first),
//!   and the placement of a session created through the API.
//! - `snapshots`: profile snapshots (the backups' format) in object storage, restored on
//!   takeover, a corrupt one refused by its checksums.
//! - `create`: [`PlacedSessions`], the API's sessions: a new one is placed, not started
//!   where it was created.
//! - `drain`: SIGTERM: close the browsers, upload their snapshots, release the leases.
//! - `status`: [`ClusterReport`], what `GET /api/cluster` and `vigil cluster status` show.
//! - `runner`: [`SessionRunner`], what the cluster needs of the session manager.
//! - `bus`: events across hosts: the event log written under one lock and announced with
//!   `NOTIFY`; [`Feed`], every host's events in id order for this host's WebSocket clients.
//! - `forward`: [`Forwarder`], control calls sent on to the host that holds the session.

pub mod bus;
mod create;
mod drain;
mod fence;
pub mod forward;
mod leases;
mod nodes;
mod placement;
mod runner;
mod sent;
mod snapshots;
mod spread;
mod status;

pub use bus::Feed;
pub use create::PlacedSessions;
pub use fence::FencedRecords;
pub use forward::{Forwarder, Holder};
pub use leases::LeaseRow;
pub use nodes::NodeRow;
pub use placement::Cluster;
pub use runner::SessionRunner;
pub use sent::FencedSent;
pub use snapshots::Snapshots;
pub use status::{off_report, ClusterReport, LeaseView, NodeView, Placement};

/// The database's clock in Unix milliseconds, so that hosts with skewed clocks agree.
macro_rules! now_ms {
    () => {
        "(CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT))"
    };
}
pub(crate) use now_ms;

/// Errors of cluster mode; each says what was being done.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(
        "[cluster] enabled needs a PostgreSQL database_url (this host's store is {0}): set \
         database_url = \"postgres://USER@HOST:PORT/DB\" (or VIGIL_DATABASE_URL), or set [cluster] enabled = false"
    )]
    NotPostgres(&'static str),
    #[error("[cluster] {0}")]
    Config(String),
    #[error("cluster: {what}: {source}")]
    Db { what: &'static str, source: sqlx::Error },
    #[error("cluster: snapshot store: {0}")]
    Snapshots(String),
}

pub(crate) fn db(what: &'static str) -> impl FnOnce(sqlx::Error) -> ClusterError {
    move |source| ClusterError::Db { what, source }
}

/// This machine's hostname (the default node id).
pub(crate) fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it or
    // truncates, and we read up to the first NUL.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "vigil".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

#[cfg(test)]
mod tests;
