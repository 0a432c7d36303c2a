"""Hazard changes recorded: in the hazard's history and on the event log.

Every writer of a hazard change (the rules' sink, an acknowledgement, a re-placement) records it
here, in the transaction of the change, after the change: ``hazard_events`` keeps the hazard's
history, and ``hazard.opened|updated|cleared`` on the event log tells the live feed (and later
dispatch). Each log event carries the hazard row as it stands after the change (what the feed
shows) and its place (what area-limited subscribers are filtered by), so no reader of the log
joins the hazard tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from psycopg.types.json import Jsonb

from infra.database import Conn
from infra.eventlog import append_rows

__all__ = ["log_hazard_events", "record_hazard_events"]

_HISTORY: Final = """
INSERT INTO hazard_events (hazard_id, type, data)
SELECT u.h, u.t, u.d FROM unnest(%s::bigint[], %s::text[], %s::jsonb[]) WITH ORDINALITY
    AS u(h, t, d, o)
ORDER BY u.o
"""

_LOG: Final = """
INSERT INTO event_log (kind, subject, payload, grid_code, community_code, street_code)
SELECT u.t, h.id::text, jsonb_build_object('hazard', to_jsonb(h), 'change', u.d),
       h.grid_code, h.community_code, h.street_code
FROM unnest(%s::bigint[], %s::text[], %s::jsonb[]) WITH ORDINALITY AS u(id, t, d, o)
JOIN hazards h ON h.id = u.id
ORDER BY u.o
"""


def log_hazard_events(
    conn: Conn,
    *,
    hazard_ids: Sequence[int],
    types: Sequence[str],
    changes: Sequence[Mapping[str, Any]],
) -> None:
    """Append one event per (hazard, type, change), in order, in the caller's transaction."""
    if hazard_ids:
        append_rows(
            conn,
            sql=_LOG,
            params=(list(hazard_ids), list(types), [Jsonb(dict(c)) for c in changes]),
        )


def record_hazard_events(
    conn: Conn,
    *,
    hazard_ids: Sequence[int],
    types: Sequence[str],
    changes: Sequence[Mapping[str, Any]],
) -> None:
    """Write the changes to the hazards' history and append them to the log, in order."""
    if hazard_ids:
        conn.execute(_HISTORY, (list(hazard_ids), list(types), [Jsonb(dict(c)) for c in changes]))
        log_hazard_events(conn, hazard_ids=hazard_ids, types=types, changes=changes)
