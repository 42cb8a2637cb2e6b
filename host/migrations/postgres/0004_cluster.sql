-- Cluster mode (several hosts on this database): nodes, session leases with a fencing epoch,
-- the snapshots index. Times are Unix milliseconds of the database's clock.
CREATE TABLE nodes (
    id TEXT PRIMARY KEY,
    max_sessions BIGINT NOT NULL,
    started_ms BIGINT NOT NULL,
    heartbeat_ms BIGINT NOT NULL,
    draining BOOLEAN NOT NULL DEFAULT FALSE
);
-- One row per session that ever ran in cluster mode. `node` NULL = released; the epoch only
-- grows: every claim after the first is epoch + 1.
CREATE TABLE leases (
    session_id TEXT PRIMARY KEY,
    node TEXT,
    epoch BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL,
    acquired_ms BIGINT NOT NULL
);
CREATE INDEX leases_by_node ON leases (node);
-- The epoch of the lease under which the record was last written (fenced writes).
ALTER TABLE sessions ADD COLUMN epoch BIGINT NOT NULL DEFAULT 0;
-- Profile snapshots in object storage (`key`), newest = highest id.
CREATE TABLE snapshots (
    id BIGSERIAL PRIMARY KEY,
    session_id TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    node TEXT NOT NULL,
    key TEXT NOT NULL,
    bytes BIGINT NOT NULL,
    at_ms BIGINT NOT NULL
);
CREATE INDEX snapshots_by_session ON snapshots (session_id, id);
