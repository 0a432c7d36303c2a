"""The engine core with in-memory state, history and sink: batches, late data, too late."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hazards.lifecycle import InMemorySink
from rules.engine.core import Engine
from rules.engine.types import BatchData, EngineConfig, EventRows, Reading
from rules.flows import MemoryStateStore
from rules.models import DeviceContext, SeriesArrays
from rules.rules_file import load_rules

CTX = {"H": DeviceContext("H", "hydrant", hydrant_class="municipal")}
S = 1000


class History:
    """Every reading seen so far (what the database would hold)."""

    def __init__(self) -> None:
        self.rows: list[Reading] = []

    def series(self, *, rule_id: str, key: str, after_ts: int) -> SeriesArrays:
        del rule_id
        rows = sorted(r for r in self.rows if f"{r[0]}/{r[1]}" == key and r[2] > after_ts)
        return SeriesArrays.build(
            key,
            np.array([r[2] for r in rows], np.int64),
            [r[3] for r in rows],
            [r[4] for r in rows],
        )

    def events(self, *, rule_id: str, key: str, after_ts: int) -> EventRows:
        del rule_id, after_ts
        return EventRows.build(key, [])

    def unit_devices(self, *, unit_id: str) -> list[str]:
        del unit_id
        return []


def run(batches: Sequence[Sequence[tuple[int, float]]]) -> tuple[InMemorySink, MemoryStateStore]:
    engine = Engine(load_rules(), EngineConfig(late_window_ms=3600 * S))
    sink, store, history = InMemorySink(), MemoryStateStore(), History()
    for i, points in enumerate(batches):
        rows = sorted(
            ("H", "pressure_mpa", t * S, v, i * 100 + j) for j, (t, v) in enumerate(points)
        )
        history.rows += rows
        engine.run_batch(BatchData(i, rows), contexts=CTX, store=store, history=history, sink=sink)
    return sink, store


def low(sink: InMemorySink) -> list[tuple[int, int | None]]:
    return [
        (h.opened_at // S, None if h.cleared_at is None else h.cleared_at // S)
        for h in sink.hazards()
        if h.rule_id == "hydrant_municipal_low" and not h.detail.get("retracted")
    ]


def test_batches_split_anywhere_give_the_same_hazards() -> None:
    pts = [(60 * i, v) for i, v in enumerate([0.3, 0.12, 0.12, 0.12, 0.2, 0.12, 0.3])]
    whole, _ = run([pts])
    single, _ = run([[p] for p in pts])
    assert low(whole) == low(single) == [(180, 240)]


def test_late_sample_is_evaluated_in_order() -> None:
    sink, _ = run([[(0, 0.08), (200, 0.3)], [(150, 0.08)]])
    assert low(sink) == [(150, 200)]


def test_late_sample_moving_a_clear_reconciles_the_episode() -> None:
    sink, _ = run([[(0, 0.08), (150, 0.08), (300, 0.3)], [(200, 0.3)]])
    assert low(sink) == [(150, 200)]
    assert sum(h.live for h in sink.hazards()) == 0


def test_too_late_is_counted_and_ignored() -> None:
    sink, store = run([[(7200, 0.08), (7350, 0.08), (10800, 0.3)], [(3000, 0.05), (3300, 0.05)]])
    assert low(sink) == [(7350, 10800)]
    assert len(store.excluded) == 2 * 3  # both samples, for each of the three series rules
