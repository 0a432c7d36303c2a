"""Stream tickets: a bearer token traded for a single-use, one-minute ticket that may go in the
live feed's URL (EventSource sends no headers), so no long-lived token is ever put in a URL.

Only the ticket's SHA-256 is stored (migration 14); its scope is the token's.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any, Final

import psycopg

from api.tokens import Principal

__all__ = ["TICKET_TTL", "issue_ticket", "redeem_ticket"]

TICKET_TTL: Final = timedelta(seconds=60)


def _digest(ticket: str) -> bytes:
    return hashlib.sha256(ticket.encode()).digest()


def issue_ticket(conn: psycopg.Connection[Any], principal: Principal, *, now: datetime) -> str:
    """Store a ticket carrying ``principal``'s scope and return it; it cannot be shown again."""
    ticket = "fgt_" + secrets.token_urlsafe(32)
    # Expired tickets are useless: whoever issues one clears them, so the table stays small.
    conn.execute("DELETE FROM stream_tickets WHERE expires_at < %s", (now - TICKET_TTL,))
    conn.execute(
        "INSERT INTO stream_tickets (ticket_sha256, role, areas, staff_id, expires_at)"
        " VALUES (%s, %s, %s, %s, %s)",
        (
            _digest(ticket),
            principal.role,
            list(principal.areas),
            principal.staff_id,
            now + TICKET_TTL,
        ),
    )
    return ticket


def redeem_ticket(conn: psycopg.Connection[Any], ticket: str, *, now: datetime) -> Principal | None:
    """Use a live, unused ticket once and return its principal; None if unknown, used or expired."""
    # One statement: of two requests racing with the same ticket, only one sees used_at NULL.
    row = conn.execute(
        "UPDATE stream_tickets SET used_at = %s"
        " WHERE ticket_sha256 = %s AND used_at IS NULL AND expires_at > %s"
        " RETURNING role, areas, staff_id",
        (now, _digest(ticket), now),
    ).fetchone()
    if row is None:
        return None
    return Principal(role=str(row[0]), areas=tuple(row[1]), staff_id=row[2])
