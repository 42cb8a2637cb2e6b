-- Several hosts on one database drain the same webhook queue: a host claims a delivery (its
-- node id, until claimed_until_ms) before it sends it, so each is sent by one host at a time.
ALTER TABLE webhook_deliveries ADD COLUMN claimed_by TEXT;
ALTER TABLE webhook_deliveries ADD COLUMN claimed_until_ms BIGINT;
