"""Sudden-drop transitions as the synthetic events unit (correlation) rules see.

A unit rule may correlate a device event with a hydrant's pressure drop, which is not stored as
an event: it is a sudden-drop transition. Both the batch run (feeding this batch's drops) and a
unit key's replay (rebuilding them from the keys' emitted transitions) translate them the same
way, so the translation lives here, apart from either.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from rules.definitions import ResolvedRule, RuleDefinition
from rules.kinds.correlation import SYNTHETIC_EVENTS

# A sudden-drop transition as the synthetic event unit rules see (``update`` is not fed).
SYNTHETIC: Final = {"open": "pressure_drop", "clear": "pressure_restored"}


def wants_synthetic(rule: ResolvedRule) -> bool:
    """Say whether a correlation rule reads pressure-drop events among its types."""
    return rule.kind == "correlation" and bool(set(_types(rule)) & SYNTHETIC_EVENTS)


def drop_rules(rules: Sequence[RuleDefinition]) -> list[tuple[str, str]]:
    """Return (rule ID, metric) of the sudden-drop rules: their keys are ``device/metric``."""
    return [(r.id, str(getattr(r.params, "metric", ""))) for r in rules if r.kind == "sudden_drop"]


def _types(rule: ResolvedRule) -> tuple[str, ...]:
    p = rule.params
    return (
        tuple(getattr(p, "first", ()))
        + tuple(getattr(p, "second", ()))
        + tuple(getattr(p, "clear", ()))
    )
