//! Session records in the store's `sessions` table: the record as JSON in `metadata`, and the
//! fields people query (status, phone, last seen…) in columns beside it.

use async_trait::async_trait;
use sqlx::Row;

use super::{ms, q, Store};
use crate::sessions::records::parse_record;
use crate::sessions::{RecordsError, SessionRecord, SessionRecords};

fn err(e: super::StoreError) -> RecordsError {
    RecordsError::Store(e.to_string())
}

#[async_trait]
impl SessionRecords for Store {
    async fn load_all(&self) -> Result<Vec<SessionRecord>, RecordsError> {
        let rows = self
            .guarded(sqlx::query("SELECT id, metadata FROM sessions ORDER BY id").fetch_all(self.pool()))
            .await
            .map_err(q("reading sessions"))
            .map_err(err)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let id: String = r.get(0);
            let what = format!("sessions table, id `{}`", id.escape_debug());
            match parse_record(r.get::<String, _>(1).as_bytes(), &what) {
                Ok(Some(record)) => out.push(record),
                Ok(None) => {}
                Err(source) => return Err(RecordsError::Corrupt { path: what, source }),
            }
        }
        Ok(out)
    }

    async fn upsert(&self, r: &SessionRecord) -> Result<(), RecordsError> {
        let json = serde_json::to_string(r).expect("serializable");
        let query = sqlx::query(
            "INSERT INTO sessions (id, label, phone, status, wa_state, last_seen_ms, error_message, metadata, restarts, created_ms, updated_ms, site_version)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
             ON CONFLICT (id) DO UPDATE SET label = excluded.label, phone = excluded.phone, status = excluded.status,
                 wa_state = excluded.wa_state, last_seen_ms = excluded.last_seen_ms, error_message = excluded.error_message,
                 metadata = excluded.metadata, restarts = excluded.restarts, updated_ms = excluded.updated_ms,
                 site_version = excluded.site_version",
        )
        .bind(r.id.as_str())
        .bind(r.label.as_deref())
        .bind(r.phone.as_deref())
        .bind(r.status.as_str())
        .bind(r.wa_state.as_deref())
        .bind(r.last_seen.map(ms))
        .bind(r.error.as_deref())
        .bind(json)
        .bind(r.restarts as i64)
        .bind(ms(r.created_at))
        .bind(ms(r.updated_at))
        .bind(r.site_version.as_deref());
        self.guarded(query.execute(self.pool())).await.map_err(q("saving a session")).map_err(err)?;
        Ok(())
    }

    async fn delete(&self, id: &str) -> Result<(), RecordsError> {
        self.guarded(sqlx::query("DELETE FROM sessions WHERE id = $1").bind(id).execute(self.pool()))
            .await
            .map_err(q("deleting a session"))
            .map_err(err)?;
        Ok(())
    }
}
