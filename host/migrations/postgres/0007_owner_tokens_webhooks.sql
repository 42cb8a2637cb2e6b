-- Per-owner API tokens (POST /api/owners/{email}/tokens, `vigil owner token`). Only the
-- SHA-256 of a token is kept (hex); the token itself is shown once, when it is made.
CREATE TABLE owner_tokens (
    id TEXT PRIMARY KEY,
    owner_email TEXT NOT NULL,
    hash TEXT NOT NULL,
    label TEXT,
    created_ms BIGINT NOT NULL,
    revoked_ms BIGINT
);
CREATE INDEX owner_tokens_by_owner ON owner_tokens (owner_email);

-- Webhook deliveries waiting for their receiver (or given up), so that a restart or a crash
-- loses none: `delivery` is the X-Vigil-Delivery id, the same on every attempt; `receiver` is
-- the [[webhooks]] url. Delivered rows are deleted.
CREATE TABLE webhook_deliveries (
    id BIGSERIAL PRIMARY KEY,
    delivery TEXT NOT NULL UNIQUE,
    receiver TEXT NOT NULL,
    event TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_ms BIGINT NOT NULL,
    last_error TEXT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (receiver, status, id);
