//! The store on in-memory SQLite (the backend-independent suite runs on file SQLite and real
//! PostgreSQL in `tests/store.rs`).

use super::*;

#[tokio::test]
async fn opens_migrates_and_answers() {
    let s = Store::memory().await;
    assert_eq!(s.backend(), Backend::Sqlite);
    s.ping().await.unwrap();
    s.kv_set("b", "k", serde_json::json!({"a": [1, 2]})).await.unwrap();
    assert_eq!(s.kv_get("b", "k").await.unwrap(), Some(serde_json::json!({"a": [1, 2]})));
}

#[test]
fn urls_are_redacted_in_messages() {
    assert_eq!(redact("postgres://vigil:s3cret@db:5432/v"), "postgres://vigil:***@db:5432/v");
    assert_eq!(redact("sqlite://data/vigil.db"), "sqlite://data/vigil.db");
}
