"""Shared rule types: series building, late-data split, flapping detection, CST days."""

from __future__ import annotations

import numpy as np
import pytest

from rules.exceptions import RulesError
from rules.models import (
    FlapNotice,
    FlapState,
    LateRejection,
    SeriesArrays,
    Severity,
    Transition,
    cst_day,
    cst_day_start,
    detect_flapping,
    split_late,
)

T0 = 1_795_674_600_000  # 2026-11-26T06:30:00Z


def test_split_late_separates_on_time_late_and_too_late() -> None:
    s = SeriesArrays.build(
        "H1/pressure_mpa",
        [T0 - 900_000, T0 - 120_000, T0, T0 + 60_000],
        [0.1, 0.2, 0.3, 0.4],
        [7, 8, 9, 10],
    )
    split = split_late(s, last_ts=T0, late_window_ms=300_000)
    assert split.on_time.ts.tolist() == [T0, T0 + 60_000]
    assert split.late.seq.tolist() == [8]
    assert split.needs_replay
    assert split.rejected == [LateRejection("H1/pressure_mpa", T0 - 900_000, 7, "too_late")]


def test_split_late_without_state_takes_everything() -> None:
    s = SeriesArrays.build("k", [1, 2], [0.1, 0.2])
    split = split_late(s, last_ts=None, late_window_ms=0)
    assert len(split.on_time) == 2
    assert not split.needs_replay
    assert split.rejected == []


def test_series_lengths_must_agree() -> None:
    with pytest.raises(RulesError, match="one length"):
        SeriesArrays.build("k", [1, 2], [0.1])
    with pytest.raises(RulesError, match="int ms or datetime64"):
        SeriesArrays.build("k", np.array([1.5]), [0.1])


def _tr(ts: int, kind: str) -> Transition:
    return Transition("H1/pressure_mpa", "r", ts, kind, Severity.WARNING)  # type: ignore[arg-type]


def test_flapping_is_reported_once_when_it_starts_and_once_when_it_stops() -> None:
    minute = 60_000
    flaps = [_tr(i * minute, "open" if i % 2 == 0 else "clear") for i in range(10)]
    state, notices = detect_flapping(flaps, FlapState(), count=4, window_ms=10 * minute)
    assert notices == [FlapNotice("H1/pressure_mpa", "r", 3 * minute, True, 4)]
    # More flapping in the next batch says nothing new.
    more = [_tr((10 + i) * minute, "open" if i % 2 == 0 else "clear") for i in range(4)]
    state, notices = detect_flapping(more, state, count=4, window_ms=10 * minute)
    assert notices == []
    # A quiet window, then one transition: flapping is over, said once.
    state, notices = detect_flapping(
        [_tr(60 * minute, "open")], state, count=4, window_ms=10 * minute
    )
    assert notices == [FlapNotice("H1/pressure_mpa", "r", 60 * minute, False, 0)]
    assert not state.flapping
    assert len(state.recent) <= 4


def test_updates_do_not_count_as_flaps() -> None:
    ups = [_tr(i, "update") for i in range(20)]
    _, notices = detect_flapping(ups, FlapState(), count=3, window_ms=100)
    assert notices == []


def test_cst_day_boundary_is_16_00_utc() -> None:
    # 2026-11-26T15:59:59.999Z is 23:59:59.999 in Beijing; one ms later is the next day.
    midnight_cst = 1_795_708_800_000  # 2026-11-26T16:00:00Z
    assert cst_day(midnight_cst) - cst_day(midnight_cst - 1) == 1
    assert cst_day_start(cst_day(midnight_cst)) == midnight_cst
