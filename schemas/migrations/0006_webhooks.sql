-- Webhooks. Endpoints are reference data an organisation manages through
-- the API. Events and deliveries are the outbox: the campaign projector
-- writes them in the transaction that updates the read model, so a status
-- change and its webhooks commit together or not at all. The sender
-- consumes webhook_queue (a Watermill SQL topic) and logs every attempt.

CREATE TABLE webhook_endpoints (
    endpoint_id      uuid PRIMARY KEY,
    org_id           uuid NOT NULL REFERENCES organisations(org_id),
    url              text NOT NULL,
    description      text NOT NULL DEFAULT '',
    event_types      text[] NOT NULL,
    -- The signing secret must be readable to sign with (an HMAC key), so
    -- it is stored as issued; the API shows it only at creation/rotation.
    secret           text NOT NULL,
    -- After a rotation the previous secret signs too, until it expires, so
    -- receivers can switch without rejecting a delivery.
    previous_secret            text,
    previous_secret_expires_at timestamptz,
    status           text NOT NULL DEFAULT 'ENABLED' CHECK (status IN ('ENABLED', 'DISABLED')),
    disabled_reason  text,
    disabled_at      timestamptz,
    -- First failed attempt since the last success; an endpoint failing for
    -- long enough is disabled.
    failing_since    timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_endpoints_org ON webhook_endpoints (org_id, created_at, endpoint_id);

-- One row per campaign status change of an organisation that had an
-- enabled endpoint then. The payload is stored as the exact bytes every
-- attempt sends and signs.
CREATE TABLE webhook_events (
    event_id         uuid PRIMARY KEY,
    source_event_id  uuid NOT NULL UNIQUE,
    org_id           uuid NOT NULL,
    campaign_id      uuid NOT NULL,
    type             text NOT NULL,
    sequence         integer NOT NULL,
    payload          bytea NOT NULL,
    occurred_at      timestamptz NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (campaign_id, sequence)
);

-- One row per event and endpoint; delivery_id is the webhook-id header.
CREATE TABLE webhook_deliveries (
    delivery_id      uuid PRIMARY KEY,
    endpoint_id      uuid NOT NULL REFERENCES webhook_endpoints(endpoint_id) ON DELETE CASCADE,
    event_id         uuid NOT NULL REFERENCES webhook_events(event_id),
    status           text NOT NULL CHECK (status IN ('PENDING', 'DELIVERED', 'FAILED')),
    -- Scheduled attempts made; manual resends are counted in attempts only.
    auto_attempts    integer NOT NULL DEFAULT 0,
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz,
    last_attempt_at  timestamptz,
    last_status_code integer,
    last_error       text,
    delivered_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, created_at DESC, delivery_id DESC);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);

CREATE TABLE webhook_attempts (
    delivery_id      uuid NOT NULL REFERENCES webhook_deliveries(delivery_id) ON DELETE CASCADE,
    attempt          integer NOT NULL,
    manual           boolean NOT NULL,
    webhook_timestamp bigint NOT NULL,
    started_at       timestamptz NOT NULL,
    duration_ms      integer NOT NULL,
    status_code      integer,
    error            text,
    response_body    text,
    succeeded        boolean NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
);

-- Watermill SQL topics (projections/webhooks.QueueSchema): one row per
-- attempt to make, not before due_at. Workers take rows with FOR UPDATE
-- SKIP LOCKED and delete them when the attempt is recorded, in the same
-- transaction. webhook_poison keeps what the sender could not handle.
CREATE TABLE webhook_queue (
    "offset"    bigserial PRIMARY KEY,
    uuid        varchar(36) NOT NULL,
    payload     bytea,
    metadata    jsonb,
    due_at      timestamptz NOT NULL DEFAULT now(),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_queue_due ON webhook_queue (due_at, "offset");

CREATE TABLE webhook_poison (LIKE webhook_queue INCLUDING ALL);
