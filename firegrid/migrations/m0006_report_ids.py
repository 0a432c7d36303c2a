"""Report IDs as text: a UUID or a terminal vendor's own report number (CONTRACT §1 IDs)."""

from __future__ import annotations

from infra.database import Conn
from ingest.config import StorageSettings

# Existing UUIDs keep their canonical lower-case spelling, the one the decoder produces.
SCHEMA = """
ALTER TABLE hazard_reports ALTER COLUMN report_id TYPE text USING report_id::text;
"""


def apply(conn: Conn, *, timescale: bool, storage: StorageSettings) -> None:
    """Widen ``hazard_reports.report_id`` to text (the same on both storage paths)."""
    del timescale, storage
    conn.execute(SCHEMA)
