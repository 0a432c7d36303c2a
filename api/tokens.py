"""Bearer tokens: created by the CLI, checked by the API. Only their SHA-256 is stored."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import psycopg

from grids.codes import in_area

ROLES: Final = frozenset(
    {"admin", "operator", "integrator", "grid_worker", "community_handler", "viewer"}
)


@dataclass(frozen=True)
class Principal:
    """Who is calling: a role and the area codes it may see (empty: everything)."""

    role: str
    areas: tuple[str, ...]
    staff_id: str | None = None  # the staff member the token acts as (case actions)
    name: str | None = None  # the token's name: the actor of its writes when no staff member

    @property
    def actor(self) -> str:
        """Name whoever writes with this token: its staff member, else its name."""
        return self.staff_id or self.name or f"token:{self.role}"

    def sees_place(self, *, grid: str | None, community: str | None, street: str | None) -> bool:
        """Tell whether an object located in these grid codes is inside the caller's areas."""
        if not self.areas:
            return True
        return any(in_area(a, grid=grid, community=community, street=street) for a in self.areas)


_DURATION = re.compile(r"([1-9][0-9]{0,5})([mhd])")
_UNIT_S: Final = {"m": 60, "h": 3600, "d": 86400}


def parse_expiry(text: str, *, now: datetime) -> datetime:
    """Read ``7d``/``12h``/``30m`` (from ``now``) or an ISO 8601 time with its offset."""
    match = _DURATION.fullmatch(text.strip())
    if match is not None:
        return now + timedelta(seconds=int(match[1]) * _UNIT_S[match[2]])
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r}: give 7d, 12h, 30m or an ISO time with its offset") from None
    if when.tzinfo is None:
        # A bare local time would expire at a different instant on every host.
        raise ValueError(f"{text!r}: the ISO time needs its offset (e.g. +08:00 or Z)")
    if when <= now:
        raise ValueError(f"{text!r} is already past")
    return when


def token_id(sha256: bytes) -> str:
    """Return a token's public ID: the first hex digits of its stored hash, never the secret."""
    return sha256.hex()[:12]


def create_token(
    conn: psycopg.Connection[Any],
    *,
    role: str,
    areas: list[str],
    note: str = "",
    staff_id: str | None = None,
    name: str | None = None,
    expires_at: datetime | None = None,
) -> str:
    """Create a token (naming a staff member, who may then act on cases) and return it; it
    cannot be shown again."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(sorted(ROLES))}")
    if staff_id is not None:
        found = conn.execute("SELECT 1 FROM staff WHERE staff_id = %s", (staff_id,)).fetchone()
        if found is None:
            raise ValueError(f"no staff member {staff_id!r} in the registry")
    if name is not None:
        taken = conn.execute(
            "SELECT 1 FROM api_tokens WHERE name = %s AND revoked_at IS NULL", (name,)
        ).fetchone()
        if taken is not None:
            raise ValueError(f"a live token is already named {name!r}")
    token = "fg_" + secrets.token_urlsafe(32)
    conn.execute(
        "INSERT INTO api_tokens (token_sha256, role, areas, note, staff_id, name, expires_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (
            hashlib.sha256(token.encode()).digest(),
            role,
            areas,
            note,
            staff_id,
            name,
            expires_at,
        ),
    )
    return token


def lookup_token(conn: psycopg.Connection[Any], *, token: str) -> Principal | None:
    """Return the principal of a live (unrevoked, unexpired) token, or None; note its use."""
    digest = hashlib.sha256(token.encode()).digest()
    row = conn.execute(
        "SELECT role, areas, staff_id, name FROM api_tokens"
        " WHERE token_sha256 = %s AND revoked_at IS NULL"
        " AND (expires_at IS NULL OR expires_at > now())",
        (digest,),
    ).fetchone()
    if row is None:
        return None
    # At most one write a minute per token: "last used" is for an audit, not a request log.
    # SKIP LOCKED: the row lock lasts the whole request (its one transaction), and a second
    # request of the same token must not wait for a slow first one just to note the same use.
    conn.execute(
        "UPDATE api_tokens SET last_used_at = now() WHERE token_sha256 = ("
        " SELECT token_sha256 FROM api_tokens WHERE token_sha256 = %s"
        " AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')"
        " FOR UPDATE SKIP LOCKED)",
        (digest,),
    )
    return Principal(role=str(row[0]), areas=tuple(row[1]), staff_id=row[2], name=row[3])


@dataclass(frozen=True)
class TokenInfo:
    """What may be shown of a token: everything but its secret."""

    id: str
    name: str | None
    role: str
    areas: tuple[str, ...]
    staff_id: str | None
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


def list_tokens(conn: psycopg.Connection[Any]) -> list[TokenInfo]:
    """Return every token, oldest first, without its secret."""
    rows = conn.execute(
        "SELECT token_sha256, name, role, areas, staff_id, created_at, expires_at,"
        " last_used_at, revoked_at FROM api_tokens ORDER BY created_at, token_sha256"
    ).fetchall()
    return [
        TokenInfo(
            id=token_id(bytes(r[0])),
            name=r[1],
            role=r[2],
            areas=tuple(r[3]),
            staff_id=r[4],
            created_at=r[5],
            expires_at=r[6],
            last_used_at=r[7],
            revoked_at=r[8],
        )
        for r in rows
    ]


def revoke_token(conn: psycopg.Connection[Any], *, name_or_id: str) -> int:
    """Revoke the live token with this name or ID; return how many were revoked (0 or 1)."""
    hex_id = name_or_id.lower()
    # An ID matches a prefix of the hash; a name is matched whole. Both only among live tokens.
    rows = conn.execute(
        "UPDATE api_tokens SET revoked_at = now() WHERE revoked_at IS NULL AND (name = %s"
        " OR (length(%s) = 12 AND left(encode(token_sha256, 'hex'), 12) = %s))"
        " RETURNING 1",
        (name_or_id, hex_id, hex_id),
    ).fetchall()
    return len(rows)
