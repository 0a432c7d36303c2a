"""A grid import's ``effective_from``: the China day since which the grids it adds were in force.

Given as a query parameter or CLI flag, or as the FeatureCollection's top-level foreign member
``"effective_from"`` (RFC 7946 §6.1 lets a GeoJSON object carry members of its own), as
``YYYY-MM-DD``. Omitted, grids count from the import itself, as before. A date after today
(China Standard Time) would judge days not yet lived; it is refused, as is an unparsable one or
two different dates given both ways.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from grids.exceptions import GridImportError, GridProblem

MEMBER: Final = "effective_from"
_CST: Final = timedelta(hours=8)


def china_day(at: datetime | None = None) -> date:
    """Return the China Standard Time date of ``at`` (default: the wall clock's now)."""
    return ((at or datetime.now(UTC)).astimezone(UTC) + _CST).date()


def _parse(value: object, where: str) -> date:
    if isinstance(value, date):
        return value
    problem = GridProblem(where, "invalid_date", f"expected a YYYY-MM-DD China day, got {value!r}")
    # fromisoformat also takes 20261201 and 2026-W49-2: only the contract's form is accepted.
    if not isinstance(value, str) or len(value) != 10:
        raise GridImportError([problem])
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise GridImportError([problem]) from exc


def effective_from(
    doc: Mapping[str, Any] | None, given: str | date | None, *, today: date
) -> date | None:
    """Return the import's effective day from ``given`` or the document's member, validated."""
    member = doc.get(MEMBER) if doc is not None else None
    day = None if given is None else _parse(given, MEMBER)
    in_doc = None if member is None else _parse(member, MEMBER)
    if day is not None and in_doc is not None and day != in_doc:
        raise GridImportError(
            [
                GridProblem(
                    MEMBER,
                    "conflicting_dates",
                    f"given as {day.isoformat()} but the file says {in_doc.isoformat()}",
                )
            ]
        )
    chosen = day or in_doc
    if chosen is not None and chosen > today:
        raise GridImportError(
            [
                GridProblem(
                    MEMBER,
                    "in_the_future",
                    f"{chosen.isoformat()} is after today ({today.isoformat()}, China time)",
                )
            ]
        )
    return chosen
