"""Who wrote through the API (issue 9 point 1): imports and replays keep no author in the rows
they change, so each such request leaves one row here naming the token's actor.

Hazard acknowledgements (``acknowledged_by``) and case actions (the history's ``actor``) keep their
author in their own rows, also taken from the token; they are not repeated here.
"""

from __future__ import annotations

from infra.database import Conn
from ingest.config import StorageSettings

SCHEMA = """
CREATE TABLE api_writes (
    id      bigserial PRIMARY KEY,
    at      timestamptz NOT NULL DEFAULT now(),
    actor   text NOT NULL,                  -- the token's staff member, else its name
    role    text NOT NULL,                  -- the token's role when it wrote
    action  text NOT NULL,                  -- e.g. devices.import, rejected.replay
    detail  jsonb NOT NULL DEFAULT '{}'     -- what the write came to: counts, version, event id
);
CREATE INDEX api_writes_at ON api_writes (at);
"""


def apply(conn: Conn, *, timescale: bool, storage: StorageSettings) -> None:
    """Create the API writes table (the same on both storage paths)."""
    del timescale, storage
    conn.execute(SCHEMA)
