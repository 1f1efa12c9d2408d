-- The completion check looks campaigns up by id (the batch's own
-- campaigns), through the primary key; the partial index 0006 made for a
-- scan of every pending campaign is no longer read.
DO $$
DECLARE s text;
BEGIN
    SELECT schema_name INTO s FROM read_models WHERE name = 'campaigns';
    EXECUTE format('DROP INDEX IF EXISTS %I.campaigns_completion_pending', s);
END $$;
