"""Who gets a case: the unit's grid worker, else the grid head, else the community handler.

The choice is pure (``choose``) over the staff of the case's grid and community, which
``assign`` reads; the reason travels with the case (``assignee_reason``) so anyone can see why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from psycopg.rows import class_row

from dispatch.models import Actor
from infra.database import Conn

__all__ = ["Assignment", "assign", "choose", "staff_by_id", "staff_by_terminal", "staff_of_area"]


@dataclass(frozen=True, slots=True)
class Assignment:
    """The assignee (None: no one registered) and why."""

    staff_id: str | None
    reason: str


def choose(
    staff: Sequence[Actor], *, grid_code: str | None, community_code: str | None
) -> Assignment:
    """Pick the assignee among ``staff`` (lowest staff_id within a rung, for a stable choice)."""
    ordered = sorted(staff, key=lambda s: s.staff_id)

    def first(role: str, area: str | None) -> Actor | None:
        if area is None:
            return None
        return next((s for s in ordered if s.role == role and s.area == area), None)

    worker = first("grid_worker", grid_code)
    if worker is not None:
        return Assignment(worker.staff_id, "unit's grid worker")
    head = first("grid_head", grid_code)
    if head is not None:
        return Assignment(head.staff_id, "grid head")
    handler = first("community_handler", community_code)
    if handler is not None:
        return Assignment(
            handler.staff_id,
            f"no grid worker or head registered for grid {grid_code}: community handler",
        )
    return Assignment(
        None,
        f"no grid worker, grid head or community handler for grid {grid_code}"
        f" / community {community_code}",
    )


_FIELDS = "staff_id, role, area, terminal_id"


def staff_of_area(conn: Conn, *, codes: Sequence[str | None]) -> list[Actor]:
    """Return the staff whose area is one of ``codes``."""
    wanted = [c for c in codes if c]
    with conn.cursor(row_factory=class_row(Actor)) as cur:
        return cur.execute(
            f"SELECT {_FIELDS} FROM staff WHERE area = ANY(%s::text[])", (wanted,)
        ).fetchall()


def assign(conn: Conn, *, grid_code: str | None, community_code: str | None) -> Assignment:
    """Return the case's assignee from the staff registry."""
    staff = staff_of_area(conn, codes=[grid_code, community_code])
    return choose(staff, grid_code=grid_code, community_code=community_code)


def staff_by_id(conn: Conn, *, staff_ids: Sequence[str]) -> dict[str, Actor]:
    """Return the staff rows of ``staff_ids`` by id (missing ones absent)."""
    with conn.cursor(row_factory=class_row(Actor)) as cur:
        rows = cur.execute(
            f"SELECT {_FIELDS} FROM staff WHERE staff_id = ANY(%s::text[])", (list(staff_ids),)
        ).fetchall()
    return {r.staff_id: r for r in rows}


def staff_by_terminal(conn: Conn, *, terminal_id: str) -> Actor | None:
    """Return the staff member carrying ``terminal_id``, or None."""
    with conn.cursor(row_factory=class_row(Actor)) as cur:
        return cur.execute(
            f"SELECT {_FIELDS} FROM staff WHERE terminal_id = %s", (terminal_id,)
        ).fetchone()
