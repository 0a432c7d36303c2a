"""Errors raised while reading, storing and looking up grids."""

from __future__ import annotations

from collections.abc import Sequence

from msgspec import Struct


class GridError(Exception):
    """Root of every error the grids package raises."""


class GridCodeError(GridError, ValueError):
    """A grid, community or street code is malformed; ``reason`` is a machine-readable code."""

    def __init__(self, code: object, reason: str, message: str) -> None:
        self.code = code
        self.reason = reason
        self.message = message
        super().__init__(f"{code!r}: {message}")


class GridProblem(Struct, frozen=True):
    """One thing wrong with a grid import, located like ``features[12].properties.code``."""

    where: str
    reason: str
    detail: str = ""

    def __str__(self) -> str:
        """Render the problem on one line for logs and CLI output."""
        if self.detail:
            return f"{self.where}: {self.reason}: {self.detail}"
        return f"{self.where}: {self.reason}"


class GridImportError(GridError):
    """A grid file was refused; ``problems`` lists every problem found, not only the first."""

    # How many problems the exception message spells out; the rest are only in ``problems``.
    _SHOWN = 5

    def __init__(self, problems: Sequence[GridProblem]) -> None:
        self.problems = list(problems)
        shown = "; ".join(str(p) for p in self.problems[: self._SHOWN])
        more = len(self.problems) - self._SHOWN
        suffix = f"; and {more} more" if more > 0 else ""
        super().__init__(f"{len(self.problems)} problem(s) in grid file: {shown}{suffix}")
