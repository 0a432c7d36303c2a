"""Indicators of case handling (issue 8 point 9; DOMAIN.md §2), pure: counts in, rates and a
composite score out. ``dispatch.indicator_service`` does the SQL; docs/DISPATCH.md has the
definitions for readers.

Over a period [from, to), for one worker, grid, community or street:

- **due**: cases whose *due time* falls in the period. A closed case's due time is the
  deadline its closing step answered (the verification's, as stored on the case when the
  verification came, after any approved extension or suspension moved it); an open case's is
  its current deadline. Each case is therefore due in exactly one period.
- **closed**: due cases that are closed.
- **closed on time**: closed due cases whose every stage-ending step (``sign``, ``feedback``,
  ``verify``, ``close``) came at or before the deadline it answered, never supervised or
  escalated (a missed deadline is what starts those).
- **signed on time**: due cases signed for, every ``sign`` by the deadline it answered.
- **returned**: due cases returned at least once (not this handler's matter).
- **rework**: closed due cases that failed a verification at least once.
- **escalations**: ``escalate`` steps of the due cases; **extensions**: their ``extend`` steps
  (requests for more time, 延期).
- 结案率 ``closure_rate`` = closed / due; 按期结案率 ``on_time_rate`` = closed on time / due;
  返工率 ``rework_rate`` = rework / closed. A rate with a zero denominator is null.
- **patrols**: 一日双巡, counted as the patrol-compliance rule counts (``rules.kinds.patrol``:
  valid segments, merged per grid, each at least the rule's duration, by the China day they
  start) over the China days starting in the period; ``patrols_required`` is the rule's
  ``min_patrols`` per grid per day (for a worker: of their own grid, when they are a grid worker),
  over the days of the period up to today on which the grid was in force.
- **rating**: residents' mean rating (1-5) of the due cases (``case_ratings``); null when
  none was rated.
- **score** (0-100): the weighted mean of closure rate, on-time rate, signed-on-time rate,
  1 - rework rate, patrols done / required (at most 1) and (rating - 1) / 4, weights from
  ``DispatchSettings.indicator_weights``; parts without a value are left out and the other
  weights share their place. Null when no part has a value.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from dispatch.config import IndicatorWeights

__all__ = ["Counts", "Indicator", "Level", "indicator", "ratio", "score"]

Level = Literal["worker", "grid", "community", "street"]


class Counts(BaseModel):
    """What was counted for one worker or area over the period."""

    model_config = ConfigDict(frozen=True)

    due: int = 0
    closed: int = 0
    closed_on_time: int = 0
    signed_on_time: int = 0
    returned: int = 0
    rework: int = 0
    escalations: int = 0
    extensions: int = 0
    patrols_done: int | None = None
    patrols_required: int | None = None
    rating_mean: float | None = None
    ratings: int = 0


class Indicator(Counts):
    """One item of ``GET /api/v1/indicators``: the counts, their rates and the score."""

    level: Level
    code: str
    closure_rate: float | None
    on_time_rate: float | None
    rework_rate: float | None
    score: float | None


def ratio(part: int, whole: int) -> float | None:
    """Return part / whole, or None when there is no whole to divide by."""
    return None if whole <= 0 else part / whole


def score(counts: Counts, weights: IndicatorWeights) -> float | None:
    """Return the composite score out of 100 (see the module's docstring), rounded to 0.1."""
    patrols = (
        None
        if not counts.patrols_required or counts.patrols_done is None
        else min(1.0, counts.patrols_done / counts.patrols_required)
    )
    rework = ratio(counts.rework, counts.closed)
    parts = [
        (weights.closure, ratio(counts.closed, counts.due)),
        (weights.on_time, ratio(counts.closed_on_time, counts.due)),
        (weights.signed_on_time, ratio(counts.signed_on_time, counts.due)),
        (weights.no_rework, None if rework is None else 1.0 - rework),
        (weights.patrols, patrols),
        (weights.rating, None if counts.rating_mean is None else (counts.rating_mean - 1) / 4),
    ]
    total = sum(w for w, v in parts if v is not None)
    if total <= 0:
        return None
    return round(100 * sum(w * v for w, v in parts if v is not None) / total, 1)


def indicator(level: Level, code: str, counts: Counts, weights: IndicatorWeights) -> Indicator:
    """Return the item for ``code`` at ``level``: counts, rates and score."""
    return Indicator(
        **counts.model_dump(),
        level=level,
        code=code,
        closure_rate=ratio(counts.closed, counts.due),
        on_time_rate=ratio(counts.closed_on_time, counts.due),
        rework_rate=ratio(counts.rework, counts.closed),
        score=score(counts, weights),
    )
