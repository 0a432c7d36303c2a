"""Opaque list cursors: ``{"items": [...], "next_cursor": "..." | null}`` (CONTRACT §4)."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from api.errors import ApiError

MAX_LIMIT = 1000


def encode_cursor(position: dict[str, Any]) -> str:
    """Encode a keyset position as an opaque cursor."""
    raw = json.dumps(position, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    """Decode a cursor from ``encode_cursor``, or raise a 400 saying it is not one."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise ApiError(400, "invalid_cursor", "cursor is not one this API issued") from exc
    if not isinstance(value, dict):
        raise ApiError(400, "invalid_cursor", "cursor is not one this API issued")
    return value


def page(items: list[Any], *, limit: int, position: dict[str, Any] | None) -> dict[str, Any]:
    """Wrap a page; ``position`` is the keyset after the last item (None: no next page)."""
    next_cursor = encode_cursor(position) if position is not None and len(items) >= limit else None
    return {"items": items, "next_cursor": next_cursor}
