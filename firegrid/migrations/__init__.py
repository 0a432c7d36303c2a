"""Versioned schema migrations, applied forward at start (CONTRACT §5)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from firegrid.migrations import m0001_foundation
from ingest.config import StorageSettings


@dataclass(frozen=True)
class Migration:
    """One schema step: a version number, a name and the function applying it."""

    version: int
    name: str
    apply: Callable[..., None]


MIGRATIONS: list[Migration] = [
    Migration(
        1, "foundation: registry, readings, events, rejected messages", m0001_foundation.apply
    ),
]

Connection = psycopg.Connection[Any]
__all__ = ["MIGRATIONS", "Connection", "Migration", "StorageSettings"]
