-- Dispatch intents: a message id is inserted here, and committed, before
-- the message is handed to its provider. A dispatcher that finds the row
-- already present (after a crash, an aborted transaction or a rebalance)
-- asks the provider what became of the message instead of sending it again.
CREATE TABLE dispatch_intents (
    message_id  uuid PRIMARY KEY,
    provider    text NOT NULL,
    claimed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dispatch_intents_claimed_at ON dispatch_intents (claimed_at);
