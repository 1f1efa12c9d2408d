-- A message row is written twice: when its campaign is processed and when
-- its outcome arrives. The second write changes status, and while status
-- was indexed every outcome wrote a new entry into all three indexes of
-- the table; that was most of PostgreSQL's work per message. Without an
-- index on a changed column, and with room left on each page, the update is
-- a heap-only tuple (HOT) update that touches no index. The status filter of
-- the message list reads one campaign's rows (at most 1000) through the
-- primary key instead.
DO $$
DECLARE s text;
BEGIN
    SELECT schema_name INTO s FROM read_models WHERE name = 'campaigns';
    EXECUTE format('DROP INDEX IF EXISTS %I.messages_campaign_status', s);
    EXECUTE format('ALTER TABLE %I.messages SET (fillfactor = 60)', s);
END $$;
