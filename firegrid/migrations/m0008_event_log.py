"""The event log (a transactional outbox) and its consumers' cursors; ``rules_done`` retired.

Every change others react to is a row of ``event_log`` appended in the writer's transaction
(``infra.eventlog.append``); each consumer keeps its position in ``event_cursors`` and moves it
in the transaction of its effects. A plain table on both storage paths: consumers read it by
id, and it is pruned by id once every consumer has passed (not dropped by time chunks).
"""

from __future__ import annotations

from infra.database import Conn
from ingest.config import StorageSettings

SCHEMA = """
CREATE TABLE event_log (
    id             bigserial PRIMARY KEY,
    kind           text NOT NULL,                 -- batch.committed, hazard.opened, ...
    subject        text NOT NULL,                 -- what it is about: a batch, hazard, version
    payload        jsonb NOT NULL DEFAULT '{}'::jsonb,
    at             timestamptz NOT NULL DEFAULT now(),
    -- The appending transaction: with the appenders' advisory lock it tells a consumer
    -- whether a missing id may still commit (infra.eventlog, "settled").
    txid           xid8 NOT NULL DEFAULT pg_current_xact_id(),
    -- Where a hazard event happened, so an area-limited subscriber is filtered without a join.
    grid_code      text,
    community_code text,
    street_code    text
);
-- The rules ask "has batch B's event been consumed?" (rules.engine.service.processed).
CREATE INDEX event_log_batches ON event_log (subject) WHERE kind = 'batch.committed';

CREATE TABLE event_cursors (
    consumer   text PRIMARY KEY,
    position   bigint NOT NULL,                  -- every event with id <= position is done
    updated_at timestamptz NOT NULL DEFAULT now()
);
"""

# Batches the rules had not processed become events, so the "rules" cursor picks them up; the
# flag they were read by goes (nothing reads or writes it any more).
BACKFILL = """
INSERT INTO event_log (kind, subject, payload)
SELECT 'batch.committed', batch_id::text, jsonb_build_object('batch_id', batch_id)
FROM ingest_batches WHERE NOT rules_done ORDER BY batch_id;
DROP INDEX ingest_batches_rules_pending;
ALTER TABLE ingest_batches DROP COLUMN rules_done;
"""


def apply(conn: Conn, *, timescale: bool, storage: StorageSettings) -> None:
    """Create the log and the cursors; hand the rules' pending batches to the log."""
    del timescale, storage  # the same plain tables on both storage paths
    conn.execute(SCHEMA)
    # Event ids continue above the hazard event ids the feed sent until now, so a console
    # resuming with an old Last-Event-ID gets what is new, not the log from the start.
    row = conn.execute("SELECT coalesce(max(id), 0) FROM hazard_events").fetchone()
    start = int(row[0]) + 1 if row else 1
    conn.execute("SELECT setval('event_log_id_seq', %s, false)", (start,))
    conn.execute(
        "INSERT INTO event_cursors (consumer, position) VALUES ('rules', %s)", (start - 1,)
    )
    conn.execute(BACKFILL)
