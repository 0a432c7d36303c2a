"""Patrol segments rebuilt from stored fixes: grids visited, desk phone, idempotent windows."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import psycopg
import pytest

from api.tokens import create_token
from firegrid.db import storage_is_timescale
from grids.locator import GridLocator
from grids.models import parse_grids
from grids.service import import_grids
from ingest.config import StorageSettings
from ingest.partitions import chunk_starts, ensure_partitions
from patrols.segments import REASON_STATIONARY
from patrols.service import rebuild_segments, terminals_with_fixes
from simulators.grid_layout import generate_street, grid_centres
from tests.fix_api import api_client

LAT, LON = 23.1291, 113.2644  # Guangzhou: codes under 440104
T0 = datetime(2026, 11, 26, 0, 0, tzinfo=UTC)
M_PER_DEG = 6_371_008.8 * math.pi / 180.0
STEP_S = 5
# Centres of the module's grids, filled by the grid_version fixture.
_CENTRES: dict[str, tuple[float, float]] = {}


@pytest.fixture(scope="module")
def grid_version(db_url: str) -> int:
    collection = generate_street(
        lat=LAT, lon=LON, street_code="440104011", communities=1, grids_per_community=4
    )
    with psycopg.connect(db_url) as conn:
        version = import_grids(conn, grid_set=parse_grids(collection), source="patrols").version
    _CENTRES.update(grid_centres(collection))
    return version


@pytest.fixture
def locator(db_url: str, grid_version: int) -> GridLocator:
    del grid_version  # imported first, so it is the current version

    def connect() -> AbstractContextManager[psycopg.Connection[Any]]:
        return psycopg.connect(db_url)

    return GridLocator(connect=connect)


def _walk(
    a: tuple[float, float], b: tuple[float, float], seconds: int
) -> list[tuple[float, float]]:
    """Positions every STEP_S from a to b and back, taking ``seconds`` in all."""
    n = seconds // STEP_S // 2
    t = np.r_[np.linspace(0, 1, n), np.linspace(1, 0, n)]
    return [(a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f) for f in t]


def _desk(at: tuple[float, float], seconds: int, seed: int) -> list[tuple[float, float]]:
    rng = np.random.default_rng(seed)
    n = seconds // STEP_S
    k = math.cos(math.radians(at[0]))
    return [
        (at[0] + dy / M_PER_DEG, at[1] + dx / (M_PER_DEG * k))
        for dx, dy in rng.normal(0, 5, (n, 2)).tolist()
    ]


def _store(db_url: str, terminal: str, start: datetime, points: list[tuple[float, float]]) -> None:
    rows = [
        (start + timedelta(seconds=i * STEP_S), terminal, lat, lon, 1, 14, 0.8, T0, 0)
        for i, (lat, lon) in enumerate(points)
    ]
    _partitions(db_url, [r[0] for r in rows])
    with psycopg.connect(db_url) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO fixes (ts, terminal_id, lat, lon, quality, satellites, hdop, "
            "received_at, batch_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            rows,
        )


def _partitions(db_url: str, times: list[datetime]) -> None:
    # Without TimescaleDB, fixes is natively partitioned: ingest creates partitions as data
    # arrives, and so must a test writing rows itself.
    chunk = StorageSettings().chunk_interval
    with psycopg.connect(db_url, autocommit=True) as conn:
        if not storage_is_timescale(conn):
            ensure_partitions(conn, table="fixes", starts=chunk_starts(times, chunk), chunk=chunk)


def _stored(db_url: str, terminal: str) -> list[dict[str, Any]]:
    with psycopg.connect(db_url) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return cur.execute(
            "SELECT staff_id, started_at, ended_at, duration_s, distance_m, fixes, grids, "
            "grid_version, valid, reason FROM patrol_segments WHERE terminal_id = %s "
            "ORDER BY started_at",
            (terminal,),
        ).fetchall()


def _rebuild(db_url: str, terminal: str, locator: GridLocator, a: datetime, b: datetime) -> int:
    with psycopg.connect(db_url) as conn:
        return len(rebuild_segments(conn, terminal_id=terminal, since=a, until=b, locator=locator))


@pytest.fixture
def terminal(db_url: str) -> str:
    tag = uuid.uuid4().hex[:8]
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO staff (staff_id, name, role, area, terminal_id) "
            "VALUES (%s, '网格员', 'grid_worker', '440104011001', %s)",
            (f"S-{tag}", f"T-{tag}"),
        )
    return f"T-{tag}"


def test_a_walk_and_a_desk_phone_become_one_valid_and_one_stationary_segment(
    db_url: str, terminal: str, locator: GridLocator, grid_version: int
) -> None:
    codes = sorted(_CENTRES)
    walk = _walk(_CENTRES[codes[0]], _CENTRES[codes[1]], 70 * 60)
    _store(db_url, terminal, T0, walk)
    desk_start = T0 + timedelta(minutes=80)  # a ten-minute break, then the phone sits still
    _store(db_url, terminal, desk_start, _desk(_CENTRES[codes[2]], 40 * 60, seed=1))
    day = (T0, T0 + timedelta(days=1))
    assert _rebuild(db_url, terminal, locator, *day) == 2
    walked, desk = _stored(db_url, terminal)
    assert walked["staff_id"] == terminal.replace("T-", "S-")
    assert walked["valid"]
    assert walked["reason"] is None
    assert walked["duration_s"] == pytest.approx(70 * 60 - STEP_S)
    assert walked["fixes"] == len(walk)
    assert walked["grid_version"] == grid_version
    visits = {v["grid"]: v for v in walked["grids"]}
    assert set(visits) == {codes[0], codes[1]}
    assert sum(v["seconds"] for v in visits.values()) == pytest.approx(walked["duration_s"])
    assert visits[codes[0]]["community"] == codes[0][:12]
    assert not desk["valid"]
    assert desk["reason"] == REASON_STATIONARY
    assert [v["grid"] for v in desk["grids"]] == [codes[2]]
    assert desk["started_at"] == desk_start

    # Idempotent: again over the day, or over a window inside the walk, changes nothing.
    before = _stored(db_url, terminal)
    assert _rebuild(db_url, terminal, locator, *day) == 2
    inside = (T0 + timedelta(minutes=20), T0 + timedelta(minutes=30))
    assert _rebuild(db_url, terminal, locator, *inside) == 1  # widened to the whole walk
    assert _stored(db_url, terminal) == before
    with psycopg.connect(db_url) as conn:
        assert terminal in terminals_with_fixes(conn, since=day[0], until=day[1])


def test_late_fixes_bridging_a_gap_merge_two_segments(
    db_url: str, terminal: str, locator: GridLocator
) -> None:
    codes = sorted(_CENTRES)
    first = _walk(_CENTRES[codes[0]], _CENTRES[codes[3]], 30 * 60)
    second_start = T0 + timedelta(hours=5, minutes=40)
    _store(db_url, terminal, T0 + timedelta(hours=5), first)
    _store(db_url, terminal, second_start, first)
    day = (T0, T0 + timedelta(days=1))
    assert _rebuild(db_url, terminal, locator, *day) == 2
    # A basement buffer flushed late: the ten missing minutes, one fix a minute.
    gap_fill = [_CENTRES[codes[0]]] * 10
    _partitions(db_url, [T0 + timedelta(hours=5, minutes=30)])
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO fixes (ts, terminal_id, lat, lon, quality, satellites, hdop, "
            "received_at, batch_id) SELECT t, %s, %s, %s, 1, 9, 1.2, now(), 0 "
            "FROM generate_series(%s::timestamptz, %s::timestamptz, interval '1 minute') AS t",
            (
                terminal,
                gap_fill[0][0],
                gap_fill[0][1],
                T0 + timedelta(hours=5, minutes=30),
                T0 + timedelta(hours=5, minutes=39),
            ),
        )
    # Only the flushed stretch is named; the window widens to both old segments.
    late = (T0 + timedelta(hours=5, minutes=31), T0 + timedelta(hours=5, minutes=33))
    assert _rebuild(db_url, terminal, locator, *late) == 1
    [merged] = _stored(db_url, terminal)
    assert merged["started_at"] == T0 + timedelta(hours=5)
    assert merged["fixes"] == 2 * len(first) + 10
    assert merged["valid"]


def test_patrols_api_lists_a_terminals_segments(
    db_url: str, terminal: str, locator: GridLocator
) -> None:
    codes = sorted(_CENTRES)
    for k in range(3):  # three patrols, two hours apart
        start = T0 + timedelta(hours=8 + 2 * k)
        _store(db_url, terminal, start, _walk(_CENTRES[codes[k]], _CENTRES[codes[3]], 3600))
    assert _rebuild(db_url, terminal, locator, T0, T0 + timedelta(days=1)) == 3
    with psycopg.connect(db_url) as conn:
        token = create_token(conn, role="viewer", areas=[])
    with api_client(db_url) as client:
        url = f"/api/v1/terminals/{terminal}/patrols"
        auth = {"Authorization": f"Bearer {token}"}
        everything = client.get(url, headers=auth).json()
        assert len(everything["items"]) == 3
        item = everything["items"][0]
        assert item["started_at"] == "2026-11-26T08:00:00Z"
        assert item["valid"] is True
        assert item["grids"][0]["grid"] == codes[0]
        window = {"from": "2026-11-26T09:30:00Z", "to": "2026-11-26T12:30:00Z"}
        assert [
            i["started_at"] for i in client.get(url, params=window, headers=auth).json()["items"]
        ] == ["2026-11-26T10:00:00Z", "2026-11-26T12:00:00Z"]
        first = client.get(url, params={"limit": 2}, headers=auth).json()
        assert first["next_cursor"]
        rest = client.get(
            url, params={"limit": 2, "cursor": first["next_cursor"]}, headers=auth
        ).json()
        assert [i["started_at"] for i in rest["items"]] == ["2026-11-26T12:00:00Z"]
        naive = client.get(url, params={"from": "2026-11-26T09:30:00"}, headers=auth)
        assert naive.status_code == 400


@pytest.fixture(autouse=True)
def _no_leftovers(db_url: str) -> Iterator[None]:
    yield
    # Committed rows from one test must not look like another's: terminals are unique, but
    # a failing test's fixes would otherwise linger in the session database.
    with psycopg.connect(db_url) as conn:
        conn.execute("DELETE FROM patrol_segments WHERE terminal_id LIKE 'T-%'")
