"""A key's durable engine state: the kind's state, replay checkpoints, emitted transitions.

Kinds' states are small frozen dataclasses (``rules.models``); ``encode_state`` and
``decode_state`` turn them into JSON and back by their type hints (tuples, frozensets, nested
tuples, ``int | None``), so ``rule_state.state`` stays readable in psql. The database store uses
the column codec (``column_json``, ``from_columns``): the same JSON, made by msgspec, which is
some 20 times faster than walking the type hints in Python, one column per part so a part that
did not change is not written again.

A ``KeyState``'s lists are never changed in place, only replaced: a shallow ``copy`` is then a
snapshot (the state cache keeps one while the engine works on another), and ``is`` tells the
store which parts changed.

Late data (DESIGN "device time, explicit lateness"): before a key evaluates a new batch, its
current state becomes a checkpoint when the newest one is ``checkpoint_every_ms`` old. Pruning
keeps every checkpoint newer than ``last_ts - late_window_ms`` plus the newest one older, so a
late sample inside the window always has a checkpoint strictly before it. ``emitted`` holds
the transitions raised since the oldest checkpoint: a replay from a checkpoint is diffed
against them (``diff_transitions``) so hazards are reconciled, not raised twice.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeVar

import msgspec

from rules.models import FlapState, RuleState, Transition

# Transitions a key remembers for reconciliation; a flapping key past this replays partially.
MAX_EMITTED: Final = 200
_INITIAL: Final = -(2**62)  # "before everything": the empty state's checkpoint time
S = TypeVar("S", bound=RuleState)


def encode_value(value: Any) -> Any:
    """Return ``value`` as JSON-ready data (tuples and frozensets become sorted/ordered lists)."""
    if isinstance(value, frozenset | set):
        return sorted(encode_value(v) for v in value)
    if isinstance(value, tuple | list):
        return [encode_value(v) for v in value]
    return value


def encode_state(state: RuleState) -> dict[str, Any]:
    """Return a kind's state as a JSON object."""
    return {f.name: encode_value(getattr(state, f.name)) for f in dataclasses.fields(state)}


def _decode(value: Any, hint: Any) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if value is None:
        return None
    if origin in (types.UnionType, typing.Union):
        return _decode(value, next(a for a in args if a is not type(None)))
    if origin is frozenset:
        return frozenset(_decode(v, args[0]) for v in value)
    if origin is tuple:
        hints = [args[0]] * len(value) if len(args) == 2 and args[1] is Ellipsis else args
        return tuple(_decode(v, a) for v, a in zip(value, hints, strict=True))
    return float(value) if hint is float else value


def decode_state(cls: type[S], data: dict[str, Any]) -> S:
    """Rebuild a kind's state from ``encode_state``'s JSON (unknown fields ignored)."""
    hints = _hints(cls)  # type: ignore[arg-type]  # classes are hashable
    return cls(**{k: _decode(v, hints[k]) for k, v in data.items() if k in hints})


@functools.cache
def _hints(cls: type[RuleState]) -> dict[str, Any]:
    """Return a state class's field types (resolving them is slow; a batch decodes thousands)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in typing.get_type_hints(cls).items() if k in names}


Part = Literal["state", "checkpoints", "emitted", "flap"]
PARTS: Final[tuple[Part, ...]] = ("state", "checkpoints", "emitted", "flap")
# Sorted sets keep the stored JSON stable (and equal to ``encode_state``'s).
_ENCODER: Final = msgspec.json.Encoder(order="deterministic")


@functools.cache
def _decoders(cls: type[RuleState]) -> tuple[msgspec.json.Decoder[Any], msgspec.json.Decoder[Any]]:
    """Return (state, checkpoints) decoders of a kind's state class."""
    return msgspec.json.Decoder(cls), msgspec.json.Decoder(tuple[tuple[int, cls], ...])  # type: ignore[valid-type]


_EMITTED: Final = msgspec.json.Decoder(list[tuple[int, str, str]])
_NO_FLAP: Final = FlapState()
_FLAP: Final = msgspec.json.Decoder(FlapState)


@dataclass(frozen=True, slots=True)
class Emitted:
    """A transition as remembered for reconciliation: when, what, how severe."""

    ts: int
    kind: str
    severity: str

    @classmethod
    def of(cls, tr: Transition) -> Emitted:
        """Remember ``tr``."""
        return cls(tr.ts, tr.kind, tr.severity.value)


@dataclass(slots=True)
class KeyState:
    """Everything the engine keeps for one (rule, key); mutable while a batch is evaluated."""

    state: RuleState
    # Tuples, replaced and never changed: shared safely, and the empty ones cost nothing.
    checkpoints: tuple[tuple[int, RuleState], ...] = ()
    emitted: tuple[Emitted, ...] = ()
    flap: FlapState = _NO_FLAP
    # Whether the database has a row, and the parts it holds (as last written or read): the
    # store writes only the parts replaced since (lists are replaced, never changed in place).
    # Plain fields, not a tuple: a batch would allocate one per key for the GC to track.
    has_row: bool = field(default=False, compare=False, repr=False)
    _row_ck: object = field(default=None, compare=False, repr=False)
    _row_em: object = field(default=None, compare=False, repr=False)
    _row_fl: object = field(default=None, compare=False, repr=False)

    def mark_stored(self) -> None:
        """Note that the database row now holds this state's parts."""
        self.has_row = True
        self._row_ck, self._row_em, self._row_fl = self.checkpoints, self.emitted, self.flap

    def dirty(self) -> bool:
        """Return whether more than the kind's state differs from the database row."""
        return (
            not self.has_row
            or self._row_ck is not self.checkpoints
            or self._row_em is not self.emitted
            or self._row_fl is not self.flap
        )

    def state_json(self) -> str:
        """Return the kind's state as the JSON text of its column."""
        return _ENCODER.encode(self.state).decode()

    def changed(self, part: Part) -> bool:
        """Return whether ``part`` differs from what the database row holds."""
        if not self.has_row or part == "state":
            return True
        if part == "checkpoints":
            return self._row_ck is not self.checkpoints
        if part == "emitted":
            return self._row_em is not self.emitted
        return self._row_fl is not self.flap

    @classmethod
    def fresh(cls, state: RuleState) -> KeyState:
        """Return the state of a key never seen: the empty state is its first checkpoint."""
        return cls(state, ((_INITIAL, state),))

    def to_json(self) -> dict[str, Any]:
        """Return the JSON stored in ``rule_state.state``."""
        return {
            "s": encode_state(self.state),
            "ck": [[ts, encode_state(s)] for ts, s in self.checkpoints],
            "em": [[e.ts, e.kind, e.severity] for e in self.emitted],
            "fl": {"recent": list(self.flap.recent), "flapping": self.flap.flapping},
        }

    def copy(self) -> KeyState:
        """Return a snapshot (lists are replaced, never changed in place, so sharing is safe)."""
        return KeyState(
            self.state,
            self.checkpoints,
            self.emitted,
            self.flap,
            self.has_row,
            self._row_ck,
            self._row_em,
            self._row_fl,
        )

    def column_json(self, part: Part) -> bytes:
        """Return one part as the JSON of its ``rule_state`` column."""
        if part == "state":
            return _ENCODER.encode(self.state)
        if part == "checkpoints":
            return _ENCODER.encode(self.checkpoints)
        if part == "emitted":
            return _ENCODER.encode([(e.ts, e.kind, e.severity) for e in self.emitted])
        return _ENCODER.encode(self.flap)

    @classmethod
    def from_columns(
        cls,
        kind_state: type[RuleState],
        state: bytes,
        checkpoints: bytes,
        emitted: bytes,
        flap: bytes,
    ) -> KeyState:
        """Rebuild from the ``rule_state`` columns ``column_json`` wrote."""
        dec_state, dec_ck = _decoders(kind_state)  # type: ignore[arg-type]  # hashable classes
        em = _EMITTED.decode(emitted)
        ks = cls(
            dec_state.decode(state),
            dec_ck.decode(checkpoints),
            tuple(Emitted(t, k, s) for t, k, s in em),
            _FLAP.decode(flap),
        )
        ks.mark_stored()
        return ks

    @classmethod
    def from_json(cls, kind_state: type[RuleState], data: dict[str, Any]) -> KeyState:
        """Rebuild from ``to_json``'s output."""
        fl = data.get("fl", {})
        return cls(
            decode_state(kind_state, data["s"]),
            tuple((int(ts), decode_state(kind_state, s)) for ts, s in data.get("ck", [])),
            tuple(Emitted(int(t), str(k), str(s)) for t, k, s in data.get("em", [])),
            FlapState(tuple(int(t) for t in fl.get("recent", [])), bool(fl.get("flapping"))),
        )

    def checkpoint_before(self, ts: int) -> tuple[int, RuleState] | None:
        """Return the newest checkpoint strictly before ``ts`` (None: none is old enough)."""
        older = [c for c in self.checkpoints if c[0] < ts]
        return older[-1] if older else None

    def maybe_checkpoint(self, *, every_ms: int) -> None:
        """Keep the current state as a checkpoint when the newest one is ``every_ms`` old."""
        last = self.state.last_ts
        if last is None:
            return
        if not self.checkpoints or last - self.checkpoints[-1][0] >= every_ms:
            self.checkpoints = (*self.checkpoints, (last, self.state))

    def prune(self, *, late_window_ms: int) -> None:
        """Drop checkpoints and remembered transitions no late sample can need any more."""
        last = self.state.last_ts
        if last is None or not self.checkpoints:
            return
        edge = last - late_window_ms
        cks = self.checkpoints
        # Checkpoints are in time order: keep from the newest one older than the edge.
        keep = 0
        while keep + 1 < len(cks) and cks[keep + 1][0] < edge:
            keep += 1
        if keep:
            self.checkpoints = cks[keep:]
        if self.emitted:  # left as it is (the same list) when nothing is dropped
            oldest = self.checkpoints[0][0]
            kept = tuple(e for e in self.emitted if e.ts > oldest)[-MAX_EMITTED:]
            if len(kept) != len(self.emitted):
                self.emitted = kept

    def record(self, transitions: Sequence[Transition]) -> None:
        """Remember transitions just emitted."""
        if transitions:
            self.emitted = (*self.emitted, *(Emitted.of(t) for t in transitions))


def diff_transitions(
    old: Sequence[Emitted], new: Sequence[Transition]
) -> tuple[list[Emitted], list[Transition]]:
    """Return (old transitions to retract, newest first; new ones to apply) after a replay.

    Both sequences start from the same checkpoint; their common prefix already took effect and
    is skipped, so reconciling a replay that changed nothing does nothing (idempotence).
    """
    i = 0
    while i < len(old) and i < len(new) and old[i] == Emitted.of(new[i]):
        i += 1
    return list(reversed(old[i:])), list(new[i:])
