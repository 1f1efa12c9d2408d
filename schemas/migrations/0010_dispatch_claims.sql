-- Dispatch claims: per provider queue partition, the offset below which
-- every delivery has been claimed, committed before any of them is handed
-- to the provider. A dispatcher that reads deliveries below the mark (after
-- a crash, an aborted transaction or a rebalance) asks the provider what
-- became of each instead of sending it again. One row per partition
-- replaces a row per message (dispatch_intents), which cost as much
-- PostgreSQL work per message as the read model did.
CREATE TABLE dispatch_claims (
    topic       text NOT NULL,
    partition   integer NOT NULL,
    claimed_to  bigint NOT NULL,
    claimed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition)
);
DROP TABLE dispatch_intents;
