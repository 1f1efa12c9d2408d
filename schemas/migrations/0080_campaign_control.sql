-- Schedule, pause, resume and cancel: when each happened, and when a
-- scheduled campaign is due. The scheduler finds due campaigns through the
-- partial index.
DO $$
DECLARE s text;
BEGIN
    SELECT schema_name INTO s FROM read_models WHERE name = 'campaigns';
    EXECUTE format('ALTER TABLE %I.campaigns
        ADD COLUMN send_at timestamptz,
        ADD COLUMN scheduled_at timestamptz,
        ADD COLUMN paused_at timestamptz,
        ADD COLUMN resumed_at timestamptz,
        ADD COLUMN cancelled_at timestamptz', s);
    EXECUTE format('CREATE INDEX campaigns_due ON %I.campaigns (send_at) WHERE status = ''SCHEDULED''', s);
    EXECUTE format('CREATE OR REPLACE VIEW public.campaigns AS SELECT * FROM %I.campaigns', s);
END $$;
