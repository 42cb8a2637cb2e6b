-- Cluster mode: the API URL each node advertises, so that any host can forward a control
-- call to the host that holds the session's lease (`[cluster] advertise_url`).
ALTER TABLE nodes ADD COLUMN api_url TEXT;
