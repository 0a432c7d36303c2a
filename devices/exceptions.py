"""Errors raised while understanding what a device sent."""

from __future__ import annotations


class DeviceError(Exception):
    """Root of every error the devices package raises."""


class DecodeError(DeviceError):
    """A whole payload could not be understood; nothing of it is usable.

    Carries the raw bytes and a short machine-readable reason so the subscriber loop can store
    the message as rejected without re-deriving anything.
    """

    def __init__(self, reason: str, raw: bytes = b"", *, detail: str = "") -> None:
        self.reason = reason
        self.raw = raw
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


class RegistryError(DeviceError):
    """A registry row (device, key unit, staff) is not acceptable."""

    def __init__(self, row: int, field: str, message: str) -> None:
        self.row = row
        self.field = field
        self.message = message
        super().__init__(f"row {row}: {field}: {message}")
