"""Case SQL: keyword-only functions taking the caller's connection (and transaction)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, Final

from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from dispatch.models import Case, CaseStep
from hazards.service import area_condition
from infra.database import Conn

__all__ = [
    "add_step",
    "batch_case_actions",
    "claim_action",
    "get_case",
    "history",
    "insert_case",
    "link_hazard",
    "link_report",
    "list_cases",
    "next_case_id",
    "open_case_for",
    "photo_positions",
    "set_outcome",
    "update_case",
]

FIELDS: Final = (
    "c.case_id, c.category, c.urgency, c.status, c.unit_id, c.grid_code, c.community_code,"
    " c.street_code, c.lat, c.lon, c.area_type, c.assignee, c.assignee_reason,"
    " c.escalation_level, c.deadline, c.stage, c.handled_by, c.rework, c.created_at,"
    " c.updated_at, c.closed_at, c.version,"
    " c.remind_at, c.reminded_for, c.escalated_for, c.suspended_since, c.paused_left,"
    " coalesce(ARRAY(SELECT hazard_id FROM case_hazards h WHERE h.case_id = c.case_id"
    " ORDER BY hazard_id), '{}') AS hazard_ids,"
    " coalesce(ARRAY(SELECT report_id FROM case_reports r WHERE r.case_id = c.case_id"
    " ORDER BY report_id), '{}') AS report_ids"
)
# Columns ``update_case`` may set: never the id, the open key or the version (bumped here).
_UPDATABLE: Final = frozenset(
    {
        "status",
        "urgency",
        "assignee",
        "assignee_reason",
        "escalation_level",
        "deadline",
        "stage",
        "handled_by",
        "rework",
        "closed_at",
        # The sweep's and the clock's columns (m0012).
        "remind_at",
        "reminded_for",
        "escalated_for",
        "suspended_since",
        "paused_left",
    }
)


def next_case_id(conn: Conn, *, day: date) -> str:
    """Draw the next ``C-YYYYMMDD-NNNNNN`` of ``day`` (China date) in the caller's transaction."""
    row = conn.execute(
        "INSERT INTO case_id_days (day, last) VALUES (%s, 1)"
        " ON CONFLICT (day) DO UPDATE SET last = case_id_days.last + 1 RETURNING last",
        (day,),
    ).fetchone()
    assert row is not None
    return f"C-{day:%Y%m%d}-{int(row[0]):06d}"


def get_case(conn: Conn, *, case_id: str, lock: bool = False) -> Case | None:
    """Return one case (``lock``: FOR UPDATE of its row, for a change)."""
    if lock:
        conn.execute("SELECT 1 FROM cases WHERE case_id = %s FOR UPDATE", (case_id,))
    with conn.cursor(row_factory=class_row(Case)) as cur:
        return cur.execute(
            f"SELECT {FIELDS} FROM cases c WHERE c.case_id = %s", (case_id,)
        ).fetchone()


def open_case_for(conn: Conn, *, open_key: str, category: str) -> Case | None:
    """Return the open case of (unit or grid, category), locked, or None."""
    row = conn.execute(
        "SELECT case_id FROM cases WHERE open_key = %s AND category = %s AND status <> 'closed'"
        " FOR UPDATE",
        (open_key, category),
    ).fetchone()
    return None if row is None else get_case(conn, case_id=str(row[0]))


def insert_case(conn: Conn, *, values: dict[str, Any]) -> None:
    """Insert a case row from ``values`` (column: value)."""
    cols = list(values)
    conn.execute(
        f"INSERT INTO cases ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))})",
        [values[c] for c in cols],
    )


def update_case(conn: Conn, *, case_id: str, now: datetime, changes: dict[str, Any]) -> None:
    """Set ``changes`` on a case, bump its version and ``updated_at``."""
    bad = set(changes) - _UPDATABLE
    if bad:
        raise ValueError(f"not updatable: {sorted(bad)}")
    sets = "".join(f", {c} = %s" for c in changes)
    conn.execute(
        f"UPDATE cases SET version = version + 1, updated_at = %s{sets} WHERE case_id = %s",
        [now, *changes.values(), case_id],
    )


def link_hazard(conn: Conn, *, case_id: str, hazard_id: int) -> bool:
    """Attach a hazard to a case; False when it already belongs to one (a redelivery)."""
    cur = conn.execute(
        "INSERT INTO case_hazards (case_id, hazard_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
        (case_id, hazard_id),
    )
    return cur.rowcount == 1


def link_report(conn: Conn, *, case_id: str, report_id: str) -> None:
    """Attach a hazard report to a case."""
    conn.execute(
        "INSERT INTO case_reports (case_id, report_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
        (case_id, report_id),
    )


def add_step(
    conn: Conn,
    *,
    case_id: str,
    action: str,
    from_status: str | None,
    to_status: str,
    actor: str | None,
    at: datetime,
    note: str = "",
    photos: Sequence[str] = (),
    lat: float | None = None,
    lon: float | None = None,
    detail: dict[str, Any] | None = None,
) -> CaseStep:
    """Append one step to the case's history (the case row is locked by the caller)."""
    with conn.cursor(row_factory=class_row(CaseStep)) as cur:
        step = cur.execute(
            "INSERT INTO case_history (case_id, seq, action, from_status, to_status, actor, at,"
            " note, photos, lat, lon, detail)"
            " SELECT %s, coalesce(max(seq), 0) + 1, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s"
            " FROM case_history WHERE case_id = %s"
            " RETURNING seq, action, from_status, to_status, actor, at, note, photos, lat, lon,"
            " detail",
            (
                case_id,
                action,
                from_status,
                to_status,
                actor,
                at,
                note,
                list(photos),
                lat,
                lon,
                Jsonb(detail or {}),
                case_id,
            ),
        ).fetchone()
    assert step is not None
    return step


def history(conn: Conn, *, case_id: str) -> list[CaseStep]:
    """Return a case's steps in order."""
    with conn.cursor(row_factory=class_row(CaseStep)) as cur:
        return cur.execute(
            "SELECT seq, action, from_status, to_status, actor, at, note, photos, lat, lon,"
            " detail FROM case_history WHERE case_id = %s ORDER BY seq",
            (case_id,),
        ).fetchall()


def list_cases(
    conn: Conn,
    *,
    status: str | None = None,
    area: str | None = None,
    assignee: str | None = None,
    areas: Sequence[str] = (),
    before: tuple[datetime, str] | None = None,
    limit: int = 100,
) -> list[Case]:
    """Return cases newest first, filtered; ``areas`` is what the caller may see (empty: all)."""
    where: list[str] = ["true"]
    args: list[Any] = []
    if status is not None:
        where.append("c.status = %s")
        args.append(status)
    if assignee is not None:
        where.append("c.assignee = %s")
        args.append(assignee)
    for codes in ([area] if area is not None else [], list(areas)):
        if codes:
            condition, values = area_condition(codes)
            where.append(condition)  # unqualified codes are the case's: the one table
            args.extend(values)
    if before is not None:
        where.append("(c.created_at, c.case_id) < (%s, %s)")
        args.extend(before)
    args.append(limit)
    with conn.cursor(row_factory=class_row(Case)) as cur:
        return cur.execute(
            f"SELECT {FIELDS} FROM cases c WHERE {' AND '.join(where)}"
            " ORDER BY c.created_at DESC, c.case_id DESC LIMIT %s",
            args,
        ).fetchall()


def claim_action(
    conn: Conn, *, action_id: str, case_id: str, now: datetime
) -> dict[str, Any] | None:
    """Claim ``action_id`` for this transaction; return the first outcome when it was seen.

    The insert comes first: a twin of the same action in another transaction waits on it and
    then reads the outcome this one committed, so an action is applied once.
    """
    cur = conn.execute(
        "INSERT INTO case_actions (action_id, case_id, received_at, outcome)"
        " VALUES (%s, %s, %s, '{}') ON CONFLICT (action_id) DO NOTHING",
        (action_id, case_id, now),
    )
    if cur.rowcount == 1:
        return None
    row = conn.execute(
        "SELECT outcome FROM case_actions WHERE action_id = %s", (action_id,)
    ).fetchone()
    assert row is not None
    outcome: dict[str, Any] = row[0]
    return outcome


def set_outcome(conn: Conn, *, action_id: str, outcome: dict[str, Any]) -> None:
    """Record what an action came to, for its repeats."""
    conn.execute(
        "UPDATE case_actions SET outcome = %s WHERE action_id = %s", (Jsonb(outcome), action_id)
    )


def photo_positions(conn: Conn, *, shas: Sequence[str]) -> dict[str, tuple[float, float] | None]:
    """Return the photos held among ``shas`` with their EXIF position (None: none stated)."""
    rows = conn.execute(
        "SELECT sha256, exif_lat, exif_lon FROM photos WHERE sha256 = ANY(%s::text[])",
        ([s.lower() for s in shas],),
    ).fetchall()
    return {
        str(r[0]): (float(r[1]), float(r[2])) if r[1] is not None and r[2] is not None else None
        for r in rows
    }


def batch_case_actions(conn: Conn, *, batch_id: int) -> list[tuple[str, dict[str, Any]]]:
    """Return the (terminal, decoded action) pairs a batch stored, in arrival order."""
    rows = conn.execute(
        "SELECT terminal_id, action FROM terminal_case_actions WHERE batch_id = %s ORDER BY id",
        (batch_id,),
    ).fetchall()
    return [(str(r[0]), dict(r[1])) for r in rows]
