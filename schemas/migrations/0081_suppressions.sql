-- Each organisation's suppression list (numbers it sends nothing to), and
-- how many recipients of a campaign it skipped. Part of the campaign read
-- model's generation, so it is rebuilt from the log with the rest.
DO $$
DECLARE s text;
BEGIN
    SELECT schema_name INTO s FROM read_models WHERE name = 'campaigns';
    EXECUTE format('CREATE TABLE %I.suppressions (
        org_id     uuid NOT NULL,
        e164       text NOT NULL,
        source     text NOT NULL,
        keyword    text,
        created_at timestamptz NOT NULL,
        PRIMARY KEY (org_id, e164))', s);
    EXECUTE format('CREATE VIEW public.suppressions AS SELECT * FROM %I.suppressions', s);
    EXECUTE format('ALTER TABLE %I.campaigns ADD COLUMN suppressed integer NOT NULL DEFAULT 0', s);
    EXECUTE format('CREATE OR REPLACE VIEW public.campaigns AS SELECT * FROM %I.campaigns', s);
END $$;
