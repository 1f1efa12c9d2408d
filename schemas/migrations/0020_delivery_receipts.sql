-- Operator links. An SMSC names each message part it accepts with its own
-- id, and its delivery receipts carry only that id. provider_refs maps each
-- part's id back to our message; the provider adapter writes the row before
-- Send returns (so before the message's outcome event can commit), which is
-- what lets a receipt be matched, and a lookup after a crash tell a message
-- the SMSC acknowledged from one it never saw (docs/delivery-receipts.md).
CREATE TABLE provider_refs (
    provider     text NOT NULL,
    ref          text NOT NULL,
    message_id   uuid NOT NULL,
    campaign_id  uuid NOT NULL,
    org_id       uuid NOT NULL,
    idx          integer NOT NULL,
    part         integer NOT NULL,
    parts        integer NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, ref)
);
CREATE INDEX provider_refs_message ON provider_refs (message_id);
CREATE INDEX provider_refs_created ON provider_refs (created_at);

-- The message read model gains the receipt: when the operator reached a
-- final state, and the raw stat/err of the receipt that decided it. Not
-- indexed, so the receipt's write stays a heap-only update.
DO $$
DECLARE s text;
BEGIN
    SELECT schema_name INTO s FROM read_models WHERE name = 'campaigns';
    EXECUTE format('ALTER TABLE %I.messages ADD COLUMN receipt_at timestamptz, ADD COLUMN receipt_stat text,
        ADD COLUMN receipt_err text', s);
    EXECUTE format('CREATE OR REPLACE VIEW public.messages AS SELECT * FROM %I.messages', s);
END $$;
