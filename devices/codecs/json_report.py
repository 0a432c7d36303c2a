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

import re
import uuid
from datetime import datetime
from typing import Final

from devices.codecs._json import load_object, show
from devices.codecs._terminal import MAX_DESCRIPTION
from devices.codecs._terminal import check_terminal as _check_terminal
from devices.codecs._terminal import photo_hashes as _photos
from devices.codecs._terminal import position as _position
from devices.codecs._terminal import text as _text
from devices.codecs._terminal import whole_time as _time
from devices.exceptions import DecodeError
from devices.models import ID_PATTERN, REPORT_CATEGORIES, DecodePolicy, HazardReport

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


def _unit(value: object, raw: bytes) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise DecodeError("bad_unit_id", raw, detail=f"unit_id {show(value)} is not an ID")
    return value
