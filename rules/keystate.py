"""A key's durable engine state: the kind's state, replay checkpoints, emitted transitions.

Kinds' states are small frozen dataclasses (``rules.models``); ``encode_state`` and
``decode_state`` turn them into JSON and back by their type hints (tuples, frozensets, nested
tuples, ``int | None``), so ``rule_state.state`` stays readable in psql.

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
from typing import Any, Final, TypeVar

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
    checkpoints: list[tuple[int, RuleState]] = field(default_factory=list)
    emitted: list[Emitted] = field(default_factory=list)
    flap: FlapState = field(default_factory=FlapState)

    @classmethod
    def fresh(cls, state: RuleState) -> KeyState:
        """Return the state of a key never seen: the empty state is its first checkpoint."""
        return cls(state, [(_INITIAL, state)])

    def to_json(self) -> dict[str, Any]:
        """Return the JSON stored in ``rule_state.state``."""
        return {
            "s": encode_state(self.state),
            "ck": [[ts, encode_state(s)] for ts, s in self.checkpoints],
            "em": [[e.ts, e.kind, e.severity] for e in self.emitted],
            "fl": {"recent": list(self.flap.recent), "flapping": self.flap.flapping},
        }

    @classmethod
    def from_json(cls, kind_state: type[RuleState], data: dict[str, Any]) -> KeyState:
        """Rebuild from ``to_json``'s output."""
        fl = data.get("fl", {})
        return cls(
            decode_state(kind_state, data["s"]),
            [(int(ts), decode_state(kind_state, s)) for ts, s in data.get("ck", [])],
            [Emitted(int(t), str(k), str(s)) for t, k, s in data.get("em", [])],
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
            self.checkpoints.append((last, self.state))

    def prune(self, *, late_window_ms: int) -> None:
        """Drop checkpoints and remembered transitions no late sample can need any more."""
        last = self.state.last_ts
        if last is None or not self.checkpoints:
            return
        edge = last - late_window_ms
        older = [i for i, (ts, _) in enumerate(self.checkpoints) if ts < edge]
        if older:
            self.checkpoints = self.checkpoints[older[-1] :]
        oldest = self.checkpoints[0][0]
        self.emitted = [e for e in self.emitted if e.ts > oldest][-MAX_EMITTED:]

    def record(self, transitions: Sequence[Transition]) -> None:
        """Remember transitions just emitted."""
        self.emitted.extend(Emitted.of(t) for t in transitions)


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
