"""What the dispatch tests share: a street of grids, staff, the rules and dispatch roles run
in-process, and a terminal's alarm, photos and case actions over the real broker."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from devices import registry
from devices import service as devices_service
from dispatch.flows import DispatchService
from grids.locator import GridLocator
from grids.models import parse_grids
from grids.service import import_grids
from rules.config import RulesSettings
from rules.engine.service import RULES_CONSUMER
from rules.flows import RulesService
from simulators.grid_layout import generate_street, grid_centres
from simulators.sensors import event
from simulators.terminal import make_photo
from tests.fix_api import api_client, bearer
from tests.fix_ingest import IngestHarness, wait_until

T0 = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
LAT, LON = 31.262, 120.618


@pytest.fixture
def rules(db_url: str) -> Iterator[RulesService]:
    """A rules service run in-process; its locator sees a new grid import at once.

    It starts at the head of the event log: the session's database holds every earlier test's
    batches, which are not this test's to evaluate (catching up on them took 286 s in one test
    late in a full run, near its timeout).
    """
    with psycopg.connect(db_url) as conn:
        (head,) = conn.execute("SELECT coalesce(max(id), 0) FROM event_log").fetchone() or (0,)
        RULES_CONSUMER.advance(conn, int(head))
    svc = RulesService(db_url=db_url, settings=RulesSettings())
    svc.locator = GridLocator(
        connect=lambda: psycopg.connect(db_url, autocommit=True), refresh_s=0.0
    )
    try:
        yield svc
    finally:
        svc.close()


@pytest.fixture
def dispatch(db_url: str) -> Iterator[DispatchService]:
    """The dispatch role run in-process, on demand."""
    svc = DispatchService(db_url=db_url)
    try:
        yield svc
    finally:
        svc.close()


@pytest.fixture
def grids(db_url: str) -> dict[str, tuple[float, float]]:
    """Import a street of 4 grids of 250 m; return a point inside each grid by code."""
    county = f"33{uuid.uuid4().int % 10_000:04d}"
    collection = generate_street(
        lat=LAT,
        lon=LON,
        street_code=f"{county}008",
        communities=1,
        grids_per_community=4,
        cell_m=250.0,
    )
    with psycopg.connect(db_url) as conn:
        import_grids(conn, grid_set=parse_grids(collection), source="test_dispatch_cases")
    return grid_centres(collection)


def add_staff(h: IngestHarness, rows: list[dict[str, Any]]) -> None:
    for r in rows:
        if r.get("terminal_id"):
            h.register(r["terminal_id"], kind="terminal")
    parsed = registry.parse_staff(json.dumps(rows), fmt="json")
    assert not parsed.errors, parsed.errors
    with psycopg.connect(h.db_url) as conn:
        devices_service.upsert_staff(conn, rows=parsed.rows)


def staff_client(db_url: str, staff_id: str) -> TestClient:
    return api_client(db_url, bearer(db_url, "grid_worker", staff_id=staff_id))


def alarm(h: IngestHarness, rules: RulesService, dev: str) -> None:
    h.publisher.publish_all([event(dev, T0, 0, "smoke_alarm", prefix=h.prefix)])
    wait_until(
        lambda: (
            h.scalar(
                "SELECT count(*) FROM device_events e JOIN ingest_batches b USING (batch_id)"
                " WHERE e.device_id = %s",
                dev,
            )
            == 1
        ),
        what=f"the alarm of {dev} committed",
    )
    rules.process_pending()


def act(h: IngestHarness, terminal: str, case_id: str, action: str, **kw: Any) -> str:
    action_id = str(uuid.uuid4())
    body = {
        "action_id": action_id,
        "case_id": case_id,
        "action": action,
        "ts": (T0 + timedelta(minutes=5)).isoformat(),
        **kw,
    }
    h.publisher.publish_all([(f"{h.prefix}/t/{terminal}/case", json.dumps(body).encode())])
    wait_until(
        lambda: (
            h.scalar(
                "SELECT count(*) FROM terminal_case_actions a"
                " JOIN ingest_batches b USING (batch_id)"
                " WHERE a.action->>'action_id' = %s",
                action_id,
            )
            == 1
        ),
        what=f"case action {action} stored",
    )
    return action_id


def photo(h: IngestHarness, terminal: str, seed: int, gps: tuple[float, float] | None) -> str:
    raw = make_photo(seed=seed, taken_at=T0, gps=gps)
    sha = hashlib.sha256(raw).hexdigest()
    h.publisher.publish_all([(f"{h.prefix}/t/{terminal}/photo/{sha}", raw)])
    wait_until(
        lambda: h.scalar("SELECT count(*) FROM photos WHERE sha256 = %s", sha) == 1,
        what="photo stored",
    )
    return sha


def case_of(h: IngestHarness, unit: str) -> tuple[Any, ...]:
    rows = h.rows(
        "SELECT case_id, status, assignee, assignee_reason, category, urgency, grid_code,"
        " handled_by, rework FROM cases WHERE unit_id = %s",
        unit,
    )
    assert len(rows) == 1, rows
    return rows[0]


def case_events(h: IngestHarness, case_id: str, kind: str) -> list[dict[str, Any]]:
    return [
        r[0]
        for r in h.rows(
            "SELECT payload FROM event_log WHERE subject = %s AND kind = %s ORDER BY id",
            case_id,
            kind,
        )
    ]
