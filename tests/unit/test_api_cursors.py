"""List cursors: what the API issued reads back; anything else is a 400, never another error."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.errors import ApiError
from api.pagination import cursor_int, cursor_text, cursor_time, decode_cursor, encode_cursor

# The readers the list routes use (api/routes/*).
READERS: list[Callable[[dict[str, Any]], object]] = [
    lambda p: cursor_int(p["id"]),
    lambda p: cursor_text(p["code"]),
    lambda p: cursor_time(p["ts"]),
    lambda p: (cursor_time(p["ts"]), cursor_int(p["seq"])),
    lambda p: cursor_time(p["started_at"]),
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
positions = st.fixed_dictionaries(
    {}, optional=dict.fromkeys(("id", "code", "ts", "seq", "started_at"), json_values)
)


def _raw(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def _refusal(cursor: str, reader: Callable[[dict[str, Any]], object]) -> tuple[int, str] | None:
    """Return how the API refuses ``cursor`` (None: it reads); any other error propagates."""
    try:
        decode_cursor(cursor, reader)
    except ApiError as exc:
        return exc.status, exc.code
    return None


@given(value=json_values | positions, reader=st.sampled_from(READERS))
def test_any_json_in_a_cursor_reads_or_is_a_400(value: Any, reader: Any) -> None:
    assert _refusal(_raw(value), reader) in {None, (400, "invalid_cursor")}


@given(text=st.text(min_size=1), reader=st.sampled_from(READERS))
def test_any_text_as_a_cursor_reads_or_is_a_400(text: str, reader: Any) -> None:
    assert _refusal(text, reader) in {None, (400, "invalid_cursor")}


def test_what_the_api_issued_reads_back() -> None:
    ts = datetime(2026, 11, 26, 6, 0, 1, 500, tzinfo=UTC)
    cursor = encode_cursor({"ts": ts.isoformat(), "seq": 7, "id": 2**62, "code": "310115"})
    assert decode_cursor(cursor, READERS[3]) == (ts, 7)
    assert decode_cursor(cursor, READERS[0]) == 2**62
    assert decode_cursor(cursor, READERS[1]) == "310115"
    assert decode_cursor(None, READERS[0]) is None


@pytest.mark.parametrize(
    "position",
    [{"id": True}, {"id": 2**63}, {"code": "a\x00"}, {"ts": "2026-11-26T06:00:00"}],
)
def test_values_postgresql_would_refuse_are_refused_here(position: dict[str, Any]) -> None:
    key = next(iter(position))
    reader = {"id": READERS[0], "code": READERS[1], "ts": READERS[2]}[key]
    with pytest.raises(ApiError):
        decode_cursor(_raw(position), reader)
