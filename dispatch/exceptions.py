"""Dispatch's errors: one root, subclasses carrying what went wrong."""

from __future__ import annotations


class DispatchError(Exception):
    """Root of every error dispatch raises."""


class CaseRulesError(DispatchError):
    """The case rules file is unusable: which file and why."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")
