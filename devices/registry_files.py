"""Registry files in: CSV or a JSON array, as cities keep them, read into numbered raw rows.

Bytes are decoded strictly as UTF-8 (with or without the BOM Excel writes), else as GB 18030
(the superset of GBK that Excel on a Chinese Windows machine saves "CSV" in); the encoding
found is reported. Every row carries its number (1 = the first data row or array item) and
the file line it starts on (the header is line 1; a quoted cell may span lines), so an error
points at the line an editor shows. Knows nothing of the row models: ``devices.registry``
says which columns a row type takes (``Columns``) and validates what comes out of here.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from dataclasses import dataclass, field
from typing import Final, Literal

Format = Literal["csv", "json"]
Encoding = Literal["utf-8", "utf-8-sig", "gb18030"]

THRESHOLD_PREFIX: Final = "threshold."
# Tried in this order, each strictly: valid UTF-8 is almost never GBK text by accident, while
# nearly any byte string decodes as GB 18030, so UTF-8 must be tried first.
_UTF8_BOM: Final = codecs.BOM_UTF8
_UTF16_BOMS: Final = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


class FileError(ValueError):
    """The input as a whole is unusable; ``line`` is the file line at fault, when known."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        self.line = line
        super().__init__(message)


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


@dataclass(frozen=True, slots=True)
class RawRow:
    """One record as read: its number, the file line it starts on, its cells or JSON value."""

    number: int  # 1-based: the first data row of a CSV, the first item of a JSON array
    line: int  # the file line the record starts on; a CSV header is line 1
    value: object  # dict of cells, a JSON value, or TooManyCells


@dataclass(frozen=True, slots=True)
class RawFile:
    """A registry file read: its format, the encoding it was in, its rows."""

    format: Format
    encoding: Encoding | None  # None: handed over as text, not bytes
    rows: list[RawRow] = field(default_factory=list)


def decode(data: bytes) -> tuple[str, Encoding]:
    """Decode a file as UTF-8 (BOM or not), else GB 18030; raise FileError if neither fits."""
    if data.startswith(_UTF16_BOMS):
        raise FileError(
            'the file is UTF-16 (Excel\'s "Unicode Text"): save it as "CSV UTF-8" or CSV'
        )
    if data.startswith(_UTF8_BOM):
        return _strict(data[len(_UTF8_BOM) :], "utf-8", "utf-8-sig"), "utf-8-sig"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        utf8_error = exc
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError:
        line = data.count(b"\n", 0, utf8_error.start) + 1
        raise FileError(
            f"neither UTF-8 nor GB 18030/GBK: byte 0x{data[utf8_error.start]:02x} on line {line};"
            ' save the file as "CSV UTF-8"',
            line=line,
        ) from utf8_error


def _strict(data: bytes, codec: str, name: str) -> str:
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        # The BOM sits before the data: a file line counts from the file's first byte.
        line = data.count(b"\n", 0, exc.start) + 1
        raise FileError(
            f"starts with a UTF-8 BOM but is not UTF-8 ({name}): byte 0x{data[exc.start]:02x}"
            f" on line {line}",
            line=line,
        ) from exc


def read_rows(data: str | bytes, *, columns: Columns, fmt: Format | None) -> RawFile:
    """Read the file's raw rows with their numbers and lines; ``fmt`` None sniffs the format."""
    encoding: Encoding | None = None
    if isinstance(data, bytes):
        text, encoding = decode(data)
    else:
        text = data.removeprefix("\ufeff")
    if fmt is None:
        fmt = "json" if text.lstrip().startswith(("[", "{")) else "csv"
    rows = _read_json(text) if fmt == "json" else _read_csv(text, columns=columns)
    return RawFile(format=fmt, encoding=encoding, rows=rows)


def _read_json(text: str) -> list[RawRow]:
    """Read a JSON array item by item, so each item's starting line is known."""
    decoder = json.JSONDecoder()
    at = _skip_space(text, 0)
    if text[at : at + 1] != "[":
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            raise FileError(f"not valid JSON: {exc}", line=exc.lineno) from exc
        raise FileError("expected a JSON array of objects", line=_line(text, at))
    rows: list[RawRow] = []
    at = _skip_space(text, at + 1)
    while text[at : at + 1] != "]":
        if rows:
            if text[at : at + 1] != ",":
                raise _json_error(text, at, "expected , or ] after an item")
            at = _skip_space(text, at + 1)
        try:
            value, end = decoder.raw_decode(text, at)
        except json.JSONDecodeError as exc:
            raise FileError(f"not valid JSON: {exc}", line=exc.lineno) from exc
        rows.append(RawRow(number=len(rows) + 1, line=_line(text, at), value=value))
        at = _skip_space(text, end)
    if text[_skip_space(text, at + 1) :]:
        raise _json_error(text, _skip_space(text, at + 1), "text after the array")
    return rows


def _skip_space(text: str, at: int) -> int:
    while at < len(text) and text[at] in " \t\r\n":
        at += 1
    return at


def _line(text: str, at: int) -> int:
    return text.count("\n", 0, at) + 1


def _json_error(text: str, at: int, what: str) -> FileError:
    if at >= len(text):
        return FileError("not valid JSON: the array is not closed", line=_line(text, at))
    return FileError(f"not valid JSON: {what} (line {_line(text, at)})", line=_line(text, at))


def _read_csv(text: str, *, columns: Columns) -> list[RawRow]:
    # newline="": csv sees CR LF (Excel's line end) as one line end, and quoted cells keep
    # theirs; reader.line_num then counts the file's physical lines.
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
        rows: list[RawRow] = []
        previous_line = header_line
        for cells in reader:
            # A record starts on the line after the previous one ended, even when its quoted
            # cells span several lines.
            line = previous_line + 1
            number = line - header_line
            previous_line = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) > len(names):
                rows.append(RawRow(number, line, TooManyCells(len(cells), len(names))))
                continue
            rows.append(RawRow(number, line, dict(zip(names, cells, strict=False))))
    except csv.Error as exc:
        raise FileError(
            f"not valid CSV (line {reader.line_num}): {exc}", line=reader.line_num
        ) from exc
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
