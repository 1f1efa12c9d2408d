-- The ledger becomes rebuildable like the campaigns read model: its tables
-- and offsets move into a generation schema, read_models points at it, and
-- views in public keep the names readers use (see
-- 0004_read_model_generations.sql and projections/rebuild.go).
CREATE SCHEMA rm_ledger_1;
ALTER TABLE public.ledger_accounts SET SCHEMA rm_ledger_1;
ALTER TABLE public.ledger_entries SET SCHEMA rm_ledger_1;
ALTER TABLE public.ledger_campaigns SET SCHEMA rm_ledger_1;

CREATE TABLE rm_ledger_1.projection_offsets (LIKE public.projection_offsets INCLUDING ALL);
INSERT INTO rm_ledger_1.projection_offsets
    SELECT * FROM public.projection_offsets WHERE projection = 'ledger';
DELETE FROM public.projection_offsets WHERE projection = 'ledger';

CREATE VIEW public.ledger_accounts AS SELECT * FROM rm_ledger_1.ledger_accounts;
CREATE VIEW public.ledger_entries AS SELECT * FROM rm_ledger_1.ledger_entries;
CREATE VIEW public.ledger_campaigns AS SELECT * FROM rm_ledger_1.ledger_campaigns;

INSERT INTO read_models (name, schema_name, generation) VALUES ('ledger', 'rm_ledger_1', 1);

-- A projection's position, wherever its live generation is: the funds check
-- waits on the ledger's (projections/ledger.Reader.Position) and must not
-- name a generation.
CREATE FUNCTION read_model_next_offset(p_projection text, p_topic text, p_partition integer) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE
    s text;
    n bigint;
BEGIN
    SELECT schema_name INTO s FROM read_models WHERE name = p_projection;
    EXECUTE format('SELECT next_offset FROM %I.projection_offsets WHERE projection = $1 AND topic = $2 AND partition = $3',
                   coalesce(s, 'public'))
        INTO n USING p_projection, p_topic, p_partition;
    RETURN n;
END $$;
