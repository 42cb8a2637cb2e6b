-- Each session's history (issue 12), kept 30 days (`[history] keep`): its status changes,
-- messages sent and delivered per hour, and its browser's memory in buckets of
-- `[history] memory_step` (default 5 minutes). Times are Unix milliseconds.
CREATE TABLE history_status (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT
);
CREATE INDEX history_status_session_at ON history_status (session, at_ms);
CREATE TABLE history_messages (
    session TEXT NOT NULL,
    hour_ms BIGINT NOT NULL,
    sent BIGINT NOT NULL,
    acked BIGINT NOT NULL,
    PRIMARY KEY (session, hour_ms)
);
CREATE TABLE history_memory (
    session TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    samples BIGINT NOT NULL,
    sum_bytes BIGINT NOT NULL,
    max_bytes BIGINT NOT NULL,
    PRIMARY KEY (session, at_ms)
);
