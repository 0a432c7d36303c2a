"""Stream tickets (issue 9 point 3): EventSource cannot send Authorization, so a console trades
its bearer token for a single-use ticket of one minute and puts that in the stream's URL.

Only the ticket's SHA-256 is kept; the ticket carries its token's scope (role, areas, staff)
as it stood when issued, which a minute's lifetime makes safe to copy.
"""

from __future__ import annotations

from infra.database import Conn
from ingest.config import StorageSettings

SCHEMA = """
CREATE TABLE stream_tickets (
    ticket_sha256  bytea PRIMARY KEY,         -- sha256 of the ticket; never the ticket
    role           text NOT NULL,
    areas          text[] NOT NULL,
    staff_id       text,
    expires_at     timestamptz NOT NULL,
    used_at        timestamptz                -- set by the one stream the ticket opens
);
CREATE INDEX stream_tickets_expiry ON stream_tickets (expires_at);
"""


def apply(conn: Conn, *, timescale: bool, storage: StorageSettings) -> None:
    """Create the stream tickets table (the same on both storage paths)."""
    del timescale, storage
    conn.execute(SCHEMA)
