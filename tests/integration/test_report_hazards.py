"""Grid workers' hazard reports become located hazards: over the real broker and database.

Each test imports a small street of its own as the current grid version, publishes reports from
a terminal, lets ingest commit them and runs the rules service in-process.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from devices.geo import Crs, from_wgs84
from grids.locator import GridLocator
from grids.models import parse_grids
from grids.service import import_grids
from rules.config import RulesSettings
from rules.flows import RulesService, engine_config, replay
from simulators.grid_layout import generate_street, grid_centres
from simulators.models import SimMessage
from simulators.terminal import TerminalSim, offset_m
from tests.fix_api import api_client, bearer
from tests.fix_ingest import IngestHarness, wait_until
from tests.scenarios.harness import scenario_env

T0 = datetime(2026, 11, 26, 6, 30, tzinfo=UTC)
LAT, LON = 31.262, 120.618  # Suzhou, where GCJ-02 is some 500 m off WGS-84
RULE = "worker_report"
SEVERITY = {
    "fire": "critical",
    "blocked_exit": "major",
    "ebike_indoor_charging": "major",
    "illegal_wiring": "major",
    "crowded_rental": "major",
    "combustibles_in_corridor": "warning",
    "damaged_facility": "warning",
    "hydrant_problem": "warning",
    "extinguisher_problem": "warning",
    "other": "info",
}


@pytest.fixture
def rules(db_url: str) -> Iterator[RulesService]:
    """A rules service run in-process; its locator sees a new grid import at once."""
    svc = RulesService(db_url=db_url, settings=RulesSettings())
    svc.locator = GridLocator(
        connect=lambda: psycopg.connect(db_url, autocommit=True), refresh_s=0.0
    )
    try:
        yield svc
    finally:
        svc.close()


@pytest.fixture
def centres(db_url: str) -> dict[str, tuple[float, float]]:
    """Import a street of 4 grids of 250 m as the current version; return a point in each."""
    county = f"32{uuid.uuid4().int % 10_000:04d}"
    collection = generate_street(
        lat=LAT,
        lon=LON,
        street_code=f"{county}007",
        communities=1,
        grids_per_community=4,
        cell_m=250.0,
    )
    with psycopg.connect(db_url) as conn:
        import_grids(conn, grid_set=parse_grids(collection), source="test_report_hazards")
    return grid_centres(collection)


@pytest.fixture
def api(db_url: str) -> Iterator[TestClient]:
    with api_client(db_url, bearer(db_url)) as client:
        yield client


def _send(h: IngestHarness, rules: RulesService, *messages: SimMessage) -> None:
    """Publish, wait until every report is stored by a committed batch, run the rules."""
    h.publisher.publish_all(list(messages))
    ids = sorted({r.report_id for m in messages for r in m.expected_reports})
    query = (
        "SELECT count(*) FROM hazard_reports r JOIN ingest_batches b USING (batch_id) "
        "WHERE r.report_id = ANY(%s::text[])"
    )
    wait_until(lambda: h.scalar(query, ids) == len(ids), what=f"{len(ids)} reports committed")
    rules.process_pending()


def _hazards(h: IngestHarness, report_id: str) -> list[dict[str, Any]]:
    with psycopg.connect(h.db_url) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return cur.execute(
            "SELECT * FROM hazards WHERE subject_type = 'report' AND subject_id = %s",
            (report_id,),
        ).fetchall()


def _report_row(h: IngestHarness, report_id: str) -> tuple[Any, ...]:
    rows = h.rows(
        "SELECT grid_code, community_code, street_code, grid_version, lat, lon "
        "FROM hazard_reports WHERE report_id = %s",
        report_id,
    )
    assert len(rows) == 1
    return rows[0]


def _current_version(h: IngestHarness) -> int:
    return int(h.scalar("SELECT max(version) FROM grid_versions"))


def test_report_inside_a_grid_is_located_and_raises_one_hazard(
    ingest: IngestHarness,
    rules: RulesService,
    centres: dict[str, tuple[float, float]],
    api: TestClient,
) -> None:
    terminal = ingest.register_terminal("RH1")
    code = sorted(centres)[1]
    sim = TerminalSim(terminal, prefix=ingest.prefix, seed=31)
    # Its photo is never sent: the report names it all the same, and so does the hazard.
    msg, _ = sim.report(ts=T0, position=centres[code], crs=Crs.WGS84, photos=1, unit_id="U-7")
    expected = msg.expected_reports[0]
    _send(ingest, rules, msg)

    version = _current_version(ingest)
    grid, community, street, stored_version, lat, lon = _report_row(ingest, expected.report_id)
    assert (grid, community, street, stored_version) == (code, code[:12], code[:9], version)
    [hz] = _hazards(ingest, expected.report_id)
    assert (hz["rule_id"], hz["kind"], hz["severity"], hz["status"]) == (
        RULE,
        "report",
        "warning",
        "open",
    )
    assert (hz["grid_code"], hz["community_code"], hz["street_code"], hz["grid_version"]) == (
        code,
        code[:12],
        code[:9],
        version,
    )
    assert (hz["lat"], hz["lon"]) == (lat, lon)
    assert (hz["device_id"], hz["unit_id"], hz["occurrences"]) == (terminal, "U-7", 1)
    assert hz["opened_at"] == T0
    assert hz["detail"] == {
        "report_id": expected.report_id,
        "terminal_id": terminal,
        "category": "combustibles_in_corridor",
        "description": expected.description,
        "photos": expected.photos,
        "unit_id": "U-7",
        "outside": False,
    }
    # The report as integrators read it carries the codes it was located in.
    answer = api.get(f"/api/v1/reports/{expected.report_id}")
    assert answer.status_code == 200, answer.text
    doc = answer.json()
    assert (doc["grid_code"], doc["community_code"], doc["street_code"]) == (
        code,
        code[:12],
        code[:9],
    )
    listed = api.get("/api/v1/hazards", params={"grid": code}).json()["items"]
    assert [i["id"] for i in listed] == [hz["id"]]
    # Later batches never clear it: only people do.
    later, _ = sim.report(ts=T0 + timedelta(minutes=1), position=centres[code], photos=0)
    _send(ingest, rules, later)
    rules.process_pending()
    assert [h["status"] for h in _hazards(ingest, expected.report_id)] == ["open"]
    assert api.post(f"/api/v1/hazards/{hz['id']}/ack").status_code == 200
    assert [h["status"] for h in _hazards(ingest, expected.report_id)] == ["acknowledged"]


def test_report_outside_every_grid_raises_a_hazard_marked_outside(
    ingest: IngestHarness, rules: RulesService, centres: dict[str, tuple[float, float]]
) -> None:
    terminal = ingest.register_terminal("RH2")
    far = offset_m(LAT, LON, 5000.0, 5000.0)
    sim = TerminalSim(terminal, prefix=ingest.prefix, seed=32)
    msg, _ = sim.report(ts=T0, position=far, crs=Crs.WGS84, category="other", photos=0)
    report_id = msg.expected_reports[0].report_id
    _send(ingest, rules, msg)
    grid, community, street, version, _, _ = _report_row(ingest, report_id)
    assert (grid, community, street) == (None, None, None)
    assert version == _current_version(ingest)  # located under it, and outside all of it
    [hz] = _hazards(ingest, report_id)
    assert (hz["grid_code"], hz["community_code"], hz["street_code"]) == (None, None, None)
    assert hz["detail"]["outside"] is True
    assert hz["severity"] == "info"
    assert hz["lat"] == pytest.approx(far[0], abs=1e-7)


def test_severity_by_category_one_hazard_per_report(
    ingest: IngestHarness, rules: RulesService, centres: dict[str, tuple[float, float]]
) -> None:
    terminal = ingest.register_terminal("RH3")
    code = sorted(centres)[0]
    sim = TerminalSim(terminal, prefix=ingest.prefix, seed=33)
    msgs = {
        cat: sim.report(
            ts=T0 + timedelta(seconds=i), position=centres[code], category=cat, photos=0
        )[0]
        for i, cat in enumerate(sorted(SEVERITY))
    }
    _send(ingest, rules, *msgs.values())
    for cat, msg in msgs.items():
        [hz] = _hazards(ingest, msg.expected_reports[0].report_id)
        assert (hz["severity"], hz["detail"]["category"], hz["grid_code"]) == (
            SEVERITY[cat],
            cat,
            code,
        )


def test_two_reports_from_one_terminal_are_two_hazards_and_a_resend_raises_nothing(
    ingest: IngestHarness, rules: RulesService, centres: dict[str, tuple[float, float]]
) -> None:
    terminal = ingest.register_terminal("RH4")
    point = centres[sorted(centres)[2]]
    sim = TerminalSim(terminal, prefix=ingest.prefix, seed=34)
    # The same place, category and unit: still two reports, so two hazards.
    first, _ = sim.report(ts=T0, position=point, category="fire", photos=0)
    second, _ = sim.report(ts=T0 + timedelta(seconds=30), position=point, category="fire", photos=0)
    _send(ingest, rules, first, first)  # redelivered at once
    _send(ingest, rules, first, second)  # and again after the rules ran
    ids = [m.expected_reports[0].report_id for m in (first, second)]
    for report_id in ids:
        [hz] = _hazards(ingest, report_id)
        assert (hz["severity"], hz["occurrences"], hz["episode"]) == ("critical", 1, 1)
    events = ingest.scalar(
        "SELECT count(*) FROM hazard_events e JOIN hazards h ON h.id = e.hazard_id "
        "WHERE h.device_id = %s",
        terminal,
    )
    assert events == 2  # one opening each, nothing more
    assert ingest.scalar("SELECT count(*) FROM hazards WHERE device_id = %s", terminal) == 2
    # The database refuses a second hazard for one report whatever the code above does.
    with psycopg.connect(ingest.db_url) as conn, pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute(
            "INSERT INTO hazards (rule_id, kind, severity, status, subject_type, subject_id, key,"
            " opened_at, cleared_at, episode) VALUES (%s, 'report', 'info', 'cleared', 'report',"
            " %s, %s, now(), now(), 2)",
            (RULE, ids[0], f"report:{ids[0]}"),
        )
    # Replay over the day says what the live engine raised, and writes nothing.
    replayed = replay(
        db_url=ingest.db_url,
        start=T0 - timedelta(hours=1),
        end=T0 + timedelta(hours=1),
        rules=rules.engine.rules,
        config=engine_config(rules.settings),
    )
    mine = [h for h in replayed if h.rule_id == RULE and h.subject_id in ids]
    assert sorted((h.subject_id, h.severity.value, h.status) for h in mine) == sorted(
        (i, "critical", "open") for i in ids
    )


def test_gcj02_position_is_located_after_conversion(
    ingest: IngestHarness, rules: RulesService, centres: dict[str, tuple[float, float]]
) -> None:
    terminal = ingest.register_terminal("RH5")
    code = sorted(centres)[3]
    wgs = centres[code]
    shown = from_wgs84(*wgs, Crs.GCJ02)
    # Read as WGS-84, the GCJ-02 numbers lie elsewhere: the test can tell the difference.
    where = rules.locator.locate(*shown)
    assert where is None or where.grid_code != code
    sim = TerminalSim(terminal, prefix=ingest.prefix, seed=35)
    msg, _ = sim.report(ts=T0, position=wgs, crs=Crs.GCJ02, photos=0)
    report_id = msg.expected_reports[0].report_id
    _send(ingest, rules, msg)
    grid, _, _, _, lat, lon = _report_row(ingest, report_id)
    assert grid == code
    assert (lat, lon) == (pytest.approx(wgs[0], abs=1e-6), pytest.approx(wgs[1], abs=1e-6))
    [hz] = _hazards(ingest, report_id)
    assert hz["grid_code"] == code


def test_worker_reports_scenario(pg_admin_url: str, broker_url: str, tmp_path: Path) -> None:
    with scenario_env(pg_admin_url, broker_url, tmp_path) as env:
        scenario = env.build("worker_reports")
        outcome = env.run(scenario)
        assert outcome.mismatch.ok, str(outcome.mismatch)
        subjects = {r[0] for r in env.rows("SELECT subject_id FROM hazards")}
        assert subjects == scenario.report_ids
        outside = env.rows(
            "SELECT detail->'outside', grid_code FROM hazards WHERE severity = 'info'"
        )
        assert outside == [(True, None)]
