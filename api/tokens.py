"""Bearer tokens: created by the CLI, checked by the API. Only their SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any, Final

import psycopg

from grids.codes import in_area

ROLES: Final = frozenset({"admin", "operator", "integrator", "grid_worker", "viewer"})


@dataclass(frozen=True)
class Principal:
    """Who is calling: a role and the area codes it may see (empty: everything)."""

    role: str
    areas: tuple[str, ...]
    staff_id: str | None = None  # the staff member the token acts as (case actions)

    def sees_place(self, *, grid: str | None, community: str | None, street: str | None) -> bool:
        """Tell whether an object located in these grid codes is inside the caller's areas."""
        if not self.areas:
            return True
        return any(in_area(a, grid=grid, community=community, street=street) for a in self.areas)


def create_token(
    conn: psycopg.Connection[Any],
    *,
    role: str,
    areas: list[str],
    note: str = "",
    staff_id: str | None = None,
) -> str:
    """Create a token (naming a staff member, who may then act on cases) and return it; it
    cannot be shown again."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(sorted(ROLES))}")
    if staff_id is not None:
        found = conn.execute("SELECT 1 FROM staff WHERE staff_id = %s", (staff_id,)).fetchone()
        if found is None:
            raise ValueError(f"no staff member {staff_id!r} in the registry")
    token = "fg_" + secrets.token_urlsafe(32)
    conn.execute(
        "INSERT INTO api_tokens (token_sha256, role, areas, note, staff_id)"
        " VALUES (%s, %s, %s, %s, %s)",
        (hashlib.sha256(token.encode()).digest(), role, areas, note, staff_id),
    )
    return token


def lookup_token(conn: psycopg.Connection[Any], *, token: str) -> Principal | None:
    """Return the principal of a live token, or None."""
    row = conn.execute(
        "SELECT role, areas, staff_id FROM api_tokens"
        " WHERE token_sha256 = %s AND revoked_at IS NULL",
        (hashlib.sha256(token.encode()).digest(),),
    ).fetchone()
    if row is None:
        return None
    return Principal(role=str(row[0]), areas=tuple(row[1]), staff_id=row[2])
