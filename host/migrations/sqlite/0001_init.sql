-- vigil's store, SQLite flavour. Times are Unix milliseconds (BIGINT); JSON is TEXT.
CREATE TABLE kv (
    ns TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    updated_ms BIGINT NOT NULL,
    PRIMARY KEY (ns, key)
);
CREATE TABLE schedule_state (
    owner TEXT NOT NULL,
    key TEXT NOT NULL,
    last_run_ms BIGINT NOT NULL,
    PRIMARY KEY (owner, key)
);
CREATE TABLE owners (
    email TEXT PRIMARY KEY,
    full_name TEXT NOT NULL,
    timezone TEXT,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    label TEXT,
    phone TEXT,
    owner_email TEXT,
    status TEXT NOT NULL,
    wa_state TEXT,
    last_seen_ms BIGINT,
    error_message TEXT,
    metadata TEXT NOT NULL DEFAULT '{}',
    restarts BIGINT NOT NULL DEFAULT 0,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);
CREATE TABLE alert_ledger (
    key TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    severity TEXT NOT NULL,
    template TEXT NOT NULL,
    recipient TEXT NOT NULL,
    vars TEXT NOT NULL,
    first_sent_ms BIGINT,
    last_sent_ms BIGINT,
    last_raised_ms BIGINT NOT NULL,
    sent_count BIGINT NOT NULL DEFAULT 0,
    raised_count BIGINT NOT NULL DEFAULT 0,
    resolved_ms BIGINT
);
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL UNIQUE,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    body_text TEXT NOT NULL,
    body_html TEXT,
    created_ms BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_ms BIGINT NOT NULL,
    last_error TEXT,
    sent_ms BIGINT
);
CREATE INDEX outbox_due ON outbox (sent_ms, next_attempt_ms);
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms BIGINT NOT NULL,
    name TEXT NOT NULL,
    source TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX events_at ON events (at_ms);
CREATE TABLE sent_messages (
    idempotency_key TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    sent_ms BIGINT NOT NULL
);
