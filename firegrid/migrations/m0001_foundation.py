"""Registry, readings, device events, conflicts, rejected messages, ingest batches."""

from __future__ import annotations

from infra.database import Conn
from ingest.config import StorageSettings
from ingest.partitions import create_timeseries_table

REGISTRY = """
CREATE TABLE key_units (
    unit_id     text PRIMARY KEY,
    name        text NOT NULL,
    level       smallint CHECK (level IN (1, 2, 3)),
    address     text,
    lat         double precision,
    lon         double precision,
    responsible text,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE devices (
    device_id       text PRIMARY KEY,
    kind            text NOT NULL,
    model           text,
    unit_id         text,           -- soft reference: a device may be imported before its unit
    lat             double precision,
    lon             double precision,
    installed_on    date,
    manufactured_on date,
    hydrant_class   text,
    agent           text,
    heartbeat_s     integer CHECK (heartbeat_s > 0),
    thresholds      jsonb NOT NULL DEFAULT '{}'::jsonb,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX devices_unit ON devices (unit_id);

CREATE TABLE staff (
    staff_id    text PRIMARY KEY,
    name        text NOT NULL,
    role        text NOT NULL,
    area        text,
    terminal_id text UNIQUE,
    phone       text,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- What the service last heard from each device; derived, updated in each ingest batch.
CREATE TABLE device_status (
    device_id        text PRIMARY KEY,
    last_received_at timestamptz NOT NULL,   -- receive time: drives online/offline
    last_ts          timestamptz NOT NULL,   -- newest device time stored
    latest           jsonb NOT NULL DEFAULT '{}'::jsonb  -- {metric: {"ts", "value", "seq"}}
);

-- Merge two {metric: {"ts", ...}} maps keeping, per metric, the entry with the newer ts, so a
-- late sample never overwrites the latest state.
CREATE FUNCTION fg_merge_latest(old jsonb, new jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(old, '{}'::jsonb) || coalesce((
        SELECT jsonb_object_agg(n.key, n.value)
        FROM jsonb_each(new) AS n
        WHERE old -> n.key IS NULL
           OR (n.value ->> 'ts')::timestamptz >= (old -> n.key ->> 'ts')::timestamptz
    ), '{}'::jsonb)
$$;

-- API bearer tokens; only a SHA-256 of each token is kept.
CREATE TABLE api_tokens (
    token_sha256 bytea PRIMARY KEY,
    role         text NOT NULL,
    areas        text[] NOT NULL DEFAULT '{}',   -- grid/community/street codes; empty: all
    note         text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz
);

CREATE TABLE fg_partitioned_tables (
    table_name text PRIMARY KEY,
    chunk      interval NOT NULL,
    retention  interval NOT NULL
);

-- One row per committed ingest batch: the unit rules and dispatch keep watermarks on.
CREATE TABLE ingest_batches (
    batch_id     bigserial PRIMARY KEY,
    committed_at timestamptz NOT NULL DEFAULT now(),
    messages     integer NOT NULL,
    readings     integer NOT NULL,
    events       integer NOT NULL,
    rejected     integer NOT NULL
);

CREATE TABLE rejected_messages (
    id          bigserial PRIMARY KEY,
    received_at timestamptz NOT NULL,
    topic       text NOT NULL,
    reason      text NOT NULL,
    detail      text NOT NULL DEFAULT '',
    payload     bytea NOT NULL
);
CREATE INDEX rejected_messages_received ON rejected_messages (received_at);
CREATE INDEX rejected_messages_reason ON rejected_messages (reason, received_at);

-- A sample or event re-sent under an identity already stored but with different content.
CREATE TABLE ingest_conflicts (
    id          bigserial PRIMARY KEY,
    received_at timestamptz NOT NULL,
    kind        text NOT NULL,              -- reading | event
    device_id   text NOT NULL,
    ts          timestamptz NOT NULL,
    seq         bigint NOT NULL,
    key         text NOT NULL,              -- metric or event type
    stored      jsonb NOT NULL,
    incoming    jsonb NOT NULL
);
CREATE INDEX ingest_conflicts_device ON ingest_conflicts (device_id, ts);
"""

# seq is -1 when the device sent none: NULL would make the identity unenforceable, since NULLs
# never collide in a unique index.
READINGS_COLUMNS = """
    ts          timestamptz NOT NULL,
    device_id   text NOT NULL,
    metric      text NOT NULL,
    value       double precision NOT NULL,
    seq         bigint NOT NULL DEFAULT -1,
    received_at timestamptz NOT NULL,
    batch_id    bigint NOT NULL
"""

EVENTS_COLUMNS = """
    ts          timestamptz NOT NULL,
    device_id   text NOT NULL,
    type        text NOT NULL,
    seq         bigint NOT NULL DEFAULT -1,
    detail      jsonb NOT NULL DEFAULT '{}'::jsonb,
    received_at timestamptz NOT NULL,
    batch_id    bigint NOT NULL
"""

PLAIN_5M = """
CREATE VIEW readings_5m AS
SELECT date_bin('5 minutes', ts, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
       device_id, metric, count(*) AS n, sum(value) AS total, min(value) AS low,
       max(value) AS high
FROM readings
GROUP BY bucket, device_id, metric
"""

TIMESCALE_5M = """
CREATE MATERIALIZED VIEW readings_5m
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '5 minutes', ts) AS bucket,
       device_id, metric, count(*) AS n, sum(value) AS total, min(value) AS low,
       max(value) AS high
FROM readings
GROUP BY bucket, device_id, metric
WITH NO DATA
"""


def apply(conn: Conn, *, timescale: bool, storage: StorageSettings) -> None:
    """Create the foundation schema on either storage path."""
    conn.execute(REGISTRY)
    create_timeseries_table(
        conn,
        table="readings",
        columns=READINGS_COLUMNS,
        unique="device_id, metric, ts, seq",
        segment_by="device_id, metric",
        order_by="ts DESC, seq",
        chunk=storage.chunk_interval,
        compress_after=storage.compress_after,
        retention=storage.retention,
        timescale=timescale,
    )
    create_timeseries_table(
        conn,
        table="device_events",
        columns=EVENTS_COLUMNS,
        unique="device_id, type, ts, seq",
        segment_by="device_id",
        order_by="ts DESC, type, seq",
        chunk=storage.chunk_interval,
        compress_after=storage.compress_after,
        retention=storage.retention,
        timescale=timescale,
    )
    # batch_id grows with insertion order, so a BRIN index finds a batch's rows (what the rules
    # engine reads) at almost no cost per insert; a B-tree here cost ingest a fifth of its rate.
    conn.execute("CREATE INDEX readings_batch ON readings USING brin (batch_id)")
    conn.execute("CREATE INDEX device_events_batch ON device_events USING brin (batch_id)")
    if timescale:
        conn.execute(TIMESCALE_5M)
        conn.execute(
            "SELECT add_continuous_aggregate_policy('readings_5m', "
            "start_offset => INTERVAL '3 days', end_offset => INTERVAL '5 minutes', "
            "schedule_interval => INTERVAL '5 minutes')"
        )
    else:
        conn.execute(PLAIN_5M)
