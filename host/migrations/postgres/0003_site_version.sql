-- The WhatsApp Web version (window.Debug.VERSION) each session's page last ran (issue 10).
-- The full record, with the version when the session was last healthy, stays in `metadata`.
ALTER TABLE sessions ADD COLUMN site_version TEXT;
