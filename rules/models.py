"""Types every rule kind shares: input arrays, transitions, states, and the late-data contract.

Rule kinds are pure functions (STYLE habit 7)::

    evaluate(series, state, params) -> (state, transitions)

with no clock, database or network inside. Times are integer Unix milliseconds of DEVICE time
(``int64`` arrays); ``SeriesArrays`` also accepts ``datetime64`` and converts it.

Late-data contract (DESIGN "device time, explicit lateness"), which the engine implements:

1. The engine calls ``evaluate`` with one key's samples in device-time order, ``ts`` not before
   ``state.last_ts`` (``evaluate`` raises ``RulesError`` otherwise: reordering is the engine's
   job, never guessed at here). Every state records ``last_ts``, the last device time evaluated.
2. States are small frozen dataclasses: keeping a reference IS a checkpoint. A sample older than
   ``state.last_ts`` but within ``late_window_ms`` is handled by the engine re-evaluating from
   the last checkpoint taken before that sample, with the stored samples since then plus the
   late one, and replacing what it raised since the checkpoint.
3. A sample older than ``last_ts - late_window_ms`` is too late: ``split_late`` takes it out
   with the reason ``too_late``; it is stored as data but never reopens a hazard or moves state.

Flapping: ``detect_flapping`` watches one key's transitions and reports once when it sees
``count`` opens and clears within ``window_ms``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Generic, TypeVar

import numpy as np
import numpy.typing as npt

from hazards.models import Severity, TransitionKind
from rules.exceptions import RulesError

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
StrArray = npt.NDArray[np.object_]

MS_PER_S: Final = 1000
MS_PER_DAY: Final = 86_400_000
# China Standard Time has no daylight saving: a local day is always [16:00 UTC, 16:00 UTC).
CST_OFFSET_MS: Final = 8 * 3_600_000
NO_SEQ: Final = -1


@dataclass(frozen=True, slots=True)
class Transition:
    """A change to one hazard episode of (key, rule): opened, updated or cleared at device ``ts``.

    ``key`` names what the hazard is about: ``device_id/metric`` for readings, a device ID for
    events and dates, ``unit:<id>`` or ``grid:<code>`` for unit and grid rules. ``detail`` holds
    JSON-ready facts for the operator (limit, held time, devices involved).
    """

    key: str
    rule_id: str
    ts: int
    kind: TransitionKind
    severity: Severity
    value: float | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)

    @property
    def at(self) -> datetime:
        """Return ``ts`` as an aware UTC datetime."""
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=self.ts)


@dataclass(frozen=True, slots=True)
class RuleState:
    """Base of every kind's state: ``last_ts`` is the last device time evaluated (ms)."""

    last_ts: int | None = None


def to_ms(ts: npt.ArrayLike) -> I64:
    """Return device times as int64 Unix ms from int ms or ``datetime64`` values."""
    arr = np.asarray(ts)
    if np.issubdtype(arr.dtype, np.datetime64):
        return arr.astype("datetime64[ms]").astype(np.int64)
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise RulesError(f"device times must be int ms or datetime64, not {arr.dtype}")
    return arr.astype(np.int64)


@dataclass(frozen=True, slots=True, eq=False)
class SeriesArrays:
    """One key's readings in device-time order: ``ts`` (int64 ms), ``value``, ``seq`` (-1: none)."""

    key: str
    ts: I64
    value: F64
    seq: I64

    @classmethod
    def build(
        cls,
        key: str,
        ts: npt.ArrayLike,
        value: npt.ArrayLike,
        seq: npt.ArrayLike | None = None,
    ) -> SeriesArrays:
        """Build a series, converting times to ms and checking lengths and order."""
        t = to_ms(ts)
        v = np.asarray(value, dtype=np.float64)
        s = np.full(t.shape, NO_SEQ, np.int64) if seq is None else np.asarray(seq, np.int64)
        if not t.shape == v.shape == s.shape or t.ndim != 1:
            raise RulesError(f"{key}: ts, value and seq must be 1-D arrays of one length")
        if t.size > 1 and bool(np.any(np.diff(t) < 0)):
            raise RulesError(f"{key}: samples are not in device-time order")
        return cls(key, t, v, s)

    def __len__(self) -> int:
        return int(self.ts.size)

    def take(self, mask: BoolArray) -> SeriesArrays:
        """Return the samples where ``mask`` is true."""
        return SeriesArrays(self.key, self.ts[mask], self.value[mask], self.seq[mask])


@dataclass(frozen=True, slots=True, eq=False)
class EventSeries:
    """Discrete events of one key (a device, or all devices of a unit) in device-time order."""

    key: str
    ts: I64
    type: StrArray
    device: StrArray

    @classmethod
    def build(
        cls, key: str, ts: npt.ArrayLike, types_: Sequence[str], devices: Sequence[str]
    ) -> EventSeries:
        """Build an event series, checking lengths and order."""
        t = to_ms(ts)
        ty = np.asarray(list(types_), dtype=object)
        dv = np.asarray(list(devices), dtype=object)
        if not t.shape == ty.shape == dv.shape or t.ndim != 1:
            raise RulesError(f"{key}: ts, type and device must be 1-D arrays of one length")
        if t.size > 1 and bool(np.any(np.diff(t) < 0)):
            raise RulesError(f"{key}: events are not in device-time order")
        return cls(key, t, ty, dv)

    def __len__(self) -> int:
        return int(self.ts.size)


@dataclass(frozen=True, slots=True, eq=False)
class ManySeries:
    """Many keys' readings in one set of flat arrays, each key's slice in device-time order.

    Key ``k``'s samples are ``ts[offsets[k]:offsets[k + 1]]``: the shape the engine reads from
    the database (``ORDER BY device, ts``), evaluated in one vectorised call instead of one call
    per key, which matters when a batch holds one or two samples of thousands of devices.
    """

    keys: tuple[str, ...]
    offsets: I64
    ts: I64
    value: F64
    seq: I64

    @classmethod
    def from_series(cls, series: Sequence[SeriesArrays]) -> ManySeries:
        """Concatenate single-key series."""
        lengths = [len(s) for s in series]
        offsets = np.concatenate(([0], np.cumsum(lengths, dtype=np.int64)))

        def cat(arrays: list[npt.NDArray[Any]], dtype: type) -> npt.NDArray[Any]:
            if len(arrays) == 1:  # one key: no copy
                return arrays[0]
            return (
                np.concatenate(arrays).astype(dtype, copy=False) if arrays else np.zeros(0, dtype)
            )

        return cls(
            tuple(s.key for s in series),
            offsets.astype(np.int64),
            cat([s.ts for s in series], np.int64),
            cat([s.value for s in series], np.float64),
            cat([s.seq for s in series], np.int64),
        )


def check_after(key: str, ts: I64, last_ts: int | None) -> None:
    """Raise RulesError when a batch starts before the state's last evaluated time."""
    if last_ts is not None and ts.size and int(ts[0]) < last_ts:
        raise RulesError(
            f"{key}: sample at {int(ts[0])} ms is before the last evaluated {last_ts} ms; "
            "late samples go through split_late and a checkpoint replay"
        )


def cst_day(ts_ms: int) -> int:
    """Return the China Standard Time (UTC+8) day number of a Unix ms time (days since 1970)."""
    return (ts_ms + CST_OFFSET_MS) // MS_PER_DAY


def cst_day_start(day: int) -> int:
    """Return the Unix ms time at which China Standard Time day ``day`` begins."""
    return day * MS_PER_DAY - CST_OFFSET_MS


@dataclass(frozen=True, slots=True)
class DeviceContext:
    """What resolution needs to know about one device (from the registry)."""

    device_id: str
    kind: str
    model: str | None = None
    unit_id: str | None = None
    hydrant_class: str | None = None
    agent: str | None = None
    thresholds: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AppliesTo:
    """Which devices a rule watches (or, for unit and grid kinds, which devices feed it)."""

    device_kind: str
    hydrant_class: str | None = None
    model: str | None = None
    agent: str | None = None

    def matches(self, device: DeviceContext) -> bool:
        """Return whether ``device`` is one this rule applies to.

        A hydrant registered without its class is watched as a municipal one: those limits are
        the lower ones, so a pressure too low for any hydrant is never left unwatched.
        """
        hydrant_class = device.hydrant_class
        if hydrant_class is None and device.kind == "hydrant":
            hydrant_class = "municipal"
        return (
            device.kind == self.device_kind
            and self.hydrant_class in (None, hydrant_class)
            and self.model in (None, device.model)
            and self.agent in (None, device.agent)
        )


# ---- late data ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LateRejection:
    """A sample taken out of rule evaluation: ``reason`` is ``too_late``."""

    key: str
    ts: int
    seq: int
    reason: str


@dataclass(frozen=True, slots=True, eq=False)
class LateSplit:
    """``split_late``'s answer: what to evaluate now, what needs a replay, what never counts."""

    on_time: SeriesArrays
    late: SeriesArrays
    rejected: list[LateRejection]

    @property
    def needs_replay(self) -> bool:
        """Return whether the engine must re-evaluate from a checkpoint before ``late``."""
        return len(self.late) > 0


def split_late(series: SeriesArrays, *, last_ts: int | None, late_window_ms: int) -> LateSplit:
    """Split a key's new samples into on-time, late (replay) and too-late (rejected) ones."""
    if last_ts is None:
        return LateSplit(series, series.take(np.zeros(len(series), np.bool_)), [])
    on_time = series.ts >= last_ts
    too_late = series.ts < last_ts - late_window_ms
    late = ~on_time & ~too_late
    rejected = [
        LateRejection(series.key, int(t), int(s), "too_late")
        for t, s in zip(series.ts[too_late], series.seq[too_late], strict=True)
    ]
    return LateSplit(series.take(on_time), series.take(late), rejected)


# ---- flapping -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FlapState:
    """Recent open/clear times of one (key, rule) and whether flapping was already reported."""

    recent: tuple[int, ...] = ()
    flapping: bool = False


@dataclass(frozen=True, slots=True)
class FlapNotice:
    """Reported once when a key starts or stops flapping."""

    key: str
    rule_id: str
    ts: int
    flapping: bool
    transitions: int


def detect_flapping(
    transitions: Sequence[Transition], state: FlapState, *, count: int, window_ms: int
) -> tuple[FlapState, list[FlapNotice]]:
    """Report once when ``count`` opens/clears of one key fall within ``window_ms``.

    The notice ``flapping=False`` comes at the first open or clear after a quiet ``window_ms``,
    so a flapping episode is reported once at its start and once at its end, never per flap.
    """
    recent = list(state.recent)
    flapping = state.flapping
    notices: list[FlapNotice] = []
    for tr in transitions:
        if tr.kind == "update":
            continue
        if flapping and recent and tr.ts - recent[-1] > window_ms:
            flapping = False
            notices.append(FlapNotice(tr.key, tr.rule_id, tr.ts, False, 0))
        recent = [t for t in recent if tr.ts - t <= window_ms]
        recent.append(tr.ts)
        if not flapping and len(recent) >= count:
            flapping = True
            notices.append(FlapNotice(tr.key, tr.rule_id, tr.ts, True, len(recent)))
    # Only the last ``count`` times matter for the next batch: the state stays small.
    return FlapState(tuple(recent[-count:]), flapping), notices


# ---- params -------------------------------------------------------------------------------


class ParamsBase:
    """Mixin for kinds' frozen-dataclass params; ``problems`` adds cross-field checks."""

    __slots__ = ()

    def problems(self) -> list[tuple[str, str]]:
        """Return (param, message) pairs for combinations that make no sense."""
        return []


P = TypeVar("P", bound=ParamsBase)


@dataclass(frozen=True, slots=True)
class Resolved(Generic[P]):
    """One rule as it applies to one key: its ID, severity and effective params.

    Kinds take this as their ``params`` argument so that transitions carry the rule ID and the
    rule's base severity without the kind knowing about the rules file.
    """

    rule_id: str
    kind: str
    severity: Severity
    params: P
