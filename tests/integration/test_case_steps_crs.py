"""GET /api/v1/cases/{id}?crs=: the positions of the case's steps are in the asked system too,
as the case's own point is (a map drawn on GCJ-02 tiles puts both on the right street)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import psycopg
import pytest

from devices.geo import Crs, from_wgs84
from dispatch.service import add_step
from tests.fix_api import api_client, bearer
from tests.integration.case_support import open_case

STEP = (31.2304, 121.4737)  # WGS-84, where the worker signed


@pytest.mark.parametrize("crs", [Crs.GCJ02, Crs.BD09])
def test_a_steps_position_is_shown_in_the_asked_crs(db_url: str, crs: Crs) -> None:
    with psycopg.connect(db_url) as conn:
        case_id = open_case(conn, f"37{uuid.uuid4().int % 10**7:07d}")
        add_step(
            conn,
            case_id=case_id,
            action="sign",
            from_status="dispatched",
            to_status="signed",
            actor="S1",
            at=datetime.now(UTC),
            lat=STEP[0],
            lon=STEP[1],
        )
    with api_client(db_url, bearer(db_url)) as client:
        plain = client.get(f"/api/v1/cases/{case_id}").json()
        shifted = client.get(f"/api/v1/cases/{case_id}", params={"crs": crs.value}).json()
    signed = next(s for s in plain["history"] if s["action"] == "sign")
    assert (signed["lat"], signed["lon"]) == pytest.approx(STEP)
    moved = next(s for s in shifted["history"] if s["action"] == "sign")
    assert (moved["lat"], moved["lon"]) == pytest.approx(from_wgs84(*STEP, crs))
    # Hundreds of metres apart in Shanghai: the conversion is not a no-op.
    assert abs(moved["lon"] - signed["lon"]) > 0.003
    # The steps without a position stay without one.
    assert all(s["lat"] is None for s in shifted["history"] if s["action"] != "sign")
    assert (shifted["lat"], shifted["lon"]) == pytest.approx(from_wgs84(31.2, 121.5, crs))
