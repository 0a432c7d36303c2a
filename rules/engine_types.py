"""Types the rules engine takes and gives: batch data, event rows, state and history ports."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from rules.keystate import KeyState
from rules.models import I64, BoolArray, EventSeries, SeriesArrays, StrArray

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


@dataclass(frozen=True, slots=True)
class BatchData:
    """A committed batch's readings and events, each sorted by (device, metric/type, ts, seq)."""

    batch_id: int
    readings: Sequence[Reading] = ()
    events: Sequence[Event] = ()


class StateStore(Protocol):
    """Durable per-(rule, key) state; the database store writes in the batch's transaction."""

    def load(self, rule_id: str, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Return the stored JSON of the keys that have state."""
        ...

    def save(self, rule_id: str, states: Mapping[str, KeyState]) -> None:
        """Store the keys' new states."""
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


@dataclass(slots=True)
class BatchStats:
    """What one batch did."""

    readings: int = 0
    events: int = 0
    transitions: int = 0
    too_late: int = 0
    replays: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Late window, checkpoint spacing and flapping, in device-time ms."""

    late_window_ms: int = 3_600_000
    checkpoint_every_ms: int = 900_000
    flap_count: int = 6
    flap_window_ms: int = 3_600_000
