"""The live feed under load and at its edges, over real uvicorn servers and PostgreSQL: a storm
that a reading client rides out while a stalled one is cut off with bounded memory, exact resume
after 100 missed events, a second API process seeing the first's events, a clean shutdown.

Storm events are appended straight to the event log (a few big transactions), as the rules
engine's sink would write them; each carries the hazard row the feed shows.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import httpx
import psycopg
import pytest
import uvicorn
from fastapi import FastAPI

from api.app import create_app
from api.settings import ApiLimits, ApiSettings
from feed.flows import PgLiveFeed
from firegrid.api_role import StreamClosingServer
from infra.eventlog import append
from tests.fix_api import free_port
from tests.integration.test_stream import Frame, Stream, _apply, _area, _op, _stream, _token
from tests.unit.test_live_feed import _hazard

STALL_S = 2.0
QUEUE = 100  # per client: small, so the storm overflows even a quick reader's queue


@dataclass
class Served:
    """A running app: its URL, the app (for its feed) and its server (to stop it)."""

    url: str
    app: FastAPI
    server: StreamClosingServer
    thread: threading.Thread

    def stop(self) -> None:
        """Ask uvicorn to stop and wait for it."""
        self.server.should_exit = True
        self.thread.join(15)
        assert not self.thread.is_alive()


@contextmanager
def _serve(db_url: str) -> Iterator[Served]:
    app = create_app(
        ApiSettings(
            db_url=db_url, limits=ApiLimits(stream_stall_s=STALL_S, stream_queue_size=QUEUE)
        ),
        broker_probe=lambda: True,
    )
    port = free_port()
    # log_config=None: uvicorn's records reach the root logger, where caplog sees them.
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, timeout_graceful_shutdown=3
    )
    server = StreamClosingServer(config, app)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        assert thread.is_alive(), "uvicorn ended"
        time.sleep(0.02)
    served = Served(f"http://127.0.0.1:{port}", app, server, thread)
    try:
        yield served
    finally:
        if thread.is_alive():
            served.stop()


def _storm(db_url: str, grid: str, *, events: int, transactions: int) -> list[int]:
    """Append ``events`` hazard events over ``hazards`` ids in a few transactions; their ids."""
    ids: list[int] = []
    per = events // transactions
    base = uuid.uuid4().int % 10**6 * 1000
    rows = {h: _hazard(base + h, grid).model_dump(mode="json") for h in range(per)}
    with psycopg.connect(db_url) as conn:
        for t in range(transactions):
            for h in range(per):
                kind = "hazard.opened" if t == 0 else "hazard.updated"
                row = {**rows[h], "occurrences": t + 1}
                ids.append(
                    append(
                        conn,
                        kind=kind,
                        subject=str(row["id"]),
                        payload={"hazard": row, "change": {"occurrences": t + 1}},
                        place=(grid, grid[:12], grid[:9]),
                    )
                )
            conn.commit()
    return ids


def _drain(sock: socket.socket) -> str:
    """Read until the server ends the connection; say how it ended."""
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        return "reset"
    return "eof"


class Reader:
    """A client like ``curl -N``: it reads every frame as fast as its connection allows."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.ids: list[int] = []
        self.ended = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(url, headers), daemon=True)
        self._thread.start()

    def _read(self, url: str, headers: dict[str, str]) -> None:
        try:
            with httpx.stream("GET", url, headers=headers, timeout=httpx.Timeout(5, read=60)) as r:
                for line in r.iter_lines():
                    if line.startswith("id: "):
                        self.ids.append(int(line[4:]))
        except httpx.HTTPError:
            pass
        finally:
            self.ended.set()


def _feed(served: Served) -> PgLiveFeed:
    feed: PgLiveFeed = served.app.state.live_feed
    return feed


def _await_subscribers(served: Served, count: int) -> None:
    deadline = time.monotonic() + 5
    while len(_feed(served)._subs) < count:
        assert time.monotonic() < deadline, f"not {count} client(s) subscribed"
        time.sleep(0.02)


def _watched_grid(db_url: str) -> tuple[str, dict[str, str]]:
    """Return a grid in a street of its own and an operator token's header for that street."""
    street = _area()
    return street + "002003", _token(db_url, areas=[street])


def test_storm_reader_stays_stalled_one_is_cut_off_memory_bounded(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    grid, headers = _watched_grid(db_url)
    with _serve(db_url) as served, ExitStack() as stack:
        url = f"{served.url}/api/v1/stream"
        reader = Reader(url, headers)
        # A client that reads nothing: a tiny receive buffer so the server's fills soon.
        stalled = stack.enter_context(socket.socket())  # closed even when the test fails
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.connect(("127.0.0.1", int(served.url.rsplit(":", 1)[1])))
        auth = headers["Authorization"]
        stalled.sendall(
            f"GET /api/v1/stream HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\n\r\n".encode()
        )
        _await_subscribers(served, 2)
        feed = _feed(served)
        began = time.monotonic()
        ids = _storm(db_url, grid, events=5000, transactions=5)
        # A storm: 5,000 events within a second or two (a loaded CI machine may take longer to
        # write them; the reader still falls thousands behind, which is what is tested).
        assert time.monotonic() - began < 10
        # Memory stays bounded while the storm passes: no subscriber holds more than its queue,
        # though the reader falls thousands of events behind.
        biggest = 0
        end = time.monotonic() + 90
        while len(reader.ids) < len(ids):
            assert time.monotonic() < end, f"the reader got {len(reader.ids)} of {len(ids)}"
            assert not reader.ended.is_set(), f"the reader was cut off at {len(reader.ids)}"
            biggest = max([biggest, *(s.queue.qsize() for s in list(feed._subs))])
            time.sleep(0.01)
        assert reader.ids == ids  # every event, once, in order: the current state of each hazard
        assert biggest <= QUEUE
        # The stalled client is cut off within its stall time (an overflowed subscriber leaves
        # the fan-out until it reads on, so the subscriber count alone does not show it).
        deadline = time.monotonic() + STALL_S + 10
        while not any("cut off" in r.getMessage() for r in caplog.records):
            assert time.monotonic() < deadline, "the stalled client was not cut off"
            time.sleep(0.1)
        assert _drain(stalled) in ("eof", "reset")  # what was buffered, then the end
        stalled.close()
        # The reader is still live after the storm.
        [tail] = _storm(db_url, grid, events=1, transactions=1)
        deadline = time.monotonic() + 5
        while reader.ids[-1] != tail:
            assert time.monotonic() < deadline, "the reader did not get the event after"
            time.sleep(0.02)
        assert not reader.ended.is_set()
    # Cutting a client off is a warning, not a traceback (uvicorn adds one line, without one).
    assert not [r for r in caplog.records if r.exc_info]


def test_reconnect_with_last_event_id_gets_exactly_the_100_missed(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    grid, headers = _watched_grid(db_url)
    with _serve(db_url) as served:
        url = f"{served.url}/api/v1/stream"
        with _stream(url, headers) as s:
            [first] = _storm(db_url, grid, events=1, transactions=1)
            seen = s.events(1)[0]
            assert seen.id == first
        missed = _storm(db_url, grid, events=100, transactions=4)
        with _stream(url, {**headers, "Last-Event-ID": str(seen.id)}) as s:
            assert [f.id for f in s.events(100)] == missed
            assert s.quiet(0.5) == []
        time.sleep(0.3)  # the server notices the second disconnect
    # Clients that hang up leave nothing alarming in the log.
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def test_a_second_api_process_streams_what_the_first_raised(db_url: str) -> None:
    street = _area()
    grid = street + "002003"
    headers = _token(db_url, role="admin")
    with _serve(db_url) as first, _serve(db_url) as second:
        _apply(db_url, _op(grid, "open", "ra"))
        with psycopg.connect(db_url) as conn:
            row = conn.execute(
                "SELECT id FROM hazards WHERE grid_code = %s AND status = 'open'", (grid,)
            ).fetchone()
        assert row is not None
        with _stream(f"{second.url}/api/v1/stream", headers) as s:
            resp = httpx.post(f"{first.url}/api/v1/hazards/{row[0]}/ack", headers=headers)
            assert resp.status_code == 200, resp.text
            frames: list[Frame] = []
            while not frames:
                frames = [f for f in s.events(1) if f.data and f.data.get("id") == row[0]]
            assert frames[0].event == "hazard.updated"
            assert frames[0].data is not None
            # The actor is the token's: it names no staff member and has no name, so its role.
            assert frames[0].data["change"]["acknowledged_by"] == "token:admin"


def test_shutdown_with_a_connected_client_ends_its_stream_without_traceback(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    _, headers = _watched_grid(db_url)
    caplog.set_level(logging.INFO)
    with _serve(db_url) as served:
        reader = Stream(f"{served.url}/api/v1/stream", headers)
        _await_subscribers(served, 1)
        began = time.monotonic()
        served.stop()
        assert time.monotonic() - began < 3  # not the graceful timeout's cancellation
        reader._thread.join(5)
        comments = []
        while not reader.frames.empty():
            comments.append(reader.frames.get().comment)
        assert any(c and "server stopping" in c for c in comments), comments
        assert not reader._thread.is_alive()  # the response ended: the client saw its end
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def _ticket(url: str, headers: dict[str, str]) -> str:
    resp = httpx.post(f"{url}/api/v1/stream/tickets", headers=headers)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) == {"ticket", "expires_at"}
    return str(body["ticket"])


def test_a_stream_ticket_works_once_with_its_tokens_scope_and_expires(db_url: str) -> None:
    grid, headers = _watched_grid(db_url)
    with _serve(db_url) as served:
        url = f"{served.url}/api/v1/stream"
        assert httpx.post(f"{served.url}/api/v1/stream/tickets").status_code == 401
        ticket = _ticket(served.url, headers)
        with psycopg.connect(db_url) as conn:  # stored hashed, never as issued
            stored = conn.execute("SELECT ticket_sha256 FROM stream_tickets").fetchall()
        assert all(ticket.encode() not in bytes(r[0]) for r in stored)
        # No Authorization header: the ticket alone opens the stream, with the token's scope.
        with _stream(f"{url}?ticket={ticket}", {}) as s:
            assert s.status == 200
            _storm(db_url, "9" * 15, events=1, transactions=1)  # outside its area: not shown
            [inside] = _storm(db_url, grid, events=1, transactions=1)
            assert [f.id for f in s.events(1)] == [inside]
        # Single use: the same ticket again is refused, as is an unknown one.
        for bad in (ticket, "fgt_nothing"):
            resp = httpx.get(f"{url}?ticket={bad}")
            assert resp.status_code == 401
            assert resp.json()["error"]["code"] == "unauthorized"
        # A ticket past its minute is refused.
        late = _ticket(served.url, headers)
        with psycopg.connect(db_url) as conn:
            conn.execute(
                "UPDATE stream_tickets SET expires_at = now() - interval '1 second'"
                " WHERE used_at IS NULL"
            )
        assert httpx.get(f"{url}?ticket={late}").status_code == 401
