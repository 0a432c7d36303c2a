"""Helpers shared by the JSON decoders: parsing, the envelope, and per-part checks."""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any, Final, Protocol

import msgspec

from devices.exceptions import DecodeError
from devices.models import Decoded, DecodePolicy, PartRejection
from devices.timefmt import BadTime, apply_time_policy, parse_ts

SEQ_MAX: Final = 2**32 - 1
_DETAIL_MAX: Final = 200
_msgspec_decode = msgspec.json.Decoder().decode


class PartError(Exception):
    """A part of a payload is unusable; caught by the decoder and turned into a PartRejection."""

    def __init__(self, field: str, reason: str, detail: str = "") -> None:
        self.field = field
        self.reason = reason
        self.detail = detail
        super().__init__(f"{field}: {reason}")


def _constant(name: str) -> float:
    # Sloppy firmware writes NaN / Infinity / -Infinity; keep them as floats so the value
    # checks can reject just that value with `nan` / `infinite` and keep its neighbours.
    return float(name)


def load_object(raw: bytes) -> dict[str, Any]:
    """Parse a JSON payload that must be an object, or raise DecodeError."""
    if not raw:
        raise DecodeError("empty_payload", raw)
    try:
        doc = _msgspec_decode(raw)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        # msgspec is ~10x faster but refuses NaN/Infinity tokens and numbers beyond float
        # range; only then pay for the stdlib, which also tells invalid UTF-8 from bad JSON
        # (msgspec raises UnicodeDecodeError for bad UTF-8 inside strings, DecodeError outside).
        doc = _load_stdlib(raw)
    if not isinstance(doc, dict):
        raise DecodeError("not_an_object", raw, detail=f"top level is a {_kind(doc)}")
    return doc


def _load_stdlib(raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError("not_utf8", raw, detail=str(exc)[:_DETAIL_MAX]) from exc
    try:
        return json.loads(text, parse_constant=_constant)
    except RecursionError as exc:
        raise DecodeError("bad_json", raw, detail="nested too deeply") from exc
    except ValueError as exc:  # JSONDecodeError, and int() refusing > 4300 digits
        raise DecodeError("bad_json", raw, detail=str(exc)[:_DETAIL_MAX]) from exc


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def check_device(doc: dict[str, Any], raw: bytes, device_id: str) -> None:
    """Raise DecodeError when the payload names a device other than the topic's."""
    claimed = doc.get("device_id")
    if claimed is None and "device_id" not in doc:
        return
    if not isinstance(claimed, str):
        raise DecodeError("wrong_type", raw, detail=f"device_id is a {_kind(claimed)}")
    if claimed != device_id:
        raise DecodeError(
            "device_mismatch",
            raw,
            detail=f"payload says {claimed[:64]!r}, topic says {device_id!r}",
        )


def batch_items(
    doc: dict[str, Any], raw: bytes, key: str, policy: DecodePolicy, *, device_id: str
) -> list[Any]:
    """Return the batch list under ``key`` after the whole-payload checks."""
    items = doc[key]
    if not isinstance(items, list):
        raise DecodeError("wrong_type", raw, detail=f"{key} is a {_kind(items)}, not an array")
    if not items:
        raise DecodeError("empty_batch", raw, detail=f"{key} is empty")
    if len(items) > policy.max_batch_samples:
        raise DecodeError(
            "batch_too_large",
            raw,
            detail=f"{len(items)} {key} > {policy.max_batch_samples}",
        )
    # An item naming another device is an embedded ID that disagrees with the topic (CONTRACT
    # §1): the payload is forged or misrouted, so none of it is trusted.
    for item in items:
        if isinstance(item, dict) and "device_id" in item:
            check_device(item, raw, device_id)
    return items


def part_time(item: dict[str, Any], *, received_at: datetime, policy: DecodePolicy) -> datetime:
    """Return the policy-checked device time of a sample or event, or raise PartError."""
    try:
        raw_ts = item["ts"]
    except KeyError:
        raise PartError("ts", "missing_field", "ts is required") from None
    try:
        return apply_time_policy(parse_ts(raw_ts), received_at=received_at, policy=policy)
    except BadTime as exc:
        raise PartError("ts", exc.reason, exc.detail[:_DETAIL_MAX]) from None


def part_seq(item: dict[str, Any]) -> int | None:
    """Return the optional sequence number of a sample or event, or raise PartError."""
    seq = item.get("seq")
    if seq is None:
        return None
    if type(seq) is not int or not 0 <= seq <= SEQ_MAX:
        raise PartError("seq", "bad_seq", f"{show(seq)} is not an int in 0..2^32-1")
    return seq


def show(value: object) -> str:
    """Render a rejected value for a human, short and free of NUL (details are stored as text)."""
    return repr(value)[:40]


def where(container: str, index: int | None, field: str) -> str:
    """Locate a part: ``samples[3].ts`` in a batch, plain ``ts`` in a single-item payload."""
    if index is None:
        return field
    head = f"{container}[{index}]"
    return f"{head}.{field}" if field else head


def reject(out: list[PartRejection], container: str, index: int | None, err: PartError) -> None:
    """Append the PartRejection for ``err`` found in item ``index`` of ``container``."""
    out.append(PartRejection(where(container, index, err.field), err.reason, err.detail))


def unstorable(value: object) -> tuple[str, str] | None:
    """Return (path, reason) of the first JSON value PostgreSQL's jsonb cannot hold, or None.

    jsonb refuses NaN/Infinity (only the stdlib fallback produces them), NUL characters and
    lone surrogates; finding them here keeps one bad event from failing a whole COPY batch.
    """
    stack: list[tuple[str, object]] = [("", value)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, float) and not math.isfinite(node):
            return path, "nan" if math.isnan(node) else "infinite"
        if isinstance(node, str) and not _storable_text(node):
            return path, "wrong_type"
        if isinstance(node, dict):
            for key, child in node.items():
                if not _storable_text(key):
                    return path, "wrong_type"
                stack.append((f"{path}.{key}" if path else key, child))
        elif isinstance(node, list):
            stack.extend((f"{path}[{i}]", child) for i, child in enumerate(node))
    return None


def _storable_text(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class PartDecoder(Protocol):
    """Decodes one sample or event (``index`` None: the payload is that single part)."""

    def __call__(
        self,
        item: Any,
        index: int | None,
        out: Decoded,
        /,
        *,
        device_id: str,
        received_at: datetime,
        policy: DecodePolicy,
    ) -> None:
        """Append the part's records, or its rejection, to ``out``."""
        ...


def decode_parts(
    raw: bytes,
    *,
    device_id: str,
    received_at: datetime,
    policy: DecodePolicy,
    container: str,
    single_key: str,
    part: PartDecoder,
) -> Decoded:
    """Decode a payload that is one part (has ``single_key``) or a batch under ``container``."""
    doc = load_object(raw)
    check_device(doc, raw, device_id)
    out = Decoded()
    if container in doc:
        items = batch_items(doc, raw, container, policy, device_id=device_id)
        for index, item in enumerate(items):
            part(item, index, out, device_id=device_id, received_at=received_at, policy=policy)
    elif single_key in doc:
        part(doc, None, out, device_id=device_id, received_at=received_at, policy=policy)
    else:
        raise DecodeError("missing_field", raw, detail=f"neither {container!r} nor {single_key!r}")
    return out
