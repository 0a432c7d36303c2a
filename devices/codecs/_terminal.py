"""Fields shared by terminals' JSON messages (hazard reports, case actions): pure checks.

Each rejects the whole message (``DecodeError``): a terminal's message is one thing,
idempotent under its own ID, so it is stored whole or not at all.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any, Final

from devices.codecs._json import show
from devices.exceptions import DecodeError
from devices.geo import Crs, to_wgs84
from devices.models import DecodePolicy
from devices.timefmt import BadTime, apply_time_policy, parse_ts

__all__ = [
    "MAX_DESCRIPTION",
    "MAX_PHOTOS",
    "check_terminal",
    "photo_hashes",
    "position",
    "text",
    "whole_time",
]

MAX_PHOTOS: Final = 20
MAX_DESCRIPTION: Final = 4000
_SHA256: Final = re.compile(r"[0-9a-fA-F]{64}")


def check_terminal(doc: dict[str, Any], raw: bytes, terminal_id: str) -> None:
    """Refuse a payload whose embedded terminal ID disagrees with its topic."""
    claimed = doc.get("terminal_id")
    if claimed is not None and claimed != terminal_id:
        raise DecodeError(
            "terminal_mismatch",
            raw,
            detail=f"payload says {show(claimed)}, topic says {terminal_id!r}",
        )


def whole_time(
    doc: dict[str, Any], raw: bytes, received_at: datetime, policy: DecodePolicy
) -> datetime:
    """Return the message's ``ts`` under the time policy, or reject it whole."""
    if "ts" not in doc:
        raise DecodeError("missing_field", raw, detail="ts is required")
    try:
        return apply_time_policy(parse_ts(doc["ts"]), received_at=received_at, policy=policy)
    except BadTime as exc:
        raise DecodeError(exc.reason, raw, detail=exc.detail) from None


def position(value: object, raw: bytes) -> tuple[float | None, float | None]:
    """Return an optional ``position`` object as WGS-84 (None, None when absent)."""
    if value is None:
        return None, None
    if not isinstance(value, dict):
        raise DecodeError("bad_position", raw, detail=f"position {show(value)} is not an object")
    crs = value.get("crs")
    if crs is None:  # absent or null: not given, so the contract's default
        crs = Crs.WGS84.value
    if crs not in {c.value for c in Crs}:
        raise DecodeError("bad_crs", raw, detail=f"crs {show(crs)} is not wgs84, gcj02 or bd09")
    lat, lon = value.get("lat"), value.get("lon")
    for name, number, limit in (("lat", lat, 90.0), ("lon", lon, 180.0)):
        if (
            isinstance(number, bool)
            or not isinstance(number, int | float)
            or not math.isfinite(number)
            or abs(number) > limit
        ):
            raise DecodeError(
                "bad_position", raw, detail=f"position.{name} {show(number)} is not a coordinate"
            )
    assert isinstance(lat, int | float)  # checked above
    assert isinstance(lon, int | float)
    return to_wgs84(float(lat), float(lon), crs)


def photo_hashes(value: object, raw: bytes) -> list[str]:
    """Return the photo hashes a message names (lower case, each once)."""
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_PHOTOS:
        raise DecodeError(
            "bad_photos", raw, detail=f"photos must be a list of at most {MAX_PHOTOS} hashes"
        )
    hashes: list[str] = []
    for item in value:
        if not isinstance(item, str) or not _SHA256.fullmatch(item):
            raise DecodeError("bad_photos", raw, detail=f"{show(item)} is not a SHA-256 hex")
        if item.lower() not in hashes:
            hashes.append(item.lower())
    return hashes


def text(value: object, raw: bytes, name: str, limit: int) -> str | None:
    """Return an optional text field of at most ``limit`` characters."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit or "\x00" in value:
        raise DecodeError("bad_field", raw, detail=f"{name} must be text of at most {limit} chars")
    try:
        value.encode("utf-8")  # a lone surrogate cannot be stored
    except UnicodeEncodeError:
        raise DecodeError("bad_field", raw, detail=f"{name} is not valid Unicode") from None
    return value
