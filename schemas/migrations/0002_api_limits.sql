-- Operational tables of the command endpoint. Neither is derived from
-- events: losing them loses no fact, only a window of protection.

-- One fixed window per API key, anchored at the first request after the
-- previous window ended. Every API instance updates the same row, so the
-- limit holds however many instances serve a key.
CREATE TABLE rate_limit_windows (
    key_id       uuid PRIMARY KEY REFERENCES api_keys(key_id) ON DELETE CASCADE,
    window_start timestamptz NOT NULL,
    hits         integer NOT NULL
);

-- Idempotency-Key claims, scoped to the organisation. A row is claimed
-- (committed) before anything is appended, with the campaign id and the
-- CampaignAccepted event id fixed at that moment, so every retry of the
-- request names the same campaign.
CREATE TABLE idempotency_keys (
    org_id        uuid NOT NULL REFERENCES organisations(org_id),
    key           text NOT NULL,
    request_hash  bytea NOT NULL,
    campaign_id   uuid NOT NULL,
    event_id      uuid NOT NULL,
    -- PENDING until the event is known to be in the log, then DONE.
    state         text NOT NULL CHECK (state IN ('PENDING', 'DONE')),
    -- Which claim holds the row: a taker-over bumps it, so a stale holder's
    -- writes match nothing.
    attempt       integer NOT NULL DEFAULT 1,
    lease_until   timestamptz NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    completed_at  timestamptz,
    PRIMARY KEY (org_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (org_id, created_at);
