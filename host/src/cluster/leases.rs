//! Session leases in SQL: claim (free, released or expired leases, `FOR UPDATE SKIP LOCKED`,
//! epoch + 1 on every takeover), renew, release. Expiry is judged by the database's clock.

use serde::Serialize;
use sqlx::{AnyPool, Row};

use super::{db, now_ms, ClusterError};

/// One lease, as `vigil cluster status` and `GET /api/cluster` show it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LeaseRow {
    pub session: String,
    /// `None`: released.
    pub node: Option<String>,
    pub epoch: i64,
    pub expires_ms: i64,
    /// Unexpired now.
    pub live: bool,
}

/// Renews every unexpired lease of `node`; returns `(session, epoch)` of those renewed. A
/// lease that expired is not renewed (another host may be taking it).
pub(crate) async fn renew(pool: &AnyPool, node: &str, ttl_ms: i64) -> Result<Vec<(String, i64)>, ClusterError> {
    let rows = sqlx::query(concat!(
        "UPDATE leases SET expires_ms = ",
        now_ms!(),
        " + $2 WHERE node = $1 AND expires_ms > ",
        now_ms!(),
        " RETURNING session_id, epoch"
    ))
    .bind(node)
    .bind(ttl_ms)
    .fetch_all(pool)
    .await
    .map_err(db("renewing leases"))?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// Sessions whose lease is free (none yet, released or expired).
pub(crate) async fn free_count(pool: &AnyPool) -> Result<i64, ClusterError> {
    let row = sqlx::query(concat!(
        "SELECT COUNT(*) FROM sessions s LEFT JOIN leases l ON l.session_id = s.id \
         WHERE l.session_id IS NULL OR l.node IS NULL OR l.expires_ms <= ",
        now_ms!()
    ))
    .fetch_one(pool)
    .await
    .map_err(db("counting free sessions"))?;
    Ok(row.get(0))
}

/// Claims up to `limit` sessions with a free lease for `node`, in one transaction; rows other
/// hosts are claiming at the same moment are skipped. Returns `(session, epoch)`.
pub(crate) async fn claim(
    pool: &AnyPool,
    node: &str,
    ttl_ms: i64,
    limit: i64,
) -> Result<Vec<(String, i64)>, ClusterError> {
    if limit <= 0 {
        return Ok(Vec::new());
    }
    let mut tx = pool.begin().await.map_err(db("claiming leases"))?;
    let ids: Vec<String> = sqlx::query(concat!(
        "SELECT s.id FROM sessions s LEFT JOIN leases l ON l.session_id = s.id \
         WHERE l.session_id IS NULL OR l.node IS NULL OR l.expires_ms <= ",
        now_ms!(),
        " ORDER BY s.id LIMIT $1 FOR UPDATE OF s SKIP LOCKED"
    ))
    .bind(limit)
    .fetch_all(&mut *tx)
    .await
    .map_err(db("claiming leases"))?
    .iter()
    .map(|r| r.get(0))
    .collect();
    let mut got = Vec::new();
    for id in ids {
        let row = sqlx::query(concat!(
            "INSERT INTO leases (session_id, node, epoch, expires_ms, acquired_ms) VALUES ($1, $2, 1, ",
            now_ms!(),
            " + $3, ",
            now_ms!(),
            ") ON CONFLICT (session_id) DO UPDATE SET node = excluded.node, epoch = leases.epoch + 1, \
             expires_ms = excluded.expires_ms, acquired_ms = excluded.acquired_ms \
             WHERE leases.node IS NULL OR leases.expires_ms <= ",
            now_ms!(),
            " RETURNING epoch"
        ))
        .bind(&id)
        .bind(node)
        .bind(ttl_ms)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db("claiming a lease"))?;
        if let Some(r) = row {
            got.push((id, r.get(0)));
        }
    }
    tx.commit().await.map_err(db("claiming leases"))?;
    Ok(got)
}

/// Claims `session`'s lease for `node` if it is free (a session just created); `None` when
/// another host holds it. The primary key settles a race with another host's claim.
pub(crate) async fn claim_one(
    pool: &AnyPool,
    node: &str,
    session: &str,
    ttl_ms: i64,
) -> Result<Option<i64>, ClusterError> {
    let row = sqlx::query(concat!(
        "INSERT INTO leases (session_id, node, epoch, expires_ms, acquired_ms) SELECT $1, $2, 1, ",
        now_ms!(),
        " + $3, ",
        now_ms!(),
        " WHERE EXISTS (SELECT 1 FROM sessions WHERE id = $1) \
         ON CONFLICT (session_id) DO UPDATE SET node = excluded.node, epoch = leases.epoch + 1, \
         expires_ms = excluded.expires_ms, acquired_ms = excluded.acquired_ms \
         WHERE leases.node IS NULL OR leases.expires_ms <= ",
        now_ms!(),
        " RETURNING epoch"
    ))
    .bind(session)
    .bind(node)
    .bind(ttl_ms)
    .fetch_optional(pool)
    .await
    .map_err(db("claiming the lease of a new session"))?;
    Ok(row.map(|r| r.get(0)))
}

/// Releases `session`'s lease if `node` still holds it under `epoch`.
pub(crate) async fn release(pool: &AnyPool, node: &str, session: &str, epoch: i64) -> Result<bool, ClusterError> {
    let r =
        sqlx::query("UPDATE leases SET node = NULL, expires_ms = 0 WHERE session_id = $1 AND node = $2 AND epoch = $3")
            .bind(session)
            .bind(node)
            .bind(epoch)
            .execute(pool)
            .await
            .map_err(db("releasing a lease"))?;
    Ok(r.rows_affected() == 1)
}

/// Gives up every lease `node` holds (a host starting again under the same id: the leases of
/// its previous run go to whoever claims them next, with epoch + 1).
pub(crate) async fn release_all(pool: &AnyPool, node: &str) -> Result<u64, ClusterError> {
    let r = sqlx::query("UPDATE leases SET node = NULL, expires_ms = 0 WHERE node = $1")
        .bind(node)
        .execute(pool)
        .await
        .map_err(db("releasing the leases of a previous run"))?;
    Ok(r.rows_affected())
}

/// Every lease.
pub(crate) async fn all(pool: &AnyPool) -> Result<Vec<LeaseRow>, ClusterError> {
    let rows = sqlx::query(concat!(
        "SELECT session_id, node, epoch, expires_ms, CASE WHEN node IS NOT NULL AND expires_ms > ",
        now_ms!(),
        " THEN 1 ELSE 0 END FROM leases ORDER BY session_id"
    ))
    .fetch_all(pool)
    .await
    .map_err(db("reading leases"))?;
    Ok(rows
        .iter()
        .map(|r| LeaseRow {
            session: r.get(0),
            node: r.get(1),
            epoch: r.get(2),
            expires_ms: r.get(3),
            live: r.get::<i32, _>(4) == 1,
        })
        .collect())
}
