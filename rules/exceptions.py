"""Errors raised while deciding what the data means: rule files, rule kinds, engine state."""

from __future__ import annotations


class RulesError(Exception):
    """Root of every error the rules package raises."""
