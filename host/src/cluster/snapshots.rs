//! Profile snapshots in object storage: the backups' format (tar + zstd with a sha256
//! manifest, `sessions::backup`), uploaded after linking, periodically and at every clean
//! stop, each tagged with the lease epoch it was taken under. The `snapshots` table indexes
//! them; a row is only written while no newer epoch exists (a stale host's snapshot is
//! refused and its object deleted). A host taking a session over restores the newest snapshot
//! that verifies: a corrupt one is refused by its checksums (`session.snapshot_refused`) and
//! the one before it is tried.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::Serialize;
use sqlx::Row;

use super::{db, now_ms, ClusterError};
use crate::sessions::backup;
use crate::store::Store;

/// Where snapshots go, and their index.
#[derive(Clone)]
pub struct Snapshots {
    objects: Arc<dyn ObjectStore>,
    prefix: String,
    db: Store,
    keep: usize,
}

/// One snapshot, as indexed.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SnapshotRow {
    pub session: String,
    pub epoch: i64,
    pub node: String,
    pub key: String,
    pub bytes: i64,
    pub at_ms: i64,
}

/// What a restore did.
#[derive(Debug, Clone, Serialize)]
pub struct Restored {
    pub key: String,
    pub epoch: i64,
    pub bytes: usize,
    pub download_ms: u64,
    pub restore_ms: u64,
    /// Snapshots refused on the way (key, reason), newest first.
    pub refused: Vec<(String, String)>,
}

impl Snapshots {
    /// Opens `url`: `s3://BUCKET[/PREFIX]` (credentials and endpoint from the `AWS_*`
    /// environment) or `file:///FOLDER`.
    pub fn open(url: &str, db: Store, keep: usize) -> Result<Snapshots, ClusterError> {
        let bad = |why: String| {
            ClusterError::Config(format!("snapshots = \"{url}\": {why}; use s3://BUCKET/PREFIX or file:///FOLDER"))
        };
        // The S3 client speaks TLS with the ring provider, as the webhooks' client does.
        crate::webhooks::install_crypto_provider();
        let (objects, prefix): (Arc<dyn ObjectStore>, String) = if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(bad("no bucket".into()));
            }
            let s3 = object_store::aws::AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .build()
                .map_err(|e| bad(e.to_string()))?;
            (Arc::new(s3), prefix.trim_matches('/').to_string())
        } else if let Some(path) = url.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err(bad("the folder must be an absolute path".into()));
            }
            std::fs::create_dir_all(path).map_err(|e| bad(format!("cannot create {path}: {e}")))?;
            let fs = object_store::local::LocalFileSystem::new_with_prefix(path).map_err(|e| bad(e.to_string()))?;
            (Arc::new(fs), String::new())
        } else {
            return Err(bad("unknown scheme".into()));
        };
        Ok(Snapshots { objects, prefix, db, keep: keep.max(1) })
    }

    fn key(&self, session: &str, epoch: i64, at_ms: i64) -> String {
        let name = format!("{session}/{epoch:012}-{at_ms}.tar.zst");
        if self.prefix.is_empty() {
            name
        } else {
            format!("{}/{name}", self.prefix)
        }
    }

    /// Uploads the archive at `archive` as `session`'s snapshot under `epoch`, then indexes it
    /// unless a newer epoch exists (then the object is deleted and the upload refused).
    pub async fn upload(
        &self,
        session: &str,
        epoch: i64,
        node: &str,
        archive: &Path,
    ) -> Result<SnapshotRow, ClusterError> {
        let bytes = tokio::fs::read(archive)
            .await
            .map_err(|e| ClusterError::Snapshots(format!("cannot read {}: {e}", archive.display())))?;
        let at_ms = crate::clock::Clock::system().now().timestamp_millis();
        let key = self.key(session, epoch, at_ms);
        let len = bytes.len() as i64;
        let location = ObjectPath::from(key.as_str());
        self.objects
            .put(&location, PutPayload::from(bytes))
            .await
            .map_err(|e| ClusterError::Snapshots(format!("uploading {key}: {e}")))?;
        let row = sqlx::query(concat!(
            "INSERT INTO snapshots (session_id, epoch, node, key, bytes, at_ms) SELECT $1, $2, $3, $4, $5, ",
            now_ms!(),
            " WHERE NOT EXISTS (SELECT 1 FROM leases l WHERE l.session_id = $1 AND l.epoch > $2) RETURNING at_ms"
        ))
        .bind(session)
        .bind(epoch)
        .bind(node)
        .bind(&key)
        .bind(len)
        .fetch_optional(self.db.pool())
        .await
        .map_err(db("indexing a snapshot"))?;
        let Some(row) = row else {
            let _ = self.objects.delete(&location).await;
            return Err(ClusterError::Snapshots(format!(
                "session `{session}`: snapshot refused: epoch {epoch} is stale (another host holds a newer lease)"
            )));
        };
        self.prune(session).await;
        Ok(SnapshotRow { session: session.into(), epoch, node: node.into(), key, bytes: len, at_ms: row.get(0) })
    }

    /// Keeps the newest `keep` snapshots of `session`.
    async fn prune(&self, session: &str) {
        let old = match self.list(session).await {
            Ok(all) => all.into_iter().skip(self.keep).collect::<Vec<_>>(),
            Err(e) => return tracing::warn!(session, "cannot prune snapshots: {e}"),
        };
        for s in old {
            let _ = self.objects.delete(&ObjectPath::from(s.key.as_str())).await;
            let _ = sqlx::query("DELETE FROM snapshots WHERE key = $1").bind(&s.key).execute(self.db.pool()).await;
        }
    }

    /// `session`'s snapshots, newest first.
    pub async fn list(&self, session: &str) -> Result<Vec<SnapshotRow>, ClusterError> {
        let rows = sqlx::query(
            "SELECT session_id, epoch, node, key, bytes, at_ms FROM snapshots WHERE session_id = $1 ORDER BY id DESC",
        )
        .bind(session)
        .fetch_all(self.db.pool())
        .await
        .map_err(db("listing snapshots"))?;
        Ok(rows
            .iter()
            .map(|r| SnapshotRow {
                session: r.get(0),
                epoch: r.get(1),
                node: r.get(2),
                key: r.get(3),
                bytes: r.get(4),
                at_ms: r.get(5),
            })
            .collect())
    }

    /// Restores the newest snapshot of `session` that verifies into `session_dir/profile`.
    /// `Ok(None)`: it has none. A snapshot that cannot be fetched or fails its checksums is
    /// skipped (listed in `refused`).
    pub async fn restore(&self, session: &str, session_dir: &Path) -> Result<Option<Restored>, ClusterError> {
        let all = self.list(session).await?;
        if all.is_empty() {
            return Ok(None);
        }
        let mut refused = Vec::new();
        for s in all {
            let t0 = Instant::now();
            let got = match self.objects.get(&ObjectPath::from(s.key.as_str())).await {
                Ok(g) => g.bytes().await,
                Err(e) => Err(e),
            };
            let bytes = match got {
                Ok(b) => b,
                Err(e) => {
                    refused.push((s.key.clone(), format!("cannot download it: {e}")));
                    continue;
                }
            };
            let download_ms = t0.elapsed().as_millis() as u64;
            let t1 = Instant::now();
            let (id, dir, n) = (session.to_string(), session_dir.to_path_buf(), bytes.len());
            let installed = tokio::task::spawn_blocking(move || install(&id, &dir, &bytes))
                .await
                .unwrap_or_else(|e| Err(format!("the restore panicked: {e}")));
            match installed {
                Ok(()) => {
                    return Ok(Some(Restored {
                        key: s.key,
                        epoch: s.epoch,
                        bytes: n,
                        download_ms,
                        restore_ms: t1.elapsed().as_millis() as u64,
                        refused,
                    }))
                }
                Err(e) => refused.push((s.key.clone(), e)),
            }
        }
        Err(ClusterError::Snapshots(format!(
            "session `{session}`: no snapshot could be restored: {}",
            refused.iter().map(|(k, r)| format!("{k}: {r}")).collect::<Vec<_>>().join("; ")
        )))
    }

    /// The object store (tests corrupt snapshots through it).
    pub fn objects(&self) -> &Arc<dyn ObjectStore> {
        &self.objects
    }
}

/// Writes `bytes` beside the profile, verifies the whole archive against its manifest, then
/// replaces the profile's critical folders (blocking).
fn install(id: &str, session_dir: &Path, bytes: &[u8]) -> Result<(), String> {
    let archive: PathBuf = session_dir.join(".snapshot.tar.zst");
    let staging = session_dir.join(".snapshot-restore");
    std::fs::create_dir_all(session_dir.join("profile")).map_err(|e| e.to_string())?;
    std::fs::write(&archive, bytes).map_err(|e| format!("cannot write {}: {e}", archive.display()))?;
    let result = backup::unpack_verified(&archive, &staging)
        .and_then(|m| backup::install(id, &session_dir.join("profile"), &staging, &m.roots))
        .map_err(|e| e.to_string());
    let _ = std::fs::remove_file(&archive);
    let _ = std::fs::remove_dir_all(&staging);
    result
}
