"""Cases opened as the dispatch role opens them: a smoke alarm hazard and its case."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg

from dispatch.case_rules import load_case_rules
from dispatch.config import DispatchSettings
from dispatch.opening import Opened, open_or_join
from dispatch.wallclock import WallClockDeadlines


def smoke_alarm(grid: str, **fields: Any) -> dict[str, Any]:
    """Return a smoke alarm hazard at (31.2, 121.5) in ``grid``; ``fields`` replace its own."""
    return {
        "id": uuid.uuid4().int % 10**12,
        "rule_id": "smoke_alarm",
        "kind": "device_event",
        "severity": "major",
        "subject_type": "device",
        "subject_id": "D",
        "unit_id": None,
        "grid_code": grid,
        "community_code": grid[:12],
        "street_code": grid[:9],
        "lat": 31.2,
        "lon": 121.5,
        "detail": {},
        **fields,
    }


def open_for(
    conn: psycopg.Connection[Any], hazard: dict[str, Any], now: datetime | None = None
) -> Opened:
    """Open or join a case for ``hazard`` with the shipped case rules, at ``now`` (default: now)."""
    return open_or_join(
        conn,
        hazard=hazard,
        rules=load_case_rules(),
        deadlines=WallClockDeadlines(),
        settings=DispatchSettings(),
        now=now or datetime.now(UTC),
    )


def open_case(
    conn: psycopg.Connection[Any], street: str, unit: str = "U", now: datetime | None = None
) -> str:
    """Open a case for a smoke alarm of ``<unit>-<street>`` in grid ``<street>001001``; its ID."""
    opened = open_for(conn, smoke_alarm(street + "001001", unit_id=f"{unit}-{street}"), now)
    assert opened.case_id is not None
    return opened.case_id
