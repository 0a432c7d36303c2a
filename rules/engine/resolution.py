"""What a batch evaluation reads from the engine: its config and each device's resolved rules.

``RuleBook`` is the engine as the evaluators see it (``rules.engine.evaluate``,
``rules.engine.batch_run``), so they need not import ``rules.engine.core``, which imports them.
"""

from __future__ import annotations

from typing import Protocol

from rules.definitions import ResolvedRule, RuleSet
from rules.engine.types import EngineConfig
from rules.kinds import KINDS
from rules.models import DeviceContext

Keyed = list[tuple[ResolvedRule, str]]  # a rule and its group key (rule ID + params)


class Resolution:
    """A device's resolved rules, with the series rules per metric looked up once."""

    __slots__ = ("_series", "keyed", "rules")

    def __init__(self, rules: list[ResolvedRule]) -> None:
        self.rules = rules
        self.keyed: Keyed = [(r, r.rule_id + repr(r.params)) for r in rules]
        self._series: dict[str, Keyed] = {}

    def series(self, metric: str) -> Keyed:
        """Return the series rules reading ``metric``."""
        hit = self._series.get(metric)
        if hit is None:
            hit = [
                (r, g)
                for r, g in self.keyed
                if KINDS[r.kind].input == "series" and r.params.metric == metric
            ]
            self._series[metric] = hit
        return hit


class RuleBook(Protocol):
    """The engine's rules and config, as a batch evaluation reads them."""

    @property
    def config(self) -> EngineConfig:
        """Return the engine's config."""
        ...

    @property
    def rules(self) -> RuleSet:
        """Return the rule set in force."""
        ...

    def resolution(self, ctx: DeviceContext) -> Resolution:
        """Return a device's resolved rules, cached per registry signature."""
        ...

    def resolved(self, ctx: DeviceContext) -> list[ResolvedRule]:
        """Return the rules that apply to a device."""
        ...

    def unit_rules(self, unit_id: str) -> list[ResolvedRule]:
        """Return the unit-scoped rules for a key unit."""
        ...

    def report_rules(self) -> list[ResolvedRule]:
        """Return the rules that read grid workers' reports."""
        ...
