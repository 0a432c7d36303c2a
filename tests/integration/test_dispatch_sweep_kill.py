"""The dispatch role SIGKILLed mid-sweep, after a batch's effects and before its commit, then
restarted: every reminder, supervision and escalation happens exactly once. The role sweeps in
its own thread on its clock."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections import Counter
from datetime import datetime
from pathlib import Path

import psycopg
import pytest

from dispatch.config import DispatchSettings
from dispatch.deadlines_file import load_deadlines
from dispatch.flows import DispatchService
from infra.clock import FixedClock
from tests.fix_ingest import wait_until
from tests.integration.sweep_support import Place, cst

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def _sweep(db_url: str, now: datetime, *, batch: int, kill_at: int) -> int:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.integration.sweep_kill_worker",
            db_url,
            now.isoformat(),
            str(batch),
            str(kill_at),
        ],
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    return done.returncode


def _counts(db_url: str, case_ids: list[str]) -> tuple[Counter[str], Counter[str]]:
    """Return the steps and the notify kinds of these cases, counted."""
    with psycopg.connect(db_url) as conn:
        steps = Counter(
            f"{r[0]}:{r[1]}"
            for r in conn.execute(
                "SELECT case_id, action FROM case_history WHERE case_id = ANY(%s)", (case_ids,)
            ).fetchall()
        )
        kinds = Counter(
            f"{r[0]}:{r[1]}"
            for r in conn.execute(
                "SELECT subject, n->>'kind' FROM event_log,"
                " jsonb_array_elements(payload->'notify') n"
                " WHERE kind = 'case.updated' AND subject = ANY(%s)",
                (case_ids,),
            ).fetchall()
        )
    return steps, kinds


def test_killed_mid_sweep_then_restarted_does_each_step_once(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        place = Place(conn)
        # Tuesday 10 March 2026, before any other test's cases: the sweeps see only these.
        ids = [place.open(conn, cst(3, 10, 10)).case_id for _ in range(3)]
        conn.commit()
    # Reminders (10:45), one case a batch: the first batch commits, the role dies in the second.
    assert _sweep(db_url, cst(3, 10, 10, 50), batch=1, kill_at=2) == -signal.SIGKILL
    steps, _ = _counts(db_url, ids)
    assert sum(steps[f"{c}:remind"] for c in ids) == 1
    assert _sweep(db_url, cst(3, 10, 10, 50), batch=1, kill_at=0) == 0
    # Escalations (11:00): killed in the first batch, then restarted, then run again.
    assert _sweep(db_url, cst(3, 10, 11), batch=2, kill_at=1) == -signal.SIGKILL
    assert all(_counts(db_url, ids)[0][f"{c}:escalate"] == 0 for c in ids)
    assert _sweep(db_url, cst(3, 10, 11), batch=2, kill_at=0) == 0
    assert _sweep(db_url, cst(3, 10, 11, 1), batch=2, kill_at=0) == 0
    steps, kinds = _counts(db_url, ids)
    for c in ids:
        assert (steps[f"{c}:remind"], steps[f"{c}:supervise"], steps[f"{c}:escalate"]) == (1, 1, 1)
        assert (kinds[f"{c}:reminder"], kinds[f"{c}:supervision"], kinds[f"{c}:escalation"]) == (
            1,
            1,
            1,
        )


def test_the_role_sweeps_in_its_thread_on_its_clock(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        place = Place(conn)
        # Monday 9 March 2026, before any other test's cases.
        case_id = place.open(conn, cst(3, 9, 10)).case_id
        conn.commit()
    role = DispatchService(
        db_url=db_url,
        settings=DispatchSettings(sweep_s=0.05, poll_s=0.05),
        clock=FixedClock(cst(3, 9, 11)),
        deadlines=load_deadlines(),
    )
    role.start()
    try:
        wait_until(
            lambda: _counts(db_url, [case_id])[0][f"{case_id}:escalate"] == 1,
            what="the role escalated the overdue case",
        )
    finally:
        role.stop()
    steps, kinds = _counts(db_url, [case_id])
    assert (steps[f"{case_id}:supervise"], kinds[f"{case_id}:escalation"]) == (1, 1)
