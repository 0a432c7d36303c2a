"""Retention: plain-path partitions past retention are dropped, newer ones kept; rejected
messages, conflicts, processed batch records and cleared hazards' history are deleted past
theirs, in bounded chunks."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from firegrid.maintenance import StorageMaintenance, prune_records, run_retention
from infra.clock import FixedClock
from infra.eventlog import append
from ingest.config import RetentionSettings
from ingest.partitions import ensure_partitions, existing_partitions, partition_name
from rules.engine.service import BATCH_COMMITTED


def test_partitions_past_retention_are_dropped(db_url: str) -> None:
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    day = timedelta(days=1)
    old = datetime(2024, 1, 3, tzinfo=UTC)  # far past the default 365-day retention
    edge = datetime(2025, 11, 25, tzinfo=UTC)  # ends 2025-11-26 00:00, 365 days + 12 h ago
    recent = datetime(2026, 11, 20, tzinfo=UTC)
    with psycopg.connect(db_url, autocommit=True) as conn:
        if conn.execute("SELECT count(*) FROM fg_partitioned_tables").fetchone() == (0,):
            pytest.skip("TimescaleDB path: its own retention policy drops chunks")
        ensure_partitions(conn, table="readings", starts=[old, edge, recent], chunk=day)
    dropped = run_retention(db_url, now=now)
    assert partition_name("readings", old) in dropped
    assert partition_name("readings", edge) in dropped
    with psycopg.connect(db_url) as conn:
        left = existing_partitions(conn, table="readings")
    assert partition_name("readings", recent) in left
    assert partition_name("readings", old) not in left


def _insert_records(conn: psycopg.Connection[Any], tag: str, at: datetime) -> None:
    """One of each record, stamped ``at``: a rejection, a conflict and a hazard cleared then."""
    conn.execute(
        "INSERT INTO rejected_messages (received_at, topic, reason, payload) "
        "SELECT %s, %s, 'invalid_json', '\\x00'::bytea FROM generate_series(1, 3)",
        (at, f"{tag}/d/X/telemetry"),
    )
    conn.execute(
        "INSERT INTO ingest_conflicts (received_at, kind, device_id, ts, seq, key, stored, "
        "incoming) VALUES (%s, 'reading', %s, %s, 1, 'pressure_mpa', '{}', '{}')",
        (at, tag, at),
    )
    row = conn.execute(
        "INSERT INTO hazards (rule_id, kind, severity, status, subject_type, subject_id, key, "
        "opened_at, cleared_at, episode, updated_at) VALUES ('smoke_alarm', 'device_event', "
        "'major', 'cleared', 'device', %s, %s, %s, %s, 1, %s) RETURNING id",
        (tag, tag, at, at, at),
    ).fetchone()
    assert row is not None
    conn.execute(
        "INSERT INTO hazard_events (hazard_id, type, at) "
        "VALUES (%s, 'hazard.opened', %s), (%s, 'hazard.cleared', %s)",
        (row[0], at, row[0], at),
    )


def _counts(conn: psycopg.Connection[Any], tag: str) -> tuple[int, int, int]:
    row = conn.execute(
        "SELECT (SELECT count(*) FROM rejected_messages WHERE topic LIKE %s), "
        "(SELECT count(*) FROM ingest_conflicts WHERE device_id = %s), "
        "(SELECT count(*) FROM hazard_events e JOIN hazards h ON h.id = e.hazard_id "
        " WHERE h.subject_id = %s)",
        (f"{tag}/%", tag, tag),
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


def _batch(conn: psycopg.Connection[Any], at: datetime, *, processed: bool) -> int:
    row = conn.execute(
        "INSERT INTO ingest_batches (committed_at, messages, readings, events, rejected)"
        " VALUES (%s, 0, 0, 0, 0) RETURNING batch_id",
        (at,),
    ).fetchone()
    assert row is not None
    batch_id = int(row[0])
    if not processed:  # its batch.committed event lies past the rules' cursor
        append(conn, kind=BATCH_COMMITTED, subject=str(batch_id), payload={"batch_id": batch_id})
    return batch_id


def test_records_past_their_retention_are_deleted_in_chunks(db_url: str) -> None:
    now = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    settings = RetentionSettings(
        rejected=timedelta(days=30),
        conflicts=timedelta(days=30),
        batches=timedelta(days=30),
        hazard_history=timedelta(days=90),
        chunk_rows=2,
    )
    old, recent, young_old = uuid.uuid4().hex[:8], uuid.uuid4().hex[:8], uuid.uuid4().hex[:8]
    with psycopg.connect(db_url, autocommit=True) as conn:
        _insert_records(conn, old, now - timedelta(days=100))
        _insert_records(conn, recent, now - timedelta(days=1))
        # Past the 30 days of rejections and conflicts, not the 90 of hazard history.
        _insert_records(conn, young_old, now - timedelta(days=40))
        done_old = _batch(conn, now - timedelta(days=40), processed=True)
        pending_old = _batch(conn, now - timedelta(days=40), processed=False)
        done_recent = _batch(conn, now - timedelta(days=1), processed=True)

        deleted = prune_records(conn, now=now, settings=settings)

        assert _counts(conn, old) == (0, 0, 0)
        assert _counts(conn, recent) == (3, 1, 2)
        assert _counts(conn, young_old) == (0, 0, 2)
        batches = conn.execute(
            "SELECT batch_id FROM ingest_batches WHERE batch_id = ANY(%s) ORDER BY 1",
            ([done_old, pending_old, done_recent],),
        ).fetchall()
        assert [b[0] for b in batches] == [pending_old, done_recent]
        assert deleted["ingest_batches"] >= 1
        assert deleted["rejected_messages"] >= 6
        # The hazards themselves stay, with their final state.
        assert conn.execute(
            "SELECT count(*) FROM hazards WHERE subject_id = %s", (old,)
        ).fetchone() == (1,)


def test_pruning_stops_between_chunks_when_asked(db_url: str) -> None:
    now = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    tag = uuid.uuid4().hex[:8]
    asked: list[int] = []

    def stop() -> bool:  # let exactly one chunk run
        asked.append(1)
        return len(asked) > 1

    with psycopg.connect(db_url, autocommit=True) as conn:
        _insert_records(conn, tag, now - timedelta(days=400))
        deleted = prune_records(conn, now=now, settings=RetentionSettings(chunk_rows=2), stop=stop)
        assert deleted["rejected_messages"] == 2  # one chunk of two, not all three
        assert _counts(conn, tag)[0] == 1


def test_maintenance_runs_partitions_and_records_on_its_clock(db_url: str) -> None:
    tag = uuid.uuid4().hex[:8]
    clock = FixedClock(datetime(2026, 12, 7, 9, 0, tzinfo=UTC))
    with psycopg.connect(db_url, autocommit=True) as conn:
        _insert_records(conn, tag, clock.now() - timedelta(days=500))
    maintenance = StorageMaintenance(db_url=db_url, clock=clock)
    deleted = maintenance.run_once()
    assert deleted["rejected_messages"] >= 3
    with psycopg.connect(db_url) as conn:
        assert _counts(conn, tag) == (0, 0, 0)
