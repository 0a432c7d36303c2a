"""Residents' reports (群众点单) on the real database: a public report becomes a hazard and a
case like a worker's; rate limits answer 429 with Retry-After; the rating link rates the closed
case once, and not before it closed."""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiLimits, ApiSettings, PublicLimits
from api.tokens import create_token
from dispatch.flows import DispatchService
from infra.clock import FixedClock
from rules.flows import RulesService
from simulators.terminal import make_photo
from tests.fix_api import bearer
from tests.fix_ingest import IngestHarness
from tests.integration.dispatch_support import add_staff, dispatch, grids, rules

__all__ = ["dispatch", "grids", "rules"]  # fixtures, used by name

T0 = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


def client_for(db_url: str, data_dir: Path, clock: FixedClock, **public: Any) -> TestClient:
    limits = ApiLimits(public=PublicLimits(**public))
    settings = ApiSettings(db_url=db_url, data_dir=data_dir, limits=limits)
    return TestClient(create_app(settings, broker_probe=lambda: True, clock=clock))


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def public(db_url: str, tmp_path: Path, clock: FixedClock) -> Iterator[TestClient]:
    """The API with generous limits (the rate-limit test builds its own)."""
    with client_for(db_url, tmp_path, clock, address_burst=100, fingerprint_burst=100) as c:
        yield c


def report_body(at: tuple[float, float], **more: Any) -> dict[str, Any]:
    return {
        "category": "blocked_exit",
        "description": "5号楼安全出口被电动车堵住",
        "position": {"lat": at[0], "lon": at[1]},
        **more,
    }


def photo_b64(seed: int, gps: tuple[float, float] | None = None) -> tuple[str, str]:
    raw = make_photo(seed=seed, taken_at=T0, gps=gps)
    return base64.b64encode(raw).decode(), hashlib.sha256(raw).hexdigest()


def test_a_residents_report_becomes_a_case(
    public: TestClient,
    db_url: str,
    tmp_path: Path,
    rules: RulesService,
    dispatch: DispatchService,
    grids: dict[str, tuple[float, float]],
) -> None:
    grid = sorted(grids)[0]
    b64, sha = photo_b64(1, grids[grid])
    answer = public.post("/api/v1/public/reports", json=report_body(grids[grid], photos=[b64]))
    assert answer.status_code == 200, answer.text
    got = answer.json()
    assert got["photos"] == [sha]
    assert got["rating_url"] == f"/api/v1/public/ratings/{got['rating_token']}"
    # Stored like a worker's report: the row, the photo's row and bytes, the batch's event.
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT terminal_id, category, photos, position_source FROM hazard_reports"
            " WHERE report_id = %s",
            (got["report_id"],),
        ).fetchone()
        assert row == ("resident", "blocked_exit", [sha], "report")
        path = conn.execute("SELECT path FROM photos WHERE sha256 = %s", (sha,)).fetchone()
        assert path is not None
        # The token is kept only as its hash.
        (stored,) = conn.execute(
            "SELECT token_hash FROM rating_links WHERE report_id = %s", (got["report_id"],)
        ).fetchone() or (None,)
        assert bytes(stored) == hashlib.sha256(got["rating_token"].encode()).digest()
    assert (tmp_path / path[0]).read_bytes() == base64.b64decode(b64)
    # Read back like any report, with its photo, by a token holder.
    seen = public.get(f"/api/v1/reports/{got['report_id']}", headers=bearer(db_url))
    assert seen.status_code == 200, seen.text
    assert (seen.json()["terminal_id"], seen.json()["photos"]) == ("resident", [sha])
    photo = public.get(f"/api/v1/photos/{sha}", headers=bearer(db_url))
    assert photo.content == base64.b64decode(b64)
    assert "firegrid_public_reports_total" in public.get("/metrics").text
    rules.process_pending()
    dispatch.process_pending()
    with psycopg.connect(db_url) as conn:
        case = conn.execute(
            "SELECT c.category, c.grid_code, c.status FROM case_reports r JOIN cases c"
            " USING (case_id) WHERE r.report_id = %s",
            (got["report_id"],),
        ).fetchone()
    assert case == ("blocked_exit", grid, "filed")  # no staff in the grid: it waits filed


def test_rate_limits_answer_429_with_retry_after(
    db_url: str, tmp_path: Path, clock: FixedClock, grids: dict[str, tuple[float, float]]
) -> None:
    at = grids[sorted(grids)[1]]
    url = "/api/v1/public/reports"
    with client_for(
        db_url,
        tmp_path,
        clock,
        address_burst=2,
        address_per_hour=60,  # one a minute
        fingerprint_burst=1,
        fingerprint_per_hour=6,  # one per 10 minutes
    ) as c:
        assert c.post(url, json=report_body(at, fingerprint="phone-A")).status_code == 200
        # The same phone again (by header this time): refused by its fingerprint ...
        again = c.post(url, json=report_body(at), headers={"X-Device-Fingerprint": "phone-A"})
        assert again.status_code == 429, again.text
        assert again.headers["Retry-After"] == "600"
        error = again.json()["error"]
        assert (error["code"], error["details"]["limit"]) == ("rate_limited", "fingerprint")
        assert error["request_id"] == again.headers["X-Request-ID"]
        # ... without spending the address's second token: another phone still gets through.
        assert c.post(url, json=report_body(at, fingerprint="phone-B")).status_code == 200
        third = c.post(url, json=report_body(at, fingerprint="phone-C"))
        assert third.status_code == 429
        assert third.headers["Retry-After"] == "60"
        assert third.json()["error"]["details"] == {"limit": "address", "retry_after_s": 60}
        clock.advance(timedelta(seconds=60))
        assert c.post(url, json=report_body(at, fingerprint="phone-C")).status_code == 200
    with psycopg.connect(db_url) as conn:
        n = conn.execute(
            "SELECT count(*) FROM hazard_reports WHERE terminal_id = 'resident' AND ts = ANY(%s)",
            ([T0, T0 + timedelta(seconds=60)],),
        ).fetchone()
    assert n is not None
    assert n[0] >= 3  # the refused ones stored nothing (others' tests may add at T0 too)


def test_sizes_types_and_categories_are_checked(
    db_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    at = (31.26, 120.61)
    url = "/api/v1/public/reports"
    with client_for(
        db_url, tmp_path, clock, address_burst=100, max_photo_bytes=2000, max_report_bytes=20_000
    ) as c:
        big = base64.b64encode(make_photo(seed=2, size=(400, 300))).decode()
        answer = c.post(url, json=report_body(at, photos=[big]))
        assert (answer.status_code, answer.json()["error"]["code"]) == (413, "photo_too_large")
        answer = c.post(url, json=report_body(at, photos=["A" * 30_000]))
        assert (answer.status_code, answer.json()["error"]["code"]) == (413, "payload_too_large")
        text = base64.b64encode(b"GIF89a not a photo").decode()
        answer = c.post(url, json=report_body(at, photos=[text]))
        assert (answer.status_code, answer.json()["error"]["code"]) == (422, "unsupported_media")
        answer = c.post(url, json=report_body(at, photos=["not base64!"]))
        assert (answer.status_code, answer.json()["error"]["code"]) == (422, "bad_photo")
        answer = c.post(url, json=report_body(at, category="noise"))
        assert (answer.status_code, answer.json()["error"]["code"]) == (422, "bad_category")
        answer = c.post(url, json={"category": "other"})  # no position: no report
        assert answer.status_code == 422


def test_the_rating_link_works_once_and_only_after_closure(
    public: TestClient,
    ingest: IngestHarness,
    rules: RulesService,
    dispatch: DispatchService,
    grids: dict[str, tuple[float, float]],
) -> None:
    grid = sorted(grids)[2]
    at = grids[grid]
    tag = ingest.tag
    worker, checker = f"W1-{tag}", f"W2-{tag}"
    add_staff(
        ingest,
        [
            {"staff_id": worker, "name": "一号", "role": "grid_worker", "area": grid},
            {"staff_id": checker, "name": "二号", "role": "grid_worker", "area": grid},
        ],
    )
    b64, sha = photo_b64(3, at)
    got = public.post("/api/v1/public/reports", json=report_body(at, photos=[b64])).json()
    rate = f"/api/v1/public/ratings/{got['rating_token']}"
    shown = public.get(rate).json()
    assert (shown["report_id"], shown["case_id"], shown["rateable"]) == (
        got["report_id"],
        None,
        False,
    )
    early = public.post(rate, json={"rating": 5})
    assert early.status_code == 409
    assert early.json()["error"]["details"] == {"case_id": None, "status": None}
    rules.process_pending()
    dispatch.process_pending()
    case_id = ingest.scalar(
        "SELECT case_id FROM case_reports WHERE report_id = %s", got["report_id"]
    )
    not_yet = public.post(rate, json={"rating": 5}).json()["error"]
    assert (not_yet["code"], not_yet["details"]) == (
        "case_not_closed",
        {"case_id": case_id, "status": "dispatched"},
    )

    def act(staff: str, action: str, **kw: Any) -> None:
        with psycopg.connect(ingest.db_url) as conn:
            token = create_token(conn, role="grid_worker", areas=[], staff_id=staff)
        body = {"action_id": str(uuid.uuid4()), "action": action, **kw}
        answer = public.post(
            f"/api/v1/cases/{case_id}/actions",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
        )
        assert answer.status_code == 200, answer.text

    act(worker, "sign")
    act(worker, "feedback", note="已清理", photos=[sha])
    act(checker, "verify", photos=[sha], position={"lat": at[0], "lon": at[1]})
    assert public.get(rate).json()["rateable"] is True
    assert public.post(rate, json={"rating": 6}).status_code == 422  # 1-5 only
    rated = public.post(rate, json={"rating": 4, "comment": "处理及时"})
    assert rated.status_code == 200, rated.text
    assert rated.json() | {"rated_at": None} == {
        "case_id": case_id,
        "rating": 4,
        "comment": "处理及时",
        "rated_at": None,
    }
    twice = public.post(rate, json={"rating": 1})
    assert (twice.status_code, twice.json()["error"]["code"]) == (409, "already_rated")
    assert public.post("/api/v1/public/ratings/not-a-token", json={"rating": 3}).status_code == 404
    assert public.get("/api/v1/public/ratings/not-a-token").status_code == 404
    shown = public.get(rate).json()
    assert (shown["status"], shown["rating"], shown["rateable"]) == ("closed", 4, False)
    assert ingest.rows(
        "SELECT case_id, rating, comment FROM case_ratings WHERE report_id = %s", got["report_id"]
    ) == [(case_id, 4, "处理及时")]
