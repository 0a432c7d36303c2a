"""Rule definitions and overrides as validated objects, and their resolution per device or unit.

Effective params for a device merge, least to most specific: the rule's params, then
``hydrant_class``, ``model``, ``unit`` overrides, then the device's own registry thresholds
(``threshold.<rule_id>`` cells set the kind's primary param), then ``device`` overrides in the
rules file. Reading and validating that YAML file into a ``RuleSet`` is ``rules.rules_file``:
resolution runs on every batch, the line-numbered validation only when a file is (re)loaded.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from hazards.models import Severity
from rules.exceptions import RulesError
from rules.kinds import KINDS, parse_params
from rules.models import AppliesTo, DeviceContext, ParamsBase, Resolved

RULE_ID: Final = re.compile(r"[a-z][a-z0-9_]{0,63}")
SCOPES: Final = ("hydrant_class", "model", "unit", "device")  # least to most specific

Scope = Literal["hydrant_class", "model", "unit", "device"]
ResolvedRule = Resolved[Any]


class RuleResolveError(RulesError):
    """Overrides combined for one device give params a kind refuses."""

    def __init__(self, device_id: str, rule_id: str, problems: list[tuple[str, str]]) -> None:
        self.device_id, self.rule_id, self.problems = device_id, rule_id, problems
        text = "; ".join(f"params.{k}: {m}" for k, m in problems)
        super().__init__(f"device {device_id}, rule {rule_id}: {text}")


@dataclass(frozen=True, slots=True)
class RuleDefinition:
    """One rule as written, with its validated default params."""

    id: str
    kind: str
    severity: Severity
    applies_to: AppliesTo
    raw_params: Mapping[str, Any]
    params: ParamsBase
    line: int


@dataclass(frozen=True, slots=True)
class Override:
    """Changes to one rule for one scope (a device, unit, model or hydrant class)."""

    scope: Scope
    match: str
    rule_id: str
    params: Mapping[str, Any]
    severity: Severity | None
    enabled: bool | None
    line: int


@dataclass(frozen=True, slots=True)
class RuleSet:
    """A validated rules file; ``digest`` is the SHA-256 of its bytes."""

    rules: tuple[RuleDefinition, ...]
    overrides: tuple[Override, ...]
    source: str
    digest: str

    def get(self, rule_id: str) -> RuleDefinition:
        """Return the rule with ``rule_id`` or raise KeyError."""
        return {r.id: r for r in self.rules}[rule_id]

    def _resolve(
        self,
        rule: RuleDefinition,
        key: str,
        scopes: Mapping[str, str | None],
        thresholds: Mapping[str, float],
    ) -> ResolvedRule | None:
        """Merge the overrides matching ``scopes`` into ``rule``; None when it is disabled."""
        merged, severity, enabled = dict(rule.raw_params), rule.severity, True
        primary = KINDS[rule.kind].primary
        for scope in SCOPES:
            found = [
                o
                for o in self.overrides
                if o.rule_id == rule.id and o.scope == scope and o.match == scopes.get(scope)
            ]
            if scope == "device" and primary is not None and rule.id in thresholds:
                # The registry's own per-device value, below this file's device overrides.
                merged[primary] = thresholds[rule.id]
            for o in found:
                merged.update(o.params)
                severity = o.severity or severity
                enabled = enabled if o.enabled is None else o.enabled
        params, problems = parse_params(KINDS[rule.kind].params, merged)
        if params is None:
            raise RuleResolveError(key, rule.id, problems)
        return Resolved(rule.id, rule.kind, severity, params) if enabled else None

    def resolve(self, device: DeviceContext) -> list[ResolvedRule]:
        """Return the device rules for ``device`` with its effective severity and params.

        Unit rules (correlation, false alarms) come from ``resolve_unit``, grid rules from
        ``of_subject("grid")``; ``rule.applies_to.matches(device)`` says which devices feed them.
        Raises RuleResolveError when overrides combine into params the kind refuses.
        """
        scopes = {
            "hydrant_class": device.hydrant_class,
            "model": device.model,
            "unit": device.unit_id,
            "device": device.device_id,
        }
        out = [
            self._resolve(rule, device.device_id, scopes, device.thresholds)
            for rule in self.rules
            if KINDS[rule.kind].subject == "device" and rule.applies_to.matches(device)
        ]
        return [r for r in out if r is not None]

    def resolve_unit(self, unit_id: str) -> list[ResolvedRule]:
        """Return the unit rules (correlation, false alarms) as overridden for one unit."""
        out = [
            self._resolve(rule, f"unit:{unit_id}", {"unit": unit_id}, {})
            for rule in self.rules
            if KINDS[rule.kind].subject == "unit"
        ]
        return [r for r in out if r is not None]

    def of_subject(self, subject: str) -> list[ResolvedRule]:
        """Return the rules of one subject (``grid`` for patrol compliance) with default params."""
        return [
            Resolved(r.id, r.kind, r.severity, r.params)
            for r in self.rules
            if KINDS[r.kind].subject == subject
        ]
