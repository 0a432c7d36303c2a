"""Grid workers' hazard reports to hazards: one hazard per report, severity by category.

A report (CONTRACT §1) is a person's judgement, not a measurement: it opens a hazard at once,
keyed ``report:<report_id>`` so two reports are two hazards and the same report is never two
(the database adds a unique index on it). Nothing in the data clears it: the hazard stays open
until people acknowledge and clear it, so this kind only ever emits ``open``.

The engine hands over the batch's new reports already located in the grid (the grid codes are
None outside every grid, which the detail says as ``outside: true``). The kind keeps no state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from devices.models import REPORT_CATEGORIES
from hazards.models import Severity
from rules.models import ParamsBase, Resolved, RuleState, Transition

KEY_PREFIX = "report:"

SeverityName = Literal["info", "warning", "major", "critical"]


@dataclass(frozen=True)
class ReportParams(ParamsBase):
    """Params of a report rule: severity per report category (others: the rule's severity)."""

    severities: Mapping[str, SeverityName] = field(default_factory=dict)

    def problems(self) -> list[tuple[str, str]]:
        """Return categories CONTRACT §1 does not know."""
        return [
            ("severities", f"unknown report category {c!r}")
            for c in self.severities
            if c not in REPORT_CATEGORIES
        ]


@dataclass(frozen=True, slots=True)
class ReportState(RuleState):
    """Nothing to remember: each report is its own key, raised once."""


@dataclass(frozen=True, slots=True)
class LocatedReport:
    """A stored report with its WGS-84 position and where it lies (codes None: outside)."""

    report_id: str
    terminal_id: str
    ts: int  # device time, Unix ms
    category: str
    description: str
    photos: tuple[str, ...]
    unit_id: str | None
    lat: float
    lon: float
    grid_code: str | None = None
    community_code: str | None = None
    street_code: str | None = None
    grid_version: int | None = None

    @property
    def key(self) -> str:
        """Return the hazard key of this report."""
        return KEY_PREFIX + self.report_id


def evaluate(
    reports: Sequence[LocatedReport], state: ReportState, rule: Resolved[ReportParams]
) -> tuple[ReportState, list[Transition]]:
    """Open one hazard per report, in device-time order."""
    out: list[Transition] = []
    for r in sorted(reports, key=lambda r: (r.ts, r.report_id)):
        named = rule.params.severities.get(r.category)
        detail = {
            "report_id": r.report_id,
            "terminal_id": r.terminal_id,
            "category": r.category,
            "description": r.description,
            "photos": list(r.photos),
            "unit_id": r.unit_id,
            "outside": r.grid_code is None,
        }
        severity = rule.severity if named is None else Severity(named)
        out.append(Transition(r.key, rule.rule_id, r.ts, "open", severity, None, detail))
    return state, out
