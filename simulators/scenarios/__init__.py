"""Scenarios: simulators that declare the hazards they must produce (STYLE habit 10).

``SCENARIOS`` names every scenario; ``build`` makes one for a run (its tag, base time and
topic prefix). At least one scenario per rule kind, plus the late-data cases of DESIGN.md.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from simulators.scenarios import cases, facilities, hydrants, reports, smoke, transmission
from simulators.scenarios.base import Context
from simulators.scenarios.models import (
    ExpectedCase,
    ExpectedHazard,
    Mismatch,
    ObservedHazard,
    Publish,
    Scenario,
    Step,
    Sync,
    TerminalPlan,
    Tick,
    Transmit,
    compare,
)
from simulators.sensors import PREFIX

__all__ = [
    "SCENARIOS",
    "ExpectedCase",
    "ExpectedHazard",
    "Mismatch",
    "ObservedHazard",
    "Publish",
    "Scenario",
    "ScenarioSpec",
    "Step",
    "Sync",
    "TerminalPlan",
    "Tick",
    "Transmit",
    "UnknownScenarioError",
    "build",
    "compare",
]


class UnknownScenarioError(KeyError):
    """No scenario has this name."""


@dataclass(frozen=True, slots=True)
class ScenarioSpec:
    """A scenario's name, the rule kind it exercises, and how to build it."""

    name: str
    kind: str
    make: Callable[[Context], Scenario]

    @property
    def description(self) -> str:
        """Return the first line of the builder's docstring."""
        return (self.make.__doc__ or "").strip().split("\n")[0]


SCENARIOS: Final[Mapping[str, ScenarioSpec]] = {
    spec.name: spec
    for spec in (
        ScenarioSpec("hydrant_threshold", "threshold", hydrants.hydrant_threshold),
        ScenarioSpec("hydrant_drop", "sudden_drop", hydrants.hydrant_drop),
        ScenarioSpec("silence", "silence", smoke.silence),
        ScenarioSpec("device_events", "device_event", smoke.device_events),
        ScenarioSpec("confirmed_fire", "correlation", smoke.confirmed_fire),
        ScenarioSpec("smoke_with_drop", "correlation", smoke.smoke_with_drop),
        ScenarioSpec("false_alarms", "false_alarms", smoke.false_alarms),
        ScenarioSpec("extinguisher_dates", "dates", facilities.extinguisher_dates),
        ScenarioSpec("patrol", "patrol_compliance", facilities.patrol),
        ScenarioSpec("late_data", "threshold", hydrants.late_data),
        ScenarioSpec("worker_reports", "report", reports.worker_reports),
        ScenarioSpec("case_closed", "case", cases.case_closed),
        ScenarioSpec("case_unsigned", "case", cases.case_unsigned),
        ScenarioSpec("case_escalated", "case", cases.case_escalated),
        ScenarioSpec("gb26875_fire", "device_event", transmission.gb26875_fire),
        ScenarioSpec("gb26875_fault", "device_event", transmission.gb26875_fault),
        ScenarioSpec("gb26875_silence", "silence", transmission.gb26875_silence),
    )
}


def new_tag() -> str:
    """Return a fresh run tag (8 hex digits)."""
    return uuid.uuid4().hex[:8]


def build(
    name: str,
    *,
    tag: str,
    base: datetime | None = None,
    prefix: str = PREFIX,
    late_window: timedelta = timedelta(hours=1),
) -> Scenario:
    """Build scenario ``name`` for one run; ``base`` defaults to now, to the second."""
    spec = SCENARIOS.get(name)
    if spec is None:
        raise UnknownScenarioError(name)
    when = base or datetime.now(UTC).replace(microsecond=0)
    return spec.make(Context(tag=tag, base=when, prefix=prefix, late_window=late_window))
