"""Patrol days judged again on the real database: a late track, a back-dated street, the window.

Each test has a database of its own: the patrol check judges a China day once per database,
and the marks it judges again are the database's. The rules service runs in-process and ticks
at the wall clock's now, so "yesterday" is the real one (an import may not be effective after
today).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest

from firegrid.db import storage_is_timescale
from grids.effective import china_day
from grids.flows import import_grid_file
from grids.locator import GridLocator
from grids.patrol_days import mark_stale
from ingest.config import StorageSettings
from ingest.partitions import chunk_starts, ensure_partitions
from patrols.service import rebuild_segments
from rules.config import RulesSettings
from rules.flows import RulesService
from simulators.grid_layout import generate_street, grid_centres
from tests.fix_db import private_database

LAT, LON = 22.5431, 114.0579  # Shenzhen: codes under 440304
M_PER_DEG = 6_371_008.8 * math.pi / 180.0
STEP_S = 5
CST = timedelta(hours=8)


@pytest.fixture
def db(pg_admin_url: str) -> Iterator[str]:
    yield from private_database(pg_admin_url, "fg_rejudge")


def street(code: str) -> dict[str, Any]:
    return generate_street(
        lat=LAT if code.endswith("1") else LAT + 0.05,
        lon=LON,
        street_code=code,
        communities=1,
        grids_per_community=3,
    )


def rules(db: str, *, settle_s: float = 0.0) -> RulesService:
    service = RulesService(db_url=db, settings=RulesSettings(rejudge_settle_s=settle_s))
    service.locator = GridLocator(connect=lambda: psycopg.connect(db, autocommit=True), refresh_s=0)
    return service


def yesterday_at(hour: int) -> datetime:
    """Return ``hour`` o'clock China time yesterday, in UTC."""
    day = china_day() - timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC) - CST


def walk(db: str, terminal: str, centre: tuple[float, float], start: datetime) -> None:
    """Store 65 minutes of rounds of a 120 m square around ``centre``, a fix every STEP_S."""
    k = math.cos(math.radians(centre[0]))
    corners = [(-60, -60), (-60, 60), (60, 60), (60, -60)]
    side = 60  # fixes per side of the square
    points = []
    for i in range(65 * 60 // STEP_S):
        (n0, e0), (n1, e1) = corners[(i // side) % 4], corners[(i // side + 1) % 4]
        f = (i % side) / side
        n, e = n0 + (n1 - n0) * f, e0 + (e1 - e0) * f
        points.append((centre[0] + n / M_PER_DEG, centre[1] + e / (M_PER_DEG * k)))
    rows = [
        (start + timedelta(seconds=i * STEP_S), terminal, lat, lon, 1, 14, 0.8, start, 0)
        for i, (lat, lon) in enumerate(points)
    ]
    with psycopg.connect(db, autocommit=True) as conn:
        if not storage_is_timescale(conn):
            chunk = StorageSettings().chunk_interval
            starts = chunk_starts([r[0] for r in rows], chunk)
            ensure_partitions(conn, table="fixes", starts=starts, chunk=chunk)
    with psycopg.connect(db) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO fixes (ts, terminal_id, lat, lon, quality, satellites, hdop, "
            "received_at, batch_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            rows,
        )
        # What the rules role does for each committed batch of fixes.
        locator = GridLocator(connect=lambda: psycopg.connect(db, autocommit=True))
        rebuild_segments(
            conn,
            terminal_id=terminal,
            since=rows[0][0],
            until=rows[-1][0],
            locator=locator,
        )


def patrol_hazards(db: str) -> dict[str, tuple[str, bool]]:
    """Return each grid's latest patrol hazard: status, whether it was retracted."""
    with psycopg.connect(db) as conn:
        rows = conn.execute(
            "SELECT DISTINCT ON (subject_id) subject_id, status, detail ? 'retracted'"
            " FROM hazards WHERE rule_id = 'grid_patrol' ORDER BY subject_id, episode DESC"
        ).fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def marks(db: str) -> dict[date, bool]:
    with psycopg.connect(db) as conn:
        rows = conn.execute("SELECT day, stale_at IS NOT NULL FROM patrol_days").fetchall()
    return dict(rows)


def test_a_late_patrol_clears_the_hazard_of_a_day_already_judged(db: str) -> None:
    collection = street("440304001")
    yesterday = china_day() - timedelta(days=1)
    with psycopg.connect(db) as conn:
        import_grid_file(conn, data=collection, source="test", effective=yesterday)
    a, b, c = sorted(grid_centres(collection))
    centres = grid_centres(collection)
    walk(db, "T-A", centres[a], yesterday_at(9))  # one round of two for A
    walk(db, "T-B", centres[b], yesterday_at(9))
    walk(db, "T-B", centres[b], yesterday_at(14))
    service = rules(db)
    try:
        now = datetime.now(UTC)
        service.tick(now, which=("patrols",))
        assert patrol_hazards(db) == {a: ("open", False), c: ("open", False)}
        assert marks(db) == {yesterday: False}
        # This morning A's phone comes out of the basement with the afternoon round.
        walk(db, "T-A", centres[a], yesterday_at(14))
        assert marks(db) == {yesterday: True}
        service.tick(now, which=("patrols",))
        assert patrol_hazards(db) == {a: ("cleared", True), c: ("open", False)}
        assert marks(db) == {yesterday: False}
        # Judged again once: another look changes nothing.
        assert service.tick(now, which=("patrols",)) == 0
    finally:
        service.close()


def test_a_street_imported_as_in_force_since_yesterday_is_judged_for_yesterday(db: str) -> None:
    now = datetime.now(UTC)
    yesterday = china_day(now) - timedelta(days=1)
    today_only, back_dated = street("440304001"), street("440304002")
    patient, prompt = rules(db, settle_s=3600), rules(db)
    try:
        patient.tick(now, which=("patrols",))  # yesterday judged with no grid at all
        with psycopg.connect(db) as conn:
            import_grid_file(conn, data=today_only, source="today")
            import_grid_file(
                conn, data={**back_dated, "effective_from": yesterday.isoformat()}, source="late"
            )
        assert marks(db) == {yesterday: True}
        # Not before the changes have been quiet for the settle time (an hour here).
        assert patient.tick(now, which=("patrols",)) == 0
        assert patrol_hazards(db) == {}
        assert prompt.tick(now, which=("patrols",)) == 3
    finally:
        patient.close()
        prompt.close()
    # The back-dated street's grids, nobody patrolled yesterday; the other one's is today's.
    assert patrol_hazards(db) == dict.fromkeys(grid_centres(back_dated), ("open", False))
    assert marks(db) == {yesterday: False}


def test_a_day_older_than_the_window_is_logged_and_left_as_judged(
    db: str, caplog: pytest.LogCaptureFixture
) -> None:
    now = datetime.now(UTC)
    long_ago = now - timedelta(days=9)
    service = rules(db)
    try:
        service.tick(long_ago, which=("patrols",))  # judges the day before: 10 days ago
        with psycopg.connect(db) as conn:
            import_grid_file(conn, data=street("440304001"), source="test")
            judged = mark_stale(conn, first=china_day(now) - timedelta(days=30))
        assert judged == [china_day(long_ago) - timedelta(days=1)]
        with caplog.at_level(logging.WARNING, logger="rules.rejudge"):
            service.tick(now, which=("patrols",))
    finally:
        service.close()
    assert patrol_hazards(db) == {}
    assert f"patrol day {judged[0].isoformat()} changed after it was judged" in caplog.text
    assert "more than 7 days ago: not judged again" in caplog.text
    assert not any(marks(db).values())
