-- Browser sessions of the dashboard. A session belongs to the API key it
-- was opened with: revoking the key ends it, and deleting the key deletes
-- it. Only the SHA-256 of the cookie's value is stored.
CREATE TABLE dashboard_sessions (
    session_hash  bytea PRIMARY KEY,
    key_id        uuid NOT NULL REFERENCES api_keys(key_id) ON DELETE CASCADE,
    csrf_token    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);
CREATE INDEX dashboard_sessions_expires ON dashboard_sessions (expires_at);
