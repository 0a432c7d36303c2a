"""Registry files in: CSV or a JSON array, read into numbered raw rows, CSV headers checked.

Knows nothing of the row models: ``devices.registry`` says which columns a row type takes
(``Columns``) and validates what comes out of here.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Final, Literal

Format = Literal["csv", "json"]

THRESHOLD_PREFIX: Final = "threshold."


class FileError(ValueError):
    """The input as a whole is unusable."""


@dataclass(frozen=True)
class Columns:
    """The CSV columns a row type takes: known names, required ones, ``threshold.*`` or not."""

    allowed: frozenset[str]
    required: tuple[str, ...]
    thresholds: bool


class TooManyCells:
    """Marker for a CSV record with more cells than the header has columns."""

    def __init__(self, got: int, expected: int) -> None:
        self.message = f"{got} cells but the header has {expected} columns"


def read_rows(
    data: str | bytes, *, columns: Columns, fmt: Format | None
) -> list[tuple[int, object]]:
    """Return the file's raw rows with their 1-based numbers; ``fmt`` None sniffs the format."""
    if isinstance(data, bytes):
        try:
            # utf-8-sig drops a BOM when present and is plain UTF-8 otherwise.
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise FileError(f"not UTF-8: {exc}") from exc
    else:
        text = data.removeprefix("\ufeff")
    head = text.lstrip()
    if fmt is None:
        fmt = "json" if head.startswith(("[", "{")) else "csv"
    if fmt == "json":
        return _read_json(text)
    return _read_csv(text, columns=columns)


def _read_json(text: str) -> list[tuple[int, object]]:
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FileError(f"not valid JSON: {exc}") from exc
    if not isinstance(parsed, list):
        raise FileError("expected a JSON array of objects")
    return [(index + 1, item) for index, item in enumerate(parsed)]


def _read_csv(text: str, *, columns: Columns) -> list[tuple[int, object]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        while header is not None and not any(cell.strip() for cell in header):
            header = next(reader, None)
        if header is None:
            raise FileError("empty input: expected a CSV header or a JSON array")
        header_line = reader.line_num
        names = [cell.strip().lower() for cell in header]
        _check_header(names, columns=columns)
        rows: list[tuple[int, object]] = []
        previous_line = header_line
        for cells in reader:
            # Number rows by the file line they start on, minus the header's, so an operator
            # finds row N on line N + 1 of a plain file even when quoted cells span lines.
            number = previous_line + 1 - header_line
            previous_line = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) > len(names):
                rows.append((number, TooManyCells(len(cells), len(names))))
                continue
            rows.append((number, dict(zip(names, cells, strict=False))))
    except csv.Error as exc:
        raise FileError(f"not valid CSV (line {reader.line_num}): {exc}") from exc
    return rows


def _check_header(names: list[str], *, columns: Columns) -> None:
    duplicates = sorted({c for c in names if names.count(c) > 1})
    if duplicates:
        raise FileError(f"duplicate column(s): {', '.join(duplicates)}")
    allowed = columns.allowed
    thresholds = columns.thresholds
    unknown = [
        c for c in names if c not in allowed and not (thresholds and c.startswith(THRESHOLD_PREFIX))
    ]
    if unknown:
        # A misspelt column would otherwise drop its data silently on every row.
        raise FileError(
            f"unknown column(s): {', '.join(unknown)}; known: {', '.join(sorted(allowed))}"
            + (f", {THRESHOLD_PREFIX}<name>" if thresholds else "")
        )
    missing = [name for name in columns.required if name not in names]
    if missing:
        raise FileError(f"missing required column(s): {', '.join(missing)}")
