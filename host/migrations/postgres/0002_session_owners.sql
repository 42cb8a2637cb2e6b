-- Which owner is told about which session (set through the API: PUT /api/owners/{email}).
CREATE TABLE session_owners (
    session_id TEXT PRIMARY KEY,
    owner_email TEXT NOT NULL
);
CREATE INDEX session_owners_by_owner ON session_owners (owner_email);
