"""What can go wrong in the gateway, as one small tree under ``GatewayError``."""

from __future__ import annotations


class GatewayError(Exception):
    """Root of the gateway's errors."""


class CommandTargetError(GatewayError):
    """A command for a device that cannot take one: unknown, or without a GB/T 26875 address."""

    def __init__(self, device_id: str, *, registered: bool) -> None:
        why = "has no gb26875_address to send to" if registered else "is not in the registry"
        super().__init__(f"device {device_id!r} {why}")
        self.device_id = device_id
        self.registered = registered


class ListenAddressError(GatewayError):
    """``FIREGRID_GB26875`` is not ``host:port``."""

    def __init__(self, value: str) -> None:
        super().__init__(f"FIREGRID_GB26875={value!r}: expected host:port, e.g. 0.0.0.0:9026")
        self.value = value
