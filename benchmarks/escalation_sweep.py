"""Escalation sweep rate over open cases, against a naive per-case loop in the same run.

Creates a scratch database on ``--db`` (an admin URL) with a street of ``--grids`` grids (10
per community), a grid worker and grid head per grid, a handler per community, a street and a
county leader; inserts ``--cases`` open cases (``INSERT … SELECT``) dispatched to the grid
workers whose sign-for deadline has passed, then measures:

- sweep: ``dispatch.sweep.sweep`` at the deadline + 1 min: every case is supervised (督办) and
  escalated to its grid head — two history steps, two ``case.updated`` events and the case's
  new deadline and reminder each, batches of ``--batch`` cases a transaction, cases found by
  the ``next_due`` index, the ladder's staff read once a batch;
- naive: ``--naive`` more such cases, each found by a scan of open cases past their deadline,
  then re-read and locked in its own transaction, its staff looked up on its own, its steps
  written on their own (the same planning and statements, one case at a time).

Run: ``python -m benchmarks.escalation_sweep --db postgresql://postgres@127.0.0.1:5432/test``.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg

from dispatch import service
from dispatch.assign import staff_of_area
from dispatch.config import DispatchSettings
from dispatch.deadlines_file import load_deadlines
from dispatch.sweep import StaffIndex, SweepStats, plan_case, sweep, write
from firegrid.db import migrate
from ingest.config import StorageSettings
from tests.fix_db import create_database, drop_database

# Thursday 26 November 2026, 10:00 in China: the cases were dispatched an hour ago.
DEADLINE = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
STREET = "330100008"


def _place(conn: psycopg.Connection[object], grids: int) -> None:
    rows = [("CL", "county_leader", STREET[:6]), ("SL", "street_leader", STREET)]
    for g in range(grids):
        community = f"{STREET}{g // 10:03d}"
        grid = f"{community}{g % 10:02d}0"
        rows += [(f"W{g}", "grid_worker", grid), (f"GH{g}", "grid_head", grid)]
        if g % 10 == 0:
            rows.append((f"CH{g // 10}", "community_handler", community))
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO staff (staff_id, name, role, area, terminal_id)"
            " VALUES (%s, %s, %s, %s, %s)",
            [(s, s, role, area, f"T{s}") for s, role, area in rows],
        )


def _cases(conn: psycopg.Connection[object], *, first: int, count: int, grids: int) -> None:
    """Insert ``count`` dispatched cases, numbered from ``first``, overdue at DEADLINE."""
    conn.execute(
        "INSERT INTO cases (case_id, category, urgency, status, grid_code, community_code,"
        " street_code, lat, lon, area_type, assignee, assignee_reason, deadline, remind_at,"
        " stage, created_at, updated_at, open_key)"
        " SELECT format('C-20261126-%%s', lpad(i::text, 6, '0')), 'hydrant_problem', 'normal',"
        " 'dispatched', %(street)s || lpad(((i %% %(grids)s::int) / 10)::text, 3, '0')"
        "   || lpad(((i %% %(grids)s::int) %% 10)::text, 2, '0') || '0',"
        " %(street)s || lpad(((i %% %(grids)s::int) / 10)::text, 3, '0'), %(street)s,"
        " 31.2, 121.5, 'urban', 'W' || (i %% %(grids)s::int), 'unit''s grid worker',"
        " %(deadline)s, %(remind)s, 'sign', %(created)s, %(created)s, 'unit:U' || i"
        " FROM generate_series(%(first)s::int, %(last)s::int) i",
        {
            "street": STREET,
            "grids": grids,
            "deadline": DEADLINE,
            "remind": DEADLINE - timedelta(minutes=15),
            "created": DEADLINE - timedelta(hours=1),
            "first": first,
            "last": first + count - 1,
        },
    )
    # Both reminders were sent: the sweep has the escalation left to do.
    conn.execute(
        "UPDATE cases SET reminded_for = deadline WHERE case_id >= %s",
        (f"C-20261126-{first:06d}",),
    )
    conn.execute("ANALYZE cases")


def _naive(url: str, now: datetime, settings: DispatchSettings) -> SweepStats:
    """The baseline: scan open cases past their deadline, then one transaction per case."""
    table = load_deadlines()
    stats = SweepStats()
    with psycopg.connect(url, autocommit=True) as conn:
        ids = [
            str(r[0])
            for r in conn.execute(
                "SELECT case_id FROM cases WHERE status <> 'closed' AND deadline <= %s"
                " ORDER BY case_id",
                (now,),
            ).fetchall()
        ]
        for case_id in ids:
            with conn.transaction():
                case = service.get_case(conn, case_id=case_id, lock=True)
                if case is None or case.escalated_for == case.deadline:
                    continue
                found = staff_of_area(
                    conn, codes=[case.grid_code, case.community_code, case.street_code, STREET[:6]]
                )
                staff = StaffIndex({s.staff_id: s for s in found})
                plan = plan_case(case, now=now, deadlines=table, settings=settings, staff=staff)
                write(conn, [plan], staff=staff, now=now)
                stats.escalations += sum(1 for s, _, _ in plan.steps if s.action == "escalate")
                stats.cases += 1
    return stats


def main() -> None:
    """Run the benchmark and print its figures as JSON."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--db", default="postgresql://postgres@127.0.0.1:5432/test")
    ap.add_argument("--cases", type=int, default=100_000)
    ap.add_argument("--naive", type=int, default=5_000, help="cases for the naive baseline")
    ap.add_argument("--grids", type=int, default=1_000)
    ap.add_argument("--batch", type=int, default=500)
    args = ap.parse_args()
    name = f"fg_bench_sweep_{uuid.uuid4().hex[:8]}"
    url = create_database(args.db, name)
    try:
        migrate(url, storage=StorageSettings())
        with psycopg.connect(url) as conn:
            _place(conn, args.grids)
            _cases(conn, first=1, count=args.cases, grids=args.grids)
        settings = DispatchSettings(sweep_batch=args.batch)
        now = DEADLINE + timedelta(minutes=1)
        with psycopg.connect(url, autocommit=True) as conn:
            t = time.perf_counter()
            swept = sweep(conn, now=now, deadlines=load_deadlines(), settings=settings)
            sweep_s = time.perf_counter() - t
            t = time.perf_counter()
            again = sweep(conn, now=now, deadlines=load_deadlines(), settings=settings)
            idle_s = time.perf_counter() - t
        with psycopg.connect(url) as conn:
            _cases(conn, first=args.cases + 1, count=args.naive, grids=args.grids)
        t = time.perf_counter()
        naive = _naive(url, now, settings)
        naive_s = time.perf_counter() - t
        out = {
            "cases": args.cases,
            "sweep": {
                "escalated": swept.escalations,
                "seconds": round(sweep_s, 2),
                "cases_per_s": round(swept.escalations / sweep_s),
                "errors": len(swept.errors),
            },
            "sweep_again": {"escalated": again.escalations, "seconds": round(idle_s, 4)},
            "naive": {
                "escalated": naive.escalations,
                "seconds": round(naive_s, 2),
                "cases_per_s": round(naive.escalations / naive_s),
            },
        }
        out["speedup"] = round(out["sweep"]["cases_per_s"] / out["naive"]["cases_per_s"], 2)
        print(json.dumps(out, indent=2))
    finally:
        drop_database(args.db, name)


if __name__ == "__main__":
    main()
