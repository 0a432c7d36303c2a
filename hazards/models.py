"""Hazard vocabulary shared by whoever raises, stores or shows hazards: severities, transitions."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

__all__ = ["Severity", "TransitionKind"]

TransitionKind = Literal["open", "update", "clear"]


class Severity(StrEnum):
    """Hazard severities of CONTRACT §4, in increasing order."""

    INFO = "info"
    WARNING = "warning"
    MAJOR = "major"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """Return 0 for info up to 3 for critical, for comparisons."""
        return list(Severity).index(self)
