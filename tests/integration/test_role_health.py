"""Each real role tells its state and lag: degraded while the database is away, lag when behind."""

from __future__ import annotations

import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from fastapi import FastAPI

from firegrid.api_role import ApiRole
from firegrid.maintenance import StorageMaintenance
from infra.clock import FixedClock
from infra.eventlog import append
from rules.config import RulesSettings
from rules.engine.service import BATCH_COMMITTED
from rules.flows import RulesService
from rules.health import oldest_pending_batch
from tests.fix_ingest import IngestHarness, wait_until

NOWHERE = "postgresql://postgres@127.0.0.1:1/nowhere?connect_timeout=1"


def test_rules_stays_degraded_and_retrying_while_the_database_is_away() -> None:
    svc = RulesService(db_url=NOWHERE, settings=RulesSettings(poll_s=0.1))
    svc.start()
    try:
        wait_until(lambda: svc.health().state == "degraded", timeout_s=10, what="degraded")
        assert svc.health().detail.startswith("database: ")
        time.sleep(0.5)
        assert svc.health().state == "degraded", "a database error must not end the thread"
    finally:
        svc.stop()
    assert svc.health().state == "stopped"


def test_rules_lag_comes_from_its_hook(db_url: str) -> None:
    now = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    svc = RulesService(
        db_url=db_url,
        clock=FixedClock(now),
        oldest_pending=lambda _conn: now - timedelta(seconds=90),
    )
    svc._measure_lag()
    health = svc.health()
    svc.close()
    assert health.lag_s == 90.0
    assert not health.ready(max_lag_s=60)


def test_oldest_pending_batch_is_the_oldest_not_yet_processed(
    conn: psycopg.Connection[Any],
) -> None:
    # All rolled back after the test: the rules' cursor at the head of the log, then two batches.
    conn.execute(
        "INSERT INTO event_cursors (consumer, position)"
        " VALUES ('rules', (SELECT coalesce(max(id), 0) FROM event_log))"
        " ON CONFLICT (consumer) DO UPDATE SET position = excluded.position"
    )
    assert oldest_pending_batch(conn) is None
    for batch_id in (1, 2):
        append(conn, kind=BATCH_COMMITTED, subject=str(batch_id), payload={"batch_id": batch_id})
    row = conn.execute("SELECT now()").fetchone()  # the transaction's time: when both were logged
    assert row is not None
    assert oldest_pending_batch(conn) == row[0]


def test_maintenance_is_degraded_while_the_database_is_away() -> None:
    role = StorageMaintenance(db_url=NOWHERE, retry_s=0.1)
    role.start()
    try:
        wait_until(lambda: role.health().state == "degraded", timeout_s=10, what="degraded")
        time.sleep(0.3)
        assert role.health().state == "degraded"
    finally:
        role.stop()
    assert role.health().state == "stopped"


def test_ingest_lag_is_the_age_of_the_oldest_message_not_yet_committed(
    ingest: IngestHarness,
) -> None:
    svc = ingest.service
    svc._clock = FixedClock(datetime.now(UTC))  # lag moves only when the test says
    release = threading.Event()
    commit = svc.writer.commit_ahead

    def stuck(work: Any) -> Any:
        release.wait(30)  # the database "hangs" until the test releases it
        return commit(work)

    svc.writer.commit_ahead = stuck  # type: ignore[method-assign]
    assert svc.health().state == "running"
    assert svc.health().lag_s == 0.0
    ingest.publisher.publish_all([(f"{ingest.prefix}/d/{ingest.device('x')}/telemetry", b"{}")])
    wait_until(lambda: len(svc._in_flight) == 1, timeout_s=10, what="the batch taken")
    svc._clock.advance(timedelta(seconds=120))
    health = svc.health()
    assert health.lag_s is not None
    assert health.lag_s > 119  # received a moment after the clock was read
    assert not health.ready(max_lag_s=60)
    release.set()
    wait_until(lambda: svc.committed_batches == 1, timeout_s=10, what="the commit")
    assert svc.health().lag_s == 0.0


def test_the_api_role_runs_and_stops() -> None:
    role = ApiRole(FastAPI, host="127.0.0.1", port=_free_port())
    role.start()
    try:
        wait_until(lambda: role.health().state == "running", timeout_s=20, what="listening")
    finally:
        role.stop()
    assert role.health().state == "stopped"


def test_the_api_role_on_a_taken_port_is_failed() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        role = ApiRole(FastAPI, host="127.0.0.1", port=taken.getsockname()[1])
        role.start()
        try:
            wait_until(lambda: role.health().state == "failed", timeout_s=20, what="failed")
            assert "the port is taken" in role.health().detail
        finally:
            role.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Injected(BaseException):
    """A failure no ``except Exception`` catches: paho's own callback guard lets it through."""


def test_ingest_is_failed_when_taking_a_message_kills_the_network_thread(
    ingest: IngestHarness,
) -> None:
    svc = ingest.service

    def sink(_message: object) -> bool:
        raise _Injected("injected into the network thread")

    svc.subscriber._sink = sink
    assert svc.health().state == "running"
    ingest.publisher.publish_all([(f"{ingest.prefix}/d/{ingest.device('x')}/telemetry", b"{}")])
    wait_until(lambda: svc.health().state == "failed", timeout_s=10, what="failed")
    assert "_Injected: injected into the network thread" in svc.health().detail
    assert not svc.health().ready(max_lag_s=60)


def test_ingest_is_failed_when_pahos_loop_ends_on_its_own(ingest: IngestHarness) -> None:
    svc = ingest.service
    network = svc.subscriber._client._thread
    assert network is not None
    assert svc.health().state == "running"
    # What loop_stop asks of the thread, without anyone asking: the loop returns, the thread ends.
    svc.subscriber._client._thread_terminate = True
    network.join(10)
    assert not network.is_alive()
    health = svc.health()
    assert health.state == "failed"
    assert "network thread ended" in health.detail


def test_ingest_stopped_after_its_network_thread_ended_leaves_no_socket_open(
    ingest: IngestHarness,
) -> None:
    svc = ingest.service
    client = svc.subscriber._client
    svc.subscriber._client._thread_terminate = True  # the loop returns, the socket stays
    wait_until(lambda: svc.health().state == "failed", timeout_s=10, what="failed")
    assert client._sock is not None
    svc.stop()
    assert client._sock is None
    assert svc.health().state == "stopped"
