"""The event log on a real PostgreSQL: appends in the writer's transaction, consumers that never
skip an id committing out of order, are not stalled by unrelated or rolled-back transactions,
move their cursor only with their effects, one process at a time; lag and pruning.

Each test consumes its own event kind with a consumer starting at the log's head, so the events
of other tests in the session only pass under its cursor.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from firegrid import db as db_module
from firegrid.db import migrate
from firegrid.migrations import MIGRATIONS
from infra.eventlog import Consumer, append, lag, prune
from infra.listener import shared
from ingest.config import StorageSettings
from tests.fix_db import create_database, drop_database

Conn = psycopg.Connection[Any]


def _head(db_url: str) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT coalesce(max(id), 0) FROM event_log").fetchone()
        assert row is not None
        return int(row[0])


def _consumer(db_url: str) -> tuple[Consumer, str]:
    kind = f"test.{uuid.uuid4().hex[:8]}"
    return Consumer(f"c-{kind}", kinds={kind}, start=_head(db_url)), kind


def _claim(db_url: str, consumer: Consumer) -> tuple[list[str], bool]:
    """Claim and advance in one transaction; return the subjects handled and ``blocked``."""
    with psycopg.connect(db_url, autocommit=True) as conn, conn.transaction():
        claim = consumer.claim(conn)
        consumer.advance(conn, claim.upto)
        return [e.subject for e in claim.events], claim.blocked


@pytest.fixture
def writer(db_url: str) -> Iterator[Conn]:
    """A connection whose transaction the test ends (commit or rollback)."""
    with psycopg.connect(db_url) as conn:
        yield conn


def test_append_commits_with_the_writers_transaction(db_url: str, writer: Conn) -> None:
    consumer, kind = _consumer(db_url)
    append(writer, kind=kind, subject="gone", payload={"n": 1})
    writer.rollback()
    first = append(writer, kind=kind, subject="kept", payload={"n": 2})
    writer.commit()
    assert _claim(db_url, consumer) == (["kept"], False)
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT payload, txid IS NOT NULL FROM event_log WHERE id = %s", (first,)
        )
        assert row.fetchone() == ({"n": 2}, True)


def test_out_of_order_commits_are_delivered_in_id_order_never_skipped(
    db_url: str, writer: Conn
) -> None:
    """A takes the lower id and stays open; B takes the higher and commits first: the consumer
    holds B back until A commits, then delivers both, in id order."""
    consumer, kind = _consumer(db_url)
    low = append(writer, kind=kind, subject="A")
    with psycopg.connect(db_url) as b:
        high = append(b, kind=kind, subject="B")
        b.commit()
    assert low < high
    for _ in range(3):  # however often it looks, and however long A takes
        assert _claim(db_url, consumer) == ([], True)
        time.sleep(0.1)
    writer.commit()
    assert _claim(db_url, consumer) == (["A", "B"], False)
    assert _claim(db_url, consumer) == ([], False)


def test_a_rolled_back_append_does_not_stall_the_log(db_url: str, writer: Conn) -> None:
    consumer, kind = _consumer(db_url)
    append(writer, kind=kind, subject="A")
    with psycopg.connect(db_url) as b:
        append(b, kind=kind, subject="B")
        b.commit()
    writer.rollback()  # a permanent gap, settled at once
    assert _claim(db_url, consumer) == (["B"], False)


def test_an_unrelated_open_transaction_does_not_stall_the_log(db_url: str, writer: Conn) -> None:
    """A long transaction that appends nothing (an idle psql session holding an xid, a long
    import) is in every snapshot's in-progress list, but no gap can be its: it stalls nothing."""
    consumer, kind = _consumer(db_url)
    with psycopg.connect(db_url) as idle:
        idle.execute("CREATE TEMP TABLE scratch (n int)")
        idle.execute("INSERT INTO scratch VALUES (1)")  # holds an xid, stays open
        append(writer, kind=kind, subject="A")  # in flight while the next commits
        with psycopg.connect(db_url) as b:
            append(b, kind=kind, subject="B")
            b.commit()
        writer.rollback()
        started = time.monotonic()
        assert _claim(db_url, consumer) == (["B"], False)
        assert time.monotonic() - started < 1.0
        idle.rollback()


def _handle_then_crash(conn: Conn, consumer: Consumer, table: str) -> None:
    with conn.transaction():
        claim = consumer.claim(conn)
        for ev in claim.events:
            conn.execute(f"INSERT INTO {table} VALUES (%s)", (ev.subject,))
        consumer.advance(conn, claim.upto)
        raise RuntimeError("crash before the commit")


def test_the_cursor_moves_only_with_the_effects(db_url: str, writer: Conn) -> None:
    consumer, kind = _consumer(db_url)
    append(writer, kind=kind, subject="E")
    writer.commit()
    table = f"effects_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} (subject text PRIMARY KEY)")
        with pytest.raises(RuntimeError, match="crash"):
            _handle_then_crash(conn, consumer, table)
        assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,)
        assert consumer.position(conn) == consumer.start
        with conn.transaction():
            claim = consumer.claim(conn)
            assert [e.subject for e in claim.events] == ["E"]
            for ev in claim.events:
                conn.execute(f"INSERT INTO {table} VALUES (%s)", (ev.subject,))
            consumer.advance(conn, claim.upto)
        assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (1,)
        assert consumer.position(conn) == claim.upto
        conn.execute(f"DROP TABLE {table}")


def test_two_processes_of_one_consumer_never_take_the_same_event(db_url: str, writer: Conn) -> None:
    consumer, kind = _consumer(db_url)
    for n in range(3):
        append(writer, kind=kind, subject=str(n))
    writer.commit()
    got: list[str] = []
    with psycopg.connect(db_url, autocommit=True) as first, first.transaction():
        claim = consumer.claim(first, limit=2)
        got += [e.subject for e in claim.events]
        other: list[str] = []
        # The second process blocks on the cursor's row until the first commits its move.
        thread = threading.Thread(target=lambda: other.extend(_claim(db_url, consumer)[0]))
        thread.start()
        time.sleep(0.3)
        assert thread.is_alive()
        consumer.advance(first, claim.upto)
    thread.join(5)
    assert got == ["0", "1"]
    assert other == ["2"]


@pytest.fixture
def own_db(pg_admin_url: str) -> Iterator[str]:
    """A database of its own: pruning acts on every consumer of a database."""
    name = f"fg_evlog_{uuid.uuid4().hex[:8]}"
    url = create_database(pg_admin_url, name)
    migrate(url, storage=StorageSettings())
    yield url
    drop_database(pg_admin_url, name)


def test_lag_and_prune_follow_the_slowest_consumer(own_db: str) -> None:
    with psycopg.connect(own_db, autocommit=True) as conn:
        ids = [append(conn, kind="test.k", subject=str(n)) for n in range(5)]
        now = datetime.now(UTC)
        slow, fast = Consumer("slow", kinds={"test.k"}), Consumer("fast", kinds={"test.k"})
        for consumer, upto in ((slow, ids[1]), (fast, ids[4])):
            with conn.transaction():
                consumer.claim(conn, limit=1)
                consumer.advance(conn, upto)
        behind = lag(conn, consumer="slow", now=now + timedelta(seconds=10))
        assert behind.events == 3
        assert behind.oldest_age_s is not None
        assert behind.oldest_age_s >= 9.0
        assert lag(conn, consumer="fast", now=now).events == 0
        assert lag(conn, consumer="fast", now=now).oldest_age_s is None
        # The rules' and dispatch's cursors (made by the migrations) sit before everything:
        # pruning waits.
        assert prune(conn, keep_after=now + timedelta(hours=1)) == 0
        conn.execute("DELETE FROM event_cursors WHERE consumer IN ('rules', 'dispatch')")
        # Nothing newer than the floor goes, whatever the cursors say.
        assert prune(conn, keep_after=now - timedelta(hours=1)) == 0
        assert prune(conn, keep_after=now + timedelta(hours=1)) == 2  # up to the slow one
        left = conn.execute("SELECT array_agg(id ORDER BY id) FROM event_log").fetchone()
        assert left == (ids[2:],)


def test_upgrade_hands_pending_batches_to_the_log_above_old_event_ids(
    pg_admin_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database of schema 7: batches the rules had not processed become events the rules'
    cursor picks up, and log ids start above the hazard event ids consoles may hold."""
    name = f"fg_evup_{uuid.uuid4().hex[:8]}"
    url = create_database(pg_admin_url, name)
    try:
        monkeypatch.setattr(db_module, "MIGRATIONS", MIGRATIONS[:7])
        migrate(url, storage=StorageSettings())
        with psycopg.connect(url) as conn:
            conn.execute(
                "INSERT INTO ingest_batches (batch_id, messages, readings, events, rejected,"
                " rules_done) VALUES (1, 1, 1, 0, 0, true), (2, 1, 1, 0, 0, false),"
                " (3, 1, 1, 0, 0, false)"
            )
            conn.execute(
                "INSERT INTO hazards (id, rule_id, kind, severity, status, subject_type,"
                " subject_id, key, opened_at, episode)"
                " VALUES (1, 'r', 'threshold', 'info', 'open', 'device', 'd', 'd/m', now(), 1)"
            )
            conn.execute("SELECT setval('hazard_events_id_seq', 41)")
            conn.execute("INSERT INTO hazard_events (hazard_id, type) VALUES (1, 'hazard.opened')")
        monkeypatch.undo()
        migrate(url, storage=StorageSettings())
        with psycopg.connect(url) as conn:
            events = conn.execute("SELECT id, kind, subject FROM event_log ORDER BY id").fetchall()
            assert events == [(43, "batch.committed", "2"), (44, "batch.committed", "3")]
            rules = Consumer("rules", kinds={"batch.committed"})
            assert rules.position(conn) == 42
            assert append(conn, kind="test.k", subject="x") == 45
    finally:
        drop_database(pg_admin_url, name)


def test_the_process_listener_wakes_on_commit_and_after_losing_its_connection(
    db_url: str, writer: Conn
) -> None:
    listener = shared(db_url)
    assert shared(db_url) is listener  # one per process and database
    wake = listener.wakeup()
    try:
        assert listener.connected.wait(5)
        wake.wait(0.2)  # the wake-up every (re)connection gives
        append(writer, kind="test.wake", subject="uncommitted")
        assert not wake.wait(0.3)  # a NOTIFY is delivered at commit, not before
        writer.commit()
        assert wake.wait(5)
        with psycopg.connect(db_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = 'firegrid-listener' AND datname = current_database()"
            )
        # Whatever was notified while it was away is lost: it wakes everyone on reconnecting.
        assert wake.wait(10)
        deadline = time.monotonic() + 10
        while not listener.connected.is_set() and time.monotonic() < deadline:
            time.sleep(0.05)
        wake.wait(0.2)
        append(writer, kind="test.wake", subject="after")
        writer.commit()
        assert wake.wait(5)
    finally:
        wake.close()
