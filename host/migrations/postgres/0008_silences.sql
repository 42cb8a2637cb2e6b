-- Alert silences (POST /api/silences, `vigil silence`): while one is active, the emails of
-- the alerts it matches are held in the ledger (state `silenced`) and sent when it ends, if
-- the alert is still open. `matcher_kind` is `session` (alerts whose vars.session is
-- `matcher`) or `alert` (alert keys equal to or starting with `matcher`). Expiring one
-- early sets `ends_ms` to that moment.
CREATE TABLE silences (
    id BIGSERIAL PRIMARY KEY,
    matcher_kind TEXT NOT NULL,
    matcher TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_by TEXT NOT NULL,
    starts_ms BIGINT NOT NULL,
    ends_ms BIGINT NOT NULL,
    expired_by TEXT
);
CREATE INDEX silences_by_end ON silences (ends_ms);

-- The ledger's side: `held_email` is the email a silence holds (JSON), sent when the silence
-- ends; `silenced_ms` when the alert was last held; `fired_ms` when the current episode's
-- first email went out (escalation counts from it; NULL once resolved); `escalated_ms` when
-- the episode was escalated to [alerts.escalation] to.
ALTER TABLE alert_ledger ADD COLUMN held_email TEXT;
ALTER TABLE alert_ledger ADD COLUMN silenced_ms BIGINT;
ALTER TABLE alert_ledger ADD COLUMN fired_ms BIGINT;
ALTER TABLE alert_ledger ADD COLUMN escalated_ms BIGINT;
