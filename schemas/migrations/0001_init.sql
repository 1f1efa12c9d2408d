-- Reference data: owned by administrators, not derived from events.
CREATE TABLE organisations (
    org_id      uuid PRIMARY KEY,
    name        text NOT NULL,
    currency    text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    key_id        uuid PRIMARY KEY,
    org_id        uuid NOT NULL REFERENCES organisations(org_id),
    -- SHA-256 of the whole key: keys carry 256 random bits, so a fast hash
    -- is as safe as a slow one and keeps authentication off the CPU profile.
    key_hash      bytea NOT NULL UNIQUE,
    prefix        text NOT NULL,
    name          text NOT NULL DEFAULT '',
    scopes        text[] NOT NULL,
    rate_per_minute integer NOT NULL DEFAULT 10,
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz
);

CREATE TABLE sender_ids (
    remitter_id uuid PRIMARY KEY,
    org_id      uuid NOT NULL REFERENCES organisations(org_id),
    sender      text NOT NULL,
    status      text NOT NULL CHECK (status IN ('PENDING', 'APPROVED', 'REJECTED')),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sender_ids_org ON sender_ids (org_id);

-- Projection bookkeeping: the next offset each projection will read, stored
-- in the same transaction as the rows it wrote.
CREATE TABLE projection_offsets (
    projection  text NOT NULL,
    topic       text NOT NULL,
    partition   integer NOT NULL,
    next_offset bigint NOT NULL,
    PRIMARY KEY (projection, topic, partition)
);

-- Read model: campaigns (Retrieve Campaign).
CREATE TABLE campaigns (
    campaign_id     uuid PRIMARY KEY,
    org_id          uuid NOT NULL,
    name            text NOT NULL,
    status          text NOT NULL,
    channel_type    text NOT NULL,
    remitter_id     uuid NOT NULL,
    country_alpha2  text NOT NULL,
    created_at      timestamptz NOT NULL,
    processed_at    timestamptz,
    sending_at      timestamptz,
    completed_at    timestamptz,
    failed_at       timestamptz,
    submitted       integer NOT NULL DEFAULT 0,
    valid           integer NOT NULL DEFAULT 0,
    invalid         integer NOT NULL DEFAULT 0,
    duplicates      integer NOT NULL DEFAULT 0,
    -- Sent and failed counts are read from messages, not kept here, so the
    -- two topics' projections never have to agree on an order.
    msg_total       integer NOT NULL DEFAULT 0,
    encoding        text,
    segments_per_message integer NOT NULL DEFAULT 0,
    segments_total  integer NOT NULL DEFAULT 0,
    ucs2_chars      text[] NOT NULL DEFAULT '{}',
    by_provider     jsonb NOT NULL DEFAULT '{}',
    currency        text NOT NULL,
    cost_estimated  bigint NOT NULL DEFAULT 0,
    cost_debited    bigint NOT NULL DEFAULT 0,
    cost_refunded   bigint NOT NULL DEFAULT 0,
    failure_code    text,
    failure_message text
);
CREATE INDEX campaigns_org_created ON campaigns (org_id, created_at DESC, campaign_id DESC);

-- Read model: one row per valid recipient.
CREATE TABLE messages (
    message_id   uuid PRIMARY KEY,
    campaign_id  uuid NOT NULL,
    org_id       uuid NOT NULL,
    idx          integer NOT NULL,
    -- Outcomes (message topic) may be projected before the campaign's
    -- CampaignProcessed (organisation topic): either may create the row.
    input        text,
    e164         text,
    provider     text NOT NULL,
    segments     integer,
    cost         bigint NOT NULL,
    currency     text NOT NULL,
    status       text NOT NULL,
    provider_ref text,
    error_code   text,
    error        text,
    attempts     integer NOT NULL DEFAULT 0,
    queued_at    timestamptz,
    done_at      timestamptz
);
CREATE INDEX messages_campaign ON messages (campaign_id, idx);
