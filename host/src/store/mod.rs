//! The store: SQLite (`data/vigil.db`, WAL) by default, PostgreSQL when `database_url` says so
//! (the original system ran on Supabase Postgres). One set of queries serves both through
//! sqlx's `Any` driver: times are Unix milliseconds, JSON is text, placeholders are `$n`.
//! Migrations live in `host/migrations/<backend>/` and run at open.
//!
//! - `kv`: behaviours' kv and the scheduler's last runs.
//! - [`alerts`]: the alert ledger and the email outbox, written in one transaction.
//! - `alert_holds`: the ledger's side of silences and escalation (held, released, escalated).
//! - [`silences`]: alert silences.
//! - [`events`]: the bounded event log.
//! - [`history`]: each session's status changes, messages per hour, memory buckets.
//! - [`owners`]: session owners.
//! - [`tokens`]: per-owner API tokens (only their hashes).
//! - [`webhooks`]: webhook deliveries waiting for their receivers.
//! - `sessions`: session records (the sessions' [`SessionRecords`](crate::sessions::SessionRecords)).

mod alert_holds;
pub mod alerts;
pub mod events;
pub mod history;
mod kv;
pub mod owners;
mod sessions;
pub mod silences;
pub mod tokens;
pub mod webhooks;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions, Executor};

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Errors of the store; each says what was being done.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store: cannot open {url}: {source}")]
    Open { url: String, source: sqlx::Error },
    #[error("store: migrating {url} failed: {source}")]
    Migrate { url: String, source: sqlx::migrate::MigrateError },
    #[error("store: {what}: {source}")]
    Query { what: &'static str, source: sqlx::Error },
    #[error("store: bad database_url `{0}`: use `sqlite://PATH` or `postgres://USER@HOST:PORT/DB`")]
    BadUrl(String),
}

pub(crate) fn q(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Query { what, source }
}

/// A connection pool on one database.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// Hold tokio's paused clock still while a query is in flight (in-memory stores, used
    /// with paused clocks in tests and `vigil test`).
    hold_clock: bool,
}

static MIGRATE_SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static MIGRATE_POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Store {
    /// Opens `url` (`sqlite://…`, `postgres://…`), or `data_dir/vigil.db` when `url` is
    /// `None`, and migrates it.
    pub async fn open(url: Option<&str>, data_dir: &Path) -> Result<Store, StoreError> {
        let url = match url {
            Some(u) => u.to_string(),
            None => {
                std::fs::create_dir_all(data_dir).map_err(|e| StoreError::Open {
                    url: data_dir.display().to_string(),
                    source: sqlx::Error::Io(e),
                })?;
                format!("sqlite://{}?mode=rwc", data_dir.join("vigil.db").display())
            }
        };
        Self::connect(&url, 8, false).await
    }

    /// A private in-memory SQLite store (tests, `vigil check`, `vigil test`).
    pub async fn memory() -> Store {
        hold(true, Self::connect("sqlite::memory:", 1, true)).await.expect("in-memory SQLite opens")
    }

    async fn connect(url: &str, max: u32, hold_clock: bool) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::BadUrl(redact(url)));
        };
        let opts = AnyConnectOptions::from_str(url)
            .map_err(|source| StoreError::Open { url: redact(url), source })?
            .log_statements(tracing::log::LevelFilter::Trace)
            .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(1));
        let mut pool = AnyPoolOptions::new().max_connections(max).acquire_timeout(Duration::from_secs(10));
        if backend == Backend::Sqlite {
            if url.contains(":memory:") {
                // One connection that never closes: the database lives as long as it does.
                pool = pool.min_connections(1).idle_timeout(None).max_lifetime(None);
            }
            pool = pool.after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL;").await?;
                    Ok(())
                })
            });
        }
        let pool = pool.connect_with(opts).await.map_err(|source| StoreError::Open { url: redact(url), source })?;
        if backend == Backend::Sqlite && !url.contains(":memory:") {
            pool.execute("PRAGMA journal_mode = WAL;").await.map_err(q("enabling WAL"))?;
        }
        let migrator = match backend {
            Backend::Sqlite => &MIGRATE_SQLITE,
            Backend::Postgres => &MIGRATE_POSTGRES,
        };
        migrator.run(&pool).await.map_err(|source| StoreError::Migrate { url: redact(url), source })?;
        Ok(Store { pool, backend, hold_clock })
    }

    /// Runs a query future. On a paused tokio clock, the runtime would see a query waiting on
    /// SQLite's worker thread as idle and jump the clock forward; a blocking task in flight
    /// (which tokio counts) holds it still until the query is done.
    pub(crate) async fn guarded<T>(&self, fut: impl std::future::Future<Output = T>) -> T {
        hold(self.hold_clock, fut).await
    }

    /// [`Store::open`] for a test on a paused tokio clock: opening and every query hold the
    /// clock still while they wait on the database (see [`Store::guarded`]), as
    /// [`Store::memory`] does, so a file store survives a restart of the host in such a test.
    pub async fn open_on_paused_clock(url: Option<&str>, data_dir: &Path) -> Result<Store, StoreError> {
        let store = hold(true, Self::open(url, data_dir)).await?;
        Ok(Store { hold_clock: true, ..store })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// A round trip to the database.
    pub async fn ping(&self) -> Result<Duration, StoreError> {
        let t0 = std::time::Instant::now();
        self.guarded(sqlx::query("SELECT 1").execute(&self.pool)).await.map_err(q("ping"))?;
        Ok(t0.elapsed())
    }

    pub async fn close(&self) {
        self.guarded(self.pool.close()).await;
    }
}

async fn hold<T>(on: bool, fut: impl std::future::Future<Output = T>) -> T {
    if !on {
        return fut.await;
    }
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let guard = tokio::task::spawn_blocking(move || {
        let _ = rx.recv();
    });
    let out = fut.await;
    drop(tx);
    let _ = guard.await;
    out
}

/// `url` without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

pub(crate) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_ms(v: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(v).unwrap_or_default()
}

#[cfg(test)]
pub(crate) mod tests;
