"""The dispatch package's errors: one root, subclasses carrying what went wrong."""

from __future__ import annotations

__all__ = ["DispatchError"]


class DispatchError(Exception):
    """Root of every error raised by ``dispatch``."""
