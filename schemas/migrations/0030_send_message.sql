-- Send Message: single transactional messages.
--
-- A single message is a campaign of one recipient (kind 'message') whose
-- campaign id is the message id (docs/send-message.md), so it lives in the
-- campaign read model: its campaigns row carries the kind and the client's
-- reference and recipient (as sent and in E.164), its messages row the
-- outcome. Campaign lists and Retrieve
-- Campaign show kind 'campaign' only.

-- Each key's limit on POST /c/v1/messages, per second, and its fixed
-- one-second windows (as rate_limit_windows for the batch endpoint).
ALTER TABLE api_keys ADD COLUMN message_rate_per_second integer NOT NULL DEFAULT 100;
CREATE TABLE message_rate_windows (
    key_id       uuid PRIMARY KEY REFERENCES api_keys(key_id) ON DELETE CASCADE,
    window_start timestamptz NOT NULL,
    hits         integer NOT NULL
);

DO $$
DECLARE s text;
BEGIN
    SELECT schema_name INTO s FROM read_models WHERE name = 'campaigns';
    EXECUTE format('ALTER TABLE %I.campaigns ADD COLUMN kind text NOT NULL DEFAULT ''campaign'', ADD COLUMN reference text, ADD COLUMN recipient text, ADD COLUMN e164 text', s);
    -- The message list: an organisation's single messages, newest first.
    EXECUTE format('CREATE INDEX campaigns_org_messages ON %I.campaigns (org_id, created_at DESC, campaign_id DESC)
        WHERE kind = ''message''', s);
    EXECUTE format('CREATE INDEX campaigns_org_reference ON %I.campaigns (org_id, reference)
        WHERE reference IS NOT NULL', s);
    -- Retrieve Message finds any message by its id, a campaign's too. A
    -- hash index: equality is the only lookup, and its entries are a
    -- 4-byte hash rather than the 16-byte id.
    EXECUTE format('CREATE INDEX messages_message_id ON %I.messages USING hash (message_id)', s);
    EXECUTE format('CREATE OR REPLACE VIEW public.campaigns AS SELECT * FROM %I.campaigns', s);
END $$;
