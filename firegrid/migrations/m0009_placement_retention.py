"""Hazards say where they stand in the grid; rejected payloads keep size and hash; retention.

``placement`` is derived from the columns the sink already writes, so no writer can forget it:
``placed`` (in a grid), ``outside`` (its point lies in no grid of ``grid_version``),
``no_grids`` (it has a point but no grids were imported when it was placed), ``no_position``
(its subject has no known position). The indexes serve the re-placing of open hazards left
without a grid (``hazards.places``) and the bounded retention deletes (``firegrid.maintenance``).
"""

from __future__ import annotations

from infra.database import Conn
from ingest.config import StorageSettings

SCHEMA = """
ALTER TABLE hazards ADD COLUMN placement text GENERATED ALWAYS AS (
    CASE
        WHEN grid_code IS NOT NULL THEN 'placed'
        WHEN lat IS NULL OR lon IS NULL THEN 'no_position'
        WHEN grid_version IS NULL THEN 'no_grids'
        ELSE 'outside'
    END
) STORED;
CREATE INDEX hazards_unplaced ON hazards (grid_version, id)
    WHERE status <> 'cleared' AND grid_code IS NULL AND lat IS NOT NULL AND lon IS NOT NULL;

-- An oversize payload is kept as a prefix; these say what the whole was (NULL: kept whole).
ALTER TABLE rejected_messages ADD COLUMN payload_size integer, ADD COLUMN payload_sha256 bytea;

CREATE INDEX ingest_conflicts_received ON ingest_conflicts (received_at);
CREATE INDEX ingest_batches_committed ON ingest_batches (committed_at);
CREATE INDEX hazard_events_at ON hazard_events (at);
"""


def apply(conn: Conn, *, timescale: bool, storage: StorageSettings) -> None:
    """Add placement, payload size and hash, and the retention indexes (both storage paths)."""
    del timescale, storage
    conn.execute(SCHEMA)
