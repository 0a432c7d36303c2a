"""Registry SQL against a real PostgreSQL: upserts, lookups, status, pagination."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from devices.exceptions import RegistryError
from devices.models import DeviceKind
from devices.registry import DeviceRow, Role, StaffRow, UnitRow, parse_devices
from devices.service import (
    get_device,
    get_staff,
    get_unit,
    known_device_ids,
    known_terminal_ids,
    list_devices,
    staff_for_terminal,
    upsert_devices,
    upsert_staff,
    upsert_units,
)
from devices.views import ImportCounts, LatestValue, device_status

Conn = psycopg.Connection[Any]
NOW = datetime(2026, 11, 26, 6, 30, tzinfo=UTC)


@pytest.fixture
def tag() -> str:
    """A suffix that keeps this test's IDs apart from every other test's."""
    return uuid.uuid4().hex[:10]


def _seen(conn: Conn, device_id: str, *, at: datetime, latest: dict[str, Any]) -> None:
    # Stands in for ingest, which maintains device_status after each batch.
    conn.execute(
        "INSERT INTO device_status (device_id, last_received_at, last_ts, latest)"
        " VALUES (%s, %s, %s, %s)",
        (device_id, at, at, Jsonb(latest)),
    )


def test_upsert_devices_counts_created_and_updated(conn: Conn, tag: str) -> None:
    rows = [DeviceRow(device_id=f"D{i}-{tag}", kind=DeviceKind.SMOKE) for i in range(3)]
    assert upsert_devices(conn, rows=rows) == ImportCounts(created=3, updated=0)
    again = [*rows[1:], DeviceRow(device_id=f"D9-{tag}", kind=DeviceKind.HYDRANT)]
    assert upsert_devices(conn, rows=again) == ImportCounts(created=1, updated=2)
    assert upsert_devices(conn, rows=[]) == ImportCounts()


def test_imported_fields_round_trip(conn: Conn, tag: str) -> None:
    text = (
        "device_id,kind,model,unit_id,lat,lon,installed_on,manufactured_on,agent,heartbeat_s,"
        "threshold.pressure_low_mpa\n"
        f"E-{tag},extinguisher,MFZ/ABC4,U-{tag},31.2,121.5,2024-03-01,2023-01-15,dry_powder,"
        "86400,0.9\n"
    )
    parsed = parse_devices(text)
    assert parsed.errors == []
    upsert_devices(conn, rows=parsed.rows)
    view = get_device(conn, device_id=f"E-{tag}", now=NOW)
    assert view is not None
    assert view.model_dump(exclude={"updated_at"}) == {
        "device_id": f"E-{tag}",
        "kind": "extinguisher",
        "model": "MFZ/ABC4",
        "unit_id": f"U-{tag}",
        "lat": 31.2,
        "lon": 121.5,
        "installed_on": date(2024, 3, 1),
        "manufactured_on": date(2023, 1, 15),
        "hydrant_class": None,
        "agent": "dry_powder",
        "heartbeat_s": 86400,
        "thresholds": {"pressure_low_mpa": 0.9},
        "status": "unknown",
        "last_seen": None,
        "latest": {},
    }


def test_fields_not_given_keep_their_stored_values(conn: Conn, tag: str) -> None:
    device_id = f"H-{tag}"
    first = DeviceRow(
        device_id=device_id,
        kind=DeviceKind.HYDRANT,
        model="SS100",
        lat=31.2,
        lon=121.5,
        heartbeat_s=3600,
        thresholds={"pressure_low_mpa": 0.14},
    )
    upsert_devices(conn, rows=[first])
    upsert_devices(conn, rows=[DeviceRow(device_id=device_id, kind=DeviceKind.HYDRANT, model="X")])
    view = get_device(conn, device_id=device_id, now=NOW)
    assert view is not None
    assert (view.model, view.lat, view.lon, view.heartbeat_s) == ("X", 31.2, 121.5, 3600)
    assert view.thresholds == {"pressure_low_mpa": 0.14}
    # Given thresholds replace the stored set as a whole.
    replaced = DeviceRow(device_id=device_id, kind=DeviceKind.HYDRANT, thresholds={"drop_pct": 30})
    upsert_devices(conn, rows=[replaced])
    view = get_device(conn, device_id=device_id, now=NOW)
    assert view is not None
    assert view.thresholds == {"drop_pct": 30.0}


def test_duplicate_ids_in_one_call_are_refused(conn: Conn, tag: str) -> None:
    row = DeviceRow(device_id=f"D-{tag}", kind=DeviceKind.SMOKE)
    with pytest.raises(RegistryError) as caught:
        upsert_devices(conn, rows=[row, row])
    assert (caught.value.row, caught.value.field) == (2, "device_id")


def test_many_rows_span_several_statements(conn: Conn, tag: str) -> None:
    rows = [DeviceRow(device_id=f"M{i}-{tag}", kind=DeviceKind.SMOKE) for i in range(12_000)]
    assert upsert_devices(conn, rows=rows) == ImportCounts(created=12_000, updated=0)
    ids = [r.device_id for r in rows]
    assert known_device_ids(conn, ids=ids) == set(ids)


def test_known_device_ids(conn: Conn, tag: str) -> None:
    upsert_devices(conn, rows=[DeviceRow(device_id=f"K-{tag}", kind=DeviceKind.SMOKE)])
    assert known_device_ids(conn, ids=[f"K-{tag}", f"nope-{tag}", f"K-{tag}"]) == {f"K-{tag}"}
    assert known_device_ids(conn, ids=[]) == set()


def test_get_device_unknown_id(conn: Conn, tag: str) -> None:
    assert get_device(conn, device_id=f"absent-{tag}", now=NOW) is None


def test_status_latest_and_last_seen(conn: Conn, tag: str) -> None:
    device_id = f"S-{tag}"
    upsert_devices(
        conn, rows=[DeviceRow(device_id=device_id, kind=DeviceKind.SMOKE, heartbeat_s=3600)]
    )
    seen = NOW - timedelta(hours=3)
    latest = {
        "battery_pct": {"ts": "2026-11-26T03:29:00+00:00", "value": 88.0, "seq": 7},
        "temp_c": {"ts": "2026-11-26T03:28:00Z", "value": 21.5, "seq": 6},
    }
    _seen(conn, device_id, at=seen, latest=latest)
    view = get_device(conn, device_id=device_id, now=NOW)
    assert view is not None
    assert view.status == "online"  # silent exactly 3 heartbeats: still online
    assert view.last_seen == seen
    assert view.latest == {
        "battery_pct": LatestValue(ts=datetime(2026, 11, 26, 3, 29, tzinfo=UTC), value=88.0),
        "temp_c": LatestValue(ts=datetime(2026, 11, 26, 3, 28, tzinfo=UTC), value=21.5),
    }
    later = get_device(conn, device_id=device_id, now=NOW + timedelta(seconds=1))
    assert later is not None
    assert later.status == "offline"
    lenient = get_device(
        conn, device_id=device_id, now=NOW + timedelta(seconds=1), missed_heartbeats=4
    )
    assert lenient is not None
    assert lenient.status == "online"


def test_status_without_heartbeat_uses_the_kind_default(conn: Conn, tag: str) -> None:
    device_id = f"N-{tag}"
    upsert_devices(conn, rows=[DeviceRow(device_id=device_id, kind=DeviceKind.SMOKE)])
    _seen(conn, device_id, at=NOW - timedelta(days=2), latest={})
    view = get_device(conn, device_id=device_id, now=NOW)
    assert view is not None
    assert view.status == "unknown"
    defaults = {"smoke": 86_400}
    view = get_device(conn, device_id=device_id, now=NOW, default_heartbeat_s=defaults)
    assert view is not None
    assert view.status == "online"
    view = get_device(
        conn, device_id=device_id, now=NOW, default_heartbeat_s=defaults, missed_heartbeats=1
    )
    assert view is not None
    assert view.status == "offline"
    view = get_device(conn, device_id=device_id, now=NOW, default_heartbeat_s={"hydrant": 60})
    assert view is not None
    assert view.status == "unknown"


def test_never_seen_device_is_unknown_even_with_a_heartbeat(conn: Conn, tag: str) -> None:
    upsert_devices(
        conn, rows=[DeviceRow(device_id=f"U-{tag}", kind=DeviceKind.SMOKE, heartbeat_s=60)]
    )
    view = get_device(conn, device_id=f"U-{tag}", now=NOW)
    assert view is not None
    assert (view.status, view.last_seen, view.latest) == ("unknown", None, {})


def test_device_status_function() -> None:
    seen = NOW - timedelta(seconds=180)
    assert device_status(last_seen=None, heartbeat_s=60, now=NOW) == "unknown"
    assert device_status(last_seen=seen, heartbeat_s=None, now=NOW) == "unknown"
    assert device_status(last_seen=seen, heartbeat_s=60, now=NOW) == "online"
    assert device_status(last_seen=seen, heartbeat_s=59, now=NOW) == "offline"
    # A receive clock ahead of ours (skew) is not silence.
    assert device_status(last_seen=NOW + timedelta(minutes=1), heartbeat_s=1, now=NOW) == "online"


def test_list_devices_pages_by_id_with_filters(conn: Conn, tag: str) -> None:
    unit = f"U-{tag}"
    rows = [
        DeviceRow(device_id=f"L{i:02d}-{tag}", kind=kind, unit_id=unit if i % 2 else None)
        for i, kind in enumerate([DeviceKind.SMOKE, DeviceKind.HYDRANT] * 5)
    ]
    upsert_devices(conn, rows=rows)
    mine = [r.device_id for r in rows if r.unit_id == unit]
    collected: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = list_devices(conn, limit=2, cursor=cursor, unit_id=unit, now=NOW)
        collected += [item.device_id for item in page.items]
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert collected == sorted(mine)
    assert pages == 3
    hydrants = list_devices(conn, limit=100, unit_id=unit, kind="hydrant", now=NOW)
    assert [d.device_id for d in hydrants.items] == sorted(mine)
    smoke = list_devices(conn, limit=100, unit_id=unit, kind="smoke", now=NOW)
    assert smoke.items == []
    assert smoke.next_cursor is None


@pytest.mark.parametrize("limit", [0, 1001])
def test_list_devices_limit_bounds(conn: Conn, limit: int) -> None:
    with pytest.raises(ValueError, match="limit"):
        list_devices(conn, limit=limit, now=NOW)


def test_units_upsert_and_file(conn: Conn, tag: str) -> None:
    unit_id = f"U-{tag}"
    row = UnitRow(unit_id=unit_id, name="金桥大厦", level=1, lat=31.2, lon=121.5)
    assert upsert_units(conn, rows=[row]) == ImportCounts(created=1, updated=0)
    update = UnitRow(unit_id=unit_id, name="金桥大厦A座", responsible="张三 13800138000")
    assert upsert_units(conn, rows=[update]) == ImportCounts(created=0, updated=1)
    upsert_devices(
        conn,
        rows=[
            DeviceRow(device_id=f"B-{tag}", kind=DeviceKind.SMOKE, unit_id=unit_id),
            DeviceRow(device_id=f"A-{tag}", kind=DeviceKind.HYDRANT, unit_id=unit_id),
        ],
    )
    view = get_unit(conn, unit_id=unit_id)
    assert view is not None
    assert (view.name, view.level, view.lat, view.lon) == ("金桥大厦A座", 1, 31.2, 121.5)
    assert view.responsible == "张三 13800138000"
    assert view.device_ids == [f"A-{tag}", f"B-{tag}"]
    assert get_unit(conn, unit_id=f"absent-{tag}") is None


def test_staff_upsert_lookup_and_terminals(conn: Conn, tag: str) -> None:
    worker = StaffRow(
        staff_id=f"W-{tag}",
        name="李四",
        role=Role.GRID_WORKER,
        area="310115005003007",
        terminal_id=f"T1-{tag}",
    )
    assert upsert_staff(conn, rows=[worker]) == ImportCounts(created=1, updated=0)
    upsert_devices(conn, rows=[DeviceRow(device_id=f"T2-{tag}", kind=DeviceKind.TERMINAL)])
    upsert_devices(conn, rows=[DeviceRow(device_id=f"T3-{tag}", kind=DeviceKind.SMOKE)])
    asked = [f"T1-{tag}", f"T2-{tag}", f"T3-{tag}", f"T4-{tag}"]
    assert known_terminal_ids(conn, ids=asked) == {f"T1-{tag}", f"T2-{tag}"}
    assert known_terminal_ids(conn, ids=[]) == set()
    holder = staff_for_terminal(conn, terminal_id=f"T1-{tag}")
    assert holder is not None
    assert (holder.staff_id, holder.role, holder.area) == (
        f"W-{tag}",
        "grid_worker",
        "310115005003007",
    )
    promoted = StaffRow(staff_id=f"W-{tag}", name="李四", role=Role.GRID_HEAD, phone="138")
    assert upsert_staff(conn, rows=[promoted]) == ImportCounts(created=0, updated=1)
    view = get_staff(conn, staff_id=f"W-{tag}")
    assert view is not None
    assert (view.role, view.terminal_id, view.phone) == ("grid_head", f"T1-{tag}", "138")
    assert get_staff(conn, staff_id=f"absent-{tag}") is None


def test_terminal_handed_to_another_worker(conn: Conn, tag: str) -> None:
    def worker(n: int, terminal: str | None) -> StaffRow:
        return StaffRow(
            staff_id=f"W{n}-{tag}", name=f"w{n}", role=Role.GRID_WORKER, terminal_id=terminal
        )

    upsert_staff(conn, rows=[worker(1, f"T1-{tag}"), worker(2, f"T2-{tag}")])
    # The two swap handsets in one import: UNIQUE(terminal_id) must not trip mid-statement.
    upsert_staff(conn, rows=[worker(1, f"T2-{tag}"), worker(2, f"T1-{tag}")])
    one, two = get_staff(conn, staff_id=f"W1-{tag}"), get_staff(conn, staff_id=f"W2-{tag}")
    assert one is not None
    assert two is not None
    assert (one.terminal_id, two.terminal_id) == (f"T2-{tag}", f"T1-{tag}")
    # A newcomer takes W1's handset; W1 is left without one.
    upsert_staff(conn, rows=[worker(3, f"T2-{tag}")])
    one = get_staff(conn, staff_id=f"W1-{tag}")
    assert one is not None
    assert one.terminal_id is None
    holder = staff_for_terminal(conn, terminal_id=f"T2-{tag}")
    assert holder is not None
    assert holder.staff_id == f"W3-{tag}"


def test_duplicate_terminal_in_one_call_is_refused(conn: Conn, tag: str) -> None:
    rows = [
        StaffRow(staff_id=f"W{n}-{tag}", name="w", role=Role.OPERATOR, terminal_id=f"T-{tag}")
        for n in range(2)
    ]
    with pytest.raises(RegistryError) as caught:
        upsert_staff(conn, rows=rows)
    assert (caught.value.row, caught.value.field) == (2, "terminal_id")
