"""Patrol days judged again: a grid version's effective date, and which judged days changed.

``grid_versions.effective_from`` (a China day; NULL: from the import itself) says since when the
grids a version adds were in force, so the patrol check counts them for days before the import.

``patrol_days`` has one row per China day the patrol check has judged. Late patrol data (a
phone uploading yesterday's track this morning) and a back-dated grid import set ``stale_at``
on the days they change; the next patrol tick judges those days again (within its window) and
clears the mark. One row a day: marking is an update by primary key, never a row per fix.
"""

from __future__ import annotations

from infra.database import Conn
from ingest.config import StorageSettings

SCHEMA = """
ALTER TABLE grid_versions ADD COLUMN effective_from date;

CREATE TABLE patrol_days (
    day       date PRIMARY KEY,       -- China Standard Time day judged
    judged_at timestamptz NOT NULL DEFAULT now(),
    stale_at  timestamptz             -- when its inputs last changed after judging; NULL: none
);
CREATE INDEX patrol_days_stale ON patrol_days (day) WHERE stale_at IS NOT NULL;
"""


def apply(conn: Conn, *, timescale: bool, storage: StorageSettings) -> None:
    """Add the effective date of grid versions and the patrol days table."""
    del timescale, storage
    conn.execute(SCHEMA)
