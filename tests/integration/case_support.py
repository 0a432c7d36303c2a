"""A case opened as the dispatch role opens one, for the API tests of a single case."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg

from dispatch.case_rules import load_case_rules
from dispatch.config import DispatchSettings
from dispatch.opening import open_or_join
from dispatch.wallclock import WallClockDeadlines


def open_case(conn: psycopg.Connection[Any], street: str) -> str:
    """Open a case for a smoke alarm at (31.2, 121.5) in grid ``<street>001001``; its ID."""
    community = street + "001"
    hazard: dict[str, Any] = {
        "id": uuid.uuid4().int % 10**12,
        "rule_id": "smoke_alarm",
        "kind": "device_event",
        "severity": "major",
        "subject_type": "device",
        "subject_id": "D",
        "unit_id": f"U-{street}",
        "grid_code": community + "001",
        "community_code": community,
        "street_code": street,
        "lat": 31.2,
        "lon": 121.5,
        "detail": {},
    }
    opened = open_or_join(
        conn,
        hazard=hazard,
        rules=load_case_rules(),
        deadlines=WallClockDeadlines(),
        settings=DispatchSettings(),
        now=datetime.now(UTC),
    )
    assert opened.case_id is not None
    return opened.case_id
