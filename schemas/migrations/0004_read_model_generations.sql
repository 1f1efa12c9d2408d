-- Read models live in generations: a schema per generation holds a
-- projection's tables and its offsets, read_models points at the live one,
-- and views in public (what readers query) select from it. Rebuilding
-- replays the log into a new schema and, once it has caught up, moves the
-- pointer and the views in one transaction (projections/rebuild.go).
CREATE TABLE read_models (
    name        text PRIMARY KEY,
    schema_name text NOT NULL,
    generation  integer NOT NULL,
    switched_at timestamptz NOT NULL DEFAULT now()
);

CREATE SCHEMA rm_campaigns_1;
ALTER TABLE public.campaigns SET SCHEMA rm_campaigns_1;
ALTER TABLE public.messages SET SCHEMA rm_campaigns_1;

-- A generation carries its own offsets, so it is a fold of a known prefix
-- of the log on its own, and dropping it drops them too.
CREATE TABLE rm_campaigns_1.projection_offsets (LIKE public.projection_offsets INCLUDING ALL);
INSERT INTO rm_campaigns_1.projection_offsets
    SELECT * FROM public.projection_offsets WHERE projection = 'campaigns';
DELETE FROM public.projection_offsets WHERE projection = 'campaigns';

-- One row per submitted recipient: recipients that get no message
-- (INVALID, DUPLICATE) are rows too, without message id or provider, so the
-- message list accounts for every submitted number. A recipient is its
-- campaign and its index in the request.
ALTER TABLE rm_campaigns_1.messages DROP CONSTRAINT messages_pkey;
DROP INDEX rm_campaigns_1.messages_campaign;
ALTER TABLE rm_campaigns_1.messages
    ALTER COLUMN message_id DROP NOT NULL,
    ALTER COLUMN provider DROP NOT NULL,
    ADD PRIMARY KEY (campaign_id, idx);
CREATE UNIQUE INDEX messages_message_id ON rm_campaigns_1.messages (message_id);
CREATE INDEX messages_campaign_status ON rm_campaigns_1.messages (campaign_id, status, idx);

-- The campaign list filters by status within an organisation, newest first.
CREATE INDEX campaigns_org_status_created ON rm_campaigns_1.campaigns (org_id, status, created_at DESC, campaign_id DESC);

CREATE VIEW public.campaigns AS SELECT * FROM rm_campaigns_1.campaigns;
CREATE VIEW public.messages AS SELECT * FROM rm_campaigns_1.messages;

INSERT INTO read_models (name, schema_name, generation) VALUES ('campaigns', 'rm_campaigns_1', 1);
