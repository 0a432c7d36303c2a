"""What a scenario is: registry rows, grids, a timeline on device time, and expected hazards.

A scenario is a simulator that knows what it must produce (STYLE habit 10): it says which
hazards FireGrid must hold for its subjects once the whole timeline has been ingested and the
rules have run, and the comparison here is exact: no hazard missing, none extra.

Times are offsets from a base time handed in by whoever runs the scenario (a test, or
``firegrid simulate``), so a scenario is deterministic for a given (tag, base) and its device
times sit just before the wall clock the broker and ingest see (ingest refuses samples more
than a few minutes in the future).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from simulators.models import SimMessage

About = Literal["device", "unit", "grid"]
Status = Literal["open", "acknowledged", "cleared"]


@dataclass(frozen=True, slots=True)
class ExpectedHazard:
    """One hazard episode a scenario must leave behind.

    ``subject`` is a device ID, a unit ID or a grid code, as ``about`` says. ``occurrences``
    and ``grid_code`` are checked only when given.
    """

    rule_id: str
    subject: str
    severity: str
    status: Status = "open"
    about: About = "device"
    occurrences: int | None = None
    grid_code: str | None = None


@dataclass(frozen=True, slots=True)
class ExpectedCase:
    """A case a scenario must leave behind, with the steps of its history in order.

    ``unit_id`` finds the case (one open case per unit and category); ``steps`` are the
    history's (action, actor) pairs, the system's own steps included (reminders only when
    ``steps`` names one: whether one is sent depends on how the sweep's clock moves).
    """

    unit_id: str
    category: str
    status: str
    assignee: str | None = None
    handled_by: str | None = None
    steps: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class TerminalPlan:
    """A worker's terminal the scenario runs, answering its inbox as ``behaviour`` says
    (``simulators.terminal_cases.Behaviour``: prompt, slow, forgetful)."""

    terminal_id: str
    staff_id: str
    behaviour: str = "prompt"
    delay_s: float = 30.0  # how long a ``slow`` worker takes to answer


@dataclass(frozen=True, slots=True)
class ObservedHazard:
    """A hazard as stored, reduced to what scenarios compare."""

    rule_id: str
    subject: str
    about: About
    severity: str
    status: str
    occurrences: int
    grid_code: str | None


@dataclass(frozen=True, slots=True)
class Publish:
    """Publish ``message``; ``at`` is its place on the timeline (device time minus base)."""

    at: timedelta
    message: SimMessage


@dataclass(frozen=True, slots=True)
class Sync:
    """Wait until everything published so far is committed, then run the rules over it."""


CHECKS = ("silence", "dates", "patrols")


@dataclass(frozen=True, slots=True)
class Tick:
    """Sync, then run the rules' clock-driven ``checks`` at base + ``at``.

    A scenario names only the checks it is about: a patrol check would otherwise find its grids
    unpatrolled, and the daily checks run once per China day in a database.
    """

    at: timedelta
    checks: tuple[str, ...] = CHECKS


TransmitWhat = Literal["fire_alarm", "fault", "power_failure", "pressure"]


@dataclass(frozen=True, slots=True)
class Transmit:
    """Send one GB/T 26875.3 frame from transmission device ``address`` over TCP to the gateway.

    ``zone`` and ``position`` name the part (a fire alarm, a fault, a hydrant's pressure of
    ``kpa``); a power failure is the device's own. The device waits for the confirm, which
    the gateway sends only once the frame is stored, so no wait for ingest follows.
    """

    at: timedelta
    address: int
    what: TransmitWhat
    zone: int = 1
    position: int = 1
    kpa: float = 0.0


Step = Publish | Sync | Tick | Transmit


@dataclass(frozen=True)
class Scenario:
    """A runnable scenario: rows to register, grids, a timeline and the hazards it must raise."""

    name: str
    description: str
    tag: str
    base: datetime
    units: list[dict[str, Any]] = field(default_factory=list)
    devices: list[dict[str, Any]] = field(default_factory=list)
    staff: list[dict[str, Any]] = field(default_factory=list)
    grids: dict[str, Any] | None = None
    timeline: list[Step] = field(default_factory=list)
    expected_hazards: list[ExpectedHazard] = field(default_factory=list)
    # Case scenarios: the terminals that answer their inbox, and the cases they must close.
    terminals: list[TerminalPlan] = field(default_factory=list)
    expected_cases: list[ExpectedCase] = field(default_factory=list)
    # Against a running FireGrid (``firegrid simulate``): the (category, urgency) of a case
    # whose sign deadline the run waits out.
    waits_for_sign: tuple[str, str] | None = None

    @property
    def device_ids(self) -> frozenset[str]:
        """Return the IDs of every device (terminals included) the scenario registers."""
        return frozenset(str(d["device_id"]) for d in self.devices)

    @property
    def unit_ids(self) -> frozenset[str]:
        """Return the IDs of the scenario's key units."""
        return frozenset(str(u["unit_id"]) for u in self.units)

    @property
    def report_ids(self) -> frozenset[str]:
        """Return the IDs of the hazard reports the timeline sends (subjects of their hazards)."""
        return frozenset(r.report_id for m in self.messages for r in m.expected_reports)

    @property
    def grid_codes(self) -> frozenset[str]:
        """Return the codes of the scenario's grids (the smallest level only)."""
        if self.grids is None:
            return frozenset()
        return frozenset(
            str(f["properties"]["code"])
            for f in self.grids["features"]
            if f["properties"]["level"] == "grid"
        )

    @property
    def messages(self) -> list[SimMessage]:
        """Return every message of the timeline, in order."""
        return [s.message for s in self.timeline if isinstance(s, Publish)]

    def at(self, offset: timedelta) -> datetime:
        """Return the absolute time of a timeline offset."""
        return self.base + offset

    @property
    def transmits(self) -> bool:
        """Return whether the timeline speaks to the GB/T 26875.3 gateway."""
        return any(isinstance(s, Transmit) for s in self.timeline)


@dataclass(frozen=True, slots=True)
class Mismatch:
    """How observed hazards (and cases) differ from expected ones; empty lists: they agree."""

    missing: list[ExpectedHazard]
    extra: list[ObservedHazard]
    cases: list[str] = field(default_factory=list)  # ``case_mismatches`` lines

    @property
    def ok(self) -> bool:
        """Return whether nothing is missing and nothing is extra."""
        return not self.missing and not self.extra and not self.cases

    def __str__(self) -> str:
        """Describe the difference line by line, for test failures and the CLI."""
        lines = [f"missing: {e}" for e in self.missing]
        lines += [f"extra:   {o}" for o in self.extra]
        lines += [f"case:    {c}" for c in self.cases]
        return "\n".join(lines) or "hazards as expected"


def _matches(expected: ExpectedHazard, seen: ObservedHazard) -> bool:
    return (
        expected.rule_id == seen.rule_id
        and expected.subject == seen.subject
        and expected.about == seen.about
        and expected.severity == seen.severity
        and expected.status == seen.status
        and expected.occurrences in (None, seen.occurrences)
        and expected.grid_code in (None, seen.grid_code)
    )


def compare(expected: Sequence[ExpectedHazard], observed: Iterable[ObservedHazard]) -> Mismatch:
    """Pair expected with observed hazards one to one; return what is left on either side.

    Exact expectations are paired first so a loose one (no occurrences, no grid) cannot take
    the hazard an exact one needed.
    """
    left = list(observed)
    missing: list[ExpectedHazard] = []
    ordered = sorted(expected, key=lambda e: (e.occurrences is None) + (e.grid_code is None))
    for exp in ordered:
        hit = next((i for i, seen in enumerate(left) if _matches(exp, seen)), None)
        if hit is None:
            missing.append(exp)
        else:
            left.pop(hit)
    return Mismatch(missing, left)


def summary(hazards: Iterable[ObservedHazard | ExpectedHazard]) -> dict[str, int]:
    """Count hazards per ``rule_id/status``, for progress output."""
    return dict(Counter(f"{h.rule_id}/{h.status}" for h in hazards))


@dataclass(frozen=True, slots=True)
class ObservedCase:
    """A case as stored, reduced to what scenarios compare."""

    case_id: str
    unit_id: str | None
    category: str
    status: str
    assignee: str | None
    handled_by: str | None
    steps: tuple[tuple[str, str], ...]


def case_mismatches(
    expected: Sequence[ExpectedCase], observed: Iterable[ObservedCase]
) -> list[str]:
    """Return how observed cases differ from expected ones, one line each; empty: they agree.

    Each expected case is looked up by unit and category; an observed case nobody expected is
    a difference too (a storm must not become two cases).
    """
    left = list(observed)
    lines: list[str] = []
    for exp in expected:
        hits = [o for o in left if (o.unit_id, o.category) == (exp.unit_id, exp.category)]
        if len(hits) != 1:
            lines.append(f"{len(hits)} cases for {exp.unit_id}/{exp.category}, expected 1")
            continue
        seen = hits[0]
        left.remove(seen)
        for name in ("status", "assignee", "handled_by", "steps"):
            want, got = getattr(exp, name), getattr(seen, name)
            if name == "steps" and not any(action == "remind" for action, _ in want):
                # A reminder is the sweep's clock's doing: one that first looks after the
                # deadline (a test's clock jumping) sends none, a live one sends it before.
                got = tuple(step for step in got if step[0] != "remind")
            if want is not None and want not in ((), got):
                lines.append(f"{seen.case_id} {name}: expected {_shown(want)}, got {_shown(got)}")
    lines += [
        f"extra: {o.case_id} for {o.unit_id}/{o.category}, {o.status}, steps {_shown(o.steps)}"
        for o in left
    ]
    return lines


def _shown(value: object) -> str:
    """Write a case field for a person: steps as ``sign by W1 → close by system``."""
    if isinstance(value, tuple):
        return " → ".join(f"{action} by {actor}" for action, actor in value) or "none"
    return "nobody" if value is None else str(value)


HAZARD_FIELDS = ("rule_id", "subject", "about", "severity", "status", "occurrences", "grid_code")


def paired(mismatch: Mismatch) -> list[tuple[ExpectedHazard | None, ObservedHazard | None]]:
    """Return the hazard differences as (expected, observed) pairs, for a side-by-side table.

    A missing hazard is paired with the extra one about the same subject and rule (else the
    same subject), which is most likely the same hazard with a field wrong; what is left stays
    alone on its side.
    """
    extra = list(mismatch.extra)
    out: list[tuple[ExpectedHazard | None, ObservedHazard | None]] = []
    for exp in mismatch.missing:
        near = [o for o in extra if (o.subject, o.rule_id) == (exp.subject, exp.rule_id)]
        near = near or [o for o in extra if o.subject == exp.subject]
        if near:
            extra.remove(near[0])
        out.append((exp, near[0] if near else None))
    out += [(None, o) for o in extra]
    return out


def differs(expected: ExpectedHazard, observed: ObservedHazard, name: str) -> bool:
    """Tell whether field ``name`` of ``observed`` fails ``expected`` (None expects anything)."""
    want = getattr(expected, name)
    return want is not None and want != getattr(observed, name)
