"""Silence: a device not heard for more than ``missed`` × its heartbeat; whole groups as one.

Unlike the per-key kinds this one judges a snapshot of many devices at once, because silence is
the absence of data: the engine passes, as DATA, each device's last device time, last receive
time, heartbeat and group (unit or area), and ``now`` (the engine's watermark when replaying).
Silence is measured from the later of the two last-seen times: a device whose clock runs slow
still talks, and the receive time is on the same clock as ``now``.

Grouping (``group_silent``): when at least ``group_min_devices`` devices AND
``group_min_fraction`` of a group are silent (a gateway or the unit's power is down), the group
gets ONE hazard keyed ``<group_prefix><group>`` and no new per-device hazards open inside it.
Device hazards already open stay open until their device is heard: clearing them on a merge
would tell an operator something was fixed when nothing was.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from rules.exceptions import RulesError
from rules.models import (
    I64,
    MS_PER_S,
    BoolArray,
    ParamsBase,
    Resolved,
    RuleState,
    StrArray,
    Transition,
)


@dataclass(frozen=True)
class SilenceParams(ParamsBase):
    """Params of a silence rule; ``default_heartbeat_s`` serves devices without their own."""

    missed: float = 3.0
    default_heartbeat_s: float = 86_400.0
    group_min_devices: int = 3
    group_min_fraction: float = 0.8
    group_prefix: str = "unit:"

    def problems(self) -> list[tuple[str, str]]:
        """Return out-of-range params."""
        out: list[tuple[str, str]] = []
        if self.missed <= 0:
            out.append(("missed", "must be more than zero"))
        if self.default_heartbeat_s <= 0:
            out.append(("default_heartbeat_s", "must be more than zero"))
        if self.group_min_devices < 1:
            out.append(("group_min_devices", "must be 1 or more"))
        if not 0 < self.group_min_fraction <= 1:
            out.append(("group_min_fraction", "must be in (0, 1]"))
        return out


@dataclass(frozen=True, slots=True, eq=False)
class SilenceSnapshot:
    """Every device the rule watches, as of ``now`` (Unix ms, passed in, never read here).

    ``last_device_ts``/``last_received`` use -1 for "never"; ``heartbeat_s`` uses 0 for "the
    rule's default"; ``group`` is the unit or area ID ('' for none). A device never heard counts
    from ``since`` (its installation, or when the engine started watching it).
    """

    now: int
    device: StrArray
    group: StrArray
    last_device_ts: I64
    last_received: I64
    heartbeat_s: npt.NDArray[np.float64]
    since: I64

    @classmethod
    def build(
        cls,
        *,
        now: int,
        device: Sequence[str],
        group: Sequence[str],
        last_device_ts: npt.ArrayLike,
        last_received: npt.ArrayLike,
        heartbeat_s: npt.ArrayLike,
        since: npt.ArrayLike,
    ) -> SilenceSnapshot:
        """Build a snapshot, checking that every array has one entry per device."""
        snap = cls(
            now,
            np.asarray(list(device), dtype=object),
            np.asarray(list(group), dtype=object),
            np.asarray(last_device_ts, np.int64),
            np.asarray(last_received, np.int64),
            np.asarray(heartbeat_s, np.float64),
            np.asarray(since, np.int64),
        )
        n = snap.device.size
        sizes = {
            a.size
            for a in (
                snap.group,
                snap.last_device_ts,
                snap.last_received,
                snap.heartbeat_s,
                snap.since,
            )
        }
        if sizes != {n}:
            raise RulesError("silence snapshot arrays must have one entry per device")
        return snap


@dataclass(frozen=True, slots=True)
class SilenceState(RuleState):
    """Devices and groups whose silence hazard is open; ``last_ts`` is the last ``now``."""

    open_devices: frozenset[str] = frozenset()
    open_groups: frozenset[str] = frozenset()


def silent_mask(snap: SilenceSnapshot, p: SilenceParams) -> BoolArray:
    """Return which devices have been silent for more than ``missed`` heartbeats at ``now``."""
    heard = np.maximum(np.maximum(snap.last_device_ts, snap.last_received), snap.since)
    beat_ms = np.where(snap.heartbeat_s > 0, snap.heartbeat_s, p.default_heartbeat_s) * MS_PER_S
    return (snap.now - heard) > p.missed * beat_ms


def group_silent(snap: SilenceSnapshot, silent: BoolArray, p: SilenceParams) -> frozenset[str]:
    """Return the groups where enough devices are silent to call the whole group silent."""
    named = snap.group != ""
    if not bool(named.any()):
        return frozenset()
    names, inverse = np.unique(snap.group[named].astype(str), return_inverse=True)
    total = np.bincount(inverse, minlength=names.size)
    quiet = np.bincount(inverse, weights=silent[named], minlength=names.size)
    down = (quiet >= p.group_min_devices) & (quiet >= p.group_min_fraction * total)
    return frozenset(names[down].tolist())


def evaluate(
    snap: SilenceSnapshot, state: SilenceState, rule: Resolved[SilenceParams]
) -> tuple[SilenceState, list[Transition]]:
    """Judge the snapshot at ``snap.now``; return the new state and transitions."""
    if state.last_ts is not None and snap.now < state.last_ts:
        raise RulesError(f"silence snapshot at {snap.now} ms is before {state.last_ts} ms")
    p = rule.params
    silent = silent_mask(snap, p)
    down = group_silent(snap, silent, p)
    in_down = (
        np.isin(snap.group, np.asarray(sorted(down), dtype=object)) if down else silent & False
    )
    silent_ids = frozenset(snap.device[silent].tolist())
    # New device hazards only outside silent groups; open ones clear only when heard again.
    opens = frozenset(snap.device[silent & ~in_down].tolist()) - state.open_devices
    clears = state.open_devices - silent_ids
    heard = dict(
        zip(
            snap.device.tolist(),
            np.maximum(snap.last_device_ts, snap.last_received).tolist(),
            strict=True,
        )
    )
    out: list[Transition] = []
    for g in sorted(down - state.open_groups):
        members = int(np.count_nonzero(snap.group == g))
        quiet = int(np.count_nonzero(silent & (snap.group == g)))
        out.append(
            Transition(
                p.group_prefix + g,
                rule.rule_id,
                snap.now,
                "open",
                rule.severity,
                None,
                {"silent": quiet, "devices": members},
            )
        )
    out.extend(
        Transition(p.group_prefix + g, rule.rule_id, snap.now, "clear", rule.severity)
        for g in sorted(state.open_groups - down)
    )
    out.extend(
        Transition(
            d, rule.rule_id, snap.now, "open", rule.severity, None, {"last_seen": heard.get(d, -1)}
        )
        for d in sorted(opens)
    )
    present = frozenset(snap.device.tolist())
    out.extend(
        Transition(
            d,
            rule.rule_id,
            snap.now,
            "clear",
            rule.severity,
            None,
            {"reason": "heard" if d in present else "not_watched"},
        )
        for d in sorted(clears)
    )
    return SilenceState(snap.now, (state.open_devices | opens) - clears, down), out
