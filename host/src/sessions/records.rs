//! What is persisted of each session, behind [`SessionRecords`]. Today [`JsonRecords`] keeps
//! one `session.json` per session folder (`data/sessions/<id>/session.json`, written
//! atomically); the store issue implements the same trait with SQLite/Postgres.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{SessionId, SessionInfo, SessionStatus};
use crate::fsutil::write_atomic;

/// One session as persisted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub id: SessionId,
    #[serde(default)]
    pub label: Option<String>,
    /// The account's number (`34600000001`), once linked.
    #[serde(default)]
    pub phone: Option<String>,
    pub status: SessionStatus,
    /// WhatsApp's own state as last seen.
    #[serde(default)]
    pub wa_state: Option<String>,
    /// Last confirmed activity (`touch`, an incoming message, ready).
    #[serde(default)]
    pub last_seen: Option<DateTime<Utc>>,
    /// Why the session is in `error`, `disconnected`, `logged_out` …
    #[serde(default)]
    pub error: Option<String>,
    /// The profile holds a linked account: it should come back `ready` without a QR, and its
    /// storage is checked before launch.
    #[serde(default)]
    pub linked: bool,
    /// Restarts after crashes, in all.
    #[serde(default)]
    pub restarts: u64,
    /// WhatsApp Web's version (`window.Debug.VERSION`) as the page last said.
    #[serde(default)]
    pub site_version: Option<String>,
    /// The site version when the session was last `ready`.
    #[serde(default)]
    pub healthy_site_version: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl SessionRecord {
    pub fn new(id: &SessionId, label: Option<String>, now: DateTime<Utc>) -> Self {
        SessionRecord {
            id: id.clone(),
            label,
            phone: None,
            status: SessionStatus::Stopped,
            wa_state: None,
            last_seen: None,
            error: None,
            linked: false,
            restarts: 0,
            site_version: None,
            healthy_site_version: None,
            created_at: now,
            updated_at: now,
        }
    }

    pub fn info(&self, running: bool) -> SessionInfo {
        SessionInfo {
            id: self.id.clone(),
            label: self.label.clone(),
            phone: self.phone.clone(),
            status: self.status,
            wa_state: self.wa_state.clone(),
            last_seen: self.last_seen,
            owner: None,
            error: self.error.clone(),
            running,
            restarts: self.restarts,
            site_version: self.site_version.clone(),
            healthy_site_version: self.healthy_site_version.clone(),
        }
    }
}

/// A record as stored (`what` names where it was read, for the warning): `None`, with a
/// warning, when its id is not a session id (such a record is ignored, not an error that
/// stops the host).
pub fn parse_record(bytes: &[u8], what: &str) -> Result<Option<SessionRecord>, serde_json::Error> {
    match serde_json::from_slice::<SessionRecord>(bytes) {
        Ok(r) => Ok(Some(r)),
        Err(e) => {
            #[derive(Deserialize)]
            struct IdOnly {
                id: String,
            }
            match serde_json::from_slice::<IdOnly>(bytes) {
                Ok(IdOnly { id }) if SessionId::parse(&id).is_err() => {
                    tracing::warn!(session = %id.escape_debug(), "ignoring the session record {what}: its id is not a session id");
                    Ok(None)
                }
                _ => Err(e),
            }
        }
    }
}

/// Errors of the session records.
#[derive(Debug, thiserror::Error)]
pub enum RecordsError {
    #[error("session records: {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("session record {path} is not valid JSON ({source}); it was left untouched: fix or move it away")]
    Corrupt { path: String, source: serde_json::Error },
    #[error("session records: {0}")]
    Store(String),
}

/// Where session records are kept.
#[async_trait]
pub trait SessionRecords: Send + Sync + 'static {
    /// Every record, sorted by id.
    async fn load_all(&self) -> Result<Vec<SessionRecord>, RecordsError>;
    /// Creates or replaces the record of `record.id`.
    async fn upsert(&self, record: &SessionRecord) -> Result<(), RecordsError>;
    /// Deletes the record of `id` (no error when there is none).
    async fn delete(&self, id: &str) -> Result<(), RecordsError>;
}

/// Records as `<dir>/<id>/session.json` (`dir` = `data/sessions`).
pub struct JsonRecords {
    dir: PathBuf,
}

impl JsonRecords {
    pub fn new(dir: &Path) -> Self {
        JsonRecords { dir: dir.to_path_buf() }
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(id).join("session.json")
    }
}

#[async_trait]
impl SessionRecords for JsonRecords {
    async fn load_all(&self) -> Result<Vec<SessionRecord>, RecordsError> {
        let dir = self.dir.clone();
        let load = move || {
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(source) => return Err(RecordsError::Io { path: dir.display().to_string(), source }),
            };
            let mut out = Vec::new();
            for entry in entries.flatten() {
                let path = entry.path().join("session.json");
                let bytes = match std::fs::read(&path) {
                    Ok(b) => b,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(source) => return Err(RecordsError::Io { path: path.display().to_string(), source }),
                };
                let what = path.display().to_string();
                match parse_record(&bytes, &what) {
                    Ok(Some(record)) => out.push(record),
                    Ok(None) => {}
                    Err(source) => return Err(RecordsError::Corrupt { path: what, source }),
                }
            }
            out.sort_by(|a, b| a.id.cmp(&b.id));
            Ok(out)
        };
        tokio::task::spawn_blocking(load).await.expect("records loader does not panic")
    }

    async fn upsert(&self, record: &SessionRecord) -> Result<(), RecordsError> {
        let path = self.path(&record.id);
        let bytes = serde_json::to_vec_pretty(record).expect("a record serializes");
        tokio::task::spawn_blocking(move || {
            write_atomic(&path, &bytes).map_err(|source| RecordsError::Io { path: path.display().to_string(), source })
        })
        .await
        .expect("records writer does not panic")
    }

    async fn delete(&self, id: &str) -> Result<(), RecordsError> {
        let path = self.path(id);
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(RecordsError::Io { path: path.display().to_string(), source }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sid(id: &str) -> crate::sessions::SessionId {
        id.parse().unwrap()
    }

    #[tokio::test]
    async fn json_records_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let r = JsonRecords::new(dir.path());
        assert!(r.load_all().await.unwrap().is_empty());
        let mut a = SessionRecord::new(&sid("b"), Some("B".into()), Utc::now());
        r.upsert(&a).await.unwrap();
        r.upsert(&SessionRecord::new(&sid("a"), None, Utc::now())).await.unwrap();
        a.status = SessionStatus::Ready;
        a.linked = true;
        r.upsert(&a).await.unwrap();
        let all = r.load_all().await.unwrap();
        assert_eq!(all.iter().map(|x| x.id.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(all[1], a);
        r.delete("a").await.unwrap();
        r.delete("a").await.unwrap();
        assert_eq!(r.load_all().await.unwrap().len(), 1);
        // A record whose id is not a session id is skipped, not an error that stops the host.
        let bad = serde_json::to_string(&a).unwrap().replace("\"id\":\"b\"", "\"id\":\"../x\"");
        assert!(bad.contains("../x"), "{bad}");
        std::fs::create_dir_all(dir.path().join("odd")).unwrap();
        std::fs::write(dir.path().join("odd/session.json"), &bad).unwrap();
        assert_eq!(r.load_all().await.unwrap().len(), 1);
        std::fs::write(dir.path().join("b/session.json"), "{").unwrap();
        assert!(r.load_all().await.unwrap_err().to_string().contains("not valid JSON"));
    }
}
