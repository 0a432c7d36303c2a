"""Device timestamps: ISO 8601 with an offset, or integer Unix milliseconds (CONTRACT §1)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from devices.models import DecodePolicy

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class BadTime(ValueError):  # noqa: N818 - public name the codecs already import
    """A timestamp that cannot be used; ``reason`` is the rejection code."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


def ms_to_dt(ms: int) -> datetime:
    """Return Unix ms as an aware UTC datetime (before 1970 is clamped to the epoch)."""
    return _EPOCH + timedelta(milliseconds=max(ms, 0))


def dt_to_ms(dt: datetime) -> int:
    """Return an aware datetime as Unix ms."""
    return (dt - _EPOCH) // timedelta(milliseconds=1)


def parse_ts(raw: object) -> datetime:
    """Parse a device timestamp into an aware UTC datetime or raise BadTime."""
    if isinstance(raw, bool):
        raise BadTime("bad_time", "boolean is not a time")
    if isinstance(raw, int):
        try:
            return _EPOCH + timedelta(milliseconds=raw)
        except OverflowError as exc:
            raise BadTime("bad_time", f"{raw} ms is out of range") from exc
    if isinstance(raw, str):
        try:
            # RFC 3339 allows a lower-case "t" and "z"; fromisoformat takes only capitals.
            parsed = datetime.fromisoformat(raw.upper())
        except ValueError as exc:
            raise BadTime("bad_time", f"{raw!r} is not ISO 8601") from exc
        if parsed.tzinfo is None:
            raise BadTime("time_without_offset", f"{raw!r} has no UTC offset")
        return parsed.astimezone(UTC)
    raise BadTime("bad_time", f"{type(raw).__name__} is not a time")


def apply_time_policy(ts: datetime, *, received_at: datetime, policy: DecodePolicy) -> datetime:
    """Return the time to store for a sample, clamping or raising BadTime per ``policy``."""
    if ts < policy.earliest:
        raise BadTime("time_too_old", f"{ts.isoformat()} is before {policy.earliest.date()}")
    if ts - received_at > policy.max_future:
        if policy.future_policy == "clamp":
            return received_at
        raise BadTime(
            "future_time",
            f"{ts.isoformat()} is more than {policy.max_future} after receipt",
        )
    return ts
