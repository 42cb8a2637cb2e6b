-- Cluster mode records send_text's idempotency keys here, per session, under the lease epoch
-- of the host that sent (a write with a stale epoch is refused).
ALTER TABLE sent_messages ADD COLUMN epoch BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sent_messages DROP CONSTRAINT sent_messages_pkey;
ALTER TABLE sent_messages ADD PRIMARY KEY (session_id, idempotency_key);
