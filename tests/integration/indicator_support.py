"""Cases with known histories for the indicator tests: built through ``open_or_join`` and
``apply_action`` on fixed instants, one-hour deadlines for every stage, and patrol segments."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from dispatch.actions import apply_action
from dispatch.case_rules import load_case_rules
from dispatch.config import DispatchSettings
from dispatch.models import Actor, CaseAction, Stage
from dispatch.opening import open_or_join
from grids.models import parse_grids
from grids.service import import_grids
from simulators.grid_layout import generate_street, grid_centres

# 00:00 on 27 November 2026 in China: the period [T0, T0 + 1 day) is one China day.
T0 = datetime(2026, 11, 26, 16, 0, tzinfo=UTC)
Conn = psycopg.Connection[Any]


class OneHour:
    """Deadlines: every stage is due an hour after it starts (so "late" is easy to place)."""

    def due(
        self, stage: Stage, start: datetime, *, category: str, urgency: str, area_type: str
    ) -> datetime:
        """Return ``start`` plus an hour."""
        del stage, category, urgency, area_type
        return start + timedelta(hours=1)


@dataclass
class Place:
    """The street built for a test: its community, two of its grids, staff and a photo."""

    street: str
    community: str
    g1: str
    g2: str
    grids: list[str]
    centre: dict[str, tuple[float, float]]
    tag: str
    photo: str

    def staff(self, name: str) -> str:
        """Return the staff id of ``name`` (W, V, CH) in this place."""
        return f"{name}{self.tag}"


def build_place(conn: Conn) -> Place:
    """Import a street of one community with 4 grids; register a worker and a grid head of
    the first grid, the community handler, and a photo to verify with."""
    county = f"34{uuid.uuid4().int % 10_000:04d}"
    collection = generate_street(
        lat=31.262, lon=120.618, street_code=f"{county}008", communities=1, grids_per_community=4
    )
    # In force well before T0's day: the patrol check (and so the indicators) asks patrols of
    # a grid only for the days it was in force.
    import_grids(
        conn,
        grid_set=parse_grids(collection),
        source="test_indicators",
        effective_from=date(2026, 11, 1),
    )
    centre = grid_centres(collection)
    grids = sorted(centre)
    tag = uuid.uuid4().hex[:8]
    photo = uuid.uuid4().hex * 2
    place = Place(grids[0][:9], grids[0][:12], grids[0], grids[1], grids, centre, tag, photo)
    for name, role, area in (
        ("W", "grid_worker", place.g1),
        ("V", "grid_head", place.g1),
        ("CH", "community_handler", place.community),
    ):
        conn.execute(
            "INSERT INTO staff (staff_id, name, role, area, terminal_id) VALUES (%s, %s, %s, %s,"
            " %s)",
            (place.staff(name), name, role, area, f"T{name}{tag}"),
        )
    conn.execute(
        "INSERT INTO photos (sha256, terminal_id, content_type, size, path, received_at)"
        " VALUES (%s, %s, 'image/jpeg', 1, 'x.jpg', %s)",
        (photo, f"TV{tag}", T0),
    )
    return place


def open_case(conn: Conn, place: Place, grid: str, unit: str, at: datetime) -> str:
    """Open a smoke-alarm case of ``unit`` in ``grid`` at ``at``; return its id."""
    lat, lon = place.centre[grid]
    hazard = {
        "id": uuid.uuid4().int % 10**12,
        "rule_id": "smoke_alarm",
        "kind": "device_event",
        "severity": "major",
        "subject_type": "device",
        "subject_id": unit,
        "unit_id": unit + place.tag,
        "grid_code": grid,
        "community_code": place.community,
        "street_code": place.street,
        "lat": lat,
        "lon": lon,
        "detail": {},
    }
    opened = open_or_join(
        conn,
        hazard=hazard,
        rules=load_case_rules(),
        deadlines=OneHour(),
        settings=DispatchSettings(),
        now=at,
    )
    assert opened.case_id is not None
    return opened.case_id


def act(
    conn: Conn, place: Place, case_id: str, who: str, action: str, minutes: float, **kw: Any
) -> None:
    """Apply ``action`` by staff ``who`` (W, V, CH) ``minutes`` after T0; it must apply."""
    role, area = {
        "W": ("grid_worker", place.g1),
        "V": ("grid_head", place.g1),
        "CH": ("community_handler", place.community),
    }[who]
    if action == "verify" and kw.get("result") != "fail":
        lat, lon = place.centre[place.g1]
        kw = {"photos": [place.photo], "lat": lat, "lon": lon, **kw}
    outcome = apply_action(
        conn,
        action=CaseAction(
            action_id=str(uuid.uuid4()),
            case_id=case_id,
            action=action,
            **kw,
        ),
        actor=Actor(staff_id=place.staff(who), role=role, area=area),
        deadlines=OneHour(),
        settings=DispatchSettings(),
        now=T0 + timedelta(minutes=minutes),
    )
    assert outcome.status == "applied", outcome


def add_segment(
    conn: Conn, place: Place, who: str, grid: str, start_min: float, seconds: float, valid: bool
) -> None:
    """Store a patrol segment of ``who``'s terminal in ``grid``, ``start_min`` after T0."""
    start = T0 + timedelta(minutes=start_min)
    conn.execute(
        "INSERT INTO patrol_segments (terminal_id, staff_id, started_at, ended_at, duration_s,"
        " distance_m, fixes, extent_m, cells, grids, valid)"
        " VALUES (%s, %s, %s, %s, %s, 1000, 100, 300, 10, %s, %s)",
        (
            f"T{who}{place.tag}",
            place.staff(who),
            start,
            start + timedelta(seconds=seconds),
            seconds,
            Jsonb([{"grid": grid, "seconds": seconds}]),
            valid,
        ),
    )


def build_history(conn: Conn, place: Place) -> dict[str, str]:
    """Cases A-H with the histories the tests assert (see test_indicators.py)."""
    cases = {k: open_case(conn, place, place.g1, k, T0 + timedelta(minutes=1)) for k in "ABCDEH"}
    cases["F"] = open_case(conn, place, place.g2, "F", T0 + timedelta(minutes=1))
    cases["G"] = open_case(conn, place, place.g1, "G", T0 + timedelta(days=1, minutes=1))
    # A: every stage within its hour: closed on time.
    act(conn, place, cases["A"], "W", "sign", 10)
    act(conn, place, cases["A"], "W", "feedback", 20, note="cleared")
    act(conn, place, cases["A"], "V", "verify", 30)
    # B: signed two hours after dispatch: closed, not on time, not signed on time.
    act(conn, place, cases["B"], "W", "sign", 120)
    act(conn, place, cases["B"], "W", "feedback", 130, note="cleared")
    act(conn, place, cases["B"], "V", "verify", 140)
    # C: failed verification, fixed again: rework, still on time.
    act(conn, place, cases["C"], "W", "sign", 10)
    act(conn, place, cases["C"], "W", "feedback", 20, note="cleared")
    act(conn, place, cases["C"], "V", "verify", 30, result="fail", note="still blocked")
    act(conn, place, cases["C"], "W", "feedback", 40, note="cleared again")
    act(conn, place, cases["C"], "V", "verify", 50)
    # D: signed on time, then returned to the community handler (its assignee now).
    act(conn, place, cases["D"], "W", "sign", 10)
    act(conn, place, cases["D"], "W", "return", 15, note="not ours: the landlord's")
    # H: signed and handled in time, verified 80 minutes after the feedback: closed late.
    act(conn, place, cases["H"], "W", "sign", 10)
    act(conn, place, cases["H"], "W", "feedback", 20, note="cleared")
    act(conn, place, cases["H"], "V", "verify", 100)
    # E, F: nobody acted; G is due the next day.
    for who, grid, start, seconds, valid in (
        ("W", place.g1, 60, 4200, True),  # a patrol
        ("V", place.g1, 90, 3600, True),  # overlaps W's: one patrol of the grid, not two
        ("W", place.g1, 300, 3700, True),  # the second patrol
        ("W", place.g1, 480, 3700, False),  # invalid: never counts
        ("W", place.g1, 600, 600, True),  # ten minutes: too short
        ("W", place.g1, 1500, 3700, True),  # the next China day: outside the period
    ):
        add_segment(conn, place, who, grid, start, seconds, valid)
    return cases
