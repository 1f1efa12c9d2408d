-- Events a projector could not apply (undecodable, refused by PostgreSQL,
-- a panic while applying them) are parked here with the error instead of
-- blocking the projector, and re-applied by `ziett projections
-- retry-parked` once the cause is fixed (docs/reliability-parking.md).
-- The record is kept whole (key, value, headers as bytes, the producer's
-- timestamp), so re-applying it needs nothing from the log. It lives in
-- public, beside the generations: a rebuild that meets the same record
-- parks it under the same (projection, topic, partition, offset).
CREATE TABLE parked_events (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    projection    text NOT NULL,
    topic         text NOT NULL,
    "partition"   integer NOT NULL,
    "offset"      bigint NOT NULL,
    record_key    bytea,
    record_value  bytea,
    header_keys   bytea[] NOT NULL,
    header_values bytea[] NOT NULL,
    record_time   timestamptz NOT NULL,
    error         text NOT NULL,
    first_seen    timestamptz NOT NULL DEFAULT now(),
    last_seen     timestamptz NOT NULL DEFAULT now(),
    attempts      integer NOT NULL DEFAULT 1,
    UNIQUE (projection, topic, "partition", "offset")
);
