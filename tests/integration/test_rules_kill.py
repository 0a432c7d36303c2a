"""The rules role SIGKILLed between its effects and its cursor's commit: nothing lost or doubled.

The role runs in a process of its own (``rules_kill_worker``) and stops inside the transaction of
the batch that raised the device's hazards, after writing them and before the cursor moves. It
is killed there; a restarted role must raise exactly the episodes the series holds, each once,
with each hazard event once on the log.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from simulators.sensors import sample
from tests.fix_ingest import IngestHarness, wait_until

pytestmark = pytest.mark.slow
T0 = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


def _worker(db_url: str, device: str, marker: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.rules_kill_worker", db_url, device, marker],
        cwd=ROOT,
    )


def test_rules_killed_between_effects_and_cursor_resume_exactly_once(
    ingest: IngestHarness, db_url: str, tmp_path: Path
) -> None:
    dev = ingest.device("RKILL")
    ingest.register(dev, hydrant_class="municipal", lat=31.2, lon=121.5)
    values = [0.30, 0.12, 0.12, 0.12, 0.15, 0.13, 0.15, 0.17, 0.12, 0.18, 0.12, 0.13, 0.12, 0.2]
    ingest.publisher.publish_all(
        [
            sample(dev, T0 + timedelta(minutes=i), i + 1, {"pressure_mpa": v}, prefix=ingest.prefix)
            for i, v in enumerate(values)
        ]
    )
    stored = "SELECT count(*) FROM readings WHERE device_id = %s"
    wait_until(lambda: ingest.scalar(stored, dev) == len(values), what="the series committed")
    cursor = "SELECT position FROM event_cursors WHERE consumer = 'rules'"
    before = ingest.scalar(cursor)

    marker = tmp_path / "held"
    proc = _worker(db_url, dev, str(marker))
    try:
        wait_until(marker.exists, timeout_s=60, what="the worker holding after its effects")
        held_batch, written = map(int, marker.read_text().split())
        assert written > 0  # the effects are there, in the worker's open transaction
        # ... and invisible outside it: neither the hazards nor the cursor's move committed.
        assert ingest.scalar("SELECT count(*) FROM hazards WHERE device_id = %s", dev) == 0
        held_event = ingest.scalar(
            "SELECT id FROM event_log WHERE kind = 'batch.committed' AND subject = %s",
            str(held_batch),
        )
        assert ingest.scalar(cursor) < held_event
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert ingest.scalar(cursor) < held_event  # died with its transaction

    again = _worker(db_url, dev, "-")
    assert again.wait(120) == 0
    assert ingest.scalar(cursor) >= held_event > before

    def at(minutes: int) -> datetime:
        return T0 + timedelta(minutes=minutes)

    episodes = ingest.rows(
        "SELECT episode, status, opened_at, cleared_at, occurrences FROM hazards "
        "WHERE device_id = %s AND rule_id = 'hydrant_municipal_low' ORDER BY episode",
        dev,
    )
    assert episodes == [(1, "cleared", at(3), at(7), 1), (2, "cleared", at(12), at(13), 1)]
    history = ingest.rows(
        "SELECT e.type, count(*) FROM hazard_events e JOIN hazards h ON h.id = e.hazard_id "
        "WHERE h.device_id = %s AND h.rule_id = 'hydrant_municipal_low' GROUP BY 1 ORDER BY 1",
        dev,
    )
    assert history == [("hazard.cleared", 2), ("hazard.opened", 2)]
    logged = ingest.rows(
        "SELECT l.kind, count(*) FROM event_log l JOIN hazards h ON l.subject = h.id::text "
        "WHERE l.kind LIKE 'hazard.%%' AND h.device_id = %s AND h.rule_id = 'hydrant_municipal_low'"
        " GROUP BY 1 ORDER BY 1",
        dev,
    )
    assert logged == [("hazard.cleared", 2), ("hazard.opened", 2)]
