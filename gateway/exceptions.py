"""What can go wrong in the gateway, as one small tree under ``GatewayError``."""

from __future__ import annotations


class GatewayError(Exception):
    """Root of the gateway's errors."""


class ListenAddressError(GatewayError):
    """``FIREGRID_GB26875`` is not ``host:port``."""

    def __init__(self, value: str) -> None:
        super().__init__(f"FIREGRID_GB26875={value!r}: expected host:port, e.g. 0.0.0.0:9026")
        self.value = value
