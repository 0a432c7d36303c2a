"""``rules replay`` streams its range: memory stays flat however long the range is.

Readings of a few hydrants are written straight into a database of this test's own (so the
registry the ticks read holds nothing else); the same replay over a range ten times longer
must not need more memory (tracemalloc peak).
"""

from __future__ import annotations

import tracemalloc
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from firegrid.db import migrate
from ingest.config import StorageSettings
from ingest.partitions import chunk_starts, ensure_partitions
from rules.config import RulesSettings
from rules.definitions import RuleSet
from rules.flows import engine_config, replay
from rules.rules_file import load_rules
from tests.fix_db import create_database, drop_database

START = datetime(2026, 6, 1, tzinfo=UTC)
DEVICES = 10
BATCH = timedelta(minutes=10)  # one stored batch per 10 minutes of samples

# One sample per device and minute, one batch ID per 10-minute window, normal pressure.
_FILL = """
WITH w AS (
    SELECT g AS window_start,
           nextval(pg_get_serial_sequence('ingest_batches', 'batch_id')) AS batch_id
    FROM generate_series(%(start)s::timestamptz, %(end)s::timestamptz - %(batch)s::interval,
                         %(batch)s::interval) AS g
)
INSERT INTO readings (ts, device_id, metric, value, seq, received_at, batch_id)
SELECT w.window_start + m * interval '1 minute', %(tag)s || '-' || d, 'pressure_mpa',
       0.32 + (m %% 3) * 0.01, -1, w.window_start + m * interval '1 minute', w.batch_id
FROM w, generate_series(0, 9) AS m, generate_series(1, %(devices)s) AS d
"""


@pytest.fixture
def own_db(pg_admin_url: str) -> Iterator[str]:
    """A migrated database for this test alone."""
    name = f"fg_test_replay_{uuid.uuid4().hex[:8]}"
    url = create_database(pg_admin_url, name)
    migrate(url, storage=StorageSettings())
    try:
        yield url
    finally:
        drop_database(pg_admin_url, name)


def _fill(db_url: str, hours: int) -> str:
    tag = f"RM{uuid.uuid4().hex[:6]}"
    with psycopg.connect(db_url) as conn:
        if conn.execute("SELECT count(*) FROM fg_partitioned_tables").fetchone() != (0,):
            chunk = StorageSettings().chunk_interval  # the plain path needs its partitions
            days = [START + timedelta(hours=h) for h in range(hours + 1)]
            ensure_partitions(conn, table="readings", starts=chunk_starts(days, chunk), chunk=chunk)
        conn.execute(
            "INSERT INTO devices (device_id, kind, hydrant_class, lat, lon) "
            "SELECT %s || '-' || d, 'hydrant', 'municipal', 31.2, 121.5 "
            "FROM generate_series(1, %s) AS d",
            (tag, DEVICES),
        )
        conn.execute(
            _FILL,
            {
                "start": START,
                "end": START + timedelta(hours=hours),
                "batch": BATCH,
                "tag": tag,
                "devices": DEVICES,
            },
        )
    return tag


def _peak(db_url: str, hours: int, rules: RuleSet) -> tuple[int, int]:
    """Replay ``hours`` from START with ticks; return (tracemalloc peak, hazards raised)."""
    tracemalloc.start()
    try:
        got = replay(
            db_url=db_url,
            start=START,
            end=START + timedelta(hours=hours),
            rules=rules,
            config=engine_config(RulesSettings()),
            silence_every_s=3600.0,
            daily_every_s=86_400.0,
        )
        return tracemalloc.get_traced_memory()[1], len(got)
    finally:
        tracemalloc.stop()


def test_replay_memory_does_not_grow_with_the_range(own_db: str) -> None:
    _fill(own_db, hours=240)
    rules = load_rules()
    _peak(own_db, 2, rules)  # warm: imports, type adapters, rule compilation
    # Both ranges span several fetches of the server-side cursors, so each holds full ones.
    short, short_hazards = _peak(own_db, 24, rules)
    long, long_hazards = _peak(own_db, 240, rules)
    assert short_hazards == long_hazards == 0  # normal pressure: the comparison is like for like
    # 144,000 readings against 14,400: holding the range would need some 30 MB more.
    assert long < short * 1.5 + 512 * 1024, (short, long)
