-- The projector reads a campaign's completion (organisation topic) and its
-- message outcomes (message topic) from different partitions, which Kafka
-- does not order against each other: the completion can be read first. So
-- the read model notes the completion and shows COMPLETED only once every
-- message row of the campaign shows its outcome, and a campaign never reads
-- COMPLETED with messages still queued.
DO $$
DECLARE s text;
BEGIN
    SELECT schema_name INTO s FROM read_models WHERE name = 'campaigns';
    EXECUTE format('ALTER TABLE %I.campaigns ADD COLUMN completion_event_id uuid, ADD COLUMN completion_at timestamptz', s);
    EXECUTE format('CREATE INDEX campaigns_completion_pending ON %I.campaigns (campaign_id)
        WHERE completion_event_id IS NOT NULL AND status = ''SENDING''', s);
    EXECUTE format('CREATE OR REPLACE VIEW public.campaigns AS SELECT * FROM %I.campaigns', s);
END $$;
