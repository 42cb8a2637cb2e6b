//! The interim store: one JSON file, rewritten atomically (temp file, fsync, rename) on every
//! change, so a crash leaves either the old or the new file, never half of one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{StateStore, StoreError};

#[derive(Default, Serialize, Deserialize)]
struct Data {
    #[serde(default)]
    kv: BTreeMap<String, BTreeMap<String, serde_json::Value>>,
    #[serde(default)]
    last_runs: BTreeMap<String, BTreeMap<String, DateTime<Utc>>>,
}

/// A [`StateStore`] in one JSON file. With no path it lives in memory only (tests, `vigil check`).
pub struct FileStore {
    path: Option<PathBuf>,
    data: Mutex<Data>,
}

impl FileStore {
    /// Opens (or prepares to create) the store at `path`. A corrupt file is an error, never
    /// overwritten.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let data = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|source| StoreError::Corrupt { path: path.display().to_string(), source })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Data::default(),
            Err(source) => return Err(StoreError::Io { path: path.display().to_string(), source }),
        };
        Ok(Self { path: Some(path.to_path_buf()), data: Mutex::new(data) })
    }

    pub fn in_memory() -> Self {
        Self { path: None, data: Mutex::new(Data::default()) }
    }

    fn change<T>(&self, f: impl FnOnce(&mut Data) -> T) -> Result<T, StoreError> {
        let mut data = self.data.lock().expect("store lock");
        let out = f(&mut data);
        if let Some(path) = &self.path {
            let bytes = serde_json::to_vec_pretty(&*data).expect("serializable");
            write_atomic(path, &bytes).map_err(|source| StoreError::Io { path: path.display().to_string(), source })?;
        }
        Ok(out)
    }
}

/// Writes `bytes` to `path` through a temp file in the same folder, fsynced, then renamed.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)
}

#[async_trait]
impl StateStore for FileStore {
    async fn kv_get(&self, ns: &str, key: &str) -> Result<Option<serde_json::Value>, StoreError> {
        Ok(self.data.lock().expect("store lock").kv.get(ns).and_then(|m| m.get(key)).cloned())
    }

    async fn kv_set(&self, ns: &str, key: &str, value: serde_json::Value) -> Result<(), StoreError> {
        self.change(|d| {
            d.kv.entry(ns.to_string()).or_default().insert(key.to_string(), value);
        })
    }

    async fn kv_delete(&self, ns: &str, key: &str) -> Result<bool, StoreError> {
        self.change(|d| d.kv.get_mut(ns).map(|m| m.remove(key).is_some()).unwrap_or(false))
    }

    async fn last_run(&self, owner: &str, key: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(self.data.lock().expect("store lock").last_runs.get(owner).and_then(|m| m.get(key)).copied())
    }

    async fn set_last_run(&self, owner: &str, key: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.change(|d| {
            d.last_runs.entry(owner.to_string()).or_default().insert(key.to_string(), at);
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn survives_a_reopen_and_refuses_a_corrupt_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/store.json");
        let s = FileStore::open(&path).unwrap();
        s.kv_set("keepalive", "count", serde_json::json!(3)).await.unwrap();
        let t: DateTime<Utc> = "2027-01-01T02:00:00Z".parse().unwrap();
        s.set_last_run("backup", "cron", t).await.unwrap();
        drop(s);
        let s = FileStore::open(&path).unwrap();
        assert_eq!(s.kv_get("keepalive", "count").await.unwrap(), Some(serde_json::json!(3)));
        assert_eq!(s.kv_get("other", "count").await.unwrap(), None);
        assert_eq!(s.last_run("backup", "cron").await.unwrap(), Some(t));
        assert!(s.kv_delete("keepalive", "count").await.unwrap());
        assert!(!s.kv_delete("keepalive", "count").await.unwrap());

        std::fs::write(&path, b"{ not json").unwrap();
        let e = FileStore::open(&path).err().expect("corrupt file refused");
        assert!(e.to_string().contains("not valid JSON"), "{e}");
        assert_eq!(std::fs::read(&path).unwrap(), b"{ not json", "left untouched");
    }
}
