"""Plain-path retention: whole partitions past retention are dropped, newer ones kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from firegrid.maintenance import run_retention
from ingest.partitions import ensure_partitions, existing_partitions, partition_name


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
