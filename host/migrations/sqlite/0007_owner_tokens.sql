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
