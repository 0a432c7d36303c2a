"""Which hazards open a case: the table in ``case_rules.yaml`` (or a local file), and its match.

Configuration, not code: an operator adds a row to make a new kind of hazard a case. The
matching is pure; the file is read once at start (a bad file refuses to start, naming why).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from dispatch.exceptions import CaseRulesError
from dispatch.models import CATEGORIES, Urgency
from hazards.models import Severity

__all__ = ["DEFAULT_PATH", "FROM_REPORT", "CaseRule", "CaseRules", "Match", "load_case_rules"]

DEFAULT_PATH: Final = Path(__file__).with_name("case_rules.yaml")
FROM_REPORT: Final = "from_report"


class CaseRule(BaseModel):
    """One row: what it matches and the case it opens."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rule: str | None = None
    rule_prefix: str | None = None
    kind: str | None = None
    min_severity: Severity | None = None
    category: str
    urgency: Urgency = "normal"
    confirmed_fire: bool = False

    @model_validator(mode="after")
    def _check(self) -> CaseRule:
        if self.category != FROM_REPORT and self.category not in CATEGORIES:
            raise ValueError(f"category {self.category!r} is not a CONTRACT §1 category")
        if self.rule is None and self.rule_prefix is None and self.kind is None:
            raise ValueError("a row must match on rule, rule_prefix or kind")
        return self


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cases: list[CaseRule]


@dataclass(frozen=True, slots=True)
class Match:
    """The case a hazard opens or joins."""

    category: str
    urgency: Literal["urgent", "normal"]
    confirmed_fire: bool


@dataclass(frozen=True, slots=True)
class CaseRules:
    """The loaded table."""

    rows: Sequence[CaseRule]

    def match(self, hazard: Mapping[str, Any]) -> Match | None:
        """Return the case a hazard row (``hazards`` columns) opens, or None."""
        rule_id = str(hazard.get("rule_id", ""))
        severity = Severity(hazard.get("severity", "info"))
        for row in self.rows:
            if row.rule is not None and row.rule != rule_id:
                continue
            if row.rule_prefix is not None and not rule_id.startswith(row.rule_prefix):
                continue
            if row.kind is not None and row.kind != hazard.get("kind"):
                continue
            if row.min_severity is not None and severity.rank < row.min_severity.rank:
                continue
            category = row.category
            if category == FROM_REPORT:
                detail = hazard.get("detail") or {}
                category = str(detail.get("category", "other"))
                if category not in CATEGORIES:
                    category = "other"
            urgent = row.urgency == "urgent" or severity is Severity.CRITICAL or category == "fire"
            return Match(category, "urgent" if urgent else "normal", row.confirmed_fire)
        return None


def load_case_rules(path: Path | None = None) -> CaseRules:
    """Read the table from ``path`` (default: the shipped ``case_rules.yaml``)."""
    where = path or DEFAULT_PATH
    try:
        doc = yaml.safe_load(where.read_text(encoding="utf-8"))
        return CaseRules(tuple(_File.model_validate(doc).cases))
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise CaseRulesError(
            str(where), str(exc).splitlines()[0] if str(exc) else repr(exc)
        ) from exc
