"""Rejected messages remember when they were replayed (``firegrid rejected replay``)."""

from __future__ import annotations

from infra.database import Conn
from ingest.config import StorageSettings

SCHEMA = """
ALTER TABLE rejected_messages ADD COLUMN replayed_at timestamptz;
CREATE INDEX rejected_messages_pending ON rejected_messages (reason, id) WHERE replayed_at IS NULL;
"""


def apply(conn: Conn, *, timescale: bool, storage: StorageSettings) -> None:
    """Add the replay mark (the same on both storage paths)."""
    del timescale, storage
    conn.execute(SCHEMA)
