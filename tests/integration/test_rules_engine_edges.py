"""Edge cases of the rules engine over the real broker and database: a late sample at exactly a
checkpoint's time, a rule failing partway through a batch, and a unit replay that needs the
synthetic pressure-drop events."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from prometheus_client import REGISTRY

from rules.config import RulesSettings
from rules.flows import RulesService
from rules.kinds import KINDS
from simulators.sensors import event
from tests.fix_ingest import IngestHarness, wait_until
from tests.integration.test_rules_engine import _episodes, _publish, _settled, _settled_events

T0 = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)


@pytest.fixture
def rules(db_url: str) -> Iterator[RulesService]:
    """A rules service run in-process, on demand."""
    svc = RulesService(db_url=db_url, settings=RulesSettings())
    try:
        yield svc
    finally:
        svc.close()


def _at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def _events(h: IngestHarness, items: list[tuple[str, float, int, str]]) -> None:
    """Publish ``(device, seconds after T0, seq, type)`` events; wait until they are committed."""
    devs = {d for d, _, _, _ in items}
    query = "SELECT count(*) FROM device_events WHERE device_id = ANY(%s)"
    before = h.scalar(query, list(devs))
    h.publisher.publish_all([event(d, _at(s), q, ty, {}, prefix=h.prefix) for d, s, q, ty in items])
    wait_until(lambda: h.scalar(query, list(devs)) >= before + len(items), what="events stored")
    for d in devs:
        _settled_events(h, d)


def test_late_sample_at_a_checkpoints_time_is_replayed(
    ingest: IngestHarness, rules: RulesService
) -> None:
    dev = ingest.device("HC")
    ingest.register(dev, hydrant_class="municipal")
    _publish(ingest, dev, [(0, 0.30), (1000, 0.30)])
    _settled(ingest, dev)
    rules.process_pending()
    # At exactly the last evaluated time: the key's state (last 1000 s) becomes a checkpoint
    # (15 min after the first), and this low sample is evaluated after it.
    _publish(ingest, dev, [(1000, 0.08)], seq0=10)
    _settled(ingest, dev)
    rules.process_pending()
    _publish(ingest, dev, [(1300, 0.30)], seq0=20)
    _settled(ingest, dev)
    rules.process_pending()
    assert _episodes(ingest, dev) == []  # low at 1000 s only: never 120 s low
    # Late: low at 1200 s too, so low from 1000 s to 1300 s. A replay from the checkpoint at
    # 1000 s that reads only what is after it misses the low sample at 1000 s.
    _publish(ingest, dev, [(1200, 0.08)], seq0=30)
    _settled(ingest, dev)
    rules.process_pending()
    assert _episodes(ingest, dev) == [(1, "cleared", _at(1200), _at(1300), 1)]


def _failures(rule_id: str) -> float:
    got = REGISTRY.get_sample_value("firegrid_rule_failures_total", {"rule": rule_id})
    return got or 0.0


def test_rule_failing_partway_through_a_batch_applies_nothing(
    ingest: IngestHarness, rules: RulesService, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = ingest.device("FA"), ingest.device("FB")
    unit = f"U-{ingest.tag}"
    ingest.register(a, b, kind="smoke", unit_id=unit)
    _events(ingest, [(a, 0, 1, "smoke_alarm"), (b, 30, 1, "smoke_alarm")])
    # One batch holding both (ingest may have committed them apart).
    _one_batch(ingest, [a, b])
    spec = KINDS["device_event"]

    def evaluate(events: Any, state: Any, rule: Any) -> Any:
        if rule.rule_id == "smoke_alarm" and events.key == b:
            raise RuntimeError("broken on the second key")
        return spec.evaluate(events, state, rule)

    monkeypatch.setitem(KINDS, "device_event", dataclasses.replace(spec, evaluate=evaluate))
    before = _failures("smoke_alarm")
    rules.process_pending()
    # Nothing of the failed rule: not A's hazard, queued before B raised, nor its state.
    assert _episodes(ingest, a, "smoke_alarm") == []
    assert _episodes(ingest, b, "smoke_alarm") == []
    state = "SELECT count(*) FROM rule_state WHERE rule_id = 'smoke_alarm' AND key = ANY(%s)"
    assert ingest.scalar(state, [a, b]) == 0
    assert _failures("smoke_alarm") == before + 1
    assert "smoke_alarm: broken on the second key" in rules.stats.errors
    # The other rules applied and the batch committed.
    fire = ingest.rows(
        "SELECT status, opened_at FROM hazards WHERE key = %s AND rule_id = %s",
        f"unit:{unit}",
        "smoke_confirmed_fire",
    )
    assert fire == [("open", _at(30))]
    # The batch is consumed: its event is at or below the rules' cursor.
    pending = (
        "SELECT count(*) FROM device_events e JOIN event_log l ON l.kind = 'batch.committed'"
        " AND l.subject = e.batch_id::text"
        " WHERE l.id > (SELECT position FROM event_cursors WHERE consumer = 'rules')"
    )
    assert ingest.scalar(pending + " AND e.device_id = ANY(%s)", [a]) == 0


def _one_batch(h: IngestHarness, devices: list[str]) -> None:
    """Move the devices' stored events into the first of their batches."""
    with psycopg.connect(h.db_url) as conn:
        conn.execute(
            "UPDATE device_events SET batch_id = (SELECT min(batch_id) FROM device_events "
            "WHERE device_id = ANY(%(d)s)) WHERE device_id = ANY(%(d)s)",
            {"d": devices},
        )


def test_unit_replay_keeps_the_synthetic_pressure_drop(
    ingest: IngestHarness, rules: RulesService
) -> None:
    smoke, hydrant = ingest.device("US"), ingest.device("UH")
    unit = f"U-{ingest.tag}"
    ingest.register(smoke, kind="smoke", unit_id=unit)
    ingest.register(hydrant, hydrant_class="municipal", unit_id=unit)
    _events(ingest, [(smoke, 0, 1, "heartbeat")])  # the unit key's state starts at 0 s
    rules.process_pending()
    # A sudden drop at 600 s: fed to the unit as a synthetic pressure_drop, after the unit
    # key's checkpoint at 0 s.
    _publish(ingest, hydrant, [(500, 0.30), (600, 0.10)])
    _settled(ingest, hydrant)
    rules.process_pending()
    drop = "SELECT opened_at FROM hazards WHERE device_id = %s AND rule_id = 'hydrant_sudden_drop'"
    assert ingest.rows(drop, hydrant) == [(_at(600),)]
    _events(ingest, [(smoke, 1300, 2, "heartbeat")])
    rules.process_pending()
    # Late smoke alarm at 1000 s, 400 s after the drop: the unit replays from 0 s.
    _events(ingest, [(smoke, 1000, 3, "smoke_alarm")])
    rules.process_pending()
    got = ingest.rows(
        "SELECT status, opened_at FROM hazards WHERE key = %s AND rule_id = %s",
        f"unit:{unit}",
        "smoke_with_pressure_drop",
    )
    assert got == [("open", _at(1000))]
