"""CONTRACT §3 registry rows through the API and the CLI, as an integrator imports them."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from devices.geo import to_wgs84
from tests.fix_ingest import IngestHarness, wait_until
from tests.integration.cli_support import run_cli


def _staff(db_url: str, staff_id: str) -> tuple[object, ...] | None:
    with psycopg.connect(db_url) as conn:
        return conn.execute(
            "SELECT name, role, area, terminal_id, phone FROM staff WHERE staff_id = %s",
            (staff_id,),
        ).fetchone()


def test_staff_import_over_the_api_upserts_and_lets_the_terminal_report(
    ingest: IngestHarness, client: TestClient, auth: dict[str, str]
) -> None:
    tag = ingest.tag
    terminal = f"{tag}-TERM"
    csv = (
        "staff_id,name,role,area,terminal_id,phone\n"
        f"W-{tag},李四,grid_worker,310115005003007,{terminal},13800138000\n"
        f"H-{tag},王五,grid_head,310115005003,,\n"
    )
    answer = client.post(
        "/api/v1/staff/import", content=csv, headers={**auth, "Content-Type": "text/csv"}
    )
    assert answer.status_code == 200, answer.text
    assert (answer.json()["created"], answer.json()["errors"]) == (2, [])
    # A JSON row whose ID exists updates it; what it leaves out is "not given".
    update = [{"staff_id": f"W-{tag}", "name": "李四", "role": "grid_head", "phone": None}]
    answer = client.post("/api/v1/staff/import", json=update, headers=auth)
    assert (answer.json()["created"], answer.json()["updated"]) == (0, 1)
    assert _staff(ingest.db_url, f"W-{tag}") == (
        "李四",
        "grid_head",
        "310115005003007",
        terminal,
        "13800138000",
    )

    # The worker's terminal is now known to ingest: its report is stored, not rejected.
    report_id = str(uuid.uuid4())
    report = {
        "report_id": report_id,
        "ts": datetime.now(UTC).isoformat(),
        "category": "blocked_exit",
        "position": {"lat": 31.24806, "lon": 121.58741, "crs": "gcj02"},
    }
    topic = f"{ingest.prefix}/t/{terminal}/report"
    ingest.publisher.publish_all([(topic, json.dumps(report).encode())])
    found = "SELECT count(*) FROM hazard_reports WHERE report_id = %s"
    wait_until(lambda: ingest.scalar(found, report_id) == 1, what="the report")
    body = client.get(f"/api/v1/reports/{report_id}", headers=auth).json()
    assert body["terminal_id"] == terminal
    assert (body["position"]["lat"], body["position"]["lon"]) == pytest.approx(
        to_wgs84(31.24806, 121.58741, "gcj02")
    )


def test_staff_import_from_the_cli(db_url: str, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:6]
    staff = tmp_path / "staff.json"
    staff.write_text(
        json.dumps(
            [
                {
                    "staff_id": f"C-{tag}",
                    "name": "赵六",
                    "role": "community_handler",
                    "area": "310115005003",
                    "phone": "021-5888 1234",
                }
            ],
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    done = run_cli("staff", "import", str(staff), db_url=db_url)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    # No terminal_id in the row, so no broker credential to show.
    keys = ("created", "updated", "rejected", "errors", "warnings", "credentials")
    assert {k: out[k] for k in keys} == {
        "created": 1,
        "updated": 0,
        "rejected": 0,
        "errors": [],
        "warnings": [],
        "credentials": [],
    }
    assert (out["kind"], out["format"], out["encoding"]) == ("staff", "json", "utf-8")
    assert _staff(db_url, f"C-{tag}") == (
        "赵六",
        "community_handler",
        "310115005003",
        None,
        "021-5888 1234",
    )


def test_unit_and_device_rows_in_any_crs_are_stored_in_wgs84(
    client: TestClient, auth: dict[str, str]
) -> None:
    tag = uuid.uuid4().hex[:6]
    units = (
        "unit_id,name,level,address,lat,lon,crs,responsible\n"
        f"U-{tag},金桥大厦,1,浦东新区金桥路1号,31.24806,121.58741,bd09,张三\n"
    )
    answer = client.post(
        "/api/v1/units/import", content=units, headers={**auth, "Content-Type": "text/csv"}
    )
    assert (answer.json()["created"], answer.json()["errors"]) == (1, [])
    devices = [
        {
            "device_id": f"{tag}-E",
            "kind": "extinguisher",
            "unit_id": f"U-{tag}",
            "lat": 31.24806,
            "lon": 121.58741,
            "crs": "gcj02",
            "manufactured_on": "2020-01-01",
            "agent": "dry_powder",
        }
    ]
    answer = client.post("/api/v1/devices/import", json=devices, headers=auth)
    assert (answer.json()["created"], answer.json()["errors"]) == (1, [])
    device = client.get(f"/api/v1/devices/{tag}-E", headers=auth).json()
    assert (device["lat"], device["lon"]) == pytest.approx(to_wgs84(31.24806, 121.58741, "gcj02"))
    assert (device["agent"], device["manufactured_on"]) == ("dry_powder", "2020-01-01")
    shown = client.get(f"/api/v1/devices/{tag}-E", params={"crs": "gcj02"}, headers=auth).json()
    assert (shown["lat"], shown["lon"]) == pytest.approx((31.24806, 121.58741), abs=1e-6)
