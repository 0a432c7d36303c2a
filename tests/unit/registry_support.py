"""Helpers shared by the registry import parsing tests."""

from __future__ import annotations

from devices.registry import DeviceRow, ParsedRows


def error_fields(result: ParsedRows[DeviceRow]) -> list[tuple[int, str]]:
    """Return (row, field) of each error, the part of an error a test pins down."""
    return [(e.row, e.field) for e in result.errors]
