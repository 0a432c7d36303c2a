"""Types the rules engine takes and gives: batch data, event rows, state and history ports."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from rules.engine.keystate import KeyState
from rules.models import F64, I64, BoolArray, EventSeries, RuleState, SeriesArrays, StrArray

Reading = tuple[str, str, int, float, int]  # device, metric, ts ms, value, seq
Event = tuple[str, str, int, int]  # device, type, ts ms, seq


@dataclass(frozen=True, slots=True, eq=False)
class EventRows:
    """One key's events with their ``seq`` (an EventSeries does not carry it)."""

    key: str
    ts: I64
    type: StrArray
    device: StrArray
    seq: I64

    @classmethod
    def build(cls, key: str, rows: Sequence[Event]) -> EventRows:
        """Build from (device, type, ts, seq) rows, sorting them by device time."""
        rows = sorted(rows, key=lambda r: (r[2], r[0], r[3], r[1]))
        return cls(
            key,
            np.array([r[2] for r in rows], np.int64),
            np.array([r[1] for r in rows], dtype=object),
            np.array([r[0] for r in rows], dtype=object),
            np.array([r[3] for r in rows], np.int64),
        )

    def __len__(self) -> int:
        return int(self.ts.size)

    def take(self, mask: BoolArray) -> EventRows:
        """Return the events where ``mask`` is true."""
        return EventRows(
            self.key, self.ts[mask], self.type[mask], self.device[mask], self.seq[mask]
        )

    def series(self) -> EventSeries:
        """Return the kinds' input form."""
        return EventSeries(self.key, self.ts, self.type, self.device)


Samples = SeriesArrays | EventRows


@dataclass(frozen=True, slots=True, eq=False)
class ReadingColumns:
    """Readings as columns, sorted by (device, metric, ts, seq): no tuple per reading."""

    device: Sequence[str]
    metric: Sequence[str]
    ts: I64
    value: F64
    seq: I64

    @classmethod
    def of(cls, readings: Sequence[Reading]) -> ReadingColumns:
        """Build from reading tuples."""
        if not readings:
            return cls(
                [], [], np.zeros(0, np.int64), np.zeros(0, np.float64), np.zeros(0, np.int64)
            )
        device, metric, ts, value, seq = zip(*readings, strict=True)
        return cls(
            device,
            metric,
            np.array(ts, np.int64),
            np.array(value, np.float64),
            np.array(seq, np.int64),
        )

    def __len__(self) -> int:
        return len(self.device)


@dataclass(frozen=True, slots=True)
class BatchData:
    """A committed batch's readings and events, each sorted by (device, metric/type, ts, seq).

    Readings come as tuples (``readings``) or, from the database, as ``columns``.
    """

    batch_id: int
    readings: Sequence[Reading] = ()
    events: Sequence[Event] = ()
    columns: ReadingColumns | None = None

    def reading_columns(self) -> ReadingColumns:
        """Return the readings as columns."""
        return self.columns if self.columns is not None else ReadingColumns.of(self.readings)

    def device_ids(self) -> list[str]:
        """Return the devices the batch has readings or events of, sorted."""
        return sorted({*self.reading_columns().device, *(e[0] for e in self.events)})


class StateStore(Protocol):
    """Durable per-(rule, key) state; the database store writes in the batch's transaction.

    ``load`` hands out states the caller may change (copies); ``save`` takes one batch's
    states, rule by rule.
    """

    def load(
        self, rule_id: str, kind_state: type[RuleState], keys: Sequence[str]
    ) -> dict[str, KeyState]:
        """Return the state of the keys that have one."""
        ...

    def save(self, states: Mapping[str, Mapping[str, KeyState]]) -> None:
        """Store the keys' new states, given per rule ID."""
        ...

    def discard(self, rule_id: str, keys: Sequence[str]) -> None:
        """Forget what ``load`` handed out for keys whose evaluation failed (not to be saved)."""
        ...

    def too_late(
        self, rule_id: str, key: str, rows: Sequence[tuple[str, int, int]], batch_id: int
    ) -> None:
        """Record (device, ts, seq) samples refused as too late."""
        ...


class History(Protocol):
    """Stored samples already evaluated (and the current batch's), for checkpoint replays."""

    def series(self, *, rule_id: str, key: str, after_ts: int) -> SeriesArrays:
        """Return a ``device/metric`` key's readings with ts > ``after_ts``, in order."""
        ...

    def events(self, *, rule_id: str, key: str, after_ts: int) -> EventRows:
        """Return a device's (or ``unit:U``'s devices') events with ts > ``after_ts``."""
        ...

    def unit_devices(self, *, unit_id: str) -> list[str]:
        """Return the IDs of the devices the registry places in ``unit_id``."""
        ...


@dataclass(slots=True)
class BatchStats:
    """What one batch did."""

    readings: int = 0
    events: int = 0
    transitions: int = 0
    too_late: int = 0
    replays: int = 0
    errors: list[str] = field(default_factory=list)
    failed_rules: list[str] = field(default_factory=list)  # rule IDs, once per failure


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Late window, checkpoint spacing and flapping, in device-time ms."""

    late_window_ms: int = 3_600_000
    checkpoint_every_ms: int = 900_000
    flap_count: int = 6
    flap_window_ms: int = 3_600_000
    # Patrol days judged again when their inputs change (``rules.rejudge``): how many China
    # days back, and how long after the latest change (a burst of uploads ends first).
    rejudge_days: int = 7
    rejudge_settle_ms: int = 60_000
