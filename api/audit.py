"""The actor of a write is the token's (issue 9 point 1), never a field the caller sends.

Acknowledgements and case actions keep their author in their own rows. Imports and replays
change rows that keep none, so each leaves one ``api_writes`` row (migration 16) naming the
token's actor, written on the request's connection: it commits with the write or not at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from psycopg.types.json import Jsonb

from api.tokens import Principal
from infra.database import Conn

__all__ = ["record_write"]


def record_write(conn: Conn, caller: Principal, *, action: str, detail: Mapping[str, Any]) -> None:
    """Record that ``caller``'s token did ``action``, and what it came to."""
    conn.execute(
        "INSERT INTO api_writes (actor, role, action, detail) VALUES (%s, %s, %s, %s)",
        (caller.actor, caller.role, action, Jsonb(dict(detail))),
    )
