"""The hazard lifecycle as pure logic: what one transition does to a (subject, rule)'s episodes.

A hazard is one episode of (subject, rule): ``open`` → ``acknowledged`` (by a person) →
``cleared`` (by the data). ``decide`` says what a transition does to the latest episode:

- ``open`` with no live episode starts episode n + 1; with one live, it is an occurrence
  (``occurrences`` + 1), never a second episode;
- ``update`` touches the live episode (severity, last value, occurrence), nothing otherwise;
- ``clear`` clears the live episode at the transition's device time;
- flapping: a ``FlapNotice`` arriving with a transition marks the episode ``flapping``; while it
  flaps, clears are held (the episode stays open and counts the flaps as occurrences) so an
  operator gets one hazard, notified once, not one per flap; the notice that flapping ended
  lets the transition it came with take effect;
- ``retract`` undoes a transition a late-data replay no longer produces: an open is cleared at
  its own opening time and marked ``retracted`` (never deleted: a case may hang on it), a clear
  is undone by reopening its episode.

The database sink (``hazards.sink``) and ``InMemorySink`` (replay, tests) run the same
``decide``; the database adds the unique constraints that make a double impossible.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from hazards.models import Severity, TransitionKind

SubjectType = Literal["device", "unit", "grid", "terminal", "report"]
Status = Literal["open", "acknowledged", "cleared"]
EventType = Literal["hazard.opened", "hazard.updated", "hazard.cleared"]


def subject_of(key: str) -> tuple[SubjectType, str]:
    """Return what a rule key is about: ``dev/metric`` and ``dev`` → device, ``unit:U`` → unit,
    ``report:R`` → a worker's hazard report."""
    for prefix, kind in (
        ("unit:", "unit"),
        ("grid:", "grid"),
        ("terminal:", "terminal"),
        ("report:", "report"),
    ):
        if key.startswith(prefix):
            return kind, key[len(prefix) :]  # type: ignore[return-value]
    return "device", key.split("/", 1)[0]


@dataclass(frozen=True, slots=True)
class HazardOp:
    """One thing the engine asks a sink to do: apply or retract a transition of (rule, key)."""

    action: Literal["apply", "retract"]
    rule_id: str
    kind: str
    key: str
    ts: int
    transition: TransitionKind
    severity: Severity
    value: float | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)
    flap: bool | None = None  # a flapping notice (True: started, False: ended) at this op

    @property
    def subject(self) -> tuple[SubjectType, str]:
        """Return (subject type, subject ID)."""
        return subject_of(self.key)


@dataclass(slots=True)
class HazardRecord:
    """One episode as the lifecycle sees it; times are device-time Unix ms."""

    rule_id: str
    kind: str
    key: str
    subject_type: SubjectType
    subject_id: str
    episode: int
    severity: Severity
    status: Status
    opened_at: int
    cleared_at: int | None = None
    occurrences: int = 1
    last_value: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    flapping: bool = False
    acknowledged: bool = False
    id: int | None = None

    @property
    def live(self) -> bool:
        """Return whether the episode is not cleared."""
        return self.status != "cleared"


@dataclass(frozen=True, slots=True)
class Change:
    """What ``decide`` wants written: the record (new when ``record.id`` is None) and its event."""

    record: HazardRecord
    event: EventType
    data: Mapping[str, Any]


def _touch(rec: HazardRecord, op: HazardOp, *, count: bool) -> HazardRecord:
    out = dataclasses.replace(rec, detail={**rec.detail, **op.detail})
    out.severity = op.severity
    out.last_value = op.value if op.value is not None else rec.last_value
    out.occurrences += 1 if count else 0
    if op.flap is not None:
        out.flapping = op.flap
    return out


def _retract(latest: HazardRecord | None, op: HazardOp) -> Change | None:
    if latest is None:
        return None
    if op.transition == "open" and latest.live and latest.opened_at == op.ts:
        rec = dataclasses.replace(latest, detail={**latest.detail, "retracted": True})
        rec.status, rec.cleared_at = "cleared", latest.opened_at
        return Change(rec, "hazard.cleared", {"retracted": True})
    if (
        op.transition == "clear"
        and not latest.live
        and latest.cleared_at == op.ts
        and not latest.detail.get("retracted")
    ):
        rec = dataclasses.replace(latest, detail=dict(latest.detail))
        rec.status = "acknowledged" if latest.acknowledged else "open"
        rec.cleared_at = None
        return Change(rec, "hazard.updated", {"reopened": True})
    return None


def _open(latest: HazardRecord | None, live: HazardRecord | None, op: HazardOp) -> Change:
    if live is not None:
        return Change(_touch(live, op, count=True), "hazard.updated", {"occurrence": True})
    subject_type, subject_id = op.subject
    rec = HazardRecord(
        op.rule_id,
        op.kind,
        op.key,
        subject_type,
        subject_id,
        latest.episode + 1 if latest is not None else 1,
        op.severity,
        "open",
        op.ts,
        last_value=op.value,
        detail=dict(op.detail),
        flapping=bool(op.flap),
    )
    return Change(rec, "hazard.opened", {})


def decide(latest: HazardRecord | None, op: HazardOp) -> Change | None:
    """Return what ``op`` does to the latest episode of its (subject, rule), or None: nothing."""
    if op.action == "retract":
        return _retract(latest, op)
    live = latest if latest is not None and latest.live else None
    if op.transition == "open":
        return _open(latest, live, op)
    if live is None:
        return None  # an update or clear with nothing open changes nothing
    if op.transition == "update":
        return Change(_touch(live, op, count=True), "hazard.updated", {})
    holding = (live.flapping and op.flap is not False) or op.flap is True
    if holding:
        rec = _touch(live, op, count=False)
        rec.severity = live.severity  # a held clear says nothing about how bad it is
        rec.detail["flap_cleared_at"] = op.ts
        data = {"flapping": True} if op.flap is True else {"held_clear": True}
        return Change(rec, "hazard.updated", data)
    rec = dataclasses.replace(live, detail={**live.detail, **op.detail})
    rec.status, rec.cleared_at, rec.flapping = "cleared", op.ts, False
    rec.last_value = op.value if op.value is not None else live.last_value
    return Change(rec, "hazard.cleared", {})


class HazardSink(Protocol):
    """Where the engine's hazard operations go: the database, or memory for replay and tests."""

    def apply(self, ops: Sequence[HazardOp]) -> None:
        """Apply operations in order; raising aborts the batch that produced them."""
        ...


class InMemorySink:
    """A sink keeping episodes in memory, with the same lifecycle as the database."""

    def __init__(self) -> None:
        self.episodes: dict[tuple[str, str, str], list[HazardRecord]] = {}
        self.events: list[tuple[EventType, HazardRecord]] = []

    def apply(self, ops: Sequence[HazardOp]) -> None:
        """Apply operations in order."""
        for op in ops:
            subject_type, subject_id = op.subject
            eps = self.episodes.setdefault((subject_type, subject_id, op.rule_id), [])
            change = decide(eps[-1] if eps else None, op)
            if change is None:
                continue
            rec = change.record
            if eps and eps[-1].episode == rec.episode:
                eps[-1] = rec
            else:
                eps.append(rec)
            self.events.append((change.event, rec))

    def hazards(self) -> list[HazardRecord]:
        """Return every episode, by opening time."""
        return sorted(
            (r for eps in self.episodes.values() for r in eps),
            key=lambda r: (r.opened_at, r.rule_id, r.key),
        )
