//! A real PostgreSQL for store tests. `tests/run` starts a throwaway cluster and exports
//! `VIGIL_TEST_POSTGRES_URL` (an admin URL); each test gets a fresh database in it.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// A URL of a new, empty database, or `None` when no server was provided (outside CI only:
/// in CI a missing server fails the test).
pub fn fresh_database() -> Option<String> {
    let Ok(admin) = std::env::var("VIGIL_TEST_POSTGRES_URL") else {
        if std::env::var_os("CI").is_some() {
            panic!("CI must provide PostgreSQL: tests/run starts it and sets VIGIL_TEST_POSTGRES_URL");
        }
        eprintln!("PostgreSQL part skipped: set VIGIL_TEST_POSTGRES_URL (tests/run does)");
        return None;
    };
    static SEQ: AtomicU32 = AtomicU32::new(0);
    // The pid alone repeats over a long run (another test process, later, with a reused pid
    // found its database there): the clock makes the name unique.
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let name =
        format!("vigil_t{}_{}_{}", std::process::id(), nanos % 1_000_000_000_000, SEQ.fetch_add(1, Ordering::Relaxed));
    let out = Command::new("psql")
        .arg(&admin)
        .args(["-v", "ON_ERROR_STOP=1", "-qc"])
        .arg(format!("CREATE DATABASE {name}"))
        .output()
        .expect("psql runs");
    assert!(out.status.success(), "creating {name}: {}", String::from_utf8_lossy(&out.stderr));
    let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap_or(admin);
    Some(format!("{base}/{name}"))
}
