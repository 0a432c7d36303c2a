"""How far behind the rules role is: the commit time of the oldest batch it has not processed.

The role's ``oldest_pending`` hook defaults to this; the event log (issue 7) replaces it with
the lag of consumer "rules".
"""

from __future__ import annotations

from datetime import datetime

from infra.database import Conn


def oldest_pending_batch(conn: Conn) -> datetime | None:
    """Return when the oldest batch the rules have not processed was committed; None: none."""
    row = conn.execute(
        "SELECT committed_at FROM ingest_batches WHERE NOT rules_done ORDER BY batch_id LIMIT 1"
    ).fetchone()
    return None if row is None else row[0]
