"""Hazards and their events, the rules engine's durable state and its batch watermark."""

from __future__ import annotations

from infra.database import Conn
from ingest.config import StorageSettings

SCHEMA = """
-- One row per hazard episode. A (subject, rule) has at most one episode that is not cleared
-- (partial unique index) and its episodes are numbered 1, 2, ... (unique constraint): a crash
-- and redo, or a duplicate delivery, can never raise a second one.
CREATE TABLE hazards (
    id              bigserial PRIMARY KEY,
    rule_id         text NOT NULL,
    kind            text NOT NULL,
    severity        text NOT NULL CHECK (severity IN ('info', 'warning', 'major', 'critical')),
    status          text NOT NULL CHECK (status IN ('open', 'acknowledged', 'cleared')),
    subject_type    text NOT NULL CHECK (subject_type IN ('device', 'unit', 'grid', 'terminal')),
    subject_id      text NOT NULL,
    key             text NOT NULL,                -- the rule key (device/metric, unit:U, ...)
    device_id       text,
    unit_id         text,
    grid_code       text,
    community_code  text,
    street_code     text,
    grid_version    integer,
    lat             double precision,             -- WGS-84
    lon             double precision,
    opened_at       timestamptz NOT NULL,         -- device time
    cleared_at      timestamptz,                  -- device time
    acknowledged_at timestamptz,
    acknowledged_by text,
    occurrences     integer NOT NULL DEFAULT 1,
    episode         integer NOT NULL,
    last_value      double precision,
    detail          jsonb NOT NULL DEFAULT '{}'::jsonb,
    flapping        boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT hazards_episode UNIQUE (subject_type, subject_id, rule_id, episode),
    CHECK ((status = 'cleared') = (cleared_at IS NOT NULL))
);
CREATE UNIQUE INDEX hazards_one_live ON hazards (subject_type, subject_id, rule_id)
    WHERE status <> 'cleared';
CREATE INDEX hazards_opened ON hazards (opened_at DESC, id DESC);
CREATE INDEX hazards_status ON hazards (status, id) WHERE status <> 'cleared';
CREATE INDEX hazards_grid ON hazards (grid_code, id);
CREATE INDEX hazards_device ON hazards (device_id, id);
CREATE INDEX hazards_unit ON hazards (unit_id, id);

-- The live feed's source: written in the transaction that changed the hazard.
CREATE TABLE hazard_events (
    id        bigserial PRIMARY KEY,
    hazard_id bigint NOT NULL REFERENCES hazards ON DELETE CASCADE,
    type      text NOT NULL CHECK (type IN ('hazard.opened', 'hazard.updated', 'hazard.cleared')),
    at        timestamptz NOT NULL DEFAULT now(),
    data      jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX hazard_events_hazard ON hazard_events (hazard_id, id);

-- Durable per-(rule, key) state of the engine, one JSON column per part so a part that did not
-- change is not rewritten: the kind's state, replay checkpoints, the transitions emitted since
-- the oldest checkpoint, flapping memory. key '*' is a fleet rule. Every key is rewritten each
-- batch it appears in: half-full pages let those updates stay HOT (no index churn).
CREATE TABLE rule_state (
    rule_id     text NOT NULL,
    key         text NOT NULL,
    last_ts     bigint,                            -- device time, Unix ms
    state       jsonb NOT NULL,
    checkpoints jsonb NOT NULL DEFAULT '[]'::jsonb,
    emitted     jsonb NOT NULL DEFAULT '[]'::jsonb,
    flap        jsonb NOT NULL DEFAULT '{}'::jsonb,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (rule_id, key)
) WITH (fillfactor = 50);

-- The rules role caches rule state in memory between batches. Any statement on rule_state
-- bumps this generation; a rules process whose cached generation differs from the stored
-- one drops its cache, so state changed by another process (or by hand) is never shadowed.
CREATE TABLE rule_state_generation (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    generation bigint NOT NULL
);
INSERT INTO rule_state_generation VALUES (true, 0);
CREATE FUNCTION rule_state_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE rule_state_generation SET generation = generation + 1;
    RETURN NULL;
END $$;
CREATE TRIGGER rule_state_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rule_state
    FOR EACH STATEMENT EXECUTE FUNCTION rule_state_bump();

-- Samples that came too late to be evaluated: counted here, and kept out of later replays.
CREATE TABLE rule_too_late (
    rule_id   text NOT NULL,
    key       text NOT NULL,
    device_id text NOT NULL,
    ts        timestamptz NOT NULL,
    seq       bigint NOT NULL,
    batch_id  bigint NOT NULL,
    noted_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (rule_id, key, device_id, ts, seq)
);

-- Exactly-once watermark: a batch is marked in the transaction that applied its hazards.
-- Batch IDs are not contiguous and commit out of order, so a flag, not a high-water mark.
ALTER TABLE ingest_batches ADD COLUMN rules_done boolean NOT NULL DEFAULT false;
CREATE INDEX ingest_batches_rules_pending ON ingest_batches (batch_id) WHERE NOT rules_done;
"""


def apply(conn: Conn, *, timescale: bool, storage: StorageSettings) -> None:
    """Create the hazard and rule-state tables (the same on both storage paths)."""
    del timescale, storage  # plain tables: nothing here is a time series to chunk
    conn.execute(SCHEMA)
