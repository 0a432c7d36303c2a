"""Reading queries the API runs; the same SQL on TimescaleDB and plain PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from infra.database import Conn, class_row
from ingest.series_store import NO_SEQ
from ingest.views import Bucket, Reading

FIVE_MINUTES = timedelta(minutes=5)
_ORIGIN = "TIMESTAMPTZ '2000-01-01 00:00:00+00'"


def list_readings(
    conn: Conn,
    *,
    device_id: str,
    metric: str,
    start: datetime | None,
    end: datetime | None,
    after: tuple[datetime, int] | None,
    limit: int,
) -> list[Reading]:
    """Return raw readings in device-time order, after the keyset ``after`` (``reading_key``)."""
    clauses = ["device_id = %s", "metric = %s"]
    params: list[Any] = [device_id, metric]
    if start is not None:
        clauses.append("ts >= %s")
        params.append(start)
    if end is not None:
        clauses.append("ts < %s")
        params.append(end)
    if after is not None:
        clauses.append("(ts, seq) > (%s, %s)")
        params.extend(after)
    params.append(limit)
    with conn.cursor(row_factory=class_row(Reading)) as cur:
        return cur.execute(
            f"SELECT ts, value, nullif(seq, {NO_SEQ}) AS seq FROM readings"
            f" WHERE {' AND '.join(clauses)} "
            "ORDER BY ts, seq LIMIT %s",
            params,
        ).fetchall()


def reading_key(reading: Reading) -> tuple[datetime, int]:
    """Return a reading's keyset position (ts, stored seq), for ``list_readings(after=)``."""
    return reading.ts, NO_SEQ if reading.seq is None else reading.seq


def list_buckets(
    conn: Conn,
    *,
    device_id: str,
    metric: str,
    bucket: timedelta,
    start: datetime | None,
    end: datetime | None,
    after: datetime | None,
    limit: int,
) -> list[Bucket]:
    """Return per-bucket avg/min/max/count in time order.

    Buckets that are whole multiples of five minutes re-aggregate ``readings_5m`` (a continuous
    aggregate on TimescaleDB, a view on plain PostgreSQL); others aggregate raw readings.
    Buckets align to the Unix epoch on both paths.
    """
    use_5m = bucket >= FIVE_MINUTES and bucket % FIVE_MINUTES == timedelta(0)
    if use_5m:
        source, time_col = "readings_5m", "bucket"
        # sum() of the counts is numeric: cast back to the types the row declares.
        aggregates = (
            "(sum(total) / sum(n))::float8 AS avg, min(low) AS min, max(high) AS max,"
            " sum(n)::int8 AS count"
        )
    else:
        source, time_col = "readings", "ts"
        aggregates = "avg(value) AS avg, min(value) AS min, max(value) AS max, count(*) AS count"
    clauses = ["device_id = %s", "metric = %s"]
    params: list[Any] = [bucket, device_id, metric]
    if start is not None:
        clauses.append(f"{time_col} >= date_bin(%s, %s::timestamptz, {_ORIGIN})")
        params.extend([bucket, start])
    if end is not None:
        clauses.append(f"{time_col} < %s")
        params.append(end)
    outer = ""
    if after is not None:
        outer = "WHERE q.ts > %s"
        params.append(after)
    params.append(limit)
    with conn.cursor(row_factory=class_row(Bucket)) as cur:
        return cur.execute(
            f"SELECT * FROM (SELECT date_bin(%s, {time_col}, {_ORIGIN}) AS ts, {aggregates} "
            f"FROM {source} WHERE {' AND '.join(clauses)} GROUP BY 1) AS q {outer} "
            "ORDER BY q.ts LIMIT %s",
            params,
        ).fetchall()
