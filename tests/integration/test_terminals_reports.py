"""Hazard reports and photos over the real broker, read back through the HTTP API."""

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

from api.app import create_app
from api.settings import ApiSettings
from api.tokens import create_token
from devices.geo import Crs, from_wgs84, haversine_m
from ingest.config import TerminalSettings
from simulators.models import SimMessage
from simulators.nmea_out import epoch
from simulators.terminal import TerminalSim, make_photo, offset_m, walk_route
from tests.fix_ingest import IngestHarness, wait_until

T0 = datetime(2026, 11, 26, 6, 30, tzinfo=UTC)
HOME = (31.2479, 121.5874)


@pytest.fixture
def api(ingest: IngestHarness, db_url: str) -> Iterator[TestClient]:
    app = create_app(
        ApiSettings(db_url=db_url, data_dir=ingest.data_dir), broker_probe=lambda: True
    )
    with psycopg.connect(db_url) as conn:
        token = create_token(conn, role="admin", areas=[])
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


def terminals(api: TestClient, terminal: TerminalSettings) -> None:
    """Rebuild the app's settings with other terminal settings."""
    state = api.app.state  # type: ignore[attr-defined]
    ingest = state.settings.ingest.model_copy(update={"terminals": terminal})
    state.settings = state.settings.model_copy(update={"ingest": ingest})


def report_of(api: TestClient, report_id: str, **params: str) -> dict[str, Any]:
    answer = api.get(f"/api/v1/reports/{report_id}", params=params)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def stored(h: IngestHarness, report_id: str) -> bool:
    return bool(h.scalar("SELECT count(*) FROM hazard_reports WHERE report_id = %s", report_id))


def photo_stored(h: IngestHarness, sha: str) -> bool:
    return bool(h.scalar("SELECT count(*) FROM photos WHERE sha256 = %s", sha))


def reasons(h: IngestHarness) -> list[str]:
    return [reason for _, reason, _, _ in h.rejected()]


@pytest.mark.parametrize("photo_first", [False, True], ids=["report-first", "photo-first"])
def test_report_and_photo_in_either_order(
    ingest: IngestHarness, api: TestClient, photo_first: bool
) -> None:
    terminal = ingest.register_terminal("R1")
    sim = TerminalSim(terminal, prefix=ingest.prefix, seed=11)
    report, photos = sim.report(ts=T0, position=HOME, crs=Crs.GCJ02, photos=2, photo_gps=HOME)
    expected = report.expected_reports[0]
    first, second = ([photos[0]], [report]) if photo_first else ([report], [photos[0]])
    ingest.publisher.publish_all(first)
    ingest.publisher.publish_all(second)
    wait_until(
        lambda: (
            stored(ingest, expected.report_id)
            and photo_stored(ingest, photos[0].expected_photos[0])
        ),
        what="report and first photo",
    )
    body = report_of(api, expected.report_id)
    assert body["report_id"] == expected.report_id
    assert (body["terminal_id"], body["category"], body["unit_id"]) == (
        terminal,
        expected.category,
        expected.unit_id,
    )
    assert datetime.fromisoformat(body["ts"]) == expected.ts
    assert body["position_source"] == "report"
    assert haversine_m(body["position"]["lat"], body["position"]["lon"], *HOME) < 0.5
    assert body["photos"] == expected.photos
    assert [p["sha256"] for p in body["photo_details"]] == [photos[0].expected_photos[0]]
    assert body["missing_photos"] == [photos[1].expected_photos[0]]
    assert body["flags"] == []  # missing for seconds only, and taken where reported
    detail = body["photo_details"][0]
    assert detail["content_type"] == "image/jpeg"
    assert datetime.fromisoformat(detail["exif_ts"]) == T0
    assert haversine_m(detail["exif_position"]["lat"], detail["exif_position"]["lon"], *HOME) < 0.1
    ingest.publisher.publish_all([photos[1]])
    wait_until(lambda: photo_stored(ingest, photos[1].expected_photos[0]), what="second photo")
    assert report_of(api, expected.report_id)["missing_photos"] == []
    # The bytes come back as they were sent, with their content type.
    answer = api.get(f"/api/v1/photos/{photos[1].expected_photos[0]}")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "image/jpeg"
    assert answer.content == photos[1].payload
    sha = photos[1].expected_photos[0]
    assert (ingest.data_dir / "photos" / sha[:2] / sha[2:4] / sha).read_bytes() == photos[1].payload


def test_flags_photo_missing_after_the_configured_time_and_photo_far_away(
    ingest: IngestHarness, api: TestClient
) -> None:
    terminal = ingest.register_terminal("R2")
    sim = TerminalSim(terminal, prefix=ingest.prefix, seed=12)
    far = offset_m(*HOME, 2500.0, 0.0)
    report, photos = sim.report(ts=T0, position=HOME, crs=Crs.WGS84, photos=2, photo_gps=far)
    report_id = report.expected_reports[0].report_id
    ingest.publisher.publish_all([report, photos[0]])
    wait_until(
        lambda: stored(ingest, report_id) and photo_stored(ingest, photos[0].expected_photos[0]),
        what="report and photo",
    )
    assert report_of(api, report_id)["flags"] == ["photo_far_from_report"]
    terminals(api, TerminalSettings(photo_missing_after=timedelta(0)))
    assert report_of(api, report_id)["flags"] == ["photo_missing", "photo_far_from_report"]
    terminals(api, TerminalSettings(photo_far_m=3000.0))
    assert report_of(api, report_id)["flags"] == []


def test_report_without_position_takes_the_nearest_fix_within_60_s(
    ingest: IngestHarness, api: TestClient
) -> None:
    terminal = ingest.register_terminal("R3")
    sim = TerminalSim(terminal, prefix=ingest.prefix, seed=13)
    walk = walk_route([HOME, offset_m(*HOME, 200.0, 0.0)], start=T0)
    nmea = sim.nmea(walk[:40], per_message_s=40)
    report, _ = sim.report(ts=T0 + timedelta(seconds=20, milliseconds=300), position=None, photos=0)
    ingest.publisher.publish_all([*nmea, report])  # likely one batch: fixes go in first
    report_id = report.expected_reports[0].report_id
    wait_until(lambda: stored(ingest, report_id), what="the report")
    body = report_of(api, report_id)
    assert body["position_source"] == "fix"
    assert (body["position"]["lat"], body["position"]["lon"]) == (
        pytest.approx(walk[20].lat, abs=1e-7),
        pytest.approx(walk[20].lon, abs=1e-7),
    )


def test_report_without_position_and_no_recent_fix_is_rejected(ingest: IngestHarness) -> None:
    terminal = ingest.register_terminal("R4")
    sim = TerminalSim(terminal, prefix=ingest.prefix, seed=14)
    walk = walk_route([HOME, offset_m(*HOME, 200.0, 0.0)], start=T0)
    ingest.publisher.publish_all(sim.nmea(walk[:10]))
    wait_until(
        lambda: ingest.scalar("SELECT count(*) FROM fixes WHERE terminal_id = %s", terminal) == 10,
        what="fixes",
    )
    # 61 s after the last fix: too old to stand for the report's position.
    report, _ = sim.report(ts=walk[9].ts + timedelta(seconds=61), position=None, photos=0)
    ingest.publisher.publish_all([report])
    wait_until(lambda: reasons(ingest) == ["no_position"], what="no_position rejection")
    assert not stored(ingest, report.expected_reports[0].report_id)
    assert ingest.rejected()[0][3] == report.payload


def test_report_resend_stores_nothing_new_and_a_changed_resend_is_a_conflict(
    ingest: IngestHarness, api: TestClient
) -> None:
    terminal = ingest.register_terminal("R5")
    sim = TerminalSim(terminal, prefix=ingest.prefix, seed=15)
    report, _ = sim.report(ts=T0, position=HOME, photos=0)
    report_id = report.expected_reports[0].report_id
    ingest.publisher.publish_all([report, report])
    wait_until(lambda: stored(ingest, report_id), what="the report")
    changed = json.loads(report.payload)
    changed["category"] = "fire"
    ingest.publisher.publish_all([report, (report.topic, json.dumps(changed).encode())])
    wait_until(
        lambda: (
            ingest.scalar(
                "SELECT count(*) FROM ingest_conflicts WHERE kind = 'report' AND key = %s",
                report_id,
            )
            == 1
        ),
        what="one conflict",
    )
    assert (
        ingest.scalar("SELECT count(*) FROM hazard_reports WHERE terminal_id = %s", terminal) == 1
    )
    assert report_of(api, report_id)["category"] == "combustibles_in_corridor"
    incoming = ingest.scalar("SELECT incoming FROM ingest_conflicts WHERE key = %s", report_id)
    assert incoming["category"] == "fire"


def test_bad_photos_are_rejected_with_their_reasons(ingest: IngestHarness) -> None:
    terminal = ingest.register_terminal("P1")
    topic = f"{ingest.prefix}/t/{terminal}/photo/{{}}"
    good = make_photo(seed=21)
    other = make_photo(seed=22)
    big = b"\xff\xd8\xff" + bytes(4 * 1024 * 1024)
    gif = b"GIF89a" + bytes(100)
    ingest.publisher.publish_all(
        [
            (topic.format(hashlib.sha256(other).hexdigest()), good),
            (topic.format(hashlib.sha256(big).hexdigest()), big),
            (topic.format(hashlib.sha256(gif).hexdigest()), gif),
            (topic.format("nothex"), good),
        ]
    )
    wait_until(lambda: len(reasons(ingest)) == 4, what="four rejections")
    assert sorted(reasons(ingest)) == sorted(
        ["hash_mismatch", "photo_too_large", "unsupported_media", "bad_photo_hash"]
    )
    assert ingest.scalar("SELECT count(*) FROM photos WHERE terminal_id = %s", terminal) == 0
    assert ingest.data_dir is not None
    assert not (ingest.data_dir / "photos").exists()


def test_track_api_pages_filters_and_converts(ingest: IngestHarness, api: TestClient) -> None:
    terminal = ingest.register_terminal("TRK")
    walk = walk_route([HOME, offset_m(*HOME, 300.0, 0.0)], start=T0)[:30]
    ingest.publisher.publish_all(
        [SimMessage(f"{ingest.prefix}/t/{terminal}/nmea", "".join(epoch(f) for f in walk).encode())]
    )
    wait_until(
        lambda: ingest.scalar("SELECT count(*) FROM fixes WHERE terminal_id = %s", terminal) == 30,
        what="30 fixes",
    )
    url = f"/api/v1/terminals/{terminal}/track"
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = api.get(url, params={"limit": 12, **({"cursor": cursor} if cursor else {})}).json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(items) == 30
    assert set(items[0]) == {"ts", "lat", "lon", "quality", "satellites", "hdop"}
    assert [datetime.fromisoformat(i["ts"]) for i in items] == [f.ts for f in walk]
    assert (items[0]["lat"], items[0]["lon"]) == (
        pytest.approx(walk[0].lat, abs=1e-7),
        pytest.approx(walk[0].lon, abs=1e-7),
    )
    window = api.get(
        url,
        params={
            "from": (T0 + timedelta(seconds=10)).isoformat(),
            "to": (T0 + timedelta(seconds=20)).isoformat(),
        },
    ).json()["items"]
    assert len(window) == 10
    gcj = api.get(url, params={"crs": "gcj02", "limit": 1}).json()["items"][0]
    assert haversine_m(gcj["lat"], gcj["lon"], walk[0].lat, walk[0].lon) > 300
    want = from_wgs84(walk[0].lat, walk[0].lon, Crs.GCJ02)
    assert haversine_m(gcj["lat"], gcj["lon"], *want) < 0.01


def test_report_crs_round_trip_and_errors(ingest: IngestHarness, api: TestClient) -> None:
    terminal = ingest.register_terminal("CRS")
    sim = TerminalSim(terminal, prefix=ingest.prefix, seed=16)
    report, _ = sim.report(ts=T0, position=HOME, crs=Crs.GCJ02, photos=0)
    sent = json.loads(report.payload)["position"]
    report_id = report.expected_reports[0].report_id
    ingest.publisher.publish_all([report])
    wait_until(lambda: stored(ingest, report_id), what="the report")
    shown = report_of(api, report_id, crs="gcj02")["position"]
    assert haversine_m(shown["lat"], shown["lon"], sent["lat"], sent["lon"]) < 0.5
    baidu = report_of(api, report_id, crs="bd09")["position"]
    assert haversine_m(baidu["lat"], baidu["lon"], *from_wgs84(*HOME, Crs.BD09)) < 0.5
    for path, code in (
        (f"/api/v1/reports/{uuid.uuid4()}", 404),
        ("/api/v1/reports/not-a-uuid", 404),
        (f"/api/v1/photos/{'0' * 64}", 404),
        (f"/api/v1/reports/{report_id}?crs=utm", 422),
    ):
        answer = api.get(path)
        assert answer.status_code == code, path
        assert set(answer.json()["error"]) == {"code", "message", "details", "request_id"}
    assert api.get(f"/api/v1/reports/{report_id}", headers={"Authorization": ""}).status_code == 401


def test_a_vendor_report_number_is_a_report_id_too(ingest: IngestHarness, api: TestClient) -> None:
    terminal = ingest.register_terminal("VND")
    report_id = f"RPT-{uuid.uuid4().hex[:8]}.01"
    doc = {
        "report_id": report_id,
        "ts": T0.isoformat(),
        "category": "blocked_exit",
        "description": "安全出口被锁",
        "position": {"lat": HOME[0], "lon": HOME[1]},
    }
    topic = f"{ingest.prefix}/t/{terminal}/report"
    ingest.publisher.publish_all([(topic, json.dumps(doc).encode())] * 2)  # a resend, too
    wait_until(lambda: stored(ingest, report_id), what="the vendor-numbered report")
    body = report_of(api, report_id)
    assert (body["report_id"], body["category"]) == (report_id, "blocked_exit")
    assert (
        ingest.scalar("SELECT count(*) FROM hazard_reports WHERE terminal_id = %s", terminal) == 1
    )
    missing = api.get("/api/v1/reports/no such report")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
