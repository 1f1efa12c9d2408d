-- Read model: each organisation's ledger, a fold of FundsCredited,
-- FundsDebited and FundsRefunded, and the campaigns accepted but not yet
-- settled (debited or failed), whose estimates the API holds back when it
-- checks funds. Rebuildable from ziett.org-events.
CREATE TABLE ledger_accounts (
    org_id      uuid PRIMARY KEY,
    currency    text NOT NULL,
    balance     bigint NOT NULL,
    updated_at  timestamptz NOT NULL
);

CREATE TABLE ledger_entries (
    event_id      uuid PRIMARY KEY,
    org_id        uuid NOT NULL,
    campaign_id   uuid,
    kind          text NOT NULL CHECK (kind IN ('CREDIT', 'DEBIT', 'REFUND')),
    -- Signed: credits and refunds are positive, debits negative.
    amount        bigint NOT NULL,
    currency      text NOT NULL,
    balance_after bigint NOT NULL,
    reference     text NOT NULL DEFAULT '',
    occurred_at   timestamptz NOT NULL,
    -- The log position, which orders an organisation's entries exactly
    -- (they share a partition) where timestamps could tie.
    log_offset    bigint NOT NULL
);
CREATE INDEX ledger_entries_org ON ledger_entries (org_id, log_offset DESC);

CREATE TABLE ledger_campaigns (
    campaign_id  uuid PRIMARY KEY,
    org_id       uuid NOT NULL,
    estimated    bigint NOT NULL,
    state        text NOT NULL CHECK (state IN ('PENDING', 'DEBITED', 'FAILED')),
    accepted_at  timestamptz NOT NULL,
    settled_at   timestamptz
);
CREATE INDEX ledger_campaigns_pending ON ledger_campaigns (org_id) WHERE state = 'PENDING';
