"""Rules engine rate: stored batches to committed hazards and state, against a naive baseline.

Creates a scratch database on ``--db`` (an admin URL), registers ``--devices`` municipal
hydrants, stores ``--rounds`` ingest batches each holding one pressure sample of every hydrant
(the shape of a fleet reporting every few minutes; values wander around the 0.14 MPa limit so
hazards open and clear), then measures:

- engine: ``RulesService.process_pending`` (load batch, resolve, evaluate every rule of every
  key columnar, reconcile hazards, write state, mark the batch) — readings/s end to end;
- naive: per reading, read its state row, run the threshold rule on that one sample, write the
  state back and insert/clear hazards — readings/s on the same data (a subset, it is slow).

Run: ``python -m benchmarks.rules_engine --db postgresql://postgres@127.0.0.1:5432/test``.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import psycopg

from firegrid.db import migrate, storage_is_timescale
from infra.eventlog import append
from ingest.config import StorageSettings
from ingest.partitions import chunk_starts, ensure_partitions
from rules.engine.keystate import decode_state, encode_state
from rules.flows import RulesService
from rules.kinds.threshold import ThresholdState, evaluate
from rules.models import Resolved, SeriesArrays
from rules.rules_file import load_rules
from tests.fix_db import create_database, drop_database

T0 = datetime(2026, 11, 20, tzinfo=UTC)


def _store(url: str, devices: int, rounds: int, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    ids = [f"BH{i:06d}" for i in range(devices)]
    times = [T0 + timedelta(minutes=5 * r) for r in range(rounds)]
    with psycopg.connect(url, autocommit=True) as conn:
        if not storage_is_timescale(conn):
            chunk = StorageSettings().chunk_interval
            ensure_partitions(
                conn, table="readings", starts=chunk_starts(times, chunk), chunk=chunk
            )
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO devices (device_id, kind, hydrant_class) "
            "SELECT unnest(%s::text[]), 'hydrant', 'municipal'",
            (ids,),
        )
        level = 0.2 + rng.normal(0, 0.03, devices)
        for r in range(rounds):
            level = np.clip(level + rng.normal(0, 0.02, devices), 0.0, 1.2)
            ts = T0 + timedelta(minutes=5 * r)
            (batch_id,) = conn.execute(  # type: ignore[misc]
                "SELECT nextval('ingest_batches_batch_id_seq')"
            ).fetchone()
            with conn.cursor().copy(
                "COPY readings (ts, device_id, metric, value, seq, received_at, batch_id) "
                "FROM STDIN"
            ) as copy:
                for d, v in zip(ids, level.tolist(), strict=True):
                    copy.write_row((ts, d, "pressure_mpa", round(v, 3), r, ts, batch_id))
            conn.execute(
                "INSERT INTO ingest_batches (batch_id, messages, readings, events, rejected)"
                " VALUES (%s, %s, %s, 0, 0)",
                (batch_id, devices, devices),
            )
            # As ingest does: the rules consume the batch through the event log.
            append(
                conn, kind="batch.committed", subject=str(batch_id), payload={"batch_id": batch_id}
            )
        conn.commit()


def _naive(url: str, limit: int) -> tuple[int, float]:
    """Per reading: state row in, one-sample evaluate, state row out, hazard rows."""
    rule_def = load_rules().get("hydrant_municipal_low")
    resolved: Any = Resolved(rule_def.id, rule_def.kind, rule_def.severity, rule_def.params)
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT device_id, floor(extract(epoch FROM ts) * 1000)::bigint, value, seq "
            "FROM readings ORDER BY batch_id, device_id LIMIT %s",
            (limit,),
        ).fetchall()
        started = time.perf_counter()
        for device, ts, value, seq in rows:
            got = conn.execute(
                "SELECT state FROM rule_state WHERE rule_id = 'naive' AND key = %s", (device,)
            ).fetchone()
            state = decode_state(ThresholdState, got[0]) if got else ThresholdState()
            series = SeriesArrays.build(device, [ts], [value], [seq])
            state, trs = evaluate(series, state, resolved)
            conn.execute(
                "INSERT INTO rule_state (rule_id, key, last_ts, state) VALUES ('naive', %s, %s, %s)"
                " ON CONFLICT (rule_id, key) DO UPDATE SET state = excluded.state",
                (device, ts, json.dumps(encode_state(state))),
            )
            for t in trs:
                conn.execute(
                    "INSERT INTO rule_too_late (rule_id, key, device_id, ts, seq, batch_id) "
                    "VALUES ('naive', %s, %s, to_timestamp(%s / 1000.0), %s, 0) "
                    "ON CONFLICT DO NOTHING",
                    (t.kind, device, t.ts, seq),
                )
            conn.commit()
        return len(rows), time.perf_counter() - started


def main() -> None:
    """Run the benchmark and print readings/s of both paths."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--db", default="postgresql://postgres@127.0.0.1:5432/test")
    ap.add_argument("--devices", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--naive", type=int, default=5000, help="readings for the naive baseline")
    args = ap.parse_args()
    name = f"fg_bench_{uuid.uuid4().hex[:8]}"
    url = create_database(args.db, name)
    try:
        migrate(url, storage=StorageSettings())
        _store(url, args.devices, args.rounds)
        svc = RulesService(db_url=url)
        started = time.perf_counter()
        batches = svc.process_pending()
        took = time.perf_counter() - started
        with psycopg.connect(url) as conn:
            hazards = conn.execute("SELECT count(*) FROM hazards").fetchone()
        svc.close()
        n = args.devices * args.rounds
        print(
            f"engine: {batches} batches, {n} readings, {hazards[0] if hazards else 0} hazards "
            f"in {took:.2f} s = {n / took:,.0f} readings/s"
        )
        count, naive_took = _naive(url, args.naive)
        print(
            f"naive : {count} readings in {naive_took:.2f} s = {count / naive_took:,.0f} readings/s"
        )
        print(f"speed-up: {(n / took) / (count / naive_took):.1f}x")
    finally:
        drop_database(args.db, name)


if __name__ == "__main__":
    main()
