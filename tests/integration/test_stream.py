"""``GET /api/v1/stream`` against a real uvicorn server and PostgreSQL: live delivery in order,
resuming with Last-Event-ID, areas, auth, out-of-order commits, and commit-to-screen latency.

Hazards are made by the rules engine's own sink (``DbSink``), which appends their events to the
event log in the caller's transaction. Each test uses its own street code and an operator token
restricted to it, so events of other tests never reach its stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest

from api.app import create_app
from api.routes import stream as stream_routes
from api.settings import ApiSettings
from api.tokens import create_token
from hazards.lifecycle import HazardOp
from hazards.sink import DbSink
from rules.models import Severity, TransitionKind
from tests.fix_api import serve
from tests.integration.case_support import open_case


@dataclass(frozen=True)
class Frame:
    """One SSE frame as the client parsed it, with when it arrived."""

    id: int | None
    event: str | None
    data: dict[str, Any] | None
    comment: str | None
    arrived: float


@pytest.fixture(scope="module")
def base_url(db_url: str) -> Iterator[str]:
    with serve(create_app(ApiSettings(db_url=db_url), broker_probe=lambda: True)) as base:
        yield base


class Stream:
    """A streaming SSE client on its own event loop in a thread, frames into a queue."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.frames: queue.Queue[Frame] = queue.Queue()
        self.status: int | None = None
        self._opened = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._task: asyncio.Task[None] | None = None
        self._thread = threading.Thread(target=self._run, args=(url, headers), daemon=True)
        self._thread.start()
        assert self._opened.wait(5), "the stream did not open"

    def _run(self, url: str, headers: dict[str, str]) -> None:
        self._task = self._loop.create_task(self._read(url, headers))
        with contextlib.suppress(asyncio.CancelledError):
            self._loop.run_until_complete(self._task)
        self._loop.close()

    async def _read(self, url: str, headers: dict[str, str]) -> None:
        timeout = httpx.Timeout(5.0, read=None)
        try:
            async with (
                httpx.AsyncClient(timeout=timeout) as client,
                client.stream("GET", url, headers=headers) as resp,
            ):
                self.status = resp.status_code
                self._opened.set()
                fields: dict[str, str] = {}
                async for line in resp.aiter_lines():
                    if line:
                        name, _, value = line.partition(":")
                        fields[name] = fields.get(name, "") + value.removeprefix(" ")
                        continue
                    self.frames.put(
                        Frame(
                            int(fields["id"]) if "id" in fields else None,
                            fields.get("event"),
                            json.loads(fields["data"]) if "data" in fields else None,
                            fields.get(""),
                            time.perf_counter(),
                        )
                    )
                    fields = {}
        finally:
            self._opened.set()

    def events(self, n: int, timeout: float = 5.0) -> list[Frame]:
        """Return the next ``n`` event frames (skipping comments)."""
        out: list[Frame] = []
        deadline = time.monotonic() + timeout
        while len(out) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"got {len(out)} of {n} events: {out}", pytrace=False)
            try:
                frame = self.frames.get(timeout=left)
            except queue.Empty:
                continue
            if frame.id is not None:
                out.append(frame)
        return out

    def quiet(self, seconds: float) -> list[Frame]:
        """Return event frames arriving within ``seconds`` (expecting none, usually)."""
        out: list[Frame] = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                frame = self.frames.get(timeout=left)
            except queue.Empty:
                break
            if frame.id is not None:
                out.append(frame)
        return out

    def close(self) -> None:
        """Disconnect."""
        if self._task is not None:
            self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(5)
        assert not self._thread.is_alive()


@contextmanager
def _stream(url: str, headers: dict[str, str]) -> Iterator[Stream]:
    s = Stream(url, headers)
    try:
        yield s
    finally:
        s.close()


def _area() -> str:
    """A street code no other test uses (9 digits) and a grid inside it."""
    return f"9{uuid.uuid4().int % 10**8:08d}"


def _token(
    db_url: str, *, role: str = "operator", areas: list[str] | None = None
) -> dict[str, str]:
    with psycopg.connect(db_url) as conn:
        token = create_token(conn, role=role, areas=areas or [])
    return {"Authorization": f"Bearer {token}"}


def _op(grid: str, transition: TransitionKind, rule: str, *, ts: int = 0) -> HazardOp:
    return HazardOp(
        "apply",
        rule,
        "threshold",
        f"grid:{grid}",
        1_764_138_600_000 + ts,
        transition,
        Severity.CRITICAL if transition == "open" else Severity.MAJOR,
        value=0.1,
    )


def _apply(db_url: str, *ops: HazardOp) -> float:
    """Apply ops in one transaction the way the engine does; return when it committed."""
    with psycopg.connect(db_url) as conn:
        DbSink(conn).apply(ops)
        conn.commit()
        return time.perf_counter()


def test_live_delivery_in_order_with_ids_and_hazard_fields(base_url: str, db_url: str) -> None:
    street = _area()
    grid = street + "001001"
    rule = f"r{uuid.uuid4().hex[:6]}"
    with _stream(f"{base_url}/api/v1/stream", _token(db_url, areas=[street])) as s:
        assert s.status == 200
        _apply(db_url, _op(grid, "open", rule))
        _apply(db_url, _op(grid, "update", rule, ts=1000))
        _apply(db_url, _op(grid, "clear", rule, ts=2000))
        got = s.events(3)
    assert [f.event for f in got] == ["hazard.opened", "hazard.updated", "hazard.cleared"]
    ids = [f.id for f in got if f.id is not None]
    assert ids == sorted(ids)
    assert len(set(ids)) == 3
    first = got[0].data
    assert first is not None
    assert first["type"] == "hazard.opened"
    assert first["event_id"] == ids[0]
    for name in (
        "id",
        "rule",
        "kind",
        "severity",
        "status",
        "grid_code",
        "community_code",
        "street_code",
        "lat",
        "lon",
        "opened_at",
        "cleared_at",
        "occurrences",
    ):
        assert name in first
    assert first["rule"] == rule
    assert first["grid_code"] == grid
    assert first["street_code"] == street
    last = got[2].data
    assert last is not None
    assert last["status"] == "cleared"
    assert last["id"] == first["id"]


def test_resume_with_last_event_id_gets_exactly_the_missed(base_url: str, db_url: str) -> None:
    street = _area()
    grid = street + "002003"
    headers = _token(db_url, areas=[street])
    url = f"{base_url}/api/v1/stream"
    with _stream(url, headers) as s:
        _apply(db_url, _op(grid, "open", "ra"))
        seen = s.events(1)[0]
    # Disconnected: three events happen, two in one transaction.
    _apply(db_url, _op(grid, "update", "ra", ts=1000), _op(grid, "open", "rb"))
    _apply(db_url, _op(grid, "clear", "ra", ts=2000))
    with _stream(url, {**headers, "Last-Event-ID": str(seen.id)}) as s:
        missed = s.events(3)
        _apply(db_url, _op(grid, "clear", "rb", ts=3000))
        live = s.events(1)
        assert s.quiet(0.5) == []
    ids = [f.id for f in missed + live if f.id is not None]
    assert ids == sorted(ids)
    assert [f.event for f in missed + live] == [
        "hazard.updated",
        "hazard.opened",
        "hazard.cleared",
        "hazard.cleared",
    ]
    assert missed[0].id is not None
    assert seen.id is not None
    assert missed[0].id > seen.id
    # The query-parameter form (EventSource reconnecting by URL) resumes the same way.
    with _stream(f"{url}?last_event_id={seen.id}", headers) as s:
        assert [f.id for f in s.events(4)] == ids
        assert s.quiet(0.3) == []


def test_area_restriction(base_url: str, db_url: str) -> None:
    mine, other = _area(), _area()
    with (
        _stream(f"{base_url}/api/v1/stream", _token(db_url, areas=[mine])) as s,
        _stream(f"{base_url}/api/v1/stream", _token(db_url, role="admin")) as admin,
    ):
        _apply(db_url, _op(other + "001001", "open", "rx"))
        _apply(db_url, _op(mine + "001001", "open", "rx"))
        got = s.events(1)
        assert got[0].data is not None
        assert got[0].data["street_code"] == mine
        assert s.quiet(0.3) == []
        # Everything is visible to a token without areas, the other street's event too.
        codes = [f.data["street_code"] for f in admin.events(2) if f.data is not None]
        assert codes == [other, mine]


def test_unauthenticated_is_401_structured(base_url: str, db_url: str) -> None:
    del db_url
    resp = httpx.get(f"{base_url}/api/v1/stream", timeout=5)
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "unauthorized"
    resp = httpx.get(
        f"{base_url}/api/v1/stream", headers={"Authorization": "Bearer nope"}, timeout=5
    )
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "unauthorized"


def test_bad_last_event_id_is_400(base_url: str, db_url: str) -> None:
    resp = httpx.get(
        f"{base_url}/api/v1/stream",
        headers={**_token(db_url), "Last-Event-ID": "abc"},
        timeout=5,
    )
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "invalid_last_event_id"


def test_out_of_order_commits_arrive_in_id_order(base_url: str, db_url: str) -> None:
    """A takes the lower id, B the higher and commits first: B waits for A (commit or
    rollback), so a client's Last-Event-ID never passes an id it has not seen."""
    street = _area()
    grid = street + "004001"
    with _stream(f"{base_url}/api/v1/stream", _token(db_url, areas=[street])) as s:
        for outcome in ("commit", "rollback"):
            with psycopg.connect(db_url) as a:
                DbSink(a).apply([_op(grid, "open", f"early-{outcome}")])  # lower id, open txn
                _apply(db_url, _op(grid, "open", f"late-{outcome}"))
                assert s.quiet(0.5) == []  # held back behind A's id
                t = time.perf_counter()
                if outcome == "commit":
                    a.commit()
                else:
                    a.rollback()
                want = 2 if outcome == "commit" else 1
                got = s.events(want)
            rules = [f.data["rule"] for f in got if f.data is not None]
            expected = [f"early-{outcome}", f"late-{outcome}"][2 - want :]
            assert rules == expected
            ids = [f.id for f in got if f.id is not None]
            assert ids == sorted(ids)
            # Settled by the writer ending, not by the feed's 5 s backstop.
            assert got[-1].arrived - t < 1.0
            print(f"\n{outcome}: released {got[-1].arrived - t:.3f} s after A ended")


def test_an_unrelated_long_transaction_does_not_hold_the_feed(base_url: str, db_url: str) -> None:
    """An open transaction that writes no event (an idle psql session, a long import) is in
    every snapshot's in-progress list; a gap left by a rolled-back writer must not wait for it."""
    street = _area()
    grid = street + "007001"
    with (
        _stream(f"{base_url}/api/v1/stream", _token(db_url, areas=[street])) as s,
        psycopg.connect(db_url) as idle,
    ):
        idle.execute("CREATE TEMP TABLE scratch (n int)")
        idle.execute("INSERT INTO scratch VALUES (1)")  # holds a transaction id, stays open
        with psycopg.connect(db_url) as a:
            DbSink(a).apply([_op(grid, "open", "gone")])  # the lower id, then rolled back
            _apply(db_url, _op(grid, "open", "kept"))
            a.rollback()
        t = time.perf_counter()
        got = s.events(1)
        idle.rollback()
    assert [f.data["rule"] for f in got if f.data is not None] == ["kept"]
    assert got[0].arrived - t < 1.0


def test_feed_reconnects_and_loses_nothing(base_url: str, db_url: str) -> None:
    street = _area()
    grid = street + "006001"
    with _stream(f"{base_url}/api/v1/stream", _token(db_url, areas=[street])) as s:
        with psycopg.connect(db_url, autocommit=True) as admin:
            killed = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE application_name IN ('firegrid-live-feed', 'firegrid-listener')"
                " AND datname = current_database()"
            ).fetchone()
        assert killed is not None
        assert killed[0] >= 1
        # Committed while the feed is away: delivered once it is back, none lost.
        _apply(db_url, _op(grid, "open", "rc"))
        _apply(db_url, _op(grid, "clear", "rc", ts=1000))
        got = s.events(2, timeout=10)
    assert [f.event for f in got] == ["hazard.opened", "hazard.cleared"]


def test_heartbeat_comment(base_url: str, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream_routes, "HEARTBEAT_S", 0.2)
    with _stream(f"{base_url}/api/v1/stream", _token(db_url, areas=[_area()])) as s:
        comments = [s.frames.get(timeout=3).comment for _ in range(3)]
    assert "ping" in comments


def test_latency_commit_to_client(base_url: str, db_url: str) -> None:
    street = _area()
    grid = street + "005001"
    lat: list[float] = []
    with _stream(f"{base_url}/api/v1/stream", _token(db_url, areas=[street])) as s:
        for i in range(20):
            committed = _apply(
                db_url, _op(grid, "open" if i % 2 == 0 else "clear", "fire", ts=i * 1000)
            )
            frame = s.events(1)[0]
            lat.append(frame.arrived - committed)
    median, worst = statistics.median(lat), max(lat)
    print(f"\ncommit → client: median {median * 1000:.1f} ms, max {worst * 1000:.1f} ms (n=20)")
    assert worst < 1.0


def _open_case(db_url: str, street: str) -> str:
    with psycopg.connect(db_url) as conn:
        return open_case(conn, street)


def test_case_events_are_streamed_within_the_callers_area(base_url: str, db_url: str) -> None:
    mine, other = _area(), _area()
    with _stream(f"{base_url}/api/v1/stream", _token(db_url, areas=[mine])) as s:
        _open_case(db_url, other)
        case_id = _open_case(db_url, mine)
        (got,) = s.events(1)
        assert got.event == "case.created"
        assert got.data is not None
        assert (got.data["id"], got.data["street_code"], got.data["status"]) == (
            case_id,
            mine,
            "filed",  # no staff registered: it waits for a person
        )
        assert got.data["step"]["action"] == "file"
        assert got.data["created_at"].endswith("Z")
        assert s.quiet(0.3) == []
