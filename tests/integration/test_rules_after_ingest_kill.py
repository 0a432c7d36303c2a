"""The ingest process killed between commit and rule evaluation: hazards neither lost nor doubled.

The ingest process is SIGKILLed as soon as its batch is committed, so the broker may not have its
acknowledgements and redelivers to the restarted process; the rules role, started only after,
must raise exactly the episodes the series holds.
"""

from __future__ import annotations

import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rules.config import RulesSettings
from rules.flows import RulesService
from simulators.sensors import sample
from tests.fix_ingest import IngestHarness, wait_until
from tests.integration.test_ingest_durability import _ingest_process, wait_subscribed

pytestmark = pytest.mark.slow
T0 = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


def test_ingest_killed_after_commit_then_rules_raise_exactly_the_episodes(
    ingest: IngestHarness, db_url: str, tmp_path: Path
) -> None:
    ingest.service.stop()  # the harness registers and publishes; a real process ingests
    dev = ingest.device("KILL")
    ingest.register(dev, hydrant_class="municipal", lat=31.2, lon=121.5)
    prefix, client_id = f"fgrk{ingest.tag}/v1", f"fg-rk-{ingest.tag}"
    log = tmp_path / "ingest.log"
    proc = _ingest_process(db_url, ingest.broker_url, prefix, client_id, log)
    values = [0.30, 0.12, 0.12, 0.12, 0.15, 0.13, 0.15, 0.17, 0.12, 0.18, 0.12, 0.13, 0.12, 0.2]
    messages = [
        sample(dev, T0 + timedelta(minutes=i), i + 1, {"pressure_mpa": v}, prefix=prefix)
        for i, v in enumerate(values)
    ]

    def stored() -> int:
        return int(ingest.scalar("SELECT count(*) FROM readings WHERE device_id = %s", dev))

    try:
        wait_subscribed(log)  # the persistent session exists from here on
        ingest.publisher.publish_all(messages)
        wait_until(lambda: stored() == len(values), what="the series committed")
        proc.send_signal(signal.SIGKILL)  # right after the commit: acks may be lost with it
        proc.wait(10)
        proc = _ingest_process(db_url, ingest.broker_url, prefix, client_id, log)
        time.sleep(3)  # redelivered messages, if any, are taken and found already stored
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
    assert stored() == len(values)

    rules = RulesService(db_url=db_url, settings=RulesSettings())
    try:
        rules.process_pending()
        rules.process_pending()  # a second pass finds nothing left to do
    finally:
        rules.close()

    def at(minutes: int) -> datetime:
        return T0 + timedelta(minutes=minutes)

    episodes = ingest.rows(
        "SELECT episode, status, opened_at, cleared_at, occurrences FROM hazards "
        "WHERE device_id = %s AND rule_id = 'hydrant_municipal_low' ORDER BY episode",
        dev,
    )
    assert episodes == [(1, "cleared", at(3), at(7), 1), (2, "cleared", at(12), at(13), 1)]
    events = ingest.scalar(
        "SELECT count(*) FROM hazard_events e JOIN hazards h ON h.id = e.hazard_id "
        "WHERE h.device_id = %s AND h.rule_id = 'hydrant_municipal_low'",
        dev,
    )
    assert events == 4  # opened + cleared, twice
