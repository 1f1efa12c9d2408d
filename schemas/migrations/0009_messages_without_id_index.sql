-- A message id is derived from its campaign and index (events.MessageID),
-- so the primary key (campaign_id, idx) already makes it unique, and no
-- query looks a message up by id. Its unique index cost a random B-tree
-- insert for every message written.
DO $$
DECLARE s text;
BEGIN
    SELECT schema_name INTO s FROM read_models WHERE name = 'campaigns';
    EXECUTE format('DROP INDEX IF EXISTS %I.messages_message_id', s);
END $$;
