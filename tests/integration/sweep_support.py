"""What the sweep and clock tests share: a place with its ladder of staff, a case opened on it,
and the case's events as the inbox would read them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import psycopg

from dispatch import service
from dispatch.calendar import CHINA
from dispatch.case_rules import load_case_rules
from dispatch.config import DispatchSettings
from dispatch.deadlines_file import load_deadlines
from dispatch.models import Case
from dispatch.opening import open_or_join

TABLE = load_deadlines()
ROLES = ("grid_worker", "grid_head", "community_handler", "street_leader", "county_leader")


def cst(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A China-time instant of 2026."""
    return datetime(2026, month, day, hour, minute, tzinfo=CHINA)


class Place:
    """A grid of a community of a street of a county, and a staff member per ladder rung."""

    def __init__(self, conn: psycopg.Connection[Any], *, without: tuple[str, ...] = ()) -> None:
        self.county = f"{uuid.uuid4().int % 10**6:06d}"
        self.street = self.county + "001"
        self.community = self.street + "002"
        self.grid = self.community + "03"
        tag = uuid.uuid4().hex[:6]
        self.staff: dict[str, str] = {}
        areas = {
            "grid_worker": self.grid,
            "grid_head": self.grid,
            "community_handler": self.community,
            "street_leader": self.street,
            "county_leader": self.county,
        }
        for role in ROLES:
            if role in without:
                continue
            staff_id = "".join(w[0] for w in role.split("_")).upper() + f"-{tag}"
            self.staff[role] = staff_id
            conn.execute(
                "INSERT INTO staff (staff_id, name, role, area, terminal_id)"
                " VALUES (%s, %s, %s, %s, %s)",
                (staff_id, staff_id, role, areas[role], f"T{staff_id}"),
            )

    def open(self, conn: psycopg.Connection[Any], now: datetime, **hazard: Any) -> Case:
        """Open a hydrant case here at ``now`` (working time; a hazard field overrides)."""
        doc = {
            "id": uuid.uuid4().int % 10**12,
            "rule_id": "hydrant_low_pressure",  # a hydrant_problem, normal: working time
            "kind": "device_event",
            "severity": "major",
            "subject_type": "device",
            "subject_id": "D",
            "unit_id": f"U{uuid.uuid4().hex[:8]}",
            "grid_code": self.grid,
            "community_code": self.community,
            "street_code": self.street,
            "lat": 31.2,
            "lon": 121.5,
            "detail": {},
            **hazard,
        }
        opened = open_or_join(
            conn,
            hazard=doc,
            rules=load_case_rules(),
            deadlines=TABLE,
            settings=DispatchSettings(),
            now=now,
        )
        assert opened.case_id is not None
        case = service.get_case(conn, case_id=opened.case_id)
        assert case is not None
        return case


def events(conn: psycopg.Connection[Any], case_id: str) -> list[dict[str, Any]]:
    """Return the case's events' payloads, oldest first."""
    rows = conn.execute(
        "SELECT payload FROM event_log WHERE subject = %s AND kind LIKE 'case.%%' ORDER BY id",
        (case_id,),
    ).fetchall()
    return [dict(r[0]) for r in rows]


def steps(conn: psycopg.Connection[Any], case_id: str) -> list[str]:
    """Return the case's history as action names."""
    return [s.action for s in service.history(conn, case_id=case_id)]


def case(conn: psycopg.Connection[Any], case_id: str) -> Case:
    """Return the case as stored."""
    found = service.get_case(conn, case_id=case_id)
    assert found is not None
    return found
