"""``firegrid rules replay``: a rule set over stored history, with fresh state, writing nothing.

Batch-driven rules see the stored batches whose samples fall in [start, end), in batch order.
Clock-driven rules (silence, dates, patrol compliance) run on a simulated clock stepping
through [start, end) as the live rules role ticks: every ``silence_every_s`` and every
``daily_every_s`` from ``start``, all checks at ``start`` (the role ticks everything when it
starts), through the same ``rules.ticks`` functions, reading a ``ReplaySource``:

- silence: each device's last device time and last receive time are what ``device_status``
  held at the tick, i.e. the maxima of ``ts`` and ``received_at`` over its readings and
  device events with ``received_at <= now`` (ingest keeps ``device_status`` from those, and a
  terminal's from its fixes, reports and case actions, which no silence rule is about);
- dates: the registry as it is NOW: registry edits are not kept, so a date changed since the
  replayed day is judged with its new value;
- patrol compliance: segments rebuilt in memory by the same segmenter ``rebuild_segments``
  uses, from the fixes received by the tick (stored segments may include fixes that arrived
  after the live tick), located under the CURRENT grid version.

Everything goes to an in-memory state store and sink; the connection is read-only.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import psycopg

from devices.models import Fix
from devices.timefmt import ms_to_dt
from grids.locator import GridLocator
from grids.patrol_days import StaleDay
from hazards.lifecycle import HazardRecord, InMemorySink
from infra.database import Conn
from patrols.segments import PatrolParams, segment_fixes
from rules.definitions import RuleSet
from rules.engine.core import Engine
from rules.engine.keystate import KeyState
from rules.engine.service import (
    MS,
    DbHistory,
    load_contexts,
    server_rows,
    stream_range,
    stream_range_reports,
)
from rules.engine.types import BatchData, EngineConfig, Event, EventRows, Reading
from rules.kinds.report import LocatedReport
from rules.models import RuleState, SeriesArrays
from rules.ticks import LIVE, TICKS, Row, SegmentRow

# Registry edits are not kept: say so wherever replayed hazards are shown.
REGISTRY_NOTE: Final = (
    "clock-driven rules (silence, dates, patrols) judge the registry and grids as they are now; "
    "registry edits since the replayed period are not kept"
)

# Per device and tick bucket k, the newest device and receive times received in
# (start + (k-1) × step, start + k × step]; bucket 0 holds everything received by start.
_HEARD: Final = f"""
SELECT device_id,
       greatest(ceil(extract(epoch FROM received_at - %(start)s) / %(step)s), 0)::bigint AS k,
       {MS.format(col="max(ts)")}, {MS.format(col="max(received_at)")}
FROM (
    SELECT device_id, ts, received_at FROM readings WHERE received_at <= %(last)s
    UNION ALL
    SELECT device_id, ts, received_at FROM device_events WHERE received_at <= %(last)s
) AS heard
GROUP BY 1, 2
ORDER BY 2
"""

_FIXES: Final = """
SELECT terminal_id, ts, lat, lon, quality, satellites, hdop, altitude_m, speed_mps FROM fixes
WHERE ts >= %s AND ts < %s AND received_at <= %s ORDER BY terminal_id, ts
"""

# ``rebuild_segments`` widens its window to whole chains of fixes by at most this much.
_CHAIN: Final = timedelta(hours=24)


def iter_tick_schedule(
    start: datetime, end: datetime, every_s: Mapping[str, float]
) -> Iterator[tuple[datetime, tuple[str, ...]]]:
    """Yield the (time, checks) the live role would tick in [start, end), first all at start.

    Generated as it goes (a merge of one progression per check), so a long range costs no
    memory.
    """
    progressions = [
        _progression(start, step, order, name)
        for order, (name, step) in enumerate(zip(TICKS, _steps(every_s), strict=True))
    ]
    due = itertools.takewhile(lambda t: t[0] < end, heapq.merge(*progressions))
    for now, group in itertools.groupby(due, key=lambda t: t[0]):
        yield now, tuple(name for _, _, name in group)


def tick_schedule(
    start: datetime, end: datetime, every_s: Mapping[str, float]
) -> list[tuple[datetime, tuple[str, ...]]]:
    """Return the (time, checks) the live role would tick in [start, end), first all at start."""
    return list(iter_tick_schedule(start, end, every_s))


def last_tick(start: datetime, end: datetime, every_s: Mapping[str, float]) -> datetime:
    """Return the time of the last tick in [start, end) (``start`` when there is none)."""
    if end <= start:
        return start
    span = end - start - timedelta(microseconds=1)  # the last k with start + k × step < end
    return max(start + (span // step) * step for step in _steps(every_s))


def _progression(
    start: datetime, step: timedelta, order: int, name: str
) -> Iterator[tuple[datetime, int, str]]:
    """Yield (start + k × step, order, name) for k = 0, 1, ... (the order sorts ties)."""
    for k in itertools.count():
        yield start + k * step, order, name


def _steps(every_s: Mapping[str, float]) -> list[timedelta]:
    return [timedelta(seconds=every_s[name]) for name in TICKS]


def _range(
    conn: Conn, *, start: datetime, end: datetime
) -> Iterator[tuple[int, list[Reading], list[Event], list[LocatedReport]]]:
    """Yield each stored batch's samples and reports within [start, end), in batch order."""
    samples, reports = (
        stream_range(conn, start=start, end=end),
        stream_range_reports(conn, start=start, end=end),
    )
    s, r = next(samples, None), next(reports, None)
    while s is not None or r is not None:
        batch_id = min(x[0] for x in (s, r) if x is not None)
        readings: list[Reading] = []
        events: list[Event] = []
        located: list[LocatedReport] = []
        if s is not None and s[0] == batch_id:
            (_, readings, events), s = s, next(samples, None)
        if r is not None and r[0] == batch_id:
            (_, located), r = r, next(reports, None)
        yield batch_id, readings, events, located


class ReplaySource:
    """What the ticks read, as of a simulated ``now`` moved forward with ``advance``."""

    def __init__(
        self,
        conn: Conn,
        *,
        start: datetime,
        step: timedelta,
        last: datetime,
        locator: GridLocator,
        patrol: PatrolParams | None = None,
    ) -> None:
        self.start, self.step, self.locator = start, step, locator
        self.patrol = patrol or PatrolParams()
        self.now = start
        self._rows: dict[str, list[Row]] = {}
        self._heard: dict[str, tuple[int, int]] = {}
        # Read in bucket order as the clock advances: one bucket's rows ahead at most, not the
        # whole range's.
        args = {"start": start, "step": step.total_seconds(), "last": last}
        self._buckets = server_rows(conn, "fg_replay_heard", _HEARD, args)
        self._next: Any = next(self._buckets, None)

    def advance(self, now: datetime) -> None:
        """Move the clock to ``now``: everything received by then has been heard."""
        self.now = now
        upto = (now - self.start) // self.step if now >= self.start else -1
        while self._next is not None and int(self._next[1]) <= upto:
            device, _, ts, received = self._next
            old = self._heard.get(str(device), (-1, -1))
            self._heard[str(device)] = (max(old[0], int(ts)), max(old[1], int(received)))
            self._next = next(self._buckets, None)

    def devices(self, conn: Conn, kind: str) -> list[Row]:
        """Return the registry's devices of ``kind`` as they are now (read once)."""
        if kind not in self._rows:
            self._rows[kind] = LIVE.devices(conn, kind)
        return self._rows[kind]

    def heard(self, rows: Sequence[Row]) -> tuple[list[int], list[int]]:
        """Return the rows' last device and receive times as of ``now``."""
        got = [self._heard.get(str(r[0]), (-1, -1)) for r in rows]
        return [g[0] for g in got], [g[1] for g in got]

    def stale_days(self, conn: Conn, *, settle: timedelta) -> list[StaleDay]:
        """Return no marks: a replay judges each day once, with the fixes received by then."""
        del conn, settle
        return []

    def judged(self, conn: Conn, *, day: date) -> None:
        """Record nothing: a replay writes nothing."""
        del conn, day

    def segments(self, conn: Conn, *, start: int, end: int) -> list[SegmentRow]:
        """Return segments starting in [start, end) rebuilt from the fixes received by ``now``."""
        lo, hi = ms_to_dt(start), ms_to_dt(end)
        by_terminal: dict[str, list[Fix]] = {}
        for row in conn.execute(_FIXES, (lo - _CHAIN, hi + _CHAIN, self.now)).fetchall():
            by_terminal.setdefault(str(row[0]), []).append(Fix(*row))
        out: list[SegmentRow] = []
        for fixes in by_terminal.values():
            located = self.locator.locate_many(
                np.array([f.lat for f in fixes], np.float64),
                np.array([f.lon for f in fixes], np.float64),
            )
            for s in segment_fixes(fixes, grids=located.grid.tolist(), params=self.patrol):
                if lo <= s.started_at < hi:
                    started = (s.started_at - ms_to_dt(0)) // timedelta(milliseconds=1)
                    grids = [{"grid": v.grid, "seconds": v.seconds} for v in s.grids]
                    out.append((started, grids, s.valid))
        return out


class MemoryStateStore:
    """Rule state in memory, for replays; too-late samples are remembered to exclude them."""

    def __init__(self) -> None:
        self.states: dict[tuple[str, str], KeyState] = {}
        self.excluded: set[tuple[str, str, str, int, int]] = set()

    def load(
        self, rule_id: str, kind_state: type[RuleState], keys: Sequence[str]
    ) -> dict[str, KeyState]:
        """Return copies of the states of the keys that have one."""
        del kind_state
        got = self.states
        return {k: got[rule_id, k].copy() for k in keys if (rule_id, k) in got}

    def save(self, states: Mapping[str, Mapping[str, KeyState]]) -> None:
        """Keep the keys' states (copies: the caller's may change later)."""
        for rule_id, by_key in states.items():
            for k, ks in by_key.items():
                self.states[rule_id, k] = ks.copy()

    def discard(self, rule_id: str, keys: Sequence[str]) -> None:
        """Nothing to forget: ``load`` hands out copies."""
        del rule_id, keys

    def too_late(
        self, rule_id: str, key: str, rows: Sequence[tuple[str, int, int]], batch_id: int
    ) -> None:
        """Remember refused samples."""
        del batch_id
        self.excluded.update((rule_id, key, d, t, s) for d, t, s in rows)


class _ReplayHistory(DbHistory):
    """Stored history within the replay's range, minus the replay's own too-late samples."""

    def __init__(self, conn: Conn, store: MemoryStateStore, **kw: Any) -> None:
        super().__init__(conn, replay=True, **kw)
        self.store = store

    def series(self, *, rule_id: str, key: str, after_ts: int) -> SeriesArrays:
        """Return the key's readings, excluding what this replay refused as too late."""
        s = super().series(rule_id=rule_id, key=key, after_ts=after_ts)
        device = key.split("/", 1)[0]
        keep = [
            (rule_id, key, device, t, q) not in self.store.excluded
            for t, q in zip(s.ts.tolist(), s.seq.tolist(), strict=True)
        ]
        return s.take(_mask(keep))

    def events(self, *, rule_id: str, key: str, after_ts: int) -> EventRows:
        """Return the key's events, excluding what this replay refused as too late."""
        e = super().events(rule_id=rule_id, key=key, after_ts=after_ts)
        keep = [
            (rule_id, key, d, t, q) not in self.store.excluded
            for d, t, q in zip(e.device.tolist(), e.ts.tolist(), e.seq.tolist(), strict=True)
        ]
        return e.take(_mask(keep))


def _mask(keep: list[bool]) -> npt.NDArray[np.bool_]:
    return np.asarray(keep, dtype=np.bool_)


def replay(
    *,
    db_url: str,
    start: datetime,
    end: datetime,
    rules: RuleSet,
    config: EngineConfig,
    silence_every_s: float = 60.0,
    daily_every_s: float = 600.0,
    ticks: bool = True,
) -> list[HazardRecord]:
    """Evaluate stored history in [start, end) afresh, batches and ticks; return the hazards."""
    engine = Engine(rules, config)
    sink = InMemorySink()
    store = MemoryStateStore()
    with psycopg.connect(db_url) as conn:
        conn.read_only = True
        for batch_id, readings, events, reports in _range(conn, start=start, end=end):
            batch = BatchData(batch_id, readings, events)
            history = _ReplayHistory(conn, store, batch_id=batch_id, start=start, end=end)
            engine.run_batch(
                batch,
                contexts=load_contexts(conn, device_ids=batch.device_ids()),
                store=store,
                history=history,
                sink=sink,
                reports=reports,
            )
        if ticks:
            every = {"silence": silence_every_s, "dates": daily_every_s, "patrols": daily_every_s}
            source = ReplaySource(
                conn,
                start=start,
                step=timedelta(seconds=silence_every_s),
                last=last_tick(start, end, every),
                locator=GridLocator(connect=lambda: psycopg.connect(db_url, autocommit=True)),
            )
            for now, which in iter_tick_schedule(start, end, every):
                source.advance(now)
                for name in which:
                    TICKS[name](conn, engine, now=now, store=store, sink=sink, source=source)
        conn.rollback()
    return sink.hazards()
