"""Hazard reports located in the grid, and a hazard per report (subject ``report``)."""

from __future__ import annotations

from infra.database import Conn
from ingest.config import StorageSettings

SCHEMA = """
-- The grid version a report's codes were located under (NULL: not located yet, or no grids).
ALTER TABLE hazard_reports ADD COLUMN grid_version integer;

-- A worker's report is a hazard subject of its own: one hazard per report_id, never two.
ALTER TABLE hazards DROP CONSTRAINT hazards_subject_type_check;
ALTER TABLE hazards ADD CONSTRAINT hazards_subject_type_check
    CHECK (subject_type IN ('device', 'unit', 'grid', 'terminal', 'report'));
CREATE UNIQUE INDEX hazards_one_per_report ON hazards (subject_id, rule_id)
    WHERE subject_type = 'report';
"""


def apply(conn: Conn, *, timescale: bool, storage: StorageSettings) -> None:
    """Add the report's grid version and the report subject (the same on both storage paths)."""
    del timescale, storage
    conn.execute(SCHEMA)
