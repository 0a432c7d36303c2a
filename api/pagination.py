"""Opaque list cursors: ``{"items": [...], "next_cursor": "..." | null}`` (CONTRACT §4)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from api.errors import ApiError

MAX_LIMIT = 1000

T = TypeVar("T")
ItemT = TypeVar("ItemT")


class Page(BaseModel, Generic[ItemT]):
    """One page of a list; ``next_cursor`` null means there is no more."""

    items: list[ItemT]
    next_cursor: str | None


def _invalid() -> ApiError:
    return ApiError(400, "invalid_cursor", "cursor is not one this API issued")


def encode_cursor(position: dict[str, Any]) -> str:
    """Encode a keyset position as an opaque cursor."""
    raw = json.dumps(position, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, read: Callable[[dict[str, Any]], T]) -> T | None:
    """Decode a cursor from ``encode_cursor`` and ``read`` its position; None without one.

    A cursor is the caller's text: whatever is wrong with it (not base64, not JSON, a key
    missing, a value of the wrong type) is a 400 ``invalid_cursor``, never a 500.
    """
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw)
        if not isinstance(value, dict):
            raise _invalid()
        return read(value)
    except (binascii.Error, ValueError, KeyError, TypeError, OverflowError) as exc:
        raise _invalid() from exc


def cursor_int(value: Any) -> int:
    """Read a keyset id: an integer within PostgreSQL's bigint."""
    if isinstance(value, bool) or not isinstance(value, int) or not -(2**63) <= value < 2**63:
        raise _invalid()
    return value


def cursor_text(value: Any) -> str:
    """Read a keyset text (a code): a string PostgreSQL can hold."""
    if not isinstance(value, str) or "\x00" in value:
        raise _invalid()
    return value


def cursor_time(value: Any) -> datetime:
    """Read a keyset time: ISO 8601 with its UTC offset, as ``encode_cursor`` wrote it."""
    if not isinstance(value, str):
        raise _invalid()
    ts = datetime.fromisoformat(value)
    if ts.tzinfo is None:
        raise _invalid()
    return ts


def page(items: list[T], *, limit: int, position: dict[str, Any] | None) -> Page[T]:
    """Wrap a page; ``position`` is the keyset after the last item (None: no next page)."""
    next_cursor = encode_cursor(position) if position is not None and len(items) >= limit else None
    return Page[T](items=items, next_cursor=next_cursor)
