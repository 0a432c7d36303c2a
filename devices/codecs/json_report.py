"""Hazard reports from handheld terminals (CONTRACT §1 `fg/v1/t/{terminal_id}/report`). Pure.

```
{"report_id": "1f0c7a52-...", "ts": "2026-11-26T07:12:00+08:00",
 "category": "combustibles_in_corridor", "description": "3号楼2单元楼道堆放纸箱",
 "position": {"lat": 31.24806, "lon": 121.58741, "crs": "gcj02"},
 "photos": ["<sha256 hex>"], "unit_id": "U-0012"}
```

A report is one thing: any unusable field rejects it whole (a half-stored report would be
idempotent under its ``report_id`` and could never be corrected by a resend). The position is
converted to WGS-84 here; a report without one is resolved against the terminal's fixes by
ingest, which owns the database.
"""

from __future__ import annotations

import math
import re
import uuid
from datetime import datetime
from typing import Any, Final

from devices.codecs._json import load_object, show
from devices.exceptions import DecodeError
from devices.geo import Crs, to_wgs84
from devices.models import ID_PATTERN, REPORT_CATEGORIES, DecodePolicy, HazardReport
from devices.timefmt import BadTime, apply_time_policy, parse_ts

MAX_PHOTOS: Final = 20
MAX_DESCRIPTION: Final = 4000
_SHA256: Final = re.compile(r"[0-9a-fA-F]{64}")
_ID: Final = re.compile(ID_PATTERN)


def decode(
    raw: bytes, *, terminal_id: str, received_at: datetime, policy: DecodePolicy
) -> HazardReport:
    """Decode one hazard report, converting its position to WGS-84, or raise DecodeError."""
    doc = load_object(raw)
    _check_terminal(doc, raw, terminal_id)
    report_id = _report_id(doc.get("report_id"), raw)
    ts = _time(doc, raw, received_at, policy)
    category = doc.get("category")
    if category not in REPORT_CATEGORIES:
        known = ", ".join(sorted(REPORT_CATEGORIES))
        raise DecodeError(
            "bad_category" if "category" in doc else "missing_field",
            raw,
            detail=f"category {show(category)} is not one of {known}",
        )
    lat, lon = _position(doc.get("position"), raw)
    return HazardReport(
        report_id=report_id,
        terminal_id=terminal_id,
        ts=ts,
        category=category,
        description=_text(doc.get("description"), raw, "description", MAX_DESCRIPTION) or "",
        lat=lat,
        lon=lon,
        photos=_photos(doc.get("photos"), raw),
        unit_id=_unit(doc.get("unit_id"), raw),
    )


def _check_terminal(doc: dict[str, Any], raw: bytes, terminal_id: str) -> None:
    claimed = doc.get("terminal_id")
    if claimed is not None and claimed != terminal_id:
        raise DecodeError(
            "terminal_mismatch",
            raw,
            detail=f"payload says {show(claimed)}, topic says {terminal_id!r}",
        )


def canonical_report_id(value: str) -> str | None:
    """Return the one spelling of a report ID, or None when ``value`` is not one.

    A UUID (what the contract's example shows) is written lower-case with hyphens, so one
    report is one report however its terminal spelled it; any other ID follows the contract's
    ID alphabet (``[A-Za-z0-9_.-]{1,64}``, as a vendor's own report numbers do) and is kept
    as sent.
    """
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return value if _ID.fullmatch(value) else None


def _report_id(value: object, raw: bytes) -> str:
    if value is None:
        raise DecodeError("missing_field", raw, detail="report_id is required")
    canonical = canonical_report_id(value) if isinstance(value, str) else None
    if canonical is None:
        raise DecodeError(
            "bad_report_id",
            raw,
            detail=f"report_id {show(value)} is neither a UUID nor [A-Za-z0-9_.-]{{1,64}}",
        )
    return canonical


def _time(doc: dict[str, Any], raw: bytes, received_at: datetime, policy: DecodePolicy) -> datetime:
    if "ts" not in doc:
        raise DecodeError("missing_field", raw, detail="ts is required")
    try:
        return apply_time_policy(parse_ts(doc["ts"]), received_at=received_at, policy=policy)
    except BadTime as exc:
        raise DecodeError(exc.reason, raw, detail=exc.detail) from None


def _position(value: object, raw: bytes) -> tuple[float | None, float | None]:
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


def _photos(value: object, raw: bytes) -> list[str]:
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


def _unit(value: object, raw: bytes) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise DecodeError("bad_unit_id", raw, detail=f"unit_id {show(value)} is not an ID")
    return value


def _text(value: object, raw: bytes, name: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit or "\x00" in value:
        raise DecodeError("bad_field", raw, detail=f"{name} must be text of at most {limit} chars")
    try:
        value.encode("utf-8")  # a lone surrogate cannot be stored
    except UnicodeEncodeError:
        raise DecodeError("bad_field", raw, detail=f"{name} is not valid Unicode") from None
    return value
